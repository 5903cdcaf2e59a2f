//! DescribeQuorum (key 55): the metadata quorum as its leader knows it, as Kafka's
//! `KafkaRaftClient.handleDescribeQuorumRequest` answers it — leader, epoch, high watermark,
//! each voter and observer with its log end offset and when it last fetched and was caught up
//! (v1), the voters' endpoints (v2). Needs Describe on the Cluster; a broker-only node forwards
//! it to the controller (Kafka's brokers do too); a node that does not lead the quorum answers
//! NOT_LEADER_OR_FOLLOWER for the partition; a partition other than `__cluster_metadata-0`
//! UNKNOWN_TOPIC_OR_PARTITION for the request.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_quorum_response::{
    Listener, Node, PartitionData, ReplicaState, TopicData,
};
use kafka_protocol::messages::{BrokerId, DescribeQuorumRequest, DescribeQuorumResponse};

use super::{str_bytes, RequestContext};
use crate::authorizer::AclOperation;
use crate::broker::Broker;
use crate::metadata::METADATA_TOPIC;
use crate::raft::ReplicaDescription;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: DescribeQuorumRequest,
) -> DescribeQuorumResponse {
    let v = ctx.api_version;
    let fail = |error: ResponseError, message: String| {
        tracing::debug!(client = ctx.client_id, %message, "DescribeQuorum refused");
        let response = DescribeQuorumResponse::default().with_error_code(error.code());
        if v >= 2 {
            response.with_error_message(Some(str_bytes(message)))
        } else {
            response
        }
    };
    if let Err(e) = broker.authorize_cluster_operation(ctx, AclOperation::Describe) {
        return fail(e.error, e.message);
    }
    let asked: Vec<(&str, Vec<i32>)> = request
        .topics
        .iter()
        .map(|t| {
            (t.topic_name.0.as_str(), t.partitions.iter().map(|p| p.partition_index).collect())
        })
        .collect();
    if !crate::raft::names_only_the_metadata_partition(&asked) {
        return fail(
            ResponseError::UnknownTopicOrPartition,
            format!("the quorum is {METADATA_TOPIC}-0; asked for {asked:?}"),
        );
    }
    let partition = match broker.describe_quorum() {
        Some(quorum) => {
            let rows = |replicas: Vec<ReplicaDescription>| -> Vec<ReplicaState> {
                replicas
                    .into_iter()
                    .map(|r| {
                        let state = ReplicaState::default()
                            .with_replica_id(BrokerId(r.replica_id))
                            .with_log_end_offset(r.log_end_offset);
                        if v >= 1 {
                            state
                                .with_last_fetch_timestamp(r.last_fetch_timestamp)
                                .with_last_caught_up_timestamp(r.last_caught_up_timestamp)
                        } else {
                            state
                        }
                    })
                    .collect()
            };
            PartitionData::default()
                .with_leader_id(BrokerId(quorum.leader_id))
                .with_leader_epoch(quorum.leader_epoch)
                .with_high_watermark(quorum.high_watermark)
                .with_current_voters(rows(quorum.voters))
                .with_observers(rows(quorum.observers))
        }
        None => {
            let partition = PartitionData::default()
                .with_error_code(ResponseError::NotLeaderOrFollower.code())
                .with_leader_id(BrokerId(broker.quorum_leader_id()))
                .with_leader_epoch(broker.quorum_epoch());
            if v >= 2 {
                partition.with_error_message(Some(str_bytes(format!(
                    "node {} does not lead the metadata quorum; node {} does",
                    broker.node.node_id,
                    broker.quorum_leader_id()
                ))))
            } else {
                partition
            }
        }
    };
    let response = DescribeQuorumResponse::default().with_topics(vec![TopicData::default()
        .with_topic_name(request.topics[0].topic_name.clone())
        .with_partitions(vec![partition])]);
    if v >= 2 {
        response.with_nodes(voter_nodes(broker))
    } else {
        response
    }
}

/// Each voter's controller endpoint (`controller.quorum.voters`, on the first of
/// `controller.listener.names`); the single-node default's one voter on its own listener.
fn voter_nodes(broker: &Broker) -> Vec<Node> {
    let config = &broker.config;
    let voters =
        crate::config::cluster::parse_voters(&config.controller_quorum_voters).unwrap_or_default();
    if voters.is_empty() {
        let listener = Listener::default()
            .with_name(str_bytes(config.inter_broker_listener_name()))
            .with_host(str_bytes(broker.node.host.clone()))
            .with_port(broker.node.port as u16);
        return vec![Node::default()
            .with_node_id(BrokerId(broker.node.node_id))
            .with_listeners(vec![listener])];
    }
    voters
        .values()
        .map(|voter| {
            let listener = Listener::default()
                .with_name(str_bytes(config.controller_listener_name()))
                .with_host(str_bytes(voter.host.clone()))
                .with_port(voter.port);
            Node::default().with_node_id(BrokerId(voter.id)).with_listeners(vec![listener])
        })
        .collect()
}
