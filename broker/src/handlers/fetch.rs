//! Fetch (key 1): read batches as stored, long-polling until `min_bytes` or `max_wait_ms`.
//!
//! Size limits as Kafka has them (KIP-74, `ReplicaManager.readFromLog`): partitions are read in
//! request order, each within `min(partition_max_bytes, what is left of max_bytes)`; only the
//! first non-empty partition may exceed that, by returning its first batch whole, so a consumer
//! always progresses. Only whole batches are returned: where Kafka would end a partition with a
//! truncated trailing batch, which clients discard, this broker stops before it.
//!
//! Fetch sessions (KIP-227) are not kept: every response says session id 0, which tells the
//! client to send full fetch requests, as Kafka does when its session cache is full.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_response::{
    EpochEndOffset, FetchableTopicResponse, PartitionData,
};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse, TopicName};

use super::{check_leader_epoch, RequestContext};
use crate::authorizer::{AclOperation, ResourceType, CLUSTER_NAME};
use crate::broker::Broker;
use crate::error::ApiError;
use crate::metadata::MetadataImage;
use crate::replica::{FollowerFetchRequest, FollowerRegistration, Partition};

/// Kafka's broker `fetch.max.bytes` default: a response never carries more record data, whatever
/// the request's `max_bytes`.
const FETCH_MAX_BYTES: usize = 57_671_680;

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: FetchRequest,
    version: i16,
) -> FetchResponse {
    if crate::raft::is_metadata_fetch(&request, version) {
        // The metadata quorum's replication, not a partition's (Kafka's controller answers it).
        return crate::raft::handle_fetch(broker, ctx, request, version).await;
    }
    // Read on each topic, checked once rather than on every long-poll round; a follower needs
    // ClusterAction on the Cluster instead, as in Kafka, or every topic is refused.
    let image = broker.metadata();
    let follower = follower_id(&request, version);
    let cluster_action = follower.is_some()
        && broker.authorize(ctx, AclOperation::ClusterAction, ResourceType::Cluster, CLUSTER_NAME);
    let denied: BTreeSet<String> = request
        .topics
        .iter()
        .filter_map(|t| resolve_name(&image, version, &t.topic, t.topic_id))
        .filter(|name| match follower {
            Some(_) => !cluster_action,
            None => !broker.authorize(ctx, AclOperation::Read, ResourceType::Topic, name),
        })
        .collect();
    drop(image);
    let max_wait = Duration::from_millis(request.max_wait_ms.max(0) as u64);
    let deadline = crate::runtime::now() + max_wait;
    loop {
        // Register for wake-ups before reading, so an append between the read and the wait
        // is not missed.
        let appended = broker.appended.notified();
        tokio::pin!(appended);
        appended.as_mut().enable();
        let (response, bytes, has_error) = read_once(broker, &request, version, &denied, follower);
        if bytes >= request.min_bytes.max(0) as usize
            || has_error
            || crate::runtime::now() >= deadline
        {
            count(broker, &request, version, &denied, &response);
            return response;
        }
        // `biased`: an unbiased select draws from tokio's thread-local RNG, which the
        // simulator cannot seed; either branch just loops back to re-read.
        tokio::select! {
            biased;
            _ = &mut appended => {}
            _ = crate::runtime::sleep_until(deadline) => {}
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

/// Who sends a follower's fetch.
#[derive(Debug, Clone, Copy)]
struct Follower {
    replica_id: i32,
    /// Its broker epoch (`ReplicaState.replica_epoch`, -1 unknown and before v15).
    replica_epoch: i64,
}

/// The follower sending this fetch (`ReplicaState` from v15, `replica_id` before); `None` for a
/// consumer.
fn follower_id(request: &FetchRequest, version: i16) -> Option<Follower> {
    let (replica_id, replica_epoch) = if version >= 15 {
        (request.replica_state.replica_id.0, request.replica_state.replica_epoch)
    } else {
        (request.replica_id.0, -1)
    };
    (replica_id >= 0).then_some(Follower { replica_id, replica_epoch })
}

fn read_once(
    broker: &Broker,
    request: &FetchRequest,
    version: i16,
    denied: &BTreeSet<String>,
    follower: Option<Follower>,
) -> (FetchResponse, usize, bool) {
    let image = broker.metadata();
    let limit = (request.max_bytes.max(0) as usize).min(FETCH_MAX_BYTES);
    let mut remaining = limit;
    // Until a partition returned data, its first batch is returned whole whatever the limits.
    let mut min_one_message = true;
    let mut non_empty_partitions = 0;
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
                        _ => read_partition(
                            broker,
                            &image,
                            name.as_deref(),
                            p,
                            remaining,
                            min_one_message,
                            version,
                            follower,
                        ),
                    };
                    match read {
                        Ok((records, high_watermark, log_start_offset, diverging)) => {
                            let data = match diverging {
                                Some((epoch, end_offset)) => data.with_diverging_epoch(
                                    EpochEndOffset::default()
                                        .with_epoch(epoch)
                                        .with_end_offset(end_offset),
                                ),
                                None => data,
                            };
                            if !records.is_empty() {
                                min_one_message = false;
                                non_empty_partitions += 1;
                            }
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
    // KIP-74's bound: over `max_bytes` only by the one whole batch of a lone partition.
    debug_assert!(total <= limit || non_empty_partitions == 1, "fetch returned {total} bytes");
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

/// Records, high watermark, log start offset and (for a follower) the diverging epoch; or the
/// error with the high watermark and log start offset.
type PartitionRead = Result<(bytes::Bytes, i64, i64, Option<(i32, i64)>), (ApiError, i64, i64)>;

/// Reads one partition within `min(partition_max_bytes, remaining)`; with `min_one_message` its
/// first batch comes back whole even if larger (Kafka's `minOneMessage`), without it a first
/// batch that does not fit means no data for this partition in this response. The high
/// watermark, log start offset and records come from the partition's leader, together.
#[allow(clippy::too_many_arguments)]
fn read_partition(
    broker: &Broker,
    image: &MetadataImage,
    name: Option<&str>,
    p: &kafka_protocol::messages::fetch_request::FetchPartition,
    remaining: usize,
    min_one_message: bool,
    version: i16,
    follower: Option<Follower>,
) -> PartitionRead {
    let replicas = broker.replica_manager();
    let unknown = |e: ApiError| Err((e, -1, -1));
    let Some(name) = name else {
        return unknown(ApiError::new(ResponseError::UnknownTopicId, "no topic has this topic id"));
    };
    if image.topic(name).and_then(|t| t.partitions.get(&p.partition)).is_none() {
        let error = if version >= 13 {
            ResponseError::UnknownTopicId
        } else {
            ResponseError::UnknownTopicOrPartition
        };
        return unknown(ApiError::new(error, format!("{name}-{} does not exist", p.partition)));
    }
    let Some(partition) = replicas.partition(name, p.partition) else {
        return unknown(ApiError::new(
            ResponseError::UnknownTopicOrPartition,
            format!("{name}-{}", p.partition),
        ));
    };
    if let Some(follower) = follower {
        return read_for_follower(
            broker,
            image,
            &partition,
            follower,
            p,
            remaining,
            min_one_message,
        );
    }
    let log = match partition.leader_log() {
        Ok(log) => log,
        Err(e) => return unknown(e),
    };
    let (high_watermark, log_start_offset) = (log.high_watermark(), log.log_start_offset());
    if let Err(e) = check_leader_epoch(p.current_leader_epoch, log.leader_epoch()) {
        return Err((e, high_watermark, log_start_offset));
    }
    let max = (p.partition_max_bytes.max(0) as usize).min(remaining);
    if max == 0 && !min_one_message {
        return Ok((Default::default(), high_watermark, log_start_offset, None));
    }
    // The log read returns more than `max` only as its first batch, whole.
    match log.read(p.fetch_offset, max.min(u32::MAX as usize) as u32) {
        Ok(records) if records.len() > max && !min_one_message => {
            Ok((Default::default(), high_watermark, log_start_offset, None))
        }
        Ok(records) => Ok((records, high_watermark, log_start_offset, None)),
        Err(e) => Err((e, high_watermark, log_start_offset)),
    }
}

/// A follower's read: the leader checks its leader epoch and records its position (which can
/// grow the ISR, move the high watermark and wake consumers waiting for it) and returns batches
/// up to its log end offset, all under the partition's one lock
/// ([`Partition::fetch_for_follower`]).
fn read_for_follower(
    broker: &Broker,
    image: &MetadataImage,
    partition: &Arc<Partition>,
    follower: Follower,
    p: &kafka_protocol::messages::fetch_request::FetchPartition,
    remaining: usize,
    min_one_message: bool,
) -> PartitionRead {
    let max = (p.partition_max_bytes.max(0) as usize).min(remaining);
    let registration = image.brokers().get(&follower.replica_id).map(|b| FollowerRegistration {
        broker_epoch: b.registration.broker_epoch,
        fenced: b.fenced,
        in_controlled_shutdown: b.in_controlled_shutdown,
    });
    let fetched = partition
        .fetch_for_follower(&FollowerFetchRequest {
            replica_id: follower.replica_id,
            replica_epoch: follower.replica_epoch,
            fetch_offset: p.fetch_offset,
            last_fetched_epoch: p.last_fetched_epoch,
            current_leader_epoch: p.current_leader_epoch,
            max_bytes: max.min(u32::MAX as usize) as u32,
            now_ms: broker.clock.now_ms(),
            registration,
        })
        .map_err(|e| (e, -1, -1))?;
    if fetched.high_watermark_moved {
        broker.appended.notify_waiters();
    }
    let records = if fetched.records.len() > max && !min_one_message {
        Default::default()
    } else {
        fetched.records
    };
    Ok((records, fetched.high_watermark, fetched.log_start_offset, fetched.diverging_epoch))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    use kafka_protocol::messages::{ApiKey, FetchRequest, TopicName};
    use kafka_protocol::protocol::StrBytes;

    use crate::broker::Broker;
    use crate::config::BrokerConfig;
    use crate::internal_records::encode_batch;
    use crate::storage::MemoryStorage;

    /// Every batch here is one record of this many value bytes (plus batch overhead).
    const VALUE_BYTES: usize = 10_000;

    /// A broker whose topic `t` has three partitions holding two batches each.
    fn broker_with_batches() -> (Arc<Broker>, usize) {
        let broker = super::super::tests::open_broker(
            BrokerConfig { group_initial_rebalance_delay_ms: 0, ..BrokerConfig::default() },
            Arc::new(MemoryStorage::new()),
        );
        broker.create_topic("t", 3, Default::default(), false).unwrap();
        let mut batch_len = 0;
        for partition in 0..3 {
            let log = broker.replica_manager().partition("t", partition).unwrap();
            for _ in 0..2 {
                let value = Bytes::from(vec![b'x'; VALUE_BYTES]);
                let mut batch = encode_batch(&[(None, Some(value))], 1);
                batch_len = batch.len();
                log.append_as_leader(&mut batch, 1, false).unwrap();
            }
        }
        (broker, batch_len)
    }

    /// Fetch v12 of `t`'s partitions 0-2 from `offsets`.
    fn request(max_bytes: usize, partition_max_bytes: usize, offsets: [i64; 3]) -> FetchRequest {
        let partitions = (0..3)
            .map(|p| {
                FetchPartition::default()
                    .with_partition(p)
                    .with_fetch_offset(offsets[p as usize])
                    .with_partition_max_bytes(partition_max_bytes as i32)
            })
            .collect();
        FetchRequest::default().with_max_wait_ms(0).with_max_bytes(max_bytes as i32).with_topics(
            vec![FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_static_str("t")))
                .with_partitions(partitions)],
        )
    }

    /// Record bytes returned per partition.
    async fn sizes(broker: &Arc<Broker>, request: FetchRequest) -> Vec<usize> {
        let ctx = super::super::RequestContext {
            api_key: ApiKey::Fetch,
            api_version: 12,
            correlation_id: 1,
            client_id: "test".into(),
            client_host: "127.0.0.1:5000".into(),
            listener: "PLAINTEXT".into(),
            principal: crate::security::Principal::anonymous(),
        };
        let response = super::handle(broker, &ctx, request, 12).await;
        response.responses[0]
            .partitions
            .iter()
            .map(|p| {
                assert_eq!(p.error_code, 0);
                p.records.as_ref().map_or(0, Bytes::len)
            })
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn max_bytes_bound_the_response_but_the_first_batch_comes_whole() {
        let (broker, batch) = broker_with_batches();
        // Both limits below one batch: only the first partition answers, with one whole batch.
        let response = sizes(&broker, request(batch * 3 / 2, batch / 2, [0, 0, 0])).await;
        assert_eq!(response, vec![batch, 0, 0]);
        // The first partition with data is the one that may exceed the limits.
        let response = sizes(&broker, request(batch / 2, batch / 2, [2, 0, 0])).await;
        assert_eq!(response, vec![0, batch, 0]);
        // Room for three batches in all, two per partition: the next partition gets what
        // fits of the rest, and never a batch that does not fit.
        let response = sizes(&broker, request(batch * 3, batch * 2, [0, 0, 0])).await;
        assert_eq!(response, vec![2 * batch, batch, 0]);
        let response = sizes(&broker, request(batch * 5 / 2, batch * 2, [0, 0, 0])).await;
        assert_eq!(response, vec![2 * batch, 0, 0]);
        // A partition limit of 0 still lets the first non-empty partition progress, as Kafka.
        let response = sizes(&broker, request(batch * 6, 0, [0, 0, 0])).await;
        assert_eq!(response, vec![batch, 0, 0]);
        // Limits large enough: everything.
        let response = sizes(&broker, request(batch * 6, batch * 2, [0, 0, 0])).await;
        assert_eq!(response, vec![2 * batch; 3]);
    }
}
