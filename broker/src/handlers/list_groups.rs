//! ListGroups (key 16): every group for principals with Describe on the Cluster, otherwise only
//! the groups they may Describe (left out silently, as in Kafka).

use kafka_protocol::messages::{ListGroupsRequest, ListGroupsResponse};

use super::RequestContext;
use crate::authorizer::{AclOperation, ResourceType, CLUSTER_NAME};
use crate::broker::Broker;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: ListGroupsRequest,
) -> ListGroupsResponse {
    let mut response = broker.groups.list_groups(request, ctx.api_version);
    let (describe, group) = (AclOperation::Describe, ResourceType::Group);
    if !broker.authorize_silently(ctx, describe, ResourceType::Cluster, CLUSTER_NAME) {
        response.groups.retain(|g| broker.authorize_silently(ctx, describe, group, &g.group_id));
    }
    response
}
