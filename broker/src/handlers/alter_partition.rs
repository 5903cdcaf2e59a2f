//! AlterPartition (key 56): a partition leader asks the controller to change its ISR, as
//! Kafka's `ControllerApis.handleAlterPartitionRequest`; the checks and the record are
//! `controller::replication::alter_partition`'s (through `Broker::alter_partition`, which a
//! combined node's own leaders call directly). Needs ClusterAction on the Cluster; a node
//! without the controller role answers NOT_CONTROLLER.

use kafka_protocol::messages::{AlterPartitionRequest, AlterPartitionResponse};

use super::RequestContext;
use crate::broker::Broker;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: AlterPartitionRequest,
) -> AlterPartitionResponse {
    match super::check_controller_request(broker, ctx) {
        Ok(()) => broker.alter_partition(request),
        Err(e) => AlterPartitionResponse::default().with_error_code(e.code()),
    }
}
