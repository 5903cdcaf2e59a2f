//! Preferred-leader elections on a three-node cluster of real processes (node 1 combined
//! broker and controller, nodes 2 and 3 brokers): the preferred leader of a partition is
//! `kill -9`ed, leadership moves to the next in-sync replica, the node comes back and rejoins
//! the ISR; then ElectLeaders PREFERRED (sent to a broker-only node, which forwards it to the
//! controller) moves leadership back — or, with `auto.leader.rebalance.enable` and a short
//! `leader.imbalance.check.interval.seconds`, the controller does it by itself.

// Drives real binaries from outside, on the OS's clock and threads: broker/clippy.toml's
// determinism rule is for the broker's own code, not for its tests.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_topics_request::{CreatableReplicaAssignment, CreatableTopic};
use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
use kafka_protocol::messages::{
    BrokerId, CreateTopicsRequest, ElectLeadersRequest, ElectLeadersResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use support::{call, eventually, TestBroker};

const TOPIC: &str = "orders";

/// Partition → replicas, preferred leader first: node 2 is partition 0's preferred leader.
const ASSIGNMENT: [[i32; 3]; 3] = [[2, 1, 3], [3, 2, 1], [1, 2, 3]];

/// One cluster at a time: three debug brokers per test on CI's two cores, and a broker whose
/// heartbeats starve past the 1.5 s session is fenced, which moves leaderships these tests
/// choose on purpose.
static ONE_CLUSTER_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The three-node test cluster (`support::cluster`), each node with `extra` properties
/// (`name=value`), and `orders` created with [`ASSIGNMENT`]; the guard keeps the other tests
/// of this file from starting theirs meanwhile.
fn start_cluster(
    extra: &[&str],
) -> (std::sync::MutexGuard<'static, ()>, BTreeMap<i32, TestBroker>) {
    // A test that failed holding it poisons it; the next one still runs.
    let guard = ONE_CLUSTER_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let overrides: Vec<(&str, &str)> =
        extra.iter().map(|p| p.split_once('=').expect("name=value")).collect();
    let nodes = support::cluster::Cluster::start_with(&overrides).nodes;
    let assignments = ASSIGNMENT
        .iter()
        .enumerate()
        .map(|(index, replicas)| {
            CreatableReplicaAssignment::default()
                .with_partition_index(index as i32)
                .with_broker_ids(replicas.iter().copied().map(BrokerId).collect())
        })
        .collect();
    let topic = CreatableTopic::default()
        .with_name(TopicName(StrBytes::from_static_str(TOPIC)))
        .with_num_partitions(-1)
        .with_replication_factor(-1)
        .with_assignments(assignments);
    let request = CreateTopicsRequest::default().with_topics(vec![topic]).with_timeout_ms(10_000);
    let response = call(nodes[&1].port, 7, &request);
    assert_eq!(response.topics[0].error_code, 0, "{:?}", response.topics[0].error_message);
    (guard, nodes)
}

/// Per partition of `orders` as `port`'s node tells it: (leader, sorted ISR).
fn partitions(port: u16) -> BTreeMap<i32, (i32, Vec<i32>)> {
    support::cluster::partitions_on(port, TOPIC)
}

fn elect(port: u16, election_type: i8, partitions: Option<&[i32]>) -> ElectLeadersResponse {
    let topic_partitions = partitions.map(|p| {
        vec![TopicPartitions::default()
            .with_topic(TopicName(StrBytes::from_static_str(TOPIC)))
            .with_partitions(p.to_vec())]
    });
    let request = ElectLeadersRequest::default()
        .with_election_type(election_type)
        .with_topic_partitions(topic_partitions)
        .with_timeout_ms(10_000);
    call(port, 2, &request)
}

/// (partition, error code) of `orders`' results.
fn outcomes(response: &ElectLeadersResponse) -> Vec<(i32, i16)> {
    assert_eq!(response.error_code, 0, "{response:?}");
    response
        .replica_election_results
        .iter()
        .filter(|t| t.topic.0.as_str() == TOPIC)
        .flat_map(|t| t.partition_result.iter().map(|p| (p.partition_id, p.error_code)))
        .collect()
}

const PREFERRED: i8 = 0;
const UNCLEAN: i8 = 1;

/// Everything in sync, each partition led by its preferred replica.
fn wait_balanced(port: u16) {
    eventually(Duration::from_secs(20), "every partition led by its preferred replica", || {
        let seen = partitions(port);
        let ok = seen.len() == 3
            && seen.iter().all(|(p, (leader, isr))| {
                *leader == ASSIGNMENT[*p as usize][0] && isr == &vec![1, 2, 3]
            });
        (ok, seen)
    });
}

/// Kills node 2, waits until the controller fenced it (partition 0 led by 1, the next in-sync
/// replica), starts it again and waits until it is back in partition 0's ISR.
fn bounce_node_2(nodes: &mut BTreeMap<i32, TestBroker>, while_down: impl FnOnce(u16)) {
    let controller = nodes[&1].port;
    nodes.get_mut(&2).unwrap().kill9();
    eventually(Duration::from_secs(20), "partition 0 led by node 1 without node 2", || {
        let seen = partitions(controller);
        (seen.get(&0) == Some(&(1, vec![1, 3])), seen)
    });
    while_down(controller);
    nodes.get_mut(&2).unwrap().start_again();
    eventually(Duration::from_secs(30), "node 2 back in partition 0's ISR", || {
        let seen = partitions(controller);
        (seen.get(&0).is_some_and(|(_, isr)| isr == &vec![1, 2, 3]), seen)
    });
}

#[test]
fn elect_leaders_moves_leadership_back_to_the_preferred_replica() {
    let (_guard, mut nodes) = start_cluster(&["auto.leader.rebalance.enable=false"]);
    let controller = nodes[&1].port;
    let broker_only = nodes[&3].port;
    wait_balanced(controller);
    // Every leader is preferred: nothing to elect, and all partitions name none of `orders`.
    let not_needed = ResponseError::ElectionNotNeeded.code();
    let response = elect(broker_only, PREFERRED, Some(&[0, 1, 2]));
    assert_eq!(outcomes(&response), vec![(0, not_needed), (1, not_needed), (2, not_needed)]);
    assert_eq!(outcomes(&elect(broker_only, PREFERRED, None)), vec![]);

    bounce_node_2(&mut nodes, |controller| {
        // Node 2 fenced: it cannot lead; partition 0 has a leader, so no unclean election.
        let response = elect(controller, PREFERRED, Some(&[0]));
        let unavailable = ResponseError::PreferredLeaderNotAvailable.code();
        assert_eq!(outcomes(&response), vec![(0, unavailable)]);
        assert_eq!(outcomes(&elect(controller, UNCLEAN, Some(&[0]))), vec![(0, not_needed)]);
    });
    // Without the rebalance, node 1 keeps leading partition 0 although node 2 is in sync.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(partitions(controller)[&0].0, 1, "{:?}", partitions(controller));

    // Sent to a broker-only node: forwarded to the controller and answered as it answers.
    let response = elect(broker_only, PREFERRED, Some(&[0, 1, 2, 7]));
    let unknown = ResponseError::UnknownTopicOrPartition.code();
    assert_eq!(outcomes(&response), vec![(0, 0), (1, not_needed), (2, not_needed), (7, unknown)]);
    for node in [1, 2, 3] {
        let port = nodes[&node].port;
        eventually(Duration::from_secs(10), "node 2 leads partition 0 again", || {
            let seen = partitions(port);
            (seen.get(&0) == Some(&(2, vec![1, 2, 3])), seen)
        });
    }
    wait_balanced(controller);
}

#[test]
fn the_controller_rebalances_leaders_by_itself() {
    let (_guard, mut nodes) = start_cluster(&[
        "auto.leader.rebalance.enable=true",
        "leader.imbalance.check.interval.seconds=1",
    ]);
    let controller = nodes[&1].port;
    wait_balanced(controller);
    bounce_node_2(&mut nodes, |_| ());
    // No ElectLeaders: the controller moves partition 0 back once node 2 is in sync.
    wait_balanced(controller);
    // The controller logs the rebalance after committing it: its log line may trail the
    // metadata clients already see.
    eventually(Duration::from_secs(10), "the controller logged the rebalance", || {
        let log = nodes[&1].log();
        (log.contains("moved partition leaderships back to their preferred replicas"), ())
    });
}

/// A partition whose only in-sync replica died stays offline while its out-of-sync replica is
/// alive — until `unclean.leader.election.enable` is switched on for its topic: then the
/// controller's periodic check (`unclean.leader.election.interval.ms`, 500 ms here; Kafka's
/// default is 5 min) elects that replica, alone in the ISR, as Kafka's KRaft controller does.
#[test]
fn a_topic_switched_to_unclean_election_gets_its_offline_partition_back() {
    use kafka_protocol::messages::incremental_alter_configs_request::{
        AlterConfigsResource, AlterableConfig,
    };
    use kafka_protocol::messages::IncrementalAlterConfigsRequest;

    // A 3 s session: a loaded machine must not fence a live node and move what this test
    // arranges.
    let (_guard, mut nodes) = start_cluster(&[
        "unclean.leader.election.interval.ms=500",
        "broker.session.timeout.ms=3000",
        "broker.heartbeat.interval.ms=500",
    ]);
    let controller = nodes[&1].port;
    let assignment =
        CreatableReplicaAssignment::default().with_broker_ids(vec![BrokerId(2), BrokerId(3)]);
    let topic = CreatableTopic::default()
        .with_name(TopicName(StrBytes::from_static_str("ledger")))
        .with_num_partitions(-1)
        .with_replication_factor(-1)
        .with_assignments(vec![assignment]);
    let request = CreateTopicsRequest::default().with_topics(vec![topic]).with_timeout_ms(10_000);
    assert_eq!(call(controller, 7, &request).topics[0].error_code, 0);
    let ledger = || support::cluster::partitions_on(controller, "ledger");
    let within = Duration::from_secs(20);
    let mut leader = -1;
    eventually(within, "ledger-0 led, both replicas in sync", || {
        let seen = ledger();
        leader = seen.get(&0).map_or(-1, |(leader, _)| *leader);
        let ok = seen.get(&0).is_some_and(|(l, isr)| *l > 0 && isr == &vec![2, 3]);
        (ok, seen)
    });
    let follower = if leader == 2 { 3 } else { 2 };
    nodes.get_mut(&follower).unwrap().kill9();
    eventually(within, "the follower out of the ISR", || {
        (ledger().get(&0) == Some(&(leader, vec![leader])), ledger())
    });
    nodes.get_mut(&leader).unwrap().kill9();
    eventually(within, "ledger-0 offline", || {
        (ledger().get(&0) == Some(&(-1, vec![leader])), ledger())
    });
    nodes.get_mut(&follower).unwrap().start_again();
    eventually(within, "the out-of-sync replica unfenced", || {
        let request = kafka_protocol::messages::MetadataRequest::default().with_topics(None);
        let metadata: kafka_protocol::messages::MetadataResponse = call(controller, 12, &request);
        let ids: Vec<i32> = metadata.brokers.iter().map(|b| b.node_id.0).collect();
        (ids.contains(&follower), ids)
    });
    // Off (the default): several checks pass, the out-of-sync replica does not lead.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        ledger().get(&0),
        Some(&(-1, vec![leader])),
        "elected while unclean election is off"
    );

    let on = AlterableConfig::default()
        .with_name(StrBytes::from_static_str("unclean.leader.election.enable"))
        .with_config_operation(0)
        .with_value(Some(StrBytes::from_static_str("true")));
    let resource = AlterConfigsResource::default()
        .with_resource_type(2)
        .with_resource_name(StrBytes::from_static_str("ledger"))
        .with_configs(vec![on]);
    let response = call(
        controller,
        1,
        &IncrementalAlterConfigsRequest::default().with_resources(vec![resource]),
    );
    assert_eq!(response.responses[0].error_code, 0, "{:?}", response.responses[0].error_message);
    eventually(within, "the out-of-sync replica leads ledger-0 alone", || {
        (ledger().get(&0) == Some(&(follower, vec![follower])), ledger())
    });
    assert!(nodes[&1].log().contains("unclean leader election"), "{}", nodes[&1].log_tail());
}
