//! Heartbeat (key 12): delegated to the group coordinator.

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use super::RequestContext;
use crate::broker::Broker;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: HeartbeatRequest,
) -> HeartbeatResponse {
    broker.groups.heartbeat(request, ctx.api_version)
}
