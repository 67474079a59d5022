//! `coil-refcount`: counted references with weak callbacks, immortal objects and iterative destruction (not built yet).
