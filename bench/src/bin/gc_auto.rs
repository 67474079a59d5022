//! gc harness: the workloads with automatic collection, which criterion
//! cannot express as one figure.
//!
//! - `gc/auto`: 10,000,000 short-lived objects (each a self-loop, so only
//!   the collector can free it) with automatic collection on; `total_ms`,
//!   and for coil `gc_pct` (share of the run inside collections).
//! - `gc/auto-kept`: 10,000,000 objects appended to one live list with
//!   automatic collection on; `total_ms`, and for coil `gc_pct`,
//!   `longest_pause_ms` (wall clock), `p99_pause_ms`,
//!   `longest_pause_cpu_ms` (the longest collection's thread CPU time: on
//!   a loaded machine the wall-clock longest pause is often a scheduler
//!   time slice spent in another process) and `collections`.
//! - `gc/young-with-old`: a generation-0 collection while 1,000,000 old
//!   objects are alive (`us_per_collection`, coil only), next to the same
//!   with no old objects (`coil-no-old`): the cost does not depend on them.
//!
//! `coil` is the default generational collector, `coil-full` the
//! stop-the-world `FullCollector`, `coil-incremental` the `Incremental`
//! collector (an increment at every threshold: the young generation plus
//! a bounded walk over the old objects, taking in those that lost a
//! reference), `coil-incremental-all` the same taking in every old object
//! as CPython 3.14 does, and `coil-noskip` the generational collector
//! without the skip of collections that cannot find garbage (every
//! threshold collects, as in CPython). In `auto-kept` the skip makes
//! `coil`'s collections free (none runs); the incremental rows show
//! collections that really run. Peers: rust-cc and dumpster collect
//! automatically by their own policy; gcmodule and bacon-rajan-cc have no
//! automatic trigger, so the loop calls their collector every 10,000
//! allocations in `auto`, and each time the live size doubles in
//! `auto-kept` (every 10,000 there would make gcmodule quadratic: 7 minutes). Each implementation runs on its own thread (their state is
//! thread-local). `COIL_BENCH_PROFILE=quick` uses 2,000,000 objects.

use std::{
    cell::{Cell, RefCell},
    rc::Rc,
    time::{Duration, Instant},
};

use coil_bench::row::Row;

fn n_objects() -> usize {
    match std::env::var("COIL_BENCH_PROFILE").as_deref() {
        Ok("quick") => 2_000_000,
        _ => 10_000_000,
    }
}

fn row(workload: &str, imp: &str, metric: &str, value: f64) {
    Row::new("gc", workload, imp, metric, value).print();
}

/// Runs one implementation on its own thread, with a big stack for the
/// peers that free long structures recursively.
fn on_thread(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(4 << 30)
        .spawn(f)
        .expect("benchmark thread")
        .join()
        .expect("benchmark thread panicked");
}

mod coil_imp {
    use super::*;
    use coil_gc::{Collector, FullCollector, Gc, Incremental, Phase, Seeds, Space, Trace};

    #[derive(Trace)]
    struct Node(RefCell<Option<Gc<Node>>>);

