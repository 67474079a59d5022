//! tracemalloc behaviour: start/stop, current and peak, snapshots grouped by call site,
//! compare_to, top-N, filters, and the global allocator under tracing.
//! One test function: tracing is process-wide state.

use std::alloc::Layout;

use coil_heap::trace::{self, Filter, GroupBy};
use coil_heap::{Error, GlobalHeap, Heap};

#[global_allocator]
static A: GlobalHeap = GlobalHeap;

#[test]
fn tracemalloc_surface() {
    assert!(!trace::is_tracing());
    assert_eq!(trace::take_snapshot().unwrap_err(), Error::NotTracing);
    assert!(matches!(
        trace::start(0),
        Err(Error::InvalidTraceArgument(_))
    ));
    assert!(matches!(
        trace::start(trace::MAX_FRAMES + 1),
        Err(Error::InvalidTraceArgument(_))
    ));

    let heap = Heap::new();
    let l100 = Layout::from_size_align(100, 8).unwrap();
    let l40 = Layout::from_size_align(40, 8).unwrap();
    trace::start(1).unwrap();
    assert!(trace::is_tracing());
    assert_eq!(trace::traceback_limit(), 1);
    let before = trace::take_snapshot().unwrap();

    let line_a = line!() + 1;
    let a: Vec<_> = (0..10).map(|_| heap.alloc(l100).unwrap()).collect();
    let line_b = line!() + 1;
    let b: Vec<_> = (0..3).map(|_| heap.alloc(l40).unwrap()).collect();
    let (cur, peak) = trace::traced_memory();
    assert!(cur >= 1120 && peak >= cur, "current {cur}, peak {peak}");
    assert_eq!(
        trace::object_traceback(a[0].as_ptr()).unwrap().frames()[0].lineno,
        line_a
    );

    let snap = trace::take_snapshot().unwrap();
    let mine = snap.filter_traces(&[Filter::include("*tests/trace.rs")]);
    let stats = mine.statistics(GroupBy::Lineno);
    assert_eq!(stats.len(), 2);
    assert_eq!((stats[0].size, stats[0].count), (1000, 10));
    assert_eq!(stats[0].traceback.frames()[0].lineno, line_a);
    assert_eq!((stats[1].size, stats[1].count), (120, 3));
    assert_eq!(stats[1].traceback.frames()[0].lineno, line_b);
    assert!(
        stats[0]
            .to_string()
            .contains("size=1000 B, count=10, average=100 B")
    );
    assert_eq!(mine.top(GroupBy::Lineno, 1).len(), 1);
    let by_file = mine.statistics(GroupBy::Filename);
    assert_eq!(
        (by_file.len(), by_file[0].size, by_file[0].count),
        (1, 1120, 13)
    );
    let excluded = snap.filter_traces(&[Filter::exclude("*tests/trace.rs")]);
    assert!(
        excluded
            .traces()
            .iter()
            .all(|t| !t.traceback.frames()[0].filename.ends_with("trace.rs"))
    );
    let one_line = mine.filter_traces(&[Filter::include("*").lineno(Some(line_b))]);
    assert_eq!(one_line.traces().len(), 3);

    let diff = mine.compare_to(&before, GroupBy::Lineno);
    assert_eq!((diff[0].size_diff, diff[0].count_diff), (1000, 10));
    assert!(diff[0].to_string().contains("(+1000 B)"));

    // Free some, then compare in the other direction.
    for p in &a {
        // SAFETY: live blocks with their layout.
        unsafe { heap.dealloc(*p, l100) };
    }
    let after = trace::take_snapshot()
        .unwrap()
        .filter_traces(&[Filter::include("*tests/trace.rs")]);
    let d = after.compare_to(&mine, GroupBy::Lineno);
    let gone = d
        .iter()
        .find(|s| s.traceback.frames()[0].lineno == line_a)
        .unwrap();
    assert_eq!(
        (gone.size, gone.size_diff, gone.count_diff),
        (0, -1000, -10)
    );
    assert_eq!(after.traces().iter().map(|t| t.size).sum::<usize>(), 120);
    assert!(trace::traced_memory().1 >= peak);
    trace::reset_peak();
    assert_eq!(trace::traced_memory().1, trace::traced_memory().0);

    // The global allocator is traced too; `scope` names the call site.
    let line_v = line!() + 1;
    let v: Vec<u8> = trace::scope(|| Vec::with_capacity(300));
    let s = trace::take_snapshot().unwrap();
    let t = trace::object_traceback(v.as_ptr()).expect("global allocation traced");
    assert_eq!(t.frames()[0].lineno, line_v);
    assert!(s.traces().iter().any(|t| t.size == 300));
    drop(v);

    trace::clear_traces();
    assert_eq!(trace::traced_memory(), (0, 0));
    trace::stop();
    assert!(!trace::is_tracing());
    assert_eq!(trace::traced_memory(), (0, 0));
    for p in b {
        // SAFETY: live blocks with their layout.
        unsafe { heap.dealloc(p, l40) };
    }
}
