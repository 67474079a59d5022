//! `gc.DEBUG_*` flags.

bitflags::bitflags! {
    /// Debugging flags of a space (`gc.set_debug`). Reports go to stderr.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_gc::DebugFlags;
    /// assert_eq!(DebugFlags::LEAK, DebugFlags::COLLECTABLE | DebugFlags::UNCOLLECTABLE | DebugFlags::SAVEALL);
    /// coil_gc::set_debug(DebugFlags::STATS);
    /// assert_eq!(coil_gc::get_debug(), DebugFlags::STATS);
    /// coil_gc::set_debug(DebugFlags::empty());
    /// ```
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct DebugFlags: u32 {
        /// Print statistics during collection (`gc.DEBUG_STATS`).
        const STATS = 1;
        /// Print collectable objects found (`gc.DEBUG_COLLECTABLE`).
        const COLLECTABLE = 2;
        /// Print uncollectable objects found (`gc.DEBUG_UNCOLLECTABLE`).
        const UNCOLLECTABLE = 4;
        /// Save all unreachable objects in `garbage` instead of freeing them
        /// (`gc.DEBUG_SAVEALL`).
        const SAVEALL = 32;
        /// Debug leaking programs (`gc.DEBUG_LEAK`).
        const LEAK = Self::COLLECTABLE.bits() | Self::UNCOLLECTABLE.bits() | Self::SAVEALL.bits();
    }
}
