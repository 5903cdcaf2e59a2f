//! Every advertised API at every advertised version, through the full frame path: the request
//! encodes, the broker answers, and the response decodes at that version. kafka-protocol
//! refuses to encode a response that sets a field its version lacks, so this catches
//! version-gating mistakes before a client does.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use super::api_versions::SUPPORTED;
use crate::broker::Broker;
use crate::clock::TokioClock;
use crate::config::BrokerConfig;
use crate::internal_records::encode_batch;
use crate::security::Session;
use crate::server::handle_frame;
use crate::storage::MemoryStorage;

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_owned())
}

fn topic(name: &str) -> TopicName {
    TopicName(s(name))
}

async fn test_broker() -> Arc<Broker> {
    // The authorizer is on, with the plaintext sessions' ANONYMOUS as super user: every
    // handler runs its authorization path and the ACL APIs answer for real.
    let config = BrokerConfig {
        group_initial_rebalance_delay_ms: 0,
        authorizer_class_name: crate::authorizer::STANDARD_AUTHORIZER.into(),
        super_users: "User:ANONYMOUS".into(),
        ..BrokerConfig::default()
    };
    let broker = open_broker(config, Arc::new(MemoryStorage::new()));
    broker.create_topic("t", 2, Default::default(), false).unwrap();
    broker
}

/// A broker on `storage` with the handler tests' fixed clock and RNG seed.
pub(super) fn open_broker(config: BrokerConfig, storage: Arc<MemoryStorage>) -> Arc<Broker> {
    Broker::open(config, storage, Arc::new(TokioClock::new(1_700_000_000_000)), 7).unwrap()
}

