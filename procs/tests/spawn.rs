//! The `spawn` start method: this test binary has its own `main` (no libtest
//! harness) so the re-executed copy reaches `spawn_main` first thing.

use std::time::Duration;

use coil_procs::{Error, JoinableQueue, Process, Queue, QueueOptions, spawn};

fn exit_with(code: i32) -> i32 {
    code
}

fn sum_to_code(v: Vec<u32>) -> i32 {
    v.iter().sum::<u32>() as i32
}

fn boom(msg: String) -> i32 {
    panic!("{msg}")
}

fn sleeper(secs: u64) -> i32 {
    std::thread::sleep(Duration::from_secs(secs));
    0
}

/// Open the named queue pair, answer each number with its square until 0;
/// then mark every task of the joinable queue `<name>-jobs` done.
fn squarer(name: String) -> i32 {
    let (Ok(rx), Ok(tx)) = (
        Queue::<u64>::open(&format!("{name}-in")),
        Queue::<u64>::open(&format!("{name}-out")),
    ) else {
        return 20;
    };
    loop {
        match rx.get() {
            Ok(0) => break,
            Ok(x) => {
                if tx.put(&(x * x)).is_err() {
                    return 21;
                }
            }
            Err(_) => return 22,
        }
    }
    let Ok(jobs) = JoinableQueue::<String>::open(&format!("{name}-jobs")) else {
        return 23;
    };
    while let Ok(job) = jobs.get_timeout(Duration::from_millis(200)) {
        if tx.put(&(job.len() as u64)).is_err() || jobs.task_done().is_err() {
            return 24;
        }
    }
    0
}

fn main() {
    spawn::register("squarer", squarer);
    spawn::register("exit_with", exit_with);
    spawn::register("sum", sum_to_code);
    spawn::register("boom", boom);
    spawn::register("sleeper", sleeper);
    coil_procs::spawn_main();

    let mut passed = 0;

    // An entry point's return value is the exit code; arguments arrive intact.
    let mut p = Process::spawn("exit_with", &17i32).unwrap();
    p.start().unwrap();
    p.join(Some(Duration::from_secs(30))).unwrap();
    assert_eq!(p.exit_code(), Some(17));
    passed += 1;

    let mut p = Process::spawn("sum", &vec![1u32, 2, 3, 4])
        .unwrap()
        .name("summer");
    assert_eq!(p.get_name(), "summer");
    p.start().unwrap();
    p.join(None).unwrap();
    assert_eq!(p.exit_code(), Some(10));
    passed += 1;

    // A panic gives 1.
    let mut p = Process::spawn("boom", &"spawned panic".to_string()).unwrap();
    p.start().unwrap();
    p.join(None).unwrap();
    assert_eq!(p.exit_code(), Some(1));
    passed += 1;

    // A wrong argument type decodes badly in the child: exit code 2.
    let mut p = Process::spawn("sum", &255u8).unwrap();
    p.start().unwrap();
    p.join(None).unwrap();
    assert_eq!(p.exit_code(), Some(2));
    passed += 1;

    // Unregistered names are refused before anything starts.
    assert_eq!(
        Process::spawn("nope", &()).unwrap_err(),
        Error::UnknownEntryPoint("nope".into())
    );
    passed += 1;

    // Oversized arguments are refused.
    let big = vec![0u8; spawn::MAX_ARG + 1];
    assert!(matches!(
        Process::spawn("sum", &big),
        Err(Error::MessageTooLarge { .. })
    ));
    passed += 1;

    // Kill and join a spawned child.
    let mut p = Process::spawn("sleeper", &60u64).unwrap().daemon(true);
    p.start().unwrap();
    assert!(p.is_alive());
    p.kill().unwrap();
    p.join(None).unwrap();
    assert_eq!(p.exit_code(), Some(-9));
    passed += 1;

    // A spawned child (nothing inherited) opens queues by name.
    let base = format!("coil-test-spawnq-{}", std::process::id());
    let o = QueueOptions::new();
    let to: Queue<u64> = Queue::create(&format!("{base}-in"), &o).unwrap();
    let from: Queue<u64> = Queue::create(&format!("{base}-out"), &o).unwrap();
    let jobs: JoinableQueue<String> = JoinableQueue::create(&format!("{base}-jobs"), &o).unwrap();
    for j in ["a", "bb", "ccc"] {
        jobs.put(&j.to_string()).unwrap();
    }
    let mut p = Process::spawn("squarer", &base).unwrap().daemon(true);
    p.start().unwrap();
    for x in 1..=100u64 {
        to.put(&x).unwrap();
    }
    to.put(&0).unwrap();
    for x in 1..=100u64 {
        assert_eq!(from.get_timeout(Duration::from_secs(30)).unwrap(), x * x);
    }
    jobs.join_timeout(Duration::from_secs(30)).unwrap();
    let mut lens: Vec<u64> = (0..3)
        .map(|_| from.get_timeout(Duration::from_secs(30)).unwrap())
        .collect();
    lens.sort_unstable();
    assert_eq!(lens, [1, 2, 3]);
    p.join(Some(Duration::from_secs(30))).unwrap();
    assert_eq!(p.exit_code(), Some(0));
    passed += 1;

    println!("spawn: {passed} passed, 0 failed");
}
