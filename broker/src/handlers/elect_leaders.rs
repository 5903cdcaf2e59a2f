//! ElectLeaders (key 43): PREFERRED or UNCLEAN leader elections for the partitions named, or
//! for every partition (`null`), as Kafka's `ControllerApis.handleElectLeaders`: Alter on the
//! Cluster, then `controller::election::elect_leaders` through `Broker::elect_leaders`. A
//! broker-only node forwards it to the controller (`forwarding`), as Kafka's brokers do.
//!
//! A request-wide failure (no authorization, an unknown election type, a commit refused)
//! answers as Kafka's `ElectLeadersRequest.getErrorResponse`: the error at the top (v1+) and
//! on every partition asked for.

use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse};

use super::{str_bytes, RequestContext};
use crate::authorizer::AclOperation;
use crate::broker::Broker;
use crate::error::ApiError;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: ElectLeadersRequest,
    version: i16,
) -> ElectLeadersResponse {
    if let Err(e) = broker.authorize_cluster_operation(ctx, AclOperation::Alter) {
        return error_response(&request, &e, version);
    }
    // An empty list asks for nothing (Kafka's controller answers at once); `null` is all.
    if request.topic_partitions.as_ref().is_some_and(Vec::is_empty) {
        return ElectLeadersResponse::default();
    }
    match broker.elect_leaders(&request) {
        Ok(response) => response,
        Err(e) => {
            tracing::info!(error = ?e.error, "ElectLeaders failed: {}", e.message);
            error_response(&request, &e, version)
        }
    }
}

/// `error` for the whole request (v1+; v0 has no top-level error) and each partition it
/// names.
fn error_response(
    request: &ElectLeadersRequest,
    error: &ApiError,
    version: i16,
) -> ElectLeadersResponse {
    let results = request
        .topic_partitions
        .iter()
        .flatten()
        .map(|topic| {
            ReplicaElectionResult::default().with_topic(topic.topic.clone()).with_partition_result(
                topic
                    .partitions
                    .iter()
                    .map(|p| {
                        PartitionResult::default()
                            .with_partition_id(*p)
                            .with_error_code(error.code())
                            .with_error_message(Some(str_bytes(error.message.clone())))
                    })
                    .collect(),
            )
        })
        .collect();
    let response = ElectLeadersResponse::default().with_replica_election_results(results);
    if version >= 1 {
        response.with_error_code(error.code())
    } else {
        response
    }
}
