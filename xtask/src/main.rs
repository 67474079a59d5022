//! `cargo xtask`: the project's tasks (being built).

fn main() {
    eprintln!("cargo xtask: no tasks yet");
    std::process::exit(2);
}
