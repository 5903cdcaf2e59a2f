//! Error codes of denied requests, per API, through the handlers (the real-client matrix is
//! `tests/authorization.rs`; some codes never reach rdkafka's API, e.g. DescribeConfigs').

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use super::tests::open_broker;
use super::RequestContext;
use crate::authorizer::{
    AclBinding, AclOperation, AclPermissionType, PatternType, ResourceType, STANDARD_AUTHORIZER,
};
use crate::broker::Broker;
use crate::config::BrokerConfig;
use crate::metadata::MetadataRecord;
use crate::security::{Principal, Session};
use crate::storage::MemoryStorage;

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_owned())
}

/// A broker with the authorizer on, topics `t` and `secret`, and alice allowed Describe and
/// DescribeConfigs on `t`, Describe on group `g`.
fn broker() -> Arc<Broker> {
    let config = BrokerConfig {
        authorizer_class_name: STANDARD_AUTHORIZER.into(),
        super_users: "User:admin".into(),
        ..BrokerConfig::default()
    };
    let broker = open_broker(config, Arc::new(MemoryStorage::new()));
    for topic in ["t", "secret"] {
        broker.create_topic(topic, 1, Default::default(), false).unwrap();
    }
    let allow = |rt, name: &str, op| AclBinding {
        resource_type: rt,
        resource_name: name.into(),
        pattern_type: PatternType::Literal,
        principal: "User:alice".into(),
        host: "*".into(),
        operation: op,
        permission: AclPermissionType::Allow,
    };
    let acls = [
        allow(ResourceType::Topic, "t", AclOperation::Describe),
        allow(ResourceType::Topic, "t", AclOperation::DescribeConfigs),
        allow(ResourceType::Group, "g", AclOperation::Describe),
    ];
    let records = acls
        .into_iter()
        .map(|acl| MetadataRecord::AccessControlEntry { id: broker.random_uuid(), acl })
        .collect();
    broker.commit_metadata(records).unwrap();
    broker
}

fn ctx(user: &str, api_key: ApiKey, api_version: i16) -> RequestContext {
    RequestContext {
        api_key,
        api_version,
        correlation_id: 1,
        client_id: "test".into(),
        client_host: "10.1.2.3:4000".into(),
        // The default config's one listener: an unknown one would be told of no coordinator.
        listener: "PLAINTEXT".into(),
        principal: Principal::user(user),
    }
}

async fn call(broker: &Arc<Broker>, ctx: &RequestContext, request: RequestKind) -> ResponseKind {
    let mut session = Session::plaintext("10.1.2.3:4000".into());
    super::handle(broker, ctx, &mut session, request).await.unwrap().unwrap()
}

#[tokio::test]
async fn acl_apis_need_alter_or_describe_on_the_cluster() {
    let broker = broker();
    let creation = create_acls_request::AclCreation::default()
        .with_resource_type(2)
        .with_resource_name(s("t"))
        .with_resource_pattern_type(3)
        .with_principal(s("User:alice"))
        .with_host(s("*"))
        .with_operation(3)
        .with_permission_type(3);
    let request = CreateAclsRequest::default().with_creations(vec![creation]);
    let ResponseKind::CreateAcls(r) = call(
        &broker,
        &ctx("alice", ApiKey::CreateAcls, 3),
        RequestKind::CreateAcls(request.clone()),
    )
    .await
    else {
        unreachable!()
    };
    assert_eq!(r.results[0].error_code, ResponseError::ClusterAuthorizationFailed.code());
    let ResponseKind::CreateAcls(r) =
        call(&broker, &ctx("admin", ApiKey::CreateAcls, 3), RequestKind::CreateAcls(request)).await
    else {
        unreachable!()
    };
    assert_eq!(r.results[0].error_code, 0);
    let ResponseKind::DescribeAcls(r) = call(
        &broker,
        &ctx("alice", ApiKey::DescribeAcls, 3),
        RequestKind::DescribeAcls(DescribeAclsRequest::default()),
    )
    .await
    else {
        unreachable!()
    };
    assert_eq!(r.error_code, ResponseError::ClusterAuthorizationFailed.code());
    assert_eq!(broker.metadata().acls().len(), 4);
    assert_eq!(broker.stats.denials().get(&(AclOperation::Alter, ResourceType::Cluster)), Some(&1));
}

