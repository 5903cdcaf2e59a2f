//! The metadata quorum's replication of `__cluster_metadata`, after Kafka's `KafkaRaftClient`:
//! [`client`] is KIP-595's state machine; [`QuorumVoter`] runs it on a voter over the metadata
//! log and the `quorum-state` file; its leader answers Fetch for the metadata log
//! ([`handle_fetch`]); brokers follow it as KRaft's observers do ([`observer`]), appending the
//! leader's batches to their own copy of the log and publishing what they change through the
//! same path as the node that wrote them.
//!
//! A sole voter (the single-node default, or the one controller of `controller.quorum.voters`)
//! stands at start and wins, one epoch per start, its leader-change record first in the epoch,
//! and a record is committed once durable in its log. Several voters elect a leader with Vote
//! and BeginQuorumEpoch and replicate by fetching from it ([`voter_network`] sends what the
//! state machine asks, [`rpc`] is its wire form); a record is committed once a majority has
//! it.

pub mod client;
pub mod election_state;
pub mod leader_state;
pub mod observer;
pub mod rpc;
#[cfg(test)]
mod simulation_tests;
pub mod voter_network;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_response::{
    EpochEndOffset, FetchableTopicResponse, LeaderIdAndEpoch, PartitionData,
};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use crate::authorizer::{AclOperation, ResourceType, CLUSTER_NAME};
use crate::broker::Broker;
use crate::error::ApiError;
use crate::handlers::RequestContext;
use crate::log::LogError;
use crate::metadata::{MetadataDelta, MetadataStore, METADATA_LOG_DIR, METADATA_TOPIC};
use crate::storage::Storage;
use client::{Action, LogRange, OffsetAndEpoch, QuorumConfig, RaftClient, Request, Response};
use election_state::{ElectionState, QUORUM_STATE_FILE};

/// `__cluster_metadata`'s topic id, fixed in every KRaft cluster (Kafka's
/// `Uuid.METADATA_TOPIC_ID`, `AAAAAAAAAAAAAAAAAAAAAQ`).
pub const METADATA_TOPIC_ID: Uuid = Uuid::from_u64_pair(0, 1);

/// Most record bytes one metadata Fetch returns (Kafka's `KafkaRaftClient.MAX_FETCH_SIZE_BYTES`).
const MAX_FETCH_SIZE_BYTES: u32 = 8 * 1024 * 1024;

/// Whether `request` fetches the metadata log: one topic, `__cluster_metadata` by name (before
/// v13) or by its fixed id.
pub fn is_metadata_fetch(request: &FetchRequest, version: i16) -> bool {
    match request.topics.as_slice() {
        [topic] if version >= 13 => topic.topic_id == METADATA_TOPIC_ID,
        [topic] => topic.topic.0.as_str() == METADATA_TOPIC,
        _ => false,
    }
}

