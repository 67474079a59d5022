//! The resource tracker: a process tree's leaked segments are unlinked when
//! the tree ends, including after SIGKILL; untracked ones are left alone.
//!
//! The creator must be a process whose tree ends during the test, so it is
//! this test binary re-executed (a fresh process, with no tracker inherited
//! from the test harness) into `helper_create_and_wait`.

mod common;

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use coil_shm::{SharedMemory, ShmOptions};
use common::unique;

const HELPER_ENV: &str = "COIL_SHM_TRACKER_HELPER";

/// Run only when re-executed by the tests below: create a tracked and an
/// untracked segment, print their names, then exit or hang as told.
#[test]
#[ignore = "helper process for the tracker tests"]
fn helper_create_and_wait() {
    let Ok(mode) = std::env::var(HELPER_ENV) else {
        return;
    };
    let tracked = unique("tracked");
    let untracked = unique("untracked");
    let a = SharedMemory::create(&tracked, 4096).unwrap();
    let b = SharedMemory::create_with(&untracked, 4096, &ShmOptions::new().track(false)).unwrap();
    let c = SharedMemory::create(&unique("unlinked"), 4096).unwrap();
    c.unlink().unwrap(); // unregisters: the tracker must not trip over it
    println!(
        "\nNAMES {tracked} {untracked} {}",
        coil_shm::tracker::pid().unwrap()
    );
    if mode == "hang" {
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    }
    std::mem::forget((a, b)); // leak both: only the tracker can clean up
}

fn shm_exists(name: &str) -> bool {
    Path::new("/dev/shm").join(name).exists()
}

fn wait_gone(name: &str) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if !shm_exists(name) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

fn run_helper(mode: &str) -> (std::process::Child, String, String, u32) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "helper_create_and_wait",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(HELPER_ENV, mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    // The harness prints "running 1 test" first; find our line.
    loop {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "helper printed no names"
        );
        if let Some(i) = line.find("NAMES ") {
            line.drain(..i + 6);
            break;
        }
    }
    // Keep draining so the helper's later output never hits a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    let mut it = line.split_whitespace();
    let (t, u, p) = (
        it.next().unwrap().to_owned(),
        it.next().unwrap().to_owned(),
        it.next().unwrap().parse().unwrap(),
    );
    (child, t, u, p)
}

#[test]
fn tracker_unlinks_after_creator_is_sigkilled() {
    let (mut child, tracked, untracked, tracker_pid) = run_helper("hang");
    assert!(shm_exists(&tracked) && shm_exists(&untracked));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(wait_gone(&tracked), "tracker did not unlink {tracked}");
    assert!(shm_exists(&untracked), "an untracked segment must survive");
    coil_shm::unlink(&untracked).unwrap();
    // The tracker exits once its tree is gone.
    let start = Instant::now();
    // SAFETY: probing a pid with signal 0.
    while unsafe { libc::kill(tracker_pid as i32, 0) } == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "tracker never exited"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn tracker_unlinks_after_creator_exits_normally() {
    let (mut child, tracked, untracked, _) = run_helper("exit");
    assert!(child.wait().unwrap().success());
    assert!(wait_gone(&tracked), "tracker did not unlink {tracked}");
    assert!(shm_exists(&untracked));
    coil_shm::unlink(&untracked).unwrap();
}

#[test]
fn tracker_is_shared_with_forked_children_and_waits_for_them() {
    // In this process: a tracked segment created by a forked child outlives
    // the child because this process (the tree) is still alive. The tracker
    // belongs to the process that started it and the children forked after;
    // start it here first.
    let first = SharedMemory::create(&unique("treeroot"), 64).unwrap();
    let name = unique("treechild");
    let n2 = name.clone();
    let pid = common::fork_child(move || {
        let s = SharedMemory::create(&n2, 64).unwrap();
        std::mem::forget(s);
        0
    });
    assert_eq!(common::wait(pid), 0);
    std::thread::sleep(Duration::from_millis(50));
    assert!(shm_exists(&name), "the tree is still alive: no cleanup yet");
    coil_shm::unlink(&name).unwrap();
    first.unlink().unwrap();
}
