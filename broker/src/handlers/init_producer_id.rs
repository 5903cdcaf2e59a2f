//! InitProducerId (key 22): producer ids for idempotent producers. Transactions are not
//! implemented, so a transactional id is refused with a message that says so.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use super::RequestContext;
use crate::authorizer::{AclOperation, ResourceType, CLUSTER_NAME};
use crate::broker::Broker;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let failed = |error: ResponseError| {
        InitProducerIdResponse::default()
            .with_error_code(error.code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1)
    };
    match request.transactional_id.as_ref().map(|id| id.0.as_str()) {
        // An idempotent producer needs IdempotentWrite on the Cluster or Write on some topic.
        None => {
            let (cluster, topic) = (ResourceType::Cluster, ResourceType::Topic);
            if !broker.authorize_silently(ctx, AclOperation::IdempotentWrite, cluster, CLUSTER_NAME)
                && !broker.authorize_by_resource_type(ctx, AclOperation::Write, topic)
            {
                return failed(ResponseError::ClusterAuthorizationFailed);
            }
        }
        Some(id)
            if !id.is_empty()
                && !broker.authorize(
                    ctx,
                    AclOperation::Write,
                    ResourceType::TransactionalId,
                    id,
                ) =>
        {
            return failed(ResponseError::TransactionalIdAuthorizationFailed)
        }
        // Kafka's own answer to an empty transactional id.
        Some("") => return failed(ResponseError::InvalidRequest),
        Some(id) => {
            tracing::warn!(
                transactional_id = id,
                "InitProducerId refused: transactions are not supported"
            );
            return failed(ResponseError::InvalidRequest);
        }
    }
    // A producer re-initialising (KIP-360) gets a fresh id rather than a bumped epoch: its old
    // sequence state then cannot collide with the new one.
    match broker.allocate_producer_id() {
        Ok(id) => InitProducerIdResponse::default()
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(0),
        // Retriable: a broker-only node waiting for its next block from the controller.
        Err(e) if e.error == ResponseError::CoordinatorLoadInProgress => {
            tracing::debug!(error = %e.message, "no producer id yet");
            failed(e.error)
        }
        Err(e) => {
            tracing::error!(error = %e.message, "cannot allocate a producer id");
            failed(e.error)
        }
    }
}
