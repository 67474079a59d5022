//! `coil-threads`: a global interpreter lock with CPython's modern semantics,
//! and Python's `threading` and `queue` toolkit on top.
#![doc(test(attr(deny(warnings))))]

mod error;
#[allow(dead_code)]
mod gil;
#[allow(dead_code, unused_imports)] // used by the modules that follow
mod primitive;

pub use error::{Error, Result};
pub use gil::{DEFAULT_SWITCH_INTERVAL, Gil, GilGuard, GilStats, GilToken, SwitchPolicy};