    /// The generational policy with every threshold collecting (no skip).
    struct NoSkip;
    impl Collector for NoSkip {
        fn name(&self) -> &'static str {
            "noskip"
        }
        fn on_threshold(&mut self, space: &Space) -> Option<usize> {
            let (c0, c1, c2) = space.get_count();
            let (t0, t1, t2) = space.get_threshold();
            let (total, pending) = space.long_lived();
            if c2 > t2 && pending >= total / 4 {
                Some(2)
            } else if c1 > t1 {
                Some(1)
            } else if c0 > t0 {
                Some(0)
            } else {
                None
            }
        }
    }

    /// The implementations: name and collector.
    pub const IMPS: [&str; 5] = [
        "coil",
        "coil-full",
        "coil-incremental",
        "coil-incremental-all",
        "coil-noskip",
    ];

    fn space(imp: &str) -> Space {
        match imp {
            "coil-full" => Space::with_collector(Box::new(FullCollector::new())),
            "coil-incremental" => Space::with_collector(Box::new(Incremental::new())),
            "coil-incremental-all" => {
                Space::with_collector(Box::new(Incremental::new().with_seeds(Seeds::All)))
            }
            "coil-noskip" => Space::with_collector(Box::new(NoSkip)),
            _ => Space::new(),
        }
    }

    pub fn auto(n: usize, imp: &'static str) {
        let s = space(imp);
        let t = Instant::now();
        for _ in 0..n {
            let a = Gc::new_in(&s, Node(RefCell::new(None)));
            *a.0.borrow_mut() = Some(a.clone());
        }
        let total = t.elapsed();
        let p = s.pause_stats();
        row("auto", imp, "total_ms", total.as_secs_f64() * 1e3);
        row(
            "auto",
            imp,
            "gc_pct",
            100.0 * p.total.as_secs_f64() / total.as_secs_f64(),
        );
    }

    /// This thread's CPU time: a collection's CPU time leaves out the time
    /// the OS ran other processes (on a loaded machine the wall-clock
    /// longest pause is often one scheduler time slice).
    fn thread_cpu() -> Duration {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: a valid timespec out-pointer and a clock id every Linux has.
        unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    }

    pub fn auto_kept(n: usize, imp: &'static str) {
        let s = space(imp);
        // Each collection's wall and CPU time, from the gc callbacks.
        let pauses = Rc::new(RefCell::new(Vec::<(Duration, Duration)>::new()));
        let start = Rc::new(Cell::new((Instant::now(), Duration::ZERO)));
        {
            let pauses = pauses.clone();
            let start = start.clone();
            s.add_callback(move |phase, _| match phase {
                // The CPU clock is a system call: read outside the wall window.
                Phase::Start => {
                    let c = thread_cpu();
                    start.set((Instant::now(), c));
                }
                _ => {
                    let (w, c) = start.get();
                    let wall = w.elapsed();
                    pauses.borrow_mut().push((wall, thread_cpu() - c));
                }
            });
        }
        let list = Gc::new_in(&s, RefCell::new(Vec::<Gc<Node>>::new()));
        let t = Instant::now();
        for _ in 0..n {
            let a = Gc::new_in(&s, Node(RefCell::new(None)));
            list.borrow_mut().push(a);
        }
        let total = t.elapsed();
        let p = s.pause_stats();
        row("auto-kept", imp, "total_ms", total.as_secs_f64() * 1e3);
        row(
            "auto-kept",
            imp,
            "gc_pct",
            100.0 * p.total.as_secs_f64() / total.as_secs_f64(),
        );
        row(
            "auto-kept",
            imp,
            "longest_pause_ms",
            p.longest.as_secs_f64() * 1e3,
        );
        let mut wall: Vec<f64> = pauses.borrow().iter().map(|x| x.0.as_secs_f64()).collect();
        wall.sort_by(f64::total_cmp);
        let p99 = wall
            .get((wall.len() * 99 / 100).min(wall.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0);
        row("auto-kept", imp, "p99_pause_ms", p99 * 1e3);
        let cpu = pauses
            .borrow()
            .iter()
            .map(|x| x.1)
            .max()
            .unwrap_or_default();
        row(
            "auto-kept",
            imp,
            "longest_pause_cpu_ms",
            cpu.as_secs_f64() * 1e3,
        );
        row("auto-kept", imp, "collections", p.collections as f64);
        s.disable();
        drop(list);
    }

    pub fn young_with_old(old: usize) {
        let s = Space::new();
        s.disable();
        let keep: Vec<_> = (0..old)
            .map(|_| Gc::new_in(&s, Node(RefCell::new(None))))
            .collect();
        s.collect(2).unwrap();
        let rounds = 10_000;
        let t = Instant::now();
        for _ in 0..rounds {
            let a = Gc::new_in(&s, Node(RefCell::new(None)));
            *a.0.borrow_mut() = Some(a.clone());
            s.collect(0).unwrap();
        }
        let us = t.elapsed().as_secs_f64() * 1e6 / rounds as f64;
        let imp = if old == 0 { "coil-no-old" } else { "coil" };
        row("young-with-old", imp, "us_per_collection", us);
        drop(keep);
    }
}

