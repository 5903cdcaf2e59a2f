//! The authorization matrix: real librdkafka clients (rdkafka crate) authenticated over
//! SASL_PLAINTEXT/PLAIN as a super user, an allowed user, a denied user and a user without ACLs,
//! against the APIs clients use (produce, consume in a group with commit, metadata listing,
//! create/delete topics, describe configs, list groups, list offsets) and ACLs with LITERAL, `*`
//! and PREFIXED patterns, asserting the outcome Apache Kafka's StandardAuthorizer gives. Also:
//! ACLs survive a restart, and without `authorizer.class.name` the ACL APIs answer
//! SECURITY_DISABLED.
//!
//! ACLs are created over the PLAINTEXT listener, whose `User:ANONYMOUS` is a super user here
//! (the lab's "internal" listener), with raw CreateAcls requests: rdkafka does not wrap the ACL
//! APIs. The `kafka-lab acls` tool and confluent-kafka's AdminClient test them separately.

// Drives the real binary from outside, on the OS's clock and threads: broker/clippy.toml's
// determinism rule is for the broker's own code, not for its tests.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::{CreateAclsRequest, DescribeAclsRequest};
use kafka_protocol::protocol::StrBytes;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord};
use support::{call, free_port, TestBroker};

const TIMEOUT: Duration = Duration::from_secs(20);
const STANDARD_AUTHORIZER: &str = "org.apache.kafka.metadata.authorizer.StandardAuthorizer";

struct Lab {
    broker: TestBroker,
    sasl: u16,
}

fn start() -> Lab {
    let sasl = free_port();
    let jaas = r#"org.apache.kafka.common.security.plain.PlainLoginModule required user_admin="admin-secret" user_alice="alice-secret" user_bob="bob-secret" user_carol="carol-secret";"#;
    let broker = TestBroker::start_with_listeners(
        &format!("SASL_PLAINTEXT://127.0.0.1:{sasl}"),
        &[
            &format!("listener.name.sasl_plaintext.plain.sasl.jaas.config={jaas}"),
            &format!("authorizer.class.name={STANDARD_AUTHORIZER}"),
            "super.users=User:admin;User:ANONYMOUS",
            "auto.create.topics.enable=false",
        ],
    );
    Lab { broker, sasl }
}

/// `(resource type, name, pattern, principal, operation, permission)` in Kafka's codes.
type Acl = (i8, &'static str, i8, &'static str, i8, i8);
const TOPIC: i8 = 2;
const GROUP: i8 = 3;
const LITERAL: i8 = 3;
const PREFIXED: i8 = 4;
const ALL: i8 = 2;
const READ: i8 = 3;
const WRITE: i8 = 4;
const DESCRIBE: i8 = 8;
const DESCRIBE_CONFIGS: i8 = 10;
const DENY: i8 = 2;
const ALLOW: i8 = 3;

/// alice: Read+Write on `orders` (LITERAL), Describe on every topic (`*`), All on `team-a.`
/// (PREFIXED), Read on groups `alice-` (PREFIXED), DescribeConfigs on `orders`.
/// bob: Read+Write on `orders`, but DENY Write on every topic and DENY Read on `ord` (PREFIXED);
/// Read on group `bob-group`. carol: nothing.
const ACLS: &[Acl] = &[
    (TOPIC, "orders", LITERAL, "User:alice", READ, ALLOW),
    (TOPIC, "orders", LITERAL, "User:alice", WRITE, ALLOW),
    (TOPIC, "*", LITERAL, "User:alice", DESCRIBE, ALLOW),
    (TOPIC, "team-a.", PREFIXED, "User:alice", ALL, ALLOW),
    (GROUP, "alice-", PREFIXED, "User:alice", READ, ALLOW),
    (TOPIC, "orders", LITERAL, "User:alice", DESCRIBE_CONFIGS, ALLOW),
    (TOPIC, "orders", LITERAL, "User:bob", READ, ALLOW),
    (TOPIC, "orders", LITERAL, "User:bob", WRITE, ALLOW),
    (TOPIC, "*", LITERAL, "User:bob", WRITE, DENY),
    (TOPIC, "ord", PREFIXED, "User:bob", READ, DENY),
    (GROUP, "bob-group", LITERAL, "User:bob", READ, ALLOW),
];

