//! Process helpers for memory figures: resident set size, and re-running the
//! current binary as a child so each implementation is measured in a fresh
//! process whose RSS holds nothing of the others.

use std::{
    env, fs, io,
    process::{Command, Stdio},
};

/// The argument that marks a child run: `<exe> --child <args...>`.
pub const CHILD_FLAG: &str = "--child";

/// The resident set size of this process in bytes (`VmRSS` of
/// `/proc/self/status`).
///
/// # Errors
///
/// An I/O error when `/proc/self/status` cannot be read, or
/// `io::ErrorKind::InvalidData` when it has no `VmRSS` line (not Linux).
///
/// # Examples
///
/// ```
/// let rss = coil_bench::proc::resident_bytes().unwrap();
/// assert!(rss > 0);
/// ```
pub fn resident_bytes() -> io::Result<u64> {
    let status = fs::read_to_string("/proc/self/status")?;
    parse_vm_rss(&status).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "no VmRSS line in /proc/self/status",
        )
    })
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line["VmRSS:".len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// The arguments after [`CHILD_FLAG`] when this process is a child run, else
/// `None`.
pub fn child_args() -> Option<Vec<String>> {
    let mut args = env::args().skip(1);
    if args.next().as_deref() == Some(CHILD_FLAG) {
        Some(args.collect())
    } else {
        None
    }
}

/// Runs the current executable as `<exe> --child <args>` and returns what it
/// printed on standard output. Its standard error goes to ours.
///
/// # Errors
///
/// An I/O error when the executable cannot be started, or
/// `io::ErrorKind::Other` naming the arguments when the child fails.
pub fn run_child(args: &[&str]) -> io::Result<String> {
    let exe = env::current_exe()?;
    let out = Command::new(exe)
        .arg(CHILD_FLAG)
        .args(args)
        .stderr(Stdio::inherit())
        .output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "child run {args:?} failed: {}",
            out.status
        )));
    }
    String::from_utf8(out.stdout).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::parse_vm_rss;

    #[test]
    fn parses_vm_rss_in_kib() {
        let status = "Name:\tx\nVmRSS:\t    1234 kB\nVmData: 1 kB\n";
        assert_eq!(parse_vm_rss(status), Some(1234 * 1024));
        assert_eq!(parse_vm_rss("Name: x\n"), None);
    }
}
