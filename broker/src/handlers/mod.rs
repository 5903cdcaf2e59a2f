//! One module per Kafka API. Each turns a decoded request into a response using the broker's
//! shared state; none of them touches sockets or bytes on the wire.

mod allocate_producer_ids;
mod alter_client_quotas;
mod alter_configs;
mod alter_partition;
mod alter_partition_reassignments;
mod alter_user_scram_credentials;
pub mod api_versions;
mod begin_quorum_epoch;
mod broker_heartbeat;
mod broker_registration;
mod create_acls;
mod create_partitions;
mod create_topics;
mod delete_acls;
mod delete_groups;
mod delete_records;
mod delete_topics;
mod describe_acls;
mod describe_client_quotas;
mod describe_cluster;
mod describe_configs;
mod describe_groups;
mod describe_quorum;
mod describe_user_scram_credentials;
mod elect_leaders;
mod end_quorum_epoch;
mod envelope;
mod fetch;
mod fetch_snapshot;
mod find_coordinator;
mod heartbeat;
mod incremental_alter_configs;
mod init_producer_id;
mod join_group;
mod leave_group;
mod list_groups;
mod list_offsets;
mod list_partition_reassignments;
mod metadata;
mod offset_commit;
mod offset_delete;
mod offset_fetch;
mod offset_for_leader_epoch;
mod produce;
mod sasl_authenticate;
mod sasl_handshake;
mod sync_group;
mod vote;

use std::sync::Arc;

use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::security::{Principal, Session};
use crate::server::FrameError;

/// What a handler knows about the request besides its body.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The API.
    pub api_key: ApiKey,
    /// The request's version.
    pub api_version: i16,
    /// The client's correlation id.
    pub correlation_id: i32,
    /// `client.id` from the request header.
    pub client_id: String,
    /// The peer address.
    pub client_host: String,
    /// The listener the request arrived on.
    pub listener: String,
    /// Who sent it, as TLS or SASL established (`User:ANONYMOUS` otherwise).
    pub principal: Principal,
}

