//! The multiprocessing example of seed 000 (`modules/multiprocessing_example.py`):
//! five worker processes each print that they started, work for a moment, and
//! print that they finished; the parent joins them all.
//!
//! ```text
//! $ cargo run -p coil-procs --example multiprocessing_example
//! Worker: 0
//! Worker: 1
//! ...
//! Worker 0 finished
//! ...
//! All processes complete
//! ```
//!
//! As in Python the order of the workers' lines depends on the scheduler;
//! "All processes complete" is always last.

use std::time::Duration;

use coil_procs::Process;

fn worker(num: usize) {
    println!("Worker: {num}");
    std::thread::sleep(Duration::from_millis(200));
    println!("Worker {num} finished");
}

/// Start five workers, join them, report.
pub fn main() -> Result<(), coil_procs::Error> {
    let mut processes = Vec::new();
    for i in 0..5 {
        let mut p = Process::new(move || worker(i));
        p.start()?;
        processes.push(p);
    }
    for p in &mut processes {
        p.join(None)?;
    }
    println!("All processes complete");
    Ok(())
}
