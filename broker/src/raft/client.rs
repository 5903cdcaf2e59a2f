//! The metadata quorum's Raft, KIP-595 as Kafka implements it (`KafkaRaftClient` and
//! `QuorumState`), written as a state machine that does no I/O: requests, responses, appends
//! and the passing of time go in; messages to send, state to persist, log changes and leader
//! changes come out as [`Action`]s, which the driver applies in order — each durably before
//! the next event — so the same code runs over TCP and a disk, and in the simulator.
//!
//! A node's epoch states, as in Kafka 4.x:
//! - **Unattached**: no leader known in the epoch (perhaps a vote cast); on the election
//!   timeout a voter turns Prospective.
//! - **Prospective** (KIP-996): asks for pre-votes at the next epoch without bumping its own,
//!   so a node cut off from the leader cannot disrupt a working quorum; a majority makes it a
//!   Candidate, a lost or timed-out pre-election sends it back.
//! - **Candidate**: at epoch + 1, voted for itself (persisted), asks for votes; a majority
//!   makes it Leader; otherwise it backs off (exponential, jittered) and turns Prospective.
//! - **Leader**: appends a leader-change record at its epoch's start, tells the voters with
//!   BeginQuorumEpoch, answers their fetches (replication is pulled: the leader learns each
//!   follower's position from its fetch offset), advances the high watermark to what a
//!   majority holds once a record of its own epoch is committed, and resigns if no majority
//!   fetched within 1.5 fetch timeouts (check quorum).
//! - **Follower**: fetches from the leader, truncates a diverging tail as the leader's
//!   DivergingEpoch says, appends, takes `min(leader's high watermark, own log end)`; on the
//!   fetch timeout a voter turns Prospective, an observer Unattached.
//! - **Resigned**: a leader stepping down (graceful shutdown or check quorum) sends
//!   EndQuorumEpoch naming its preferred successors, so one of them stands at once.
//!
//! Observers (nodes that are not voters — brokers) only follow: they look for the leader by
//! fetching from voters and never vote or stand.

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::error::ResponseError;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::election_state::ElectionState;
use super::leader_state::LeaderState;

/// How long the leader holds a fetch it has nothing for (Kafka's `FETCH_MAX_WAIT_MS`).
pub const FETCH_MAX_WAIT_MS: u64 = 500;

/// Kafka's `RETRY_BACKOFF_BASE_MS` for election backoffs.
const RETRY_BACKOFF_BASE_MS: u64 = 100;

/// The quorum's timing settings, with Kafka's names and defaults (`QuorumConfig`).
#[derive(Clone, Debug)]
pub struct QuorumConfig {
    /// `controller.quorum.election.timeout.ms`: how long without a leader before a voter
    /// stands, randomised to between one and two times this.
    pub election_timeout_ms: u64,
    /// `controller.quorum.fetch.timeout.ms`: how long a follower goes without a successful
    /// fetch before it stands (a voter) or looks for the leader again (an observer).
    pub fetch_timeout_ms: u64,
    /// `controller.quorum.election.backoff.max.ms`: the most a lost election backs off.
    pub election_backoff_max_ms: u64,
    /// `controller.quorum.request.timeout.ms`: an unanswered request is given up after this.
    pub request_timeout_ms: u64,
    /// `controller.quorum.retry.backoff.ms`: the pause before a failed request is sent again.
    pub retry_backoff_ms: u64,
    /// How long the leader holds a fetch it has nothing for (Kafka's `FETCH_MAX_WAIT_MS`).
    pub fetch_max_wait_ms: u64,
    /// A deliberate protocol violation, so tests can prove the checkers catch it.
    #[cfg(test)]
    pub fault: Option<Fault>,
}

impl Default for QuorumConfig {
    fn default() -> Self {
        Self {
            election_timeout_ms: 1000,
            fetch_timeout_ms: 2000,
            election_backoff_max_ms: 1000,
            request_timeout_ms: 2000,
            retry_backoff_ms: 20,
            fetch_max_wait_ms: FETCH_MAX_WAIT_MS,
            #[cfg(test)]
            fault: None,
        }
    }
}

/// Protocol violations a test can switch on to show that the invariants catch them.
#[cfg(test)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The leader commits whatever it has appended, without waiting for a majority.
    HighWatermarkOnLeaderEndOffset,
    /// A voter grants every up-to-date candidate, even after voting for another in the epoch.
    VoteTwice,
    /// The leader serves a fetcher below its log start from the log, not its snapshot.
    ServeLogBelowStart,
}

/// An offset with the leader epoch of the batch there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct OffsetAndEpoch {
    /// The offset.
    pub offset: i64,
    /// The epoch.
    pub epoch: i32,
}

impl From<crate::metadata::SnapshotId> for OffsetAndEpoch {
    fn from(id: crate::metadata::SnapshotId) -> Self {
        Self { offset: id.end_offset, epoch: id.epoch }
    }
}

impl From<OffsetAndEpoch> for crate::metadata::SnapshotId {
    fn from(id: OffsetAndEpoch) -> Self {
        Self { end_offset: id.offset, epoch: id.epoch }
    }
}

/// One batch's place in the log: what the state machine needs to know of records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchHeader {
    /// The batch's first offset.
    pub base_offset: i64,
    /// The batch's last offset.
    pub last_offset: i64,
    /// The leader epoch the batch was appended in.
    pub epoch: i32,
}

/// Records a fetch response carries: the driver's bytes and the batches' headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Records<R> {
    /// The batches, in offset order.
    pub batches: Vec<BatchHeader>,
    /// The records themselves, opaque to the state machine.
    pub data: R,
}

/// What a leader's fetch response returns, for the driver to read from its log: the batches
/// from `start` up to at most `end` (the log end when the answer was decided).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogRange {
    /// The fetch offset.
    pub start: i64,
    /// The log end offset.
    pub end: i64,
}

/// The Raft RPCs' requests, with the fields Kafka's Vote, BeginQuorumEpoch, EndQuorumEpoch
/// and Fetch carry for the metadata partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Vote (API 52); `pre_vote` from v2 (KIP-996).
    Vote {
        /// The epoch the candidate stands in.
        candidate_epoch: i32,
        /// The candidate.
        candidate_id: i32,
        /// The epoch of the candidate's last batch.
        last_offset_epoch: i32,
        /// The candidate's log end offset.
        last_offset: i64,
        /// A pre-vote: would the voter grant a vote, without it changing anything.
        pre_vote: bool,
    },
    /// BeginQuorumEpoch (API 53): a new leader announces itself.
    BeginQuorumEpoch {
        /// The leader's epoch.
        leader_epoch: i32,
        /// The leader.
        leader_id: i32,
    },
    /// EndQuorumEpoch (API 54): a leader resigns.
    EndQuorumEpoch {
        /// The resigning leader's epoch.
        leader_epoch: i32,
        /// The resigning leader.
        leader_id: i32,
        /// The voters it prefers as successors, the best first.
        preferred_successors: Vec<i32>,
    },
    /// Fetch (API 1) of `__cluster_metadata-0`.
    Fetch {
        /// The fetching replica.
        replica_id: i32,
        /// The epoch the fetcher believes current.
        current_leader_epoch: i32,
        /// The fetcher's log end offset.
        fetch_offset: i64,
        /// The epoch of the fetcher's last batch.
        last_fetched_epoch: i32,
        /// How long the leader may hold the fetch when it has nothing new.
        max_wait_ms: u64,
    },
    /// FetchSnapshot (API 59, KIP-630): a chunk of the leader's snapshot `snapshot_id` from
    /// `position`. Sent by a follower the leader told to fetch it; answered by the driver from
    /// its snapshot files (`handlers/fetch_snapshot.rs`), the epoch checked by
    /// [`RaftClient::leader_only_request_error`].
    FetchSnapshot {
        /// The fetching replica.
        replica_id: i32,
        /// The epoch the fetcher believes current.
        current_leader_epoch: i32,
        /// The snapshot.
        snapshot_id: OffsetAndEpoch,
        /// Where in the snapshot the chunk starts (bytes on the wire).
        position: u64,
    },
}