/// The quorum leader's answer to a node fetching `__cluster_metadata` (Kafka's
/// `KafkaRaftClient.handleFetchRequest`): INCONSISTENT_CLUSTER_ID for another cluster,
/// CLUSTER_AUTHORIZATION_FAILED without ClusterAction, NOT_LEADER_OR_FOLLOWER on a node that is
/// not a voter (with the leader it knows), the diverging epoch for a fetcher whose log ends
/// differently (KIP-595), OFFSET_OUT_OF_RANGE outside the log; otherwise batches from the fetch
/// offset, waiting up to `max_wait_ms` for a new commit when there are none.
pub async fn handle_fetch(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: FetchRequest,
    version: i16,
) -> FetchResponse {
    let fail = |error: ApiError| {
        tracing::debug!(client = ctx.client_id, error = %error.message, "metadata fetch refused");
        FetchResponse::default().with_error_code(error.code())
    };
    if let Some(cluster_id) = &request.cluster_id {
        if cluster_id.as_str() != broker.cluster_id {
            return fail(ApiError::new(
                ResponseError::InconsistentClusterId,
                format!("cluster id {cluster_id} is not this cluster's {}", broker.cluster_id),
            ));
        }
    }
    if !broker.authorize(ctx, AclOperation::ClusterAction, ResourceType::Cluster, CLUSTER_NAME) {
        return fail(ApiError::new(
            ResponseError::ClusterAuthorizationFailed,
            "fetching the metadata log requires ClusterAction on the Cluster",
        ));
    }
    let topic = &request.topics[0];
    let Some(asked) = topic.partitions.first() else {
        return fail(ApiError::new(ResponseError::InvalidRequest, "no partition asked for"));
    };
    let max_bytes = (asked.partition_max_bytes.max(0) as u32).min(MAX_FETCH_SIZE_BYTES);
    // From v15 the fetcher names itself in ReplicaState, before in ReplicaId.
    let replica_id =
        if version >= 15 { request.replica_state.replica_id.0 } else { request.replica_id.0 };
    let deadline = crate::runtime::now() + Duration::from_millis(request.max_wait_ms.max(0) as u64);
    let data = loop {
        // Registered before reading, so a commit between the read and the wait is not missed.
        let committed = broker.metadata_log_moved.notified();
        tokio::pin!(committed);
        committed.as_mut().enable();
        let data = read_metadata_log(broker, replica_id, asked, max_bytes);
        let empty = data.records.as_ref().is_none_or(|r| r.is_empty());
        if !empty
            || data.error_code != 0
            || data.diverging_epoch.epoch >= 0
            || crate::runtime::now() >= deadline
        {
            break data;
        }
        // `biased`: see handlers/fetch.rs; either branch loops back to read again.
        tokio::select! {
            biased;
            _ = &mut committed => {}
            _ = crate::runtime::sleep_until(deadline) => {}
        }
    };
    let data = data.with_partition_index(asked.partition);
    let topic = FetchableTopicResponse::default()
        .with_topic(if version >= 13 {
            TopicName::default()
        } else {
            TopicName(StrBytes::from_static_str(METADATA_TOPIC))
        })
        .with_topic_id(METADATA_TOPIC_ID)
        .with_partitions(vec![data]);
    FetchResponse::default().with_responses(vec![topic])
}

/// One answer of the quorum's state machine to a fetch of the metadata log, with the batches
/// it says to return read from the log.
fn read_metadata_log(
    broker: &Broker,
    replica_id: i32,
    asked: &kafka_protocol::messages::fetch_request::FetchPartition,
    max_bytes: u32,
) -> PartitionData {
    let data = PartitionData::default().with_preferred_read_replica(BrokerId(-1));
    if !broker.is_controller() {
        return data
            .with_error_code(
                ApiError::new(
                    ResponseError::NotLeaderOrFollower,
                    format!(
                        "node {} is not a voter of the metadata quorum; its leader is node {}",
                        broker.node.node_id,
                        broker.quorum_leader_id()
                    ),
                )
                .code(),
            )
            .with_current_leader(
                LeaderIdAndEpoch::default()
                    .with_leader_id(BrokerId(broker.quorum_leader_id()))
                    .with_leader_epoch(broker.quorum_epoch()),
            );
    }
    let request = Request::Fetch {
        replica_id,
        current_leader_epoch: asked.current_leader_epoch,
        fetch_offset: asked.fetch_offset,
        last_fetched_epoch: asked.last_fetched_epoch,
        // The handler holds the fetch itself, woken by commits.
        max_wait_ms: 0,
    };
    let mut store = broker.lock_metadata();
    let response = match ask_quorum(broker, &mut store, replica_id, request) {
        Ok(response) => response,
        Err(e) => {
            tracing::error!(error = %e.message, "the metadata quorum failed a fetch");
            return data.with_error_code(e.code());
        }
    };
    let Some(Response::Fetch {
        error,
        leader_epoch,
        leader_id,
        high_watermark,
        diverging_epoch,
        snapshot_id,
        records,
    }) = response
    else {
        unreachable!("the state machine answers a fetch it does not hold");
    };
    let data = data
        .with_current_leader(
            LeaderIdAndEpoch::default()
                .with_leader_id(BrokerId(leader_id.unwrap_or(-1)))
                .with_leader_epoch(leader_epoch),
        )
        .with_high_watermark(high_watermark)
        .with_last_stable_offset(high_watermark)
        .with_log_start_offset(store.log_start_offset());
    if let Some(error) = error {
        return data.with_error_code(error.code());
    }
    if let Some(diverging) = diverging_epoch {
        let diverging =
            EpochEndOffset::default().with_epoch(diverging.epoch).with_end_offset(diverging.offset);
        return data.with_diverging_epoch(diverging).with_records(Some(Default::default()));
    }
    if let Some(snapshot) = snapshot_id {
        // KIP-630: the fetcher is below this log's start; it fetches the snapshot instead.
        let snapshot = kafka_protocol::messages::fetch_response::SnapshotId::default()
            .with_end_offset(snapshot.offset)
            .with_epoch(snapshot.epoch);
        return data.with_snapshot_id(snapshot).with_records(Some(Default::default()));
    }
    let Some(range) = records else {
        return data.with_records(Some(Default::default()));
    };
    match store.read(range.start, max_bytes) {
        Ok(records) => data.with_records(Some(records)),
        Err(e) => {
            tracing::error!(error = %e, fetch_offset = range.start, "cannot read the metadata log");
            data.with_error_code(ApiError::from(e).code())
        }
    }
}