/// A peer: handle type, node creation, link, collection.
macro_rules! peer {
    ($m:ident, $imp:literal, $handle:ty, $new:expr, $collect:expr, $manual:expr) => {
        mod $m {
            use super::*;
            pub fn auto(n: usize) {
                let t = Instant::now();
                let mut next = 10_000;
                for i in 0..n {
                    let a: $handle = $new;
                    *a.0.borrow_mut() = Some(a.clone());
                    if $manual && i == next {
                        $collect;
                        next = i + 10_000;
                    }
                }
                row("auto", $imp, "total_ms", t.elapsed().as_secs_f64() * 1e3);
                $collect;
            }
            pub fn auto_kept(n: usize) {
                let mut list = Vec::new();
                let t = Instant::now();
                let mut next = 10_000;
                for i in 0..n {
                    let a: $handle = $new;
                    list.push(a);
                    if $manual && i == next {
                        $collect;
                        // Paced by the live size, so a growing live heap
                        // costs linear, not quadratic, work.
                        next = 2 * i;
                    }
                }
                row(
                    "auto-kept",
                    $imp,
                    "total_ms",
                    t.elapsed().as_secs_f64() * 1e3,
                );
                drop(list);
                $collect;
            }
        }
    };
}

#[derive(rust_cc::Trace, rust_cc::Finalize)]
struct RcNode(RefCell<Option<rust_cc::Cc<RcNode>>>);
peer!(
    rustcc,
    "rust-cc",
    rust_cc::Cc<RcNode>,
    rust_cc::Cc::new(RcNode(RefCell::new(None))),
    rust_cc::collect_cycles(),
    false
);

#[derive(dumpster::Trace)]
struct DNode(RefCell<Option<dumpster::unsync::Gc<DNode>>>);
peer!(
    dump,
    "dumpster",
    dumpster::unsync::Gc<DNode>,
    dumpster::unsync::Gc::new(DNode(RefCell::new(None))),
    dumpster::unsync::collect(),
    false
);

struct GNode(RefCell<Option<gcmodule::Cc<GNode>>>);
// By hand: gcmodule's derive recurses forever in `is_type_tracked` on a
// recursive type.
impl gcmodule::Trace for GNode {
    fn trace(&self, tracer: &mut gcmodule::Tracer) {
        self.0.trace(tracer);
    }
}
peer!(
    gcmod,
    "gcmodule",
    gcmodule::Cc<GNode>,
    gcmodule::Cc::new(GNode(RefCell::new(None))),
    gcmodule::collect_thread_cycles(),
    true
);

struct BNode(RefCell<Option<bacon_rajan_cc::Cc<BNode>>>);
impl bacon_rajan_cc::Trace for BNode {
    fn trace(&self, tracer: &mut bacon_rajan_cc::Tracer) {
        self.0.trace(tracer);
    }
}
peer!(
    bacon,
    "bacon-rajan-cc",
    bacon_rajan_cc::Cc<BNode>,
    bacon_rajan_cc::Cc::new(BNode(RefCell::new(None))),
    bacon_rajan_cc::collect_cycles(),
    true
);

fn main() {
    let n = n_objects();
    let only = std::env::args().nth(1);
    let want = |name: &str| only.as_deref().is_none_or(|o| o == name);
    for imp in coil_imp::IMPS {
        if want(imp) {
            on_thread(move || coil_imp::auto(n, imp));
            on_thread(move || coil_imp::auto_kept(n, imp));
        }
    }
    if want("coil") {
        on_thread(move || coil_imp::young_with_old(1_000_000));
        on_thread(move || coil_imp::young_with_old(0));
    }
    if want("rust-cc") {
        on_thread(move || rustcc::auto(n));
        on_thread(move || rustcc::auto_kept(n));
    }
    if want("dumpster") {
        on_thread(move || dump::auto(n));
        on_thread(move || dump::auto_kept(n));
    }
    if want("gcmodule") {
        on_thread(move || gcmod::auto(n));
        on_thread(move || gcmod::auto_kept(n));
    }
    if want("bacon-rajan-cc") {
        on_thread(move || bacon::auto(n));
        on_thread(move || bacon::auto_kept(n));
    }
}
