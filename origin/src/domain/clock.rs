//! The service clock: system time plus an adjustable offset so tests can move time forward.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use edge_auth::time::UnixMillis;

#[derive(Clone, Debug, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    pub fn system() -> Self {
        Clock::default()
    }

    pub fn now(&self) -> UnixMillis {
        let sys = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        UnixMillis((sys + self.offset_ms.load(Ordering::Relaxed)).max(0) as u64)
    }

    /// Milliseconds since the epoch as stored in the database.
    pub fn now_ms(&self) -> i64 {
        self.now().0 as i64
    }

    /// Moves this clock (and every clone) forward; for tests.
    pub fn advance_secs(&self, secs: i64) {
        self.offset_ms.fetch_add(secs * 1000, Ordering::Relaxed);
    }
}
