//! `coil-bench`: shared helpers for the criterion benches in `benches/` and the
//! harness binaries in `src/bin/` (see `../shared/BENCHMARKS.md` in the team files).