/// The Raft RPCs' responses. `T` is what a fetch response carries: a [`LogRange`] to read
/// going out, [`Records`] coming in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response<T> {
    /// Answers Vote.
    Vote {
        /// The partition's error.
        error: Option<ResponseError>,
        /// The responder's epoch.
        leader_epoch: i32,
        /// The leader the responder knows in its epoch.
        leader_id: Option<i32>,
        /// Whether the vote (or pre-vote) is granted.
        vote_granted: bool,
    },
    /// Answers BeginQuorumEpoch.
    BeginQuorumEpoch {
        /// The partition's error.
        error: Option<ResponseError>,
        /// The responder's epoch.
        leader_epoch: i32,
        /// The leader the responder knows.
        leader_id: Option<i32>,
    },
    /// Answers EndQuorumEpoch.
    EndQuorumEpoch {
        /// The partition's error.
        error: Option<ResponseError>,
        /// The responder's epoch.
        leader_epoch: i32,
        /// The leader the responder knows.
        leader_id: Option<i32>,
    },
    /// Answers Fetch.
    Fetch {
        /// The partition's error.
        error: Option<ResponseError>,
        /// The responder's epoch.
        leader_epoch: i32,
        /// The leader the responder knows.
        leader_id: Option<i32>,
        /// The leader's high watermark (-1 unknown).
        high_watermark: i64,
        /// Where the fetcher's log diverges from the leader's (KIP-595's DivergingEpoch).
        diverging_epoch: Option<OffsetAndEpoch>,
        /// The snapshot to fetch instead of the log: the fetcher is below the leader's log
        /// start (KIP-630's SnapshotId).
        snapshot_id: Option<OffsetAndEpoch>,
        /// The records.
        records: Option<T>,
    },
    /// Answers FetchSnapshot.
    FetchSnapshot {
        /// The partition's error.
        error: Option<ResponseError>,
        /// The responder's epoch.
        leader_epoch: i32,
        /// The leader the responder knows.
        leader_id: Option<i32>,
        /// The snapshot the chunk is of.
        snapshot_id: OffsetAndEpoch,
        /// The snapshot's whole size.
        size: u64,
        /// Where the chunk starts.
        position: u64,
        /// How many of the snapshot's bytes (positions) the chunk holds.
        length: u64,
        /// The chunk: the snapshot's bytes from `position`, not cut at batch boundaries, so
        /// its batches are not parsed (`Records::batches` is empty).
        chunk: Option<T>,
    },
}

impl<T> Response<T> {
    /// The same response with its fetched records turned into `U` (a [`LogRange`] into the
    /// bytes it names, on the way out of a leader).
    pub fn map_records<U>(self, read: impl FnOnce(T) -> U) -> Response<U> {
        match self {
            Self::Vote { error, leader_epoch, leader_id, vote_granted } => {
                Response::Vote { error, leader_epoch, leader_id, vote_granted }
            }
            Self::BeginQuorumEpoch { error, leader_epoch, leader_id } => {
                Response::BeginQuorumEpoch { error, leader_epoch, leader_id }
            }
            Self::EndQuorumEpoch { error, leader_epoch, leader_id } => {
                Response::EndQuorumEpoch { error, leader_epoch, leader_id }
            }
            Self::Fetch {
                error,
                leader_epoch,
                leader_id,
                high_watermark,
                diverging_epoch,
                snapshot_id,
                records,
            } => {
                let records = records.map(read);
                Response::Fetch {
                    error,
                    leader_epoch,
                    leader_id,
                    high_watermark,
                    diverging_epoch,
                    snapshot_id,
                    records,
                }
            }
            Self::FetchSnapshot {
                error,
                leader_epoch,
                leader_id,
                snapshot_id,
                size,
                position,
                length,
                chunk,
            } => Response::FetchSnapshot {
                error,
                leader_epoch,
                leader_id,
                snapshot_id,
                size,
                position,
                length,
                chunk: chunk.map(read),
            },
        }
    }
}

/// What the driver must do, in order, each step durable before the next event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action<R> {
    /// Send `request` to `to`; its response comes back through
    /// [`RaftClient::handle_response`] with `request_id` (or never: requests time out).
    Send {
        /// Names the request for its response.
        request_id: u64,
        /// The destination.
        to: i32,
        /// The request.
        request: Request,
    },
    /// Answer the request the driver handed in with `token`.
    Reply {
        /// The driver's token from [`RaftClient::handle_request`].
        token: u64,
        /// The response, whose records the driver reads from its log.
        response: Response<LogRange>,
    },
    /// Write the `quorum-state` file (and sync it) before anything after this action.
    PersistElectionState(ElectionState),
    /// Append the leader-change control record (Kafka's `LeaderChangeMessage`) at `offset`.
    AppendLeaderChange {
        /// Its offset: the log end.
        offset: i64,
        /// The new leader's epoch.
        epoch: i32,
        /// The new leader.
        leader_id: i32,
    },
    /// Append the leader's own records at `base_offset`, in `epoch`.
    AppendAsLeader {
        /// The first offset: the log end.
        base_offset: i64,
        /// The records' number of offsets.
        count: i64,
        /// The leader's epoch.
        epoch: i32,
        /// The records.
        data: R,
    },
    /// Append the leader's batches, as they are, at the log end.
    AppendAsFollower(Records<R>),
    /// Remove every batch at or above `offset`.
    TruncateTo(i64),
    /// Write a chunk of the snapshot being fetched at `position` of its `.part` file (the
    /// first chunk, at 0, starts the file anew).
    AppendSnapshotChunk {
        /// The snapshot.
        snapshot_id: OffsetAndEpoch,
        /// Where the chunk goes.
        position: u64,
        /// The snapshot's bytes.
        data: R,
    },
    /// The snapshot is fetched whole: make it durable, load it as the image, and replace the
    /// log with an empty one starting at its end offset (Kafka's `truncateFullyAndStartAt`).
    LoadSnapshot(OffsetAndEpoch),
    /// The committed offset moved: everything below it is committed.
    HighWatermark(i64),
    /// The leader, as this node knows it, changed (Kafka's `handleLeaderChange`).
    LeaderChange {
        /// The epoch.
        epoch: i32,
        /// The leader, if known.
        leader_id: Option<i32>,
    },
}

/// The epoch state (Kafka's `EpochState` implementations).
#[derive(Debug)]
enum EpochState {
    Unattached {
        epoch: i32,
        leader_id: Option<i32>,
        voted_id: Option<i32>,
        election_deadline_ms: u64,
    },
    Prospective {
        epoch: i32,
        leader_id: Option<i32>,
        voted_id: Option<i32>,
        granted: BTreeSet<i32>,
        rejected: BTreeSet<i32>,
        election_deadline_ms: u64,
        retries: u32,
    },
    Candidate {
        epoch: i32,
        granted: BTreeSet<i32>,
        rejected: BTreeSet<i32>,
        election_deadline_ms: u64,
        backoff_until_ms: Option<u64>,
        retries: u32,
    },
    Leader(Box<LeaderState>),
    Follower {
        epoch: i32,
        leader_id: i32,
        fetch_deadline_ms: u64,
        has_fetched: bool,
        /// The leader's snapshot being fetched in place of the log, and the next position.
        fetching_snapshot: Option<(OffsetAndEpoch, u64)>,
    },
    Resigned {
        epoch: i32,
        election_deadline_ms: u64,
        preferred_successors: Vec<i32>,
        unacknowledged: BTreeSet<i32>,
    },
}

impl EpochState {
    fn epoch(&self) -> i32 {
        match self {
            Self::Unattached { epoch, .. }
            | Self::Prospective { epoch, .. }
            | Self::Candidate { epoch, .. }
            | Self::Follower { epoch, .. }
            | Self::Resigned { epoch, .. } => *epoch,
            Self::Leader(leader) => leader.epoch,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Self::Unattached { .. } => "Unattached",
            Self::Prospective { .. } => "Prospective",
            Self::Candidate { .. } => "Candidate",
            Self::Leader(_) => "Leader",
            Self::Follower { .. } => "Follower",
            Self::Resigned { .. } => "Resigned",
        }
    }
}

/// A request sent and not yet answered.
#[derive(Clone, Copy, Debug)]
struct InFlight {
    to: i32,
    kind: RequestKind,
    /// The state the request was sent in: a response is applied only to that state.
    generation: u64,
    deadline_ms: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RequestKind {
    Vote,
    BeginQuorumEpoch,
    EndQuorumEpoch,
    Fetch,
}

/// A fetch the leader holds until it has something new or `deadline_ms`.
#[derive(Clone, Copy, Debug)]
struct ParkedFetch {
    token: u64,
    fetch_offset: i64,
    deadline_ms: u64,
}

/// What the log holds, as far as Raft needs to know: where it starts and ends, where each
/// epoch starts (the leader-epoch cache), and its snapshots (KIP-630).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogView {
    start_offset: i64,
    end_offset: i64,
    /// (epoch, start offset), both increasing.
    epochs: Vec<(i32, i64)>,
    /// The snapshot the log starts at (Kafka's earliest snapshot): there whenever the log
    /// starts past 0, since the records below the start are only in it (SnapshotAtLogStart).
    start_snapshot: Option<OffsetAndEpoch>,
    /// The newest snapshot: what a fetcher below the log start is sent to fetch.
    latest_snapshot: Option<OffsetAndEpoch>,
}

/// Where a fetcher's log stands against the leader's (Kafka's `ValidOffsetAndEpoch`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FetchPosition {
    /// It continues the leader's log: records from the fetch offset.
    Valid,
    /// It ends differently: truncate to here (KIP-595's DivergingEpoch).
    Diverging(OffsetAndEpoch),
    /// It is below the log start: fetch this snapshot (KIP-630's SnapshotId).
    Snapshot(OffsetAndEpoch),
}

