//! Cross-process tests of `Pool`: every call shape, panics, retired and dead
//! workers (SIGKILL at random moments), close/join/terminate.

use std::{collections::BTreeSet, time::Duration};

use coil_procs::{Error, Pool, PoolOptions, Process};

fn stress() -> bool {
    std::env::var_os("COIL_STRESS").is_some()
}

#[test]
fn call_shapes() {
    let mut pool = Pool::new(2, |x: u64| x * x).unwrap();
    assert_eq!(pool.processes(), 2);
    let want: Vec<u64> = (0..5000u64).map(|x| x * x).collect();
    assert_eq!(pool.map(0..5000u64).unwrap(), want);
    assert_eq!(pool.map_chunked(0..5000u64, 1).unwrap(), want);
    assert_eq!(pool.map_chunked(0..5000u64, 333).unwrap(), want);
    assert_eq!(pool.starmap(vec![3u64]).unwrap(), [9]);
    assert!(pool.map(Vec::<u64>::new()).unwrap().is_empty());
    let v: Vec<u64> = pool
        .imap(0..100u64, 7)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(v, want[..100]);
    let mut u: Vec<u64> = pool
        .imap_unordered(0..100u64, 3)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    u.sort();
    assert_eq!(u, want[..100]);
    let handles: Vec<_> = (0..20u64).map(|x| pool.apply_async(x).unwrap()).collect();
    for (x, h) in handles.iter().enumerate() {
        assert_eq!(
            h.get(Some(Duration::from_secs(60))).unwrap(),
            (x * x) as u64
        );
    }
    assert_eq!(pool.apply(12).unwrap(), 144);
    pool.close();
    assert_eq!(pool.map([1u64]), Err(Error::Closed));
    assert!(matches!(pool.apply_async(1), Err(Error::Closed)));
    pool.join().unwrap();
}

#[test]
fn tuple_tasks_and_strings() {
    let pool = Pool::new(2, |(s, n): (String, usize)| s.repeat(n)).unwrap();
    assert_eq!(
        pool.starmap([("ab".to_string(), 2), ("c".to_string(), 3)])
            .unwrap(),
        ["abab", "ccc"]
    );
}

#[test]
fn panics_are_per_task() {
    let pool = Pool::new(2, |x: u32| {
        if x % 10 == 3 {
            panic!("task {x} failed");
        }
        x
    })
    .unwrap();
    let out: Vec<_> = pool.imap(0..30u32, 2).unwrap().collect();
    for (x, r) in out.iter().enumerate() {
        if x % 10 == 3 {
            assert_eq!(r, &Err(Error::TaskPanicked(format!("task {x} failed"))));
        } else {
            assert_eq!(r, &Ok(x as u32));
        }
    }
    assert!(matches!(pool.map(0..10u32), Err(Error::TaskPanicked(_))));
    // The pool still works.
    assert_eq!(pool.map([1u32, 2]).unwrap(), [1, 2]);
}

#[test]
fn default_chunks_spread_over_every_worker() {
    // 3 workers, 24 tasks: CPython's rule gives 12 chunks of 2; they go out
    // round the workers, so each runs some (with 64 chunks of prefetch
    // given to the first worker it would have run them all).
    let pool = Pool::new(3, |_: u32| std::process::id()).unwrap();
    let per_worker = |v: Vec<u32>| {
        let mut m = std::collections::BTreeMap::new();
        for pid in v {
            *m.entry(pid).or_insert(0) += 1;
        }
        m
    };
    let m = per_worker(pool.map(0..24u32).unwrap());
    assert_eq!(m.len(), 3, "every worker ran a chunk: {m:?}");
    // An iterator of unknown length gets the same rule.
    let m = per_worker(pool.map((0..24u32).filter(|_| true)).unwrap());
    assert_eq!(m.len(), 3, "every worker ran a chunk: {m:?}");
    // Each chunk runs whole on one worker: results come in pairs.
    assert!(m.values().all(|n| n % 2 == 0), "{m:?}");
}