fn create_acls(port: u16, acls: &[Acl]) -> Vec<i16> {
    let creations = acls
        .iter()
        .map(|(rt, name, pattern, principal, op, permission)| {
            AclCreation::default()
                .with_resource_type(*rt)
                .with_resource_name(StrBytes::from_static_str(name))
                .with_resource_pattern_type(*pattern)
                .with_principal(StrBytes::from_static_str(principal))
                .with_host(StrBytes::from_static_str("*"))
                .with_operation(*op)
                .with_permission_type(*permission)
        })
        .collect();
    let response = call(port, 3, &CreateAclsRequest::default().with_creations(creations));
    response.results.iter().map(|r| r.error_code).collect()
}

/// An ACL as DescribeAcls returns it: `(resource type, name, pattern, principal, operation,
/// permission)`.
type DescribedAcl = (i8, String, i8, String, i8, i8);

/// Every ACL, or DescribeAcls' error code.
fn describe_all_acls(port: u16) -> Result<BTreeSet<DescribedAcl>, i16> {
    let any = DescribeAclsRequest::default()
        .with_resource_name_filter(None)
        .with_principal_filter(None)
        .with_host_filter(None)
        .with_resource_type_filter(1)
        .with_pattern_type_filter(1)
        .with_operation(1)
        .with_permission_type(1);
    let response = call(port, 3, &any);
    if response.error_code != 0 {
        return Err(response.error_code);
    }
    Ok(response
        .resources
        .iter()
        .flat_map(|r| {
            r.acls.iter().map(|a| {
                (
                    r.resource_type,
                    r.resource_name.to_string(),
                    r.pattern_type,
                    a.principal.to_string(),
                    a.operation,
                    a.permission_type,
                )
            })
        })
        .collect())
}

impl Lab {
    fn config(&self, user: &str) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", format!("127.0.0.1:{}", self.sasl))
            .set("security.protocol", "SASL_PLAINTEXT")
            .set("sasl.mechanism", "PLAIN")
            .set("sasl.username", user)
            .set("sasl.password", format!("{user}-secret"));
        config
    }

    fn admin(&self, user: &str) -> AdminClient<DefaultClientContext> {
        self.config(user).create().expect("admin client")
    }

    fn producer(&self, user: &str) -> FutureProducer {
        self.config(user)
            .set("enable.idempotence", "false")
            .set("message.timeout.ms", "10000")
            .create()
            .expect("producer")
    }

    fn consumer(&self, user: &str, group: &str) -> BaseConsumer {
        self.config(user)
            .set("group.id", group)
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false")
            .set("session.timeout.ms", "6000")
            .create()
            .expect("consumer")
    }
}

async fn produce(lab: &Lab, user: &str, topic: &str) -> Result<(), RDKafkaErrorCode> {
    let producer = lab.producer(user);
    let record = FutureRecord::to(topic).key("k").payload("v");
    match producer.send(record, TIMEOUT).await {
        Ok(_) => Ok(()),
        Err((KafkaError::MessageProduction(code), _)) => Err(code),
        Err((e, _)) => panic!("{user} producing to {topic}: {e}"),
    }
}

async fn create_topic(lab: &Lab, user: &str, name: &str) -> Result<(), RDKafkaErrorCode> {
    let topic = NewTopic::new(name, 1, TopicReplication::Fixed(1));
    let results = lab.admin(user).create_topics(&[topic], &AdminOptions::new()).await.unwrap();
    results[0].clone().map(|_| ()).map_err(|(_, code)| code)
}

async fn delete_topic(lab: &Lab, user: &str, name: &str) -> Result<(), RDKafkaErrorCode> {
    let results = lab.admin(user).delete_topics(&[name], &AdminOptions::new()).await.unwrap();
    results[0].clone().map(|_| ()).map_err(|(_, code)| code)
}

async fn describe_configs(
    lab: &Lab,
    user: &str,
    resource: ResourceSpecifier<'_>,
) -> Result<usize, RDKafkaErrorCode> {
    let results =
        lab.admin(user).describe_configs(&[resource], &AdminOptions::new()).await.unwrap();
    results[0].as_ref().map(|r| r.entries.len()).map_err(|code| *code)
}

fn listed_topics(lab: &Lab, user: &str) -> BTreeSet<String> {
    let consumer = lab.consumer(user, "unused");
    let metadata = consumer.fetch_metadata(None, TIMEOUT).expect("metadata");
    metadata.topics().iter().map(|t| t.name().to_owned()).collect()
}

fn listed_groups(lab: &Lab, user: &str) -> BTreeSet<String> {
    let consumer = lab.consumer(user, "unused");
    let groups = consumer.fetch_group_list(None, TIMEOUT).expect("group list");
    groups.groups().iter().map(|g| g.name().to_owned()).collect()
}

