//! The knobs of one simulation run.

use serde::Serialize;

/// Everything that determines a run besides the code: the same config replays the same run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimConfig {
    /// Seeds turmoil, the broker, the clients and the fault schedule.
    pub seed: u64,
    /// Length of the chaos phase, simulated milliseconds.
    pub duration_ms: u64,
    /// Producer hosts; their acks and idempotence cycle through (all+idempotent, 1, 0, all).
    pub producers: usize,
    /// Assign consumers, each reading every partition.
    pub consumers: usize,
    /// Group consumers, all members of one consumer group.
    pub group_consumers: usize,
    /// The group consumers' `session.timeout.ms` (also their rebalance timeout).
    pub session_timeout_ms: u64,
    /// Partitions of the topic under test.
    pub partitions: i32,
    /// The broker's `log.flush.interval.messages`: 1 makes every acknowledged write durable.
    pub flush_interval_messages: u64,
    /// Mean faults per simulated second during chaos; 0 disables faults.
    pub intensity: f64,
    /// Deadline of every client request, simulated milliseconds.
    pub request_timeout_ms: u64,
    /// Liveness bound: after healing, the final read must finish within this (simulated ms).
    pub heal_timeout_ms: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            duration_ms: 10_000,
            producers: 4,
            consumers: 2,
            group_consumers: 3,
            session_timeout_ms: 1_000,
            partitions: 3,
            flush_interval_messages: 1,
            intensity: 1.0,
            request_timeout_ms: 1_000,
            heal_timeout_ms: 15_000,
        }
    }
}

impl SimConfig {
    /// Whether every acknowledged write must survive a crash (fsync before ack).
    pub fn strict_durability(&self) -> bool {
        self.flush_interval_messages == 1
    }
}
