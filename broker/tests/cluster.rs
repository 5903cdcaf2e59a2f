//! A cluster of real processes, as Kafka 4.1 runs one in KRaft mode: node 1 is combined (a
//! broker and the quorum's one controller, on its own CONTROLLER listener), node 2 a broker
//! only. Node 2 registers with the controller, heartbeats, follows `__cluster_metadata`,
//! forwards metadata changes (CreateTopics, a Metadata request's auto-creation) to the
//! controller and is fenced when its heartbeats stop.

// Drives real binaries from outside, on the OS's clock and threads: broker/clippy.toml's
// determinism rule is for the broker's own code, not for its tests.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;

use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::{
    CreateTopicsRequest, InitProducerIdRequest, MetadataRequest, MetadataResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use support::{call, eventually, free_port, TestBroker};

/// Properties every node of the test cluster shares.
fn common(controller_port: u16, cluster_id: &str) -> Vec<String> {
    vec![
        format!("controller.quorum.voters=1@127.0.0.1:{controller_port}"),
        "controller.listener.names=CONTROLLER".into(),
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT".into(),
        format!("cluster.id={cluster_id}"),
        "broker.heartbeat.interval.ms=200".into(),
        "broker.session.timeout.ms=1500".into(),
    ]
}

fn metadata(port: u16) -> MetadataResponse {
    call(port, 12, &MetadataRequest::default().with_topics(None))
}

fn broker_ids(response: &MetadataResponse) -> Vec<i32> {
    response.brokers.iter().map(|b| b.node_id.0).collect()
}

fn create_topic(port: u16, name: &str, partitions: i32, replication_factor: i16) -> i16 {
    let topic = CreatableTopic::default()
        .with_name(TopicName(StrBytes::from_string(name.into())))
        .with_num_partitions(partitions)
        .with_replication_factor(replication_factor);
    let request = CreateTopicsRequest::default().with_topics(vec![topic]).with_timeout_ms(10_000);
    call(port, 7, &request).topics[0].error_code
}

#[test]
fn a_broker_only_node_registers_follows_the_metadata_and_is_fenced_when_it_stops() {
    let controller_port = free_port();
    let cluster_id = kafka_lab_broker::kafka_uuid::encode_bytes(&[7; 16]);
    let mut node1_props = vec!["node.id=1".to_owned(), "process.roles=broker,controller".into()];
    node1_props.extend(common(controller_port, &cluster_id));
    let node1_props: Vec<&str> = node1_props.iter().map(String::as_str).collect();
    let node1 = TestBroker::start_with_listeners(
        &format!("CONTROLLER://127.0.0.1:{controller_port}"),
        &node1_props,
    );
    let mut node2_props = vec!["node.id=2".to_owned(), "process.roles=broker".into()];
    node2_props.extend(common(controller_port, &cluster_id));
    let node2_props: Vec<&str> = node2_props.iter().map(String::as_str).collect();
    let mut node2 = TestBroker::start_with(&node2_props);

    // Registered, caught up and unfenced: both nodes tell clients of both brokers.
    let within = Duration::from_secs(10);
    eventually(within, "node 1 lists both brokers", || {
        let ids = broker_ids(&metadata(node1.port));
        (ids == [1, 2], ids)
    });
    eventually(within, "node 2 lists both brokers", || {
        let ids = broker_ids(&metadata(node2.port));
        (ids == [1, 2], ids)
    });

    // A topic created on the controller reaches node 2 through the metadata log.
    assert_eq!(create_topic(node1.port, "orders", 4, 2), 0);
    eventually(within, "node 2 knows `orders` with 4 partitions on both brokers", || {
        let response = metadata(node2.port);
        let orders = response
            .topics
            .iter()
            .find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == "orders"));
        let replicas: Vec<Vec<i32>> = orders
            .map(|t| {
                t.partitions.iter().map(|p| p.replica_nodes.iter().map(|r| r.0).collect()).collect()
            })
            .unwrap_or_default();
        let ok = replicas.len() == 4 && replicas.iter().all(|r| r.len() == 2);
        (ok, replicas)
    });

    // Idempotent producers on node 2 get ids from a block the controller reserved for it
    // (AllocateProducerIds), never one of node 1's.
    let init = || {
        InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(60_000)
    };
    let mut on_node2 = -1;
    eventually(within, "node 2 hands out a producer id", || {
        let response = call(node2.port, 4, &init());
        on_node2 = response.producer_id.0;
        (response.error_code == 0, response.error_code)
    });
    let on_node1 = call(node1.port, 4, &init()).producer_id.0;
    assert!(on_node1 >= 0 && on_node2 >= 0, "{on_node1} {on_node2}");
    assert_ne!(on_node1 / 1000, on_node2 / 1000, "two nodes share a producer id block");

    // Node 2 writes no metadata itself: CreateTopics sent to it is forwarded to the
    // controller in an Envelope, as Kafka's brokers do, and answered as the controller answers.
    assert_eq!(create_topic(node2.port, "payments", 1, 1), 0);
    assert_eq!(
        create_topic(node2.port, "payments", 1, 1),
        ResponseError::TopicAlreadyExists.code()
    );
    let on_node1 = metadata(node1.port);
    assert!(
        on_node1.topics.iter().any(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == "payments")),
        "{on_node1:?}"
    );

    // A Metadata request naming an unknown topic auto-creates it through the controller, as
    // Kafka's AutoTopicCreationManager does: LEADER_NOT_AVAILABLE until it reaches node 2's
    // metadata, then led, with `default.replication.factor` (here 1) replicas.
    let wanted = || {
        let topic = kafka_protocol::messages::metadata_request::MetadataRequestTopic::default()
            .with_name(Some(TopicName(StrBytes::from_static_str("clicks"))));
        MetadataRequest::default()
            .with_topics(Some(vec![topic]))
            .with_allow_auto_topic_creation(true)
    };
    let first: MetadataResponse = call(node2.port, 12, &wanted());
    assert_eq!(first.topics[0].error_code, ResponseError::LeaderNotAvailable.code(), "{first:?}");
    eventually(within, "node 2 auto-created `clicks` through the controller", || {
        let response: MetadataResponse = call(node2.port, 12, &wanted());
        let topic = &response.topics[0];
        let led = topic.error_code == 0
            && !topic.partitions.is_empty()
            && topic.partitions.iter().all(|p| p.leader_id.0 >= 0 && p.replica_nodes.len() == 1);
        (led, (topic.error_code, topic.partitions.len()))
    });
    assert!(
        node2.log().contains("auto-created a topic through the controller"),
        "{}",
        node2.log_tail()
    );

    // Stopped without a word (SIGKILL): the controller fences it once its session expires.
    node2.kill9();
    eventually(within, "node 1 stops listing the killed broker", || {
        let ids = broker_ids(&metadata(node1.port));
        (ids == [1], ids)
    });

    // Back: it registers again and is listed again.
    node2.start_again();
    eventually(within, "node 1 lists node 2 again", || {
        let ids = broker_ids(&metadata(node1.port));
        (ids == [1, 2], ids)
    });
    assert!(node2.log().contains("registered with the controller"), "{}", node2.log_tail());
}
