//! Cross-process tests of `Queue`, `SimpleQueue`, `JoinableQueue` on both
//! transports, with bad input and crash tests (SIGKILL of producers and
//! consumers at random moments).

use std::{
    collections::{BTreeMap, BTreeSet},
    time::{Duration, Instant},
};

use coil_procs::{
    Error, JoinableQueue, Pipe, Process, Queue, QueueOptions, SimpleQueue, TransportKind,
};
use serde::{Deserialize, Serialize};

const KINDS: [TransportKind; 2] = [TransportKind::Pipe, TransportKind::Ring];

fn stress() -> bool {
    std::env::var_os("COIL_STRESS").is_some()
}

/// A tiny xorshift generator (no dependency, reproducible per seed).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Msg {
    Item {
        producer: u32,
        seq: u32,
        pad: Vec<u8>,
    },
    Stop,
}

fn item(producer: u32, seq: u32) -> Msg {
    // Every 7th message spans several records (ring records are 256 bytes in
    // the crash tests, 4 KiB by default; pipe records 64 KiB).
    let len = if seq % 7 == 0 {
        3000 + (seq as usize % 5) * 1000
    } else {
        (seq as usize * 13) % 200
    };
    Msg::Item {
        producer,
        seq,
        pad: vec![(producer as u8) ^ (seq as u8); len],
    }
}

fn check_item(m: &Msg) -> (u32, u32) {
    match m {
        Msg::Item { producer, seq, pad } => {
            assert_eq!(*m, item(*producer, *seq), "corrupt message");
            assert!(pad.iter().all(|&b| b == (*producer as u8) ^ (*seq as u8)));
            (*producer, *seq)
        }
        Msg::Stop => panic!("unexpected stop"),
    }
}

#[test]
fn many_producers_many_consumers_lose_nothing() {
    for kind in KINDS {
        let q: Queue<Msg> =
            Queue::with_options(&QueueOptions::new().transport(kind).ring(64, 512)).unwrap();
        let producers = 3u32;
        let per = 300u32;
        let mut procs = Vec::new();
        for p in 0..producers {
            let q = q.clone();
            procs.push(Process::new(move || {
                for s in 0..per {
                    q.put(&item(p, s)).unwrap();
                }
            }));
        }
        let mut outs = Vec::new();
        for _ in 0..2 {
            let (r, mut w) = Pipe::new(false).unwrap();
            let q = q.clone();
            procs.push(Process::new(move || {
                while let Msg::Item { producer, seq, .. } = q.get().unwrap() {
                    w.send(&(producer, seq)).unwrap();
                }
            }));
            outs.push(r);
        }
        for p in &mut procs {
            p.start().unwrap();
        }
        for p in procs.iter_mut().take(producers as usize) {
            p.join(None).unwrap();
        }
        q.put(&Msg::Stop).unwrap();
        q.put(&Msg::Stop).unwrap();
        let mut seen = BTreeSet::new();
        for mut r in outs {
            while let Ok((p, s)) = r.recv::<(u32, u32)>() {
                assert!(seen.insert((p, s)), "duplicate {p}/{s} on {kind:?}");
            }
        }
        for p in &mut procs {
            p.join(None).unwrap();
            assert_eq!(p.exit_code(), Some(0));
        }
        assert_eq!(
            seen.len(),
            (producers * per) as usize,
            "lost messages on {kind:?}"
        );
        assert_eq!(q.qsize(), 0);
    }
}

#[test]
fn large_messages_cross_processes() {
    for kind in KINDS {
        let q: Queue<Vec<u8>> = Queue::with_options(&QueueOptions::new().transport(kind)).unwrap();
        let mut ps: Vec<Process> = (0..2u8)
            .map(|k| {
                let q = q.clone();
                Process::new(move || {
                    for i in 0..4u8 {
                        q.put(&vec![k * 16 + i; 1 << 20]).unwrap();
                    }
                })
            })
            .collect();
        for p in &mut ps {
            p.start().unwrap();
        }
        let mut got = Vec::new();
        for _ in 0..8 {
            let v = q.get_timeout(Duration::from_secs(60)).unwrap();
            assert_eq!(v.len(), 1 << 20);
            assert!(
                v.iter().all(|&b| b == v[0]),
                "interleaved chunks on {kind:?}"
            );
            got.push(v[0]);
        }
        got.sort();
        assert_eq!(got, [0, 1, 2, 3, 16, 17, 18, 19]);
        for p in &mut ps {
            p.join(None).unwrap();
        }
    }
}