/// Routes a decoded request to its handler. `Ok(None)`: no response is sent (acks=0).
pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    session: &mut Session,
    request: RequestKind,
) -> Result<Option<ResponseKind>, FrameError> {
    let v = ctx.api_version;
    if crate::forwarding::is_forwardable(ctx.api_key) && broker.forwards_to_controller() {
        if let Some(response) = broker.forwarding.forward(broker, ctx, &request).await {
            return Ok(Some(response));
        }
    }
    // Read before the handler runs: a leader that loses its leadership meanwhile must not
    // answer for records it wrote.
    let writes = writes_metadata(ctx.api_key) && broker.is_active_controller();
    let response = match request {
        RequestKind::ApiVersions(_) => ResponseKind::ApiVersions(api_versions::handle()),
        RequestKind::SaslHandshake(r) => {
            ResponseKind::SaslHandshake(sasl_handshake::handle(broker, ctx, session, r))
        }
        RequestKind::SaslAuthenticate(r) => {
            ResponseKind::SaslAuthenticate(sasl_authenticate::handle(broker, session, r))
        }
        RequestKind::Metadata(r) => ResponseKind::Metadata(metadata::handle(broker, ctx, r)),
        RequestKind::Produce(r) => match produce::handle(broker, ctx, r, v).await {
            Some(response) => ResponseKind::Produce(response),
            None => return Ok(None),
        },
        RequestKind::Fetch(r) => ResponseKind::Fetch(fetch::handle(broker, ctx, r, v).await),
        RequestKind::ListOffsets(r) => {
            ResponseKind::ListOffsets(list_offsets::handle(broker, ctx, r, v))
        }
        RequestKind::InitProducerId(r) => {
            ResponseKind::InitProducerId(init_producer_id::handle(broker, ctx, r))
        }
        RequestKind::CreateTopics(r) => {
            ResponseKind::CreateTopics(create_topics::handle(broker, ctx, r, v))
        }
        RequestKind::DeleteTopics(r) => {
            ResponseKind::DeleteTopics(delete_topics::handle(broker, ctx, r, v))
        }
        RequestKind::CreatePartitions(r) => {
            ResponseKind::CreatePartitions(create_partitions::handle(broker, ctx, r))
        }
        RequestKind::DeleteRecords(r) => {
            ResponseKind::DeleteRecords(delete_records::handle(broker, ctx, r))
        }
        RequestKind::DescribeConfigs(r) => {
            ResponseKind::DescribeConfigs(describe_configs::handle(broker, ctx, r, v))
        }
        RequestKind::AlterConfigs(r) => {
            ResponseKind::AlterConfigs(alter_configs::handle(broker, ctx, r))
        }
        RequestKind::IncrementalAlterConfigs(r) => {
            ResponseKind::IncrementalAlterConfigs(incremental_alter_configs::handle(broker, ctx, r))
        }
        RequestKind::Envelope(r) => ResponseKind::Envelope(envelope::handle(broker, ctx, r).await),
        RequestKind::AllocateProducerIds(r) => {
            ResponseKind::AllocateProducerIds(allocate_producer_ids::handle(broker, ctx, r))
        }
        RequestKind::DescribeCluster(r) => {
            ResponseKind::DescribeCluster(describe_cluster::handle(broker, ctx, r))
        }
        RequestKind::OffsetForLeaderEpoch(r) => {
            ResponseKind::OffsetForLeaderEpoch(offset_for_leader_epoch::handle(broker, ctx, r))
        }
        RequestKind::FindCoordinator(r) => {
            ResponseKind::FindCoordinator(find_coordinator::handle(broker, ctx, r))
        }
        RequestKind::JoinGroup(r) => {
            ResponseKind::JoinGroup(join_group::handle(broker, ctx, r).await)
        }
        RequestKind::SyncGroup(r) => {
            ResponseKind::SyncGroup(sync_group::handle(broker, ctx, r).await)
        }
        RequestKind::Heartbeat(r) => ResponseKind::Heartbeat(heartbeat::handle(broker, ctx, r)),
        RequestKind::LeaveGroup(r) => ResponseKind::LeaveGroup(leave_group::handle(broker, ctx, r)),
        RequestKind::OffsetCommit(r) => {
            ResponseKind::OffsetCommit(offset_commit::handle(broker, ctx, r).await)
        }
        RequestKind::OffsetFetch(r) => {
            ResponseKind::OffsetFetch(offset_fetch::handle(broker, ctx, r))
        }
        RequestKind::ListGroups(r) => ResponseKind::ListGroups(list_groups::handle(broker, ctx, r)),
        RequestKind::DescribeGroups(r) => {
            ResponseKind::DescribeGroups(describe_groups::handle(broker, ctx, r))
        }
        RequestKind::DeleteGroups(r) => {
            ResponseKind::DeleteGroups(delete_groups::handle(broker, ctx, r))
        }
        RequestKind::OffsetDelete(r) => {
            ResponseKind::OffsetDelete(offset_delete::handle(broker, ctx, r))
        }
        RequestKind::DescribeClientQuotas(r) => {
            ResponseKind::DescribeClientQuotas(describe_client_quotas::handle(broker, ctx, r))
        }
        RequestKind::AlterClientQuotas(r) => {
            ResponseKind::AlterClientQuotas(alter_client_quotas::handle(broker, ctx, r))
        }
        RequestKind::DescribeUserScramCredentials(r) => ResponseKind::DescribeUserScramCredentials(
            describe_user_scram_credentials::handle(broker, ctx, r),
        ),
        RequestKind::AlterUserScramCredentials(r) => ResponseKind::AlterUserScramCredentials(
            alter_user_scram_credentials::handle(broker, ctx, r),
        ),
        RequestKind::CreateAcls(r) => ResponseKind::CreateAcls(create_acls::handle(broker, ctx, r)),
        RequestKind::DescribeAcls(r) => {
            ResponseKind::DescribeAcls(describe_acls::handle(broker, ctx, r))
        }
        RequestKind::DeleteAcls(r) => ResponseKind::DeleteAcls(delete_acls::handle(broker, ctx, r)),
        RequestKind::BrokerRegistration(r) => {
            ResponseKind::BrokerRegistration(broker_registration::handle(broker, ctx, r))
        }
        RequestKind::BrokerHeartbeat(r) => {
            ResponseKind::BrokerHeartbeat(broker_heartbeat::handle(broker, ctx, r))
        }
        RequestKind::Vote(r) => ResponseKind::Vote(vote::handle(broker, ctx, r)),
        RequestKind::DescribeQuorum(r) => {
            ResponseKind::DescribeQuorum(describe_quorum::handle(broker, ctx, r))
        }
        RequestKind::BeginQuorumEpoch(r) => {
            ResponseKind::BeginQuorumEpoch(begin_quorum_epoch::handle(broker, ctx, r))
        }
        RequestKind::EndQuorumEpoch(r) => {
            ResponseKind::EndQuorumEpoch(end_quorum_epoch::handle(broker, ctx, r))
        }
        RequestKind::FetchSnapshot(r) => {
            ResponseKind::FetchSnapshot(fetch_snapshot::handle(broker, ctx, r))
        }
        RequestKind::AlterPartition(r) => {
            ResponseKind::AlterPartition(alter_partition::handle(broker, ctx, r))
        }
        RequestKind::AlterPartitionReassignments(r) => ResponseKind::AlterPartitionReassignments(
            alter_partition_reassignments::handle(broker, ctx, r),
        ),
        RequestKind::ListPartitionReassignments(r) => ResponseKind::ListPartitionReassignments(
            list_partition_reassignments::handle(broker, ctx, r),
        ),
        RequestKind::ElectLeaders(r) => {
            ResponseKind::ElectLeaders(elect_leaders::handle(broker, ctx, r, v))
        }
        other => {
            // Unreachable while api_versions::SUPPORTED lists only the APIs above.
            return Err(FrameError::Invalid(format!("no handler for {other:?}")));
        }
    };
    if writes {
        broker.wait_for_metadata_commit(METADATA_COMMIT_TIMEOUT).await.map_err(|why| {
            tracing::warn!(api = ?ctx.api_key, client = ctx.client_id, "{why}: no response is sent");
            FrameError::NotCommitted(why)
        })?;
    }
    Ok(Some(response))
}

