//! OffsetCommit (key 8): Read on the group (GROUP_AUTHORIZATION_FAILED for every partition
//! otherwise) and Read on each topic (TOPIC_AUTHORIZATION_FAILED for its partitions), then the
//! group coordinator for the authorized topics. The answer waits until the commit is on every
//! in-sync replica of its `__consumer_offsets` partition (Kafka's coordinator appends with
//! acks=-1), so a commit the client saw succeed survives the coordinator's death. A wait that
//! fails is answered as Kafka 4.x's group coordinator answers it (`normalizeException`):
//! NOT_COORDINATOR when the offsets partition stopped leading, COORDINATOR_NOT_AVAILABLE when
//! its ISR fell below what it needs, REQUEST_TIMED_OUT after `offsets.commit.timeout.ms` —
//! each retriable, and each after an append that may still be committed.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_commit_request::OffsetCommitRequestTopic;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};

use std::time::Duration;

use super::RequestContext;
use crate::authorizer::{AclOperation, ResourceType};
use crate::broker::{Broker, CONSUMER_OFFSETS_TOPIC};
use crate::replica::delayed_produce::{wait_for_acks, ProducePartitionStatus};

/// Kafka's `offsets.commit.timeout.ms` default: how long a commit waits for the ISR.
const OFFSETS_COMMIT_TIMEOUT: Duration = Duration::from_millis(5000);

pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: OffsetCommitRequest,
) -> OffsetCommitResponse {
    let group = request.group_id.0.to_string();
    let mut response = commit(broker, ctx, request);
    let committed = response.topics.iter().flat_map(|t| &t.partitions).any(|p| p.error_code == 0);
    let offsets_partition = broker.groups.partition_for(&group);
    let partition = broker.replica_manager().partition(CONSUMER_OFFSETS_TOPIC, offsets_partition);
    if let (true, Some(partition)) = (committed, partition) {
        // Everything appended so far, this commit included, must reach the high watermark.
        let status = ProducePartitionStatus {
            required_offset: partition.log_end_offset(),
            partition,
            min_insync_replicas: 1,
        };
        if let Some(Err(e)) = wait_for_acks(&[status], OFFSETS_COMMIT_TIMEOUT).await.pop() {
            tracing::warn!(group, error = %e.message, "offset commit not replicated");
            let answer = match e.error {
                ResponseError::NotLeaderOrFollower | ResponseError::KafkaStorageError => {
                    ResponseError::NotCoordinator
                }
                ResponseError::NotEnoughReplicas
                | ResponseError::NotEnoughReplicasAfterAppend
                | ResponseError::UnknownTopicOrPartition => ResponseError::CoordinatorNotAvailable,
                other => other,
            };
            for p in response.topics.iter_mut().flat_map(|t| t.partitions.iter_mut()) {
                if p.error_code == 0 {
                    p.error_code = answer.code();
                }
            }
        }
    }
    response
}

fn commit(
    broker: &Broker,
    ctx: &RequestContext,
    mut request: OffsetCommitRequest,
) -> OffsetCommitResponse {
    let group = request.group_id.0.as_str();
    if !broker.authorize(ctx, AclOperation::Read, ResourceType::Group, group) {
        let topics =
            request.topics.iter().map(|t| failed(t, ResponseError::GroupAuthorizationFailed));
        return OffsetCommitResponse::default().with_topics(topics.collect());
    }
    let (allowed, denied): (Vec<_>, Vec<_>) = std::mem::take(&mut request.topics)
        .into_iter()
        .partition(|t| broker.authorize(ctx, AclOperation::Read, ResourceType::Topic, &t.name));
    let mut response = if allowed.is_empty() {
        OffsetCommitResponse::default()
    } else {
        request.topics = allowed;
        broker.groups.offset_commit(request, ctx.api_version, &*broker.metadata())
    };
    response
        .topics
        .extend(denied.iter().map(|t| failed(t, ResponseError::TopicAuthorizationFailed)));
    response
}

