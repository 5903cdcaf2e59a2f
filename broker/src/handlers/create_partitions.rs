//! CreatePartitions (key 37): grow a topic's partition count. Needs Alter on the Cluster or on
//! the topic (TOPIC_AUTHORIZATION_FAILED).

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};

use kafka_protocol::error::ResponseError;

use super::{str_bytes, RequestContext};
use crate::authorizer::{AclOperation, ResourceType, CLUSTER_NAME};
use crate::broker::Broker;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let alter = AclOperation::Alter;
    let cluster_alter = broker.authorize_silently(ctx, alter, ResourceType::Cluster, CLUSTER_NAME);
    let results = request
        .topics
        .into_iter()
        .map(|topic| {
            let result = CreatePartitionsTopicResult::default().with_name(topic.name.clone());
            if !cluster_alter && !broker.authorize(ctx, alter, ResourceType::Topic, &topic.name) {
                return result
                    .with_error_code(ResponseError::TopicAuthorizationFailed.code())
                    .with_error_message(Some(str_bytes("Authorization failed.")));
            }
            match broker.create_partitions(
                topic.name.0.as_str(),
                topic.count,
                request.validate_only,
            ) {
                Ok(()) => result,
                Err(e) => {
                    result.with_error_code(e.code()).with_error_message(Some(str_bytes(e.message)))
                }
            }
        })
        .collect();
    CreatePartitionsResponse::default().with_results(results)
}
