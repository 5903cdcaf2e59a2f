//! ListPartitionReassignments (key 46): the reassignments in progress, as Kafka's
//! `ControllerApis.handleListPartitionReassignments`: Describe on the Cluster
//! (CLUSTER_AUTHORIZATION_FAILED), then the controller's image. Forwarded to the controller
//! from broker-only nodes, as Kafka's brokers forward it.

use kafka_protocol::messages::{
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse,
};

use super::{str_bytes, RequestContext};
use crate::authorizer::AclOperation;
use crate::broker::Broker;
use crate::controller::reassignment;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: ListPartitionReassignmentsRequest,
) -> ListPartitionReassignmentsResponse {
    if let Err(e) = broker.authorize_cluster_operation(ctx, AclOperation::Describe) {
        return ListPartitionReassignmentsResponse::default()
            .with_error_code(e.code())
            .with_error_message(Some(str_bytes(e.message)));
    }
    reassignment::list_partition_reassignments(&broker.metadata(), &request)
}
