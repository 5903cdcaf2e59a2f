//! Faults of a node, not of the data path, in a three-node cluster of real processes: a
//! broker whose log dir disappears under it is fenced and its leaderships move (it does not
//! go on serving from files nobody can see); a second process configured with a node.id
//! already in use is refused by the controller, says why, and does not join; a broker whose
//! `controller.quorum.voters` names no running controller says which address it cannot reach
//! and answers no client until it has registered.

// Drives real binaries from outside, on the OS's clock and threads: broker/clippy.toml's
// determinism rule is for the broker's own code, not for its tests.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;

use std::time::Duration;

use kafka_protocol::error::ResponseError;
use support::cluster::{produce_batch, Cluster, CONTROLLER};
use support::eventually;

const TOPIC: &str = "orders";
const PARTITIONS: i32 = 3;

#[test]
fn a_broker_whose_log_dir_is_removed_is_fenced_and_its_partitions_move() {
    let cluster = Cluster::start();
    cluster.create_topic(TOPIC, PARTITIONS, 2);
    // A broker-only node leading a partition (striped placement spreads the leaders).
    let (partition, victim) = cluster
        .partitions(TOPIC)
        .into_iter()
        .map(|(p, (leader, _))| (p, leader))
        .find(|(_, leader)| *leader != CONTROLLER)
        .expect("a partition led by node 2 or 3");
    let value = |i: usize| vec![format!("before-{i}")];
    // The victim applies the new topic's metadata a moment after the controller commits it
    // (UNKNOWN_TOPIC_OR_PARTITION meanwhile, which clients retry).
    eventually(Duration::from_secs(10), "the victim takes a write as leader", || {
        let code = produce_batch(cluster.port(victim), TOPIC, partition, -1, 5000, &value(0)).0;
        (code == 0, code)
    });

    std::fs::remove_dir_all(cluster.nodes[&victim].data_dir()).unwrap();

    // Fenced within a heartbeat or two: the controller lists it no more, and no partition
    // keeps it as leader or in its ISR.
    let within = Duration::from_secs(10);
    eventually(within, "the victim fenced and out of every ISR", || {
        let brokers: Vec<i32> = cluster.metadata().brokers.iter().map(|b| b.node_id.0).collect();
        let partitions = cluster.partitions(TOPIC);
        let gone = !brokers.contains(&victim)
            && partitions.values().all(|(leader, isr)| *leader > 0 && !isr.contains(&victim));
        (gone, (brokers, partitions))
    });
    let log = cluster.nodes[&victim].log();
    assert!(log.contains("the log dir failed"), "{}", cluster.nodes[&victim].log_tail());

    // The victim refuses its partitions with KAFKA_STORAGE_ERROR (clients refresh metadata
    // and find the new leader); the new leader takes acks=all writes with the ISR left.
    let (code, _) = produce_batch(cluster.port(victim), TOPIC, partition, -1, 5000, &value(1));
    assert_eq!(code, ResponseError::KafkaStorageError.code());
    let (leader, isr) = cluster.partitions(TOPIC)[&partition].clone();
    assert_eq!(isr.len(), 2, "{isr:?}");
    // Until the new leader has applied its leadership it answers NOT_LEADER_OR_FOLLOWER, and
    // appends nothing: a client retries.
    let mut answer = (-1, -1);
    eventually(within, "the new leader takes the write", || {
        answer = produce_batch(cluster.port(leader), TOPIC, partition, -1, 5000, &value(2));
        (answer.0 != ResponseError::NotLeaderOrFollower.code(), answer)
    });
    assert_eq!(answer, (0, 1), "the record before the failure is kept at offset 0");

    // It stays fenced: its heartbeats keep asking for it until it is restarted.
    std::thread::sleep(Duration::from_secs(2));
    let brokers: Vec<i32> = cluster.metadata().brokers.iter().map(|b| b.node_id.0).collect();
    assert!(!brokers.contains(&victim), "{brokers:?}");
}

#[test]
fn a_second_process_with_a_node_id_in_use_is_refused_and_does_not_join() {
    let cluster = Cluster::start();
    let port_of_2 = cluster.port(2);
    let duplicate = cluster.start_extra_broker(2);
    eventually(Duration::from_secs(10), "the duplicate told why it cannot register", || {
        let log = duplicate.log();
        let told = log.contains("DUPLICATE_BROKER_REGISTRATION")
            && log.contains("every node of a cluster needs its own node.id");
        (told, duplicate.log_tail())
    });
    // Node 2 is still the first process: the controller lists its endpoint, not the other's.
    let metadata = cluster.metadata();
    let endpoints: Vec<(i32, i32)> =
        metadata.brokers.iter().map(|b| (b.node_id.0, b.port)).collect();
    assert!(endpoints.contains(&(2, i32::from(port_of_2))), "{endpoints:?}");
    assert!(!endpoints.contains(&(2, i32::from(duplicate.port))), "{endpoints:?}");
    assert_eq!(endpoints.len(), 3, "{endpoints:?}");
}

#[test]
fn a_broker_whose_controller_cannot_be_reached_says_so_and_serves_no_client() {
    // Nothing listens on the voter's port: a wrong `controller.quorum.voters`.
    let nowhere = support::free_port();
    let cluster_id = kafka_lab_broker::kafka_uuid::encode_bytes(&[3; 16]);
    let props = [
        "node.id=2".to_owned(),
        "process.roles=broker".into(),
        format!("controller.quorum.voters=1@127.0.0.1:{nowhere}"),
        "controller.listener.names=CONTROLLER".into(),
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT".into(),
        format!("cluster.id={cluster_id}"),
        "broker.heartbeat.interval.ms=200".into(),
    ];
    let props: Vec<&str> = props.iter().map(String::as_str).collect();
    let broker = support::TestBroker::start_with(&props);
    let address = format!("127.0.0.1:{nowhere}");
    eventually(Duration::from_secs(10), "the broker names the controller it cannot reach", || {
        let log = broker.log();
        let told = log.contains("waiting to register with the controller")
            && log.contains(&format!("cannot connect to {address}"));
        (told, broker.log_tail())
    });
    // It has not registered, so it does not serve clients: a request gets no answer.
    use std::io::{Read, Write};
    let mut socket = std::net::TcpStream::connect(("127.0.0.1", broker.port)).unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    // An ApiVersions v0 request (size, key 18, version 0, correlation id 1, no client id).
    socket.write_all(&[0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 1, 0xff, 0xff]).unwrap();
    let mut answer = [0u8; 4];
    assert!(socket.read_exact(&mut answer).is_err(), "an unregistered broker answered a client");
}