#[test]
fn raw_bytes_cross_processes() {
    for kind in KINDS {
        let q: Queue<Vec<u8>> = Queue::with_options(&QueueOptions::new().transport(kind)).unwrap();
        let tx = q.clone();
        let mut p = Process::new(move || {
            for i in 0..3u8 {
                tx.put_bytes(&vec![i; (1 << 20) + i as usize]).unwrap();
            }
        });
        p.start().unwrap();
        for i in 0..3u8 {
            let v = q.get_bytes_timeout(Duration::from_secs(60)).unwrap();
            assert_eq!(v.len(), (1 << 20) + i as usize);
            assert!(v.iter().all(|&b| b == i));
        }
        p.join(None).unwrap();
        assert_eq!(q.qsize(), 0);
    }
}

#[test]
fn bad_input_and_timeouts() {
    for kind in KINDS {
        let o = QueueOptions::new()
            .transport(kind)
            .max_message(100)
            .ring(2, 64);
        let q: Queue<Vec<u8>> = Queue::with_options(&o).unwrap();
        assert!(matches!(
            q.put(&vec![0; 200]),
            Err(Error::MessageTooLarge { max: 100, .. })
        ));
        assert_eq!(q.try_get(), Err(Error::Empty));
        let t = Instant::now();
        assert_eq!(q.get_timeout(Duration::from_millis(20)), Err(Error::Empty));
        assert!(t.elapsed() >= Duration::from_millis(15));
        q.put(&vec![1, 2]).unwrap();
        assert_eq!(q.qsize(), 1);
        assert!(!q.empty());
        assert_eq!(q.get().unwrap(), [1, 2]);
        // Wrong type on the other end: a decode error, the message consumed.
        let other: Queue<(u64, u64, u64)> = q.retype();
        other.put(&(u64::MAX, u64::MAX, u64::MAX)).unwrap();
        assert!(matches!(q.get(), Err(Error::Decode(_))));
        assert_eq!(q.try_get(), Err(Error::Empty));
        // Closed handles.
        q.close();
        assert!(q.is_closed());
        assert_eq!(q.put(&vec![]), Err(Error::Closed));
        assert_eq!(q.get(), Err(Error::Closed));
    }
    // A full ring: put with timeout says Full.
    let q: Queue<u8> = Queue::with_options(&QueueOptions::new().ring(2, 64)).unwrap();
    q.put(&1).unwrap();
    q.put(&2).unwrap();
    assert_eq!(q.try_put(&3), Err(Error::Full));
    assert_eq!(
        q.put_timeout(&3, Duration::from_millis(10)),
        Err(Error::Full)
    );
    assert_eq!(q.qsize(), 2);
    assert_eq!(q.get().unwrap(), 1);
}