#[tokio::test]
async fn describe_configs_denials_carry_the_resources_error() {
    let broker = broker();
    let resource = |rt: i8, name: &str| {
        describe_configs_request::DescribeConfigsResource::default()
            .with_resource_type(rt)
            .with_resource_name(s(name))
            .with_configuration_keys(None)
    };
    let request = DescribeConfigsRequest::default().with_resources(vec![
        resource(2, "t"),
        resource(2, "secret"),
        resource(4, "1"),
    ]);
    let ResponseKind::DescribeConfigs(r) = call(
        &broker,
        &ctx("alice", ApiKey::DescribeConfigs, 4),
        RequestKind::DescribeConfigs(request),
    )
    .await
    else {
        unreachable!()
    };
    let codes: Vec<i16> = r.results.iter().map(|r| r.error_code).collect();
    assert_eq!(
        codes,
        vec![
            0,
            ResponseError::TopicAuthorizationFailed.code(),
            ResponseError::ClusterAuthorizationFailed.code()
        ]
    );
    assert!(!r.results[0].configs.is_empty());
}

#[tokio::test]
async fn metadata_hides_undescribable_topics_and_reports_operations() {
    let broker = broker();
    let secret_id = broker.metadata().topic("secret").unwrap().topic_id;
    let wanted = |name: Option<&str>, id: uuid::Uuid| {
        metadata_request::MetadataRequestTopic::default()
            .with_name(name.map(|n| TopicName(s(n))))
            .with_topic_id(id)
    };
    let request = MetadataRequest::default()
        .with_topics(Some(vec![
            wanted(Some("t"), uuid::Uuid::nil()),
            wanted(Some("secret"), uuid::Uuid::nil()),
            wanted(None, secret_id),
            wanted(Some("missing"), uuid::Uuid::nil()),
        ]))
        .with_include_topic_authorized_operations(true);
    let ResponseKind::Metadata(r) =
        call(&broker, &ctx("alice", ApiKey::Metadata, 12), RequestKind::Metadata(request)).await
    else {
        unreachable!()
    };
    let denied = ResponseError::TopicAuthorizationFailed.code();
    let codes: Vec<i16> = r.topics.iter().map(|t| t.error_code).collect();
    assert_eq!(codes, vec![0, denied, denied, denied], "an unknown name is denied too");
    assert_eq!(r.topics[2].name, None, "asked by id, the name stays hidden");
    // Describe (8) and DescribeConfigs (10) on `t`.
    assert_eq!(r.topics[0].topic_authorized_operations, 1 << 8 | 1 << 10);
    let all = MetadataRequest::default().with_topics(None);
    let ResponseKind::Metadata(r) =
        call(&broker, &ctx("alice", ApiKey::Metadata, 12), RequestKind::Metadata(all)).await
    else {
        unreachable!()
    };
    let names: Vec<String> =
        r.topics.iter().map(|t| t.name.as_ref().unwrap().0.to_string()).collect();
    assert_eq!(names, vec!["t"]);
}

