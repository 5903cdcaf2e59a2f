//! Produce (key 0): append client record batches to partition logs, as received unless the
//! topic's configs ask for a change (`log::validator`: LogAppendTime, `compression.type`);
//! `max.message.bytes`, timestamp bounds and `min.insync.replicas` are checked first, by the
//! partition's leader-side append (`replica::Partition::append_records_to_leader`).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};

use super::{str_bytes, RequestContext};
use crate::authorizer::{AclOperation, ResourceType};
use crate::broker::{unknown_topic, Broker};
use crate::error::ApiError;
use crate::replica::{AppendRejection as Rejection, LeaderAppend, ReplicaManager};
use crate::topic_config;

/// Handles a Produce request; `None` for acks=0, which Kafka never answers.
pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: ProduceRequest,
    version: i16,
) -> Option<ProduceResponse> {
    let acks = request.acks;
    // Kafka checks Write on the transactional id before anything else.
    let transactional_denied = request.transactional_id.as_ref().is_some_and(|id| {
        !broker.authorize(ctx, AclOperation::Write, ResourceType::TransactionalId, id.0.as_str())
    });
    let valid_acks = matches!(acks, -1..=1);
    let transactional = request.transactional_id.is_some();
    let mut appended = false;
    let image = broker.metadata();
    let replicas = broker.replica_manager();
    let responses = request
        .topic_data
        .into_iter()
        .map(|topic| {
            let name = topic.name.0.to_string();
            let topic_allowed = transactional_denied
                || broker.authorize(ctx, AclOperation::Write, ResourceType::Topic, &name);
            let partitions = topic
                .partition_data
                .into_iter()
                .map(|data| {
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
                        let appended = result.as_ref().ok().map(|info| {
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
                        Ok(info) => {
                            appended = true;
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
    if appended {
        broker.appended.notify_waiters();
    }
    (acks != 0).then(|| ProduceResponse::default().with_responses(responses))
}

/// Appends through the partition's leader; `broker` gives the configs and the clock.
fn append(
    broker: &Broker,
    replicas: &ReplicaManager,
    image: &crate::metadata::MetadataImage,
    topic: &str,
    partition: i32,
    acks: i16,
    records: Option<bytes::Bytes>,
) -> Result<crate::log::AppendInfo, Rejection> {
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
    target.append_records_to_leader(LeaderAppend {
        records: records.unwrap_or_default(),
        required_acks: acks,
        min_insync_replicas: topic_config::min_insync_replicas(
            &broker.config,
            &topic_image.configs,
        ),
        policy: &topic_config::append_policy(&broker.config, &topic_image.configs),
        now_ms: broker.clock.now_ms(),
        inflate_limit: usize::try_from(broker.config.socket_request_max_bytes).unwrap_or(0),
    })
}
