//! CreateTopics (key 19). Needs Create on the Cluster or on the topic; the created topic's
//! configs are returned (v5+) only with DescribeConfigs on it, as in Kafka.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};

use super::{str_bytes, RequestContext};
use crate::authorizer::{AclOperation, ResourceType, CLUSTER_NAME};
use crate::broker::Broker;
use crate::error::ApiError;
use crate::topic_config;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: CreateTopicsRequest,
    version: i16,
) -> CreateTopicsResponse {
    let validate_only = request.validate_only;
    let create = AclOperation::Create;
    let cluster_create =
        broker.authorize_silently(ctx, create, ResourceType::Cluster, CLUSTER_NAME);
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let result = CreatableTopicResult::default().with_name(topic.name.clone());
            let name = topic.name.0.as_str();
            let outcome = if cluster_create || broker.authorize(ctx, create, ResourceType::Topic, name) {
                create_topic(broker, &topic, validate_only)
            } else {
                Err(ApiError::new(ResponseError::TopicAuthorizationFailed, "Authorization failed."))
            };
            match outcome {
                Ok(image)
                    if version >= 5
                        && !broker.authorize(ctx, AclOperation::DescribeConfigs, ResourceType::Topic, name) =>
                {
                    result
                        .with_topic_id(image.topic_id)
                        .with_num_partitions(-1)
                        .with_replication_factor(-1)
                        .with_configs(Some(Vec::new()))
                        .with_topic_config_error_code(ResponseError::TopicAuthorizationFailed.code())
                }
                Ok(image) => {
                    let configs = topic_config::describe(&broker.config, &image.configs)
                        .into_iter()
                        .map(|e| {
                            CreatableTopicConfigs::default()
                                .with_name(str_bytes(e.name))
                                .with_value(Some(str_bytes(e.value)))
                                .with_config_source(e.source as i8)
                        })
                        .collect();
                    result
                        .with_topic_id(image.topic_id)
                        .with_num_partitions(image.partitions.len() as i32)
                        .with_replication_factor(
                            image.partitions.get(&0).map_or(-1, |p| p.replicas.len() as i16),
                        )
                        .with_configs((version >= 5).then_some(configs))
                }
                Err(e) => {
                    tracing::info!(topic = %topic.name.0, error = %e.message, "create topic refused");
                    result
                        .with_error_code(e.code())
                        .with_error_message(Some(str_bytes(e.message)))
                        .with_num_partitions(-1)
                        .with_replication_factor(-1)
                }
            }
        })
        .collect();
    CreateTopicsResponse::default().with_topics(topics)
}

fn create_topic(
    broker: &Broker,
    topic: &kafka_protocol::messages::create_topics_request::CreatableTopic,
    validate_only: bool,
) -> Result<crate::metadata::TopicImage, ApiError> {
    let name = topic.name.0.as_str();
    let partitions = if topic.num_partitions == -1 {
        broker.config.num_partitions
    } else {
        topic.num_partitions
    };
    let mut configs = BTreeMap::new();
    for config in &topic.configs {
        let Some(value) = &config.value else { continue };
        configs.insert(config.name.to_string(), value.to_string());
    }
    if !topic.assignments.is_empty() {
        // Kafka's messages, replication factor first.
        if topic.replication_factor != -1 {
            return Err(ApiError::new(
                ResponseError::InvalidRequest,
                "A manual partition assignment was specified, but replication factor was not \
                 set to -1.",
            ));
        }
        if topic.num_partitions != -1 {
            return Err(ApiError::new(
                ResponseError::InvalidRequest,
                "A manual partition assignment was specified, but numPartitions was not set to \
                 -1.",
            ));
        }
        let assignments = topic
            .assignments
            .iter()
            .map(|a| (a.partition_index, a.broker_ids.iter().map(|b| b.0).collect()))
            .collect();
        return broker.create_topic_assigned(name, assignments, configs, validate_only);
    }
    let replication_factor = match topic.replication_factor {
        -1 => broker.config.default_replication_factor,
        factor if factor < 1 => {
            return Err(ApiError::new(
                ResponseError::InvalidReplicationFactor,
                "Replication factor must be larger than 0, or -1 to use the default value.",
            ))
        }
        factor => i32::from(factor),
    };
    broker.create_topic_replicated(name, partitions, replication_factor, configs, validate_only)
}
