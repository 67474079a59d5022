//! `coil-gc`: the generational cycle collector, `Trace` and the `Collector` API (not built yet).
