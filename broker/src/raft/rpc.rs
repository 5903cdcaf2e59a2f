//! The state machine's requests and responses on the wire, on the sending side: a
//! [`Request`] as the Kafka message a voter sends (Vote, BeginQuorumEpoch, EndQuorumEpoch,
//! Fetch of `__cluster_metadata-0`, FetchSnapshot), and the message that answers it as the [`Response`] the
//! state machine takes. The receiving side is the handlers (`handlers/vote.rs`, …, and
//! [`super::handle_fetch`]).

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic, ReplicaState};
use kafka_protocol::messages::{
    begin_quorum_epoch_request, end_quorum_epoch_request, fetch_snapshot_request, vote_request,
    BeginQuorumEpochRequest, BeginQuorumEpochResponse, BrokerId, EndQuorumEpochRequest,
    EndQuorumEpochResponse, FetchRequest, FetchResponse, FetchSnapshotRequest,
    FetchSnapshotResponse, TopicName, VoteRequest, VoteResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::client::{BatchHeader, OffsetAndEpoch, Records, Request, Response};
use super::{MAX_FETCH_SIZE_BYTES, METADATA_TOPIC_ID};
use crate::metadata::METADATA_TOPIC;

/// Why an answer cannot be handed to the state machine: the request as a whole was refused,
/// or the answer is not one for the metadata partition.
pub type BadAnswer = String;

fn metadata_topic() -> TopicName {
    TopicName(StrBytes::from_static_str(METADATA_TOPIC))
}

fn error_of(code: i16) -> Option<ResponseError> {
    if code == 0 {
        return None;
    }
    // A code this build does not know is still an error: the closest catch-all.
    Some(ResponseError::try_from_code(code).unwrap_or(ResponseError::UnknownServerError))
}

fn leader_of(id: BrokerId) -> Option<i32> {
    (id.0 >= 0).then_some(id.0)
}

fn whole_request_refused(code: i16) -> Result<(), BadAnswer> {
    match code {
        0 => Ok(()),
        code => Err(format!("the request was refused: {}", crate::metrics::error_name(code))),
    }
}

/// The Vote request for `vote`, to voter `to`.
pub fn vote_request(cluster_id: &str, to: i32, vote: &Request) -> VoteRequest {
    let Request::Vote { candidate_epoch, candidate_id, last_offset_epoch, last_offset, pre_vote } =
        *vote
    else {
        unreachable!("a Vote request is built from a vote: {vote:?}")
    };
    let partition = vote_request::PartitionData::default()
        .with_partition_index(0)
        .with_replica_epoch(candidate_epoch)
        .with_replica_id(BrokerId(candidate_id))
        .with_last_offset_epoch(last_offset_epoch)
        .with_last_offset(last_offset)
        .with_pre_vote(pre_vote);
    VoteRequest::default()
        .with_cluster_id(Some(StrBytes::from_string(cluster_id.to_owned())))
        .with_voter_id(BrokerId(to))
        .with_topics(vec![vote_request::TopicData::default()
            .with_topic_name(metadata_topic())
            .with_partitions(vec![partition])])
}

/// The BeginQuorumEpoch request announcing `begin`'s leader to voter `to`.
pub fn begin_quorum_epoch_request(
    cluster_id: &str,
    to: i32,
    begin: &Request,
) -> BeginQuorumEpochRequest {
    let Request::BeginQuorumEpoch { leader_epoch, leader_id } = *begin else {
        unreachable!("a BeginQuorumEpoch request is built from one: {begin:?}")
    };
    let partition = begin_quorum_epoch_request::PartitionData::default()
        .with_partition_index(0)
        .with_leader_id(BrokerId(leader_id))
        .with_leader_epoch(leader_epoch);
    BeginQuorumEpochRequest::default()
        .with_cluster_id(Some(StrBytes::from_string(cluster_id.to_owned())))
        .with_voter_id(BrokerId(to))
        .with_topics(vec![begin_quorum_epoch_request::TopicData::default()
            .with_topic_name(metadata_topic())
            .with_partitions(vec![partition])])
}

/// The EndQuorumEpoch request of a resigning leader (v1: successors as candidates).
pub fn end_quorum_epoch_request(cluster_id: &str, end: &Request) -> EndQuorumEpochRequest {
    let Request::EndQuorumEpoch { leader_epoch, leader_id, preferred_successors } = end else {
        unreachable!("an EndQuorumEpoch request is built from one: {end:?}")
    };
    let candidates = preferred_successors
        .iter()
        .map(|id| end_quorum_epoch_request::ReplicaInfo::default().with_candidate_id(BrokerId(*id)))
        .collect();
    let partition = end_quorum_epoch_request::PartitionData::default()
        .with_partition_index(0)
        .with_leader_id(BrokerId(*leader_id))
        .with_leader_epoch(*leader_epoch)
        .with_preferred_candidates(candidates);
    EndQuorumEpochRequest::default()
        .with_cluster_id(Some(StrBytes::from_string(cluster_id.to_owned())))
        .with_topics(vec![end_quorum_epoch_request::TopicData::default()
            .with_topic_name(metadata_topic())
            .with_partitions(vec![partition])])
}

/// The Fetch of `__cluster_metadata-0` from `fetch_offset` by `replica_id` (a voter, or an
/// observer broker), which believes `current_leader_epoch` current (-1: unknown).
pub fn fetch_request(
    cluster_id: &str,
    replica_id: i32,
    current_leader_epoch: i32,
    fetch_offset: i64,
    last_fetched_epoch: i32,
    max_wait_ms: i32,
) -> FetchRequest {
    let partition = FetchPartition::default()
        .with_partition(0)
        .with_current_leader_epoch(current_leader_epoch)
        .with_fetch_offset(fetch_offset)
        // An empty log's last epoch is 0 in Raft's fetches (Kafka's `lastFetchedEpoch`).
        .with_last_fetched_epoch(last_fetched_epoch.max(0))
        .with_log_start_offset(-1)
        .with_partition_max_bytes(MAX_FETCH_SIZE_BYTES as i32);
    let topic = FetchTopic::default()
        .with_topic(metadata_topic())
        .with_topic_id(METADATA_TOPIC_ID)
        .with_partitions(vec![partition]);
    FetchRequest::default()
        .with_cluster_id(Some(StrBytes::from_string(cluster_id.to_owned())))
        // v15+ (every Kafka 4 node): the fetcher names itself in ReplicaState only.
        .with_replica_state(
            ReplicaState::default().with_replica_id(BrokerId(replica_id)).with_replica_epoch(-1),
        )
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(MAX_FETCH_SIZE_BYTES as i32)
        .with_topics(vec![topic])
}

/// A voter's Fetch for the state machine's `fetch` request.
pub fn voter_fetch_request(cluster_id: &str, fetch: &Request) -> FetchRequest {
    let Request::Fetch {
        replica_id,
        current_leader_epoch,
        fetch_offset,
        last_fetched_epoch,
        max_wait_ms,
    } = *fetch
    else {
        unreachable!("a Fetch request is built from a fetch: {fetch:?}")
    };
    fetch_request(
        cluster_id,
        replica_id,
        current_leader_epoch,
        fetch_offset,
        last_fetched_epoch,
        max_wait_ms.min(i32::MAX as u64) as i32,
    )
}

/// What every answer's partition says: its error, the responder's epoch and the leader it
/// knows; the reason when the request was refused as a whole or the partition is missing.
fn partition_answer(
    api: &str,
    top_level_error: i16,
    partition: Option<(i16, i32, BrokerId)>,
) -> Result<(Option<ResponseError>, i32, Option<i32>), BadAnswer> {
    whole_request_refused(top_level_error)?;
    let (error_code, leader_epoch, leader_id) =
        partition.ok_or_else(|| format!("the {api} answer holds no partition"))?;
    Ok((error_of(error_code), leader_epoch, leader_of(leader_id)))
}

/// The state machine's view of a Vote answer.
pub fn vote_response(response: &VoteResponse) -> Result<Response<Records<Vec<u8>>>, BadAnswer> {
    let p = response.topics.first().and_then(|t| t.partitions.first());
    let fields = p.map(|p| (p.error_code, p.leader_epoch, p.leader_id));
    let (error, leader_epoch, leader_id) = partition_answer("Vote", response.error_code, fields)?;
    let vote_granted = p.is_some_and(|p| p.vote_granted);
    Ok(Response::Vote { error, leader_epoch, leader_id, vote_granted })
}

/// The state machine's view of a BeginQuorumEpoch answer.
pub fn begin_quorum_epoch_response(
    response: &BeginQuorumEpochResponse,
) -> Result<Response<Records<Vec<u8>>>, BadAnswer> {
    let p = response.topics.first().and_then(|t| t.partitions.first());
    let fields = p.map(|p| (p.error_code, p.leader_epoch, p.leader_id));
    let (error, leader_epoch, leader_id) =
        partition_answer("BeginQuorumEpoch", response.error_code, fields)?;
    Ok(Response::BeginQuorumEpoch { error, leader_epoch, leader_id })
}

/// The state machine's view of an EndQuorumEpoch answer.
pub fn end_quorum_epoch_response(
    response: &EndQuorumEpochResponse,
) -> Result<Response<Records<Vec<u8>>>, BadAnswer> {
    let p = response.topics.first().and_then(|t| t.partitions.first());
    let fields = p.map(|p| (p.error_code, p.leader_epoch, p.leader_id));
    let (error, leader_epoch, leader_id) =
        partition_answer("EndQuorumEpoch", response.error_code, fields)?;
    Ok(Response::EndQuorumEpoch { error, leader_epoch, leader_id })
}

/// The state machine's view of the leader's answer to a metadata Fetch: its records with
/// each batch's place read from the batch headers.
pub fn fetch_response(response: &FetchResponse) -> Result<Response<Records<Vec<u8>>>, BadAnswer> {
    let p = response.responses.first().and_then(|t| t.partitions.first());
    let fields =
        p.map(|p| (p.error_code, p.current_leader.leader_epoch, p.current_leader.leader_id));
    let (error, leader_epoch, leader_id) = partition_answer("Fetch", response.error_code, fields)?;
    let p = p.expect("checked by partition_answer");
    let diverging_epoch = (p.diverging_epoch.epoch >= 0).then_some(OffsetAndEpoch {
        offset: p.diverging_epoch.end_offset,
        epoch: p.diverging_epoch.epoch,
    });
    let snapshot_id = (p.snapshot_id.epoch >= 0 && p.snapshot_id.end_offset >= 0)
        .then_some(OffsetAndEpoch { offset: p.snapshot_id.end_offset, epoch: p.snapshot_id.epoch });
    let records = match p.records.as_ref() {
        Some(bytes) if !bytes.is_empty() && snapshot_id.is_none() => {
            let (batches, whole) = batch_headers(bytes)?;
            Some(Records { batches, data: bytes[..whole].to_vec() })
        }
        _ => None,
    };
    Ok(Response::Fetch {
        error,
        leader_epoch,
        leader_id,
        high_watermark: p.high_watermark,
        diverging_epoch,
        snapshot_id,
        records,
    })
}

/// The FetchSnapshot request for `fetch` (a [`Request::FetchSnapshot`]): up to 8 MiB of the
/// snapshot from its position.
pub fn fetch_snapshot_request(cluster_id: &str, fetch: &Request) -> FetchSnapshotRequest {
    let Request::FetchSnapshot { replica_id, current_leader_epoch, snapshot_id, position } = *fetch
    else {
        unreachable!("a FetchSnapshot request is built from one: {fetch:?}")
    };
    let partition = fetch_snapshot_request::PartitionSnapshot::default()
        .with_partition(0)
        .with_current_leader_epoch(current_leader_epoch)
        .with_snapshot_id(
            fetch_snapshot_request::SnapshotId::default()
                .with_end_offset(snapshot_id.offset)
                .with_epoch(snapshot_id.epoch),
        )
        .with_position(position as i64);
    FetchSnapshotRequest::default()
        .with_cluster_id(Some(StrBytes::from_string(cluster_id.to_owned())))
        .with_replica_id(BrokerId(replica_id))
        .with_max_bytes(MAX_FETCH_SIZE_BYTES as i32)
        .with_topics(vec![fetch_snapshot_request::TopicSnapshot::default()
            .with_name(metadata_topic())
            .with_partitions(vec![partition])])
}

/// The state machine's view of a FetchSnapshot answer: the chunk's bytes as they came (a
/// chunk may cut a batch, so none is parsed), with where it stands in the snapshot.
pub fn fetch_snapshot_response(
    response: &FetchSnapshotResponse,
) -> Result<Response<Records<Vec<u8>>>, BadAnswer> {
    let p = response.topics.first().and_then(|t| t.partitions.first());
    let fields =
        p.map(|p| (p.error_code, p.current_leader.leader_epoch, p.current_leader.leader_id));
    let (error, leader_epoch, leader_id) =
        partition_answer("FetchSnapshot", response.error_code, fields)?;
    let p = p.expect("checked by partition_answer");
    if error.is_none() && (p.position < 0 || p.size < 0) {
        return Err(format!("a snapshot chunk at position {} of {} bytes", p.position, p.size));
    }
    let data = p.unaligned_records.to_vec();
    Ok(Response::FetchSnapshot {
        error,
        leader_epoch,
        leader_id,
        snapshot_id: OffsetAndEpoch {
            offset: p.snapshot_id.end_offset,
            epoch: p.snapshot_id.epoch,
        },
        size: p.size.max(0) as u64,
        position: p.position.max(0) as u64,
        length: data.len() as u64,
        chunk: (error.is_none() && !data.is_empty()).then(|| Records { batches: Vec::new(), data }),
    })
}

/// Each whole batch's offsets and epoch in fetched `bytes`, and how many bytes those batches
/// take; a partial batch at the end (a fetch cut at its byte limit) is left out, as Kafka's
/// fetchers leave it.
fn batch_headers(bytes: &Bytes) -> Result<(Vec<BatchHeader>, usize), BadAnswer> {
    let mut headers = Vec::new();
    let mut rest: &[u8] = bytes;
    while !rest.is_empty() {
        let Ok(header) = crate::log::batch::BatchHeader::parse(rest) else { break };
        let Some(size) = header.total_size().filter(|size| *size <= rest.len()) else { break };
        headers.push(BatchHeader {
            base_offset: header.base_offset(),
            last_offset: header.last_offset(),
            epoch: header.partition_leader_epoch(),
        });
        rest = &rest[size..];
    }
    if headers.is_empty() {
        return Err("the fetched records hold no whole batch".into());
    }
    Ok((headers, bytes.len() - rest.len()))
}