#[tokio::test]
async fn group_apis_answer_group_authorization_failed() {
    let broker = broker();
    let alice = |api, v| ctx("alice", api, v);
    let ResponseKind::FindCoordinator(r) = call(
        &broker,
        &alice(ApiKey::FindCoordinator, 4),
        RequestKind::FindCoordinator(
            FindCoordinatorRequest::default().with_coordinator_keys(vec![s("g"), s("h")]),
        ),
    )
    .await
    else {
        unreachable!()
    };
    let codes: Vec<i16> = r.coordinators.iter().map(|c| c.error_code).collect();
    assert_eq!(codes, vec![0, ResponseError::GroupAuthorizationFailed.code()]);
    // Describe on `g` is not Read: joining is denied.
    let join = JoinGroupRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_session_timeout_ms(10_000)
        .with_protocol_type(s("consumer"));
    let ResponseKind::JoinGroup(r) =
        call(&broker, &alice(ApiKey::JoinGroup, 9), RequestKind::JoinGroup(join)).await
    else {
        unreachable!()
    };
    assert_eq!(r.error_code, ResponseError::GroupAuthorizationFailed.code());
    // OffsetFetch v8: g allowed with `secret` denied per partition, h denied as a group.
    let group = |id: &str| {
        offset_fetch_request::OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(s(id)))
            .with_topics(Some(vec![
                offset_fetch_request::OffsetFetchRequestTopics::default()
                    .with_name(TopicName(s("t")))
                    .with_partition_indexes(vec![0]),
                offset_fetch_request::OffsetFetchRequestTopics::default()
                    .with_name(TopicName(s("secret")))
                    .with_partition_indexes(vec![0]),
            ]))
    };
    let fetch = OffsetFetchRequest::default().with_groups(vec![group("g"), group("h")]);
    let ResponseKind::OffsetFetch(r) =
        call(&broker, &alice(ApiKey::OffsetFetch, 8), RequestKind::OffsetFetch(fetch)).await
    else {
        unreachable!()
    };
    assert_eq!(r.groups[0].error_code, 0);
    let per_topic: Vec<(String, i16)> = r.groups[0]
        .topics
        .iter()
        .map(|t| (t.name.0.to_string(), t.partitions[0].error_code))
        .collect();
    assert_eq!(
        per_topic,
        vec![("t".into(), 0), ("secret".into(), ResponseError::TopicAuthorizationFailed.code())]
    );
    assert_eq!(r.groups[1].error_code, ResponseError::GroupAuthorizationFailed.code());
}

#[tokio::test]
async fn init_producer_id_needs_write_somewhere_or_idempotent_write() {
    let broker = broker();
    let request = InitProducerIdRequest::default().with_transactional_id(None);
    let ResponseKind::InitProducerId(r) = call(
        &broker,
        &ctx("alice", ApiKey::InitProducerId, 4),
        RequestKind::InitProducerId(request.clone()),
    )
    .await
    else {
        unreachable!()
    };
    assert_eq!(r.error_code, ResponseError::ClusterAuthorizationFailed.code());
    let transactional = request.with_transactional_id(Some(TransactionalId(s("tx"))));
    let ResponseKind::InitProducerId(r) = call(
        &broker,
        &ctx("alice", ApiKey::InitProducerId, 4),
        RequestKind::InitProducerId(transactional),
    )
    .await
    else {
        unreachable!()
    };
    assert_eq!(r.error_code, ResponseError::TransactionalIdAuthorizationFailed.code());
}

/// Allows `User:alice` `operation` on the Cluster.
fn allow_on_cluster(broker: &Broker, operation: AclOperation) {
    let acl = AclBinding {
        resource_type: ResourceType::Cluster,
        resource_name: crate::authorizer::CLUSTER_NAME.into(),
        pattern_type: PatternType::Literal,
        principal: "User:alice".into(),
        host: "*".into(),
        operation,
        permission: AclPermissionType::Allow,
    };
    let record = MetadataRecord::AccessControlEntry { id: broker.random_uuid(), acl };
    broker.commit_metadata(vec![record]).unwrap();
}

