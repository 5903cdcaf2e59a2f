//! AlterConfigs (key 33, the legacy non-incremental form that librdkafka's `AlterConfigs`
//! still sends): the given configs replace all of a topic's overrides.

use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};

use super::describe_configs::{alter_config_resource, alterable_topic_configs};
use super::{str_bytes, RequestContext};
use crate::broker::Broker;
use crate::error::ApiError;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: AlterConfigsRequest,
) -> AlterConfigsResponse {
    let responses = request
        .resources
        .into_iter()
        .map(|resource| {
            let response = AlterConfigsResourceResponse::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone());
            let outcome = alter_config_resource(
                broker,
                ctx,
                resource.resource_type,
                &resource.resource_name,
                || replace(broker, &resource, request.validate_only),
            );
            match outcome {
                Ok(()) => response,
                Err(e) => response
                    .with_error_code(e.code())
                    .with_error_message(Some(str_bytes(e.message))),
            }
        })
        .collect();
    AlterConfigsResponse::default().with_responses(responses)
}

fn replace(
    broker: &Broker,
    resource: &kafka_protocol::messages::alter_configs_request::AlterConfigsResource,
    validate_only: bool,
) -> Result<(), ApiError> {
    let name = resource.resource_name.as_str();
    let current = alterable_topic_configs(broker, resource.resource_type, name)?;
    let given: Vec<(String, Option<String>)> = resource
        .configs
        .iter()
        .map(|c| (c.name.to_string(), c.value.as_ref().map(|v| v.to_string())))
        .collect();
    // Overrides not named in the request go back to their defaults, as in Kafka.
    let mut changes: Vec<(String, Option<String>)> = current
        .keys()
        .filter(|k| !given.iter().any(|(g, _)| g == *k))
        .map(|k| (k.clone(), None))
        .collect();
    changes.extend(given);
    broker.alter_topic_configs(name, changes, validate_only)
}
