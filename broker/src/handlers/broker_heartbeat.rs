//! BrokerHeartbeat (key 63): a registered broker's periodic heartbeat, as Kafka's
//! `ControllerApis.handleBrokerHeartbeatRequest`: keeps its session alive, unfences it once it
//! has caught up with its registration, fences it on request, and runs controlled shutdown.
//! Needs ClusterAction on the Cluster; a node without the controller role answers
//! NOT_CONTROLLER.

use kafka_protocol::messages::{BrokerHeartbeatRequest, BrokerHeartbeatResponse};

use super::RequestContext;
use crate::broker::Broker;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: BrokerHeartbeatRequest,
) -> BrokerHeartbeatResponse {
    let outcome = super::check_controller_request(broker, ctx)
        .and_then(|()| broker.broker_heartbeat(&request));
    match outcome {
        Ok(reply) => BrokerHeartbeatResponse::default()
            .with_is_caught_up(reply.is_caught_up)
            .with_is_fenced(reply.is_fenced)
            .with_should_shut_down(reply.should_shut_down),
        Err(e) => {
            let broker_id = request.broker_id.0;
            tracing::debug!(broker_id, error = %e.message, "broker heartbeat refused");
            // Kafka's defaults for the rest: not caught up, fenced, not shutting down.
            BrokerHeartbeatResponse::default().with_error_code(e.code())
        }
    }
}