/// A representative request of `api` valid at `version`, naming topic `t` (which exists).
fn request(broker: &Broker, api: ApiKey, v: i16) -> RequestKind {
    use kafka_protocol::messages::*;
    let topic_id = broker.metadata().topic("t").unwrap().topic_id;
    let batch = Bytes::from(
        encode_batch(&[(Some(Bytes::from_static(b"k")), Some(Bytes::from_static(b"v")))], 1)
            .to_vec(),
    );
    match api {
        ApiKey::Produce => RequestKind::Produce(
            ProduceRequest::default().with_acks(1).with_timeout_ms(1000).with_topic_data(vec![
                produce_request::TopicProduceData::default()
                    .with_name(topic("t"))
                    .with_partition_data(vec![
                        produce_request::PartitionProduceData::default()
                            .with_index(0)
                            .with_records(Some(batch)),
                        produce_request::PartitionProduceData::default()
                            .with_index(9)
                            .with_records(Some(Bytes::new())),
                    ]),
            ]),
        ),
        ApiKey::Fetch => {
            let t = fetch_request::FetchTopic::default().with_partitions(vec![
                fetch_request::FetchPartition::default()
                    .with_partition(0)
                    .with_partition_max_bytes(1 << 20),
                fetch_request::FetchPartition::default()
                    .with_partition(9)
                    .with_partition_max_bytes(1 << 20),
            ]);
            let t = if v >= 13 { t.with_topic_id(topic_id) } else { t.with_topic(topic("t")) };
            RequestKind::Fetch(FetchRequest::default().with_max_bytes(1 << 20).with_topics(vec![t]))
        }
        ApiKey::ListOffsets => {
            RequestKind::ListOffsets(ListOffsetsRequest::default().with_topics(vec![
                list_offsets_request::ListOffsetsTopic::default()
                    .with_name(topic("t"))
                    .with_partitions(vec![
                        list_offsets_request::ListOffsetsPartition::default()
                            .with_partition_index(0)
                            .with_timestamp(-1),
                        list_offsets_request::ListOffsetsPartition::default()
                            .with_partition_index(0)
                            .with_timestamp(0),
                        list_offsets_request::ListOffsetsPartition::default()
                            .with_partition_index(9)
                            .with_timestamp(-2),
                    ]),
            ]))
        }
        ApiKey::Metadata => {
            RequestKind::Metadata(MetadataRequest::default().with_topics(Some(vec![
                metadata_request::MetadataRequestTopic::default().with_name(Some(topic("t"))),
                metadata_request::MetadataRequestTopic::default()
                    .with_name(Some(topic(&format!("auto-{v}")))),
            ])))
        }
        ApiKey::OffsetCommit => RequestKind::OffsetCommit(
            OffsetCommitRequest::default()
                .with_group_id(GroupId(s("g")))
                .with_generation_id_or_member_epoch(-1)
                .with_topics(vec![offset_commit_request::OffsetCommitRequestTopic::default()
                    .with_name(topic("t"))
                    .with_partitions(vec![
                        offset_commit_request::OffsetCommitRequestPartition::default()
                            .with_partition_index(0)
                            .with_committed_offset(1),
                    ])]),
        ),
        ApiKey::OffsetFetch if v >= 8 => RequestKind::OffsetFetch(
            OffsetFetchRequest::default()
                .with_groups(vec![offset_fetch_request::OffsetFetchRequestGroup::default()
                    .with_group_id(GroupId(s("g")))]),
        ),
        ApiKey::OffsetFetch => RequestKind::OffsetFetch(
            OffsetFetchRequest::default().with_group_id(GroupId(s("g"))).with_topics(Some(vec![
                offset_fetch_request::OffsetFetchRequestTopic::default()
                    .with_name(topic("t"))
                    .with_partition_indexes(vec![0, 1]),
            ])),
        ),
        ApiKey::FindCoordinator if v >= 4 => RequestKind::FindCoordinator(
            FindCoordinatorRequest::default().with_coordinator_keys(vec![s("g")]),
        ),
        ApiKey::FindCoordinator => {
            RequestKind::FindCoordinator(FindCoordinatorRequest::default().with_key(s("g")))
        }
        ApiKey::JoinGroup => {
            let r = JoinGroupRequest::default()
                .with_group_id(GroupId(s(&format!("join-{v}"))))
                .with_session_timeout_ms(10_000)
                .with_protocol_type(s("consumer"))
                .with_protocols(vec![join_group_request::JoinGroupRequestProtocol::default()
                    .with_name(s("range"))
                    .with_metadata(Bytes::from_static(b"m"))]);
            RequestKind::JoinGroup(if v >= 1 { r.with_rebalance_timeout_ms(10_000) } else { r })
        }
        ApiKey::SyncGroup => RequestKind::SyncGroup(
            SyncGroupRequest::default()
                .with_group_id(GroupId(s("g")))
                .with_generation_id(1)
                .with_member_id(s("nobody")),
        ),
        ApiKey::Heartbeat => RequestKind::Heartbeat(
            HeartbeatRequest::default()
                .with_group_id(GroupId(s("g")))
                .with_generation_id(1)
                .with_member_id(s("nobody")),
        ),
        ApiKey::LeaveGroup if v >= 3 => RequestKind::LeaveGroup(
            LeaveGroupRequest::default().with_group_id(GroupId(s("g"))).with_members(vec![
                leave_group_request::MemberIdentity::default().with_member_id(s("nobody")),
            ]),
        ),
        ApiKey::LeaveGroup => RequestKind::LeaveGroup(
            LeaveGroupRequest::default().with_group_id(GroupId(s("g"))).with_member_id(s("nobody")),
        ),
        ApiKey::DescribeGroups => RequestKind::DescribeGroups(
            DescribeGroupsRequest::default().with_groups(vec![GroupId(s("g")), GroupId(s("x"))]),
        ),
        ApiKey::ListGroups => RequestKind::ListGroups(ListGroupsRequest::default()),
        ApiKey::ApiVersions => RequestKind::ApiVersions(ApiVersionsRequest::default()),
        ApiKey::CreateTopics => {
            RequestKind::CreateTopics(CreateTopicsRequest::default().with_topics(vec![
                create_topics_request::CreatableTopic::default()
                    .with_name(topic(&format!("created-{v}")))
                    .with_num_partitions(1)
                    .with_replication_factor(1),
                create_topics_request::CreatableTopic::default()
                    .with_name(topic("t"))
                    .with_num_partitions(1)
                    .with_replication_factor(1),
            ]))
        }
        ApiKey::DeleteTopics if v >= 6 => {
            RequestKind::DeleteTopics(DeleteTopicsRequest::default().with_topics(vec![
                delete_topics_request::DeleteTopicState::default()
                    .with_name(Some(topic(&format!("auto-{v}")))),
                delete_topics_request::DeleteTopicState::default()
                    .with_topic_id(uuid::Uuid::from_u128(1)),
            ]))
        }
        ApiKey::DeleteTopics => RequestKind::DeleteTopics(
            DeleteTopicsRequest::default()
                .with_topic_names(vec![topic(&format!("auto-{v}")), topic("missing")]),
        ),
        ApiKey::DeleteRecords => {
            RequestKind::DeleteRecords(DeleteRecordsRequest::default().with_topics(vec![
                delete_records_request::DeleteRecordsTopic::default()
                    .with_name(topic("t"))
                    .with_partitions(vec![
                        delete_records_request::DeleteRecordsPartition::default()
                            .with_partition_index(1)
                            .with_offset(0),
                        delete_records_request::DeleteRecordsPartition::default()
                            .with_partition_index(0)
                            .with_offset(1000),
                    ]),
            ]))
        }
        ApiKey::InitProducerId => RequestKind::InitProducerId(
            InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_transaction_timeout_ms(1000),
        ),
        ApiKey::OffsetForLeaderEpoch => RequestKind::OffsetForLeaderEpoch(
            OffsetForLeaderEpochRequest::default().with_topics(vec![
                offset_for_leader_epoch_request::OffsetForLeaderTopic::default()
                    .with_topic(topic("t"))
                    .with_partitions(vec![
                        offset_for_leader_epoch_request::OffsetForLeaderPartition::default()
                            .with_partition(0)
                            .with_leader_epoch(0),
                        offset_for_leader_epoch_request::OffsetForLeaderPartition::default()
                            .with_partition(9)
                            .with_leader_epoch(0),
                    ]),
            ]),
        ),
        ApiKey::DescribeConfigs => {
            RequestKind::DescribeConfigs(DescribeConfigsRequest::default().with_resources(vec![
                describe_configs_request::DescribeConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(s("t")),
                describe_configs_request::DescribeConfigsResource::default()
                    .with_resource_type(4)
                    .with_resource_name(s("1")),
                describe_configs_request::DescribeConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(s("nope")),
            ]))
        }
        ApiKey::AlterConfigs => {
            RequestKind::AlterConfigs(AlterConfigsRequest::default().with_resources(vec![
                alter_configs_request::AlterConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(s("t"))
                    .with_configs(vec![alter_configs_request::AlterableConfig::default()
                        .with_name(s("retention.ms"))
                        .with_value(Some(s("60000")))]),
            ]))
        }
        ApiKey::CreatePartitions => {
            RequestKind::CreatePartitions(CreatePartitionsRequest::default().with_topics(vec![
            create_partitions_request::CreatePartitionsTopic::default()
                .with_name(topic("t"))
                .with_count(broker.metadata().topic("t").unwrap().partitions.len() as i32 + 1),
        ]))
        }
        ApiKey::DeleteGroups => RequestKind::DeleteGroups(
            DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s("none"))]),
        ),
        ApiKey::IncrementalAlterConfigs => RequestKind::IncrementalAlterConfigs(
            IncrementalAlterConfigsRequest::default().with_resources(vec![
                incremental_alter_configs_request::AlterConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(s("t"))
                    .with_configs(vec![
                        incremental_alter_configs_request::AlterableConfig::default()
                            .with_name(s("retention.bytes"))
                            .with_config_operation(0)
                            .with_value(Some(s("1000000"))),
                    ]),
            ]),
        ),
        ApiKey::OffsetDelete => RequestKind::OffsetDelete(
            OffsetDeleteRequest::default().with_group_id(GroupId(s("g"))).with_topics(vec![
                offset_delete_request::OffsetDeleteRequestTopic::default()
                    .with_name(topic("t"))
                    .with_partitions(vec![
                        offset_delete_request::OffsetDeleteRequestPartition::default()
                            .with_partition_index(0),
                    ]),
            ]),
        ),
        ApiKey::DescribeCluster => RequestKind::DescribeCluster(DescribeClusterRequest::default()),
        // On this plaintext session both SASL APIs answer ILLEGAL_SASL_STATE, as in Kafka.
        ApiKey::SaslHandshake => {
            RequestKind::SaslHandshake(SaslHandshakeRequest::default().with_mechanism(s("PLAIN")))
        }
        ApiKey::SaslAuthenticate => RequestKind::SaslAuthenticate(
            SaslAuthenticateRequest::default()
                .with_auth_bytes(bytes::Bytes::from_static(b"\0u\0p")),
        ),
        ApiKey::DescribeClientQuotas => RequestKind::DescribeClientQuotas(
            DescribeClientQuotasRequest::default().with_components(vec![
                describe_client_quotas_request::ComponentData::default()
                    .with_entity_type(s("user"))
                    .with_match_type(2),
            ]),
        ),
        ApiKey::AlterClientQuotas => {
            RequestKind::AlterClientQuotas(AlterClientQuotasRequest::default().with_entries(vec![
                alter_client_quotas_request::EntryData::default()
                    .with_entity(vec![alter_client_quotas_request::EntityData::default()
                        .with_entity_type(s("user"))
                        .with_entity_name(Some(s(&format!("versions-{v}"))))])
                    .with_ops(vec![alter_client_quotas_request::OpData::default()
                        .with_key(s("producer_byte_rate"))
                        .with_value(1e12)]),
                alter_client_quotas_request::EntryData::default()
                    .with_entity(vec![alter_client_quotas_request::EntityData::default()
                        .with_entity_type(s("user"))])
                    .with_ops(vec![alter_client_quotas_request::OpData::default()
                        .with_key(s("bogus_rate"))
                        .with_value(1.0)]),
            ]))
        }
        ApiKey::DescribeUserScramCredentials => {
            RequestKind::DescribeUserScramCredentials(DescribeUserScramCredentialsRequest::default())
        }
        ApiKey::AlterUserScramCredentials => RequestKind::AlterUserScramCredentials(
            AlterUserScramCredentialsRequest::default().with_upsertions(vec![
                alter_user_scram_credentials_request::ScramCredentialUpsertion::default()
                    .with_name(s("versions"))
                    .with_mechanism(1)
                    .with_iterations(4096)
                    .with_salt(Bytes::from_static(b"salt"))
                    .with_salted_password(Bytes::from_static(&[7; 32])),
            ]),
        ),
        ApiKey::CreateAcls => {
            RequestKind::CreateAcls(CreateAclsRequest::default().with_creations(vec![
                create_acls_request::AclCreation::default()
                    .with_resource_type(2)
                    .with_resource_name(s(&format!("acl-{v}")))
                    .with_resource_pattern_type(3)
                    .with_principal(s("User:alice"))
                    .with_host(s("*"))
                    .with_operation(3)
                    .with_permission_type(3),
                // Invalid: pattern type MATCH.
                create_acls_request::AclCreation::default()
                    .with_resource_type(2)
                    .with_resource_name(s("x"))
                    .with_resource_pattern_type(2)
                    .with_principal(s("User:alice"))
                    .with_host(s("*"))
                    .with_operation(3)
                    .with_permission_type(3),
            ]))
        }
        ApiKey::DescribeAcls => RequestKind::DescribeAcls(
            DescribeAclsRequest::default()
                .with_resource_type_filter(1)
                .with_pattern_type_filter(1)
                .with_operation(1)
                .with_permission_type(1),
        ),
        ApiKey::DeleteAcls => {
            RequestKind::DeleteAcls(DeleteAclsRequest::default().with_filters(vec![
                delete_acls_request::DeleteAclsFilter::default()
                    .with_resource_type_filter(2)
                    .with_resource_name_filter(Some(s(&format!("acl-{v}"))))
                    .with_pattern_type_filter(3)
                    .with_operation(1)
                    .with_permission_type(1),
                // Invalid: UNKNOWN resource type.
                delete_acls_request::DeleteAclsFilter::default(),
            ]))
        }
        // A forwarded CreateTopics from a broker-only node, as `forwarding` wraps it.
        ApiKey::Envelope => {
            let mut frame = bytes::BytesMut::new();
            kafka_protocol::messages::RequestHeader::default()
                .with_request_api_key(ApiKey::CreateTopics as i16)
                .with_request_api_version(5)
                .with_correlation_id(1)
                .with_client_id(Some(s("c")))
                .encode(&mut frame, ApiKey::CreateTopics.request_header_version(5))
                .unwrap();
            let create = CreateTopicsRequest::default().with_topics(vec![
                kafka_protocol::messages::create_topics_request::CreatableTopic::default()
                    .with_name(TopicName(s(&format!("forwarded-{v}"))))
                    .with_num_partitions(1)
                    .with_replication_factor(1),
            ]);
            create.encode(&mut frame, 5).unwrap();
            let alice = crate::security::Principal::user("alice");
            RequestKind::Envelope(
                kafka_protocol::messages::EnvelopeRequest::default()
                    .with_request_data(frame.freeze())
                    .with_request_principal(Some(
                        crate::forwarding::serialize_principal(&alice).unwrap(),
                    ))
                    .with_client_host_address(bytes::Bytes::from_static(&[127, 0, 0, 1])),
            )
        }
        ApiKey::AllocateProducerIds => RequestKind::AllocateProducerIds(
            kafka_protocol::messages::AllocateProducerIdsRequest::default()
                .with_broker_id(kafka_protocol::messages::BrokerId(1))
                .with_broker_epoch(-1),
        ),
        ApiKey::BrokerRegistration => RequestKind::BrokerRegistration(
            BrokerRegistrationRequest::default()
                .with_broker_id(BrokerId(2))
                .with_cluster_id(s(&broker.cluster_id))
                .with_incarnation_id(uuid::Uuid::from_u128(100 + v as u128))
                .with_listeners(vec![broker_registration_request::Listener::default()
                    .with_name(s("PLAINTEXT"))
                    .with_host(s("localhost"))
                    .with_port(19092)])
                .with_features(vec![broker_registration_request::Feature::default()
                    .with_name(s("metadata.version"))
                    .with_min_supported_version(7)
                    .with_max_supported_version(27)]),
        ),
        ApiKey::BrokerHeartbeat => RequestKind::BrokerHeartbeat(
            BrokerHeartbeatRequest::default()
                .with_broker_id(BrokerId(1))
                .with_broker_epoch(broker.metadata().brokers()[&1].registration.broker_epoch)
                .with_current_metadata_offset(i64::MAX),
        ),
        ApiKey::AlterPartition => {
            let p = broker.metadata().topic("t").unwrap().partitions[&0].clone();
            let epoch = broker.metadata().brokers()[&1].registration.broker_epoch;
            let partition = alter_partition_request::PartitionData::default()
                .with_partition_index(0)
                .with_leader_epoch(p.leader_epoch)
                .with_partition_epoch(p.partition_epoch);
            let partition = if v < 3 {
                partition.with_new_isr(vec![BrokerId(1)])
            } else {
                partition.with_new_isr_with_epochs(vec![
                    alter_partition_request::BrokerState::default()
                        .with_broker_id(BrokerId(1))
                        .with_broker_epoch(epoch),
                ])
            };
            RequestKind::AlterPartition(
                AlterPartitionRequest::default()
                    .with_broker_id(BrokerId(1))
                    .with_broker_epoch(epoch)
                    .with_topics(vec![alter_partition_request::TopicData::default()
                        .with_topic_id(topic_id)
                        .with_partitions(vec![partition])]),
            )
        }
        ApiKey::ElectLeaders => RequestKind::ElectLeaders(
            ElectLeadersRequest::default().with_topic_partitions(Some(vec![
                elect_leaders_request::TopicPartitions::default()
                    .with_topic(TopicName(s("t")))
                    .with_partitions(vec![0]),
                elect_leaders_request::TopicPartitions::default()
                    .with_topic(TopicName(s("nope")))
                    .with_partitions(vec![0]),
            ])),
        ),
        // Partition 0 of `t` on its one replica: nothing to change; an unknown topic.
        ApiKey::AlterPartitionReassignments => RequestKind::AlterPartitionReassignments(
            AlterPartitionReassignmentsRequest::default().with_topics(vec![
                alter_partition_reassignments_request::ReassignableTopic::default()
                    .with_name(TopicName(s("t")))
                    .with_partitions(vec![
                        alter_partition_reassignments_request::ReassignablePartition::default()
                            .with_partition_index(0)
                            .with_replicas(Some(vec![BrokerId(1)])),
                    ]),
                alter_partition_reassignments_request::ReassignableTopic::default()
                    .with_name(TopicName(s("nope")))
                    .with_partitions(vec![
                        alter_partition_reassignments_request::ReassignablePartition::default()
                            .with_partition_index(0)
                            .with_replicas(Some(vec![BrokerId(1)])),
                    ]),
            ]),
        ),
        ApiKey::ListPartitionReassignments => {
            RequestKind::ListPartitionReassignments(ListPartitionReassignmentsRequest::default())
        }
        ApiKey::DescribeQuorum => {
            RequestKind::DescribeQuorum(DescribeQuorumRequest::default().with_topics(vec![
                describe_quorum_request::TopicData::default()
                    .with_topic_name(topic("__cluster_metadata"))
                    .with_partitions(vec![describe_quorum_request::PartitionData::default()]),
            ]))
        }
        // The sole voter (node 1, epoch 1) asked by node 2, which is no voter.
        ApiKey::Vote => RequestKind::Vote(
            VoteRequest::default().with_cluster_id(Some(s(&broker.cluster_id))).with_topics(vec![
                vote_request::TopicData::default()
                    .with_topic_name(topic("__cluster_metadata"))
                    .with_partitions(vec![vote_request::PartitionData::default()
                        .with_replica_epoch(5)
                        .with_replica_id(BrokerId(2))
                        .with_last_offset_epoch(1)
                        .with_last_offset(1000)]),
            ]),
        ),
        ApiKey::BeginQuorumEpoch => {
            RequestKind::BeginQuorumEpoch(BeginQuorumEpochRequest::default().with_topics(vec![
                begin_quorum_epoch_request::TopicData::default()
                    .with_topic_name(topic("__cluster_metadata"))
                    .with_partitions(vec![begin_quorum_epoch_request::PartitionData::default()
                        .with_leader_id(BrokerId(2))
                        .with_leader_epoch(5)]),
            ]))
        }
        // A resignation from an epoch long past.
        ApiKey::EndQuorumEpoch => {
            RequestKind::EndQuorumEpoch(EndQuorumEpochRequest::default().with_topics(vec![
                end_quorum_epoch_request::TopicData::default()
                    .with_topic_name(topic("__cluster_metadata"))
                    .with_partitions(vec![end_quorum_epoch_request::PartitionData::default()
                        .with_leader_id(BrokerId(1))
                        .with_leader_epoch(0)]),
            ]))
        }
        // A snapshot the sole voter does not have.
        ApiKey::FetchSnapshot => RequestKind::FetchSnapshot(
            FetchSnapshotRequest::default().with_max_bytes(1024).with_topics(vec![
                fetch_snapshot_request::TopicSnapshot::default()
                    .with_name(topic("__cluster_metadata"))
                    .with_partitions(vec![fetch_snapshot_request::PartitionSnapshot::default()
                        .with_current_leader_epoch(1)
                        .with_snapshot_id(
                            fetch_snapshot_request::SnapshotId::default()
                                .with_end_offset(5)
                                .with_epoch(1),
                        )]),
            ]),
        ),
        other => panic!("no representative request for {other:?}"),
    }
}

