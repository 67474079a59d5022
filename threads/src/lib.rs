//! `coil-threads`: a GIL with CPython's modern semantics and Python's threading and queue toolkit (not built yet).
