//! The fault schedule: which faults happen when, derived from the seed alone.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::config::SimConfig;

/// Which way a one-way partition cuts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// Both ways.
    Both,
    /// Client → broker dropped (requests lost).
    ToBroker,
    /// Broker → client dropped (responses lost).
    FromBroker,
}

/// One kind of fault.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum FaultKind {
    /// Client ↔ broker `node` partition; in-flight messages are dropped.
    Partition { client: String, node: i32, direction: Direction },
    /// Messages between client and broker `node` are held, then all delivered at release.
    Hold { client: String, node: i32 },
    /// The client ↔ broker `node` link's latency rises to `max_ms`.
    LatencySpike { client: String, node: i32, max_ms: u64 },
    /// The link breaks at random (per message, with probability `rate`) and repairs itself.
    MessageLoss { client: String, node: i32, rate: f64 },
    /// Broker host `node` crashes (unsynced bytes lost; with `torn`, a random prefix of each
    /// file's unsynced tail survives, as a crash in the middle of a write) and restarts after
    /// the fault's duration.
    BrokerCrash { node: i32, torn: bool },
    /// Cluster node `node` is cut off from the other nodes (replication, the quorum,
    /// heartbeats) while its clients still reach it: the zombie-leader case.
    NodeIsolated { node: i32 },
    /// Every message to and from cluster node `node` is held, then all delivered at once: a
    /// process paused (a GC pause, SIGSTOP) that resumes believing it still leads.
    NodePaused { node: i32 },
    /// Cluster node `node` is sent SIGTERM: a controlled shutdown moves its leaderships away,
    /// it flushes and exits, and starts again after the fault's duration. A rolling restart is
    /// one of these per node in turn.
    ControlledShutdown { node: i32, rolling: bool },
    /// A group consumer freezes (no polls, no heartbeats) for the fault's duration, which is
    /// longer than its session timeout, then carries on as if nothing happened.
    ConsumerStall { client: String },
    /// A group consumer leaves the group (LeaveGroup) and joins again as a new member when
    /// the fault ends.
    MemberLeave { client: String },
}

impl FaultKind {
    /// A short name for counts in the report.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Partition { direction: Direction::Both, .. } => "partition",
            Self::Partition { .. } => "partition-oneway",
            Self::Hold { .. } => "hold",
            Self::LatencySpike { .. } => "latency-spike",
            Self::MessageLoss { .. } => "message-loss",
            Self::BrokerCrash { torn: false, .. } => "broker-crash",
            Self::BrokerCrash { torn: true, .. } => "broker-crash-torn-write",
            Self::NodeIsolated { .. } => "node-isolated",
            Self::NodePaused { .. } => "node-paused",
            Self::ControlledShutdown { rolling: false, .. } => "controlled-shutdown",
            Self::ControlledShutdown { rolling: true, .. } => "rolling-restart",
            Self::ConsumerStall { .. } => "consumer-stall",
            Self::MemberLeave { .. } => "member-leave",
        }
    }
}

/// A fault with its start and duration, in simulated milliseconds from the start of the run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fault {
    /// When it begins.
    pub at_ms: u64,
    /// How long until it is undone (for a crash: the downtime).
    pub duration_ms: u64,
    /// What it is.
    #[serde(flatten)]
    pub kind: FaultKind,
}

/// Derives the schedule for `config.seed`: faults arrive at random with `config.intensity`
/// per simulated second during the chaos phase. Broker crashes never overlap. Group faults
/// (stalls, leaves) hit `group_members` at a quarter of that rate, never two at once on one
/// member.
pub fn derive(config: &SimConfig, clients: &[String], group_members: &[String]) -> Vec<Fault> {
    let mut faults = derive_general(config, clients);
    let restarts = derive_restarts(config, &faults);
    faults.extend(restarts);
    faults.extend(derive_group(config, group_members));
    faults.sort_by_key(|f| f.at_ms);
    faults
}

/// Controlled shutdowns and rolling restarts of a cluster's nodes (`restart_intensity` per
/// simulated second, a quarter of them rolling restarts of every node in turn), from a stream
/// of their own, placed where no other node fault is under way: one node at a time is down.
fn derive_restarts(config: &SimConfig, general: &[Fault]) -> Vec<Fault> {
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed ^ 0x7e57_a27e_d0e5_0000);
    let mut faults = Vec::new();
    if config.nodes < 2 || config.restart_intensity <= 0.0 {
        return faults;
    }
    // Windows in which a node is already down, cut off or paused.
    let mut busy: Vec<(u64, u64)> = general
        .iter()
        .filter(|f| {
            matches!(
                f.kind,
                FaultKind::BrokerCrash { .. }
                    | FaultKind::NodeIsolated { .. }
                    | FaultKind::NodePaused { .. }
            )
        })
        .map(|f| (f.at_ms, f.at_ms + f.duration_ms + 1))
        .collect();
    let mean_gap_ms = 1000.0 / config.restart_intensity;
    let mut t = 0.0f64;
    while let Some(at_ms) = next_arrival(&mut rng, &mut t, mean_gap_ms, config.duration_ms) {
        let rolling = rng.gen_bool(0.25);
        let nodes: Vec<i32> = if rolling {
            (1..=config.nodes).collect()
        } else {
            vec![rng.gen_range(1..=config.nodes)]
        };
        // Each node: SIGTERM, down for a while, back; the next one once it has rejoined.
        let mut steps = Vec::new();
        let mut next = at_ms;
        for node in nodes {
            let downtime = rng.gen_range(300..=1_500);
            steps.push(Fault {
                at_ms: next,
                duration_ms: downtime,
                kind: FaultKind::ControlledShutdown { node, rolling },
            });
            next += downtime + rng.gen_range(500..=1_500);
        }
        let (from, until) = (at_ms, next);
        if busy.iter().any(|(a, b)| from < *b && *a < until) {
            continue;
        }
        busy.push((from, until));
        faults.extend(steps);
    }
    faults
}

