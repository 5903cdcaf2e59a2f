//! Produce (key 0): append client record batches to partition logs, as received unless the
//! topic's configs ask for a change (`log::validator`: LogAppendTime, `compression.type`);
//! `max.message.bytes`, timestamp bounds and `min.insync.replicas` are checked first.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};

use super::{str_bytes, RequestContext};
use crate::authorizer::{AclOperation, ResourceType};
use crate::broker::{unknown_topic, Broker};
use crate::error::ApiError;
use crate::log::validator::{self, RecordError, ValidationError};
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
                        append(broker, &image, &name, index, acks, data.records)
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

/// Why a partition's batches were not appended: an error, and for INVALID_TIMESTAMP the
/// records that caused it (ProduceResponse v8+ `record_errors`).
struct Rejection {
    error: ApiError,
    record_errors: Vec<RecordError>,
}

impl From<ApiError> for Rejection {
    fn from(error: ApiError) -> Self {
        Rejection { error, record_errors: Vec::new() }
    }
}

fn append(
    broker: &Broker,
    image: &crate::metadata::MetadataImage,
    topic: &str,
    partition: i32,
    acks: i16,
    records: Option<bytes::Bytes>,
) -> Result<crate::log::AppendInfo, Rejection> {
    let topic_image = image.topic(topic).ok_or_else(|| unknown_topic(topic))?;
    let Some(partition_image) = topic_image.partitions.get(&partition) else {
        return Err(ApiError::new(
            ResponseError::UnknownTopicOrPartition,
            format!(
                "topic `{topic}` has no partition {partition}; it has {}",
                topic_image.partitions.len()
            ),
        )
        .into());
    };
    // This broker is the whole ISR, as in Kafka's Partition.appendRecordsToLeader.
    let min_insync = topic_config::min_insync_replicas(&broker.config, &topic_image.configs);
    if acks == -1 && min_insync > 1 {
        return Err(ApiError::new(
            ResponseError::NotEnoughReplicas,
            format!(
                "The size of the current ISR (1) is insufficient to satisfy the min.isr \
                 requirement of {min_insync} for partition {topic}-{partition}"
            ),
        )
        .into());
    }
    let records = records.unwrap_or_default();
    if records.is_empty() {
        return Err(ApiError::new(
            ResponseError::InvalidRecord,
            "produce request carries no record batch",
        )
        .into());
    }
    let policy = topic_config::append_policy(&broker.config, &topic_image.configs);
    let now = broker.clock.now_ms();
    let inflate_limit = usize::try_from(broker.config.socket_request_max_bytes).unwrap_or(0);
    let validated =
        validator::validate(&records, &policy, now, inflate_limit).map_err(|e| match e {
            ValidationError::Log(e) => Rejection::from(ApiError::from(e)),
            ValidationError::InvalidTimestamp(record_errors) => Rejection {
                error: ApiError::new(
                    ResponseError::InvalidTimestamp,
                    "One or more records have been rejected due to invalid timestamp",
                ),
                record_errors,
            },
        })?;
    let log = broker.partition_log(topic, partition).ok_or_else(|| unknown_topic(topic))?;
    let mut records = match validated.records {
        Some(converted) => bytes::BytesMut::from(&converted[..]),
        None => bytes::BytesMut::from(&records[..]),
    };
    let mut info = log
        .lock()
        .expect("partition lock poisoned")
        .append(&mut records, partition_image.leader_epoch, now)
        .map_err(ApiError::from)?;
    if validated.log_append_time_ms != -1 {
        // A duplicate reports the time its original was appended at, as in Kafka.
        info.log_append_time_ms =
            if info.duplicate { info.max_timestamp } else { validated.log_append_time_ms };
    }
    Ok(info)
}