/// Writes the seed inputs of the `request_frame` fuzz target: a representative request of every
/// API at every advertised version, on a PLAINTEXT (selector 0) and, for the APIs allowed
/// before authentication, an unauthenticated SASL connection (selector 1). Run by hand; see
/// fuzz/README.md (`FUZZ_SEED_DIR` defaults to `fuzz/seeds`).
#[tokio::test]
#[ignore = "writes fuzz seeds; run by hand"]
async fn write_fuzz_seeds() {
    let broker = test_broker().await;
    let root = std::env::var_os("FUZZ_SEED_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds"));
    let dir = root.join("request_frame");
    std::fs::create_dir_all(&dir).unwrap();
    for (api, min, max) in SUPPORTED {
        for v in *min..=*max {
            let mut frame = vec![0u8];
            let mut body = BytesMut::new();
            RequestHeader::default()
                .with_request_api_key(*api as i16)
                .with_request_api_version(v)
                .with_correlation_id(1)
                .with_client_id(Some(s("seed")))
                .encode(&mut body, api.request_header_version(v))
                .unwrap();
            request(&broker, *api, v).encode(&mut body, v).unwrap();
            frame.extend_from_slice(&body);
            std::fs::write(dir.join(format!("{api:?}-v{v}")), &frame).unwrap();
            if matches!(api, ApiKey::ApiVersions | ApiKey::SaslHandshake | ApiKey::SaslAuthenticate)
            {
                frame[0] = 1;
                std::fs::write(dir.join(format!("{api:?}-v{v}-sasl")), &frame).unwrap();
            }
        }
    }
}

#[tokio::test]
async fn every_advertised_version_answers_and_decodes() {
    let broker = test_broker().await;
    for (api, min, max) in SUPPORTED {
        for v in *min..=*max {
            let mut frame = BytesMut::new();
            RequestHeader::default()
                .with_request_api_key(*api as i16)
                .with_request_api_version(v)
                .with_correlation_id(1000 + v as i32)
                .with_client_id(Some(s("versions-test")))
                .encode(&mut frame, api.request_header_version(v))
                .unwrap();
            request(&broker, *api, v)
                .encode(&mut frame, v)
                .unwrap_or_else(|e| panic!("test request {api:?} v{v} does not encode: {e}"));
            let response =
                handle_frame(&broker, frame.freeze(), &mut Session::plaintext("test:1".into()))
                    .await
                    .unwrap_or_else(|e| panic!("{api:?} v{v}: {e}"))
                    .unwrap_or_else(|| panic!("{api:?} v{v}: no response"));
            let mut body = response;
            let header = ResponseHeader::decode(&mut body, api.response_header_version(v)).unwrap();
            assert_eq!(header.correlation_id, 1000 + v as i32, "{api:?} v{v}");
            let decoded = ResponseKind::decode(*api, &mut body, v)
                .unwrap_or_else(|e| panic!("{api:?} v{v} response: {e}"));
            check(&decoded, *api, v);
        }
    }
}

