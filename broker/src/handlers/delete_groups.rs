//! DeleteGroups (key 42): Delete on each group (GROUP_AUTHORIZATION_FAILED otherwise), then the
//! group coordinator.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use super::RequestContext;
use crate::authorizer::{AclOperation, ResourceType};
use crate::broker::Broker;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    mut request: DeleteGroupsRequest,
) -> DeleteGroupsResponse {
    let (allowed, denied): (Vec<_>, Vec<_>) =
        std::mem::take(&mut request.groups_names).into_iter().partition(|g| {
            broker.authorize(ctx, AclOperation::Delete, ResourceType::Group, g.0.as_str())
        });
    request.groups_names = allowed;
    let mut response = broker.groups.delete_groups(request, ctx.api_version);
    response.results.extend(denied.into_iter().map(|g| {
        DeletableGroupResult::default()
            .with_group_id(g)
            .with_error_code(ResponseError::GroupAuthorizationFailed.code())
    }));
    response
}
