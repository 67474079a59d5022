//! `cargo xtask`: the project's tasks, in Rust instead of shell scripts.
//!
//! The main one is the benchmark report. `cargo xtask bench` builds and runs
//! the criterion benches of `bench/` (a quick profile unless `--full`) and the
//! harness binaries beside them, reads criterion's estimates, and writes
//! `target/coil-report/{results.json, report.md, report.html}`: per workload,
//! every implementation's figure, its ratio to coil, the best one marked, a bar
//! chart, and the goals of `bench/goals.txt` checked. `cargo xtask cpython`
//! adds CPython's figures for the same workloads.
//!
//! Modules: [`layout`] finds the workspace and the suites, [`bench`] runs them,
//! [`criterion`] reads criterion's output, [`results`] holds the rows,
//! [`goals`] checks the goals, [`report`] and [`svg`] render, [`machine`]
//! describes the machine, [`json`] reads and writes JSON, [`checks`] holds
//! `ci`, `miri` and `tidy`.

mod bench;
mod checks;
mod criterion;
mod goals;
mod json;
mod layout;
mod machine;
mod report;
mod results;
mod svg;

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <task> [args]

tasks:
  bench [--full] [suite[/workload]...]  run the benchmarks (quick profile unless --full)
                                        and write target/coil-report/report.{md,html}
  bench --list                          the suites found in bench/ and their files
  cpython [suite...]                    run bench/cpython/*.py with python3 and add the
                                        CPython columns to the report
  report                                re-render the report from results.json
  miri [--no-doc] [--jobs N] [crate...] the unsafe cores under miri (nightly); --no-doc
                                        skips the doctests, --jobs N runs N crates at
                                        once (.ci/run uses both)
  ci                                    fmt check, clippy -D warnings, tests (as .ci/run)
  tidy                                  file rules: //! headers, SAFETY comments, no dbg!
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((task, rest)) = args.split_first() else {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    };
    let result = match task.as_str() {
        "bench" => bench::bench(rest),
        "cpython" => bench::cpython(rest),
        "report" => bench::rerender(),
        "miri" => checks::miri(rest),
        "ci" => checks::ci(rest),
        "tidy" => checks::tidy(rest),
        "help" | "-h" | "--help" => {
            print!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown task {other:?}\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
