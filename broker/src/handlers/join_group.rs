//! JoinGroup (key 11): Read on the group, then the group coordinator.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};

use super::RequestContext;
use crate::authorizer::{AclOperation, ResourceType};
use crate::broker::Broker;

pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: JoinGroupRequest,
) -> JoinGroupResponse {
    if !broker.authorize(ctx, AclOperation::Read, ResourceType::Group, request.group_id.0.as_str())
    {
        return crate::group::join_error(
            ctx.api_version,
            ResponseError::GroupAuthorizationFailed,
            "",
        );
    }
    broker.groups.join_group(request, ctx.api_version, &ctx.client_id, &ctx.client_host).await
}
