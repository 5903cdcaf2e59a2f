//! Faults of a node, not of the data path, in a three-node cluster of real processes: a
//! broker whose log dir disappears under it is fenced and its leaderships move (it does not
//! go on serving from files nobody can see); a second process configured with a node.id
//! already in use is refused by the controller, says why, and does not join.

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
    assert_eq!(produce_batch(cluster.port(victim), TOPIC, partition, -1, 5000, &value(0)).0, 0);

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
        let told = log.contains("DuplicateBrokerRegistration")
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
