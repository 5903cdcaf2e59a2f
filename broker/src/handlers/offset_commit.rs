//! OffsetCommit (key 8): delegated to the group coordinator.

use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};

use super::RequestContext;
use crate::broker::Broker;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: OffsetCommitRequest,
) -> OffsetCommitResponse {
    broker.groups.offset_commit(request, ctx.api_version, &*broker.metadata())
}
