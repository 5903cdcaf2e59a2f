//! The clock seam: the broker core never reads `std::time` directly.
//!
//! Wall-clock time (record timestamps, commit timestamps, retention) comes through [`Clock`];
//! durations, timeouts and monotonic time come through [`crate::runtime`] (tokio's clock, which the
//! turmoil simulator controls).

use std::sync::Arc;

use crate::runtime::{self, Instant};

/// Source of wall-clock time in milliseconds since the Unix epoch.
pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
}

/// The operating system's clock; used by the `kafka-lab-broker` binary only.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    // The shell's wall clock: the one place the broker reads the OS clock for time; the core
    // sees only `Clock` (broker/clippy.toml forbids `SystemTime` elsewhere).
    #[allow(clippy::disallowed_methods, clippy::disallowed_types)]
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }
}

/// A clock that derives wall time from a fixed epoch plus tokio's (possibly simulated) elapsed
/// time, so that a simulation replays the same timestamps.
#[derive(Debug, Clone)]
pub struct TokioClock {
    epoch_ms: i64,
    start: Instant,
}

impl TokioClock {
    /// A clock reading `epoch_ms` now and advancing with tokio time.
    pub fn new(epoch_ms: i64) -> Self {
        Self { epoch_ms, start: runtime::now() }
    }
}

impl Clock for TokioClock {
    fn now_ms(&self) -> i64 {
        self.epoch_ms + runtime::elapsed(self.start).as_millis() as i64
    }
}

/// Shared handle to a clock.
pub type SharedClock = Arc<dyn Clock>;
