//! LeaveGroup (key 13): Read on the group, then the group coordinator.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};

use super::RequestContext;
use crate::authorizer::{AclOperation, ResourceType};
use crate::broker::Broker;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: LeaveGroupRequest,
) -> LeaveGroupResponse {
    if !broker.authorize(ctx, AclOperation::Read, ResourceType::Group, request.group_id.0.as_str())
    {
        return LeaveGroupResponse::default()
            .with_error_code(ResponseError::GroupAuthorizationFailed.code());
    }
    broker.groups.leave_group(request, ctx.api_version)
}
