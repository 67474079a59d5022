//! `coil-procs`: processes, pipes, queues and pools across processes (not built yet).
