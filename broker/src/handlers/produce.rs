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
