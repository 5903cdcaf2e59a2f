//! Counters of security and quota events, for the broker metrics dashboards will read
//! (issue 5 exports them). Cheap to update from any connection; never holds a secret.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::quota::QuotaType;

/// Throttling of one quota type.
#[derive(Debug, Default)]
pub struct ThrottleCounter {
    /// Responses that carried a throttle time of this type.
    pub events: AtomicU64,
    /// Sum of those throttle times, in milliseconds.
    pub time_ms: AtomicU64,
}

/// A point-in-time copy of [`BrokerStats`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// `(quota key, events, total ms)` per quota type.
    pub throttles: Vec<(&'static str, u64, u64)>,
    /// Failed authentications by `(listener, mechanism)`; mechanism `SSL` is a failed TLS
    /// handshake.
    pub authentication_failures: BTreeMap<(String, String), u64>,
    /// Requests or resources refused by the authorizer.
    pub authorization_denials: u64,
}

/// Security and quota counters of one broker.
#[derive(Debug, Default)]
pub struct BrokerStats {
    throttles: [ThrottleCounter; 3],
    authentication_failures: Mutex<BTreeMap<(String, String), u64>>,
    authorization_denials: AtomicU64,
}

impl BrokerStats {
    /// Counts a throttled response.
    pub fn record_throttle(&self, quota: QuotaType, ms: i64) {
        let counter = &self.throttles[crate::quota::image::type_index(quota)];
        counter.events.fetch_add(1, Ordering::Relaxed);
        counter.time_ms.fetch_add(ms.max(0) as u64, Ordering::Relaxed);
    }

    /// Counts a failed authentication on `listener` with `mechanism` (`SSL` for TLS).
    pub fn record_authentication_failure(&self, listener: &str, mechanism: &str) {
        let mut failures = self.authentication_failures.lock().expect("stats lock poisoned");
        *failures.entry((listener.to_owned(), mechanism.to_owned())).or_default() += 1;
    }

    /// Counts an authorization denial (the authorizer calls this).
    pub fn record_authorization_denial(&self) {
        self.authorization_denials.fetch_add(1, Ordering::Relaxed);
    }

    /// The current counts.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            throttles: QuotaType::ALL
                .iter()
                .zip(&self.throttles)
                .map(|(quota, c)| {
                    (
                        quota.key(),
                        c.events.load(Ordering::Relaxed),
                        c.time_ms.load(Ordering::Relaxed),
                    )
                })
                .collect(),
            authentication_failures: self
                .authentication_failures
                .lock()
                .expect("stats lock poisoned")
                .clone(),
            authorization_denials: self.authorization_denials.load(Ordering::Relaxed),
        }
    }
}
