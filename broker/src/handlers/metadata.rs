//! Metadata (key 3): brokers, cluster id, controller, and topics with their partitions.
//!
//! Authorization as in Kafka: an all-topics request lists only topics the principal may
//! Describe; a topic requested by name or id that it may not Describe is answered with
//! TOPIC_AUTHORIZATION_FAILED; auto-creation needs Create on the Cluster or on the topic.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};

use super::str_bytes;
use super::RequestContext;
use crate::authorizer::{AclOperation, ResourceType, CLUSTER_NAME};
use crate::broker::{Broker, CONSUMER_OFFSETS_TOPIC};
use crate::metadata::TopicImage;

/// Authorized-operations fields hold this when the client did not ask for them.
const OPERATIONS_NOT_REQUESTED: i32 = i32::MIN;

/// Answers a Metadata request; a broker-only node auto-creates through the controller
/// (`ForwardingManager::auto_create_topic`), so it needs the shared broker.
pub fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: MetadataRequest,
) -> MetadataResponse {
    let version = ctx.api_version;
    let node = broker.node_for(&ctx.listener);
    let brokers: Vec<_> = broker
        .live_brokers_for(&ctx.listener)
        .into_iter()
        .map(|node| {
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(node.node_id))
                .with_host(str_bytes(node.host))
                .with_port(node.port)
                .with_rack(node.rack.map(str_bytes))
        })
        .collect();
    // On a listener left out of `advertised.listeners` the leader has no endpoint, and Kafka
    // says so per partition: LISTENER_NOT_FOUND from v6, LEADER_NOT_AVAILABLE before.
    let unadvertised = node.is_none().then_some(if version >= 6 {
        ResponseError::ListenerNotFound
    } else {
        ResponseError::LeaderNotAvailable
    });
    let with_operations = version >= 8 && request.include_topic_authorized_operations;
    let respond = |topic: &TopicImage| {
        let operations = if with_operations {
            broker.authorized_operations(ctx, ResourceType::Topic, &topic.name)
        } else {
            OPERATIONS_NOT_REQUESTED
        };
        topic_response(topic, unadvertised, version).with_topic_authorized_operations(operations)
    };
    let describe =
        |name: &str| broker.authorize(ctx, AclOperation::Describe, ResourceType::Topic, name);
    // v0 asks for all topics with an empty list; v1+ with a null list.
    let all_topics = match &request.topics {
        None => true,
        Some(topics) => topics.is_empty() && version == 0,
    };
    let topics = if all_topics {
        broker
            .metadata()
            .topics()
            .filter(|t| {
                broker.authorize_silently(ctx, AclOperation::Describe, ResourceType::Topic, &t.name)
            })
            .map(respond)
            .collect()
    } else {
        let auto_create = broker.config.auto_create_topics_enable
            && (version < 4 || request.allow_auto_topic_creation);
        let denied = |name: Option<TopicName>, id: uuid::Uuid| {
            MetadataResponseTopic::default()
                .with_error_code(ResponseError::TopicAuthorizationFailed.code())
                .with_name(name)
                .with_topic_id(id)
                .with_topic_authorized_operations(OPERATIONS_NOT_REQUESTED)
        };
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
                    if !describe(&topic.name) {
                        // Asked by id, the name stays hidden.
                        return match wanted.name {
                            Some(name) => denied(Some(name), uuid::Uuid::nil()),
                            None => denied(None, topic.topic_id),
                        };
                    }
                    return respond(topic);
                }
                let Some(name) = wanted.name else {
                    return MetadataResponseTopic::default()
                        .with_error_code(ResponseError::UnknownTopicId.code())
                        .with_topic_id(wanted.topic_id)
                        .with_topic_authorized_operations(OPERATIONS_NOT_REQUESTED);
                };
                if !describe(&name) {
                    return denied(Some(name), uuid::Uuid::nil());
                }
                let may_create = || {
                    let create = AclOperation::Create;
                    broker.authorize_silently(ctx, create, ResourceType::Cluster, CLUSTER_NAME)
                        || broker.authorize(ctx, create, ResourceType::Topic, &name)
                };
                let error = if auto_create && !may_create() {
                    ResponseError::TopicAuthorizationFailed
                } else if auto_create && broker.forwards_to_controller() {
                    broker.forwarding.auto_create_topic(broker, ctx, &name);
                    ResponseError::LeaderNotAvailable
                } else if auto_create {
                    match broker.create_topic(
                        &name,
                        broker.config.num_partitions,
                        Default::default(),
                        false,
                    ) {
                        Ok(topic) => return respond(&topic),
                        Err(e) if e.error == ResponseError::TopicAlreadyExists => {
                            if let Some(topic) = broker.metadata().topic(&name) {
                                return respond(topic);
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
    // v8-10 may ask for the Cluster's operations: the bit field with Describe, 0 without it.
    let cluster_operations =
        if (8..=10).contains(&version) && request.include_cluster_authorized_operations {
            cluster_authorized_operations(broker, ctx)
        } else {
            OPERATIONS_NOT_REQUESTED
        };
    MetadataResponse::default()
        .with_brokers(brokers)
        .with_cluster_id(Some(str_bytes(broker.cluster_id.clone())))
        .with_controller_id(BrokerId(broker.controller_id_for_clients()))
        .with_topics(topics)
        .with_cluster_authorized_operations(cluster_operations)
}

/// Kafka's cluster authorized operations: all allowed ones with Describe on the Cluster, else 0.
pub(crate) fn cluster_authorized_operations(broker: &Broker, ctx: &RequestContext) -> i32 {
    if broker.authorize(ctx, AclOperation::Describe, ResourceType::Cluster, CLUSTER_NAME) {
        broker.authorized_operations(ctx, ResourceType::Cluster, CLUSTER_NAME)
    } else {
        0
    }
}

/// A topic's metadata; `unadvertised` is the partitions' error when the client's listener is
/// not advertised (no leader endpoint, every replica offline for it, as Kafka reports).
fn topic_response(
    topic: &TopicImage,
    unadvertised: Option<ResponseError>,
    version: i16,
) -> MetadataResponseTopic {
    let partitions = topic
        .partitions
        .iter()
        .map(|(index, p)| {
            let replicas: Vec<BrokerId> = p.replicas.iter().copied().map(BrokerId).collect();
            let isr: Vec<BrokerId> = p.isr.iter().copied().map(BrokerId).collect();
            let partition = MetadataResponsePartition::default()
                .with_partition_index(*index)
                .with_leader_epoch(p.leader_epoch);
            match unadvertised {
                None => partition
                    .with_leader_id(BrokerId(p.leader))
                    .with_isr_nodes(isr)
                    .with_replica_nodes(replicas),
                Some(error) => {
                    // v0 lists only replicas reachable on this listener: none.
                    let listed = if version == 0 { Vec::new() } else { replicas.clone() };
                    partition
                        .with_error_code(error.code())
                        .with_leader_id(BrokerId(-1))
                        .with_isr_nodes(listed.clone())
                        .with_replica_nodes(listed)
                        .with_offline_replicas(replicas)
                }
            }
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(str_bytes(topic.name.clone()))))
        .with_topic_id(topic.topic_id)
        .with_is_internal(topic.name == CONSUMER_OFFSETS_TOPIC)
        .with_partitions(partitions)
        .with_topic_authorized_operations(OPERATIONS_NOT_REQUESTED)
}
