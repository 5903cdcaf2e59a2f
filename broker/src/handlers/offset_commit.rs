//! OffsetCommit (key 8): Read on the group (GROUP_AUTHORIZATION_FAILED for every partition
//! otherwise) and Read on each topic (TOPIC_AUTHORIZATION_FAILED for its partitions), then the
//! group coordinator for the authorized topics.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_commit_request::OffsetCommitRequestTopic;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};

use super::RequestContext;
use crate::authorizer::{AclOperation, ResourceType};
use crate::broker::Broker;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    mut request: OffsetCommitRequest,
) -> OffsetCommitResponse {
    let group = request.group_id.0.as_str();
    if !broker.authorize(ctx, AclOperation::Read, ResourceType::Group, group) {
        let topics =
            request.topics.iter().map(|t| failed(t, ResponseError::GroupAuthorizationFailed));
        return OffsetCommitResponse::default().with_topics(topics.collect());
    }
    let (allowed, denied): (Vec<_>, Vec<_>) = std::mem::take(&mut request.topics)
        .into_iter()
        .partition(|t| broker.authorize(ctx, AclOperation::Read, ResourceType::Topic, &t.name));
    let mut response = if allowed.is_empty() {
        OffsetCommitResponse::default()
    } else {
        request.topics = allowed;
        broker.groups.offset_commit(request, ctx.api_version, &*broker.metadata())
    };
    response
        .topics
        .extend(denied.iter().map(|t| failed(t, ResponseError::TopicAuthorizationFailed)));
    response
}

fn failed(topic: &OffsetCommitRequestTopic, error: ResponseError) -> OffsetCommitResponseTopic {
    OffsetCommitResponseTopic::default().with_name(topic.name.clone()).with_partitions(
        topic
            .partitions
            .iter()
            .map(|p| {
                OffsetCommitResponsePartition::default()
                    .with_partition_index(p.partition_index)
                    .with_error_code(error.code())
            })
            .collect(),
    )
}