/// A voter's part in the metadata quorum: the Raft state machine over this node's metadata
/// log, and the `quorum-state` file its elections persist to.
pub struct QuorumVoter {
    client: RaftClient<Vec<u8>>,
    voters: BTreeSet<i32>,
    started: crate::runtime::Instant,
    state_file: PathBuf,
    storage: Arc<dyn Storage>,
}

/// The quorum as its leader describes it (DescribeQuorum).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuorumDescription {
    /// The leader.
    pub leader_id: i32,
    /// Its epoch.
    pub leader_epoch: i32,
    /// The committed offset (-1 before this epoch committed anything).
    pub high_watermark: i64,
    /// The voters, in id order.
    pub voters: Vec<ReplicaDescription>,
    /// The observers (brokers) that fetched in this epoch, in id order.
    pub observers: Vec<ReplicaDescription>,
}

/// One replica of the metadata log, as the leader knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaDescription {
    /// The node.
    pub replica_id: i32,
    /// Its log end offset (-1 before its first fetch).
    pub log_end_offset: i64,
    /// When it last fetched, wall-clock ms (-1: never).
    pub last_fetch_timestamp: i64,
    /// When it was last caught up with the leader, wall-clock ms (-1: never).
    pub last_caught_up_timestamp: i64,
}

/// What applying a voter's actions left for the caller: the replies to hand back, the
/// committed records' changes to publish, and the leader if it changed.
#[derive(Default)]
pub struct Applied {
    /// Replies to requests, by the token they came in with.
    pub replies: Vec<(u64, Response<LogRange>)>,
    /// What the records committed by these actions changed.
    pub delta: MetadataDelta,
    /// The quorum's epoch and leader, if they changed.
    pub leader_change: Option<(i32, Option<i32>)>,
    /// Requests to send to other voters (`voter_network`).
    pub sends: Vec<Outbound>,
}

/// A request the state machine sends to another voter; its answer goes back with `request_id`.
#[derive(Clone, Debug)]
pub struct Outbound {
    /// Names the request for its answer.
    pub request_id: u64,
    /// The voter it goes to.
    pub to: i32,
    /// The request.
    pub request: Request,
}

impl QuorumVoter {
    /// The voter `node_id` of `voters`, starting from its `quorum-state` file (none on a new
    /// node) and the metadata log in `store` — all committed on a sole voter; one of several
    /// learns what is from the leader. A file that cannot be read refuses the start: a voter
    /// that forgot its vote could vote twice in an epoch.
    #[allow(clippy::too_many_arguments)]
    pub fn open(
        storage: Arc<dyn Storage>,
        log_dir: &Path,
        node_id: i32,
        voters: BTreeSet<i32>,
        config: QuorumConfig,
        store: &mut MetadataStore,
        seed: u64,
        now_ms: i64,
    ) -> anyhow::Result<(Self, Applied)> {
        let state_file = log_dir.join(METADATA_LOG_DIR).join(QUORUM_STATE_FILE);
        let election = if storage.exists(&state_file) {
            let text = crate::log::checkpoint::read_text(storage.as_ref(), &state_file)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", state_file.display()))?;
            ElectionState::from_file_text(&text, &voters).map_err(|why| {
                anyhow::anyhow!(
                    "refusing to start: the quorum state {} cannot be used: {why}. It holds this \
                     voter's vote and epoch; starting without it could elect two leaders. \
                     Restore it from a backup, or remove it only if this node's metadata log \
                     is removed too",
                    state_file.display()
                )
            })?
        } else {
            ElectionState::initial()
        };
        let started = crate::runtime::now();
        let log = store.log_view();
        // A sole voter committed all it wrote; one of several learns the high watermark from
        // the leader (its log's tail may not be committed).
        let committed = (voters.len() == 1).then(|| store.applied_offset());
        let client =
            RaftClient::new(config, node_id, voters.clone(), election, log, committed, 0, seed);
        let mut voter = Self { client, voters, started, state_file, storage };
        let actions = voter.client.take_actions();
        let applied = voter.apply(store, actions, now_ms)?;
        Ok((voter, applied))
    }

