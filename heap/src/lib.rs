//! `coil-heap`: CPython's arena/pool/block small-object allocator (work in progress).
