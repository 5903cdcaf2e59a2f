//! The broker's security and quota counters, in one place; the metrics endpoint
//! (`metrics::render`) exports them as the `kafka_lab_broker_*` series and feeds Kafka's
//! socket-server and authorizer series from them (see METRICS.md). Authorization decisions and
//! denials (the authorizer counts them), authentications per listener — failures counted once
//! where the connection ends (the connection loop, the TLS accept path), successes where they
//! complete (the SaslAuthenticate handler, the TLS accept path on SSL listeners) — and
//! throttling (the quota enforcer counts it). Cheap to update from any connection; never holds
//! a secret. Time comes from the caller (the broker's clock), so the per-minute authorizer
//! rates stay deterministic.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::authorizer::{AclOperation, ResourceType};
use crate::quota::QuotaType;

/// Throttling of one quota type.
#[derive(Debug, Default)]
struct ThrottleCounter {
    /// Responses that carried a throttle time of this type.
    events: AtomicU64,
    /// Sum of those throttle times, in milliseconds.
    time_ms: AtomicU64,
}

/// Events of the last minute, in one-second buckets on the broker's clock (Kafka's authorizer
/// reports its decisions as rates per minute).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MinuteWindow {
    /// `(second since the epoch, events)`, indexed by that second modulo 60.
    buckets: Vec<(i64, u64)>,
}

impl MinuteWindow {
    const SECONDS: i64 = 60;

    /// Counts one event at `now_ms`.
    pub fn record(&mut self, now_ms: i64) {
        if self.buckets.is_empty() {
            self.buckets = vec![(i64::MIN, 0); Self::SECONDS as usize];
        }
        let second = now_ms.div_euclid(1000);
        let bucket = &mut self.buckets[second.rem_euclid(Self::SECONDS) as usize];
        if bucket.0 != second {
            *bucket = (second, 0);
        }
        bucket.1 += 1;
    }

    /// Events in the 60 seconds up to and including `now_ms`'s second.
    pub fn count(&self, now_ms: i64) -> u64 {
        let second = now_ms.div_euclid(1000);
        self.buckets
            .iter()
            .filter(|(s, _)| *s <= second && *s > second - Self::SECONDS)
            .map(|(_, n)| n)
            .sum()
    }
}

/// The authorizer's decisions over the last minute.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuthorizerRates {
    /// Authorization checks.
    pub requests: u64,
    /// … allowed.
    pub allowed: u64,
    /// … denied.
    pub denied: u64,
}

#[derive(Debug, Default)]
struct AuthorizerWindows {
    allowed: MinuteWindow,
    denied: MinuteWindow,
}

/// A point-in-time copy of [`BrokerStats`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// `(quota key, events, total ms)` per quota type.
    pub throttles: Vec<(&'static str, u64, u64)>,
    /// Failed authentications by `(listener, mechanism)`; mechanism `SSL` is a failed TLS
    /// handshake.
    pub authentication_failures: BTreeMap<(String, String), u64>,
    /// Denials by `(operation, resource type)`; pairs never denied are left out.
    pub denials: BTreeMap<(AclOperation, ResourceType), u64>,
    /// Completed authentications (TLS handshakes on SSL listeners, SASL exchanges on SASL
    /// listeners) per listener; every listener is present, from 0.
    pub authentication_successes: BTreeMap<String, u64>,
    /// Failed authentications per listener (the sum over mechanisms); every listener is
    /// present, from 0.
    pub authentication_failures_by_listener: BTreeMap<String, u64>,
    /// The authorizer's decisions in the minute up to the snapshot.
    pub authorizer: AuthorizerRates,
}

/// Security and quota counters of one broker (`Broker::stats`).
#[derive(Debug)]
pub struct BrokerStats {
    throttles: [ThrottleCounter; 3],
    authentication_failures: Mutex<BTreeMap<(String, String), u64>>,
    /// Indexed by `operation index * ResourceType::ALL.len() + resource type index`.
    denials: Vec<AtomicU64>,
    /// Per listener; the listeners are known from the start.
    authentication_successes: Mutex<BTreeMap<String, u64>>,
    authorizer: Mutex<AuthorizerWindows>,
}

