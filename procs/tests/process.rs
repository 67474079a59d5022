//! Cross-process tests of `Process`: exit codes, signals, timeouts, names,
//! daemon children, panics, fork with threads running.

use std::{
    io::{Read, Write},
    os::fd::{AsRawFd, OwnedFd},
    time::{Duration, Instant},
};

use coil_procs::{Error, Process};

fn pipe() -> (std::fs::File, OwnedFd) {
    let (r, w) = nix::unistd::pipe().unwrap();
    (std::fs::File::from(r), w)
}

#[test]
fn exit_codes() {
    let mut p = Process::new(|| {});
    p.start().unwrap();
    p.join(None).unwrap();
    assert_eq!(p.exit_code(), Some(0));
    assert!(!p.is_alive());

    let mut p = Process::with_code(|| 42);
    p.start().unwrap();
    p.join(Some(Duration::from_secs(30))).unwrap();
    assert_eq!(p.exit_code(), Some(42));
}

#[test]
fn not_started_is_an_error() {
    let mut p = Process::new(|| {});
    assert_eq!(p.join(None), Err(Error::NotStarted));
    assert_eq!(p.terminate(), Err(Error::NotStarted));
    assert_eq!(p.kill(), Err(Error::NotStarted));
    assert_eq!(p.exit_code(), None);
    assert!(!p.is_alive());
    assert_eq!(p.pid(), None);
    p.start().unwrap();
    assert_eq!(p.start(), Err(Error::AlreadyStarted));
    p.join(None).unwrap();
}

#[test]
fn signals_give_negative_codes() {
    let mut p = Process::new(|| std::thread::sleep(Duration::from_secs(60)));
    p.start().unwrap();
    p.join(Some(Duration::from_millis(20))).unwrap();
    assert!(p.is_alive());
    assert_eq!(p.exit_code(), None);
    p.terminate().unwrap();
    p.join(None).unwrap();
    assert_eq!(p.exit_code(), Some(-15));
    // Signalling a reaped child is a no-op, never a stray kill.
    p.kill().unwrap();
    assert_eq!(p.exit_code(), Some(-15));

    let mut p = Process::new(|| std::thread::sleep(Duration::from_secs(60)));
    p.start().unwrap();
    p.kill().unwrap();
    p.join(None).unwrap();
    assert_eq!(p.exit_code(), Some(-9));
}

#[test]
fn join_timeout_returns_while_running() {
    let mut p = Process::new(|| std::thread::sleep(Duration::from_millis(300)));
    p.start().unwrap();
    let t = Instant::now();
    p.join(Some(Duration::from_millis(30))).unwrap();
    assert!(p.is_alive());
    assert!(t.elapsed() >= Duration::from_millis(25));
    p.join(None).unwrap();
    assert_eq!(p.exit_code(), Some(0));
}

#[test]
fn panic_gives_code_1_and_message_on_stderr() {
    let (mut r, w) = pipe();
    let wfd = w.as_raw_fd();
    let mut p = Process::new(move || {
        // Route the child's stderr into the pipe, then panic.
        nix::unistd::dup2(wfd, 2).unwrap();
        panic!("boom in the child");
    });
    p.start().unwrap();
    drop(w);
    p.join(None).unwrap();
    assert_eq!(p.exit_code(), Some(1));
    let mut s = String::new();
    r.read_to_string(&mut s).unwrap();
    assert!(s.contains("boom in the child"), "stderr was {s:?}");
}

#[test]
fn names() {
    let a = Process::new(|| {});
    let b = Process::new(|| {});
    assert!(a.get_name().starts_with("Process-"));
    assert_ne!(a.get_name(), b.get_name());
    let c = Process::new(|| {}).name("worker-7");
    assert_eq!(c.get_name(), "worker-7");
    assert!(format!("{c:?}").contains("worker-7"));
}

fn gone(pid: i32, within: Duration) -> bool {
    let end = Instant::now() + within;
    while Instant::now() < end {
        // SAFETY-free: kill with signal 0 only probes.
        if nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_err() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

fn daemon_case(exit_via_libc_exit: bool) {
    let (mut r, w) = pipe();
    let mut mid = Process::with_code(move || {
        let mut w = std::fs::File::from(w);
        let mut d = Process::new(|| std::thread::sleep(Duration::from_secs(60))).daemon(true);
        d.start().unwrap();
        let pid = d.pid().unwrap();
        w.write_all(&pid.to_le_bytes()).unwrap();
        if exit_via_libc_exit {
            // SAFETY: runs atexit handlers, which kill the daemon child.
            unsafe { libc::exit(0) }
        }
        0
    });
    mid.start().unwrap();
    let mut b = [0u8; 4];
    r.read_exact(&mut b).unwrap();
    let pid = i32::from_le_bytes(b);
    mid.join(None).unwrap();
    assert_eq!(mid.exit_code(), Some(0));
    assert!(
        gone(pid, Duration::from_secs(10)),
        "daemon grandchild {pid} survived its parent"
    );
}

#[test]
fn daemon_child_dies_with_parent() {
    daemon_case(false);
    daemon_case(true);
}

#[test]
fn daemon_child_dies_when_parent_is_killed() {
    let (mut r, w) = pipe();
    let mut mid = Process::new(move || {
        let mut w = std::fs::File::from(w);
        let mut d = Process::new(|| std::thread::sleep(Duration::from_secs(60))).daemon(true);
        d.start().unwrap();
        let pid = d.pid().unwrap();
        w.write_all(&pid.to_le_bytes()).unwrap();
        std::thread::sleep(Duration::from_secs(60));
    });
    mid.start().unwrap();
    let mut b = [0u8; 4];
    r.read_exact(&mut b).unwrap();
    mid.kill().unwrap();
    mid.join(None).unwrap();
    assert_eq!(mid.exit_code(), Some(-9));
    assert!(gone(i32::from_le_bytes(b), Duration::from_secs(10)));
}

#[test]
fn fork_with_threads_running() {
    use std::sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    };
    let stop = Arc::new(AtomicBool::new(false));
    let shared = Arc::new(Mutex::new(Vec::<String>::new()));
    let threads: Vec<_> = (0..3)
        .map(|i| {
            let stop = stop.clone();
            let shared = shared.clone();
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    // Allocate, print and lock while the main thread forks.
                    let s = format!("thread {i} iteration {n}");
                    shared.lock().unwrap().push(s);
                    if n % 64 == 0 {
                        shared.lock().unwrap().clear();
                        eprint!("");
                        print!("");
                    }
                    n += 1;
                }
            })
        })
        .collect();
    let rounds = if std::env::var_os("COIL_STRESS").is_some() {
        300
    } else {
        30
    };
    for k in 0..rounds {
        let mut p = Process::with_code(move || {
            // Allocation and printing are safe in the child (see fork.rs).
            let v: Vec<String> = (0..100).map(|i| format!("{k}-{i}")).collect();
            println!("child {k} made {}", v.len());
            if v.len() == 100 { 0 } else { 3 }
        });
        p.start().unwrap();
        p.join(Some(Duration::from_secs(30))).unwrap();
        assert_eq!(p.exit_code(), Some(0), "round {k}");
    }
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
}