/// Consumes `topic` in `group` and commits; the first error librdkafka reports otherwise.
fn consume_and_commit(
    lab: &Lab,
    user: &str,
    group: &str,
    topic: &str,
) -> Result<i64, RDKafkaErrorCode> {
    let consumer = lab.consumer(user, group);
    consumer.subscribe(&[topic]).unwrap();
    let deadline = Instant::now() + TIMEOUT;
    loop {
        assert!(Instant::now() < deadline, "{user}: neither a record nor an error from {topic}");
        match consumer.poll(Duration::from_millis(200)) {
            None => continue,
            Some(Err(e)) => return Err(e.rdkafka_error_code().expect("an error code: {e}")),
            Some(Ok(_)) => {
                consumer
                    .commit_consumer_state(CommitMode::Sync)
                    .map_err(|e| e.rdkafka_error_code().unwrap_or(RDKafkaErrorCode::Unknown))?;
                let committed = consumer.committed(TIMEOUT).expect("committed offsets");
                let offset = committed.elements()[0].offset().to_raw().unwrap_or(-1);
                return Ok(offset);
            }
        }
    }
}

#[tokio::test]
async fn authorization_matrix_matches_kafka() {
    use RDKafkaErrorCode::{
        GroupAuthorizationFailed as GroupDenied, TopicAuthorizationFailed as TopicDenied,
    };
    let lab = start();
    assert!(create_acls(lab.broker.port, ACLS).iter().all(|code| *code == 0));
    for topic in ["orders", "payroll"] {
        create_topic(&lab, "admin", topic).await.unwrap();
    }

    // Produce: Write on the topic; bob's DENY on `*` beats his ALLOW on `orders`.
    assert_eq!(produce(&lab, "admin", "orders").await, Ok(()));
    assert_eq!(produce(&lab, "alice", "orders").await, Ok(()));
    assert_eq!(produce(&lab, "alice", "payroll").await, Err(TopicDenied));
    assert_eq!(produce(&lab, "bob", "orders").await, Err(TopicDenied));
    assert_eq!(produce(&lab, "carol", "orders").await, Err(TopicDenied));

    // Metadata lists only what each principal may Describe (Read/Write imply it).
    let all: BTreeSet<String> =
        ["__consumer_offsets", "orders", "payroll"].map(String::from).into();
    assert_eq!(listed_topics(&lab, "admin"), all);
    assert_eq!(listed_topics(&lab, "alice"), all, "alice: Describe on `*`");
    assert_eq!(listed_topics(&lab, "bob"), ["orders".to_owned()].into());
    assert_eq!(listed_topics(&lab, "carol"), BTreeSet::new());

    // Consume in a group and commit: Read on the group and on the topic.
    assert_eq!(consume_and_commit(&lab, "alice", "alice-readers", "orders"), Ok(1));
    assert_eq!(consume_and_commit(&lab, "admin", "admins", "orders"), Ok(1));
    assert_eq!(consume_and_commit(&lab, "bob", "bob-group", "orders"), Err(TopicDenied));
    assert_eq!(consume_and_commit(&lab, "alice", "other-readers", "orders"), Err(GroupDenied));
    assert_eq!(consume_and_commit(&lab, "carol", "carol-group", "orders"), Err(GroupDenied));

    // ListGroups: everything with Describe on the Cluster, else the groups one may Describe.
    let groups = listed_groups(&lab, "admin");
    assert!(groups.contains("alice-readers") && groups.contains("admins"), "{groups:?}");
    assert_eq!(listed_groups(&lab, "alice"), ["alice-readers".to_owned()].into());
    assert_eq!(listed_groups(&lab, "carol"), BTreeSet::new());

    // ListOffsets: Describe on the topic.
    let watermarks =
        |user: &str| lab.consumer(user, "unused").fetch_watermarks("orders", 0, TIMEOUT);
    assert_eq!(watermarks("alice").unwrap(), (0, 2));
    assert_eq!(watermarks("bob").unwrap(), (0, 2), "bob's Read on orders implies Describe");
    assert!(watermarks("carol").is_err());

    // CreateTopics/DeleteTopics: Create and Delete on the topic (alice's PREFIXED All).
    assert_eq!(create_topic(&lab, "alice", "team-a.events").await, Ok(()));
    assert_eq!(create_topic(&lab, "alice", "team-b.events").await, Err(TopicDenied));
    assert_eq!(create_topic(&lab, "carol", "team-a.more").await, Err(TopicDenied));
    assert_eq!(delete_topic(&lab, "bob", "team-a.events").await, Err(TopicDenied));
    assert_eq!(delete_topic(&lab, "alice", "team-a.events").await, Ok(()));
    assert_eq!(delete_topic(&lab, "alice", "payroll").await, Err(TopicDenied));
    assert_eq!(delete_topic(&lab, "admin", "payroll").await, Ok(()));

    // DescribeConfigs: DescribeConfigs on the topic (Read/Write do not imply it), on the
    // Cluster for the broker. rust-rdkafka drops the per-resource error code, so a denial shows
    // here as a resource without configs; the codes themselves (TOPIC_/CLUSTER_AUTHORIZATION_
    // FAILED) are asserted in the handlers' unit tests and the confluent-kafka test.
    let topic_configs = |user| describe_configs(&lab, user, ResourceSpecifier::Topic("orders"));
    assert!(topic_configs("alice").await.unwrap() > 5);
    assert_eq!(topic_configs("bob").await, Ok(0));
    let broker_configs = |user| describe_configs(&lab, user, ResourceSpecifier::Broker(1));
    assert!(broker_configs("admin").await.unwrap() > 5);
    assert_eq!(broker_configs("alice").await, Ok(0));

    // Every denial is logged with the principal, never with a password.
    let log = lab.broker.log();
    assert!(log.contains("authorization denied"), "denials are logged");
    assert!(log.contains("User:carol"), "with the principal");
    for secret in ["alice-secret", "bob-secret", "carol-secret", "admin-secret"] {
        assert!(!log.contains(secret), "a password reached the log");
    }
}

