//! AlterPartitionReassignments (key 45): start, change or cancel (`replicas: null`) partition
//! reassignments, as Kafka's `ControllerApis.handleAlterPartitionReassignments`: Alter on the
//! Cluster, then `controller::reassignment::alter_partition_reassignments` through
//! `Broker::alter_partition_reassignments`. Forwarded to the controller from broker-only nodes.
//! A request-wide failure answers as Kafka's `getErrorResponse`: the error at the top and on
//! every partition.

use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse,
};

use super::{str_bytes, RequestContext};
use crate::authorizer::AclOperation;
use crate::broker::Broker;
use crate::error::ApiError;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: AlterPartitionReassignmentsRequest,
) -> AlterPartitionReassignmentsResponse {
    let outcome = broker
        .authorize_cluster_operation(ctx, AclOperation::Alter)
        .and_then(|()| broker.alter_partition_reassignments(&request));
    outcome.unwrap_or_else(|e| error_response(&request, &e))
}

fn error_response(
    request: &AlterPartitionReassignmentsRequest,
    error: &ApiError,
) -> AlterPartitionReassignmentsResponse {
    let responses = request
        .topics
        .iter()
        .map(|topic| {
            ReassignableTopicResponse::default().with_name(topic.name.clone()).with_partitions(
                topic
                    .partitions
                    .iter()
                    .map(|p| {
                        ReassignablePartitionResponse::default()
                            .with_partition_index(p.partition_index)
                            .with_error_code(error.code())
                            .with_error_message(Some(str_bytes(error.message.clone())))
                    })
                    .collect(),
            )
        })
        .collect();
    AlterPartitionReassignmentsResponse::default()
        .with_error_code(error.code())
        .with_error_message(Some(str_bytes(error.message.clone())))
        .with_responses(responses)
}
