//! `coil-shm`: named and anonymous shared memory, shared values, rings (not built yet).
