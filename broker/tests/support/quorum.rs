//! Three dedicated controllers (`process.roles=controller`, nodes 1-3) forming the metadata
//! quorum, and broker-only nodes from 4 up, as Kafka's multi-node examples lay them out.
//! Shared by tests/controller_quorum.rs and the controller_quorum bench.

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
use kafka_protocol::messages::{CreateTopicsRequest, DescribeQuorumRequest, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::{call, eventually, free_port, TestBroker};

/// What the leading controller says of the quorum: (leader, epoch, high watermark, each
/// voter's log end offset).
pub type Led = (i32, i32, i64, BTreeMap<i32, i64>);

/// The quorum as the controller on `port` describes it; `None` unless it leads.
pub fn describe_quorum(port: u16) -> Option<Led> {
    let request = DescribeQuorumRequest::default().with_topics(vec![TopicData::default()
        .with_topic_name(TopicName(StrBytes::from_static_str("__cluster_metadata")))
        .with_partitions(vec![PartitionData::default().with_partition_index(0)])]);
    let response = call(port, 1, &request);
    let p = response.topics.first()?.partitions.first()?;
    if response.error_code != 0 || p.error_code != 0 {
        return None;
    }
    let voters = p.current_voters.iter().map(|v| (v.replica_id.0, v.log_end_offset)).collect();
    Some((p.leader_id.0, p.leader_epoch, p.high_watermark, voters))
}

/// CreateTopics of one RF=1 partition on the node at `port`: the topic's error code.
pub fn create_topic(port: u16, name: &str) -> i16 {
    let topic = CreatableTopic::default()
        .with_name(TopicName(StrBytes::from_string(name.into())))
        .with_num_partitions(1)
        .with_replication_factor(1);
    let request = CreateTopicsRequest::default().with_topics(vec![topic]).with_timeout_ms(10_000);
    call(port, 7, &request).topics[0].error_code
}

/// The controllers and the brokers, by node id.
pub struct Quorum {
    pub controllers: BTreeMap<i32, TestBroker>,
    pub brokers: BTreeMap<i32, TestBroker>,
}

impl Quorum {
    /// Three controllers and `brokers` brokers (nodes 4…), sharing a cluster id; `overrides`
    /// go to every node.
    pub fn start(brokers: i32, overrides: &[&str]) -> Quorum {
        let ports: BTreeMap<i32, u16> = (1..=3).map(|id| (id, free_port())).collect();
        let voters: Vec<String> =
            ports.iter().map(|(id, port)| format!("{id}@127.0.0.1:{port}")).collect();
        let cluster_id = kafka_lab_broker::kafka_uuid::encode_bytes(&[9; 16]);
        let mut common = vec![
            format!("controller.quorum.voters={}", voters.join(",")),
            "controller.listener.names=CONTROLLER".to_owned(),
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT".into(),
            format!("cluster.id={cluster_id}"),
            "broker.heartbeat.interval.ms=200".into(),
            "broker.session.timeout.ms=3000".into(),
        ];
        common.extend(overrides.iter().map(|o| o.to_string()));
        let node = |id: i32, roles: &str| {
            let mut props = vec![format!("node.id={id}"), format!("process.roles={roles}")];
            props.extend(common.iter().cloned());
            props
        };
        let mut controllers = BTreeMap::new();
        for (id, port) in &ports {
            let props = node(*id, "controller");
            let props: Vec<&str> = props.iter().map(String::as_str).collect();
            controllers.insert(*id, TestBroker::start_controller(*port, &props));
        }
        let mut started = BTreeMap::new();
        for id in 4..4 + brokers {
            let props = node(id, "broker");
            let props: Vec<&str> = props.iter().map(String::as_str).collect();
            started.insert(id, TestBroker::start_with(&props));
        }
        Quorum { controllers, brokers: started }
    }

    /// The one controller of `running` that leads in the latest epoch, and what it says;
    /// panics on two leaders in one epoch.
    pub fn leader(&self, running: &[i32]) -> Option<Led> {
        let led: Vec<Led> =
            running.iter().filter_map(|id| describe_quorum(self.controllers[id].port)).collect();
        let epochs: Vec<i32> = led.iter().map(|l| l.1).collect();
        let mut unique = epochs.clone();
        unique.dedup();
        assert_eq!(unique.len(), epochs.len(), "two leaders in one epoch: {led:?}");
        led.into_iter().max_by_key(|l| l.1)
    }

    /// Waits for a leader of `running` with every voter of `caught_up` at its high watermark.
    pub fn wait_for_caught_up(&self, running: &[i32], caught_up: &[i32], within: Duration) -> Led {
        let mut seen = None;
        eventually(within, "a leader with its voters caught up", || {
            seen = self.leader(running);
            let ok = seen.as_ref().is_some_and(|(_, _, hw, voters)| {
                *hw > 0 && caught_up.iter().all(|id| voters.get(id) >= Some(hw))
            });
            (ok, seen.clone())
        });
        seen.expect("checked")
    }
}