#[test]
fn simple_and_joinable_queues() {
    for kind in KINDS {
        let o = QueueOptions::new().transport(kind);
        let s: SimpleQueue<u32> = SimpleQueue::with_options(&o).unwrap();
        let s2 = s.clone();
        let mut p = Process::new(move || s2.put(&77).unwrap());
        p.start().unwrap();
        assert_eq!(s.get().unwrap(), 77);
        p.join(None).unwrap();
        assert!(s.empty());
        s.close();
        assert_eq!(s.get(), Err(Error::Closed));

        let j: JoinableQueue<u32> = JoinableQueue::with_options(&o).unwrap();
        assert_eq!(j.task_done(), Err(Error::TaskDoneTooManyTimes));
        let workers: Vec<Process> = (0..2)
            .map(|_| {
                let j = j.clone();
                Process::new(move || {
                    while let Ok(v) = j.get_timeout(Duration::from_millis(300)) {
                        std::thread::sleep(Duration::from_micros(v as u64 % 200));
                        j.task_done().unwrap();
                    }
                })
            })
            .collect();
        let mut workers = workers;
        for w in &mut workers {
            w.start().unwrap();
        }
        for i in 0..50 {
            j.put(&i).unwrap();
        }
        j.join().unwrap();
        assert_eq!(j.unfinished_tasks(), 0);
        for w in &mut workers {
            w.join(None).unwrap();
            assert_eq!(w.exit_code(), Some(0));
        }
        j.put(&1).unwrap();
        assert_eq!(
            j.join_timeout(Duration::from_millis(10)),
            Err(Error::Timeout)
        );
        j.get().unwrap();
        j.task_done().unwrap();
        j.join_timeout(Duration::from_secs(1)).unwrap();
    }
}

/// One crash round: 2 producers, 2 consumers, one of the four SIGKILLed at a
/// random moment. Survivors finish; nothing else is lost or duplicated.
fn crash_round(kind: TransportKind, rng: &mut Rng) {
    let q: Queue<Msg> =
        Queue::with_options(&QueueOptions::new().transport(kind).ring(16, 256)).unwrap();
    let per = 120u32;
    let mut producers: Vec<Process> = (0..2u32)
        .map(|p| {
            let q = q.clone();
            Process::new(move || {
                for s in 0..per {
                    q.put(&item(p, s)).unwrap();
                }
            })
        })
        .collect();
    let mut outs = Vec::new();
    let mut consumers: Vec<Process> = (0..2)
        .map(|_| {
            let (r, mut w) = Pipe::new(false).unwrap();
            outs.push(r);
            let q = q.clone();
            Process::new(move || {
                while let m @ Msg::Item { .. } = q.get_timeout(Duration::from_secs(20)).unwrap() {
                    w.send(&check_item(&m)).unwrap();
                }
            })
        })
        .collect();
    for p in producers.iter_mut().chain(consumers.iter_mut()) {
        p.start().unwrap();
    }
    std::thread::sleep(Duration::from_micros(rng.below(4000)));
    let victim = rng.below(4) as usize;
    let killed_producer = if victim < 2 {
        producers[victim].kill().unwrap();
        Some(victim as u32)
    } else {
        consumers[victim - 2].kill().unwrap();
        None
    };
    let deadline = Duration::from_secs(30);
    for p in &mut producers {
        p.join(Some(deadline)).unwrap();
        assert!(!p.is_alive(), "producer hung on {kind:?}");
    }
    // The killed consumer (if any) may not have exited yet: count by role.
    let live_consumers = if killed_producer.is_some() { 2 } else { 1 };
    for _ in 0..live_consumers {
        q.put(&Msg::Stop).unwrap();
    }
    for c in &mut consumers {
        c.join(Some(deadline)).unwrap();
        assert!(!c.is_alive(), "consumer hung on {kind:?}");
        let code = c.exit_code().unwrap();
        assert!(
            code == 0 || code == -9,
            "consumer failed with {code} on {kind:?}"
        );
    }
    let mut seen: BTreeMap<u32, BTreeSet<u32>> = BTreeMap::new();
    for mut r in outs {
        while let Ok((p, s)) = r.recv::<(u32, u32)>() {
            assert!(
                seen.entry(p).or_default().insert(s),
                "duplicate {p}/{s} on {kind:?}"
            );
        }
    }
    let mut lost = 0;
    for p in 0..2u32 {
        let got = seen.remove(&p).unwrap_or_default();
        if Some(p) == killed_producer {
            // A prefix of its messages, perhaps without the one it was putting.
            let n = got.len() as u32;
            assert!(
                got.iter().copied().eq(0..n),
                "killed producer {p}: gap in {got:?} on {kind:?}"
            );
        } else {
            lost += per as usize - got.len();
        }
    }
    let allowed = if killed_producer.is_none() { 1 } else { 0 };
    assert!(
        lost <= allowed,
        "{lost} messages of live producers lost on {kind:?}"
    );
    // The queue still works for the survivors.
    q.put(&item(9, 9)).unwrap();
    assert_eq!(check_item(&q.get_timeout(deadline).unwrap()), (9, 9));
}

