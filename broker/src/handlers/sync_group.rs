//! SyncGroup (key 14): Read on the group, then the group coordinator.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};

use super::RequestContext;
use crate::authorizer::{AclOperation, ResourceType};
use crate::broker::Broker;

pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: SyncGroupRequest,
) -> SyncGroupResponse {
    if !broker.authorize(ctx, AclOperation::Read, ResourceType::Group, request.group_id.0.as_str())
    {
        return crate::group::sync_response(
            None,
            ctx.api_version,
            Some(ResponseError::GroupAuthorizationFailed),
            Default::default(),
        );
    }
    broker.groups.sync_group(request, ctx.api_version).await
}
