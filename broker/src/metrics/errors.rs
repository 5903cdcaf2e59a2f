//! The error codes a response carries, counted as Kafka's `AbstractResponse.errorCounts` counts
//! them for `RequestMetrics ErrorsPerSec`: every top-level and per-resource error code, `NONE`
//! (0) included, so a Produce to three partitions counts three.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::ResponseKind;

/// Every error code in `response`, once per occurrence.
pub fn error_codes(response: &ResponseKind) -> Vec<i16> {
    use ResponseKind as R;
    let mut out = Vec::new();
    match response {
        R::Produce(r) => out.extend(
            r.responses.iter().flat_map(|t| t.partition_responses.iter().map(|p| p.error_code)),
        ),
        R::Fetch(r) => {
            out.push(r.error_code);
            out.extend(r.responses.iter().flat_map(|t| t.partitions.iter().map(|p| p.error_code)));
        }
        R::ListOffsets(r) => {
            out.extend(r.topics.iter().flat_map(|t| t.partitions.iter().map(|p| p.error_code)))
        }
        R::Metadata(r) => {
            for topic in &r.topics {
                out.extend(topic.partitions.iter().map(|p| p.error_code));
                out.push(topic.error_code);
            }
        }
        R::OffsetCommit(r) => {
            out.extend(r.topics.iter().flat_map(|t| t.partitions.iter().map(|p| p.error_code)))
        }
        R::OffsetFetch(r) if r.groups.is_empty() => {
            out.push(r.error_code);
            out.extend(r.topics.iter().flat_map(|t| t.partitions.iter().map(|p| p.error_code)));
        }
        R::OffsetFetch(r) => {
            for group in &r.groups {
                out.push(group.error_code);
                out.extend(
                    group.topics.iter().flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
                );
            }
        }
        R::FindCoordinator(r) if r.coordinators.is_empty() => out.push(r.error_code),
        R::FindCoordinator(r) => out.extend(r.coordinators.iter().map(|c| c.error_code)),
        R::JoinGroup(r) => out.push(r.error_code),
        R::Heartbeat(r) => out.push(r.error_code),
        R::LeaveGroup(r) => {
            out.push(r.error_code);
            out.extend(r.members.iter().map(|m| m.error_code));
        }
        R::SyncGroup(r) => out.push(r.error_code),
        R::DescribeGroups(r) => out.extend(r.groups.iter().map(|g| g.error_code)),
        R::ListGroups(r) => out.push(r.error_code),
        R::SaslHandshake(r) => out.push(r.error_code),
        R::SaslAuthenticate(r) => out.push(r.error_code),
        R::ApiVersions(r) => out.push(r.error_code),
        R::CreateTopics(r) => out.extend(r.topics.iter().map(|t| t.error_code)),
        R::DeleteTopics(r) => out.extend(r.responses.iter().map(|t| t.error_code)),
        R::DeleteRecords(r) => {
            out.extend(r.topics.iter().flat_map(|t| t.partitions.iter().map(|p| p.error_code)))
        }
        R::InitProducerId(r) => out.push(r.error_code),
        R::OffsetForLeaderEpoch(r) => {
            out.extend(r.topics.iter().flat_map(|t| t.partitions.iter().map(|p| p.error_code)))
        }
        R::DescribeAcls(r) => out.push(r.error_code),
        R::CreateAcls(r) => out.extend(r.results.iter().map(|a| a.error_code)),
        R::DeleteAcls(r) => out.extend(r.filter_results.iter().map(|f| f.error_code)),
        R::DescribeConfigs(r) => out.extend(r.results.iter().map(|c| c.error_code)),
        R::AlterConfigs(r) => out.extend(r.responses.iter().map(|c| c.error_code)),
        R::IncrementalAlterConfigs(r) => out.extend(r.responses.iter().map(|c| c.error_code)),
        R::CreatePartitions(r) => out.extend(r.results.iter().map(|t| t.error_code)),
        R::DeleteGroups(r) => out.extend(r.results.iter().map(|g| g.error_code)),
        R::OffsetDelete(r) => {
            out.push(r.error_code);
            out.extend(r.topics.iter().flat_map(|t| t.partitions.iter().map(|p| p.error_code)));
        }
        R::DescribeCluster(r) => out.push(r.error_code),
        R::DescribeClientQuotas(r) => out.push(r.error_code),
        R::AlterClientQuotas(r) => out.extend(r.entries.iter().map(|e| e.error_code)),
        R::DescribeUserScramCredentials(r) => {
            out.push(r.error_code);
            out.extend(r.results.iter().map(|u| u.error_code));
        }
        R::AlterUserScramCredentials(r) => out.extend(r.results.iter().map(|u| u.error_code)),
        // APIs this broker does not implement never get a response.
        _ => {}
    }
    out
}

/// Kafka's name of an error code (`Errors.name()`): `NONE`, `UNKNOWN_TOPIC_OR_PARTITION`, …;
/// codes Kafka does not know are `UNKNOWN_SERVER_ERROR`, as `Errors.forCode` maps them.
pub fn error_name(code: i16) -> String {
    let error = match ResponseError::try_from_code(code) {
        None => return "NONE".to_owned(),
        Some(ResponseError::Unknown(_)) => ResponseError::UnknownServerError,
        Some(error) => error,
    };
    // The crate's variants are Kafka's names in CamelCase.
    let camel = format!("{error:?}");
    let mut out = String::with_capacity(camel.len() + 8);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::produce_response::{
        PartitionProduceResponse, TopicProduceResponse,
    };
    use kafka_protocol::messages::ProduceResponse;

    #[test]
    fn error_names_are_kafkas() {
        assert_eq!(error_name(0), "NONE");
        assert_eq!(error_name(3), "UNKNOWN_TOPIC_OR_PARTITION");
        assert_eq!(error_name(17), "INVALID_TOPIC_EXCEPTION");
        assert_eq!(error_name(29), "TOPIC_AUTHORIZATION_FAILED");
        assert_eq!(error_name(56), "KAFKA_STORAGE_ERROR");
        assert_eq!(error_name(58), "SASL_AUTHENTICATION_FAILED");
        assert_eq!(error_name(-1), "UNKNOWN_SERVER_ERROR");
        assert_eq!(error_name(30_000), "UNKNOWN_SERVER_ERROR");
    }

    #[test]
    fn every_partition_counts() {
        let partitions = [0, 3, 0]
            .map(|code| PartitionProduceResponse::default().with_error_code(code))
            .to_vec();
        let response = ResponseKind::Produce(ProduceResponse::default().with_responses(vec![
            TopicProduceResponse::default().with_partition_responses(partitions),
        ]));
        assert_eq!(error_codes(&response), vec![0, 3, 0]);
    }
}
