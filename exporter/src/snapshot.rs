//! What one completed poll of a cluster found: the data every endpoint serves. Immutable once
//! built; the poller replaces a cluster's snapshot as a whole.

use std::sync::Arc;

use serde::Serialize;

use crate::kafka::{BrokerInfo, ConnectionError};
use crate::status::Status;

/// A cluster's last poll.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterSnapshot {
    pub name: String,
    /// Whether the last poll succeeded (`false` before the first poll too).
    pub up: bool,
    /// Why the last poll failed.
    pub error: Option<String>,
    /// Which broker address could not be reached and why, when librdkafka said so.
    pub connection_error: Option<ConnectionError>,
    /// Polls completed since start, failed ones included (0: none yet).
    pub polls: u64,
    /// Duration of the last poll, seconds.
    pub last_poll_seconds: f64,
    /// End of the last poll, failed or not, seconds since the epoch (0 before the first).
    pub last_poll_timestamp: f64,
    /// End of the last successful poll, seconds since the epoch (0 before the first).
    pub last_success_timestamp: f64,
    /// Failed polls since start.
    pub poll_errors: u64,
    /// Seconds each phase of the last poll took, in order (up to the failing one).
    pub phase_seconds: Vec<(&'static str, f64)>,
    /// The data of the last *successful* poll. When `up` is false it is old: the human views
    /// show it marked with its age, `/metrics` leaves it out (see [`Self::fresh_data`]).
    #[serde(skip)]
    pub data: Option<Arc<ClusterData>>,
}

impl ClusterSnapshot {
    /// A cluster not polled yet: down, no data.
    pub fn pending(name: &str) -> ClusterSnapshot {
        ClusterSnapshot {
            name: name.to_string(),
            up: false,
            error: None,
            connection_error: None,
            polls: 0,
            last_poll_seconds: 0.0,
            last_poll_timestamp: 0.0,
            last_success_timestamp: 0.0,
            poll_errors: 0,
            phase_seconds: Vec::new(),
            data: None,
        }
    }

    /// The data only if the last poll succeeded: what `/metrics` publishes, so a down
    /// cluster's series disappear (Prometheus marks them stale) rather than being served as
    /// if fresh.
    pub fn fresh_data(&self) -> Option<&ClusterData> {
        self.data.as_deref().filter(|_| self.up)
    }
}

/// Brokers, partitions and groups of a successful poll.
#[derive(Debug, Clone, Default)]
pub struct ClusterData {
    pub brokers: Vec<BrokerInfo>,
    /// Sorted by topic, then partition.
    pub partitions: Vec<PartitionState>,
    /// Sorted by name.
    pub groups: Vec<GroupState>,
}

/// A topic partition's metadata and offsets.
#[derive(Debug, Clone, Serialize)]
pub struct PartitionState {
    pub topic: String,
    pub partition: i32,
    pub leader: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub earliest: Option<i64>,
    pub latest: Option<i64>,
}

/// A consumer group, evaluated.
#[derive(Debug, Clone, Serialize)]
pub struct GroupState {
    pub name: String,
    pub state: String,
    pub protocol_type: String,
    pub members: usize,
    pub status: Status,
    /// Why the group's offsets could not be read, if so (then `partitions` is empty).
    pub error: Option<String>,
    /// Partitions with a committed offset (and a known latest offset), sorted.
    pub partitions: Vec<GroupPartition>,
    /// (end of poll, seconds since the epoch; lag sum) of this group's last successful polls,
    /// oldest first, this one included: the page's chart.
    #[serde(skip)]
    pub lag_history: Vec<(f64, i64)>,
}

/// One partition of a group.
#[derive(Debug, Clone, Serialize)]
pub struct GroupPartition {
    pub topic: String,
    pub partition: i32,
    pub committed: i64,
    pub latest: i64,
    /// `latest - committed`, clamped at 0.
    pub lag: i64,
    /// Seconds the next record to consume has waited; `None` before the first observation.
    pub lag_seconds: Option<f64>,
    /// `lag_seconds` is a lower bound: the commit is older than the lag table.
    pub lag_seconds_lower_bound: bool,
    pub member_host: String,
    pub consumer_id: String,
    pub client_id: String,
    pub status: Status,
}

impl GroupState {
    /// Sum of the partitions' lag.
    pub fn sum_lag(&self) -> i64 {
        self.partitions.iter().map(|p| p.lag).sum()
    }

    /// Largest partition lag, if any partition has a commit.
    pub fn max_lag(&self) -> Option<i64> {
        self.partitions.iter().map(|p| p.lag).max()
    }

    /// Largest lag in seconds among partitions that have one.
    pub fn max_lag_seconds(&self) -> Option<f64> {
        self.partitions.iter().filter_map(|p| p.lag_seconds).reduce(f64::max)
    }

    /// Simple consumers commit offsets without the group protocol (seglo's `is_simple_consumer`).
    pub fn is_simple_consumer(&self) -> bool {
        self.protocol_type.is_empty()
    }

    /// (topic, lag sum, committed-offset sum) per topic, in topic order.
    pub fn per_topic(&self) -> Vec<(&str, i64, i64)> {
        let mut out: Vec<(&str, i64, i64)> = Vec::new();
        for p in &self.partitions {
            match out.last_mut() {
                Some(last) if last.0 == p.topic => {
                    last.1 += p.lag;
                    last.2 += p.committed;
                }
                _ => out.push((&p.topic, p.lag, p.committed)),
            }
        }
        out
    }
}
