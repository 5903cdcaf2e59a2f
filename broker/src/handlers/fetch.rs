//! Fetch (key 1): read batches as stored, long-polling until `min_bytes` or `max_wait_ms`.
//!
//! Fetch sessions (KIP-227) are not kept: every response says session id 0, which tells the
//! client to send full fetch requests, as Kafka does when its session cache is full.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse, TopicName};

use super::{check_leader_epoch, RequestContext};
use crate::authorizer::{AclOperation, ResourceType};
use crate::broker::{ApiError, Broker};
use crate::metadata::MetadataImage;

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: FetchRequest,
    version: i16,
) -> FetchResponse {
    // Read on each topic, checked once rather than on every long-poll round.
    let image = broker.metadata();
    let denied: BTreeSet<String> = request
        .topics
        .iter()
        .filter_map(|t| resolve_name(&image, version, &t.topic, t.topic_id))
        .filter(|name| !broker.authorize(ctx, AclOperation::Read, ResourceType::Topic, name))
        .collect();
    drop(image);
    let max_wait = Duration::from_millis(request.max_wait_ms.max(0) as u64);
    let deadline = tokio::time::Instant::now() + max_wait;
    loop {
        // Register for wake-ups before reading, so an append between the read and the wait
        // is not missed.
        let appended = broker.appended.notified();
        tokio::pin!(appended);
        appended.as_mut().enable();
        let (response, bytes, has_error) = read_once(broker, &request, version, &denied);
        if bytes >= request.min_bytes.max(0) as usize
            || has_error
            || tokio::time::Instant::now() >= deadline
        {
            count(broker, &request, version, &denied, &response);
            return response;
        }
        // `biased`: an unbiased select draws from tokio's thread-local RNG, which the
        // simulator cannot seed; either branch just loops back to re-read.
        tokio::select! {
            biased;
            _ = &mut appended => {}
            _ = tokio::time::sleep_until(deadline) => {}
        }
    }
}

/// Counts the answered partitions once per request (not per long-poll round) in the
/// BrokerTopicMetrics; partitions of topics the client may not read are left out, as Kafka
/// counts only what reaches the log.
fn count(
    broker: &Broker,
    request: &FetchRequest,
    version: i16,
    denied: &BTreeSet<String>,
    response: &FetchResponse,
) {
    let image = broker.metadata();
    for (asked, answered) in request.topics.iter().zip(&response.responses) {
        let name = resolve_name(&image, version, &asked.topic, asked.topic_id);
        if name.as_ref().is_some_and(|n| denied.contains(n)) {
            continue;
        }
        let known = name.as_deref().filter(|n| image.topic(n).is_some());
        for partition in &answered.partitions {
            let sent = (partition.error_code == 0)
                .then(|| partition.records.as_ref().map_or(0, |r| r.len() as u64));
            broker.metrics.record_fetch(known, sent);
        }
    }
}

fn read_once(
    broker: &Broker,
    request: &FetchRequest,
    version: i16,
    denied: &BTreeSet<String>,
) -> (FetchResponse, usize, bool) {
    let image = broker.metadata();
    let mut remaining = if request.max_bytes > 0 { request.max_bytes as usize } else { usize::MAX };
    let mut total = 0;
    let mut has_error = false;
    let topics = request
        .topics
        .iter()
        .map(|topic| {
            let name = resolve_name(&image, version, &topic.topic, topic.topic_id);
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let data = PartitionData::default()
                        .with_partition_index(p.partition)
                        .with_preferred_read_replica(BrokerId(-1));
                    let read = match &name {
                        Some(name) if denied.contains(name) => Err((
                            ApiError::new(ResponseError::TopicAuthorizationFailed, format!("Read on topic `{name}` is required")),
                            -1,
                            -1,
                        )),
                        _ => read_partition(broker, &image, name.as_deref(), p, remaining, version),
                    };
                    match read {
                        Ok((records, high_watermark, log_start_offset)) => {
                            total += records.len();
                            remaining = remaining.saturating_sub(records.len());
                            data.with_high_watermark(high_watermark)
                                .with_last_stable_offset(high_watermark)
                                .with_log_start_offset(log_start_offset)
                                .with_records(Some(records))
                        }
                        Err((error, high_watermark, log_start_offset)) => {
                            has_error = true;
                            tracing::debug!(topic = ?name, partition = p.partition, error = %error.message, "fetch error");
                            data.with_error_code(error.code())
                                .with_high_watermark(high_watermark)
                                .with_last_stable_offset(high_watermark)
                                .with_log_start_offset(log_start_offset)
                                .with_records(Some(Default::default()))
                        }
                    }
                })
                .collect();
            FetchableTopicResponse::default()
                .with_topic(if version >= 13 { TopicName::default() } else { topic.topic.clone() })
                .with_topic_id(topic.topic_id)
                .with_partitions(partitions)
        })
        .collect();
    (FetchResponse::default().with_session_id(0).with_responses(topics), total, has_error)
}

/// Fetch v13+ names topics by id only.
fn resolve_name(
    image: &MetadataImage,
    version: i16,
    name: &TopicName,
    id: uuid::Uuid,
) -> Option<String> {
    if version >= 13 {
        image.topic_by_id(&id).map(|t| t.name.clone())
    } else {
        Some(name.0.to_string())
    }
}

type PartitionRead = Result<(bytes::Bytes, i64, i64), (ApiError, i64, i64)>;

fn read_partition(
    broker: &Broker,
    image: &MetadataImage,
    name: Option<&str>,
    p: &kafka_protocol::messages::fetch_request::FetchPartition,
    remaining: usize,
    version: i16,
) -> PartitionRead {
    let unknown = |e: ApiError| Err((e, -1, -1));
    let Some(name) = name else {
        return unknown(ApiError::new(ResponseError::UnknownTopicId, "no topic has this topic id"));
    };
    let Some(partition) = image.topic(name).and_then(|t| t.partitions.get(&p.partition)) else {
        let error = if version >= 13 {
            ResponseError::UnknownTopicId
        } else {
            ResponseError::UnknownTopicOrPartition
        };
        return unknown(ApiError::new(error, format!("{name}-{} does not exist", p.partition)));
    };
    let Some(log) = broker.partition_log(name, p.partition) else {
        return unknown(ApiError::new(
            ResponseError::UnknownTopicOrPartition,
            format!("{name}-{}", p.partition),
        ));
    };
    let log = log.lock().expect("partition lock poisoned");
    let (high_watermark, log_start_offset) = (log.log_end_offset(), log.log_start_offset());
    // Invariant: the high watermark (= log end offset on a single broker) never falls below
    // the log start offset.
    debug_assert!(high_watermark >= log_start_offset, "{name}-{}: hw below log start", p.partition);
    if let Err(e) = check_leader_epoch(p.current_leader_epoch, partition.leader_epoch) {
        return Err((e, high_watermark, log_start_offset));
    }
    let max = (p.partition_max_bytes.max(0) as usize).min(remaining);
    if max == 0 {
        return Ok((Default::default(), high_watermark, log_start_offset));
    }
    match log.read(p.fetch_offset, max as u32) {
        Ok(records) => Ok((records, high_watermark, log_start_offset)),
        Err(e) => Err((ApiError::from(e), high_watermark, log_start_offset)),
    }
}
