//! Seed 000, "Example: Multithreading", in coil:
//!
//! ```python
//! import threading
//!
//! def task():
//!     print("Task is running")
//!
//! thread = threading.Thread(target=task)
//! thread.start()
//! thread.join()
//! ```

fn task() {
    println!("Task is running");
}

fn main() -> Result<(), coil_threads::Error> {
    let thread = coil_threads::Thread::new(task);
    thread.start()?;
    thread.join(None)?;
    Ok(())
}
