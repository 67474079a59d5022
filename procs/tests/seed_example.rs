//! Runs `examples/multiprocessing_example.rs` (seed 000) with its stdout sent
//! into a pipe and checks what it printed. No libtest harness: its output
//! capture would swallow the children's `println!`.

use std::{io::Read, os::fd::AsRawFd, time::Duration};

use coil_procs::Process;

#[path = "../examples/multiprocessing_example.rs"]
mod example;

fn main() {
    let (r, w) = nix::unistd::pipe().unwrap();
    let mut r = std::fs::File::from(r);
    let mut p = Process::with_code(move || {
        nix::unistd::dup2(w.as_raw_fd(), 1).unwrap();
        drop(w);
        match example::main() {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("{e}");
                1
            }
        }
    });
    p.start().unwrap();
    p.join(Some(Duration::from_secs(60))).unwrap();
    assert_eq!(p.exit_code(), Some(0));
    let mut out = String::new();
    r.read_to_string(&mut out).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 11, "output was {out:?}");
    assert_eq!(*lines.last().unwrap(), "All processes complete");
    for i in 0..5 {
        let start = lines
            .iter()
            .position(|l| *l == format!("Worker: {i}"))
            .expect("start line");
        let end = lines
            .iter()
            .position(|l| *l == format!("Worker {i} finished"))
            .expect("finish line");
        assert!(
            start < end,
            "worker {i} finished before it started: {out:?}"
        );
    }
    println!("seed_example: 1 passed, 0 failed");
}
