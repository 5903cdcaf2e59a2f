//! OffsetForLeaderEpoch (key 23): where a leader epoch ends, so clients can detect truncation.
//!
//! Partitions keep one leader epoch for their lifetime on a single broker, so the current
//! epoch ends at the log end offset and no older epoch has records
//! (`replica::LeaderLog::end_offset_for_epoch`).

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
                    let known = image.topic(&name).and_then(|t| t.partitions.get(&p.partition));
                    let partition = broker.replica_manager().partition(&name, p.partition);
                    let (Some(_), Some(partition)) = (known, partition) else {
                        return result
                            .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                            .with_leader_epoch(-1)
                            .with_end_offset(-1);
                    };
                    let log = partition.leader_log().and_then(|log| {
                        check_leader_epoch(p.current_leader_epoch, log.leader_epoch())?;
                        Ok(log)
                    });
                    let log = match log {
                        Ok(log) => log,
                        Err(e) => {
                            return result
                                .with_error_code(e.code())
                                .with_leader_epoch(-1)
                                .with_end_offset(-1)
                        }
                    };
                    // An epoch we never had answers UNDEFINED epoch and offset, as in Kafka.
                    let (leader_epoch, end_offset) = log.end_offset_for_epoch(p.leader_epoch);
                    result.with_leader_epoch(leader_epoch).with_end_offset(end_offset)
                })
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(topic.topic)
                .with_partitions(partitions)
        })
        .collect();
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}
