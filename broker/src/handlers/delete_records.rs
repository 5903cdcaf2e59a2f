//! DeleteRecords (key 21): advance a partition's log start offset.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use super::RequestContext;
use crate::authorizer::{AclOperation, ResourceType};
use crate::broker::Broker;
use crate::error::ApiError;

/// Offset -1 in a request means "up to the high watermark".
const HIGH_WATERMARK: i64 = -1;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: DeleteRecordsRequest,
) -> DeleteRecordsResponse {
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let name = topic.name.0.to_string();
            let allowed = broker.authorize(ctx, AclOperation::Delete, ResourceType::Topic, &name);
            let partitions = topic
                .partitions
                .into_iter()
                .map(|p| {
                    let result = DeleteRecordsPartitionResult::default()
                        .with_partition_index(p.partition_index);
                    if !allowed {
                        return result
                            .with_error_code(ResponseError::TopicAuthorizationFailed.code())
                            .with_low_watermark(-1);
                    }
                    match delete(broker, &name, p.partition_index, p.offset) {
                        Ok(low_watermark) => result.with_low_watermark(low_watermark),
                        Err(e) => result.with_error_code(e.code()).with_low_watermark(-1),
                    }
                })
                .collect();
            DeleteRecordsTopicResult::default().with_name(topic.name).with_partitions(partitions)
        })
        .collect();
    DeleteRecordsResponse::default().with_topics(topics)
}

fn delete(broker: &Broker, topic: &str, partition: i32, offset: i64) -> Result<i64, ApiError> {
    let log = broker.partition_log(topic, partition).ok_or_else(|| {
        ApiError::new(
            ResponseError::UnknownTopicOrPartition,
            format!("{topic}-{partition} does not exist"),
        )
    })?;
    let mut log = log.lock().expect("partition lock poisoned");
    let offset = if offset == HIGH_WATERMARK { log.log_end_offset() } else { offset };
    Ok(log.delete_records_before(offset)?)
}
