//! AllocateProducerIds (key 67): a broker without the controller role asks the controller for
//! a block of producer ids (Kafka's `ProducerIdControlManager`), which it hands to idempotent
//! producers (InitProducerId). Only the controller answers; it needs ClusterAction.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    AllocateProducerIdsRequest, AllocateProducerIdsResponse, ProducerId,
};

use super::RequestContext;
use crate::authorizer::{AclOperation, ResourceType, CLUSTER_NAME};
use crate::broker::{Broker, PRODUCER_ID_BLOCK};

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: AllocateProducerIdsRequest,
) -> AllocateProducerIdsResponse {
    let failed = |error: ResponseError| {
        AllocateProducerIdsResponse::default()
            .with_error_code(error.code())
            .with_producer_id_start(ProducerId(-1))
    };
    if !broker.is_active_controller() {
        return failed(ResponseError::NotController);
    }
    if !broker.authorize(ctx, AclOperation::ClusterAction, ResourceType::Cluster, CLUSTER_NAME) {
        return failed(ResponseError::ClusterAuthorizationFailed);
    }
    let broker_id = request.broker_id.0;
    match broker.reserve_producer_id_block(broker_id, request.broker_epoch, 0) {
        Ok(start) => {
            tracing::debug!(broker_id, start, "producer id block reserved");
            AllocateProducerIdsResponse::default()
                .with_producer_id_start(ProducerId(start))
                .with_producer_id_len(PRODUCER_ID_BLOCK as i32)
        }
        Err(e) => {
            tracing::warn!(broker_id, error = %e.message, "AllocateProducerIds refused");
            failed(e.error)
        }
    }
}
