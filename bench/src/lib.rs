//! `coil-bench`: the code behind `cargo xtask bench`.
//!
//! Every speed or memory goal of coil is a ratio against a peer measured in the
//! same run on the same machine. This crate holds the workloads that produce
//! those figures, in three kinds of targets:
//!
//! - `benches/<suite>.rs`: criterion benches, one group per workload named
//!   `<suite>/<workload>`, one function per implementation (`coil`,
//!   `coil-<variant>`, and the peers by crate name: `glibc`, `mimalloc`, ...).
//! - `src/bin/<suite>_*.rs`: harness binaries for what criterion cannot express
//!   (resident memory, latency distributions). They print one JSON row per
//!   figure ([`row`]), in the shape of the report's `results.json`.
//! - `cpython/<suite>_*.py`: the same workloads in Python.
//!
//! The library part holds what those targets share: a small fast random
//! generator ([`rng`]), the JSON row printer ([`row`]), resident-memory reading
//! and child processes for clean memory figures ([`proc`]), and each suite's
//! workload code (for example [`heap`]), so the criterion bench and the harness
//! binary of a suite run exactly the same loop.
//!
//! `bench/README.md` explains how a crate adds its own suite.

pub mod heap;
pub mod proc;
pub mod rng;
pub mod row;
pub mod shm;
