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
    let broker = Broker::open(
        config,
        Arc::new(MemoryStorage::new()),
        Arc::new(TokioClock::new(1_700_000_000_000)),
        7,
    )
    .unwrap();
    broker.create_topic("t", 2, Default::default(), false).unwrap();
    broker
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
        other => panic!("no representative request for {other:?}"),
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
        ResponseKind::SaslHandshake(r) => {
            assert_eq!(r.error_code, if v == 0 { 35 } else { 34 }, "SaslHandshake v{v}")
        }
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
fn anonymous(api_key: ApiKey, api_version: i16) -> super::RequestContext {
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
    let start = tokio::time::Instant::now();
    // Nothing arrives: the fetch waits the full max_wait_ms and returns empty.
    let empty =
        super::fetch::handle(&broker, &anonymous(ApiKey::Fetch, 12), fetch_t0(1, 500), 12).await;
    assert!(empty.responses[0].partitions[0].records.as_ref().unwrap().is_empty());
    assert_eq!(start.elapsed().as_millis(), 500);

    // A produce 200 ms into a 5 s wait wakes the fetch right away.
    let producer = broker.clone();
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        super::produce::handle(&producer, &anonymous(ApiKey::Produce, 9), produce_t0(), 9).unwrap();
    });
    let start = tokio::time::Instant::now();
    let woken =
        super::fetch::handle(&broker, &anonymous(ApiKey::Fetch, 12), fetch_t0(1, 5000), 12).await;
    assert_eq!(start.elapsed().as_millis(), 200);
    let partition = &woken.responses[0].partitions[0];
    assert!(!partition.records.as_ref().unwrap().is_empty());
    assert_eq!(partition.high_watermark, 1);
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
        let task = tokio::spawn({
            let broker = broker.clone();
            async move {
                let mut session = Session::plaintext("fuzz:1".into());
                handle_frame(&broker, frame.freeze(), &mut session).await
            }
        });
        match tokio::time::timeout(std::time::Duration::from_secs(3600), task).await {
            Ok(Ok(Ok(_))) => answered += 1,
            Ok(Ok(Err(_))) => {}
            Ok(Err(join)) => panic!("round {round}: {api:?} v{v} panicked: {join}"),
            Err(_) => panic!("round {round}: {api:?} v{v} did not finish"),
        }
    }
    assert!(answered > 100, "mutations should not reject everything: {answered} answered");
    // Still serving.
    let response =
        super::fetch::handle(&broker, &anonymous(ApiKey::Fetch, 12), fetch_t0(0, 0), 12).await;
    assert_eq!(response.responses[0].partitions[0].error_code, 0);
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