/// Spot checks that the success paths succeed and the error paths carry Kafka's codes.
fn check(response: &ResponseKind, api: ApiKey, v: i16) {
    match response {
        // KIP-595's answers: a node outside the voter set, an epoch long past.
        ResponseKind::Vote(r) => {
            let p = &r.topics[0].partitions[0];
            assert_eq!((r.error_code, p.error_code, p.vote_granted), (0, 94, false), "Vote v{v}");
            assert_eq!((p.leader_id.0, p.leader_epoch), (1, 1), "Vote v{v}");
        }
        // The sole voter leads epoch 1, everything committed.
        ResponseKind::DescribeQuorum(r) => {
            let p = &r.topics[0].partitions[0];
            assert_eq!((r.error_code, p.error_code, p.leader_id.0, p.leader_epoch), (0, 0, 1, 1));
            let voters: Vec<_> =
                p.current_voters.iter().map(|v| (v.replica_id.0, v.log_end_offset)).collect();
            assert_eq!(voters, [(1, p.high_watermark)], "DescribeQuorum v{v}");
            assert!(p.high_watermark > 0 && p.observers.is_empty(), "DescribeQuorum v{v}");
            assert_eq!(r.nodes.len(), if v >= 2 { 1 } else { 0 }, "DescribeQuorum v{v}");
        }
        ResponseKind::BeginQuorumEpoch(r) => {
            assert_eq!(r.topics[0].partitions[0].error_code, 94, "BeginQuorumEpoch v{v}")
        }
        ResponseKind::EndQuorumEpoch(r) => {
            assert_eq!(r.topics[0].partitions[0].error_code, 74, "EndQuorumEpoch v{v}")
        }
        // A plaintext session: ILLEGAL_SASL_STATE at every version, as Kafka's request handler.
        ResponseKind::SaslHandshake(r) => assert_eq!(r.error_code, 34, "SaslHandshake v{v}"),
        ResponseKind::SaslAuthenticate(r) => assert_eq!(r.error_code, 34, "SaslAuthenticate v{v}"),
        ResponseKind::Produce(r) => {
            let p = &r.responses[0].partition_responses;
            assert_eq!((p[0].error_code, p[1].error_code), (0, 3), "Produce v{v}");
        }
        ResponseKind::Fetch(r) => {
            let p = &r.responses[0].partitions;
            assert_eq!(p[0].error_code, 0, "Fetch v{v}");
            assert!(
                !p[0].records.as_ref().unwrap().is_empty(),
                "Fetch v{v} returns the produced batches"
            );
            assert_ne!(p[1].error_code, 0, "Fetch v{v} unknown partition");
        }
        ResponseKind::ListOffsets(r) => {
            let p = &r.topics[0].partitions;
            assert_eq!(p[0].error_code, 0, "ListOffsets v{v}");
            assert!(p[0].offset > 0, "ListOffsets v{v} latest");
            assert_eq!(p[1].offset, 0, "ListOffsets v{v} by timestamp 0");
            assert_eq!(p[2].error_code, 3, "ListOffsets v{v} unknown partition");
        }
        ResponseKind::Metadata(r) => {
            assert_eq!(r.topics.len(), 2, "Metadata v{v}");
            assert!(r.topics.iter().all(|t| t.error_code == 0), "Metadata v{v} auto-creates");
        }
        ResponseKind::CreateTopics(r) => {
            assert_eq!(
                (r.topics[0].error_code, r.topics[1].error_code),
                (0, 36),
                "CreateTopics v{v}"
            );
        }
        ResponseKind::DeleteTopics(r) => {
            assert_eq!(r.responses[0].error_code, 0, "DeleteTopics v{v}");
            assert_ne!(r.responses[1].error_code, 0, "DeleteTopics v{v} missing topic");
        }
        ResponseKind::DescribeConfigs(r) => {
            assert_eq!(r.results[0].error_code, 0);
            assert!(r.results[0].configs.iter().any(|c| c.name.as_str() == "retention.ms"));
            assert_eq!(r.results[1].error_code, 0);
            assert_eq!(r.results[2].error_code, 3);
        }
        ResponseKind::ApiVersions(r) => assert_eq!(r.api_keys.len(), SUPPORTED.len()),
        ResponseKind::AlterClientQuotas(r) => {
            assert_eq!((r.entries[0].error_code, r.entries[1].error_code), (0, 42), "v{v}");
        }
        ResponseKind::DescribeClientQuotas(r) => {
            assert_eq!(r.error_code, 0, "DescribeClientQuotas v{v}");
        }
        ResponseKind::AlterUserScramCredentials(r) => assert_eq!(r.results[0].error_code, 0),
        ResponseKind::DescribeUserScramCredentials(r) => assert_eq!(r.error_code, 0),
        ResponseKind::CreateAcls(r) => {
            assert_eq!((r.results[0].error_code, r.results[1].error_code), (0, 42), "v{v}");
        }
        ResponseKind::DescribeAcls(r) => assert_eq!(r.error_code, 0, "DescribeAcls v{v}"),
        ResponseKind::DeleteAcls(r) => {
            let codes = (r.filter_results[0].error_code, r.filter_results[1].error_code);
            assert_eq!(codes, (0, 42), "DeleteAcls v{v}");
        }
        ResponseKind::BrokerRegistration(r) => {
            assert_eq!(r.error_code, 0, "BrokerRegistration v{v}");
            assert!(r.broker_epoch > 0, "BrokerRegistration v{v}");
        }
        ResponseKind::BrokerHeartbeat(r) => {
            assert_eq!((r.error_code, r.is_caught_up, r.is_fenced), (0, true, false), "v{v}");
        }
        ResponseKind::AlterPartition(r) => {
            assert_eq!(r.error_code, 0, "AlterPartition v{v}");
            let p = &r.topics[0].partitions[0];
            assert_eq!((p.error_code, p.leader_id.0, p.isr.len()), (0, 1, 1), "v{v}");
        }
        ResponseKind::AlterPartitionReassignments(r) => {
            let codes: Vec<i16> = r.responses.iter().map(|t| t.partitions[0].error_code).collect();
            assert_eq!((r.error_code, codes), (0, vec![0, 3]), "v{v}");
        }
        ResponseKind::ListPartitionReassignments(r) => {
            assert_eq!((r.error_code, r.topics.len()), (0, 0), "v{v}");
        }
        // One node: its partition is led by its preferred (only) replica.
        ResponseKind::ElectLeaders(r) => {
            let codes: Vec<i16> = r
                .replica_election_results
                .iter()
                .map(|t| t.partition_result[0].error_code)
                .collect();
            assert_eq!((r.error_code, codes), (0, vec![84, 3]), "ElectLeaders v{v}");
        }
        ResponseKind::InitProducerId(r) => {
            assert_eq!(r.error_code, 0, "InitProducerId v{v}");
            assert!(r.producer_id.0 >= 0);
        }
        _ => {}
    }
    let _ = api;
}

fn fetch_t0(min_bytes: i32, max_wait_ms: i32) -> FetchRequest {
    FetchRequest::default()
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(min_bytes)
        .with_max_bytes(1 << 20)
        .with_topics(vec![fetch_request::FetchTopic::default()
            .with_topic(topic("t"))
            .with_partitions(vec![fetch_request::FetchPartition::default()
                .with_partition(0)
                .with_partition_max_bytes(1 << 20)])])
}

/// What a plaintext client's request carries: `User:ANONYMOUS` (a super user in these tests).
pub(super) fn anonymous(api_key: ApiKey, api_version: i16) -> super::RequestContext {
    super::RequestContext {
        api_key,
        api_version,
        correlation_id: 1,
        client_id: "test".into(),
        client_host: "127.0.0.1:5000".into(),
        listener: "PLAINTEXT".into(),
        principal: crate::security::Principal::anonymous(),
    }
}

fn produce_t0() -> ProduceRequest {
    let batch = Bytes::from(encode_batch(&[(None, Some(Bytes::from_static(b"late")))], 1).to_vec());
    ProduceRequest::default().with_acks(1).with_timeout_ms(1000).with_topic_data(vec![
        produce_request::TopicProduceData::default().with_name(topic("t")).with_partition_data(
            vec![produce_request::PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(batch))],
        ),
    ])
}

#[tokio::test(start_paused = true)]
async fn fetch_long_polls_until_data_arrives_or_max_wait() {
    let broker = test_broker().await;
    let start = crate::runtime::now();
    // Nothing arrives: the fetch waits the full max_wait_ms and returns empty.
    let empty =
        super::fetch::handle(&broker, &anonymous(ApiKey::Fetch, 12), fetch_t0(1, 500), 12).await;
    assert!(empty.responses[0].partitions[0].records.as_ref().unwrap().is_empty());
    assert_eq!(crate::runtime::elapsed(start).as_millis(), 500);

    // A produce 200 ms into a 5 s wait wakes the fetch right away.
    let producer = broker.clone();
    crate::runtime::spawn(async move {
        crate::runtime::sleep(std::time::Duration::from_millis(200)).await;
        super::produce::handle(&producer, &anonymous(ApiKey::Produce, 9), produce_t0(), 9)
            .await
            .unwrap();
    });
    let start = crate::runtime::now();
    let woken =
        super::fetch::handle(&broker, &anonymous(ApiKey::Fetch, 12), fetch_t0(1, 5000), 12).await;
    assert_eq!(crate::runtime::elapsed(start).as_millis(), 200);
    let partition = &woken.responses[0].partitions[0];
    assert!(!partition.records.as_ref().unwrap().is_empty());
    assert_eq!(partition.high_watermark, 1);
}

