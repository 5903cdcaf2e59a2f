//! Bounds shared by every connection, deterministic core code: the request memory pool
//! (Kafka's `queued.max.request.bytes`) and rate-limited logging of what hostile or broken
//! clients send (bad frames, failed authentications), so garbage cannot fill the disk with
//! log lines. Connection-count limits are the accept loop's (`tcp.rs`).

use std::collections::BTreeMap;
use std::sync::Mutex;

use tokio::sync::Notify;

/// Request bytes held in memory across all connections, as Kafka's non-strict
/// `SimpleMemoryPool`: a request is admitted while any memory is left (so one request larger
/// than what remains still goes through, alone), and a connection whose request does not fit
/// reads nothing more until memory is released. Unbounded when `queued.max.request.bytes` is
/// -1, Kafka's default.
#[derive(Debug)]
pub struct MemoryPool {
    /// `None`: unbounded.
    available: Option<Mutex<i64>>,
    released: Notify,
}

/// Memory held by one request; released on drop.
#[derive(Debug)]
pub struct PoolLease<'a> {
    pool: &'a MemoryPool,
    bytes: i64,
}

impl MemoryPool {
    /// A pool of `queued_max_request_bytes` bytes; -1 (or any value ≤ 0) is unbounded.
    pub fn new(queued_max_request_bytes: i64) -> Self {
        let available =
            (queued_max_request_bytes > 0).then(|| Mutex::new(queued_max_request_bytes));
        Self { available, released: Notify::new() }
    }

    /// Takes `bytes` from the pool, waiting while it is exhausted.
    pub async fn allocate(&self, bytes: usize) -> PoolLease<'_> {
        let bytes = bytes as i64;
        let Some(available) = &self.available else { return PoolLease { pool: self, bytes: 0 } };
        loop {
            // Registered before the check, so a release between check and wait is not lost.
            let released = self.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            {
                let mut left = available.lock().expect("memory pool lock poisoned");
                if *left > 0 {
                    *left -= bytes;
                    return PoolLease { pool: self, bytes };
                }
            }
            released.await;
        }
    }

    /// Bytes left, if bounded (negative while an oversized request is held).
    pub fn available(&self) -> Option<i64> {
        self.available.as_ref().map(|a| *a.lock().expect("memory pool lock poisoned"))
    }
}

impl Drop for PoolLease<'_> {
    fn drop(&mut self) {
        if let (Some(available), true) = (&self.pool.available, self.bytes > 0) {
            *available.lock().expect("memory pool lock poisoned") += self.bytes;
            self.pool.released.notify_waiters();
        }
    }
}

/// What hostile input is logged as: each kind has its own budget of lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogKind {
    /// Frames that close their connection: too large, truncated, undecodable, stalled.
    BadFrame,
    /// Failed SASL authentications.
    FailedAuthentication,
    /// Failed TLS handshakes: a budget of their own, so a flood of them (port scanners,
    /// plaintext clients on a TLS port) cannot hide a failed SASL login.
    FailedTlsHandshake,
    /// Connections refused by `max.connections.per.ip`.
    RejectedConnection,
}

impl LogKind {
    fn plural(self) -> &'static str {
        match self {
            LogKind::BadFrame => "bad frames",
            LogKind::FailedAuthentication => "failed authentications",
            LogKind::FailedTlsHandshake => "failed TLS handshakes",
            LogKind::RejectedConnection => "rejected connections",
        }
    }
}

#[derive(Debug, Default)]
struct Window {
    start_ms: i64,
    logged: u32,
    suppressed: u64,
}

/// At most [`LogThrottle::LINES_PER_WINDOW`] lines of each [`LogKind`] per
/// [`LogThrottle::WINDOW_MS`] on the broker's clock; the lines left out are counted and
/// reported, as one line, with the first line of the next window that has any. Events that
/// are counted in metrics (failed authentications) are still counted there in full.
#[derive(Debug, Default)]
pub struct LogThrottle {
    windows: Mutex<BTreeMap<LogKind, Window>>,
}