    /// Milliseconds since this voter started: the state machine's clock.
    pub fn now_ms(&self) -> u64 {
        crate::runtime::elapsed(self.started).as_millis() as u64
    }

    /// When the state machine next has something to do ([`RaftClient::next_deadline_ms`]).
    pub fn next_deadline(&self) -> crate::runtime::Instant {
        self.started + Duration::from_millis(self.client.next_deadline_ms())
    }

    /// The state machine.
    pub fn client(&mut self) -> &mut RaftClient<Vec<u8>> {
        &mut self.client
    }

    /// The state machine, read only.
    pub fn client_ref(&self) -> &RaftClient<Vec<u8>> {
        &self.client
    }

    /// What DescribeQuorum tells of the quorum, on its leader (`None` elsewhere): each voter's
    /// and observer's position from its fetches, times as wall-clock milliseconds given
    /// `wall_now_ms` (-1 where never seen).
    pub fn describe(&self, wall_now_ms: i64) -> Option<QuorumDescription> {
        let leader = self.client.leader_state()?;
        let now = self.now_ms();
        let wall = |t: Option<u64>| t.map_or(-1, |t| wall_now_ms - (now.saturating_sub(t)) as i64);
        let local_id = self.client.leader_id().expect("a leader knows itself");
        let row = |(id, state): (&i32, &leader_state::ReplicaState)| {
            if *id == local_id {
                // The leader's own log is where it is now.
                ReplicaDescription {
                    replica_id: *id,
                    log_end_offset: self.client.log().end_offset(),
                    last_fetch_timestamp: wall_now_ms,
                    last_caught_up_timestamp: wall_now_ms,
                }
            } else {
                ReplicaDescription {
                    replica_id: *id,
                    log_end_offset: state.end_offset.unwrap_or(-1),
                    last_fetch_timestamp: wall(state.last_fetch_ms),
                    last_caught_up_timestamp: wall(state.last_caught_up_ms),
                }
            }
        };
        Some(QuorumDescription {
            leader_id: local_id,
            leader_epoch: leader.epoch,
            high_watermark: self.client.high_watermark().unwrap_or(-1),
            voters: leader.voter_states().iter().map(row).collect(),
            observers: leader.observer_states().iter().map(row).collect(),
        })
    }

    /// Applies the state machine's actions in order to the metadata log and the quorum-state
    /// file, each durable before the next.
    pub fn apply(
        &mut self,
        store: &mut MetadataStore,
        actions: Vec<Action<Vec<u8>>>,
        now_ms: i64,
    ) -> Result<Applied, LogError> {
        let mut applied = Applied::default();
        let mut high_watermark = None;
        // The image before a fetched snapshot replaced it, if one did.
        let mut loaded_over: Option<Arc<crate::metadata::MetadataImage>> = None;
        for action in actions {
            match action {
                Action::PersistElectionState(state) => {
                    let text = state.to_file_text(&self.voters);
                    crate::log::checkpoint::write_atomically(
                        self.storage.as_ref(),
                        &self.state_file,
                        text.as_bytes(),
                    )?;
                }
                Action::AppendLeaderChange { offset, epoch, leader_id } => {
                    let base =
                        store.append_leader_change(epoch, leader_id, &self.voters, now_ms)?;
                    assert_eq!(base, offset, "the state machine's log is the metadata log");
                }
                Action::AppendAsLeader { base_offset, epoch, data, .. } => {
                    let base = store.append_as_leader(data, epoch, now_ms)?;
                    assert_eq!(base, base_offset, "the state machine's log is the metadata log");
                }
                // Applied once, after the loop: the records below the last one, in order.
                Action::HighWatermark(hw) => high_watermark = Some(hw),
                Action::Reply { token, response } => applied.replies.push((token, response)),
                Action::LeaderChange { epoch, leader_id } => {
                    tracing::info!(epoch, leader = ?leader_id, "metadata quorum leader");
                    if !self.client.is_leader() {
                        // What this node appended as leader may never commit.
                        store.revert_speculative();
                    }
                    applied.leader_change = Some((epoch, leader_id));
                }
                Action::AppendAsFollower(records) => {
                    store.append_replicated(&records.data, now_ms)?;
                }
                Action::TruncateTo(offset) => store.truncate_to(offset)?,
                Action::AppendSnapshotChunk { snapshot_id, position, data } => {
                    store.write_snapshot_chunk(snapshot_id.into(), position, &data)?
                }
                Action::LoadSnapshot(snapshot_id) => {
                    // What the records committed after it change is published with it, as
                    // one change from the image before.
                    loaded_over.get_or_insert_with(|| store.image().clone());
                    store.load_fetched_snapshot(snapshot_id.into(), now_ms)?;
                }
                Action::Send { request_id, to, request } => {
                    debug_assert!(self.voters.len() > 1, "a sole voter never asks anyone");
                    applied.sends.push(Outbound { request_id, to, request });
                }
            }
        }
        if let Some(hw) = high_watermark {
            applied.delta = store.apply_committed(hw, now_ms)?;
        }
        if let Some(before) = loaded_over {
            applied.delta = MetadataDelta::between(&before, store.image());
        }
        self.sync_snapshots(store);
        debug_assert_eq!(
            store.log_end_offset(),
            self.client.log().end_offset(),
            "the state machine's log is the metadata log"
        );
        Ok(applied)
    }
}