/// Fetch, ListOffsets, OffsetForLeaderEpoch and DeleteRecords answer from the partition's
/// replica state: with a follower in the ISR that has not fetched, the high watermark stays
/// below the log end offset, and each API answers the one it should.
#[tokio::test(start_paused = true)]
async fn offset_apis_answer_the_partitions_high_watermark() {
    let broker = test_broker().await;
    let node = broker.config.node_id;
    let produce = || async {
        super::produce::handle(&broker, &anonymous(ApiKey::Produce, 9), produce_t0(), 9)
            .await
            .unwrap()
    };
    produce().await;
    let partition = broker.replica_manager().partition("t", 0).unwrap();
    let followed = crate::replica::LeaderAndIsr {
        leader_epoch: 0,
        partition_epoch: 0,
        replicas: vec![node, node + 1],
        isr: vec![node, node + 1],
    };
    partition.make_leader(&followed, 0);
    produce().await;
    assert_eq!((partition.high_watermark(), partition.log_end_offset()), (1, 2));

    let fetched =
        super::fetch::handle(&broker, &anonymous(ApiKey::Fetch, 12), fetch_t0(0, 0), 12).await;
    let fetched = &fetched.responses[0].partitions[0];
    assert_eq!((fetched.high_watermark, fetched.last_stable_offset), (1, 1));
    let one_batch = encode_batch(&[(None, Some(Bytes::from_static(b"late")))], 1).len();
    assert_eq!(fetched.records.as_ref().unwrap().len(), one_batch, "nothing above the hw");

    let latest = |timestamp| {
        list_offsets_request::ListOffsetsPartition::default()
            .with_partition_index(0)
            .with_timestamp(timestamp)
    };
    // A consumer's replica id (-1); a follower's is told the log end offset instead.
    let request = ListOffsetsRequest::default().with_replica_id(BrokerId(-1)).with_topics(vec![
        list_offsets_request::ListOffsetsTopic::default()
            .with_name(topic("t"))
            .with_partitions(vec![latest(-1), latest(-2)]),
    ]);
    let listed =
        super::list_offsets::handle(&broker, &anonymous(ApiKey::ListOffsets, 7), request, 7);
    let offsets: Vec<i64> = listed.topics[0].partitions.iter().map(|p| p.offset).collect();
    assert_eq!(offsets, vec![1, 0], "LATEST is the high watermark");
    let request =
        ListOffsetsRequest::default().with_replica_id(BrokerId(node + 1)).with_topics(vec![
            list_offsets_request::ListOffsetsTopic::default()
                .with_name(topic("t"))
                .with_partitions(vec![latest(-1)]),
        ]);
    let listed =
        super::list_offsets::handle(&broker, &anonymous(ApiKey::ListOffsets, 7), request, 7);
    assert_eq!(listed.topics[0].partitions[0].offset, 2, "a follower is told the log end offset");

    // The leader's epoch ends at its log end offset, as Kafka answers.
    let request = OffsetForLeaderEpochRequest::default().with_topics(vec![
        offset_for_leader_epoch_request::OffsetForLeaderTopic::default()
            .with_topic(topic("t"))
            .with_partitions(vec![
                offset_for_leader_epoch_request::OffsetForLeaderPartition::default()
                    .with_partition(0)
                    .with_leader_epoch(0),
            ]),
    ]);
    let ctx = anonymous(ApiKey::OffsetForLeaderEpoch, 4);
    let ended = super::offset_for_leader_epoch::handle(&broker, &ctx, request);
    let ended = &ended.topics[0].partitions[0];
    assert_eq!((ended.error_code, ended.leader_epoch, ended.end_offset), (0, 0, 2));

    let delete = |offset| {
        let request = DeleteRecordsRequest::default().with_topics(vec![
            delete_records_request::DeleteRecordsTopic::default()
                .with_name(topic("t"))
                .with_partitions(vec![delete_records_request::DeleteRecordsPartition::default()
                    .with_partition_index(0)
                    .with_offset(offset)]),
        ]);
        let ctx = anonymous(ApiKey::DeleteRecords, 2);
        let deleted = super::delete_records::handle(&broker, &ctx, request);
        let deleted = &deleted.topics[0].partitions[0];
        (deleted.error_code, deleted.low_watermark)
    };
    let out_of_range = kafka_protocol::error::ResponseError::OffsetOutOfRange.code();
    assert_eq!(delete(2), (out_of_range, -1), "past the hw");
    assert_eq!(delete(-1), (0, 1), "-1 is the high watermark");
}

/// Garbage and mutated requests through the whole frame path: every one either gets a
/// response or an error that closes its connection — never a panic, never a hang, and the
/// broker still answers afterwards.
#[tokio::test(start_paused = true)]
async fn random_and_mutated_frames_never_panic() {
    use rand::{Rng, SeedableRng};
    let broker = test_broker().await;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0x6b61666b61);
    let mut answered = 0;
    for round in 0..4000 {
        let (api, min, max) = SUPPORTED[rng.gen_range(0..SUPPORTED.len())];
        let v = rng.gen_range(min..=max);
        let mut frame = BytesMut::new();
        RequestHeader::default()
            .with_request_api_key(api as i16)
            .with_request_api_version(v)
            .with_correlation_id(round)
            .encode(&mut frame, api.request_header_version(v))
            .unwrap();
        if round % 2 == 0 {
            // A valid request with a few bytes overwritten or the tail cut off.
            request(&broker, api, v).encode(&mut frame, v).unwrap();
            let header_len = 8;
            for _ in 0..rng.gen_range(1..4) {
                if frame.len() > header_len {
                    let at = rng.gen_range(header_len..frame.len());
                    frame[at] = rng.gen();
                }
            }
            if rng.gen_bool(0.3) {
                let keep = rng.gen_range(0..=frame.len());
                frame.truncate(keep);
            }
        } else {
            let len = rng.gen_range(0..64);
            frame.extend((0..len).map(|_| rng.gen::<u8>()));
        }
        let task = crate::runtime::spawn({
            let broker = broker.clone();
            async move {
                let mut session = Session::plaintext("fuzz:1".into());
                handle_frame(&broker, frame.freeze(), &mut session).await
            }
        });
        match crate::runtime::timeout(std::time::Duration::from_secs(3600), task).await {
            Ok(Ok(Ok(_))) => answered += 1,
            Ok(Ok(Err(_))) => {}
            Ok(Err(join)) => panic!("round {round}: {api:?} v{v} panicked: {join}"),
            Err(_) => panic!("round {round}: {api:?} v{v} did not finish"),
        }
    }
    assert!(answered > 100, "mutations should not reject everything: {answered} answered");
    // Still serving. (A fuzzed controller request from this super user may have moved `t`'s
    // leadership — a BrokerHeartbeat asking to shut broker 1 down does — so the fetch is
    // answered, by the leader or with where the leader is.)
    let response =
        super::fetch::handle(&broker, &anonymous(ApiKey::Fetch, 12), fetch_t0(0, 0), 12).await;
    let code = response.responses[0].partitions[0].error_code;
    let not_leader = kafka_protocol::error::ResponseError::NotLeaderOrFollower.code();
    assert!(code == 0 || code == not_leader, "error {code}");
}

#[tokio::test]
async fn partition_counts_are_bounded_per_request() {
    let broker = test_broker().await;
    let err = broker.create_topic("huge", 1_000_000, Default::default(), false).unwrap_err();
    assert_eq!(err.error, kafka_protocol::error::ResponseError::PolicyViolation);
    assert!(err.message.contains("10000"), "{}", err.message);
    assert!(broker.metadata().topic("huge").is_none());
    let err = broker.create_partitions("t", 2 + 10_001, false).unwrap_err();
    assert_eq!(err.error, kafka_protocol::error::ResponseError::PolicyViolation);
    broker.create_partitions("t", 2 + 10_000, false).unwrap();
    assert_eq!(broker.metadata().topic("t").unwrap().partitions.len(), 10_002);
}

/// Encodes one request frame body (header and request) for `handle_frame`.
fn frame(api: ApiKey, version: i16, request: RequestKind) -> bytes::Bytes {
    let mut frame = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(api as i16)
        .with_request_api_version(version)
        .with_correlation_id(7)
        .with_client_id(Some(s("sasl-test")))
        .encode(&mut frame, api.request_header_version(version))
        .unwrap();
    request.encode(&mut frame, version).unwrap();
    frame.freeze()
}

async fn answer(
    broker: &Arc<Broker>,
    session: &mut Session,
    api: ApiKey,
    version: i16,
    request: RequestKind,
) -> ResponseKind {
    let mut body =
        handle_frame(broker, frame(api, version, request), session).await.unwrap().unwrap();
    ResponseHeader::decode(&mut body, api.response_header_version(version)).unwrap();
    ResponseKind::decode(api, &mut body, version).unwrap()
}

