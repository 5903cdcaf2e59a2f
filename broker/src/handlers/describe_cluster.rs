//! DescribeCluster (key 60). Kafka checks no ACL here (like Metadata); Describe on the Cluster
//! only decides whether the requested authorized operations are reported (0 otherwise).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};

use super::str_bytes;
use super::RequestContext;
use crate::broker::Broker;

/// DescribeCluster v1+ endpoint types: 1 = brokers, 2 = controllers.
const ENDPOINT_BROKERS: i8 = 1;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: DescribeClusterRequest,
) -> DescribeClusterResponse {
    let version = ctx.api_version;
    let response = DescribeClusterResponse::default()
        .with_cluster_id(str_bytes(broker.cluster_id.clone()))
        .with_controller_id(BrokerId(broker.controller_id_for_clients()))
        .with_endpoint_type(ENDPOINT_BROKERS)
        .with_cluster_authorized_operations(if request.include_cluster_authorized_operations {
            super::metadata::cluster_authorized_operations(broker, ctx)
        } else {
            i32::MIN
        });
    if version >= 1 && request.endpoint_type != ENDPOINT_BROKERS {
        return response
            .with_error_code(ResponseError::UnsupportedEndpointType.code())
            .with_error_message(Some(str_bytes("this broker reports broker endpoints only")));
    }
    // A listener left out of `advertised.listeners` lists no broker, as in Kafka.
    let brokers = broker.live_brokers_for(&ctx.listener).into_iter().map(|node| {
        DescribeClusterBroker::default()
            .with_broker_id(BrokerId(node.node_id))
            .with_host(str_bytes(node.host))
            .with_port(node.port)
            .with_rack(node.rack.map(str_bytes))
    });
    response.with_brokers(brokers.collect())
}
