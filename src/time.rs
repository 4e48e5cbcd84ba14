//! Time as an input: the core never reads a clock (`Instant::now()` panics on wasm32 anyway).

/// Milliseconds since the Unix epoch, as read by the adapter (or a test) and passed in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct UnixMillis(pub u64);

impl UnixMillis {
    pub const fn from_secs(secs: u64) -> Self {
        UnixMillis(secs.saturating_mul(1000))
    }
    /// Whole seconds since the epoch (rounded down).
    pub const fn secs(self) -> u64 {
        self.0 / 1000
    }
    pub const fn plus_millis(self, ms: u64) -> Self {
        UnixMillis(self.0.saturating_add(ms))
    }
    pub const fn plus_secs(self, s: u64) -> Self {
        self.plus_millis(s.saturating_mul(1000))
    }
    /// `self - earlier` in milliseconds, 0 when `earlier` is later.
    pub const fn millis_since(self, earlier: UnixMillis) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}