#[tokio::test]
async fn client_quota_apis_need_describe_configs_or_alter_configs_on_the_cluster() {
    let broker = broker();
    let describe = || {
        RequestKind::DescribeClientQuotas(DescribeClientQuotasRequest::default().with_components(
            vec![describe_client_quotas_request::ComponentData::default()
                .with_entity_type(s("user"))
                .with_match_type(2)],
        ))
    };
    let alter = |user: &str| {
        let entry = |name: &str| {
            alter_client_quotas_request::EntryData::default()
                .with_entity(vec![alter_client_quotas_request::EntityData::default()
                    .with_entity_type(s("user"))
                    .with_entity_name(Some(s(name)))])
                .with_ops(vec![alter_client_quotas_request::OpData::default()
                    .with_key(s("producer_byte_rate"))
                    .with_value(1024.0)])
        };
        let request =
            AlterClientQuotasRequest::default().with_entries(vec![entry(user), entry("x")]);
        RequestKind::AlterClientQuotas(request)
    };
    let denied = ResponseError::ClusterAuthorizationFailed.code();
    let alice_describe = ctx("alice", ApiKey::DescribeClientQuotas, 1);
    let alice_alter = ctx("alice", ApiKey::AlterClientQuotas, 1);

    let ResponseKind::AlterClientQuotas(r) = call(&broker, &alice_alter, alter("bob")).await else {
        unreachable!()
    };
    let codes: Vec<i16> = r.entries.iter().map(|e| e.error_code).collect();
    assert_eq!(codes, vec![denied, denied], "every entry is refused");
    assert!(broker.metadata().client_quotas().describe(&[], false).is_empty(), "nothing set");
    let ResponseKind::DescribeClientQuotas(r) = call(&broker, &alice_describe, describe()).await
    else {
        unreachable!()
    };
    assert_eq!((r.error_code, r.entries.is_none()), (denied, true));

    // AlterConfigs implies DescribeConfigs, as in Kafka.
    allow_on_cluster(&broker, AclOperation::AlterConfigs);
    let ResponseKind::AlterClientQuotas(r) = call(&broker, &alice_alter, alter("bob")).await else {
        unreachable!()
    };
    assert!(r.entries.iter().all(|e| e.error_code == 0), "{r:?}");
    let ResponseKind::DescribeClientQuotas(r) = call(&broker, &alice_describe, describe()).await
    else {
        unreachable!()
    };
    assert_eq!((r.error_code, r.entries.map(|e| e.len())), (0, Some(2)));
    let denials = broker.stats.denials();
    assert_eq!(denials.get(&(AclOperation::AlterConfigs, ResourceType::Cluster)), Some(&1));
    assert_eq!(denials.get(&(AclOperation::DescribeConfigs, ResourceType::Cluster)), Some(&1));
}

