//! FetchSnapshot (key 59): a chunk of one of the quorum leader's metadata snapshots (KIP-630),
//! as Kafka's `KafkaRaftClient.handleFetchSnapshotRequest` answers it — a node too far behind
//! the leader's log start reads the snapshot by position, `unaligned_records` up to
//! `max_bytes` (at most 8 MiB, Kafka's cap), then fetches the log after it. Needs ClusterAction
//! on the Cluster; the whole request is refused as Vote's is; per partition, a stale epoch is
//! FENCED_LEADER_EPOCH, a newer one UNKNOWN_LEADER_EPOCH, a node that does not lead
//! NOT_LEADER_OR_FOLLOWER, a snapshot it does not have SNAPSHOT_NOT_FOUND and a position
//! outside it POSITION_OUT_OF_RANGE.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_snapshot_response::{
    LeaderIdAndEpoch, PartitionSnapshot, SnapshotId as WireSnapshotId, TopicSnapshot,
};
use kafka_protocol::messages::{BrokerId, FetchSnapshotRequest, FetchSnapshotResponse};

use super::RequestContext;
use crate::broker::Broker;
use crate::metadata::SnapshotId;

/// The most one response carries (Kafka's `KafkaRaftClient.MAX_FETCH_SIZE_BYTES`).
const MAX_FETCH_SIZE_BYTES: usize = 8 * 1024 * 1024;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: FetchSnapshotRequest,
) -> FetchSnapshotResponse {
    let topics = request
        .topics
        .iter()
        .map(|t| (t.name.0.as_str(), t.partitions.iter().map(|p| p.partition).collect()));
    if let Err(e) = super::check_raft_request(broker, ctx, request.cluster_id.as_ref(), topics) {
        return FetchSnapshotResponse::default().with_error_code(e.code());
    }
    let topic = &request.topics[0];
    let asked = &topic.partitions[0];
    let epoch = broker.quorum_epoch();
    let leader = LeaderIdAndEpoch::default()
        .with_leader_id(BrokerId(broker.quorum_leader_id()))
        .with_leader_epoch(epoch);
    let id =
        SnapshotId { end_offset: asked.snapshot_id.end_offset, epoch: asked.snapshot_id.epoch };
    let wire_id = WireSnapshotId::default().with_end_offset(id.end_offset).with_epoch(id.epoch);
    let refused = |error: ResponseError, why: String| {
        tracing::debug!(client = ctx.client_id, snapshot = ?id, %why, "FetchSnapshot refused");
        PartitionSnapshot::default()
            .with_error_code(error.code())
            .with_snapshot_id(wire_id.clone())
            .with_current_leader(leader.clone())
    };
    let partition = if let Some(error) = broker.leader_only_quorum_error(asked.current_leader_epoch)
    {
        refused(
            error,
            format!("asked in epoch {}, this node is in {epoch}", asked.current_leader_epoch),
        )
    } else {
        let max_bytes = (request.max_bytes.max(0) as usize).min(MAX_FETCH_SIZE_BYTES);
        let position = asked.position;
        let chunk = broker.lock_metadata().snapshot_chunk(id, position.max(0) as u64, max_bytes);
        match chunk {
            Err(e) => refused(ResponseError::UnknownServerError, e.to_string()),
            Ok(None) => refused(ResponseError::SnapshotNotFound, "no such snapshot".into()),
            Ok(Some((size, _))) if position < 0 || position as u64 >= size => refused(
                ResponseError::PositionOutOfRange,
                format!("position {position} outside the snapshot's {size} bytes"),
            ),
            Ok(Some((size, bytes))) => PartitionSnapshot::default()
                .with_snapshot_id(wire_id.clone())
                .with_current_leader(leader.clone())
                .with_size(size as i64)
                .with_position(position)
                .with_unaligned_records(bytes),
        }
    };
    FetchSnapshotResponse::default().with_topics(vec![TopicSnapshot::default()
        .with_name(topic.name.clone())
        .with_partitions(vec![partition.with_index(asked.partition)])])
}