impl LogThrottle {
    /// Length of one window.
    pub const WINDOW_MS: i64 = 10_000;
    /// Lines of one kind logged per window (two a second on average).
    pub const LINES_PER_WINDOW: u32 = 20;

    /// Whether a line of `kind` may be logged at `now_ms`; `Some(n)` says yes, with `n` lines
    /// of that kind left out in the previous window (report them first), `None` says no.
    pub fn admit(&self, kind: LogKind, now_ms: i64) -> Option<Suppressed> {
        let mut windows = self.windows.lock().expect("log throttle lock poisoned");
        let window = windows
            .entry(kind)
            .or_insert_with(|| Window { start_ms: i64::MIN, ..Window::default() });
        let mut earlier = None;
        if window.start_ms == i64::MIN || now_ms >= window.start_ms + Self::WINDOW_MS {
            if window.suppressed > 0 {
                earlier = Some(Suppressed {
                    kind,
                    count: window.suppressed,
                    ended_ms_ago: now_ms - (window.start_ms + Self::WINDOW_MS),
                });
            }
            *window = Window { start_ms: now_ms, logged: 0, suppressed: 0 };
        }
        if window.logged < Self::LINES_PER_WINDOW {
            window.logged += 1;
            Some(earlier.unwrap_or(Suppressed { kind, count: 0, ended_ms_ago: 0 }))
        } else {
            window.suppressed += 1;
            None
        }
    }
}

/// Lines left out of an earlier window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Suppressed {
    kind: LogKind,
    /// How many.
    pub count: u64,
    ended_ms_ago: i64,
}

impl Suppressed {
    /// Logs the count of left-out lines, if any, as one WARN line.
    pub fn report(self) {
        if self.count > 0 {
            tracing::warn!(
                suppressed = self.count,
                "… and {} more {} in the {} s window that ended {} s ago (not logged one by one)",
                self.count,
                self.kind.plural(),
                LogThrottle::WINDOW_MS / 1000,
                self.ended_ms_ago / 1000
            );
        }
    }
}

/// Logs a WARN line of `kind` through the broker's throttle: `$broker` is an `&Broker`.
#[macro_export]
macro_rules! throttled_warn {
    ($broker:expr, $kind:expr, $($arg:tt)+) => {
        if let Some(suppressed) = $broker.log_throttle.admit($kind, $broker.clock.now_ms()) {
            suppressed.report();
            tracing::warn!($($arg)+);
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_logs_a_budget_per_window_and_reports_the_rest() {
        let throttle = LogThrottle::default();
        let admitted =
            (0..1000).filter(|i| throttle.admit(LogKind::BadFrame, 1_000 + i).is_some()).count();
        assert_eq!(admitted, LogThrottle::LINES_PER_WINDOW as usize);
        // Another kind has its own budget.
        assert_eq!(throttle.admit(LogKind::RejectedConnection, 1_500).map(|s| s.count), Some(0));
        // The next window's first line carries the count of those left out.
        let next = throttle.admit(LogKind::BadFrame, 1_000 + LogThrottle::WINDOW_MS).unwrap();
        assert_eq!(next.count, 1000 - LogThrottle::LINES_PER_WINDOW as u64);
        assert_eq!(throttle.admit(LogKind::BadFrame, 12_000).map(|s| s.count), Some(0));
    }

    #[tokio::test]
    async fn pool_admits_while_memory_is_left_and_waits_when_exhausted() {
        let pool = MemoryPool::new(100);
        let big = pool.allocate(150).await; // larger than the pool: admitted alone, as Kafka's
        assert_eq!(pool.available(), Some(-50));
        let waiting = pool.allocate(10);
        tokio::pin!(waiting);
        assert!(futures_poll_once(waiting.as_mut()).await.is_none());
        drop(big);
        let small = waiting.await;
        assert_eq!(pool.available(), Some(90));
        drop(small);
        assert_eq!(pool.available(), Some(100));
        assert_eq!(MemoryPool::new(-1).available(), None);
    }

    async fn futures_poll_once<F: std::future::Future + Unpin>(f: F) -> Option<F::Output> {
        tokio::select! { biased; out = f => Some(out), _ = tokio::task::yield_now() => None }
    }
}