#[tokio::test]
async fn scram_credential_apis_need_describe_or_alter_on_the_cluster() {
    let broker = broker();
    let upsert = |name: &str| {
        alter_user_scram_credentials_request::ScramCredentialUpsertion::default()
            .with_name(s(name))
            .with_mechanism(1)
            .with_iterations(4096)
            .with_salt(bytes::Bytes::from_static(b"salt"))
            .with_salted_password(bytes::Bytes::from_static(&[7; 32]))
    };
    let alter = || {
        RequestKind::AlterUserScramCredentials(
            AlterUserScramCredentialsRequest::default()
                .with_upsertions(vec![upsert("zed"), upsert("bob"), upsert("zed")])
                .with_deletions(vec![
                    alter_user_scram_credentials_request::ScramCredentialDeletion::default()
                        .with_name(s("carol"))
                        .with_mechanism(2),
                ]),
        )
    };
    let describe = || {
        RequestKind::DescribeUserScramCredentials(DescribeUserScramCredentialsRequest::default())
    };
    let denied = ResponseError::ClusterAuthorizationFailed.code();
    let alice_alter = ctx("alice", ApiKey::AlterUserScramCredentials, 0);
    let alice_describe = ctx("alice", ApiKey::DescribeUserScramCredentials, 0);

    let alter_results = || async {
        let ResponseKind::AlterUserScramCredentials(r) = call(&broker, &alice_alter, alter()).await
        else {
            unreachable!()
        };
        r.results.iter().map(|r| (r.user.to_string(), r.error_code)).collect::<Vec<_>>()
    };
    // Kafka's error response: each user once, by name, all refused.
    assert_eq!(
        alter_results().await,
        vec![("bob".into(), denied), ("carol".into(), denied), ("zed".into(), denied)]
    );
    assert!(broker.credentials.read().unwrap().scram_users().is_empty());
    let ResponseKind::DescribeUserScramCredentials(r) =
        call(&broker, &alice_describe, describe()).await
    else {
        unreachable!()
    };
    assert_eq!((r.error_code, r.results.len()), (denied, 0));

    // Alter implies Describe.
    allow_on_cluster(&broker, AclOperation::Alter);
    assert_eq!(
        alter_results().await,
        vec![
            ("carol".into(), ResponseError::ResourceNotFound.code()),
            ("zed".into(), ResponseError::DuplicateResource.code()),
            ("bob".into(), 0),
        ]
    );
    let ResponseKind::DescribeUserScramCredentials(r) =
        call(&broker, &alice_describe, describe()).await
    else {
        unreachable!()
    };
    assert_eq!(r.error_code, 0);
    let users: Vec<String> = r.results.iter().map(|r| r.user.to_string()).collect();
    assert_eq!(users, vec!["bob"]);
    let denials = broker.stats.denials();
    assert_eq!(denials.get(&(AclOperation::Alter, ResourceType::Cluster)), Some(&1));
    assert_eq!(denials.get(&(AclOperation::Describe, ResourceType::Cluster)), Some(&1));
}

/// The controller APIs need ClusterAction on the Cluster, as Kafka's `ControllerApis`; a node
/// whose process.roles lacks `controller` answers NOT_CONTROLLER (to an authorized caller).
#[tokio::test]
async fn controller_apis_need_cluster_action_and_the_controller_role() {
    let broker = broker();
    let registration = || {
        RequestKind::BrokerRegistration(
            BrokerRegistrationRequest::default()
                .with_broker_id(BrokerId(2))
                .with_cluster_id(s(&broker.cluster_id)),
        )
    };
    let heartbeat = || RequestKind::BrokerHeartbeat(BrokerHeartbeatRequest::default());
    let alter = || RequestKind::AlterPartition(AlterPartitionRequest::default());
    let codes = |response: ResponseKind| match response {
        ResponseKind::BrokerRegistration(r) => r.error_code,
        ResponseKind::BrokerHeartbeat(r) => r.error_code,
        ResponseKind::AlterPartition(r) => r.error_code,
        other => panic!("{other:?}"),
    };
    let denied = ResponseError::ClusterAuthorizationFailed.code();
    for (api, request) in [
        (ApiKey::BrokerRegistration, registration()),
        (ApiKey::BrokerHeartbeat, heartbeat()),
        (ApiKey::AlterPartition, alter()),
    ] {
        assert_eq!(codes(call(&broker, &ctx("alice", api, 2), request).await), denied, "{api:?}");
    }
    // The super user passes authorization, then fails on the unknown broker epoch.
    let stale = ResponseError::StaleBrokerEpoch.code();
    let response = call(&broker, &ctx("admin", ApiKey::BrokerHeartbeat, 1), heartbeat()).await;
    assert_eq!(codes(response), stale);

    let config = BrokerConfig {
        process_roles: Some("broker".into()),
        controller_quorum_bootstrap_servers: "localhost:9093".into(),
        controller_listener_names: "CONTROLLER".into(),
        listener_security_protocol_map: Some("PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT".into()),
        ..BrokerConfig::default()
    };
    let broker_only = open_broker(config, Arc::new(MemoryStorage::new()));
    let not_controller = ResponseError::NotController.code();
    for (api, request) in [
        (ApiKey::BrokerRegistration, registration()),
        (ApiKey::BrokerHeartbeat, heartbeat()),
        (ApiKey::AlterPartition, alter()),
    ] {
        let response = call(&broker_only, &ctx("admin", api, 2), request).await;
        assert_eq!(codes(response), not_controller, "{api:?}");
    }
}