impl QuorumVoter {
    /// Tells the state machine of the snapshots the store wrote and the log start it cleaned
    /// up to since it last knew.
    fn sync_snapshots(&mut self, store: &MetadataStore) {
        let log = self.client.log();
        let latest = store.latest_snapshot().map(OffsetAndEpoch::from);
        let start = store.start_snapshot().map(OffsetAndEpoch::from);
        let (known_latest, known_start) = (log.latest_snapshot(), log.start_snapshot());
        if let Some(latest) = latest.filter(|l| Some(*l) > known_latest) {
            self.client.snapshot_written(latest);
        }
        if let Some(start) = start.filter(|s| Some(*s) > known_start) {
            self.client.log_start_advanced(start);
        }
        debug_assert_eq!(
            store.log_start_offset(),
            self.client.log().start_offset(),
            "the state machine's log starts where the metadata log does"
        );
    }
}

/// Why a voter-only Raft RPC is refused as a whole (the response's top-level error), as
/// Kafka's `KafkaRaftClient` refuses it: another cluster's id, or a partition other than the
/// metadata log's one.
pub fn check_voter_rpc(
    broker: &Broker,
    cluster_id: Option<&StrBytes>,
    topics: &[(&str, Vec<i32>)],
) -> Result<(), ApiError> {
    if let Some(cluster_id) = cluster_id {
        if cluster_id.as_str() != broker.cluster_id {
            return Err(ApiError::new(
                ResponseError::InconsistentClusterId,
                format!("cluster id {cluster_id} is not this cluster's {}", broker.cluster_id),
            ));
        }
    }
    if names_only_the_metadata_partition(topics) {
        Ok(())
    } else {
        Err(ApiError::new(
            ResponseError::InvalidRequest,
            format!("a Raft request names {METADATA_TOPIC}-0 and nothing else, not {topics:?}"),
        ))
    }
}

/// Whether a quorum request's topics name `__cluster_metadata-0` and nothing else.
pub fn names_only_the_metadata_partition(topics: &[(&str, Vec<i32>)]) -> bool {
    matches!(topics, [(METADATA_TOPIC, partitions)] if partitions.as_slice() == [0])
}

/// The state machine's answer to one request from node `from`, with its effects applied to
/// `store` first; `None` where it holds the request (a fetch waiting for records).
fn ask_quorum(
    broker: &Broker,
    store: &mut MetadataStore,
    from: i32,
    request: Request,
) -> Result<Option<Response<LogRange>>, ApiError> {
    const TOKEN: u64 = 0;
    let replies =
        broker.run_quorum(store, |client, now| client.handle_request(now, from, TOKEN, request))?;
    Ok(replies.into_iter().find(|(token, _)| *token == TOKEN).map(|(_, response)| response))
}

/// The voter's answer to a Raft RPC from node `from` (Vote, BeginQuorumEpoch,
/// EndQuorumEpoch), with whatever the request made it persist done first.
pub fn answer_voter_rpc(
    broker: &Broker,
    from: i32,
    request: Request,
) -> Result<Response<LogRange>, ApiError> {
    let mut store = broker.lock_metadata();
    ask_quorum(broker, &mut store, from, request)?.ok_or_else(|| {
        ApiError::new(ResponseError::NotController, "this node is not a voter of the quorum")
    })
}
