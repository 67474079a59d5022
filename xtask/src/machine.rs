//! Facts about the machine and the run, printed in the report's header:
//! CPU model, cores, kernel, rustc, date, profile. Saved beside
//! `results.json` as `meta.json` so `cargo xtask report` can re-render.

use std::{
    fs,
    process::Command,
    time::{SystemTime, UNIX_EPOCH},
};

use crate::json::{self, Json};

/// Ordered `(key, value)` facts.
pub type Meta = Vec<(String, String)>;

/// Sets `key` to `value`, keeping the key's place if it exists.
pub fn set(meta: &mut Meta, key: &str, value: impl Into<String>) {
    let value = value.into();
    match meta.iter_mut().find(|(k, _)| k == key) {
        Some(slot) => slot.1 = value,
        None => meta.push((key.to_string(), value)),
    }
}

/// The value of `key`.
pub fn get<'m>(meta: &'m Meta, key: &str) -> Option<&'m str> {
    meta.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// The facts of this machine now.
pub fn collect() -> Meta {
    let mut meta = Meta::new();
    set(&mut meta, "date", utc_now());
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    set(
        &mut meta,
        "cpu",
        cpu_model(&cpuinfo).unwrap_or_else(|| "unknown".into()),
    );
    let cores = std::thread::available_parallelism()
        .map(|n| n.get().to_string())
        .unwrap_or_else(|_| "?".into());
    set(&mut meta, "cores", cores);
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").map(|s| s.trim().to_string());
    set(
        &mut meta,
        "kernel",
        format!("Linux {}", kernel.unwrap_or_else(|_| "?".into())),
    );
    set(
        &mut meta,
        "rustc",
        command_line("rustc", &["--version"]).unwrap_or_else(|| "?".into()),
    );
    meta
}

/// The first line a command prints, if it runs.
pub fn command_line(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    let text = if out.stdout.is_empty() {
        out.stderr
    } else {
        out.stdout
    };
    String::from_utf8(text)
        .ok()?
        .lines()
        .next()
        .map(|l| l.trim().to_string())
}

/// The `model name` of the first CPU in a `/proc/cpuinfo` text.
pub fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// Now as `YYYY-MM-DD HH:MM UTC`.
pub fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    utc(secs)
}

/// Seconds since the epoch as `YYYY-MM-DD HH:MM UTC` (proleptic Gregorian).
pub fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Days to civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// Reads `meta.json` (an object of strings); empty when unreadable.
pub fn parse(text: &str) -> Meta {
    match Json::parse(text) {
        Ok(Json::Obj(members)) => members
            .into_iter()
            .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
            .collect(),
        _ => Meta::new(),
    }
}

/// Writes `meta.json`.
pub fn to_json(meta: &Meta) -> String {
    let mut out = String::from("{\n");
    for (i, (k, v)) in meta.iter().enumerate() {
        out.push_str("  ");
        json::write_str(&mut out, k);
        out.push_str(": ");
        json::write_str(&mut out, v);
        out.push_str(if i + 1 < meta.len() { ",\n" } else { "\n" });
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(utc(1_795_454_700), "2026-11-23 17:25 UTC");
    }

    #[test]
    fn cpu_model_from_cpuinfo() {
        let text = "processor\t: 0\nmodel name\t: AMD EPYC   7B13\nflags\t: x\n";
        assert_eq!(cpu_model(text).as_deref(), Some("AMD EPYC 7B13"));
        assert_eq!(cpu_model("processor: 0\n"), None);
    }

    #[test]
    fn meta_round_trips_and_set_keeps_order() {
        let mut meta = Meta::new();
        set(&mut meta, "date", "d");
        set(&mut meta, "cpu", "c \"quoted\"");
        set(&mut meta, "date", "d2");
        assert_eq!(meta[0], ("date".to_string(), "d2".to_string()));
        assert_eq!(parse(&to_json(&meta)), meta);
        assert_eq!(get(&meta, "cpu"), Some("c \"quoted\""));
        assert!(parse("not json").is_empty());
    }
}