fn failed(topic: &OffsetCommitRequestTopic, error: ResponseError) -> OffsetCommitResponseTopic {
    OffsetCommitResponseTopic::default().with_name(topic.name.clone()).with_partitions(
        topic
            .partitions
            .iter()
            .map(|p| {
                OffsetCommitResponsePartition::default()
                    .with_partition_index(p.partition_index)
                    .with_error_code(error.code())
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
    use kafka_protocol::messages::offset_commit_request::{
        OffsetCommitRequestPartition, OffsetCommitRequestTopic,
    };
    use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
    use kafka_protocol::messages::{
        ApiKey, GroupId, JoinGroupRequest, OffsetCommitRequest, SyncGroupRequest, TopicName,
    };
    use kafka_protocol::protocol::StrBytes;
    use kafka_protocol::records::RecordBatchDecoder;

    use crate::broker::{Broker, CONSUMER_OFFSETS_TOPIC};
    use crate::config::BrokerConfig;
    use crate::group::offsets_topic::{self, RecordKey};
    use crate::internal_records::read_all;
    use crate::storage::MemoryStorage;

    fn s(text: &str) -> StrBytes {
        StrBytes::from_string(text.to_owned())
    }

    fn ctx(api_key: ApiKey, api_version: i16) -> super::RequestContext {
        super::RequestContext {
            api_key,
            api_version,
            correlation_id: 1,
            client_id: "test".into(),
            client_host: "127.0.0.1:53412".into(),
            listener: "PLAINTEXT".into(),
            principal: crate::security::Principal::anonymous(),
        }
    }

    /// (batch count, records) of the group's `__consumer_offsets` partition.
    fn offsets_partition(broker: &Broker, group: &str) -> (usize, Vec<(RecordKey, Vec<u8>)>) {
        let partition = broker.groups.partition_for(group);
        let log = broker.replica_manager().partition(CONSUMER_OFFSETS_TOPIC, partition).unwrap();
        let mut bytes = log.leader_log().unwrap().read(0, 1 << 20).unwrap();
        let batches = RecordBatchDecoder::decode_batch_info(&mut bytes).unwrap().len();
        let records = log
            .read_log(read_all)
            .unwrap()
            .into_iter()
            .map(|r| {
                let key = offsets_topic::decode_key(r.key.unwrap()).unwrap();
                (key, r.value.map(|v| v.to_vec()).unwrap_or_default())
            })
            .collect();
        (batches, records)
    }

    #[tokio::test(start_paused = true)]
    async fn one_commit_is_one_batch_and_client_host_is_kafkas() {
        let broker: Arc<Broker> = super::super::tests::open_broker(
            BrokerConfig { group_initial_rebalance_delay_ms: 0, ..BrokerConfig::default() },
            Arc::new(MemoryStorage::new()),
        );
        broker.create_topic("t", 3, Default::default(), false).unwrap();

        // A static member (no MEMBER_ID_REQUIRED round) joins and assigns: one GroupMetadata.
        let join = JoinGroupRequest::default()
            .with_group_id(GroupId(s("g")))
            .with_session_timeout_ms(10_000)
            .with_rebalance_timeout_ms(10_000)
            .with_group_instance_id(Some(s("i-1")))
            .with_protocol_type(s("consumer"))
            .with_protocols(vec![JoinGroupRequestProtocol::default().with_name(s("range"))]);
        let joined =
            super::super::join_group::handle(&broker, &ctx(ApiKey::JoinGroup, 5), join).await;
        assert_eq!(joined.error_code, 0);
        let sync = SyncGroupRequest::default()
            .with_group_id(GroupId(s("g")))
            .with_generation_id(joined.generation_id)
            .with_member_id(joined.member_id.clone())
            .with_assignments(vec![
                SyncGroupRequestAssignment::default().with_member_id(joined.member_id.clone())
            ]);
        let synced =
            super::super::sync_group::handle(&broker, &ctx(ApiKey::SyncGroup, 3), sync).await;
        assert_eq!(synced.error_code, 0);
        let (batches, records) = offsets_partition(&broker, "g");
        assert_eq!((batches, records.len()), (1, 1));
        let RecordKey::Group(group) = &records[0].0 else { panic!("{:?}", records[0].0) };
        assert_eq!(group, "g");
        let value = offsets_topic::decode_group_value(records[0].1.clone().into()).unwrap();
        assert_eq!(value.members[0].client_host, "/127.0.0.1");

        // One OffsetCommit of three partitions appends one batch of three records, as Kafka.
        let commit = OffsetCommitRequest::default()
            .with_group_id(GroupId(s("g")))
            .with_generation_id_or_member_epoch(joined.generation_id)
            .with_member_id(joined.member_id.clone())
            .with_group_instance_id(Some(s("i-1")))
            .with_topics(vec![OffsetCommitRequestTopic::default()
                .with_name(TopicName(s("t")))
                .with_partitions(
                    (0..3)
                        .map(|p| {
                            OffsetCommitRequestPartition::default()
                                .with_partition_index(p)
                                .with_committed_offset(10 + i64::from(p))
                        })
                        .collect(),
                )]);
        let committed = super::handle(&broker, &ctx(ApiKey::OffsetCommit, 8), commit).await;
        let codes: Vec<i16> = committed.topics[0].partitions.iter().map(|p| p.error_code).collect();
        assert_eq!(codes, vec![0, 0, 0]);
        let (batches, records) = offsets_partition(&broker, "g");
        assert_eq!((batches, records.len()), (2, 4), "one batch for the three offsets");
    }
}
