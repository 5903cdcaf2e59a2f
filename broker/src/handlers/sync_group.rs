//! SyncGroup (key 14): delegated to the group coordinator.

use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};

use super::RequestContext;
use crate::broker::Broker;

pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: SyncGroupRequest,
) -> SyncGroupResponse {
    broker.groups.sync_group(request, ctx.api_version).await
}
