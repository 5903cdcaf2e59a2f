//! DescribeConfigs (key 32): effective topic configs and the broker's static configs.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};

use super::{str_bytes, RequestContext};
use crate::authorizer::{AclOperation, ResourceType, CLUSTER_NAME};
use crate::broker::Broker;
use crate::topic_config::{self, ConfigEntry, ConfigSource};

/// Kafka's ConfigResource.Type codes.
pub(crate) const RESOURCE_TOPIC: i8 = 2;
pub(crate) const RESOURCE_BROKER: i8 = 4;

/// Kafka's authorization of a config resource: topics by `operation` on the topic
/// (TOPIC_AUTHORIZATION_FAILED), the broker by `operation` on the Cluster
/// (CLUSTER_AUTHORIZATION_FAILED). Other types fall through to the handlers' own errors.
pub(crate) fn authorize_config_resource(
    broker: &Broker,
    ctx: &RequestContext,
    operation: AclOperation,
    resource_type: i8,
    name: &str,
) -> Result<(), crate::error::ApiError> {
    use crate::error::ApiError;
    let (resource, error) = match resource_type {
        RESOURCE_TOPIC => (ResourceType::Topic, ResponseError::TopicAuthorizationFailed),
        RESOURCE_BROKER => (ResourceType::Cluster, ResponseError::ClusterAuthorizationFailed),
        _ => return Ok(()),
    };
    let resource_name = if resource == ResourceType::Cluster { CLUSTER_NAME } else { name };
    if broker.authorize(ctx, operation, resource, resource_name) {
        Ok(())
    } else {
        Err(ApiError::new(
            error,
            format!("{operation} on {resource} `{resource_name}` is required"),
        ))
    }
}

/// One resource of AlterConfigs or IncrementalAlterConfigs: AlterConfigs on it is authorized,
/// then `alter` applies the change; a refusal of either is logged.
pub(crate) fn alter_config_resource(
    broker: &Broker,
    ctx: &RequestContext,
    resource_type: i8,
    name: &str,
    alter: impl FnOnce() -> Result<(), crate::error::ApiError>,
) -> Result<(), crate::error::ApiError> {
    let outcome =
        authorize_config_resource(broker, ctx, AclOperation::AlterConfigs, resource_type, name)
            .and_then(|()| alter());
    if let Err(e) = &outcome {
        tracing::info!(resource = %name, error = %e.message, "config change refused");
    }
    outcome
}

/// The current overrides of the topic an AlterConfigs or IncrementalAlterConfigs resource names;
/// only topics have alterable configs here.
pub(crate) fn alterable_topic_configs(
    broker: &Broker,
    resource_type: i8,
    name: &str,
) -> Result<std::collections::BTreeMap<String, String>, crate::error::ApiError> {
    use crate::broker::unknown_topic;
    use crate::error::ApiError;
    match resource_type {
        RESOURCE_TOPIC => broker
            .metadata()
            .topic(name)
            .map(|t| t.configs.clone())
            .ok_or_else(|| unknown_topic(name)),
        RESOURCE_BROKER => Err(ApiError::new(
            ResponseError::InvalidConfig,
            "dynamic broker configs are not supported; change the YAML config and restart",
        )),
        other => Err(ApiError::new(
            ResponseError::InvalidRequest,
            format!("resource type {other} has no configs"),
        )),
    }
}

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: DescribeConfigsRequest,
    _version: i16,
) -> DescribeConfigsResponse {
    let image = broker.metadata();
    let include_synonyms = request.include_synonyms;
    let include_documentation = request.include_documentation;
    let results = request
        .resources
        .into_iter()
        .map(|resource| {
            let name = resource.resource_name.to_string();
            let result = DescribeConfigsResult::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone());
            if let Err(e) = authorize_config_resource(
                broker,
                ctx,
                AclOperation::DescribeConfigs,
                resource.resource_type,
                &name,
            ) {
                return result
                    .with_error_code(e.code())
                    .with_error_message(Some(str_bytes(e.message)));
            }
            let keys = resource
                .configuration_keys
                .map(|keys| keys.iter().map(|k| k.to_string()).collect::<Vec<_>>());
            // Null or empty means every config, as in Kafka.
            let wanted = |k: &str| {
                keys.as_ref().is_none_or(|keys| keys.is_empty() || keys.iter().any(|w| w == k))
            };
            let configs: Vec<DescribeConfigsResourceResult> = match resource.resource_type {
                RESOURCE_TOPIC => match image.topic(&name) {
                    Some(topic) => topic_config::describe(&broker.config, &topic.configs)
                        .into_iter()
                        .filter(|e| wanted(e.name))
                        .map(|e| topic_entry(e, include_synonyms, include_documentation))
                        .collect(),
                    None => {
                        return result
                            .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                            .with_error_message(Some(str_bytes(format!(
                                "topic `{name}` does not exist"
                            ))))
                    }
                },
                RESOURCE_BROKER if name.is_empty() || name == broker.node.node_id.to_string() => {
                    broker
                        .config
                        .properties()
                        .into_iter()
                        .filter(|(k, _)| wanted(k))
                        .map(|(k, v)| {
                            DescribeConfigsResourceResult::default()
                                .with_name(str_bytes(k))
                                .with_value(Some(str_bytes(v)))
                                .with_config_source(ConfigSource::StaticBroker as i8)
                                .with_read_only(true)
                        })
                        .collect()
                }
                RESOURCE_BROKER => {
                    return result
                        .with_error_code(ResponseError::InvalidRequest.code())
                        .with_error_message(Some(str_bytes(format!(
                            "broker `{name}` is not this broker ({})",
                            broker.node.node_id
                        ))))
                }
                other => {
                    return result
                        .with_error_code(ResponseError::InvalidRequest.code())
                        .with_error_message(Some(str_bytes(format!(
                            "resource type {other} has no configs here"
                        ))))
                }
            };
            result.with_configs(configs)
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

/// A topic config as Kafka's `ConfigHelper.createTopicConfigEntry` describes it: never
/// read-only or sensitive, with its type, and synonyms and documentation when asked for (the
/// encoder drops the fields an older version lacks).
fn topic_entry(
    entry: ConfigEntry,
    include_synonyms: bool,
    include_documentation: bool,
) -> DescribeConfigsResourceResult {
    let synonyms = if include_synonyms {
        entry
            .synonyms
            .into_iter()
            .map(|s| {
                DescribeConfigsSynonym::default()
                    .with_name(str_bytes(s.name))
                    .with_value(Some(str_bytes(s.value)))
                    .with_source(s.source as i8)
            })
            .collect()
    } else {
        Vec::new()
    };
    DescribeConfigsResourceResult::default()
        .with_name(str_bytes(entry.name))
        .with_value(Some(str_bytes(entry.value)))
        .with_config_source(entry.source as i8)
        .with_read_only(false)
        .with_is_sensitive(false)
        .with_synonyms(synonyms)
        .with_config_type(entry.config_type as i8)
        .with_documentation(include_documentation.then(|| str_bytes(entry.documentation)))
}
