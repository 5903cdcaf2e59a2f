//! The metadata quorum's replication of `__cluster_metadata`, after Kafka's `KafkaRaftClient`:
//! its leader answers Fetch for the metadata log ([`handle_fetch`]); brokers follow it as
//! KRaft's observers do ([`observer`]), appending the leader's batches to their own copy of the
//! log and publishing what they change through the same path as the node that wrote them.
//!
//! The quorum has one voter here (the node whose `process.roles` has `controller`, or the
//! single-node default). A voter's record is committed once durable in its log, so the high
//! watermark the leader answers is its log end offset. Elections, `quorum-state`, Vote and
//! Begin/EndQuorumEpoch (KIP-595) come with three voters; until then the quorum epoch is the
//! metadata log's only leader epoch, [`QUORUM_EPOCH`].

pub mod client;
pub mod election_state;
pub mod leader_state;
pub mod observer;
#[cfg(test)]
mod simulation_tests;

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
use crate::metadata::METADATA_TOPIC;

/// `__cluster_metadata`'s topic id, fixed in every KRaft cluster (Kafka's
/// `Uuid.METADATA_TOPIC_ID`, `AAAAAAAAAAAAAAAAAAAAAQ`).
pub const METADATA_TOPIC_ID: Uuid = Uuid::from_u64_pair(0, 1);

/// The leader epoch of the one voter's leadership: the epoch every metadata batch carries.
pub const QUORUM_EPOCH: i32 = 0;

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
    let deadline = crate::runtime::now() + Duration::from_millis(request.max_wait_ms.max(0) as u64);
    let data = loop {
        // Registered before reading, so a commit between the read and the wait is not missed.
        let committed = broker.metadata_committed.notified();
        tokio::pin!(committed);
        committed.as_mut().enable();
        let data =
            read_metadata_log(broker, asked.fetch_offset, asked.last_fetched_epoch, max_bytes);
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
    let data = data.with_partition_index(asked.partition).with_current_leader(
        LeaderIdAndEpoch::default()
            .with_leader_id(BrokerId(broker.quorum_leader_id()))
            .with_leader_epoch(QUORUM_EPOCH),
    );
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

/// One read of the metadata log for a fetcher at `fetch_offset` whose last batch had
/// `last_fetched_epoch`.
fn read_metadata_log(
    broker: &Broker,
    fetch_offset: i64,
    last_fetched_epoch: i32,
    max_bytes: u32,
) -> PartitionData {
    let data = PartitionData::default().with_preferred_read_replica(BrokerId(-1));
    if !broker.is_controller() {
        return data.with_error_code(
            ApiError::new(
                ResponseError::NotLeaderOrFollower,
                format!(
                    "node {} is not a voter of the metadata quorum; its leader is node {}",
                    broker.node.node_id,
                    broker.quorum_leader_id()
                ),
            )
            .code(),
        );
    }
    broker.read_metadata_log(|store| {
        let (start, end) = (store.log_start_offset(), store.log_end_offset());
        let data =
            data.with_high_watermark(end).with_last_stable_offset(end).with_log_start_offset(start);
        if fetch_offset > 0 && last_fetched_epoch >= 0 {
            let (epoch, end_offset) = store.end_offset_for_epoch(last_fetched_epoch);
            if epoch < last_fetched_epoch || end_offset < fetch_offset {
                let diverging =
                    EpochEndOffset::default().with_epoch(epoch).with_end_offset(end_offset);
                return data.with_diverging_epoch(diverging).with_records(Some(Default::default()));
            }
        }
        if fetch_offset < start || fetch_offset > end {
            return data.with_error_code(ResponseError::OffsetOutOfRange.code());
        }
        match store.read(fetch_offset, max_bytes) {
            Ok(records) => data.with_records(Some(records)),
            Err(e) => {
                tracing::error!(error = %e, fetch_offset, "cannot read the metadata log");
                data.with_error_code(ApiError::from(e).code())
            }
        }
    })
}