#[test]
fn crash_producers_and_consumers_at_random() {
    let rounds = if stress() { 200 } else { 8 };
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ std::process::id() as u64);
    for kind in KINDS {
        for _ in 0..rounds {
            crash_round(kind, &mut rng);
        }
    }
}

/// A fresh queue name for this test process.
fn qname(tag: &str) -> String {
    format!("coil-test-q-{tag}-{}", std::process::id())
}

#[test]
fn named_queue_opens_in_another_process_and_goes_with_its_creator() {
    let name = qname("named");
    let q: Queue<String> = Queue::create(&name, &QueueOptions::new().max_message(64)).unwrap();
    assert_eq!(q.name(), Some(name.as_str()));
    let n2 = name.clone();
    // The child opens by name (it could equally be spawned: see tests/spawn.rs).
    let mut p = Process::new(move || {
        let q: Queue<String> = Queue::open(&n2).unwrap();
        assert_eq!(q.name(), None);
        q.put(&"hello".to_string()).unwrap();
        // The creator's limit travels with the name.
        assert!(matches!(
            q.put(&"x".repeat(100)),
            Err(Error::MessageTooLarge { max: 64, .. })
        ));
    });
    p.start().unwrap();
    assert_eq!(q.get_timeout(Duration::from_secs(30)).unwrap(), "hello");
    p.join(None).unwrap();
    assert_eq!(p.exit_code(), Some(0));
    // A name in use is refused, without harming the queue under it.
    assert!(matches!(
        Queue::<u8>::create(&name, &QueueOptions::new()),
        Err(Error::Shm(coil_shm::Error::AlreadyExists(_)))
    ));
    let opened: Queue<String> = Queue::open(&name).unwrap();
    opened.put(&"still".into()).unwrap();
    assert_eq!(q.get().unwrap(), "still");
    // The creator's last handle removes the names; opened handles still work.
    drop(q);
    assert!(matches!(
        Queue::<String>::open(&name),
        Err(Error::Shm(coil_shm::Error::NotFound(_)))
    ));
    opened.put(&"after".into()).unwrap();
    assert_eq!(opened.get().unwrap(), "after");
}

#[test]
fn named_queue_bad_input() {
    assert!(matches!(
        Queue::<u8>::create(
            &qname("pipe"),
            &QueueOptions::new().transport(TransportKind::Pipe)
        ),
        Err(Error::Unsupported(_))
    ));
    assert!(matches!(
        Queue::<u8>::create("bad/name", &QueueOptions::new()),
        Err(Error::Shm(coil_shm::Error::InvalidName { .. }))
    ));
    assert!(matches!(
        Queue::<u8>::open(&qname("missing")),
        Err(Error::Shm(coil_shm::Error::NotFound(_)))
    ));
    // Something else under the name.
    let name = qname("other");
    let _v = coil_shm::SharedValue::create(&format!("{name}.ring"), 0u64).unwrap();
    assert!(matches!(
        Queue::<u8>::open(&name),
        Err(Error::Shm(coil_shm::Error::Incompatible(_)))
    ));
    coil_shm::unlink(&format!("{name}.ring")).unwrap();
    // A plain queue is not a joinable one.
    let name = qname("plain");
    let _q: Queue<u8> = Queue::create(&name, &QueueOptions::new()).unwrap();
    assert!(matches!(
        JoinableQueue::<u8>::open(&name),
        Err(Error::Unsupported(_))
    ));
    let sq = SimpleQueue::<u8>::open(&name).unwrap();
    sq.put(&1).unwrap();
    assert_eq!(_q.get().unwrap(), 1);
}
