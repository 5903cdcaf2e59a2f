//! Partition reassignment on a three-node cluster of real processes (node 1 combined broker and
//! controller, nodes 2 and 3 brokers), as Kafka does it: AlterPartitionReassignments (sent to a
//! broker-only node, forwarded) moves a partition from [1, 2] to [3, 2]; node 3 fetches the
//! partition from the leader, catches up, joins the ISR; the reassignment then completes (node
//! 1 leaves replicas and ISR, node 3 leads) and node 1 deletes its copy. Every record written
//! before is still there, on the new leader.

// Drives real binaries from outside, on the OS's clock and threads: broker/clippy.toml's
// determinism rule is for the broker's own code, not for its tests.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use kafka_protocol::messages::create_topics_request::{CreatableReplicaAssignment, CreatableTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, BrokerId, CreateTopicsRequest, ListOffsetsRequest,
    ListPartitionReassignmentsRequest, MetadataRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use support::{call, eventually, TestBroker};

const TOPIC: &str = "moving";
const RECORDS: i64 = 200;

/// The three-node test cluster of `support::cluster`.
fn start_cluster() -> BTreeMap<i32, TestBroker> {
    support::cluster::Cluster::start().nodes
}

/// Partition 0 of `moving` as node `port` tells it: (leader, replicas, sorted ISR).
fn partition(port: u16) -> Option<(i32, Vec<i32>, Vec<i32>)> {
    let response = call(port, 12, &MetadataRequest::default().with_topics(None));
    let topic =
        response.topics.iter().find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == TOPIC))?;
    let p = topic.partitions.iter().find(|p| p.partition_index == 0)?;
    let mut isr: Vec<i32> = p.isr_nodes.iter().map(|b| b.0).collect();
    isr.sort();
    Some((p.leader_id.0, p.replica_nodes.iter().map(|b| b.0).collect(), isr))
}

fn reassign(port: u16, partition: i32, replicas: Option<&[i32]>) -> (i16, i16) {
    let request = AlterPartitionReassignmentsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(vec![ReassignableTopic::default()
            .with_name(TopicName(StrBytes::from_static_str(TOPIC)))
            .with_partitions(vec![ReassignablePartition::default()
                .with_partition_index(partition)
                .with_replicas(replicas.map(|r| r.iter().copied().map(BrokerId).collect()))])]);
    let response = call(port, 0, &request);
    (response.error_code, response.responses[0].partitions[0].error_code)
}

/// The partitions ListPartitionReassignments reports, with their adding and removing replicas.
fn ongoing(port: u16) -> Vec<(String, i32, Vec<i32>, Vec<i32>)> {
    let response = call(port, 0, &ListPartitionReassignmentsRequest::default().with_topics(None));
    assert_eq!(response.error_code, 0);
    let ids = |list: &[BrokerId]| list.iter().map(|b| b.0).collect::<Vec<_>>();
    response
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| {
                let name = t.name.0.to_string();
                (name, p.partition_index, ids(&p.adding_replicas), ids(&p.removing_replicas))
            })
        })
        .collect()
}

fn log_end_offset(port: u16) -> i64 {
    let request = ListOffsetsRequest::default().with_replica_id(BrokerId(-1)).with_topics(vec![
        ListOffsetsTopic::default()
            .with_name(TopicName(StrBytes::from_static_str(TOPIC)))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(0)
                .with_timestamp(-1)]),
    ]);
    let response = call(port, 7, &request);
    let p = &response.topics[0].partitions[0];
    if p.error_code != 0 {
        return -(p.error_code as i64);
    }
    p.offset
}

#[test]
fn a_partition_moves_to_a_new_replica_which_catches_up_and_the_old_one_is_deleted() {
    let nodes = start_cluster();
    let controller = nodes[&1].port;
    let broker_only = nodes[&3].port;
    let assignment = CreatableReplicaAssignment::default()
        .with_partition_index(0)
        .with_broker_ids(vec![BrokerId(1), BrokerId(2)]);
    let topic = CreatableTopic::default()
        .with_name(TopicName(StrBytes::from_static_str(TOPIC)))
        .with_num_partitions(-1)
        .with_replication_factor(-1)
        .with_assignments(vec![assignment]);
    let request = CreateTopicsRequest::default().with_topics(vec![topic]).with_timeout_ms(10_000);
    assert_eq!(call(controller, 7, &request).topics[0].error_code, 0);
    eventually(Duration::from_secs(20), "[1, 2] in sync", || {
        let seen = partition(controller);
        (seen == Some((1, vec![1, 2], vec![1, 2])), seen)
    });

    let bootstrap = format!("127.0.0.1:{controller}");
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("acks", "all")
        .create()
        .expect("producer");
    for i in 0..RECORDS {
        let payload = format!("record-{i}");
        let record = BaseRecord::<(), _>::to(TOPIC).partition(0).payload(&payload);
        producer.send(record).expect("queued");
    }
    producer.flush(Duration::from_secs(30)).expect("every record acknowledged");
    assert_eq!(log_end_offset(controller), RECORDS);
    let node1_dir = nodes[&1].data_dir().join(format!("{TOPIC}-0"));
    assert!(node1_dir.exists(), "{}", node1_dir.display());

    // Kafka's refusals.
    let invalid = ResponseError::InvalidReplicaAssignment.code();
    assert_eq!(reassign(broker_only, 0, Some(&[3, 9])), (0, invalid));
    let unknown = ResponseError::UnknownTopicOrPartition.code();
    assert_eq!(reassign(broker_only, 4, Some(&[3, 2])), (0, unknown));
    let none = ResponseError::NoReassignmentInProgress.code();
    assert_eq!(reassign(broker_only, 0, None), (0, none));

    // [1, 2] → [3, 2], through a broker-only node (forwarded to the controller).
    assert_eq!(reassign(broker_only, 0, Some(&[3, 2])), (0, 0));
    eventually(Duration::from_secs(30), "the reassignment completes", || {
        let seen = (partition(controller), ongoing(broker_only));
        (seen == (Some((3, vec![3, 2], vec![2, 3])), vec![]), seen)
    });
    // Node 3 has every record and leads; node 1 deleted its copy.
    eventually(Duration::from_secs(10), "node 3 serves every record", || {
        let seen = log_end_offset(broker_only);
        (seen == RECORDS, seen)
    });
    eventually(Duration::from_secs(10), "node 1 deleted its copy", || {
        (!node1_dir.exists(), node1_dir.display().to_string())
    });
    for node in [2, 3] {
        let port = nodes[&node].port;
        eventually(Duration::from_secs(10), "every node knows the new assignment", || {
            let seen = partition(port);
            (seen == Some((3, vec![3, 2], vec![2, 3])), seen)
        });
    }
}
