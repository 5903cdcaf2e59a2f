//! FindCoordinator (key 10): a group's coordinator is the leader of its `__consumer_offsets`
//! partition (Kafka's `partitionFor`), named with its endpoint on the client's listener;
//! COORDINATOR_NOT_AVAILABLE while that partition has no live leader. Transactions are refused.
//! Needs Describe on the group (GROUP_AUTHORIZATION_FAILED) or the transactional id
//! (TRANSACTIONAL_ID_AUTHORIZATION_FAILED).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use super::str_bytes;
use super::RequestContext;
use crate::authorizer::{AclOperation, ResourceType};
use crate::broker::{Broker, CONSUMER_OFFSETS_TOPIC};

const KEY_TYPE_GROUP: i8 = 0;
const KEY_TYPE_TRANSACTION: i8 = 1;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let version = ctx.api_version;
    let node = broker.node_for(&ctx.listener);
    let answer = |key: StrBytes| {
        let denied = |error: ResponseError| {
            Coordinator::default()
                .with_key(key.clone())
                .with_error_code(error.code())
                .with_error_message(Some(str_bytes("Authorization failed.")))
                .with_node_id(BrokerId(-1))
                .with_port(-1)
        };
        let describe = AclOperation::Describe;
        match request.key_type {
            KEY_TYPE_GROUP if !broker.authorize(ctx, describe, ResourceType::Group, &key) => {
                return denied(ResponseError::GroupAuthorizationFailed)
            }
            KEY_TYPE_TRANSACTION
                if !broker.authorize(ctx, describe, ResourceType::TransactionalId, &key) =>
            {
                return denied(ResponseError::TransactionalIdAuthorizationFailed)
            }
            _ => {}
        }
        let coordinator = Coordinator::default().with_key(key.clone());
        if request.key_type != KEY_TYPE_GROUP {
            return coordinator
                .with_error_code(ResponseError::InvalidRequest.code())
                .with_error_message(Some(str_bytes(format!(
                    "coordinator key type {} is not supported: kafka-lab-broker coordinates consumer groups only",
                    request.key_type
                ))))
                .with_node_id(BrokerId(-1))
                .with_port(-1);
        }
        let not_available = |why: String| {
            Coordinator::default()
                .with_key(key.clone())
                .with_error_code(ResponseError::CoordinatorNotAvailable.code())
                .with_error_message(Some(str_bytes(why)))
                .with_node_id(BrokerId(-1))
                .with_port(-1)
        };
        let partition = broker.groups.partition_for(&key);
        let leader = broker
            .metadata()
            .topic(CONSUMER_OFFSETS_TOPIC)
            .and_then(|t| t.partitions.get(&partition))
            .map(|p| p.leader);
        let leader = match leader {
            Some(leader) if leader >= 0 => leader,
            _ => {
                return not_available(format!("{CONSUMER_OFFSETS_TOPIC}-{partition} has no leader"))
            }
        };
        if leader != broker.node.node_id {
            return match broker.live_brokers_for(&ctx.listener).into_iter().find(|b| b.node_id == leader) {
                Some(node) => coordinator
                    .with_node_id(BrokerId(node.node_id))
                    .with_host(str_bytes(node.host))
                    .with_port(node.port),
                None => not_available(format!(
                    "the leader of {CONSUMER_OFFSETS_TOPIC}-{partition}, node {leader}, has no live endpoint on listener `{}`",
                    ctx.listener
                )),
            };
        }
        match node {
            Some(node) => coordinator
                .with_node_id(BrokerId(node.node_id))
                .with_host(str_bytes(node.host.clone()))
                .with_port(node.port),
            // As Kafka: the coordinator has no endpoint on a listener that is not advertised.
            None => coordinator
                .with_error_code(ResponseError::CoordinatorNotAvailable.code())
                .with_error_message(Some(str_bytes(format!(
                    "listener `{}` is not in advertised.listeners, so the coordinator has no \
                     endpoint on it",
                    ctx.listener
                ))))
                .with_node_id(BrokerId(-1))
                .with_port(-1),
        }
    };
    if version >= 4 {
        let coordinators = request.coordinator_keys.iter().cloned().map(answer).collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    let c = answer(request.key.clone());
    FindCoordinatorResponse::default()
        .with_error_code(c.error_code)
        .with_error_message(c.error_message)
        .with_node_id(c.node_id)
        .with_host(c.host)
        .with_port(c.port)
}