impl Default for BrokerStats {
    fn default() -> Self {
        Self::for_listeners(std::iter::empty::<&str>())
    }
}

fn denial_cell(operation: AclOperation, resource_type: ResourceType) -> usize {
    let op = AclOperation::ALL.iter().position(|o| *o == operation).expect("listed");
    let rt = ResourceType::ALL.iter().position(|r| *r == resource_type).expect("listed");
    op * ResourceType::ALL.len() + rt
}

impl BrokerStats {
    /// Counters for a broker with these listeners: their authentication series start at 0.
    pub fn for_listeners<'a>(listeners: impl IntoIterator<Item = &'a str>) -> Self {
        let cells = AclOperation::ALL.len() * ResourceType::ALL.len();
        BrokerStats {
            throttles: Default::default(),
            authentication_failures: Mutex::default(),
            denials: (0..cells).map(|_| AtomicU64::new(0)).collect(),
            authentication_successes: Mutex::new(
                listeners.into_iter().map(|l| (l.to_owned(), 0)).collect(),
            ),
            authorizer: Mutex::default(),
        }
    }

    /// Counts a completed authentication on `listener`: a TLS handshake on an SSL listener,
    /// a SASL exchange on a SASL listener (Kafka's `successful-authentication-total`).
    pub fn record_authentication_success(&self, listener: &str) {
        let mut successes = self.authentication_successes.lock().expect("stats lock poisoned");
        *successes.entry(listener.to_owned()).or_default() += 1;
    }

    /// Counts one decision of the authorizer at `now_ms` (every check, logged or silent, as
    /// Kafka's authorizer metrics count them).
    pub fn record_authorization(&self, allowed: bool, now_ms: i64) {
        let mut windows = self.authorizer.lock().expect("stats lock poisoned");
        match allowed {
            true => windows.allowed.record(now_ms),
            false => windows.denied.record(now_ms),
        }
    }

    /// Counts a throttled response.
    pub fn record_throttle(&self, quota: QuotaType, ms: i64) {
        let counter = &self.throttles[crate::quota::image::type_index(quota)];
        counter.events.fetch_add(1, Ordering::Relaxed);
        counter.time_ms.fetch_add(ms.max(0) as u64, Ordering::Relaxed);
    }

    /// Counts a failed authentication on `listener` with `mechanism` (`SSL` for a failed TLS
    /// handshake, as Kafka counts it).
    pub fn record_authentication_failure(&self, listener: &str, mechanism: &str) {
        let mut failures = self.authentication_failures.lock().expect("stats lock poisoned");
        *failures.entry((listener.to_owned(), mechanism.to_owned())).or_default() += 1;
    }

    /// Counts one request (or one resource in it) the authorizer denied.
    pub fn record_denial(&self, operation: AclOperation, resource_type: ResourceType) {
        self.denials[denial_cell(operation, resource_type)].fetch_add(1, Ordering::Relaxed);
    }

    /// Denials so far, per (operation, resource type); pairs never denied are left out.
    pub fn denials(&self) -> BTreeMap<(AclOperation, ResourceType), u64> {
        let mut out = BTreeMap::new();
        for op in AclOperation::ALL {
            for rt in ResourceType::ALL {
                let n = self.denials[denial_cell(*op, *rt)].load(Ordering::Relaxed);
                if n > 0 {
                    out.insert((*op, *rt), n);
                }
            }
        }
        out
    }

    /// The current counts; the authorizer's rates are those of the minute up to `now_ms`.
    pub fn snapshot(&self, now_ms: i64) -> StatsSnapshot {
        let authentication_failures =
            self.authentication_failures.lock().expect("stats lock poisoned").clone();
        let authentication_successes =
            self.authentication_successes.lock().expect("stats lock poisoned").clone();
        let mut by_listener: BTreeMap<String, u64> =
            authentication_successes.keys().map(|l| (l.clone(), 0)).collect();
        for ((listener, _), n) in &authentication_failures {
            *by_listener.entry(listener.clone()).or_default() += n;
        }
        let authorizer = {
            let windows = self.authorizer.lock().expect("stats lock poisoned");
            let (allowed, denied) = (windows.allowed.count(now_ms), windows.denied.count(now_ms));
            AuthorizerRates { requests: allowed + denied, allowed, denied }
        };
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
            authentication_failures,
            denials: self.denials(),
            authentication_successes,
            authentication_failures_by_listener: by_listener,
            authorizer,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_counter_counts_what_it_is_given() {
        let stats = BrokerStats::default();
        stats.record_denial(AclOperation::Read, ResourceType::Topic);
        stats.record_denial(AclOperation::Read, ResourceType::Topic);
        stats.record_denial(AclOperation::Describe, ResourceType::Cluster);
        stats.record_authentication_failure("CLIENT", "SCRAM-SHA-256");
        stats.record_authentication_failure("CLIENT", "SCRAM-SHA-256");
        stats.record_authentication_failure("SSL", "SSL");
        stats.record_throttle(QuotaType::Fetch, 250);
        stats.record_throttle(QuotaType::Fetch, -1);
        let snapshot = stats.snapshot(0);
        assert_eq!(
            snapshot.denials,
            BTreeMap::from([
                ((AclOperation::Read, ResourceType::Topic), 2),
                ((AclOperation::Describe, ResourceType::Cluster), 1),
            ])
        );
        assert_eq!(
            snapshot.authentication_failures,
            BTreeMap::from([
                (("CLIENT".to_owned(), "SCRAM-SHA-256".to_owned()), 2),
                (("SSL".to_owned(), "SSL".to_owned()), 1),
            ])
        );
        let fetch = snapshot.throttles.iter().find(|(key, _, _)| *key == QuotaType::Fetch.key());
        assert_eq!(fetch, Some(&(QuotaType::Fetch.key(), 2, 250)));
        assert!(snapshot
            .throttles
            .iter()
            .filter(|t| t.0 != QuotaType::Fetch.key())
            .all(|t| t.1 == 0));
    }

    #[test]
    fn authentication_series_start_at_zero_for_every_listener() {
        let stats = BrokerStats::for_listeners(["PLAINTEXT", "CLIENT"]);
        let zero = BTreeMap::from([("CLIENT".to_owned(), 0), ("PLAINTEXT".to_owned(), 0)]);
        let snapshot = stats.snapshot(0);
        assert_eq!(snapshot.authentication_successes, zero);
        assert_eq!(snapshot.authentication_failures_by_listener, zero);
        stats.record_authentication_success("CLIENT");
        stats.record_authentication_failure("CLIENT", "PLAIN");
        stats.record_authentication_failure("CLIENT", "SCRAM-SHA-512");
        let snapshot = stats.snapshot(0);
        assert_eq!(snapshot.authentication_successes["CLIENT"], 1);
        assert_eq!(snapshot.authentication_failures_by_listener["CLIENT"], 2);
        assert_eq!(snapshot.authentication_failures_by_listener["PLAINTEXT"], 0);
    }

    #[test]
    fn the_minute_window_counts_the_last_sixty_seconds_only() {
        let mut window = MinuteWindow::default();
        assert_eq!(window.count(0), 0);
        window.record(1_000);
        window.record(1_999);
        window.record(30_500);
        assert_eq!(window.count(30_500), 3);
        // 60 s after the first second it has left the window; the later event has not.
        assert_eq!(window.count(60_999), 3);
        assert_eq!(window.count(61_000), 1);
        assert_eq!(window.count(89_999), 1);
        assert_eq!(window.count(90_000), 0);
        // A bucket reused a minute later starts afresh.
        window.record(61_500);
        assert_eq!(window.count(61_500), 2);
        assert_eq!(window.count(100_000), 1);
    }

    #[test]
    fn authorizer_rates_add_up_and_decay() {
        let stats = BrokerStats::default();
        for (allowed, at) in [(true, 0), (false, 10_000), (true, 59_999), (false, 61_000)] {
            stats.record_authorization(allowed, at);
        }
        let rates = |now| stats.snapshot(now).authorizer;
        assert_eq!(rates(59_999), AuthorizerRates { requests: 3, allowed: 2, denied: 1 });
        assert_eq!(rates(61_000), AuthorizerRates { requests: 3, allowed: 1, denied: 2 });
        assert_eq!(rates(200_000), AuthorizerRates::default());
    }
}
