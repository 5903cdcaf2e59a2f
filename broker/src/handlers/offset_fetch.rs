//! OffsetFetch (key 9): delegated to the group coordinator.

use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse};

use super::RequestContext;
use crate::broker::Broker;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: OffsetFetchRequest,
) -> OffsetFetchResponse {
    broker.groups.offset_fetch(request, ctx.api_version, &*broker.metadata())
}