/// ElectLeaders needs Alter on the Cluster (Kafka's `ControllerApis.handleElectLeaders`): a
/// denial is CLUSTER_AUTHORIZATION_FAILED at the top and on every partition asked for; with
/// the ACL the elections run (one node: no election needed).
#[tokio::test]
async fn elect_leaders_needs_alter_on_the_cluster() {
    let broker = broker();
    let request = || {
        RequestKind::ElectLeaders(ElectLeadersRequest::default().with_topic_partitions(Some(
            vec![elect_leaders_request::TopicPartitions::default()
                .with_topic(TopicName(s("t")))
                .with_partitions(vec![0, 1])],
        )))
    };
    let codes = |response: ResponseKind| match response {
        ResponseKind::ElectLeaders(r) => {
            let partitions: Vec<i16> = r.replica_election_results[0]
                .partition_result
                .iter()
                .map(|p| p.error_code)
                .collect();
            (r.error_code, partitions)
        }
        other => panic!("{other:?}"),
    };
    let alice = ctx("alice", ApiKey::ElectLeaders, 2);
    let denied = ResponseError::ClusterAuthorizationFailed.code();
    assert_eq!(codes(call(&broker, &alice, request()).await), (denied, vec![denied, denied]));
    let denials = broker.stats.denials();
    assert_eq!(denials.get(&(AclOperation::Alter, ResourceType::Cluster)), Some(&1));

    allow_on_cluster(&broker, AclOperation::Alter);
    let not_needed = ResponseError::ElectionNotNeeded.code();
    let unknown = ResponseError::UnknownTopicOrPartition.code();
    assert_eq!(codes(call(&broker, &alice, request()).await), (0, vec![not_needed, unknown]));
}

/// AlterPartitionReassignments needs Alter on the Cluster, ListPartitionReassignments
/// Describe (Kafka's `ControllerApis`); denied, CLUSTER_AUTHORIZATION_FAILED.
#[tokio::test]
async fn reassignment_apis_need_alter_or_describe_on_the_cluster() {
    let broker = broker();
    let alter = || {
        RequestKind::AlterPartitionReassignments(
            AlterPartitionReassignmentsRequest::default().with_topics(vec![
                alter_partition_reassignments_request::ReassignableTopic::default()
                    .with_name(TopicName(s("t")))
                    .with_partitions(vec![
                        alter_partition_reassignments_request::ReassignablePartition::default()
                            .with_partition_index(0)
                            .with_replicas(Some(vec![BrokerId(1)])),
                    ]),
            ]),
        )
    };
    let list =
        || RequestKind::ListPartitionReassignments(ListPartitionReassignmentsRequest::default());
    let codes = |response: ResponseKind| match response {
        ResponseKind::AlterPartitionReassignments(r) => {
            (r.error_code, r.responses.first().map(|t| t.partitions[0].error_code))
        }
        ResponseKind::ListPartitionReassignments(r) => (r.error_code, None),
        other => panic!("{other:?}"),
    };
    let denied = ResponseError::ClusterAuthorizationFailed.code();
    let alice = ctx("alice", ApiKey::AlterPartitionReassignments, 0);
    assert_eq!(codes(call(&broker, &alice, alter()).await), (denied, Some(denied)));
    let alice_list = ctx("alice", ApiKey::ListPartitionReassignments, 0);
    assert_eq!(codes(call(&broker, &alice_list, list()).await), (denied, None));

    allow_on_cluster(&broker, AclOperation::Alter);
    assert_eq!(codes(call(&broker, &alice, alter()).await), (0, Some(0)));
    // Describe is implied by Alter (Kafka's implied operations).
    assert_eq!(codes(call(&broker, &alice_list, list()).await), (0, None));
}
