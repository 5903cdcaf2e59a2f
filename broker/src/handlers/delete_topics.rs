//! DeleteTopics (key 20): by name, or by topic id from v6. As KRaft's controller: a topic the
//! principal may not Describe is TOPIC_AUTHORIZATION_FAILED (so names do not leak), a missing
//! one UNKNOWN_TOPIC_OR_PARTITION, and deleting needs Delete on the topic or the Cluster.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};

use super::{str_bytes, RequestContext};
use crate::authorizer::{AclOperation, ResourceType, CLUSTER_NAME};
use crate::broker::Broker;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: DeleteTopicsRequest,
    version: i16,
) -> DeleteTopicsResponse {
    // v0-5 list names; v6 lists (name or id) pairs.
    let wanted: Vec<(Option<TopicName>, uuid::Uuid)> = if version >= 6 {
        request.topics.into_iter().map(|t| (t.name, t.topic_id)).collect()
    } else {
        request.topic_names.into_iter().map(|n| (Some(n), uuid::Uuid::nil())).collect()
    };
    let topic = ResourceType::Topic;
    let cluster_delete =
        broker.authorize_silently(ctx, AclOperation::Delete, ResourceType::Cluster, CLUSTER_NAME);
    let denied = |result: DeletableTopicResult| {
        result
            .with_error_code(ResponseError::TopicAuthorizationFailed.code())
            .with_error_message(Some(str_bytes("Authorization failed.")))
    };
    let responses = wanted
        .into_iter()
        .map(|(name, id)| {
            let by_id = name.is_none();
            let resolved = match &name {
                Some(name) => Some(name.0.to_string()),
                None => broker.metadata().topic_by_id(&id).map(|t| t.name.clone()),
            };
            let result = DeletableTopicResult::default().with_name(name.clone()).with_topic_id(id);
            let Some(resolved) = resolved else {
                return result
                    .with_error_code(ResponseError::UnknownTopicId.code())
                    .with_error_message(Some(str_bytes(format!("no topic has id {id}"))));
            };
            if !broker.authorize(ctx, AclOperation::Describe, topic, &resolved) {
                // Asked by id, the name stays hidden.
                return denied(if by_id {
                    result
                } else {
                    result.with_topic_id(uuid::Uuid::nil())
                });
            }
            if broker.metadata().topic(&resolved).is_some()
                && !cluster_delete
                && !broker.authorize(ctx, AclOperation::Delete, topic, &resolved)
            {
                return denied(result);
            }
            match broker.delete_topic(&resolved) {
                Ok(topic_id) => {
                    result.with_topic_id(topic_id).with_name(Some(TopicName(str_bytes(resolved))))
                }
                Err(e) => {
                    result.with_error_code(e.code()).with_error_message(Some(str_bytes(e.message)))
                }
            }
        })
        .collect();
    DeleteTopicsResponse::default().with_responses(responses)
}
