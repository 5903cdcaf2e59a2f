//! ApiVersions (key 18): what this broker speaks. The table here is the single source of truth;
//! the connection loop refuses any request outside it.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse};

/// `(api, min version, max version)` for every implemented API. Ranges are Kafka 4.x's,
/// capped where a newer version needs a feature this broker lacks (Produce v13, Fetch v18 and
/// OffsetCommit/OffsetFetch v10 address topics by id only; InitProducerId v6 is 2PC).
pub const SUPPORTED: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 12),
    (ApiKey::Fetch, 4, 17),
    (ApiKey::ListOffsets, 1, 10),
    (ApiKey::Metadata, 0, 13),
    (ApiKey::OffsetCommit, 2, 9),
    (ApiKey::OffsetFetch, 1, 9),
    (ApiKey::FindCoordinator, 0, 6),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::DescribeGroups, 0, 6),
    (ApiKey::ListGroups, 0, 5),
    (ApiKey::ApiVersions, 0, 4),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 6),
    (ApiKey::DeleteRecords, 0, 2),
    (ApiKey::InitProducerId, 0, 5),
    (ApiKey::OffsetForLeaderEpoch, 2, 4),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::AlterConfigs, 0, 2),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    (ApiKey::OffsetDelete, 0, 0),
    (ApiKey::DescribeCluster, 0, 2),
    (ApiKey::DescribeClientQuotas, 0, 1),
    (ApiKey::AlterClientQuotas, 0, 1),
    (ApiKey::DescribeUserScramCredentials, 0, 0),
    (ApiKey::AlterUserScramCredentials, 0, 0),
    // Kafka 4.0 dropped v0 of the ACL APIs (KIP-896).
    (ApiKey::DescribeAcls, 1, 3),
    (ApiKey::CreateAcls, 1, 3),
    (ApiKey::DeleteAcls, 1, 3),
    (ApiKey::ElectLeaders, 0, 2),
    // v1's allowReplicationFactorChange (KIP-860) is not implemented.
    (ApiKey::AlterPartitionReassignments, 0, 1),
    (ApiKey::ListPartitionReassignments, 0, 0),
    // librdkafka < 2.1 only sees SASL support when v0 is in the range, but every client uses
    // v1 when offered; a v0 handshake (raw SASL tokens outside Kafka framing) is refused.
    (ApiKey::SaslHandshake, 0, 1),
    (ApiKey::SaslAuthenticate, 0, 2),
    // The controller's APIs (a broker-only node answers NOT_CONTROLLER).
    (ApiKey::Envelope, 0, 0),
    (ApiKey::AllocateProducerIds, 0, 0),
    // The controller APIs a combined node answers (a broker-only node: NOT_CONTROLLER).
    // AlterPartition v0–v1 (topics by name) were removed in Kafka 4.0 (KIP-896).
    (ApiKey::AlterPartition, 2, 3),
    (ApiKey::BrokerRegistration, 0, 4),
    (ApiKey::BrokerHeartbeat, 0, 1),
    // The metadata quorum's Raft (KIP-595; Vote v2 is KIP-996's pre-vote).
    (ApiKey::Vote, 0, 2),
    (ApiKey::BeginQuorumEpoch, 0, 1),
    (ApiKey::EndQuorumEpoch, 0, 1),
    (ApiKey::FetchSnapshot, 0, 1),
    (ApiKey::DescribeQuorum, 0, 2),
];

/// Whether `version` of `api_key` is implemented.
pub fn is_supported(api_key: ApiKey, version: i16) -> bool {
    SUPPORTED.iter().any(|(key, min, max)| *key == api_key && (*min..=*max).contains(&version))
}

fn api_keys() -> Vec<ApiVersion> {
    SUPPORTED
        .iter()
        .map(|(key, min, max)| {
            ApiVersion::default()
                .with_api_key(*key as i16)
                .with_min_version(*min)
                .with_max_version(*max)
        })
        .collect()
}

/// The ApiVersions response.
pub fn handle() -> ApiVersionsResponse {
    ApiVersionsResponse::default().with_api_keys(api_keys()).with_finalized_features_epoch(-1)
}

/// KIP-511's answer to an ApiVersions version we do not know: to be encoded as v0.
pub fn unsupported_version_response() -> kafka_protocol::messages::ResponseKind {
    kafka_protocol::messages::ResponseKind::ApiVersions(
        ApiVersionsResponse::default()
            .with_error_code(ResponseError::UnsupportedVersion.code())
            .with_api_keys(api_keys()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::ApiVersionsRequest;
    use kafka_protocol::protocol::Message;

    #[test]
    fn advertised_ranges_are_decodable_by_the_codec() {
        for (key, min, max) in SUPPORTED {
            let codec = key.valid_versions();
            assert!(
                codec.min <= *min && *max <= codec.max,
                "{key:?} {min}..={max} vs codec {codec:?}"
            );
        }
        assert!(is_supported(ApiKey::ApiVersions, ApiVersionsRequest::VERSIONS.max));
        assert!(!is_supported(ApiKey::Produce, 13));
    }
}
