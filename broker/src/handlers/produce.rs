//! Produce (key 0): append client record batches to partition logs, as received unless the
//! topic's configs ask for a change (`log::validator`: LogAppendTime, `compression.type`);
//! `max.message.bytes`, timestamp bounds and `min.insync.replicas` are checked first, by the
//! partition's leader-side append (`replica::Partition::append_records_to_leader`). An acks=all
//! request is answered once the ISR has its records (`replica::delayed_produce`, Kafka's
//! `DelayedProduce`), or at its `timeout_ms`.

use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};

use super::{str_bytes, RequestContext};
use crate::authorizer::{AclOperation, ResourceType};
use crate::broker::{unknown_topic, Broker};
use crate::error::ApiError;
use crate::replica::delayed_produce::{self, ProducePartitionStatus};
use crate::replica::{AppendRejection as Rejection, LeaderAppend, ReplicaManager};
use crate::topic_config;

/// Handles a Produce request; `None` for acks=0, which Kafka never answers. With acks=all it
/// answers once every appended partition's high watermark passed its records.
pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: ProduceRequest,
    version: i16,
) -> Option<ProduceResponse> {
    let acks = request.acks;
    let timeout_ms = request.timeout_ms;
    // Kafka checks Write on the transactional id before anything else.
    let transactional_denied = request.transactional_id.as_ref().is_some_and(|id| {
        !broker.authorize(ctx, AclOperation::Write, ResourceType::TransactionalId, id.0.as_str())
    });
    let valid_acks = matches!(acks, -1..=1);
    let transactional = request.transactional_id.is_some();
    let mut appended = false;
    // Appended acks=all partitions, by (topic index, partition index) in the response.
    let mut waiting: Vec<((usize, usize), ProducePartitionStatus)> = Vec::new();
    let image = broker.metadata();
    let replicas = broker.replica_manager();
    let mut responses: Vec<TopicProduceResponse> = request
        .topic_data
        .into_iter()
        .enumerate()
        .map(|(topic_index, topic)| {
            let name = topic.name.0.to_string();
            let topic_allowed = transactional_denied
                || broker.authorize(ctx, AclOperation::Write, ResourceType::Topic, &name);
            let partitions = topic
                .partition_data
                .into_iter()
                .enumerate()
                .map(|(partition_index, data)| {
                    let index = data.index;
                    let batch_bytes = data.records.as_ref().map_or(0, |r| r.len());
                    let result: Result<_, Rejection> = if transactional_denied {
                        Err(ApiError::new(
                            ResponseError::TransactionalIdAuthorizationFailed,
                            "Write on the transactional id is required",
                        )
                        .into())
                    } else if !topic_allowed {
                        Err(ApiError::new(
                            ResponseError::TopicAuthorizationFailed,
                            format!("Write on topic `{name}` is required"),
                        )
                        .into())
                    } else if !valid_acks {
                        Err(ApiError::new(ResponseError::InvalidRequiredAcks, format!("acks={acks} is not -1, 0 or 1")).into())
                    } else if transactional {
                        Err(ApiError::new(
                            ResponseError::InvalidRequest,
                            "transactions are not supported by kafka-lab-broker",
                        )
                        .into())
                    } else {
                        append(broker, replicas, &image, &name, index, acks, data.records)
                    };
                    if topic_allowed && !transactional_denied {
                        // Unauthorized partitions are left out, as Kafka counts only what
                        // reaches the log; unknown topics count in the all-topics series only.
                        let known = image.topic(&name).is_some().then_some(name.as_str());
                        let appended = result.as_ref().ok().map(|(info, _)| {
                            if info.duplicate {
                                (0, 0)
                            } else {
                                ((info.last_offset - info.base_offset + 1) as u64, batch_bytes as u64)
                            }
                        });
                        broker.metrics.record_produce(known, appended);
                    }
                    let response = PartitionProduceResponse::default().with_index(index);
                    match result {
                        Ok((info, status)) => {
                            appended = true;
                            if let Some(status) = status {
                                waiting.push(((topic_index, partition_index), status));
                            }
                            response
                                .with_base_offset(info.base_offset)
                                .with_log_append_time_ms(info.log_append_time_ms)
                                .with_log_start_offset(info.log_start_offset)
                        }
                        Err(Rejection { error: e, record_errors }) => {
                            tracing::debug!(topic = name, partition = index, error = %e.message, "produce rejected");
                            // record_errors exist from v8.
                            let record_errors = if version >= 8 { record_errors } else { Vec::new() };
                            response
                                .with_error_code(e.code())
                                .with_error_message(Some(str_bytes(e.message)))
                                .with_record_errors(
                                    record_errors
                                        .into_iter()
                                        .map(|r| {
                                            BatchIndexAndErrorMessage::default()
                                                .with_batch_index(r.batch_index)
                                                .with_batch_index_error_message(Some(str_bytes(r.message)))
                                        })
                                        .collect(),
                                )
                                .with_base_offset(-1)
                                .with_log_append_time_ms(-1)
                                .with_log_start_offset(-1)
                        }
                    }
                })
                .collect();
            TopicProduceResponse::default().with_name(topic.name).with_partition_responses(partitions)
        })
        .collect();
    drop(image);
    if appended {
        broker.appended.notify_waiters();
    }
    if !waiting.is_empty() {
        let timeout = Duration::from_millis(timeout_ms.max(0) as u64);
        let statuses: Vec<_> = waiting.iter().map(|(_, status)| status.clone()).collect();
        let acked = delayed_produce::wait_for_acks(&statuses, timeout).await;
        for (((topic, partition), _), result) in waiting.iter().zip(acked) {
            if let Err(e) = result {
                tracing::debug!(error = %e.message, "acks=all produce not acknowledged");
                // The append's offsets stay in the answer, as Kafka's DelayedProduce keeps them.
                let response = &mut responses[*topic].partition_responses[*partition];
                response.error_code = e.code();
                response.error_message = Some(str_bytes(e.message));
            }
        }
    }
    (acks != 0).then(|| ProduceResponse::default().with_responses(responses))
}

