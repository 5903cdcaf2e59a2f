//! OffsetDelete (key 47): Delete on the group (a top-level GROUP_AUTHORIZATION_FAILED otherwise)
//! and Read on each topic (TOPIC_AUTHORIZATION_FAILED for its partitions), then the coordinator.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};

use super::RequestContext;
use crate::authorizer::{AclOperation, ResourceType};
use crate::broker::Broker;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    mut request: OffsetDeleteRequest,
) -> OffsetDeleteResponse {
    let group = request.group_id.0.as_str();
    if !broker.authorize(ctx, AclOperation::Delete, ResourceType::Group, group) {
        return OffsetDeleteResponse::default()
            .with_error_code(ResponseError::GroupAuthorizationFailed.code());
    }
    let (allowed, denied): (Vec<_>, Vec<_>) = std::mem::take(&mut request.topics)
        .into_iter()
        .partition(|t| broker.authorize(ctx, AclOperation::Read, ResourceType::Topic, &t.name));
    request.topics = allowed;
    let mut response = broker.groups.offset_delete(request, ctx.api_version);
    response.topics.extend(denied.into_iter().map(|t| {
        OffsetDeleteResponseTopic::default().with_name(t.name).with_partitions(
            t.partitions
                .iter()
                .map(|p| {
                    OffsetDeleteResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(ResponseError::TopicAuthorizationFailed.code())
                })
                .collect(),
        )
    }));
    response
}
