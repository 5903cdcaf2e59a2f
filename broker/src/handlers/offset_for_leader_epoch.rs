//! OffsetForLeaderEpoch (key 23): where a leader epoch ends, so clients can detect truncation.
//!
//! Partitions keep one leader epoch for their lifetime on a single broker, so the current
//! epoch ends at the log end offset and no older epoch has records.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

use super::{check_leader_epoch, RequestContext};
use crate::authorizer::{AclOperation, ResourceType, CLUSTER_NAME};
use crate::broker::Broker;

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
                    let current = image.topic(&name).and_then(|t| t.partitions.get(&p.partition));
                    let log = broker.partition_log(&name, p.partition);
                    let (Some(current), Some(log)) = (current, log) else {
                        return result
                            .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                            .with_leader_epoch(-1)
                            .with_end_offset(-1);
                    };
                    if let Err(e) = check_leader_epoch(p.current_leader_epoch, current.leader_epoch)
                    {
                        return result
                            .with_error_code(e.code())
                            .with_leader_epoch(-1)
                            .with_end_offset(-1);
                    }
                    let log_end_offset =
                        log.lock().expect("partition lock poisoned").log_end_offset();
                    if p.leader_epoch > current.leader_epoch {
                        // An epoch we never had: Kafka answers UNDEFINED epoch and offset.
                        return result.with_leader_epoch(-1).with_end_offset(-1);
                    }
                    result.with_leader_epoch(current.leader_epoch).with_end_offset(log_end_offset)
                })
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(topic.topic)
                .with_partitions(partitions)
        })
        .collect();
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}