#[test]
fn maxtasksperchild_replaces_workers() {
    let pool = Pool::with_options(
        &PoolOptions::new().processes(2).maxtasksperchild(Some(1)),
        |_: u8| std::process::id(),
    )
    .unwrap();
    let pids: BTreeSet<u32> = pool.map_chunked(0..10u8, 1).unwrap().into_iter().collect();
    assert_eq!(pids.len(), 10, "each chunk ran in a fresh worker");
    let pool = Pool::with_options(
        &PoolOptions::new().processes(1).maxtasksperchild(Some(3)),
        |_: u8| std::process::id(),
    )
    .unwrap();
    let pids: BTreeSet<u32> = pool.map_chunked(0..9u8, 1).unwrap().into_iter().collect();
    assert_eq!(pids.len(), 3);
}

#[test]
fn a_worker_that_dies_fails_its_task_only() {
    let pool = Pool::new(2, |x: u32| {
        if x == 17 {
            // SAFETY-free: the worker kills itself mid-task.
            nix::sys::signal::kill(nix::unistd::getpid(), nix::sys::signal::Signal::SIGKILL)
                .unwrap();
        }
        x
    })
    .unwrap();
    let out: Vec<_> = pool.imap(0..200u32, 1).unwrap().collect();
    for (x, r) in out.iter().enumerate() {
        if x == 17 {
            assert!(
                matches!(r, Err(Error::WorkerDied { exit_code: -9, .. })),
                "{r:?}"
            );
        } else {
            assert_eq!(r, &Ok(x as u32));
        }
    }
    assert_eq!(
        pool.worker_pids().unwrap().len(),
        2,
        "the dead worker was replaced"
    );
    let r = pool.apply_async(17).unwrap();
    assert!(matches!(
        r.get(Some(Duration::from_secs(60))),
        Err(Error::WorkerDied { .. })
    ));
    assert!(!r.successful().unwrap());
    assert_eq!(pool.apply(5).unwrap(), 5);
}

#[test]
fn terminate_fails_pending_tasks() {
    let mut pool = Pool::new(1, |ms: u64| {
        std::thread::sleep(Duration::from_millis(ms));
        ms
    })
    .unwrap();
    let slow = pool.apply_async(60_000).unwrap();
    let queued = pool.apply_async(1).unwrap();
    assert_eq!(
        slow.get(Some(Duration::from_millis(20))),
        Err(Error::Timeout)
    );
    pool.terminate();
    assert_eq!(slow.get(None), Err(Error::Terminated));
    assert_eq!(queued.get(None), Err(Error::Terminated));
}

/// A small deterministic generator.
fn rng(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

/// One round in a child (so a hang is a timed-out child, not a hung test):
/// kill a random worker at a random moment of a 300-task imap.
fn crash_round(seed: u64) -> i32 {
    let mut s = seed;
    let chunksize = 1 + (rng(&mut s) % 3) as usize;
    let pool = Pool::new(2, |x: u32| {
        std::thread::sleep(Duration::from_micros(20 * (x % 5) as u64));
        x
    })
    .unwrap();
    let it = pool.imap(0..300u32, chunksize).unwrap();
    std::thread::sleep(Duration::from_micros(rng(&mut s) % 8000));
    let pids = pool.worker_pids().unwrap();
    let victim = pids[(rng(&mut s) % pids.len() as u64) as usize];
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(victim),
        nix::sys::signal::Signal::SIGKILL,
    );
    let mut died = 0;
    for (x, r) in it.enumerate() {
        match r {
            Ok(v) if v == x as u32 => {}
            Err(Error::WorkerDied { .. }) => died += 1,
            other => {
                eprintln!("task {x}: {other:?}");
                return 2;
            }
        }
    }
    if died > chunksize {
        eprintln!("{died} tasks failed for one death (chunksize {chunksize})");
        return 3;
    }
    // The pool goes on.
    if pool.map(0..10u32).unwrap() != (0..10).collect::<Vec<_>>() {
        return 4;
    }
    0
}

#[test]
fn crash_workers_at_random() {
    let rounds = if stress() { 200 } else { 10 };
    for k in 0..rounds {
        let seed =
            0x2545_f491_4f6c_dd1d ^ ((k as u64 + 1) * 0x9e37_79b9) ^ std::process::id() as u64;
        let mut p = Process::with_code(move || crash_round(seed));
        p.start().unwrap();
        p.join(Some(Duration::from_secs(60))).unwrap();
        if p.is_alive() {
            p.kill().unwrap();
            panic!("round {k} hung");
        }
        assert_eq!(p.exit_code(), Some(0), "round {k}");
    }
}
