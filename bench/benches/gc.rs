//! The gc suite (BENCHMARKS.md): `gc/dead-rings`, `gc/live-graph`,
//! `gc/live-graph-touched`, `gc/chain-cycle`, `gc/alloc-tracked`, with coil
//! and the Rust cycle collectors a user would pick instead: dumpster
//! (unsync), rust-cc, gcmodule, bacon-rajan-cc; `alloc-tracked` also against
//! std `Rc`. `gc/auto` and `gc/auto-kept` (10,000,000 objects each) are in
//! the harness binary `gc_auto`.
//!
//! Every implementation builds the same graph of one-pointer nodes
//! (`RefCell<Option<handle>>`) outside the timed part; the timed part is one
//! explicit full collection (ns per node), or the creation of 1,000 nodes.
//! Automatic collection is off for every implementation during the graph
//! workloads.

use std::{cell::RefCell, hint::black_box, time::Duration};

use criterion::{BatchSize, Criterion, Throughput, criterion_group};

const N: usize = 1_000_000;
const RING: usize = 10;

/// One implementation: build nodes, link them, collect.
trait Imp {
    type H: Clone;
    fn node() -> Self::H;
    fn link(a: &Self::H, b: &Self::H);
    fn collect();
    fn setup() {}
}

/// Rings of `k` nodes; returns each ring's head.
fn rings<I: Imp>(n: usize, k: usize) -> Vec<I::H> {
    let mut heads = Vec::with_capacity(n / k);
    for _ in 0..n / k {
        let first = I::node();
        let mut prev = first.clone();
        for _ in 1..k {
            let x = I::node();
            I::link(&prev, &x);
            prev = x;
        }
        I::link(&prev, &first);
        heads.push(first);
    }
    heads
}

mod coil {
    use super::*;
    use coil_gc::{Gc, Space, Trace};

    #[derive(Trace)]
    pub struct Node(RefCell<Option<Gc<Node>>>);

    thread_local!(static SPACE: Space = {
        let s = Space::new();
        s.disable();
        s
    });

    pub struct Coil;
    impl Imp for Coil {
        type H = Gc<Node>;
        fn node() -> Self::H {
            SPACE.with(|s| Gc::new_in(s, Node(RefCell::new(None))))
        }
        fn link(a: &Self::H, b: &Self::H) {
            *a.0.borrow_mut() = Some(b.clone());
        }
        fn collect() {
            SPACE.with(|s| s.collect(2).unwrap());
        }
    }
}

mod rustcc {
    use super::*;
    use rust_cc::{Cc, Finalize, Trace};

    #[derive(Trace, Finalize)]
    pub struct Node(RefCell<Option<Cc<Node>>>);

    pub struct RustCc;
    impl Imp for RustCc {
        type H = Cc<Node>;
        fn node() -> Self::H {
            Cc::new(Node(RefCell::new(None)))
        }
        fn link(a: &Self::H, b: &Self::H) {
            *a.0.borrow_mut() = Some(b.clone());
        }
        fn collect() {
            rust_cc::collect_cycles();
        }
        fn setup() {
            let _ = rust_cc::config::config(|c| c.set_auto_collect(false));
        }
    }
}

mod gcmod {
    use super::*;
    use gcmodule::{Cc, Trace, Tracer};

    pub struct Node(RefCell<Option<Cc<Node>>>);
    // Written by hand: gcmodule's derive makes `is_type_tracked` recurse
    // forever on a recursive type (a stack overflow on the first `Cc::new`).
    impl Trace for Node {
        fn trace(&self, tracer: &mut Tracer) {
            self.0.trace(tracer);
        }
    }

    pub struct GcModule;
    impl Imp for GcModule {
        type H = Cc<Node>;
        fn node() -> Self::H {
            Cc::new(Node(RefCell::new(None)))
        }
        fn link(a: &Self::H, b: &Self::H) {
            *a.0.borrow_mut() = Some(b.clone());
        }
        fn collect() {
            gcmodule::collect_thread_cycles();
        }
    }
}

mod dump {
    use super::*;
    use dumpster::{Trace, unsync::Gc};

    #[derive(Trace)]
    pub struct Node(RefCell<Option<Gc<Node>>>);

    pub struct Dumpster;
    impl Imp for Dumpster {
        type H = Gc<Node>;
        fn node() -> Self::H {
            Gc::new(Node(RefCell::new(None)))
        }
        fn link(a: &Self::H, b: &Self::H) {
            *a.0.borrow_mut() = Some(b.clone());
        }
        fn collect() {
            dumpster::unsync::collect();
        }
        fn setup() {
            dumpster::unsync::set_collect_condition(|_| false);
        }
    }
}