#[tokio::test]
async fn sasl_listeners_gate_requests_until_authenticated() {
    let broker = test_broker().await;
    let sasl_session = || {
        Session::new(
            "test:1".into(),
            "SASL_PLAINTEXT",
            crate::config::SecurityProtocol::SaslPlaintext,
        )
    };
    // Anything but ApiVersions and the SASL APIs closes the connection.
    let mut session = sasl_session();
    let metadata = frame(ApiKey::Metadata, 12, RequestKind::Metadata(MetadataRequest::default()));
    let err = handle_frame(&broker, metadata, &mut session).await.unwrap_err();
    assert!(err.to_string().contains("before SASL authentication"), "{err}");
    let versions = answer(
        &broker,
        &mut session,
        ApiKey::ApiVersions,
        3,
        RequestKind::ApiVersions(ApiVersionsRequest::default()),
    )
    .await;
    assert!(matches!(versions, ResponseKind::ApiVersions(r) if r.error_code == 0));

    // A mechanism the broker does not offer: UNSUPPORTED_SASL_MECHANISM with the list, then close.
    let handshake = |mechanism: &str| {
        RequestKind::SaslHandshake(SaslHandshakeRequest::default().with_mechanism(s(mechanism)))
    };
    let ResponseKind::SaslHandshake(r) =
        answer(&broker, &mut session, ApiKey::SaslHandshake, 1, handshake("GSSAPI")).await
    else {
        panic!()
    };
    assert_eq!(r.error_code, 33);
    let offered: Vec<String> = r.mechanisms.iter().map(|m| m.to_string()).collect();
    assert_eq!(offered, ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]);
    assert!(session.authentication_failure.as_deref().unwrap().contains("GSSAPI"));

    // SaslAuthenticate without a handshake is ILLEGAL_SASL_STATE.
    let mut session = sasl_session();
    let auth = RequestKind::SaslAuthenticate(
        SaslAuthenticateRequest::default().with_auth_bytes(bytes::Bytes::from_static(b"\0a\0b")),
    );
    let ResponseKind::SaslAuthenticate(r) =
        answer(&broker, &mut session, ApiKey::SaslAuthenticate, 2, auth).await
    else {
        panic!()
    };
    assert_eq!(r.error_code, 34);

    // PLAIN with no configured users fails with SASL_AUTHENTICATION_FAILED and a reason.
    let mut session = sasl_session();
    let ResponseKind::SaslHandshake(r) =
        answer(&broker, &mut session, ApiKey::SaslHandshake, 1, handshake("PLAIN")).await
    else {
        panic!()
    };
    assert_eq!(r.error_code, 0);
    let auth = RequestKind::SaslAuthenticate(
        SaslAuthenticateRequest::default()
            .with_auth_bytes(bytes::Bytes::from_static(b"\0alice\0guess")),
    );
    let ResponseKind::SaslAuthenticate(r) =
        answer(&broker, &mut session, ApiKey::SaslAuthenticate, 2, auth).await
    else {
        panic!()
    };
    assert_eq!(r.error_code, 58);
    assert!(r.error_message.unwrap().contains("Invalid username or password"));
    assert!(!session.is_authenticated());
    assert!(session.authentication_failure.is_some());
}

fn scram_upsertion(
    name: &str,
    mechanism: i8,
    iterations: i32,
    password: &[u8],
) -> alter_user_scram_credentials_request::ScramCredentialUpsertion {
    let digest = if mechanism == 1 {
        openssl::hash::MessageDigest::sha256()
    } else {
        openssl::hash::MessageDigest::sha512()
    };
    let mut salted = vec![0; digest.size()];
    openssl::pkcs5::pbkdf2_hmac(password, b"client-salt", iterations as usize, digest, &mut salted)
        .unwrap();
    alter_user_scram_credentials_request::ScramCredentialUpsertion::default()
        .with_name(s(name))
        .with_mechanism(mechanism)
        .with_iterations(iterations)
        .with_salt(Bytes::from_static(b"client-salt"))
        .with_salted_password(Bytes::from(salted))
}

fn scram_deletion(
    name: &str,
    mechanism: i8,
) -> alter_user_scram_credentials_request::ScramCredentialDeletion {
    alter_user_scram_credentials_request::ScramCredentialDeletion::default()
        .with_name(s(name))
        .with_mechanism(mechanism)
}

async fn alter_scram(
    broker: &Arc<Broker>,
    request: AlterUserScramCredentialsRequest,
) -> Vec<(String, i16)> {
    let mut session = Session::plaintext("test:1".into());
    let ResponseKind::AlterUserScramCredentials(r) = answer(
        broker,
        &mut session,
        ApiKey::AlterUserScramCredentials,
        0,
        RequestKind::AlterUserScramCredentials(request),
    )
    .await
    else {
        unreachable!()
    };
    r.results.iter().map(|r| (r.user.to_string(), r.error_code)).collect()
}

async fn describe_scram(
    broker: &Arc<Broker>,
    users: Option<&[&str]>,
) -> Vec<(String, i16, Vec<(i8, i32)>)> {
    let mut session = Session::plaintext("test:1".into());
    let request = DescribeUserScramCredentialsRequest::default().with_users(users.map(|users| {
        users
            .iter()
            .map(|u| describe_user_scram_credentials_request::UserName::default().with_name(s(u)))
            .collect()
    }));
    let ResponseKind::DescribeUserScramCredentials(r) = answer(
        broker,
        &mut session,
        ApiKey::DescribeUserScramCredentials,
        0,
        RequestKind::DescribeUserScramCredentials(request),
    )
    .await
    else {
        unreachable!()
    };
    assert_eq!(r.error_code, 0);
    r.results
        .iter()
        .map(|r| {
            let infos = r.credential_infos.iter().map(|c| (c.mechanism, c.iterations)).collect();
            (r.user.to_string(), r.error_code, infos)
        })
        .collect()
}

/// SCRAM credentials altered at run time: Kafka's validation and error codes, then they
/// authenticate, and they survive reopening the broker on the same storage (config-file users
/// deleted at run time stay deleted).
#[tokio::test]
async fn scram_credentials_are_altered_described_and_persisted() {
    use crate::security::credentials::ScramMechanism;
    let storage = Arc::new(MemoryStorage::new());
    let open = |storage: Arc<MemoryStorage>| {
        let config = BrokerConfig {
            sasl_scram_users: vec!["SCRAM-SHA-512=[name=carol,password=carol-secret]".into()],
            ..BrokerConfig::default()
        };
        open_broker(config, storage)
    };
    let broker = open(storage.clone());
    let request = AlterUserScramCredentialsRequest::default()
        .with_upsertions(vec![
            scram_upsertion("alice", 1, 8192, b"alice-secret"),
            scram_upsertion("dave", 2, 1000, b"x"),
            scram_upsertion("erin", 2, 20000, b"x"),
            scram_upsertion("", 1, 4096, b"x"),
            scram_upsertion("frank", 3, 4096, b"x"),
            scram_upsertion("gina", 1, 4096, b"x"),
            scram_upsertion("gina", 2, 4096, b"x"),
        ])
        .with_deletions(vec![scram_deletion("carol", 2), scram_deletion("nobody", 1)]);
    let results = alter_scram(&broker, request).await;
    assert_eq!(
        results,
        [
            ("carol".to_owned(), 0),
            ("nobody".to_owned(), 91), // RESOURCE_NOT_FOUND
            ("alice".to_owned(), 0),
            ("dave".to_owned(), 93), // UNACCEPTABLE_CREDENTIAL: too few iterations
            ("erin".to_owned(), 93), // too many
            ("".to_owned(), 93),     // empty user name
            ("frank".to_owned(), 33), // UNSUPPORTED_SASL_MECHANISM
            ("gina".to_owned(), 92), // DUPLICATE_RESOURCE
        ]
    );
    let described = describe_scram(&broker, None).await;
    assert_eq!(described, [("alice".to_owned(), 0, vec![(1, 8192)])]);
    let described = describe_scram(&broker, Some(&["alice", "nobody", "alice"])).await;
    assert_eq!(
        described.iter().map(|(u, e, _)| (u.as_str(), *e)).collect::<Vec<_>>(),
        [("alice", 92), ("nobody", 91)]
    );

    // alice authenticates with the password the client salted; the store never saw it.
    let check = |broker: &Broker, user: &str, password: &[u8]| {
        let credentials = broker.credentials.read().unwrap();
        let Some(stored) = credentials.scram(user, ScramMechanism::Sha256) else { return false };
        let expected = crate::security::credentials::ScramCredential::derive(
            ScramMechanism::Sha256,
            password,
            &stored.salt,
            stored.iterations,
        );
        expected == *stored
    };
    assert!(check(&broker, "alice", b"alice-secret"));
    assert!(!check(&broker, "alice", b"wrong"));
    let segment = broker
        .config
        .log_dir()
        .join(crate::metadata::METADATA_LOG_DIR)
        .join("00000000000000000000.log");
    let file = crate::storage::Storage::open(&*storage, &segment, false).unwrap();
    let mut bytes = vec![0; file.len().unwrap() as usize];
    file.read_exact_at(0, &mut bytes).unwrap();
    // The salt is stored (in a UserScramCredentialRecord), the password nowhere.
    let holds = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    assert!(holds(b"client-salt") && !holds(b"alice-secret"));
    drop(broker);

    let broker = open(storage);
    assert!(check(&broker, "alice", b"alice-secret"));
    assert!(broker.credentials.read().unwrap().scram("carol", ScramMechanism::Sha512).is_none());
    assert_eq!(describe_scram(&broker, None).await.len(), 1);
}

