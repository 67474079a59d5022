//! `refcount/drop-chain`: build a 1,000,000-long chain of counted boxes (each
//! holding the only strong handle to the next) and drop its head.
//!
//! std `Rc`/`Arc` drop such a chain recursively and overflow the stack, which
//! kills the process, so every implementation runs in its own child process
//! (this binary re-run with `--child <impl>`). Rows per implementation:
//! `stack_overflow` (1 if the child died, 0 if the drop completed) and, when it
//! completed, `ns_per_object` (drop time / chain length). Run by
//! `cargo xtask bench refcount`.

use std::{hint::black_box, time::Instant};

use coil_bench::{
    proc::{child_args, run_child},
    row::Row,
};

const CHAIN: usize = 1_000_000;
const IMPLS: [&str; 4] = ["coil", "coil-arc", "std-rc", "std-arc"];

macro_rules! chain {
    ($rc:ty, $new:expr) => {{
        struct Link(#[allow(dead_code)] Option<$rc>);
        let mut head = $new(Link(None));
        for _ in 1..CHAIN {
            head = $new(Link(Some(head)));
        }
        let head = black_box(head);
        let start = Instant::now();
        drop(head);
        start.elapsed()
    }};
}

fn run(name: &str) -> Option<std::time::Duration> {
    Some(match name {
        "coil" => chain!(coil_refcount::Rc<Link>, coil_refcount::Rc::new),
        "coil-arc" => chain!(coil_refcount::Arc<Link>, coil_refcount::Arc::new),
        "std-rc" => chain!(std::rc::Rc<Link>, std::rc::Rc::new),
        "std-arc" => chain!(std::sync::Arc<Link>, std::sync::Arc::new),
        _ => return None,
    })
}

fn main() {
    if let Some(args) = child_args() {
        let [name] = &args[..] else {
            eprintln!("usage: refcount_drop_chain --child <impl>");
            std::process::exit(2);
        };
        let Some(t) = run(name) else {
            eprintln!("refcount_drop_chain: unknown implementation {name:?}");
            std::process::exit(2);
        };
        let ns = t.as_nanos() as f64 / CHAIN as f64;
        // ns per object first: the report's tables lead with a workload's
        // first metric.
        Row::new("refcount", "drop-chain", name, "ns_per_object", ns).print();
        Row::new("refcount", "drop-chain", name, "stack_overflow", 0.0).print();
        return;
    }
    for name in IMPLS {
        eprintln!("refcount_drop_chain: {name}");
        match run_child(&[name]) {
            Ok(out) => print!("{out}"),
            Err(e) => {
                // The child died: std's recursive drop overflowed the stack.
                eprintln!("refcount_drop_chain: {name}: stack overflow ({e})");
                Row::new("refcount", "drop-chain", name, "stack_overflow", 1.0).print();
            }
        }
    }
}