impl LogView {
    /// A log from `start_offset` to `end_offset` whose epochs start at `epochs`, without
    /// snapshots (so starting at 0; see [`with_snapshots`](Self::with_snapshots)).
    pub fn new(start_offset: i64, end_offset: i64, epochs: Vec<(i32, i64)>) -> Self {
        assert!(start_offset <= end_offset, "a log ends after it starts");
        assert!(
            epochs.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1),
            "epochs and their start offsets increase"
        );
        Self { start_offset, end_offset, epochs, start_snapshot: None, latest_snapshot: None }
    }

    /// The same log with the snapshot it starts at and its newest snapshot.
    pub fn with_snapshots(
        mut self,
        start_snapshot: Option<OffsetAndEpoch>,
        latest_snapshot: Option<OffsetAndEpoch>,
    ) -> Self {
        self.start_snapshot = start_snapshot;
        self.latest_snapshot = latest_snapshot.or(start_snapshot);
        self.check_snapshots();
        self
    }

    /// The epoch of the batch holding `offset` — of the start snapshot for the offset just
    /// below the log start —; `None` outside the log.
    pub fn epoch_at(&self, offset: i64) -> Option<i32> {
        if offset >= self.end_offset || offset < 0 {
            return None;
        }
        if offset < self.start_offset {
            let snapshot = self.start_snapshot?;
            return (offset == snapshot.offset - 1).then_some(snapshot.epoch);
        }
        self.epochs.iter().rev().find(|(_, start)| *start <= offset).map(|(epoch, _)| *epoch)
    }

    /// Each epoch with the offset it starts at, both increasing.
    pub fn epochs(&self) -> &[(i32, i64)] {
        &self.epochs
    }

    fn check_snapshots(&self) {
        if let Some(start) = self.start_snapshot {
            assert_eq!(start.offset, self.start_offset, "the start snapshot ends at the log start");
        } else {
            assert_eq!(self.start_offset, 0, "a log starting past 0 has a snapshot there");
        }
        assert!(
            self.latest_snapshot >= self.start_snapshot,
            "the newest snapshot is not older than the one at the log start"
        );
    }

    /// The first offset in the log.
    pub fn start_offset(&self) -> i64 {
        self.start_offset
    }

    /// The log end offset.
    pub fn end_offset(&self) -> i64 {
        self.end_offset
    }

    /// The snapshot the log starts at.
    pub fn start_snapshot(&self) -> Option<OffsetAndEpoch> {
        self.start_snapshot
    }

    /// The newest snapshot.
    pub fn latest_snapshot(&self) -> Option<OffsetAndEpoch> {
        self.latest_snapshot
    }

    /// The epoch of the last batch — of the snapshot the log starts at when it is empty
    /// after one — and 0 for an empty log, as Kafka's.
    pub fn last_epoch(&self) -> i32 {
        self.epochs.last().map(|e| e.0).or(self.start_snapshot.map(|s| s.epoch)).unwrap_or(0)
    }

    /// Where a fetcher at `offset` whose last batch is of `epoch` stands against this log
    /// (Kafka's `KafkaRaftLog.validateOffsetAndEpoch`): below the start snapshot — before the
    /// log start, at it in another epoch, or in an older epoch — it is sent the newest
    /// snapshot; otherwise it is valid where this log's copy of `epoch` ends at or past
    /// `offset`, and diverges elsewhere.
    pub fn validate(&self, offset: i64, epoch: i32) -> FetchPosition {
        if self.start_offset == 0 && offset == 0 && epoch == 0 {
            return FetchPosition::Valid;
        }
        if let Some(start) = self.start_snapshot {
            if offset < self.start_offset
                || (offset == self.start_offset && epoch != start.epoch)
                || epoch < start.epoch
            {
                let latest = self.latest_snapshot.expect("a start snapshot is a snapshot");
                return FetchPosition::Snapshot(latest);
            }
        }
        let end = self.end_offset_for_epoch(epoch);
        if end.epoch == epoch && end.offset >= offset {
            FetchPosition::Valid
        } else {
            FetchPosition::Diverging(OffsetAndEpoch {
                offset: end.offset.max(0),
                epoch: end.epoch.max(0),
            })
        }
    }

    /// The end of `epoch` in this log (Kafka's `LeaderEpochFileCache.endOffsetFor`): the
    /// largest epoch at most `epoch` and the offset where the next epoch starts (the log end
    /// for the last).
    pub fn end_offset_for_epoch(&self, epoch: i32) -> OffsetAndEpoch {
        let next = self.epochs.iter().position(|e| e.0 > epoch);
        let floor = match next {
            Some(0) => None,
            Some(i) => Some(self.epochs[i - 1].0),
            None => self.epochs.last().map(|e| e.0),
        };
        let offset = next.map_or(self.end_offset, |i| self.epochs[i].1);
        match (floor, self.start_snapshot) {
            (Some(floor), _) => OffsetAndEpoch { offset, epoch: floor },
            // Between the start snapshot's epoch and the log's first: it ended in the snapshot.
            (None, Some(start)) if epoch >= start.epoch => {
                OffsetAndEpoch { offset: self.start_offset, epoch: start.epoch }
            }
            // Before the first epoch this log has: nothing of it is known to match.
            (None, _) => OffsetAndEpoch { offset: offset.min(self.start_offset), epoch: -1 },
        }
    }

    /// A snapshot was written (only of committed records).
    fn snapshot_written(&mut self, id: OffsetAndEpoch) {
        assert!(id.offset <= self.end_offset, "a snapshot is of records in the log");
        self.latest_snapshot = self.latest_snapshot.max(Some(id));
    }

    /// The log was cleaned below snapshot `id` (Kafka's `deleteBeforeSnapshot`): it starts at
    /// its end offset; the epoch covering that offset starts there.
    fn start_at_snapshot(&mut self, id: OffsetAndEpoch) {
        assert!(id.offset >= self.start_offset && id.offset <= self.end_offset);
        let kept = self.epochs.iter().rposition(|e| e.1 <= id.offset);
        if let Some(kept) = kept {
            self.epochs.drain(..kept);
            self.epochs[0].1 = id.offset;
        }
        self.start_offset = id.offset;
        self.start_snapshot = Some(id);
        self.latest_snapshot = self.latest_snapshot.max(Some(id));
        self.check_snapshots();
    }

    /// The log replaced by snapshot `id`: empty, starting at its end offset.
    fn truncate_fully_and_start_at(&mut self, id: OffsetAndEpoch) {
        self.start_offset = id.offset;
        self.end_offset = id.offset;
        self.epochs.clear();
        self.start_snapshot = Some(id);
        self.latest_snapshot = Some(id);
    }

    fn append(&mut self, batch: BatchHeader) {
        assert_eq!(batch.base_offset, self.end_offset, "a batch continues the log");
        assert!(batch.last_offset >= batch.base_offset, "a batch holds an offset");
        match self.epochs.last() {
            Some(&(last, _)) if last == batch.epoch => {}
            Some(&(last, _)) => {
                assert!(batch.epoch > last, "epochs never go back in a log");
                self.epochs.push((batch.epoch, batch.base_offset));
            }
            None => self.epochs.push((batch.epoch, batch.base_offset)),
        }
        self.end_offset = batch.last_offset + 1;
    }

    fn truncate_to(&mut self, offset: i64) {
        if offset >= self.end_offset {
            return;
        }
        self.end_offset = offset.max(self.start_offset);
        self.epochs.retain(|e| e.1 < self.end_offset);
    }
}

/// Why the leader refused an append.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotLeader {
    /// The epoch this node is in.
    pub epoch: i32,
    /// The leader it knows.
    pub leader_id: Option<i32>,
}

/// One node's side of the quorum: voter or observer.
#[derive(Debug)]
pub struct RaftClient<R> {
    config: QuorumConfig,
    local_id: i32,
    voters: BTreeSet<i32>,
    rng: ChaCha8Rng,
    log: LogView,
    state: EpochState,
    /// The committed offset as this node knows it; carried across states, never back.
    high_watermark: Option<i64>,
    /// Bumped at every state transition.
    generation: u64,
    next_request_id: u64,
    in_flight: BTreeMap<u64, InFlight>,
    /// Per destination, no request before this time (after a failure).
    backoff_until_ms: BTreeMap<i32, u64>,
    parked_fetches: Vec<ParkedFetch>,
    actions: Vec<Action<R>>,
}

