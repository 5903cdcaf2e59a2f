//! CreatePartitions (key 37): grow a topic's partition count.

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};

use super::str_bytes;
use crate::broker::Broker;

pub fn handle(broker: &Broker, request: CreatePartitionsRequest) -> CreatePartitionsResponse {
    let results = request
        .topics
        .into_iter()
        .map(|topic| {
            let result = CreatePartitionsTopicResult::default().with_name(topic.name.clone());
            match broker.create_partitions(
                topic.name.0.as_str(),
                topic.count,
                request.validate_only,
            ) {
                Ok(()) => result,
                Err(e) => {
                    result.with_error_code(e.code()).with_error_message(Some(str_bytes(e.message)))
                }
            }
        })
        .collect();
    CreatePartitionsResponse::default().with_results(results)
}
