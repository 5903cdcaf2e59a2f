//! Metadata (key 3): brokers, cluster id, controller, and topics with their partitions.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};

use super::str_bytes;
use super::RequestContext;
use crate::broker::{Broker, CONSUMER_OFFSETS_TOPIC};
use crate::metadata::TopicImage;

/// Authorized-operations fields hold this when the client did not ask for them.
const OPERATIONS_NOT_REQUESTED: i32 = i32::MIN;

pub fn handle(broker: &Broker, ctx: &RequestContext, request: MetadataRequest) -> MetadataResponse {
    let version = ctx.api_version;
    let node = broker.node_for(&ctx.listener);
    let brokers = vec![MetadataResponseBroker::default()
        .with_node_id(BrokerId(node.node_id))
        .with_host(str_bytes(node.host.clone()))
        .with_port(node.port)
        .with_rack(node.rack.clone().map(str_bytes))];
    // v0 asks for all topics with an empty list; v1+ with a null list.
    let all_topics = match &request.topics {
        None => true,
        Some(topics) => topics.is_empty() && version == 0,
    };
    let topics = if all_topics {
        broker.metadata().topics().map(topic_response).collect()
    } else {
        let auto_create = broker.config.auto_create_topics_enable
            && (version < 4 || request.allow_auto_topic_creation);
        request
            .topics
            .unwrap_or_default()
            .into_iter()
            .map(|wanted| {
                let image = broker.metadata();
                let found = match &wanted.name {
                    Some(name) => image.topic(name),
                    None => image.topic_by_id(&wanted.topic_id),
                };
                if let Some(topic) = found {
                    return topic_response(topic);
                }
                let Some(name) = wanted.name else {
                    return MetadataResponseTopic::default()
                        .with_error_code(ResponseError::UnknownTopicId.code())
                        .with_topic_id(wanted.topic_id)
                        .with_topic_authorized_operations(OPERATIONS_NOT_REQUESTED);
                };
                let error = if auto_create {
                    match broker.create_topic(
                        &name,
                        broker.config.num_partitions,
                        Default::default(),
                        false,
                    ) {
                        Ok(topic) => return topic_response(&topic),
                        Err(e) if e.error == ResponseError::TopicAlreadyExists => {
                            if let Some(topic) = broker.metadata().topic(&name) {
                                return topic_response(topic);
                            }
                            e.error
                        }
                        Err(e) => e.error,
                    }
                } else {
                    ResponseError::UnknownTopicOrPartition
                };
                MetadataResponseTopic::default()
                    .with_error_code(error.code())
                    .with_name(Some(name))
                    .with_topic_authorized_operations(OPERATIONS_NOT_REQUESTED)
            })
            .collect()
    };
    MetadataResponse::default()
        .with_brokers(brokers)
        .with_cluster_id(Some(str_bytes(broker.cluster_id.clone())))
        .with_controller_id(BrokerId(node.node_id))
        .with_topics(topics)
        .with_cluster_authorized_operations(OPERATIONS_NOT_REQUESTED)
}

fn topic_response(topic: &TopicImage) -> MetadataResponseTopic {
    let partitions = topic
        .partitions
        .iter()
        .map(|(index, p)| {
            let replicas: Vec<BrokerId> = p.replicas.iter().copied().map(BrokerId).collect();
            MetadataResponsePartition::default()
                .with_partition_index(*index)
                .with_leader_id(BrokerId(p.leader))
                .with_leader_epoch(p.leader_epoch)
                .with_isr_nodes(replicas.clone())
                .with_replica_nodes(replicas)
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(str_bytes(topic.name.clone()))))
        .with_topic_id(topic.topic_id)
        .with_is_internal(topic.name == CONSUMER_OFFSETS_TOPIC)
        .with_partitions(partitions)
        .with_topic_authorized_operations(OPERATIONS_NOT_REQUESTED)
}
