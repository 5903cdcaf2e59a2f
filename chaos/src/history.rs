//! The history: every client operation and every fault, in the order the simulation saw them.
//!
//! Times are simulated milliseconds since the start of the run. Checkers read only this; the
//! JSON lines written to `history.jsonl` are exactly these events, so hashing them pins a run.

use std::hash::{DefaultHasher, Hasher};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

/// How a produce ended, as the client saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ProduceOutcome {
    /// Acknowledged at this offset (acks 1/all).
    Ok { offset: i64 },
    /// Written to the socket with acks=0: nothing is known.
    Sent,
    /// The broker answered with an error: not written.
    Fail { error: String },
    /// No answer (timeout, broken connection): maybe written.
    Info { error: String },
}

/// How an offset commit ended for one partition, as the client saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum CommitOutcome {
    /// Acknowledged: the offset is committed.
    Ok,
    /// The broker answered with an error (or no connection was made): not committed.
    Fail { error: String },
    /// No answer (timeout, broken connection): maybe committed, maybe later.
    Info { error: String },
}

/// One record a client read: offset and value.
pub type ReadRecord = (i64, String);

/// A node's view of its part in the metadata quorum, sampled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuorumSample {
    /// `leader`, `follower`, `candidate`, … or `observer` (a broker that is no voter).
    pub state: String,
    /// The quorum leader as the node knows it (-1 unknown).
    pub leader_id: i32,
    /// The quorum epoch as the node knows it.
    pub epoch: i32,
    /// The committed offset of the metadata log as the node knows it.
    pub high_watermark: i64,
    /// The node's metadata log end offset.
    pub log_end_offset: i64,
    /// The epoch of the record just below `high_watermark` in its log (-1: none there): with
    /// the offset, it names the committed prefix (Raft's log matching).
    pub committed_epoch: i32,
}

/// A node's replica of one partition, sampled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaSample {
    /// The partition of the topic under test.
    pub partition: i32,
    /// `leader`, `follower` or `offline`.
    pub role: String,
    /// The leader it follows (itself when leading).
    pub leader_id: i32,
    /// The leader epoch of its role.
    pub leader_epoch: i32,
    /// Its high watermark.
    pub high_watermark: i64,
    /// Its log end offset.
    pub log_end_offset: i64,
    /// As leader: the ISR it holds committed (empty as a follower).
    pub isr: Vec<i32>,
}

/// One event of the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// A produce of one record.
    Produce {
        start_ms: u64,
        end_ms: u64,
        client: String,
        partition: i32,
        value: String,
        acks: i16,
        idempotent: bool,
        outcome: ProduceOutcome,
    },
    /// One fetch of one partition by an assign consumer (or the final reader).
    Poll {
        start_ms: u64,
        end_ms: u64,
        client: String,
        /// The node that answered (the partition's leader as the client knew it).
        node: i32,
        partition: i32,
        fetch_offset: i64,
        high_watermark: i64,
        records: Vec<ReadRecord>,
    },
    /// A group request (FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup) and how it
    /// ended: `ok`, a Kafka error name, or the transport failure. Heartbeats are recorded only
    /// when they fail. `generation` is the one the member held (JoinGroup: the one it got).
    GroupOp {
        start_ms: u64,
        end_ms: u64,
        client: String,
        group: String,
        op: String,
        member_id: String,
        generation: i32,
        outcome: String,
    },
    /// A SyncGroup answered: `member_id` of `generation` (whose JoinGroup named `leader`) owns
    /// `partitions`. A new poll session begins on every partition of the client.
    Assigned {
        start_ms: u64,
        end_ms: u64,
        client: String,
        group: String,
        member_id: String,
        generation: i32,
        leader: String,
        partitions: Vec<i32>,
    },
    /// An OffsetCommit of one partition (the request carries all the member's partitions).
    Commit {
        start_ms: u64,
        end_ms: u64,
        client: String,
        group: String,
        member_id: String,
        generation: i32,
        partition: i32,
        offset: i64,
        outcome: CommitOutcome,
    },
    /// An OffsetFetch answered for one partition: its committed offset (-1: none).
    OffsetFetch {
        start_ms: u64,
        end_ms: u64,
        client: String,
        group: String,
        partition: i32,
        offset: i64,
    },
    /// A consumer's position reset (offset out of range): a new poll session begins.
    Reset { time_ms: u64, client: String, partition: i32, from: i64, to: i64 },
    /// The broker (re)opened its log; `log_end_offsets` are per partition after recovery.
    BrokerStarted { time_ms: u64, node_id: i32, incarnation: u32, log_end_offsets: Vec<i64> },
    /// A node finished a controlled shutdown (leaderships moved, logs flushed) and exited.
    BrokerStopped { time_ms: u64, node_id: i32, incarnation: u32 },
    /// A fault began or ended.
    Fault { time_ms: u64, action: String },
    /// The final read of every partition finished (or gave up).
    FinalRead { time_ms: u64, complete: bool },
    /// What a running node said of itself at `time_ms` (sampled between simulation steps,
    /// every [`SAMPLE_MS`](crate::run::SAMPLE_MS)): the timeline's leaders and high
    /// watermarks, and the one-leader-per-epoch checker's evidence.
    NodeState {
        time_ms: u64,
        node_id: i32,
        incarnation: u32,
        quorum: QuorumSample,
        replicas: Vec<ReplicaSample>,
    },
    /// After the run, one running node's metadata log: where it starts and ends, where each
    /// epoch starts, and the committed offset the node knows.
    MetadataLog {
        node_id: i32,
        voter: bool,
        /// Whether it led the quorum then.
        leader: bool,
        log_start_offset: i64,
        log_end_offset: i64,
        high_watermark: i64,
        epochs: Vec<(i32, i64)>,
    },
    /// After the run, what one node's copy of a partition holds (a cluster's replicas, read
    /// from each node's disk): every record from its log start to its log end offset.
    ReplicaLog { node_id: i32, partition: i32, log_end_offset: i64, records: Vec<ReadRecord> },
}

/// The history of one run, shared by every host of the simulation.
#[derive(Debug, Clone, Default)]
pub struct History {
    events: Arc<Mutex<Vec<Event>>>,
}

impl History {
    /// Appends an event.
    pub fn push(&self, event: Event) {
        self.events.lock().expect("history lock poisoned").push(event);
    }

    /// Appends the event, if any.
    pub fn extend(&self, event: Option<Event>) {
        if let Some(event) = event {
            self.push(event);
        }
    }

    /// A copy of every event so far.
    pub fn events(&self) -> Vec<Event> {
        self.events.lock().expect("history lock poisoned").clone()
    }
}

/// The events as JSON lines.
pub fn to_jsonl(events: &[Event]) -> String {
    let mut out = String::new();
    for e in events {
        out.push_str(&serde_json::to_string(e).expect("events serialize"));
        out.push('\n');
    }
    out
}

/// A hash of the whole history (all events, faults included), to compare two runs.
pub fn hash(events: &[Event]) -> u64 {
    // SipHash with fixed keys: stable within one build, which is all a replay comparison needs.
    let mut hasher = DefaultHasher::new();
    hasher.write(to_jsonl(events).as_bytes());
    hasher.finish()
}

/// Simulated milliseconds since the start of the run.
pub fn now_ms() -> u64 {
    turmoil::sim_elapsed().map_or(0, |d| d.as_millis() as u64)
}
