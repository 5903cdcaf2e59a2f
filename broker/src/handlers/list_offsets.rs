//! ListOffsets (key 2): earliest, latest, max-timestamp and by-timestamp offset lookups, on the
//! partition's leader. LATEST is the high watermark, as Kafka answers read_uncommitted
//! consumers, and the log end offset to a follower (`replica_id` set).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use super::{check_leader_epoch, RequestContext};
use crate::authorizer::{AclOperation, ResourceType};
use crate::broker::Broker;
use crate::error::ApiError;
use crate::replica::ReplicaManager;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
const LATEST_TIERED: i64 = -5;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: ListOffsetsRequest,
    version: i16,
) -> ListOffsetsResponse {
    let image = broker.metadata();
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let name = topic.name.0.to_string();
            let allowed = broker.authorize(ctx, AclOperation::Describe, ResourceType::Topic, &name);
            let partitions = topic
                .partitions
                .into_iter()
                .map(|p| {
                    let response = ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index);
                    if !allowed {
                        return response
                            .with_error_code(ResponseError::TopicAuthorizationFailed.code())
                            .with_offset(-1)
                            .with_timestamp(-1);
                    }
                    match lookup(
                        broker.replica_manager(),
                        &image,
                        &name,
                        p.partition_index,
                        p.current_leader_epoch,
                        p.timestamp,
                        request.replica_id.0 >= 0,
                    ) {
                        // leader_epoch exists from v4 on.
                        Ok((offset, timestamp, leader_epoch)) => response
                            .with_offset(offset)
                            .with_timestamp(timestamp)
                            .with_leader_epoch(if version >= 4 { leader_epoch } else { -1 }),
                        Err(e) => {
                            response.with_error_code(e.code()).with_offset(-1).with_timestamp(-1)
                        }
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default().with_name(topic.name).with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}

/// `(offset, timestamp, leader epoch)` for one partition; offset -1 when no record matches.
fn lookup(
    replicas: &ReplicaManager,
    image: &crate::metadata::MetadataImage,
    topic: &str,
    partition: i32,
    current_leader_epoch: i32,
    timestamp: i64,
    from_replica: bool,
) -> Result<(i64, i64, i32), ApiError> {
    let unknown = || {
        ApiError::new(
            ResponseError::UnknownTopicOrPartition,
            format!("{topic}-{partition} does not exist"),
        )
    };
    image.topic(topic).and_then(|t| t.partitions.get(&partition)).ok_or_else(unknown)?;
    let target = replicas.partition(topic, partition).ok_or_else(unknown)?;
    let log = target.leader_log()?;
    let leader_epoch = log.leader_epoch();
    check_leader_epoch(current_leader_epoch, leader_epoch)?;
    Ok(match timestamp {
        // A follower (`replica_id` set) is told the log end offset, as Kafka answers a replica
        // (`fetchOffsetForTimestamp` without an isolation level); a consumer the high watermark.
        LATEST if from_replica => (log.log_end_offset(), -1, leader_epoch),
        LATEST | LATEST_TIERED => (log.high_watermark(), -1, leader_epoch),
        EARLIEST | EARLIEST_LOCAL => (log.log_start_offset(), -1, leader_epoch),
        MAX_TIMESTAMP => match log.log().max_timestamp_offset()? {
            Some((offset, ts)) => (offset, ts, leader_epoch),
            None => (-1, -1, -1),
        },
        // Any other value, negative included, is a time to search for, as Kafka's
        // `UnifiedLog.fetchOffsetByTimestamp` takes it: a time before every record finds the
        // first one (kafka-consumer-groups.sh's --to-datetime before 1970, a long
        // --by-duration).
        ts => match log.log().offset_for_timestamp(ts)? {
            Some((offset, ts)) => (offset, ts, leader_epoch),
            None => (-1, -1, -1),
        },
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;
    use kafka_protocol::messages::{list_offsets_request, ApiKey, ListOffsetsRequest, TopicName};
    use kafka_protocol::protocol::StrBytes;

    use crate::config::BrokerConfig;
    use crate::storage::MemoryStorage;

    #[tokio::test(start_paused = true)]
    async fn a_negative_time_that_is_no_special_value_finds_the_first_record() {
        let broker = super::super::tests::open_broker(
            BrokerConfig::default(),
            Arc::new(MemoryStorage::new()),
        );
        broker.create_topic("t", 1, Default::default(), false).unwrap();
        let records = [(None, Some(Bytes::from_static(b"v")))];
        let batch = crate::internal_records::encode_batch(&records, 1);
        let partition = broker.replica_manager().partition("t", 0).unwrap();
        partition.append_as_leader(&mut batch.to_vec(), 1, false).unwrap();
        let ctx = super::RequestContext {
            api_key: ApiKey::ListOffsets,
            api_version: 7,
            correlation_id: 1,
            client_id: "test".into(),
            client_host: "127.0.0.1:5000".into(),
            listener: "PLAINTEXT".into(),
            principal: crate::security::Principal::anonymous(),
        };
        let at = |timestamp| {
            list_offsets_request::ListOffsetsPartition::default()
                .with_partition_index(0)
                .with_timestamp(timestamp)
        };
        let request = ListOffsetsRequest::default().with_topics(vec![
            list_offsets_request::ListOffsetsTopic::default()
                .with_name(TopicName(StrBytes::from_static_str("t")))
                .with_partitions(vec![at(-1_000_000_000_000), at(-6), at(i64::MAX)]),
        ]);
        let listed = super::handle(&broker, &ctx, request, 7);
        let answers: Vec<(i16, i64)> =
            listed.topics[0].partitions.iter().map(|p| (p.error_code, p.offset)).collect();
        assert_eq!(answers, [(0, 0), (0, 0), (0, -1)]);
    }
}
