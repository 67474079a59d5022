//! `heap/rss-after-free` and `heap/rss-after-free-ordered`: resident memory of
//! 2,000,000 live 64-byte objects, and how much of it each allocator gives back
//! to the OS after 90 % of them are freed (at random, or the oldest 90 %).
//!
//! RSS is process-wide, so every allocator runs in its own child process (this
//! binary re-run with `--child <impl> <order>`); the parent prints the
//! children's JSON rows in order. Run by `cargo xtask bench heap`.

use coil_bench::{
    heap::{self, FreeOrder, RSS_OBJECTS, RawAlloc, RssFigures, Visit},
    proc::{self, child_args, run_child},
    row::Row,
};

const MIB: f64 = 1024.0 * 1024.0;

fn main() {
    if let Some(args) = child_args() {
        let [name, order] = &args[..] else {
            eprintln!("usage: heap_rss --child <impl> <random|oldest>");
            std::process::exit(2);
        };
        let order = match order.as_str() {
            "random" => FreeOrder::Random,
            "oldest" => FreeOrder::Oldest,
            other => {
                eprintln!("heap_rss: unknown order {other:?}");
                std::process::exit(2);
            }
        };
        let mut run = Run {
            name,
            order,
            done: false,
        };
        heap::each_impl(&mut run);
        if !run.done {
            eprintln!("heap_rss: unknown implementation {name:?}");
            std::process::exit(2);
        }
        return;
    }
    for order in ["random", "oldest"] {
        for name in heap::impl_names() {
            eprintln!("heap_rss: {name} ({order})");
            match run_child(&[name, order]) {
                Ok(out) => print!("{out}"),
                Err(e) => {
                    eprintln!("heap_rss: {e}");
                    std::process::exit(1);
                }
            }
        }
    }
}

/// Runs the workload on the allocator named `name`, in this process.
struct Run<'a> {
    name: &'a str,
    order: FreeOrder,
    done: bool,
}

impl Visit for Run<'_> {
    fn visit<A: RawAlloc>(&mut self, alloc: &A) {
        if alloc.name() != self.name {
            return;
        }
        self.done = true;
        let rss = || proc::resident_bytes().expect("read VmRSS");
        let f = heap::rss_after_free(alloc, RSS_OBJECTS, self.order, 7, rss);
        print_rows(alloc.name(), self.order, &f);
    }
}

fn print_rows(name: &str, order: FreeOrder, f: &RssFigures) {
    let count = RSS_OBJECTS as f64;
    let freed = (RSS_OBJECTS - RSS_OBJECTS / 10) as f64;
    let live = count - freed;
    let used = f.full.saturating_sub(f.baseline) as f64;
    let mib = |b: u64| b.saturating_sub(f.baseline) as f64 / MIB;
    // RSS may grow by a page while nothing is returned: clamp at 0.
    let returned =
        |after: u64| (100.0 * (f.full as f64 - after as f64) / (used * freed / count)).max(0.0);
    match order {
        FreeOrder::Random => {
            let w = "rss-after-free";
            Row::new("heap", w, name, "bytes_per_object", used / count).print();
            Row::new(
                "heap",
                w,
                name,
                "bytes_per_live_after_free",
                mib(f.after_free) * MIB / live,
            )
            .print();
            if let Some(t) = f.after_trim {
                Row::new(
                    "heap",
                    w,
                    name,
                    "bytes_per_live_after_trim",
                    mib(t) * MIB / live,
                )
                .print();
            }
            Row::new("heap", w, name, "rss_full_mib", mib(f.full)).print();
            Row::new("heap", w, name, "rss_after_mib", mib(f.after_free)).print();
        }
        FreeOrder::Oldest => {
            let w = "rss-after-free-ordered";
            Row::new("heap", w, name, "returned_pct", returned(f.after_free)).print();
            if let Some(t) = f.after_trim {
                Row::new("heap", w, name, "returned_pct_after_trim", returned(t)).print();
            }
            Row::new("heap", w, name, "rss_full_mib", mib(f.full)).print();
            Row::new("heap", w, name, "rss_after_mib", mib(f.after_free)).print();
        }
    }
}
