//! InitProducerId (key 22): producer ids for idempotent producers. Transactions are not
//! implemented, so a transactional id is refused with a message that says so.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use crate::broker::Broker;

pub fn handle(broker: &Broker, request: InitProducerIdRequest) -> InitProducerIdResponse {
    let failed = |error: ResponseError| {
        InitProducerIdResponse::default()
            .with_error_code(error.code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1)
    };
    match request.transactional_id.as_ref().map(|id| id.0.as_str()) {
        None => {}
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
        Err(e) => {
            tracing::error!(error = %e.message, "cannot allocate a producer id");
            failed(e.error)
        }
    }
}