/// Appends through the partition's leader; `broker` gives the configs and the clock. For
/// acks=all, also what the answer waits for.
fn append(
    broker: &Broker,
    replicas: &ReplicaManager,
    image: &crate::metadata::MetadataImage,
    topic: &str,
    partition: i32,
    acks: i16,
    records: Option<bytes::Bytes>,
) -> Result<(crate::log::AppendInfo, Option<ProducePartitionStatus>), Rejection> {
    let topic_image = image.topic(topic).ok_or_else(|| unknown_topic(topic))?;
    if !topic_image.partitions.contains_key(&partition) {
        return Err(ApiError::new(
            ResponseError::UnknownTopicOrPartition,
            format!(
                "topic `{topic}` has no partition {partition}; it has {}",
                topic_image.partitions.len()
            ),
        )
        .into());
    }
    let target = replicas.partition(topic, partition).ok_or_else(|| unknown_topic(topic))?;
    let min_insync_replicas =
        topic_config::min_insync_replicas(&broker.config, &topic_image.configs);
    let info = target.append_records_to_leader(LeaderAppend {
        records: records.unwrap_or_default(),
        required_acks: acks,
        min_insync_replicas,
        policy: &topic_config::append_policy(&broker.config, &topic_image.configs),
        now_ms: broker.clock.now_ms(),
        inflate_limit: usize::try_from(broker.config.socket_request_max_bytes).unwrap_or(0),
    })?;
    let status = (acks == -1).then(|| ProducePartitionStatus {
        partition: target.clone(),
        required_offset: info.last_offset + 1,
        min_insync_replicas,
    });
    Ok((info, status))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use bytes::Bytes;
    use kafka_protocol::error::ResponseError;
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic, ReplicaState};
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::produce_response::PartitionProduceResponse;
    use kafka_protocol::messages::{ApiKey, BrokerId, FetchRequest, ProduceRequest, TopicName};
    use kafka_protocol::protocol::StrBytes;
    use uuid::Uuid;

    use crate::broker::Broker;
    use crate::config::BrokerConfig;
    use crate::internal_records::encode_batch;
    use crate::metadata::{
        ConfigResource, MetadataRecord, PartitionChangeRecord, PartitionRecord,
        RegisterBrokerRecord,
    };
    use crate::replica::{PendingIsrChange, Role};
    use crate::storage::MemoryStorage;

    const TOPIC_ID: Uuid = Uuid::from_u128(0x15);
    const FOLLOWER: i32 = 2;
    const FOLLOWER_EPOCH: i64 = 1_000;

    use super::super::tests::anonymous as ctx;

    /// This broker with broker 2 registered and unfenced, and topic `r`: one partition on
    /// this broker and broker 2, led here, broker 2 in the ISR if `follower_in_sync`, with
    /// `min.insync.replicas`.
    fn replicated(follower_in_sync: bool, min_insync_replicas: i32) -> Arc<Broker> {
        let broker = super::super::tests::open_broker(
            BrokerConfig { group_initial_rebalance_delay_ms: 0, ..BrokerConfig::default() },
            Arc::new(MemoryStorage::new()),
        );
        let follower = RegisterBrokerRecord {
            broker_id: FOLLOWER,
            incarnation_id: Uuid::from_u128(2),
            broker_epoch: FOLLOWER_EPOCH,
            endpoints: Vec::new(),
            features: Vec::new(),
            rack: None,
            fenced: true,
            in_controlled_shutdown: false,
        };
        broker
            .commit_metadata(vec![
                MetadataRecord::RegisterBroker(follower),
                MetadataRecord::UnfenceBroker { id: FOLLOWER, epoch: FOLLOWER_EPOCH },
            ])
            .unwrap();
        let node = broker.config.node_id;
        let mut partition = PartitionRecord::new(TOPIC_ID, 0, vec![node, FOLLOWER]);
        if !follower_in_sync {
            partition.isr = vec![node];
        }
        broker
            .commit_metadata(vec![
                MetadataRecord::Topic { name: "r".into(), topic_id: TOPIC_ID },
                MetadataRecord::Config {
                    resource: ConfigResource::Topic("r".into()),
                    name: "min.insync.replicas".into(),
                    value: Some(min_insync_replicas.to_string()),
                },
                MetadataRecord::Partition(partition),
            ])
            .unwrap();
        broker
    }

    /// A Produce v9 of one record to `r`-0.
    fn produce_request(acks: i16, timeout_ms: i32) -> ProduceRequest {
        let batch = encode_batch(&[(None, Some(Bytes::from_static(b"v")))], 1).freeze();
        ProduceRequest::default().with_acks(acks).with_timeout_ms(timeout_ms).with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_static_str("r")))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(batch))]),
        ])
    }

    /// Produces in a task of its own; its answer for `r`-0.
    fn produce(
        broker: &Arc<Broker>,
        acks: i16,
        timeout_ms: i32,
    ) -> crate::runtime::JoinHandle<PartitionProduceResponse> {
        let broker = broker.clone();
        crate::runtime::spawn(async move {
            let request = produce_request(acks, timeout_ms);
            let response = super::handle(&broker, &ctx(ApiKey::Produce, 9), request, 9).await;
            response.unwrap().responses[0].partition_responses[0].clone()
        })
    }

    /// Broker 2's Fetch v15 of `r`-0 at `offset`: the high watermark it is told.
    async fn follower_fetch(broker: &Arc<Broker>, offset: i64) -> i64 {
        let request = FetchRequest::default()
            .with_max_wait_ms(0)
            .with_max_bytes(1 << 20)
            .with_replica_state(
                ReplicaState::default()
                    .with_replica_id(BrokerId(FOLLOWER))
                    .with_replica_epoch(FOLLOWER_EPOCH),
            )
            .with_topics(vec![FetchTopic::default().with_topic_id(TOPIC_ID).with_partitions(
                vec![FetchPartition::default()
                    .with_partition(0)
                    .with_fetch_offset(offset)
                    .with_current_leader_epoch(0)
                    .with_partition_max_bytes(1 << 20)],
            )]);
        let response =
            super::super::fetch::handle(broker, &ctx(ApiKey::Fetch, 15), request, 15).await;
        let partition = &response.responses[0].partitions[0];
        assert_eq!(partition.error_code, 0);
        partition.high_watermark
    }

    /// Lets the spawned produce run up to its wait.
    async fn settle() {
        crate::runtime::sleep(Duration::from_millis(100)).await;
    }

    #[tokio::test(start_paused = true)]
    async fn acks_all_waits_until_the_follower_has_the_records() {
        let broker = replicated(true, 1);
        let start = crate::runtime::now();
        let pending = produce(&broker, -1, 30_000);
        settle().await;
        assert!(!pending.is_finished(), "follower 2 has not fetched the record");
        let partition = broker.replica_manager().partition("r", 0).unwrap();
        assert_eq!((partition.high_watermark(), partition.log_end_offset()), (0, 1));
        assert_eq!(follower_fetch(&broker, 0).await, 0);
        settle().await;
        assert!(!pending.is_finished(), "follower 2 fetched, but not past the record");
        assert_eq!(follower_fetch(&broker, 1).await, 1);
        let answered = pending.await.unwrap();
        assert_eq!((answered.error_code, answered.base_offset), (0, 0));
        assert_eq!(crate::runtime::elapsed(start).as_millis(), 200);
        // The next one waits for offset 2.
        let pending = produce(&broker, -1, 30_000);
        settle().await;
        assert!(!pending.is_finished());
        follower_fetch(&broker, 2).await;
        assert_eq!(pending.await.unwrap().base_offset, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn acks_one_answers_at_once() {
        let broker = replicated(true, 2);
        let start = crate::runtime::now();
        let answered = produce(&broker, 1, 30_000).await.unwrap();
        assert_eq!((answered.error_code, answered.base_offset), (0, 0));
        assert_eq!(crate::runtime::elapsed(start).as_millis(), 0);
        let partition = broker.replica_manager().partition("r", 0).unwrap();
        assert_eq!(partition.high_watermark(), 0, "the follower does not have it yet");
    }

    #[tokio::test(start_paused = true)]
    async fn acks_all_times_out_without_the_follower() {
        let broker = replicated(true, 1);
        let start = crate::runtime::now();
        let answered = produce(&broker, -1, 500).await.unwrap();
        assert_eq!(answered.error_code, ResponseError::RequestTimedOut.code());
        assert_eq!(answered.base_offset, 0, "the append's offsets stay in the answer");
        assert_eq!(crate::runtime::elapsed(start).as_millis(), 500);
    }

    #[tokio::test(start_paused = true)]
    async fn acks_all_below_min_insync_replicas_is_refused_before_the_append() {
        let broker = replicated(false, 2);
        let answered = produce(&broker, -1, 30_000).await.unwrap();
        assert_eq!(answered.error_code, ResponseError::NotEnoughReplicas.code());
        let partition = broker.replica_manager().partition("r", 0).unwrap();
        assert_eq!(partition.log_end_offset(), 0, "nothing appended");
    }

    #[tokio::test(start_paused = true)]
    async fn an_isr_shrinking_under_a_waiting_produce_answers_not_enough_replicas_after_append() {
        let broker = replicated(true, 2);
        let pending = produce(&broker, -1, 30_000);
        settle().await;
        assert!(!pending.is_finished());
        // The controller commits the ISR without broker 2: the high watermark reaches the
        // record, but the ISR is below min.insync.replicas.
        let mut change = PartitionChangeRecord::new(TOPIC_ID, 0);
        change.isr = Some(vec![broker.config.node_id]);
        broker.commit_metadata(vec![MetadataRecord::PartitionChange(change)]).unwrap();
        let answered = pending.await.unwrap();
        assert_eq!(answered.error_code, ResponseError::NotEnoughReplicasAfterAppend.code());
        assert_eq!(answered.base_offset, 0);
        let partition = broker.replica_manager().partition("r", 0).unwrap();
        assert_eq!(partition.high_watermark(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_leader_change_ends_the_wait_with_not_leader_or_follower() {
        let broker = replicated(true, 1);
        let pending = produce(&broker, -1, 30_000);
        settle().await;
        broker.replica_manager().partition("r", 0).unwrap().make_follower(FOLLOWER, 1);
        let answered = pending.await.unwrap();
        assert_eq!(answered.error_code, ResponseError::NotLeaderOrFollower.code());
    }

    /// A follower outside the ISR fetching at the high watermark is proposed into it, with its
    /// broker epoch; the metadata's PartitionChangeRecord commits it.
    #[tokio::test(start_paused = true)]
    async fn a_follower_fetching_at_the_high_watermark_is_proposed_into_the_isr() {
        let broker = replicated(false, 1);
        let answered = produce(&broker, -1, 30_000).await.unwrap();
        assert_eq!(answered.error_code, 0, "alone in the ISR: nothing to wait for");
        let partition = broker.replica_manager().partition("r", 0).unwrap();
        follower_fetch(&broker, 1).await;
        let Role::Leader(leader) = partition.role() else { panic!("not leading") };
        assert!(matches!(
            leader.pending,
            Some(PendingIsrChange::Expand { replica_id: FOLLOWER, .. })
        ));
        let node = broker.config.node_id;
        let manager = broker.replica_manager().alter_partition_manager();
        let request = manager.take_pending_request(node, 7).unwrap();
        let isr: Vec<(i32, i64)> = request.topics[0].partitions[0]
            .new_isr_with_epochs
            .iter()
            .map(|b| (b.broker_id.0, b.broker_epoch))
            .collect();
        assert_eq!(isr, [(node, 7), (FOLLOWER, FOLLOWER_EPOCH)]);
        let mut change = PartitionChangeRecord::new(TOPIC_ID, 0);
        change.isr = Some(vec![node, FOLLOWER]);
        broker.commit_metadata(vec![MetadataRecord::PartitionChange(change)]).unwrap();
        let Role::Leader(leader) = partition.role() else { panic!("not leading") };
        assert_eq!(
            (leader.isr, leader.partition_epoch, leader.pending),
            ([node, FOLLOWER].into(), 1, None)
        );
    }

    /// The whole shrink on a combined node: a follower that stops fetching is proposed out of
    /// the ISR after `replica.lag.time.max.ms`, the sender (`controller_channel`) hands the
    /// AlterPartition to this node's controller, which commits it, and the waiting acks=all
    /// produce completes with the ISR that is left.
    #[tokio::test(start_paused = true)]
    async fn a_silent_follower_is_shrunk_out_of_the_isr_through_the_controller() {
        let broker = replicated(true, 1);
        crate::runtime::spawn(crate::controller_channel::run_alter_partition_sender(
            broker.clone(),
        ));
        let pending = produce(&broker, -1, 60_000);
        settle().await;
        assert!(!pending.is_finished(), "follower 2 is in the ISR and has not fetched");
        let max_lag_ms = broker.config.replica_lag_time_max_ms;
        crate::runtime::sleep(Duration::from_millis(max_lag_ms as u64 + 1)).await;
        broker.replica_manager().maybe_shrink_isr(broker.clock.now_ms(), max_lag_ms);
        let answered = pending.await.unwrap();
        assert_eq!((answered.error_code, answered.base_offset), (0, 0));
        let image = broker.metadata();
        let committed = &image.topic("r").unwrap().partitions[&0];
        assert_eq!((committed.isr.clone(), committed.partition_epoch), (vec![1], 1));
    }

    /// The replication gauges count what this leader sees: `r`-0 has replicas [1, 2] and ISR
    /// [1] with `min.insync.replicas=2`, so it is under-replicated and under min ISR; the 50
    /// `__consumer_offsets` partitions (one replica, min ISR 1) are at min ISR.
    #[tokio::test(start_paused = true)]
    async fn the_replication_gauges_count_the_partitions_this_node_leads() {
        let broker = replicated(false, 2);
        let text = crate::metrics::render(&broker);
        let gauge = |name: &str| {
            let line = text.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap();
            line.rsplit(' ').next().unwrap().parse::<f64>().unwrap()
        };
        assert_eq!(gauge("kafka_server_replicamanager_underreplicatedpartitions"), 1.0);
        assert_eq!(gauge("kafka_server_replicamanager_underminisrpartitioncount"), 1.0);
        assert_eq!(gauge("kafka_server_replicamanager_atminisrpartitioncount"), 50.0);
        assert_eq!(gauge("kafka_server_replicamanager_leadercount"), 51.0);
        assert_eq!(gauge("kafka_controller_kafkacontroller_activebrokercount"), 2.0);
        assert_eq!(gauge("kafka_controller_kafkacontroller_offlinepartitionscount"), 0.0);
        // The follower catches up and the controller commits it back into the ISR.
        let mut change = PartitionChangeRecord::new(TOPIC_ID, 0);
        change.isr = Some(vec![broker.config.node_id, FOLLOWER]);
        broker.commit_metadata(vec![MetadataRecord::PartitionChange(change)]).unwrap();
        let text = crate::metrics::render(&broker);
        let line = text
            .lines()
            .find(|l| l.starts_with("kafka_server_replicamanager_underreplicatedpartitions "))
            .unwrap();
        assert!(line.ends_with(" 0"), "{line}");
    }
}
