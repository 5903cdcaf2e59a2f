//! IncrementalAlterConfigs (key 44): SET / DELETE / APPEND / SUBTRACT topic configs.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};

use super::describe_configs::{alter_config_resource, alterable_topic_configs};
use super::{str_bytes, RequestContext};
use crate::broker::Broker;
use crate::error::ApiError;
use crate::topic_config::{self, ConfigType};

const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
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
                || alter(broker, &resource, request.validate_only),
            );
            match outcome {
                Ok(()) => response,
                Err(e) => response
                    .with_error_code(e.code())
                    .with_error_message(Some(str_bytes(e.message))),
            }
        })
        .collect();
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}

fn alter(
    broker: &Broker,
    resource: &kafka_protocol::messages::incremental_alter_configs_request::AlterConfigsResource,
    validate_only: bool,
) -> Result<(), ApiError> {
    let name = resource.resource_name.as_str();
    let current = alterable_topic_configs(broker, resource.resource_type, name)?;
    let mut changes = Vec::new();
    for config in &resource.configs {
        let key = config.name.to_string();
        let value = config.value.as_ref().map(|v| v.to_string());
        let change = match config.config_operation {
            SET => value,
            DELETE => None,
            APPEND | SUBTRACT => {
                // Only list-typed configs take APPEND/SUBTRACT; they start from the topic's
                // value, else Kafka's default, as Kafka's ConfigurationControlManager does.
                if topic_config::config_type(&key) != Some(ConfigType::List) {
                    return Err(ApiError::new(
                        ResponseError::InvalidConfig,
                        format!(
                            "{key} is not a list config, so it cannot be appended to or \
                             subtracted from"
                        ),
                    ));
                }
                let mut items: Vec<String> = current
                    .get(&key)
                    .map(String::as_str)
                    .or_else(|| topic_config::kafka_default(&key))
                    .unwrap_or_default()
                    .split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect();
                let given = value.unwrap_or_default();
                for item in given.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    if config.config_operation == APPEND && !items.iter().any(|i| i == item) {
                        items.push(item.to_owned());
                    } else if config.config_operation == SUBTRACT {
                        items.retain(|i| i != item);
                    }
                }
                Some(items.join(","))
            }
            other => {
                return Err(ApiError::new(
                    ResponseError::InvalidRequest,
                    format!("config operation {other} is unknown"),
                ))
            }
        };
        changes.push((key, change));
    }
    broker.alter_topic_configs(name, changes, validate_only)
}
