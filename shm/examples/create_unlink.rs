//! Times `SharedMemory::create` + `unlink` + drop in a loop (a quick check of
//! the `shm/create-unlink` workload without criterion).
//!
//! ```sh
//! cargo run --release -p coil-shm --example create_unlink
//! ```

use std::time::Instant;

use coil_shm::{SharedMemory, ShmOptions};

fn main() -> Result<(), coil_shm::Error> {
    let name = format!("coil-example-cu-{}", std::process::id());
    for (label, opts) in [
        ("tracked", ShmOptions::new()),
        ("untracked", ShmOptions::new().track(false)),
    ] {
        let n = 20_000;
        let t = Instant::now();
        for _ in 0..n {
            let s = SharedMemory::create_with(&name, 4096, &opts)?;
            s.unlink()?;
        }
        println!(
            "{label}: {:.2} us per create+unlink+drop",
            t.elapsed().as_secs_f64() / n as f64 * 1e6
        );
    }
    Ok(())
}