impl<R> RaftClient<R> {
    /// A node starting with the durable `election` state and `log`, at `now_ms`. A node that
    /// was the leader in its epoch resigns: it cannot know what it acknowledged (Kafka 4.x
    /// starts it Resigned too); one that knew a leader follows it. The only voter of a quorum
    /// stands at once and wins (Kafka's `isOnlyVoter` start). `high_watermark` is what the
    /// node knows to be committed (`None` when it cannot know: a restarted voter of several).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: QuorumConfig,
        local_id: i32,
        voters: BTreeSet<i32>,
        election: ElectionState,
        log: LogView,
        high_watermark: Option<i64>,
        now_ms: u64,
        seed: u64,
    ) -> Self {
        assert!(
            high_watermark.is_none_or(|hw| hw <= log.end_offset),
            "nothing is committed beyond the log"
        );
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let election_deadline_ms = now_ms + random_election_timeout(&config, &mut rng);
        let is_voter = voters.contains(&local_id);
        let state = match (election.leader_id, election.voted_id) {
            (Some(leader), _) if leader == local_id && is_voter => EpochState::Resigned {
                epoch: election.epoch,
                election_deadline_ms,
                preferred_successors: Vec::new(),
                unacknowledged: BTreeSet::new(),
            },
            (Some(leader), _) if leader != local_id => EpochState::Follower {
                epoch: election.epoch,
                leader_id: leader,
                fetch_deadline_ms: now_ms + config.fetch_timeout_ms,
                has_fetched: false,
                fetching_snapshot: None,
            },
            (_, voted_id) => EpochState::Unattached {
                epoch: election.epoch,
                leader_id: None,
                voted_id: voted_id.filter(|_| is_voter),
                election_deadline_ms,
            },
        };
        let mut client = Self {
            config,
            local_id,
            voters,
            rng,
            log,
            state,
            high_watermark,
            generation: 0,
            next_request_id: 0,
            in_flight: BTreeMap::new(),
            backoff_until_ms: BTreeMap::new(),
            parked_fetches: Vec::new(),
            actions: Vec::new(),
        };
        if client.voters.len() == 1 && client.is_voter() {
            client.transition_to_candidate(now_ms, 0);
        }
        client
    }

    /// The actions produced since the last call, in the order they must be applied.
    pub fn take_actions(&mut self) -> Vec<Action<R>> {
        std::mem::take(&mut self.actions)
    }

    /// The current epoch.
    pub fn epoch(&self) -> i32 {
        self.state.epoch()
    }

    /// The leader this node knows in its epoch.
    pub fn leader_id(&self) -> Option<i32> {
        match &self.state {
            EpochState::Unattached { leader_id, .. }
            | EpochState::Prospective { leader_id, .. } => *leader_id,
            EpochState::Follower { leader_id, .. } => Some(*leader_id),
            EpochState::Leader(_) | EpochState::Resigned { .. } => Some(self.local_id),
            EpochState::Candidate { .. } => None,
        }
    }

    /// Whether this node leads the quorum.
    pub fn is_leader(&self) -> bool {
        matches!(self.state, EpochState::Leader(_))
    }

    /// Whether this node leads and has committed its epoch's first record — and so every
    /// record an earlier leader left in its log: only then does the log hold nothing the
    /// controller has not applied, and may it compute new records (as Kafka's controller
    /// claims its leadership once the log is committed up to the epoch's start).
    pub fn is_leader_with_committed_epoch(&self) -> bool {
        match &self.state {
            EpochState::Leader(leader) => {
                self.high_watermark.is_some_and(|hw| hw > leader.epoch_start_offset)
            }
            _ => false,
        }
    }

    /// The state's name, as Kafka logs it (`Leader`, `Follower`, …).
    pub fn state_name(&self) -> &'static str {
        self.state.name()
    }

    /// The committed offset, if known.
    pub fn high_watermark(&self) -> Option<i64> {
        self.high_watermark
    }

    /// The log as the state machine sees it.
    pub fn log(&self) -> &LogView {
        &self.log
    }

    /// The leader's view of its replicas, on the leader.
    pub fn leader_state(&self) -> Option<&LeaderState> {
        match &self.state {
            EpochState::Leader(leader) => Some(leader),
            _ => None,
        }
    }

    fn is_voter(&self) -> bool {
        self.voters.contains(&self.local_id)
    }

    fn majority(&self) -> usize {
        self.voters.len() / 2 + 1
    }

    /// The earliest time [`poll`](Self::poll) has something to do.
    pub fn next_deadline_ms(&self) -> u64 {
        let state_deadline = match &self.state {
            EpochState::Unattached { election_deadline_ms, .. }
            | EpochState::Prospective { election_deadline_ms, .. }
            | EpochState::Resigned { election_deadline_ms, .. } => *election_deadline_ms,
            EpochState::Candidate { election_deadline_ms, backoff_until_ms, .. } => {
                backoff_until_ms.unwrap_or(*election_deadline_ms)
            }
            EpochState::Leader(leader) => leader.check_quorum_deadline_ms(),
            EpochState::Follower { fetch_deadline_ms, .. } => *fetch_deadline_ms,
        };
        let requests = self.in_flight.values().map(|r| r.deadline_ms);
        let parked = self.parked_fetches.iter().map(|p| p.deadline_ms);
        let backoffs = self.backoff_until_ms.values().copied();
        requests.chain(parked).chain(backoffs).fold(state_deadline, u64::min)
    }

    // ---- time ----

    /// Lets time pass: timers fire, requests time out, and requests the state calls for are
    /// sent.
    pub fn poll(&mut self, now_ms: u64) {
        self.in_flight.retain(|_, r| r.deadline_ms > now_ms);
        self.backoff_until_ms.retain(|_, until| *until > now_ms);
        self.expire_parked_fetches(now_ms);
        match &mut self.state {
            EpochState::Unattached { election_deadline_ms, .. } => {
                if self.voters.contains(&self.local_id) {
                    if now_ms >= *election_deadline_ms {
                        self.transition_to_prospective(now_ms, 0);
                    }
                } else {
                    self.observer_discover_leader(now_ms);
                }
            }
            EpochState::Prospective { election_deadline_ms, leader_id, .. } => {
                if now_ms >= *election_deadline_ms {
                    // The pre-election timed out: back to what this node knew.
                    let leader = *leader_id;
                    tracing::debug!(node = self.local_id, "pre-vote election timed out");
                    self.lose_pre_election(now_ms, leader);
                } else {
                    self.request_votes(now_ms, true);
                }
            }
            EpochState::Candidate { election_deadline_ms, backoff_until_ms, retries, .. } => {
                match *backoff_until_ms {
                    Some(until) if now_ms >= until => {
                        let retries = *retries;
                        self.transition_to_prospective(now_ms, retries);
                    }
                    Some(_) => {}
                    None if now_ms >= *election_deadline_ms => {
                        *retries += 1;
                        let backoff =
                            binary_exponential_backoff(&self.config, &mut self.rng, *retries);
                        *backoff_until_ms = Some(now_ms + backoff);
                    }
                    None => self.request_votes(now_ms, false),
                }
            }
            EpochState::Leader(leader) => {
                if leader.check_quorum_expired(now_ms) {
                    tracing::info!(
                        node = self.local_id,
                        epoch = leader.epoch,
                        "no majority of voters fetched within the check-quorum timeout; \
                         resigning the leadership"
                    );
                    self.transition_to_resigned(now_ms);
                } else {
                    self.send_begin_quorum_epoch(now_ms);
                }
            }
            EpochState::Follower { fetch_deadline_ms, .. } => {
                if now_ms >= *fetch_deadline_ms {
                    if self.voters.contains(&self.local_id) {
                        self.transition_to_prospective(now_ms, 0);
                    } else {
                        let epoch = self.state.epoch();
                        self.transition_to_unattached(now_ms, epoch, None, None);
                    }
                } else {
                    self.send_fetch(now_ms);
                }
            }
            EpochState::Resigned { election_deadline_ms, .. } => {
                if now_ms >= *election_deadline_ms {
                    self.transition_to_prospective(now_ms, 0);
                } else {
                    self.send_end_quorum_epoch(now_ms);
                }
            }
        }
    }

    /// Graceful shutdown: a leader resigns and names its successors (EndQuorumEpoch), so the
    /// quorum elects one without waiting for a timeout.
    pub fn resign(&mut self, now_ms: u64) {
        if self.is_leader() {
            self.transition_to_resigned(now_ms);
            self.send_end_quorum_epoch(now_ms);
        }
    }

    // ---- the leader's appends ----

    /// Appends `count` offsets of the leader's own records, returning their base offset, or
    /// who leads instead.
    pub fn append(&mut self, now_ms: u64, count: i64, data: R) -> Result<i64, NotLeader> {
        assert!(count > 0, "an append holds a record");
        let EpochState::Leader(leader) = &mut self.state else {
            return Err(NotLeader { epoch: self.state.epoch(), leader_id: self.leader_id() });
        };
        let epoch = leader.epoch;
        let base_offset = self.log.end_offset;
        self.log.append(BatchHeader { base_offset, last_offset: base_offset + count - 1, epoch });
        leader.update_local_end_offset(now_ms, self.log.end_offset);
        self.actions.push(Action::AppendAsLeader { base_offset, count, epoch, data });
        self.maybe_advance_high_watermark();
        self.complete_parked_fetches();
        Ok(base_offset)
    }

    // ---- requests ----

    /// A request from `from`, to be answered with a [`Action::Reply`] carrying `token` — now,
    /// or for a fetch the leader has nothing for, within its wait.
    pub fn handle_request(&mut self, now_ms: u64, from: i32, token: u64, request: Request) {
        match request {
            Request::Vote {
                candidate_epoch,
                candidate_id,
                last_offset_epoch,
                last_offset,
                pre_vote,
            } => self.handle_vote(
                now_ms,
                token,
                candidate_epoch,
                candidate_id,
                OffsetAndEpoch { offset: last_offset, epoch: last_offset_epoch },
                pre_vote,
            ),
            Request::BeginQuorumEpoch { leader_epoch, leader_id } => {
                self.handle_begin_quorum_epoch(now_ms, token, leader_epoch, leader_id)
            }
            Request::EndQuorumEpoch { leader_epoch, leader_id, preferred_successors } => self
                .handle_end_quorum_epoch(
                    now_ms,
                    token,
                    leader_epoch,
                    leader_id,
                    &preferred_successors,
                ),
            Request::Fetch {
                replica_id,
                current_leader_epoch,
                fetch_offset,
                last_fetched_epoch,
                max_wait_ms,
            } => {
                debug_assert_eq!(replica_id, from, "a replica fetches for itself");
                self.handle_fetch(
                    now_ms,
                    token,
                    replica_id,
                    current_leader_epoch,
                    fetch_offset,
                    last_fetched_epoch,
                    max_wait_ms,
                )
            }
            Request::FetchSnapshot { .. } => {
                // The driver answers it from its snapshot files; it never reaches here.
                tracing::warn!(
                    node = self.local_id,
                    from,
                    "a FetchSnapshot reached the state machine; ignored"
                );
            }
        }
    }

    fn reply(&mut self, token: u64, response: Response<LogRange>) {
        self.actions.push(Action::Reply { token, response });
    }

    /// Kafka's `validateVoterOnlyRequest`: a stale epoch is fenced; a request from or to a
    /// node outside the voter set is an inconsistent voter set.
    fn validate_voter_only_request(&self, remote_id: i32, epoch: i32) -> Option<ResponseError> {
        if epoch < self.state.epoch() {
            Some(ResponseError::FencedLeaderEpoch)
        } else if !self.is_voter() || !self.voters.contains(&remote_id) {
            Some(ResponseError::InconsistentVoterSet)
        } else {
            None
        }
    }

    fn handle_vote(
        &mut self,
        now_ms: u64,
        token: u64,
        candidate_epoch: i32,
        candidate_id: i32,
        candidate_end: OffsetAndEpoch,
        pre_vote: bool,
    ) {
        if let Some(error) = self.validate_voter_only_request(candidate_id, candidate_epoch) {
            let response = self.vote_response(Some(error), false);
            return self.reply(token, response);
        }
        // A real vote at a higher epoch moves this node to it; a pre-vote changes nothing.
        if !pre_vote && candidate_epoch > self.state.epoch() {
            self.transition_to_unattached(now_ms, candidate_epoch, None, None);
        }
        let local_end =
            OffsetAndEpoch { offset: self.log.end_offset, epoch: self.log.last_epoch() };
        // KIP-595: the candidate's log is at least as up to date as ours.
        let up_to_date =
            (candidate_end.epoch, candidate_end.offset) >= (local_end.epoch, local_end.offset);
        let granted = self.can_grant_vote(candidate_id, up_to_date, pre_vote);
        if granted && !pre_vote {
            if let EpochState::Unattached { epoch, voted_id: None, .. } = self.state {
                // The vote is durable before it is answered: a voter votes once per epoch.
                self.transition_to_unattached(now_ms, epoch, None, Some(candidate_id));
            }
        }
        tracing::debug!(
            node = self.local_id,
            candidate = candidate_id,
            candidate_epoch,
            pre_vote,
            granted,
            state = self.state.name(),
            "vote request"
        );
        let response = self.vote_response(None, granted);
        self.reply(token, response);
    }

    /// Each state's `canGrantVote`.
    fn can_grant_vote(&self, candidate: i32, up_to_date: bool, pre_vote: bool) -> bool {
        #[cfg(test)]
        if self.config.fault == Some(Fault::VoteTwice) && !pre_vote && !self.is_leader() {
            // The candidate's epoch is this node's by now (a newer one moved it there).
            return up_to_date;
        }
        match &self.state {
            EpochState::Unattached { voted_id, leader_id, .. } => {
                if pre_vote {
                    up_to_date
                } else if let Some(voted) = voted_id {
                    *voted == candidate
                } else {
                    leader_id.is_none() && up_to_date
                }
            }
            EpochState::Prospective { voted_id, leader_id, .. } => {
                if pre_vote {
                    up_to_date
                } else if let Some(voted) = voted_id {
                    *voted == candidate
                } else {
                    leader_id.is_none() && up_to_date
                }
            }
            // A candidate voted for itself; it may still say it would vote (pre-vote).
            EpochState::Candidate { .. } => pre_vote && up_to_date,
            // A follower that hears from its leader keeps it: no pre-vote for another.
            EpochState::Follower { has_fetched, .. } => pre_vote && !has_fetched && up_to_date,
            EpochState::Leader(_) => false,
            EpochState::Resigned { .. } => pre_vote && up_to_date,
        }
    }

    fn vote_response(
        &self,
        error: Option<ResponseError>,
        vote_granted: bool,
    ) -> Response<LogRange> {
        Response::Vote {
            error,
            leader_epoch: self.state.epoch(),
            leader_id: self.leader_id(),
            vote_granted,
        }
    }

    fn handle_begin_quorum_epoch(
        &mut self,
        now_ms: u64,
        token: u64,
        leader_epoch: i32,
        leader_id: i32,
    ) {
        let error = self.validate_voter_only_request(leader_id, leader_epoch);
        if error.is_none() {
            self.learn_leader(now_ms, leader_epoch, Some(leader_id));
        }
        let response = Response::BeginQuorumEpoch {
            error,
            leader_epoch: self.state.epoch(),
            leader_id: self.leader_id(),
        };
        self.reply(token, response);
    }

    fn handle_end_quorum_epoch(
        &mut self,
        now_ms: u64,
        token: u64,
        leader_epoch: i32,
        leader_id: i32,
        preferred_successors: &[i32],
    ) {
        let error = self.validate_voter_only_request(leader_id, leader_epoch);
        if error.is_none() {
            if leader_epoch > self.state.epoch() {
                // The leader of a newer epoch resigned: no leader is known there.
                self.transition_to_unattached(now_ms, leader_epoch, None, None);
            }
            // A preferred successor stands soon, the best first (Kafka's
            // `strictExponentialElectionBackoffMs`); the others wait their fetch timeout.
            let position = preferred_successors.iter().position(|&id| id == self.local_id);
            let wait = position.map(|p| self.strict_exponential_backoff(p));
            match &mut self.state {
                EpochState::Follower { leader_id: followed, fetch_deadline_ms, .. }
                    if *followed == leader_id =>
                {
                    if let Some(wait) = wait {
                        *fetch_deadline_ms = (*fetch_deadline_ms).min(now_ms + wait);
                    }
                }
                EpochState::Unattached { election_deadline_ms, .. } => {
                    if let Some(wait) = wait {
                        *election_deadline_ms = (*election_deadline_ms).min(now_ms + wait);
                    }
                }
                _ => {}
            }
        }
        let response = Response::EndQuorumEpoch {
            error,
            leader_epoch: self.state.epoch(),
            leader_id: self.leader_id(),
        };
        self.reply(token, response);
    }

    fn strict_exponential_backoff(&self, position: usize) -> u64 {
        if position == 0 {
            0
        } else {
            (RETRY_BACKOFF_BASE_MS << (position - 1).min(20))
                .min(self.config.election_backoff_max_ms)
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn handle_fetch(
        &mut self,
        now_ms: u64,
        token: u64,
        replica_id: i32,
        current_leader_epoch: i32,
        fetch_offset: i64,
        last_fetched_epoch: i32,
        max_wait_ms: u64,
    ) {
        let epoch = self.state.epoch();
        let error = self
            .leader_only_request_error(current_leader_epoch)
            .or((fetch_offset < 0 || last_fetched_epoch < 0 || last_fetched_epoch > epoch)
                .then_some(ResponseError::InvalidRequest));
        if let Some(error) = error {
            let response = self.fetch_response(Some(error), None, None, None);
            return self.reply(token, response);
        }
        // KIP-595: does the fetcher's log end where ours has its epoch? KIP-630: is it below
        // our log start, so only a snapshot brings it up?
        let position = self.log.validate(fetch_offset, last_fetched_epoch);
        #[cfg(test)]
        let position = match position {
            FetchPosition::Snapshot(_) if self.config.fault == Some(Fault::ServeLogBelowStart) => {
                FetchPosition::Valid
            }
            other => other,
        };
        match position {
            FetchPosition::Valid => {}
            FetchPosition::Diverging(diverging) => {
                let response = self.fetch_response(None, Some(diverging), None, None);
                return self.reply(token, response);
            }
            FetchPosition::Snapshot(snapshot) => {
                let response = self.fetch_response(None, None, Some(snapshot), None);
                return self.reply(token, response);
            }
        }
        let leader_end = self.log.end_offset;
        if let EpochState::Leader(leader) = &mut self.state {
            leader.record_fetch(now_ms, replica_id, fetch_offset, leader_end);
        }
        self.maybe_advance_high_watermark();
        if fetch_offset < leader_end || max_wait_ms == 0 {
            let records = (fetch_offset < leader_end)
                .then_some(LogRange { start: fetch_offset, end: leader_end });
            let response = self.fetch_response(None, None, None, records);
            self.reply(token, response);
        } else {
            self.parked_fetches.push(ParkedFetch {
                token,
                fetch_offset,
                deadline_ms: now_ms + max_wait_ms,
            });
        }
    }

    /// Kafka's `validateLeaderOnlyRequest`, for a request in `current_leader_epoch` that only
    /// the leader answers (Fetch, FetchSnapshot): an older epoch is fenced, a newer one
    /// unknown, and a node that does not lead says so.
    pub fn leader_only_request_error(&self, current_leader_epoch: i32) -> Option<ResponseError> {
        let epoch = self.state.epoch();
        if current_leader_epoch < epoch {
            Some(ResponseError::FencedLeaderEpoch)
        } else if current_leader_epoch > epoch {
            Some(ResponseError::UnknownLeaderEpoch)
        } else if !self.is_leader() {
            Some(ResponseError::NotLeaderOrFollower)
        } else {
            None
        }
    }

    fn fetch_response(
        &self,
        error: Option<ResponseError>,
        diverging_epoch: Option<OffsetAndEpoch>,
        snapshot_id: Option<OffsetAndEpoch>,
        records: Option<LogRange>,
    ) -> Response<LogRange> {
        Response::Fetch {
            error,
            leader_epoch: self.state.epoch(),
            leader_id: self.leader_id(),
            high_watermark: self.high_watermark.unwrap_or(-1),
            diverging_epoch,
            snapshot_id,
            records,
        }
    }

    /// Answers held fetches that now have records or a newer high watermark.
    fn complete_parked_fetches(&mut self) {
        let end = self.log.end_offset;
        let parked = std::mem::take(&mut self.parked_fetches);
        for fetch in parked {
            let records =
                (fetch.fetch_offset < end).then_some(LogRange { start: fetch.fetch_offset, end });
            let response = self.fetch_response(None, None, None, records);
            self.reply(fetch.token, response);
        }
    }

    fn expire_parked_fetches(&mut self, now_ms: u64) {
        let (due, waiting): (Vec<_>, Vec<_>) =
            self.parked_fetches.drain(..).partition(|p| p.deadline_ms <= now_ms);
        self.parked_fetches = waiting;
        for fetch in due {
            let response = self.fetch_response(None, None, None, None);
            self.reply(fetch.token, response);
        }
    }

    /// Leaving the leadership: held fetches are told who leads now.
    fn release_parked_fetches(&mut self) {
        let parked = std::mem::take(&mut self.parked_fetches);
        for fetch in parked {
            let response =
                self.fetch_response(Some(ResponseError::NotLeaderOrFollower), None, None, None);
            self.reply(fetch.token, response);
        }
    }

    fn maybe_advance_high_watermark(&mut self) {
        let EpochState::Leader(leader) = &self.state else { return };
        // Test-only fault, in the unit simulation (`Fault`) and, built with the
        // `fault-commit-without-majority` feature, in the turmoil cluster simulator.
        #[cfg(test)]
        let commit_alone = self.config.fault == Some(Fault::HighWatermarkOnLeaderEndOffset);
        #[cfg(not(test))]
        let commit_alone = false;
        if commit_alone || cfg!(feature = "fault-commit-without-majority") {
            let end = self.log.end_offset;
            if self.high_watermark.is_none_or(|hw| end > hw) {
                self.set_high_watermark(end);
                self.complete_parked_fetches();
            }
            return;
        }
        if let Some(hw) = leader.next_high_watermark(self.high_watermark) {
            self.set_high_watermark(hw);
            self.complete_parked_fetches();
        }
    }

    fn set_high_watermark(&mut self, hw: i64) {
        debug_assert!(
            self.high_watermark.is_none_or(|current| hw > current),
            "the high watermark only moves forward"
        );
        debug_assert!(hw <= self.log.end_offset, "nothing is committed beyond the log");
        self.high_watermark = Some(hw);
        self.actions.push(Action::HighWatermark(hw));
    }

    // ---- responses ----

    /// The response to the request this node sent as `request_id`, from `from`. A response
    /// nobody waits for any more (timed out, or sent in an earlier state) is dropped.
    pub fn handle_response(
        &mut self,
        now_ms: u64,
        request_id: u64,
        from: i32,
        response: Response<Records<R>>,
    ) {
        let Some(sent) = self.in_flight.remove(&request_id) else { return };
        debug_assert_eq!(sent.to, from, "a response comes from where its request went");
        let (error, epoch, leader) = match &response {
            Response::Vote { error, leader_epoch, leader_id, .. }
            | Response::BeginQuorumEpoch { error, leader_epoch, leader_id }
            | Response::EndQuorumEpoch { error, leader_epoch, leader_id }
            | Response::Fetch { error, leader_epoch, leader_id, .. }
            | Response::FetchSnapshot { error, leader_epoch, leader_id, .. } => {
                (*error, *leader_epoch, *leader_id)
            }
        };
        // Kafka's `maybeHandleCommonResponse`: a newer epoch or leader wins over the answer.
        if epoch > self.state.epoch()
            || (epoch == self.state.epoch() && leader.is_some() && self.leader_id().is_none())
        {
            self.learn_leader(now_ms, epoch, leader);
            return;
        }
        if sent.generation != self.generation {
            return;
        }
        if let Some(error) = error {
            tracing::debug!(node = self.local_id, from, ?error, kind = ?sent.kind, "raft request failed");
            self.backoff_until_ms.insert(from, now_ms + self.config.retry_backoff_ms);
            return;
        }
        match response {
            Response::Vote { vote_granted, .. } => {
                self.handle_vote_response(now_ms, from, vote_granted)
            }
            Response::BeginQuorumEpoch { .. } => {
                if let EpochState::Leader(leader) = &mut self.state {
                    leader.acknowledged.insert(from);
                }
            }
            Response::EndQuorumEpoch { .. } => {
                if let EpochState::Resigned { unacknowledged, .. } = &mut self.state {
                    unacknowledged.remove(&from);
                }
            }
            Response::Fetch { high_watermark, diverging_epoch, snapshot_id, records, .. } => self
                .handle_fetch_response(
                    now_ms,
                    high_watermark,
                    diverging_epoch,
                    snapshot_id,
                    records,
                ),
            Response::FetchSnapshot { snapshot_id, size, position, length, chunk, .. } => self
                .handle_fetch_snapshot_response(now_ms, snapshot_id, size, position, length, chunk),
        }
    }

    /// The request sent as `request_id` got no answer (the connection failed, or the answer did
    /// not decode): it is given up now rather than at its timeout, and its destination is
    /// backed off for `controller.quorum.retry.backoff.ms`, as Kafka's `NetworkClient` reports
    /// a disconnect.
    pub fn handle_send_failure(&mut self, now_ms: u64, request_id: u64) {
        let Some(sent) = self.in_flight.remove(&request_id) else { return };
        self.backoff_until_ms.insert(sent.to, now_ms + self.config.retry_backoff_ms);
    }

    fn handle_vote_response(&mut self, now_ms: u64, from: i32, granted: bool) {
        let majority = self.majority();
        let voters = self.voters.len();
        match &mut self.state {
            EpochState::Prospective { granted: yes, rejected: no, leader_id, retries, .. } => {
                if granted {
                    yes.insert(from)
                } else {
                    no.insert(from)
                };
                if yes.len() >= majority {
                    let retries = *retries;
                    self.transition_to_candidate(now_ms, retries);
                } else if no.len() > voters - majority {
                    let leader = *leader_id;
                    self.lose_pre_election(now_ms, leader);
                }
            }
            EpochState::Candidate {
                granted: yes, rejected: no, backoff_until_ms, retries, ..
            } => {
                if granted {
                    yes.insert(from)
                } else {
                    no.insert(from)
                };
                if yes.len() >= majority {
                    self.transition_to_leader(now_ms);
                } else if no.len() > voters - majority && backoff_until_ms.is_none() {
                    *retries += 1;
                    let backoff = binary_exponential_backoff(&self.config, &mut self.rng, *retries);
                    *backoff_until_ms = Some(now_ms + backoff);
                }
            }
            _ => {}
        }
    }

    fn handle_fetch_response(
        &mut self,
        now_ms: u64,
        leader_high_watermark: i64,
        diverging_epoch: Option<OffsetAndEpoch>,
        snapshot_id: Option<OffsetAndEpoch>,
        records: Option<Records<R>>,
    ) {
        let EpochState::Follower {
            epoch, fetch_deadline_ms, has_fetched, fetching_snapshot, ..
        } = &mut self.state
        else {
            return;
        };
        let epoch = *epoch;
        *fetch_deadline_ms = now_ms + self.config.fetch_timeout_ms;
        *has_fetched = true;
        if let Some(snapshot) = snapshot_id {
            // KIP-630: this log ends below the leader's start; its snapshot replaces it. Not
            // checked against this log: it is of offsets past its end.
            tracing::info!(
                node = self.local_id,
                log_end_offset = self.log.end_offset,
                ?snapshot,
                "below the leader's log start: fetching its snapshot"
            );
            *fetching_snapshot = Some((snapshot, 0));
            return;
        }
        if let Some(diverging) = diverging_epoch {
            // Kafka's `truncateToEndOffset`: to where our copy of that epoch ends, if earlier.
            let local = self.log.end_offset_for_epoch(diverging.epoch);
            let offset = if local.epoch == diverging.epoch {
                local.offset.min(diverging.offset)
            } else {
                local.offset
            };
            if self.high_watermark.is_some_and(|hw| offset < hw) {
                tracing::error!(
                    node = self.local_id,
                    offset,
                    high_watermark = ?self.high_watermark,
                    "the leader asks to truncate committed records; refusing"
                );
                return;
            }
            tracing::info!(
                node = self.local_id,
                offset,
                ?diverging,
                "truncating a diverging log tail"
            );
            self.log.truncate_to(offset);
            self.actions.push(Action::TruncateTo(offset));
            return;
        }
        if let Some(records) = records {
            let mut expected = self.log.end_offset;
            let mut last_epoch = self.log.last_epoch();
            let continues = !records.batches.is_empty()
                && records.batches.iter().all(|b| {
                    let ok = b.base_offset == expected
                        && b.last_offset >= b.base_offset
                        && b.epoch >= last_epoch
                        && b.epoch <= epoch;
                    expected = b.last_offset + 1;
                    last_epoch = b.epoch;
                    ok
                });
            if !continues {
                tracing::warn!(
                    node = self.local_id,
                    log_end_offset = self.log.end_offset,
                    "the leader's batches do not continue the log; fetching again"
                );
                return;
            }
            for batch in &records.batches {
                self.log.append(*batch);
            }
            self.actions.push(Action::AppendAsFollower(records));
        }
        if leader_high_watermark >= 0 {
            let hw = leader_high_watermark.min(self.log.end_offset);
            if self.high_watermark.is_none_or(|current| hw > current) {
                self.set_high_watermark(hw);
            }
        }
    }

    /// A chunk of the snapshot this follower fetches (Kafka's `handleFetchSnapshotResponse`):
    /// written where the download stands; the last one loads the snapshot in place of the log.
    fn handle_fetch_snapshot_response(
        &mut self,
        now_ms: u64,
        snapshot_id: OffsetAndEpoch,
        size: u64,
        position: u64,
        length: u64,
        chunk: Option<Records<R>>,
    ) {
        let EpochState::Follower { fetch_deadline_ms, fetching_snapshot, .. } = &mut self.state
        else {
            return;
        };
        let Some((fetching, next)) = *fetching_snapshot else { return };
        *fetch_deadline_ms = now_ms + self.config.fetch_timeout_ms;
        let Some(chunk) = chunk else { return };
        if snapshot_id != fetching || position != next || length == 0 || position + length > size {
            tracing::warn!(
                node = self.local_id,
                ?snapshot_id,
                position,
                length,
                size,
                expected = ?(fetching, next),
                "a snapshot chunk that does not continue the download; fetching again"
            );
            return;
        }
        self.actions.push(Action::AppendSnapshotChunk { snapshot_id, position, data: chunk.data });
        if position + length < size {
            *fetching_snapshot = Some((fetching, position + length));
            return;
        }
        *fetching_snapshot = None;
        // Kafka's `truncateToLatestSnapshot`: the snapshot is past this log.
        let past = snapshot_id.epoch > self.log.last_epoch()
            || (snapshot_id.epoch == self.log.last_epoch()
                && snapshot_id.offset > self.log.end_offset);
        if !past {
            tracing::warn!(
                node = self.local_id,
                ?snapshot_id,
                log_end_offset = self.log.end_offset,
                "a fetched snapshot not past this log is not loaded"
            );
            return;
        }
        tracing::info!(node = self.local_id, ?snapshot_id, size, "loading the fetched snapshot");
        self.log.truncate_fully_and_start_at(snapshot_id);
        self.actions.push(Action::LoadSnapshot(snapshot_id));
        // A snapshot holds only committed records.
        if self.high_watermark.is_none_or(|hw| snapshot_id.offset > hw) {
            self.set_high_watermark(snapshot_id.offset);
        }
    }

    /// The driver wrote snapshot `id` of committed records (Kafka's `onSnapshotFrozen`).
    pub fn snapshot_written(&mut self, id: OffsetAndEpoch) {
        assert!(
            self.high_watermark.is_some_and(|hw| id.offset <= hw),
            "a snapshot is of committed records"
        );
        self.log.snapshot_written(id);
    }

    /// The driver cleaned the log below its snapshot `id` (Kafka's `deleteBeforeSnapshot`):
    /// the log starts there now, and a fetcher below it is sent the newest snapshot.
    pub fn log_start_advanced(&mut self, id: OffsetAndEpoch) {
        assert!(
            self.high_watermark.is_some_and(|hw| id.offset <= hw),
            "only committed records are cleaned"
        );
        self.log.start_at_snapshot(id);
    }

    // ---- outgoing requests ----

    fn send(&mut self, now_ms: u64, to: i32, kind: RequestKind, request: Request) {
        let request_id = self.next_request_id;
        self.next_request_id += 1;
        let deadline_ms = now_ms
            + self.config.request_timeout_ms
            + if kind == RequestKind::Fetch { self.config.fetch_max_wait_ms } else { 0 };
        self.in_flight
            .insert(request_id, InFlight { to, kind, generation: self.generation, deadline_ms });
        self.actions.push(Action::Send { request_id, to, request });
    }

    fn can_send(&self, to: i32, kind: RequestKind) -> bool {
        !self.backoff_until_ms.contains_key(&to)
            && !self
                .in_flight
                .values()
                .any(|r| r.to == to && r.kind == kind && r.generation == self.generation)
    }

    fn request_votes(&mut self, now_ms: u64, pre_vote: bool) {
        let (epoch, asked): (i32, BTreeSet<i32>) = match &self.state {
            EpochState::Prospective { epoch, granted, rejected, .. } => {
                (epoch + 1, granted | rejected)
            }
            EpochState::Candidate { epoch, granted, rejected, .. } => (*epoch, granted | rejected),
            _ => return,
        };
        let request = Request::Vote {
            candidate_epoch: epoch,
            candidate_id: self.local_id,
            last_offset_epoch: self.log.last_epoch(),
            last_offset: self.log.end_offset,
            pre_vote,
        };
        let voters: Vec<i32> = self.voters.iter().copied().filter(|v| !asked.contains(v)).collect();
        for voter in voters {
            if self.can_send(voter, RequestKind::Vote) {
                self.send(now_ms, voter, RequestKind::Vote, request.clone());
            }
        }
    }

    fn send_begin_quorum_epoch(&mut self, now_ms: u64) {
        let EpochState::Leader(leader) = &self.state else { return };
        let request =
            Request::BeginQuorumEpoch { leader_epoch: leader.epoch, leader_id: self.local_id };
        let waiting: Vec<i32> =
            self.voters.iter().copied().filter(|v| !leader.acknowledged.contains(v)).collect();
        for voter in waiting {
            if self.can_send(voter, RequestKind::BeginQuorumEpoch) {
                self.send(now_ms, voter, RequestKind::BeginQuorumEpoch, request.clone());
            }
        }
    }

    fn send_end_quorum_epoch(&mut self, now_ms: u64) {
        let EpochState::Resigned { epoch, preferred_successors, unacknowledged, .. } = &self.state
        else {
            return;
        };
        let request = Request::EndQuorumEpoch {
            leader_epoch: *epoch,
            leader_id: self.local_id,
            preferred_successors: preferred_successors.clone(),
        };
        let waiting: Vec<i32> = unacknowledged.iter().copied().collect();
        for voter in waiting {
            if self.can_send(voter, RequestKind::EndQuorumEpoch) {
                self.send(now_ms, voter, RequestKind::EndQuorumEpoch, request.clone());
            }
        }
    }

    fn send_fetch(&mut self, now_ms: u64) {
        let EpochState::Follower { epoch, leader_id, fetching_snapshot, .. } = self.state else {
            return;
        };
        if self.can_send(leader_id, RequestKind::Fetch) {
            let request = match fetching_snapshot {
                Some((snapshot_id, position)) => Request::FetchSnapshot {
                    replica_id: self.local_id,
                    current_leader_epoch: epoch,
                    snapshot_id,
                    position,
                },
                None => self.fetch_request(epoch),
            };
            self.send(now_ms, leader_id, RequestKind::Fetch, request);
        }
    }

    fn fetch_request(&self, epoch: i32) -> Request {
        Request::Fetch {
            replica_id: self.local_id,
            current_leader_epoch: epoch,
            fetch_offset: self.log.end_offset,
            last_fetched_epoch: self.log.last_epoch(),
            max_wait_ms: self.config.fetch_max_wait_ms,
        }
    }

    /// An observer without a leader asks a random voter (Kafka fetches from a random bootstrap
    /// server); the answer names the leader.
    fn observer_discover_leader(&mut self, now_ms: u64) {
        if self.in_flight.values().any(|r| r.kind == RequestKind::Fetch) {
            return;
        }
        let voters: Vec<i32> = self
            .voters
            .iter()
            .copied()
            .filter(|v| !self.backoff_until_ms.contains_key(v))
            .collect();
        if voters.is_empty() {
            return;
        }
        let voter = voters[self.rng.gen_range(0..voters.len())];
        let request = self.fetch_request(self.state.epoch());
        self.send(now_ms, voter, RequestKind::Fetch, request);
    }

    // ---- transitions ----

    /// A message named a leader (or a newer epoch): follow it, or wait unattached in that epoch.
    fn learn_leader(&mut self, now_ms: u64, epoch: i32, leader_id: Option<i32>) {
        let current = self.state.epoch();
        if epoch < current {
            return;
        }
        match leader_id {
            Some(leader) if leader == self.local_id => {
                // Only this node leads in its own epoch; a peer repeating it changes nothing.
            }
            Some(leader) => {
                let already = matches!(self.state, EpochState::Follower { epoch: e, leader_id: l, .. } if e == epoch && l == leader);
                if !(already || epoch == current && self.is_leader()) {
                    self.transition_to_follower(now_ms, epoch, leader);
                }
            }
            None if epoch > current => self.transition_to_unattached(now_ms, epoch, None, None),
            None => {}
        }
    }

    fn change_state(&mut self, state: EpochState) {
        let leaving_leadership = self.is_leader();
        let old_epoch = self.state.epoch();
        let old_leader = self.leader_id();
        tracing::debug!(
            node = self.local_id,
            from = self.state.name(),
            to = state.name(),
            epoch = state.epoch(),
            "raft state transition"
        );
        assert!(state.epoch() >= old_epoch, "epochs never go back");
        self.state = state;
        self.generation += 1;
        if leaving_leadership {
            self.release_parked_fetches();
        }
        let (epoch, leader_id) = (self.state.epoch(), self.leader_id());
        if (epoch, leader_id) != (old_epoch, old_leader) {
            self.actions.push(Action::LeaderChange { epoch, leader_id });
        }
    }

    fn persist(&mut self, epoch: i32, leader_id: Option<i32>, voted_id: Option<i32>) {
        self.actions.push(Action::PersistElectionState(ElectionState {
            epoch,
            leader_id,
            voted_id,
        }));
    }

    fn transition_to_unattached(
        &mut self,
        now_ms: u64,
        epoch: i32,
        leader_id: Option<i32>,
        voted_id: Option<i32>,
    ) {
        self.persist(epoch, leader_id, voted_id);
        let election_deadline_ms = now_ms + random_election_timeout(&self.config, &mut self.rng);
        self.change_state(EpochState::Unattached {
            epoch,
            leader_id,
            voted_id,
            election_deadline_ms,
        });
    }

    fn transition_to_follower(&mut self, now_ms: u64, epoch: i32, leader_id: i32) {
        self.persist(epoch, Some(leader_id), None);
        self.change_state(EpochState::Follower {
            epoch,
            leader_id,
            fetch_deadline_ms: now_ms + self.config.fetch_timeout_ms,
            has_fetched: false,
            fetching_snapshot: None,
        });
        self.send_fetch(now_ms);
    }

    fn transition_to_prospective(&mut self, now_ms: u64, retries: u32) {
        let (epoch, leader_id, voted_id) = match &self.state {
            EpochState::Unattached { epoch, leader_id, voted_id, .. } => {
                (*epoch, *leader_id, *voted_id)
            }
            EpochState::Follower { epoch, leader_id, .. } => (*epoch, Some(*leader_id), None),
            EpochState::Candidate { epoch, .. } => (*epoch, None, Some(self.local_id)),
            state => (state.epoch(), None, None),
        };
        let election_deadline_ms = now_ms + random_election_timeout(&self.config, &mut self.rng);
        self.change_state(EpochState::Prospective {
            epoch,
            leader_id,
            voted_id,
            granted: [self.local_id].into(),
            rejected: BTreeSet::new(),
            election_deadline_ms,
            retries,
        });
        if self.majority() == 1 {
            self.transition_to_candidate(now_ms, retries);
        } else {
            self.request_votes(now_ms, true);
        }
    }

    /// A pre-election lost or timed out: back to following the leader known in this epoch, or
    /// unattached.
    fn lose_pre_election(&mut self, now_ms: u64, leader_id: Option<i32>) {
        let epoch = self.state.epoch();
        match leader_id {
            Some(leader) if leader != self.local_id => {
                self.transition_to_follower(now_ms, epoch, leader)
            }
            _ => {
                let voted_id = match &self.state {
                    EpochState::Prospective { voted_id, .. } => *voted_id,
                    _ => None,
                };
                self.transition_to_unattached(now_ms, epoch, None, voted_id)
            }
        }
    }

    fn transition_to_candidate(&mut self, now_ms: u64, retries: u32) {
        let epoch = self.state.epoch() + 1;
        self.persist(epoch, None, Some(self.local_id));
        let election_deadline_ms = now_ms + random_election_timeout(&self.config, &mut self.rng);
        tracing::info!(node = self.local_id, epoch, "standing for election as the quorum's leader");
        self.change_state(EpochState::Candidate {
            epoch,
            granted: [self.local_id].into(),
            rejected: BTreeSet::new(),
            election_deadline_ms,
            backoff_until_ms: None,
            retries,
        });
        if self.majority() == 1 {
            self.transition_to_leader(now_ms);
        } else {
            self.request_votes(now_ms, false);
        }
    }

    fn transition_to_leader(&mut self, now_ms: u64) {
        let epoch = self.state.epoch();
        self.persist(epoch, Some(self.local_id), None);
        let epoch_start_offset = self.log.end_offset;
        let mut leader = LeaderState::new(
            now_ms,
            self.local_id,
            epoch,
            epoch_start_offset,
            &self.voters,
            self.config.fetch_timeout_ms,
        );
        tracing::info!(
            node = self.local_id,
            epoch,
            epoch_start_offset,
            "elected the quorum's leader"
        );
        // The epoch's first record: once it commits, so does everything before it.
        self.actions.push(Action::AppendLeaderChange {
            offset: epoch_start_offset,
            epoch,
            leader_id: self.local_id,
        });
        self.log.append(BatchHeader {
            base_offset: epoch_start_offset,
            last_offset: epoch_start_offset,
            epoch,
        });
        leader.update_local_end_offset(now_ms, self.log.end_offset);
        self.change_state(EpochState::Leader(Box::new(leader)));
        self.maybe_advance_high_watermark();
        self.send_begin_quorum_epoch(now_ms);
    }

    fn transition_to_resigned(&mut self, now_ms: u64) {
        let EpochState::Leader(leader) = &self.state else { return };
        let epoch = leader.epoch;
        let preferred_successors = leader.voters_by_descending_end_offset();
        let unacknowledged = preferred_successors.iter().copied().collect();
        let election_deadline_ms = now_ms + random_election_timeout(&self.config, &mut self.rng);
        self.change_state(EpochState::Resigned {
            epoch,
            election_deadline_ms,
            preferred_successors,
            unacknowledged,
        });
    }
}

/// Kafka's `randomElectionTimeoutMs`: between one and two election timeouts.
fn random_election_timeout(config: &QuorumConfig, rng: &mut ChaCha8Rng) -> u64 {
    config.election_timeout_ms + rng.gen_range(0..config.election_timeout_ms.max(1))
}

/// Kafka's `binaryExponentialElectionBackoffMs`: a random multiple of the base, up to
/// 2^retries of it, at most `controller.quorum.election.backoff.max.ms`.
fn binary_exponential_backoff(config: &QuorumConfig, rng: &mut ChaCha8Rng, retries: u32) -> u64 {
    assert!(retries > 0, "backing off follows a lost election");
    let factor = 2u64 << (retries - 1).min(20);
    (RETRY_BACKOFF_BASE_MS * rng.gen_range(0..factor)).min(config.election_backoff_max_ms)
}