/// How long a controller API's response waits for its records to commit (the admin clients'
/// `request.timeout.ms` is 30 s; a leader without a majority resigns well before).
const METADATA_COMMIT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The APIs whose handlers may write metadata records on the active controller. Their
/// responses wait until what they wrote is committed, as Kafka's `QuorumController` completes
/// a write once the quorum's high watermark passes it: an answer never claims a topic, ACL or
/// broker registration a failover could take back.
fn writes_metadata(api: ApiKey) -> bool {
    let forwarded_change = crate::forwarding::is_forwardable(api)
        && !matches!(api, ApiKey::ListPartitionReassignments | ApiKey::DescribeQuorum);
    forwarded_change
        || matches!(
            api,
            ApiKey::BrokerRegistration
                | ApiKey::BrokerHeartbeat
                | ApiKey::AlterPartition
                | ApiKey::AllocateProducerIds
                | ApiKey::InitProducerId
                | ApiKey::Envelope
        )
}

/// The controller APIs' common checks: ClusterAction on the Cluster
/// (CLUSTER_AUTHORIZATION_FAILED), then that this node is the active controller
/// (NOT_CONTROLLER, so the sender looks for the quorum's leader).
fn check_controller_request(
    broker: &Broker,
    ctx: &RequestContext,
) -> Result<(), crate::error::ApiError> {
    broker.authorize_cluster_operation(ctx, crate::authorizer::AclOperation::ClusterAction)?;
    broker.check_active_controller(&format!("{:?} requests", ctx.api_key))
}

/// The whole-request checks of a Raft RPC (Vote, BeginQuorumEpoch, EndQuorumEpoch): a voter's
/// ClusterAction, the controller role (any voter answers, leader or not), then
/// `raft::check_voter_rpc` on its cluster id and `(topic, partitions)`.
fn check_raft_request<'a>(
    broker: &Broker,
    ctx: &RequestContext,
    cluster_id: Option<&StrBytes>,
    topics: impl Iterator<Item = (&'a str, Vec<i32>)>,
) -> Result<(), crate::error::ApiError> {
    let topics: Vec<(&str, Vec<i32>)> = topics.collect();
    broker
        .authorize_cluster_operation(ctx, crate::authorizer::AclOperation::ClusterAction)
        .and_then(|()| broker.check_controller_role(&format!("{:?} requests", ctx.api_key)))
        .and_then(|()| crate::raft::check_voter_rpc(broker, cluster_id, &topics))
        .inspect_err(|e| {
            tracing::debug!(client = ctx.client_id, api = ?ctx.api_key, error = %e.message, "Raft request refused");
        })
}

/// Wire string from a Rust string.
pub(crate) fn str_bytes(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}

// Kafka's leader-epoch fencing, one rule for clients and followers (the replica layer's).
pub(crate) use crate::replica::check_leader_epoch;

/// The group coordinator checks topics against the current metadata image.
impl crate::group::TopicLookup for crate::metadata::MetadataImage {
    fn partition_count(&self, topic: &str) -> Option<i32> {
        self.topic(topic).map(|t| t.partitions.len() as i32)
    }

    fn topic_name(&self, id: uuid::Uuid) -> Option<String> {
        self.topic_by_id(&id).map(|t| t.name.clone())
    }

    fn topic_id(&self, name: &str) -> Option<uuid::Uuid> {
        self.topic(name).map(|t| t.topic_id)
    }
}

#[cfg(test)]
mod authorization_tests;
#[cfg(test)]
mod tests;
