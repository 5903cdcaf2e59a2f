//! Three real broker processes in one KRaft-style cluster, as Kafka 4.1 runs one: node 1 is
//! combined (a broker and the metadata quorum's one voter, on its own CONTROLLER listener),
//! nodes 2 and 3 are brokers only. Shared by tests/failover.rs and the replication bench.

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    BrokerId, CreateTopicsRequest, ListOffsetsRequest, MetadataRequest, MetadataResponse,
    ProduceRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::{call, eventually, free_port, TestBroker};

/// The node that is broker and controller; it never goes down in these tests (a single-voter
/// quorum has no other controller to fail over to).
pub const CONTROLLER: i32 = 1;

/// One node's own settings beside the cluster's shared properties.
#[derive(Debug, Default, Clone)]
pub struct NodeSettings {
    /// Listeners besides its PLAINTEXT one (and node 1's CONTROLLER), e.g.
    /// `INTERNAL://127.0.0.1:40001`.
    pub listeners: Option<String>,
    /// `name=value` properties of this node only.
    pub overrides: Vec<String>,
}

/// Per partition: (leader, ISR sorted).
pub type Partitions = BTreeMap<i32, (i32, Vec<i32>)>;

/// Three nodes sharing a cluster id and node 1's controller.
pub struct Cluster {
    pub nodes: BTreeMap<i32, TestBroker>,
    /// The properties every node shares.
    common: Vec<String>,
}

impl Cluster {
    /// The properties every node shares, before `overrides`: heartbeats every 250 ms, a
    /// 1.5 s broker session, replicas out of the ISR after 3 s without catching up.
    fn common(controller_port: u16, overrides: &[(&str, &str)]) -> Vec<String> {
        let cluster_id = kafka_lab_broker::kafka_uuid::encode_bytes(&[9; 16]);
        let voters = format!("1@127.0.0.1:{controller_port}");
        let mut props: BTreeMap<&str, String> = [
            ("controller.quorum.voters", voters),
            ("controller.listener.names", "CONTROLLER".into()),
            ("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT".into()),
            ("cluster.id", cluster_id),
            ("broker.heartbeat.interval.ms", "250".into()),
            ("broker.session.timeout.ms", "1500".into()),
            ("replica.lag.time.max.ms", "3000".into()),
            ("replica.fetch.wait.max.ms", "100".into()),
            ("replica.fetch.backoff.ms", "200".into()),
        ]
        .into_iter()
        .collect();
        for (name, value) in overrides {
            props.insert(name, value.to_string());
        }
        props.into_iter().map(|(name, value)| format!("{name}={value}")).collect()
    }

    /// Starts the three nodes with the default properties.
    pub fn start() -> Cluster {
        Cluster::start_with(&[])
    }

    /// Starts the three nodes, each property of `overrides` replacing or joining the shared
    /// ones (e.g. `("broker.session.timeout.ms", "9000")`); waits until all three are
    /// registered.
    pub fn start_with(overrides: &[(&str, &str)]) -> Cluster {
        Cluster::start_with_nodes(overrides, &|_| NodeSettings::default())
    }

    /// [`Cluster::start_with`] with each node's own extra listeners and properties (after the
    /// shared ones, so they win), e.g. the secured listeners of tests/interbroker_security.rs.
    pub fn start_with_nodes(
        overrides: &[(&str, &str)],
        node: &dyn Fn(i32) -> NodeSettings,
    ) -> Cluster {
        let controller_port = free_port();
        let common = Cluster::common(controller_port, overrides);
        let props = |id: i32, roles: &str| {
            let mut all = node_properties(&common, id, roles);
            all.extend(node(id).overrides);
            all
        };
        let mut nodes = BTreeMap::new();
        let one = props(CONTROLLER, "broker,controller");
        let one: Vec<&str> = one.iter().map(String::as_str).collect();
        let mut controller = format!("CONTROLLER://127.0.0.1:{controller_port}");
        if let Some(extra) = node(CONTROLLER).listeners {
            controller = format!("{controller},{extra}");
        }
        nodes.insert(CONTROLLER, TestBroker::start_with_listeners(&controller, &one));
        for id in [2, 3] {
            let broker = props(id, "broker");
            let broker: Vec<&str> = broker.iter().map(String::as_str).collect();
            let started = match node(id).listeners {
                Some(extra) => TestBroker::start_with_listeners(&extra, &broker),
                None => TestBroker::start_with(&broker),
            };
            nodes.insert(id, started);
        }
        let cluster = Cluster { nodes, common };
        eventually(Duration::from_secs(20), "three brokers registered", || {
            let ids: Vec<i32> = cluster.metadata().brokers.iter().map(|b| b.node_id.0).collect();
            (ids == [1, 2, 3], ids)
        });
        cluster
    }

    /// One more broker-only process `id` with the cluster's properties (its own data dir and
    /// port), e.g. a second process configured with a node.id already taken.
    pub fn start_extra_broker(&self, id: i32) -> TestBroker {
        let props = node_properties(&self.common, id, "broker");
        let props: Vec<&str> = props.iter().map(String::as_str).collect();
        TestBroker::start_with(&props)
    }

    /// `bootstrap.servers` naming every node.
    pub fn bootstrap(&self) -> String {
        self.nodes.values().map(TestBroker::bootstrap).collect::<Vec<_>>().join(",")
    }

