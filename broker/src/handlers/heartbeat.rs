//! Heartbeat (key 12): Read on the group, then the group coordinator.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use super::RequestContext;
use crate::authorizer::{AclOperation, ResourceType};
use crate::broker::Broker;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: HeartbeatRequest,
) -> HeartbeatResponse {
    if !broker.authorize(ctx, AclOperation::Read, ResourceType::Group, request.group_id.0.as_str())
    {
        return HeartbeatResponse::default()
            .with_error_code(ResponseError::GroupAuthorizationFailed.code());
    }
    broker.groups.heartbeat(request, ctx.api_version)
}
