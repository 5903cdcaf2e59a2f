//! Security counters the broker's metrics will export: authorization denials per operation and
//! resource type, and failed authentications.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use super::acl::{AclOperation, ResourceType};

/// Monotonic counters; cheap to bump from any connection.
#[derive(Debug)]
pub struct SecurityStats {
    authentication_failures: AtomicU64,
    /// Indexed by `operation index * ResourceType::ALL.len() + resource type index`.
    denials: Vec<AtomicU64>,
}

impl Default for SecurityStats {
    fn default() -> Self {
        let cells = AclOperation::ALL.len() * ResourceType::ALL.len();
        SecurityStats {
            authentication_failures: AtomicU64::new(0),
            denials: (0..cells).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

fn cell(operation: AclOperation, resource_type: ResourceType) -> usize {
    let op = AclOperation::ALL.iter().position(|o| *o == operation).expect("listed");
    let rt = ResourceType::ALL.iter().position(|r| *r == resource_type).expect("listed");
    op * ResourceType::ALL.len() + rt
}

impl SecurityStats {
    /// One request (or one resource in it) was denied.
    pub fn record_denial(&self, operation: AclOperation, resource_type: ResourceType) {
        self.denials[cell(operation, resource_type)].fetch_add(1, Ordering::Relaxed);
    }

    /// A client failed to authenticate (SASL, or the TLS handshake).
    pub fn record_authentication_failure(&self) {
        self.authentication_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Failed authentications so far.
    pub fn authentication_failures(&self) -> u64 {
        self.authentication_failures.load(Ordering::Relaxed)
    }

    /// Denials so far, per (operation, resource type); pairs never denied are left out.
    pub fn denials(&self) -> BTreeMap<(AclOperation, ResourceType), u64> {
        let mut out = BTreeMap::new();
        for op in AclOperation::ALL {
            for rt in ResourceType::ALL {
                let n = self.denials[cell(*op, *rt)].load(Ordering::Relaxed);
                if n > 0 {
                    out.insert((*op, *rt), n);
                }
            }
        }
        out
    }

    /// All denials so far.
    pub fn total_denials(&self) -> u64 {
        self.denials.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }
}
