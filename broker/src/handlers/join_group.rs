//! JoinGroup (key 11): delegated to the group coordinator.

use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};

use super::RequestContext;
use crate::broker::Broker;

pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: JoinGroupRequest,
) -> JoinGroupResponse {
    broker.groups.join_group(request, ctx.api_version, &ctx.client_id, &ctx.client_host).await
}
