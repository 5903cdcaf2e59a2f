//! OffsetForLeaderEpoch (key 23): where a leader epoch ends, so clients can detect truncation.
//!
//! Partitions keep one leader epoch for their lifetime on a single broker, so the current
//! epoch ends at the log end offset and no older epoch has records
//! (`replica::LeaderLog::end_offset_for_epoch`).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_for_leader_epoch_request::OffsetForLeaderPartition;
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

use super::{check_leader_epoch, RequestContext};
use crate::authorizer::{AclOperation, ResourceType, CLUSTER_NAME};
use crate::broker::Broker;
use crate::error::ApiError;
use crate::metadata::MetadataImage;
use crate::replica::ReplicaManager;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let image = broker.metadata();
    // A follower (replica id >= 0, v3+) needs ClusterAction; consumers Describe on the topic.
    let follower_denied = request.replica_id.0 >= 0
        && !broker.authorize(ctx, AclOperation::ClusterAction, ResourceType::Cluster, CLUSTER_NAME);
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let name = topic.topic.0.to_string();
            let denied = if follower_denied {
                Some(ResponseError::ClusterAuthorizationFailed)
            } else if request.replica_id.0 < 0
                && !broker.authorize(ctx, AclOperation::Describe, ResourceType::Topic, &name)
            {
                Some(ResponseError::TopicAuthorizationFailed)
            } else {
                None
            };
            let partitions = topic
                .partitions
                .into_iter()
                .map(|p| {
                    let result = EpochEndOffset::default().with_partition(p.partition);
                    if let Some(error) = denied {
                        return result
                            .with_error_code(error.code())
                            .with_leader_epoch(-1)
                            .with_end_offset(-1);
                    }
                    match end_offset(broker.replica_manager(), &image, &name, &p) {
                        Ok((leader_epoch, end_offset)) => {
                            result.with_leader_epoch(leader_epoch).with_end_offset(end_offset)
                        }
                        Err(e) => result
                            .with_error_code(e.code())
                            .with_leader_epoch(-1)
                            .with_end_offset(-1),
                    }
                })
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(topic.topic)
                .with_partitions(partitions)
        })
        .collect();
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}

/// `(leader epoch, end offset)` of the requested epoch on the partition's leader; `(-1, -1)` for
/// an epoch it never had, as Kafka answers (UNDEFINED epoch and offset).
fn end_offset(
    replicas: &ReplicaManager,
    image: &MetadataImage,
    topic: &str,
    p: &OffsetForLeaderPartition,
) -> Result<(i32, i64), ApiError> {
    let known = image.topic(topic).and_then(|t| t.partitions.get(&p.partition));
    let partition =
        known.and_then(|_| replicas.partition(topic, p.partition)).ok_or_else(|| {
            ApiError::new(
                ResponseError::UnknownTopicOrPartition,
                format!("{topic}-{} does not exist", p.partition),
            )
        })?;
    let log = partition.leader_log()?;
    check_leader_epoch(p.current_leader_epoch, log.leader_epoch())?;
    Ok(log.end_offset_for_epoch(p.leader_epoch))
}
