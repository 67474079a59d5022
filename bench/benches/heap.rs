//! The heap suite: `heap/alloc-free-<size>`, `heap/churn-live` and
//! `heap/churn-threads` (BENCHMARKS.md), each a criterion group with one
//! function per allocator. The workload code lives in `coil_bench::heap`; this
//! file only wires it into criterion.

use std::{alloc::Layout, time::Duration};

use coil_bench::heap::{
    self, ALIGN, ALLOC_FREE_SIZES, CHURN_LIVE, Churn, RawAlloc, ThreadsChurn, Visit, VisitShared,
};
use criterion::{
    BenchmarkGroup, Criterion, criterion_group, criterion_main, measurement::WallTime,
};

/// Runs one `alloc-free-<size>` function per allocator.
struct AllocFree<'g, 'c> {
    group: &'g mut BenchmarkGroup<'c, WallTime>,
    layout: Layout,
}

impl Visit for AllocFree<'_, '_> {
    fn visit<A: RawAlloc>(&mut self, alloc: &A) {
        let layout = self.layout;
        self.group
            .bench_function(alloc.name(), |b| b.iter(|| heap::alloc_free(alloc, layout)));
    }
}

fn alloc_free(c: &mut Criterion) {
    for size in ALLOC_FREE_SIZES {
        let mut group = c.benchmark_group(format!("heap/alloc-free-{size}"));
        let layout = Layout::from_size_align(size, ALIGN).expect("valid layout");
        heap::each_impl(&mut AllocFree {
            group: &mut group,
            layout,
        });
        group.finish();
    }
}

/// Runs one `churn-live` function per allocator.
struct ChurnLive<'g, 'c> {
    group: &'g mut BenchmarkGroup<'c, WallTime>,
}

impl Visit for ChurnLive<'_, '_> {
    fn visit<A: RawAlloc>(&mut self, alloc: &A) {
        let mut churn = Churn::new(alloc, CHURN_LIVE, 42);
        self.group
            .bench_function(alloc.name(), |b| b.iter(|| churn.step()));
    }
}

fn churn_live(c: &mut Criterion) {
    let mut group = c.benchmark_group("heap/churn-live");
    heap::each_impl(&mut ChurnLive { group: &mut group });
    group.finish();
}

/// Runs one `churn-threads` function per thread-safe allocator; one criterion
/// iteration is one step on each of the two threads.
struct ChurnThreads<'g, 'c> {
    group: &'g mut BenchmarkGroup<'c, WallTime>,
}

impl VisitShared for ChurnThreads<'_, '_> {
    fn visit<A: RawAlloc + Sync>(&mut self, alloc: &A) {
        let mut churn = ThreadsChurn::new(alloc, CHURN_LIVE, 42);
        self.group.bench_function(alloc.name(), |b| {
            b.iter_custom(|iters| churn.run(iters).max(Duration::from_nanos(1)))
        });
    }
}

fn churn_threads(c: &mut Criterion) {
    let mut group = c.benchmark_group("heap/churn-threads");
    heap::each_shared_impl(&mut ChurnThreads { group: &mut group });
    group.finish();
}

criterion_group!(benches, alloc_free, churn_live, churn_threads);
criterion_main!(benches);