/// `(entity type, name)` pairs of a quota entity.
type Entity<'a> = Vec<(&'a str, Option<&'a str>)>;
/// `(key, value, remove)`.
type QuotaOp<'a> = (&'a str, f64, bool);

async fn alter_quotas(
    broker: &Arc<Broker>,
    entries: Vec<(Entity<'_>, Vec<QuotaOp<'_>>)>,
    validate_only: bool,
) -> Vec<i16> {
    let request =
        AlterClientQuotasRequest::default().with_validate_only(validate_only).with_entries(
            entries
                .into_iter()
                .map(|(entity, ops)| {
                    alter_client_quotas_request::EntryData::default()
                        .with_entity(
                            entity
                                .into_iter()
                                .map(|(t, n)| {
                                    alter_client_quotas_request::EntityData::default()
                                        .with_entity_type(s(t))
                                        .with_entity_name(n.map(s))
                                })
                                .collect(),
                        )
                        .with_ops(
                            ops.into_iter()
                                .map(|(k, v, remove)| {
                                    alter_client_quotas_request::OpData::default()
                                        .with_key(s(k))
                                        .with_value(v)
                                        .with_remove(remove)
                                })
                                .collect(),
                        )
                })
                .collect(),
        );
    let mut session = Session::plaintext("test:1".into());
    let ResponseKind::AlterClientQuotas(r) = answer(
        broker,
        &mut session,
        ApiKey::AlterClientQuotas,
        1,
        RequestKind::AlterClientQuotas(request),
    )
    .await
    else {
        unreachable!()
    };
    r.entries.iter().map(|e| e.error_code).collect()
}

#[tokio::test]
async fn client_quotas_are_validated_described_and_persisted() {
    let storage = Arc::new(MemoryStorage::new());
    let open = |storage: Arc<MemoryStorage>| open_broker(BrokerConfig::default(), storage);
    let broker = open(storage.clone());
    let codes = alter_quotas(
        &broker,
        vec![
            (vec![("user", Some("alice"))], vec![("producer_byte_rate", 1048576.0, false)]),
            (
                vec![("user", None), ("client-id", None)],
                vec![("consumer_byte_rate", 2e6, false), ("request_percentage", 50.5, false)],
            ),
            (vec![("user", Some("bob"))], vec![("producer_byte_rate", -1.0, false)]),
            (vec![("user", Some("bob"))], vec![("producer_byte_rate", 1.5, false)]),
            (vec![("user", Some("bob"))], vec![("fetch_rate", 1.0, false)]),
            (vec![("group", Some("g"))], vec![("producer_byte_rate", 1.0, false)]),
            (
                vec![("user", Some("a")), ("user", Some("b"))],
                vec![("producer_byte_rate", 1.0, false)],
            ),
            (vec![], vec![("producer_byte_rate", 1.0, false)]),
        ],
        false,
    )
    .await;
    assert_eq!(codes, [0, 0, 42, 42, 42, 42, 42, 42]);
    assert_eq!(
        alter_quotas(
            &broker,
            vec![(vec![("client-id", Some("x"))], vec![("producer_byte_rate", 5.0, false)])],
            true
        )
        .await,
        [0]
    );
    let quotas = broker.metadata();
    let quotas = quotas.client_quotas();
    assert_eq!(quotas.describe(&[], false).len(), 2, "validate_only changed nothing");
    assert_eq!(
        quotas.resolve(crate::quota::QuotaType::Produce, "alice", "any").unwrap().1,
        1048576.0
    );
    assert_eq!(quotas.resolve(crate::quota::QuotaType::Request, "zed", "any").unwrap().1, 50.5);

    // Describe through the wire: exact user, strict.
    let mut session = Session::plaintext("test:1".into());
    let describe = |components: Vec<(&str, i8, Option<&str>)>, strict: bool| {
        RequestKind::DescribeClientQuotas(
            DescribeClientQuotasRequest::default().with_strict(strict).with_components(
                components
                    .into_iter()
                    .map(|(t, m, n)| {
                        describe_client_quotas_request::ComponentData::default()
                            .with_entity_type(s(t))
                            .with_match_type(m)
                            .with_match(n.map(s))
                    })
                    .collect(),
            ),
        )
    };
    let ResponseKind::DescribeClientQuotas(r) = answer(
        &broker,
        &mut session,
        ApiKey::DescribeClientQuotas,
        1,
        describe(vec![("user", 0, Some("alice"))], true),
    )
    .await
    else {
        unreachable!()
    };
    let entries = r.entries.unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].entity[0].entity_name.as_deref(), Some("alice"));
    assert_eq!(
        (entries[0].values[0].key.as_str(), entries[0].values[0].value),
        ("producer_byte_rate", 1048576.0)
    );
    let ResponseKind::DescribeClientQuotas(r) = answer(
        &broker,
        &mut session,
        ApiKey::DescribeClientQuotas,
        1,
        describe(vec![("user", 1, None)], false),
    )
    .await
    else {
        unreachable!()
    };
    let entries = r.entries.unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].values.len(), 2);
    let ResponseKind::DescribeClientQuotas(r) = answer(
        &broker,
        &mut session,
        ApiKey::DescribeClientQuotas,
        1,
        describe(vec![("user", 2, None), ("user", 1, None)], false),
    )
    .await
    else {
        unreachable!()
    };
    assert_eq!(r.error_code, 42);
    assert!(r.entries.is_none());

    // Removal, and a restart keeps what remains.
    assert_eq!(
        alter_quotas(
            &broker,
            vec![(vec![("user", Some("alice"))], vec![("producer_byte_rate", 0.0, true)])],
            false
        )
        .await,
        [0]
    );
    drop(broker);
    let broker = open(storage);
    let image = broker.metadata();
    assert!(image
        .client_quotas()
        .resolve(crate::quota::QuotaType::Produce, "alice", "any")
        .is_none());
    assert_eq!(
        image.client_quotas().resolve(crate::quota::QuotaType::Fetch, "alice", "c").unwrap().1,
        2e6
    );
}

/// KIP-219 through the frame path: over quota, the Produce response carries throttle_time_ms
/// and the session is told to mute for that long; a throttled Fetch comes back empty; another
/// user is unaffected; the throttles are counted.
#[tokio::test]
async fn over_quota_responses_carry_throttle_time_and_mute() {
    let broker = test_broker().await;
    assert_eq!(
        alter_quotas(
            &broker,
            vec![(
                vec![("user", Some("slow"))],
                vec![("producer_byte_rate", 100.0, false), ("consumer_byte_rate", 100.0, false)]
            )],
            false
        )
        .await,
        [0]
    );
    // Not super users: both need ACLs to produce and fetch.
    let records = ["User:slow", "User:fast"]
        .into_iter()
        .map(|principal| crate::metadata::MetadataRecord::AccessControlEntry {
            id: broker.random_uuid(),
            acl: crate::authorizer::AclBinding {
                resource_type: crate::authorizer::ResourceType::Topic,
                resource_name: "t".into(),
                pattern_type: crate::authorizer::PatternType::Literal,
                principal: principal.into(),
                host: "*".into(),
                operation: crate::authorizer::AclOperation::All,
                permission: crate::authorizer::AclPermissionType::Allow,
            },
        })
        .collect();
    broker.commit_metadata(records).unwrap();
    let mut slow = Session::plaintext("test:1".into());
    slow.principal = crate::security::Principal::user("slow");
    let mut throttles = Vec::new();
    for _ in 0..30 {
        let ResponseKind::Produce(r) =
            answer(&broker, &mut slow, ApiKey::Produce, 9, RequestKind::Produce(produce_t0()))
                .await
        else {
            unreachable!()
        };
        assert_eq!(r.responses[0].partition_responses[0].error_code, 0, "the data is accepted");
        assert_eq!(i64::from(r.throttle_time_ms), slow.throttle_ms);
        throttles.push(r.throttle_time_ms);
    }
    // 100 B/s over the 10 s minimum window: the first ~1000 bytes pass, then each request
    // is throttled longer than the one before.
    assert_eq!(throttles[0], 0, "{throttles:?}");
    assert!(throttles[29] > throttles[28] && throttles[28] > 0, "{throttles:?}");
    // Fetches are measured on their own sensor: keep fetching until it throttles.
    let mut fetch_throttled = None;
    for _ in 0..50 {
        let ResponseKind::Fetch(r) =
            answer(&broker, &mut slow, ApiKey::Fetch, 12, RequestKind::Fetch(fetch_t0(0, 0))).await
        else {
            unreachable!()
        };
        if r.throttle_time_ms > 0 {
            fetch_throttled = Some(r);
            break;
        }
        assert!(!r.responses.is_empty());
    }
    let throttled = fetch_throttled.expect("fetches over 100 B/s are throttled");
    assert!(throttled.responses.is_empty(), "a throttled fetch carries no data");

    let mut fast = Session::plaintext("test:2".into());
    fast.principal = crate::security::Principal::user("fast");
    for _ in 0..20 {
        let ResponseKind::Produce(r) =
            answer(&broker, &mut fast, ApiKey::Produce, 9, RequestKind::Produce(produce_t0()))
                .await
        else {
            unreachable!()
        };
        assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
        assert_eq!(r.throttle_time_ms, 0);
        assert_eq!(fast.throttle_ms, 0);
    }
    let stats = broker.stats.snapshot(0);
    assert!(stats.throttles[0].1 >= 2 && stats.throttles[0].2 > 0, "{stats:?}");
    assert!(stats.throttles[1].1 >= 1, "{stats:?}");
}

