//! BrokerRegistration (key 62): a broker registers with the controller at start, as Kafka's
//! `ControllerApis.handleBrokerRegistration`. Needs ClusterAction on the Cluster
//! (CLUSTER_AUTHORIZATION_FAILED); a node without the controller role answers NOT_CONTROLLER.

use kafka_protocol::messages::{BrokerRegistrationRequest, BrokerRegistrationResponse};

use super::RequestContext;
use crate::broker::Broker;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: BrokerRegistrationRequest,
) -> BrokerRegistrationResponse {
    let outcome = super::check_controller_request(broker, ctx)
        .and_then(|()| broker.register_broker(&request));
    match outcome {
        Ok(broker_epoch) => BrokerRegistrationResponse::default().with_broker_epoch(broker_epoch),
        Err(e) => {
            let broker_id = request.broker_id.0;
            tracing::info!(broker_id, error = %e.message, "broker registration refused");
            BrokerRegistrationResponse::default().with_error_code(e.code())
        }
    }
}
