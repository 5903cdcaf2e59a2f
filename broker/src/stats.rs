//! The broker's security and quota counters, in one place for the metrics the exporter will
//! read (issue 5): authorization denials (the authorizer counts them), failed authentications
//! (the connection loop and the TLS accept path count them, once per failure) and throttling
//! (the quota enforcer counts it). Cheap to update from any connection; never holds a secret.

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
}

/// Security and quota counters of one broker (`Broker::stats`).
#[derive(Debug)]
pub struct BrokerStats {
    throttles: [ThrottleCounter; 3],
    authentication_failures: Mutex<BTreeMap<(String, String), u64>>,
    /// Indexed by `operation index * ResourceType::ALL.len() + resource type index`.
    denials: Vec<AtomicU64>,
}

impl Default for BrokerStats {
    fn default() -> Self {
        let cells = AclOperation::ALL.len() * ResourceType::ALL.len();
        BrokerStats {
            throttles: Default::default(),
            authentication_failures: Mutex::default(),
            denials: (0..cells).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

fn denial_cell(operation: AclOperation, resource_type: ResourceType) -> usize {
    let op = AclOperation::ALL.iter().position(|o| *o == operation).expect("listed");
    let rt = ResourceType::ALL.iter().position(|r| *r == resource_type).expect("listed");
    op * ResourceType::ALL.len() + rt
}

impl BrokerStats {
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
            denials: self.denials(),
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
        let snapshot = stats.snapshot();
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
}