mod bacon {
    use super::*;
    use bacon_rajan_cc::{Cc, Trace, Tracer};

    pub struct Node(RefCell<Option<Cc<Node>>>);
    impl Trace for Node {
        fn trace(&self, tracer: &mut Tracer) {
            self.0.trace(tracer);
        }
    }

    pub struct Bacon;
    impl Imp for Bacon {
        type H = Cc<Node>;
        fn node() -> Self::H {
            Cc::new(Node(RefCell::new(None)))
        }
        fn link(a: &Self::H, b: &Self::H) {
            *a.0.borrow_mut() = Some(b.clone());
        }
        fn collect() {
            bacon_rajan_cc::collect_cycles();
        }
    }
}

macro_rules! each_imp {
    ($f:ident, $g:expr) => {
        $f::<coil::Coil>($g, "coil");
        $f::<dump::Dumpster>($g, "dumpster");
        $f::<rustcc::RustCc>($g, "rust-cc");
        $f::<gcmod::GcModule>($g, "gcmodule");
        $f::<bacon::Bacon>($g, "bacon-rajan-cc");
    };
}

type Group<'a> = criterion::BenchmarkGroup<'a, criterion::measurement::WallTime>;

fn dead<I: Imp>(g: &mut Group<'_>, name: &str, k: usize) {
    I::setup();
    g.bench_function(name, |b| {
        b.iter_batched(
            || drop(rings::<I>(N, k)),
            |()| I::collect(),
            BatchSize::PerIteration,
        )
    });
}

fn dead_rings<I: Imp>(g: &mut Group<'_>, name: &str) {
    dead::<I>(g, name, RING);
}

fn chain_cycle<I: Imp>(g: &mut Group<'_>, name: &str) {
    dead::<I>(g, name, N);
}

fn live_graph<I: Imp>(g: &mut Group<'_>, name: &str) {
    I::setup();
    let heads = rings::<I>(N, RING);
    I::collect();
    g.bench_function(name, |b| b.iter(I::collect));
    drop(heads);
    I::collect();
}

fn live_graph_touched<I: Imp>(g: &mut Group<'_>, name: &str) {
    I::setup();
    let heads = rings::<I>(N, RING);
    I::collect();
    g.bench_function(name, |b| {
        b.iter_batched(
            || {
                for h in &heads {
                    drop(h.clone());
                }
            },
            |()| I::collect(),
            BatchSize::PerIteration,
        )
    });
    drop(heads);
    I::collect();
}

fn alloc_tracked<I: Imp>(g: &mut Group<'_>, name: &str) {
    I::setup();
    g.bench_function(name, |b| {
        b.iter_batched_ref(
            || Vec::with_capacity(1000),
            |v| {
                for _ in 0..1000 {
                    v.push(I::node());
                }
            },
            BatchSize::SmallInput,
        )
    });
}

fn group<'a>(c: &'a mut Criterion, name: &str, n: u64) -> Group<'a> {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(n));
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(300));
    g
}

fn benches(c: &mut Criterion) {
    {
        let g = &mut group(c, "gc/dead-rings", N as u64);
        each_imp!(dead_rings, g);
    }
    {
        let g = &mut group(c, "gc/live-graph", N as u64);
        each_imp!(live_graph, g);
    }
    {
        let g = &mut group(c, "gc/live-graph-touched", N as u64);
        each_imp!(live_graph_touched, g);
    }
    {
        let g = &mut group(c, "gc/chain-cycle", N as u64);
        each_imp!(chain_cycle, g);
    }
    {
        let g = &mut group(c, "gc/alloc-tracked", 1000);
        g.sample_size(50);
        each_imp!(alloc_tracked, g);
        g.bench_function("std-rc", |b| {
            b.iter_batched_ref(
                || Vec::with_capacity(1000),
                |v| {
                    for _ in 0..1000 {
                        v.push(std::rc::Rc::new(RefCell::new(black_box(
                            None::<std::rc::Rc<u8>>,
                        ))));
                    }
                },
                BatchSize::SmallInput,
            )
        });
    }
}

criterion_group!(gc, benches);

fn main() {
    // The peers free a dead chain or a long cycle recursively (one stack
    // frame per object); give them a big stack (only the pages they touch
    // are committed) so that they are measured instead of crashing.
    std::thread::Builder::new()
        .stack_size(4 << 30)
        .spawn(|| {
            gc();
            Criterion::default().configure_from_args().final_summary();
        })
        .expect("bench thread")
        .join()
        .expect("bench thread panicked");
}
