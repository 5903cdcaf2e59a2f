//! The knobs of one simulation run.

use serde::Serialize;

/// Which acks the producers use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum AcksMode {
    /// The producers cycle through all+idempotent, 1, 0 and all (non-idempotent).
    #[default]
    Mixed,
    /// Every producer acks=all, idempotent and not in turn.
    All,
    /// Every producer acks=1: the leader's append is the acknowledgement.
    #[value(name = "1")]
    #[serde(rename = "1")]
    One,
}

impl AcksMode {
    /// The name `--acks` takes.
    pub fn name(self) -> &'static str {
        match self {
            Self::Mixed => "mixed",
            Self::All => "all",
            Self::One => "1",
        }
    }
}

/// Everything that determines a run besides the code: the same config replays the same run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimConfig {
    /// Seeds turmoil, the broker, the clients and the fault schedule.
    pub seed: u64,
    /// Nodes of the cluster: 1 is today's single broker (its own quorum's one voter); more are
    /// combined broker+controller nodes, the first three the quorum's voters, the rest brokers.
    pub nodes: i32,
    /// The topic's replication factor (at most `nodes`).
    pub replication_factor: i32,
    /// The topic's `min.insync.replicas`.
    pub min_insync_replicas: i32,
    /// Length of the chaos phase, simulated milliseconds.
    pub duration_ms: u64,
    /// Producer hosts; their acks and idempotence follow `acks`.
    pub producers: usize,
    /// The producers' acks.
    pub acks: AcksMode,
    /// The topic's `unclean.leader.election.enable`: a leaderless partition may be led by an
    /// out-of-sync replica, losing what only the ISR had.
    pub unclean_leader_election: bool,
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
    /// In a cluster, mean controlled shutdowns (SIGTERM, restart after a downtime) per
    /// simulated second, a quarter of them rolling restarts; 0 disables them.
    pub restart_intensity: f64,
    /// Deadline of every client request, simulated milliseconds.
    pub request_timeout_ms: u64,
    /// Liveness bound: after healing, the final read must finish within this (simulated ms).
    pub heal_timeout_ms: u64,
    /// turmoil's step, simulated ms: 1 (the default) resolves message latencies to the
    /// millisecond; larger steps run faster (most of a run's wall time is the simulator
    /// stepping every host's runtime) with coarser timing.
    pub tick_ms: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            nodes: 1,
            replication_factor: 1,
            min_insync_replicas: 1,
            duration_ms: 10_000,
            producers: 4,
            acks: AcksMode::Mixed,
            unclean_leader_election: false,
            consumers: 2,
            group_consumers: 3,
            session_timeout_ms: 1_000,
            partitions: 3,
            flush_interval_messages: 1,
            intensity: 1.0,
            restart_intensity: 0.1,
            request_timeout_ms: 1_000,
            heal_timeout_ms: 15_000,
            tick_ms: 1,
        }
    }
}

impl SimConfig {
    /// A cluster of `nodes` with the topic at RF = min(3, nodes) and `min.insync.replicas`
    /// one less (2 for RF=3), as the course's second module sets it up.
    pub fn cluster(nodes: i32) -> Self {
        let replication_factor = nodes.clamp(1, 3);
        Self {
            nodes,
            replication_factor,
            min_insync_replicas: (replication_factor - 1).max(1),
            ..Self::default()
        }
    }

    /// Whether an acknowledgement with `acks` promises the record survives a node's loss: on
    /// one node, always (durability is then the flush policy's, [`strict_durability`]); in a
    /// cluster only acks=all with RF ≥ 3, `min.insync.replicas` ≥ 2 and unclean leader
    /// election off — acks=1, or a weaker topic, loses acknowledged records when a leader dies
    /// before its followers fetched them, and an unclean election makes a replica that lacks
    /// them the leader, as Kafka does: expected for that configuration, not a bug.
    ///
    /// [`strict_durability`]: Self::strict_durability
    pub fn promises_survival(&self, acks: i16) -> bool {
        self.nodes <= 1
            || (acks == -1
                && self.replication_factor >= 3
                && self.min_insync_replicas >= 2
                && !self.unclean_leader_election)
    }

    /// The metadata quorum's voters: the first three nodes (the one node alone).
    pub fn voters(&self) -> Vec<i32> {
        (1..=self.nodes.clamp(1, 3)).collect()
    }

    /// Whether every acknowledged write must survive a crash (fsync before ack).
    pub fn strict_durability(&self) -> bool {
        self.flush_interval_messages == 1
    }
}