#[tokio::test]
async fn idempotent_producers_need_write_on_some_topic_or_idempotent_write() {
    let lab = start();
    assert!(create_acls(lab.broker.port, ACLS).iter().all(|code| *code == 0));
    create_topic(&lab, "admin", "orders").await.unwrap();
    let idempotent = |user: &str| -> FutureProducer {
        lab.config(user)
            .set("enable.idempotence", "true")
            .set("message.timeout.ms", "10000")
            .create()
            .unwrap()
    };
    let record = FutureRecord::to("orders").key("k").payload("v");
    assert!(idempotent("alice").send(record, TIMEOUT).await.is_ok());
    // carol: InitProducerId fails with CLUSTER_AUTHORIZATION_FAILED, a fatal producer error.
    let record = FutureRecord::to("orders").key("k").payload("v");
    let (error, _) = idempotent("carol").send(record, TIMEOUT).await.unwrap_err();
    assert!(format!("{error}").contains("uthoriz"), "{error}");
}

#[test]
fn acls_survive_a_restart() {
    let mut lab = start();
    assert!(create_acls(lab.broker.port, ACLS).iter().all(|code| *code == 0));
    // Creating an existing ACL again is a no-op, as in Kafka.
    assert_eq!(create_acls(lab.broker.port, &ACLS[..1]), vec![0]);
    let before = describe_all_acls(lab.broker.port).unwrap();
    assert_eq!(before.len(), ACLS.len());
    lab.broker.restart();
    assert_eq!(describe_all_acls(lab.broker.port).unwrap(), before);
    // And they are enforced after the restart.
    assert!(listed_topics(&lab, "carol").is_empty());
    assert!(listed_topics(&lab, "alice").contains("__consumer_offsets"));
}

#[test]
fn invalid_acls_are_refused_with_invalid_request() {
    let lab = start();
    let codes = create_acls(
        lab.broker.port,
        &[
            (4, "not-kafka-cluster", LITERAL, "User:alice", READ, ALLOW),
            (TOPIC, "t", 2, "User:alice", READ, ALLOW),
            (TOPIC, "t", LITERAL, "alice", READ, ALLOW),
            (TOPIC, "t", LITERAL, "User:alice", 0, ALLOW),
            (TOPIC, "t", LITERAL, "User:alice", READ, ALLOW),
        ],
    );
    let invalid = ResponseError::InvalidRequest.code();
    assert_eq!(codes, vec![invalid, invalid, invalid, invalid, 0]);
}

#[test]
fn without_an_authorizer_the_acl_apis_answer_security_disabled() {
    let broker = TestBroker::start();
    let disabled = ResponseError::SecurityDisabled.code();
    assert_eq!(create_acls(broker.port, &ACLS[..2]), vec![disabled, disabled]);
    assert_eq!(describe_all_acls(broker.port), Err(disabled));
}
