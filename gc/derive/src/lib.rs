//! `coil-gc-derive`: `#[derive(Trace)]` for coil-gc (not built yet).