/// Group faults, from a stream of their own so that the general schedule of a seed stays put.
fn derive_group(config: &SimConfig, members: &[String]) -> Vec<Fault> {
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed ^ 0x6709_0f57_a11e_0000);
    let mut faults = Vec::new();
    if config.intensity <= 0.0 || members.is_empty() {
        return faults;
    }
    let mean_gap_ms = 4000.0 / config.intensity;
    let mut busy_until = vec![0u64; members.len()];
    let mut t = 0.0f64;
    while let Some(at_ms) = next_arrival(&mut rng, &mut t, mean_gap_ms, config.duration_ms) {
        let i = rng.gen_range(0..members.len());
        let client = members[i].clone();
        let (duration_ms, kind) = if rng.gen_bool(0.5) {
            let past = rng.gen_range(200..=1_500);
            (config.session_timeout_ms + past, FaultKind::ConsumerStall { client })
        } else {
            (rng.gen_range(200..=2_000), FaultKind::MemberLeave { client })
        };
        if at_ms < busy_until[i] {
            continue;
        }
        busy_until[i] = at_ms + duration_ms + 1;
        faults.push(Fault { at_ms, duration_ms, kind });
    }
    faults
}

fn derive_general(config: &SimConfig, clients: &[String]) -> Vec<Fault> {
    // A stream apart from the one turmoil and the broker get, so that changing the fault mix
    // does not change everything else.
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed ^ 0x5c4e_d01e_fa17_0000);
    let mut faults = Vec::new();
    if config.intensity <= 0.0 || clients.is_empty() {
        return faults;
    }
    let mean_gap_ms = 1000.0 / config.intensity;
    let mut t = 0.0f64;
    let mut broker_up_at = 0u64;
    while let Some(at_ms) = next_arrival(&mut rng, &mut t, mean_gap_ms, config.duration_ms) {
        let client = clients[rng.gen_range(0..clients.len())].clone();
        let duration_ms = rng.gen_range(100..=2_000);
        // One node: no draw, so a single broker's schedules stay what they were.
        let node = if config.nodes > 1 { rng.gen_range(1..=config.nodes) } else { 1 };
        let kind = match rng.gen_range(0..100) {
            0..=19 => FaultKind::Partition { client, node, direction: Direction::Both },
            20..=29 => FaultKind::Partition { client, node, direction: Direction::ToBroker },
            30..=39 => FaultKind::Partition { client, node, direction: Direction::FromBroker },
            40..=51 => FaultKind::Hold { client, node },
            52..=63 => FaultKind::LatencySpike { client, node, max_ms: rng.gen_range(50..=1_500) },
            64..=75 => FaultKind::MessageLoss { client, node, rate: rng.gen_range(0.05..0.5) },
            _ => {
                if at_ms < broker_up_at {
                    continue;
                }
                broker_up_at = at_ms + duration_ms + 1;
                // A cluster's nodes may also be cut off from each other or paused; one node
                // at a time is down, cut off or paused.
                match if config.nodes > 1 { rng.gen_range(0..4) } else { 0 } {
                    0 | 1 => FaultKind::BrokerCrash { node, torn: rng.gen_bool(0.5) },
                    2 => FaultKind::NodeIsolated { node },
                    _ => FaultKind::NodePaused { node },
                }
            }
        };
        faults.push(Fault { at_ms, duration_ms, kind });
    }
    faults
}

/// The next arrival after `*t` of a Poisson process (exponential gaps averaging `mean_gap_ms`),
/// advancing `*t`; `None` once it falls past `duration_ms`. One RNG draw per call.
fn next_arrival(
    rng: &mut ChaCha8Rng,
    t: &mut f64,
    mean_gap_ms: f64,
    duration_ms: u64,
) -> Option<u64> {
    let u: f64 = rng.gen_range(f64::EPSILON..1.0);
    *t += -u.ln() * mean_gap_ms;
    let at_ms = *t as u64;
    (at_ms < duration_ms).then_some(at_ms)
}