    /// The port of node `id`'s PLAINTEXT listener.
    pub fn port(&self, id: i32) -> u16 {
        self.nodes[&id].port
    }

    /// The controller's view.
    pub fn metadata(&self) -> MetadataResponse {
        call(self.port(CONTROLLER), 12, &MetadataRequest::default().with_topics(None))
    }

    /// Per partition of `topic`, the controller's (leader, ISR); empty while it does not exist.
    pub fn partitions(&self, topic: &str) -> Partitions {
        partitions_on(self.port(CONTROLLER), topic)
    }

    /// Creates `topic` with replication factor 3 and `min.insync.replicas`, then waits until
    /// each of its partitions has a leader and the full ISR.
    pub fn create_topic(&self, topic: &str, partitions: i32, min_insync_replicas: i32) {
        let config = CreatableTopicConfig::default()
            .with_name(StrBytes::from_static_str("min.insync.replicas"))
            .with_value(Some(StrBytes::from_string(min_insync_replicas.to_string())));
        let creatable = CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_owned())))
            .with_num_partitions(partitions)
            .with_replication_factor(3)
            .with_configs(vec![config]);
        let request =
            CreateTopicsRequest::default().with_topics(vec![creatable]).with_timeout_ms(10_000);
        let response = call(self.port(CONTROLLER), 7, &request);
        assert_eq!(response.topics[0].error_code, 0, "{:?}", response.topics[0].error_message);
        self.wait_for_full_isr(topic, partitions, Duration::from_secs(20));
    }

    /// Waits until every partition of `topic` has a leader and all three nodes in its ISR.
    pub fn wait_for_full_isr(&self, topic: &str, partitions: i32, within: Duration) {
        eventually(within, &format!("every partition of {topic} led with the full ISR"), || {
            let p = self.partitions(topic);
            (full_isr(&p, partitions), p)
        });
    }

    /// `kill -9` node `id`.
    pub fn kill9(&mut self, id: i32) {
        self.nodes.get_mut(&id).unwrap().kill9();
    }

    /// Starts the killed node `id` again on its data.
    pub fn start_again(&mut self, id: i32) {
        self.nodes.get_mut(&id).unwrap().start_again();
    }

    /// SIGSTOP node `id`: it neither fetches, heartbeats nor answers until [`Cluster::resume`].
    pub fn pause(&self, id: i32) {
        self.nodes[&id].signal("STOP");
    }

    /// SIGCONT node `id`.
    pub fn resume(&self, id: i32) {
        self.nodes[&id].signal("CONT");
    }
}

/// Per partition of `topic`, (leader, sorted ISR) as the node at `port` tells it; empty while
/// it knows no such topic.
pub fn partitions_on(port: u16, topic: &str) -> Partitions {
    let response: MetadataResponse = call(port, 12, &MetadataRequest::default().with_topics(None));
    let Some(topic) =
        response.topics.iter().find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == topic))
    else {
        return BTreeMap::new();
    };
    topic
        .partitions
        .iter()
        .map(|p| {
            let mut isr: Vec<i32> = p.isr_nodes.iter().map(|b| b.0).collect();
            isr.sort();
            (p.partition_index, (p.leader_id.0, isr))
        })
        .collect()
}

/// Node `id`'s properties: its id and `process.roles`, then the cluster's shared ones.
fn node_properties(common: &[String], id: i32, roles: &str) -> Vec<String> {
    let mut all = vec![format!("node.id={id}"), format!("process.roles={roles}")];
    all.extend(common.iter().cloned());
    all
}

/// Whether all `partitions` have a leader and the full ISR [1, 2, 3].
pub fn full_isr(p: &Partitions, partitions: i32) -> bool {
    p.len() == partitions as usize && p.values().all(|(l, isr)| *l > 0 && isr == &[1, 2, 3])
}

/// One Produce v9 of one batch holding `values` to `topic`-`partition` on the broker at
/// `port`, with `acks` and the request's `timeout_ms`: (error code, base offset).
pub fn produce_batch(
    port: u16,
    topic: &str,
    partition: i32,
    acks: i16,
    timeout_ms: i32,
    values: &[String],
) -> (i16, i64) {
    let entries: Vec<_> =
        values.iter().map(|v| (None, Some(bytes::Bytes::from(v.clone().into_bytes())))).collect();
    let batch = kafka_lab_broker::internal_records::encode_batch(&entries, 1);
    let request = ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(timeout_ms)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_owned())))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(batch.freeze()))])]);
    let response = call(port, 9, &request);
    let answer = &response.responses[0].partition_responses[0];
    (answer.error_code, answer.base_offset)
}

/// ListOffsets LATEST (v7) of `topic`-`partition` on the broker at `port`: (error code, the
/// high watermark).
pub fn high_watermark(port: u16, topic: &str, partition: i32) -> (i16, i64) {
    let request = ListOffsetsRequest::default().with_replica_id(BrokerId(-1)).with_topics(vec![
        ListOffsetsTopic::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_owned())))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(partition)
                .with_timestamp(-1)]),
    ]);
    let response = call(port, 7, &request);
    let answer = &response.topics[0].partitions[0];
    (answer.error_code, answer.offset)
}