/// CreateTopics' replication factor as Kafka's controller checks it: -1 takes
/// `default.replication.factor`, 0 is invalid, and more replicas than registered brokers are
/// refused with the placer's message, auto-created topics too.
#[tokio::test]
async fn replication_factors_are_checked_against_the_registered_brokers() {
    let create = |broker: &Broker, name: &str, replication_factor: i16| {
        let request = CreateTopicsRequest::default().with_topics(vec![
            create_topics_request::CreatableTopic::default()
                .with_name(topic(name))
                .with_num_partitions(1)
                .with_replication_factor(replication_factor),
        ]);
        let response =
            super::create_topics::handle(broker, &anonymous(ApiKey::CreateTopics, 7), request, 7);
        let result = &response.topics[0];
        (result.error_code, result.error_message.as_ref().map(|m| m.to_string()))
    };
    let broker = test_broker().await;
    assert_eq!(create(&broker, "one", 1).0, 0);
    assert_eq!(create(&broker, "default", -1).0, 0);
    let (code, message) = create(&broker, "three", 3);
    assert_eq!(code, kafka_protocol::ResponseError::InvalidReplicationFactor.code());
    assert_eq!(
        message.as_deref(),
        Some(
            "Unable to replicate the partition 3 time(s): The target replication factor of 3 \
             cannot be reached because only 1 broker(s) are registered."
        )
    );
    let (code, message) = create(&broker, "zero", 0);
    assert_eq!(code, kafka_protocol::ResponseError::InvalidReplicationFactor.code());
    assert!(message.unwrap().contains("must be larger than 0, or -1"));

    let config = BrokerConfig { default_replication_factor: 3, ..BrokerConfig::default() };
    let broker = open_broker(config, Arc::new(MemoryStorage::new()));
    let (code, message) = create(&broker, "default", -1);
    assert_eq!(code, kafka_protocol::ResponseError::InvalidReplicationFactor.code());
    assert!(message.unwrap().contains("replication factor of 3 cannot be reached"));
    // Auto-creation goes through the same check (`Broker::create_topic`).
    let err = broker.create_topic("auto", 1, Default::default(), false).unwrap_err();
    assert_eq!(err.error, kafka_protocol::ResponseError::InvalidReplicationFactor);
    assert!(broker.metadata().topic("auto").is_none());
}

/// A follower's Fetch on the leader (ReplicaState, v15+): it reads past the high watermark,
/// its fetch offset is its log end offset and moves the high watermark, a divergent last
/// fetched epoch answers DivergingEpoch (KIP-320), a replica not assigned is refused, and it
/// needs ClusterAction, not Read.
#[tokio::test]
async fn follower_fetches_move_the_high_watermark_and_learn_divergence() {
    use kafka_protocol::messages::fetch_request::ReplicaState;
    let broker = test_broker().await;
    let node = broker.config.node_id;
    let id = uuid::Uuid::from_u128(77);
    let records = vec![
        crate::metadata::MetadataRecord::Topic { name: "r".into(), topic_id: id },
        crate::metadata::MetadataRecord::Partition(crate::metadata::PartitionRecord::new(
            id,
            0,
            vec![node, 2],
        )),
    ];
    broker.commit_metadata(records).unwrap();
    let partition = broker.replica_manager().partition("r", 0).unwrap();
    for _ in 0..2 {
        let batch = encode_batch(&[(None, Some(Bytes::from_static(b"v")))], 1);
        partition.append_as_leader(&mut batch.clone(), 1, false).unwrap();
    }
    assert_eq!(partition.high_watermark(), 0, "follower 2 has nothing yet");

    let fetch = |replica: i32, offset: i64, last_fetched_epoch: i32, principal| {
        let request = FetchRequest::default()
            .with_max_wait_ms(0)
            .with_max_bytes(1 << 20)
            .with_replica_state(ReplicaState::default().with_replica_id(BrokerId(replica)))
            .with_topics(vec![fetch_request::FetchTopic::default()
                .with_topic_id(id)
                .with_partitions(vec![fetch_request::FetchPartition::default()
                    .with_partition(0)
                    .with_fetch_offset(offset)
                    .with_last_fetched_epoch(last_fetched_epoch)
                    .with_partition_max_bytes(1 << 20)])]);
        let ctx = super::RequestContext { principal, ..anonymous(ApiKey::Fetch, 15) };
        let broker = broker.clone();
        async move {
            let response = super::fetch::handle(&broker, &ctx, request, 15).await;
            response.responses[0].partitions[0].clone()
        }
    };
    let anonymous_user = crate::security::Principal::anonymous;
    let read = fetch(2, 0, -1, anonymous_user()).await;
    let one_batch = encode_batch(&[(None, Some(Bytes::from_static(b"v")))], 1).len();
    assert_eq!(read.error_code, 0);
    assert_eq!(read.records.as_ref().unwrap().len(), 2 * one_batch, "past the high watermark");
    assert_eq!(read.high_watermark, 0);

    let caught_up = fetch(2, 2, 0, anonymous_user()).await;
    assert_eq!((caught_up.error_code, caught_up.high_watermark), (0, 2));
    assert_eq!(partition.high_watermark(), 2, "the ISR has both records");

    let diverged = fetch(2, 5, 0, anonymous_user()).await;
    assert_eq!((diverged.diverging_epoch.epoch, diverged.diverging_epoch.end_offset), (0, 2));
    assert!(diverged.records.as_ref().unwrap().is_empty());

    let stranger = fetch(3, 0, -1, anonymous_user()).await;
    assert_eq!(stranger.error_code, kafka_protocol::ResponseError::NotLeaderOrFollower.code());
    let alice = fetch(2, 2, 0, crate::security::Principal::user("alice")).await;
    assert_eq!(alice.error_code, kafka_protocol::ResponseError::TopicAuthorizationFailed.code());
}

/// The Raft RPCs' whole-request refusals, as Kafka's `KafkaRaftClient` answers them: another
/// cluster, a partition other than `__cluster_metadata-0`; and a vote in an epoch the voter has
/// passed is fenced with the current leader, granting nothing.
#[tokio::test]
async fn raft_requests_from_elsewhere_are_refused_as_kafka_refuses_them() {
    use kafka_protocol::error::ResponseError;
    let broker = test_broker().await;
    let mut session = Session::plaintext("test:1".into());
    let vote = |cluster: &str, topic_name: &str, partition: i32, epoch: i32| {
        RequestKind::Vote(VoteRequest::default().with_cluster_id(Some(s(cluster))).with_topics(
            vec![
                vote_request::TopicData::default()
                    .with_topic_name(topic(topic_name))
                    .with_partitions(vec![vote_request::PartitionData::default()
                        .with_partition_index(partition)
                        .with_replica_epoch(epoch)
                        .with_replica_id(BrokerId(1))
                        .with_last_offset_epoch(epoch)
                        .with_last_offset(1 << 20)]),
            ],
        ))
    };
    let cluster = broker.cluster_id.clone();
    let top = |r: ResponseKind| match r {
        ResponseKind::Vote(r) => r,
        other => panic!("{other:?}"),
    };
    let r = top(answer(
        &broker,
        &mut session,
        ApiKey::Vote,
        2,
        vote("other", "__cluster_metadata", 0, 5),
    )
    .await);
    assert_eq!(r.error_code, ResponseError::InconsistentClusterId.code());
    let r = top(answer(
        &broker,
        &mut session,
        ApiKey::Vote,
        2,
        vote(&cluster, "__cluster_metadata", 1, 5),
    )
    .await);
    assert_eq!(r.error_code, ResponseError::InvalidRequest.code());
    let r =
        top(answer(&broker, &mut session, ApiKey::Vote, 2, vote(&cluster, "orders", 0, 5)).await);
    assert_eq!(r.error_code, ResponseError::InvalidRequest.code());
    let r = top(answer(
        &broker,
        &mut session,
        ApiKey::Vote,
        2,
        vote(&cluster, "__cluster_metadata", 0, 0),
    )
    .await);
    let p = &r.topics[0].partitions[0];
    assert_eq!((r.error_code, p.error_code), (0, ResponseError::FencedLeaderEpoch.code()));
    assert_eq!((p.leader_id.0, p.leader_epoch, p.vote_granted), (1, 1, false));
    assert_eq!(broker.quorum_epoch(), 1, "nothing above changed the quorum");
}
