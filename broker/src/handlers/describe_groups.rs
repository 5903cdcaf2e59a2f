//! DescribeGroups (key 15): Describe on each group (GROUP_AUTHORIZATION_FAILED otherwise), then
//! the group coordinator; v3+ may ask for the authorized operations.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_groups_response::DescribedGroup;
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};

use super::RequestContext;
use crate::authorizer::{AclOperation, ResourceType};
use crate::broker::Broker;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    mut request: DescribeGroupsRequest,
) -> DescribeGroupsResponse {
    let include_operations = ctx.api_version >= 3 && request.include_authorized_operations;
    let wanted = std::mem::take(&mut request.groups);
    let (allowed, denied): (Vec<_>, Vec<_>) = wanted.into_iter().partition(|g| {
        broker.authorize(ctx, AclOperation::Describe, ResourceType::Group, g.0.as_str())
    });
    request.groups = allowed;
    // Allowed groups first, then the denied ones, as Kafka answers.
    let mut groups: Vec<DescribedGroup> = broker
        .groups
        .describe_groups(request, ctx.api_version)
        .groups
        .into_iter()
        .map(|mut g| {
            if include_operations && g.error_code == 0 {
                g.authorized_operations =
                    broker.authorized_operations(ctx, ResourceType::Group, &g.group_id);
            }
            g
        })
        .collect();
    groups.extend(denied.into_iter().map(|id| {
        DescribedGroup::default()
            .with_group_id(id)
            .with_error_code(ResponseError::GroupAuthorizationFailed.code())
            .with_authorized_operations(i32::MIN)
    }));
    DescribeGroupsResponse::default().with_groups(groups)
}
