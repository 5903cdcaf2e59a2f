//! Failover of a three-node cluster of real processes under a real idempotent acks=all
//! producer (librdkafka): node 1 is broker and the quorum's one controller, nodes 2 and 3
//! brokers. Each broker is `kill -9`ed in turn while it leads partitions of a topic with RF=3
//! and `min.insync.replicas=2`: leadership moves to in-sync replicas, the producer carries on
//! without a restart, the killed node comes back, truncates what it must, catches up and
//! rejoins every ISR; at the end every acknowledged record is read back exactly once, in
//! order per partition.

// Drives real binaries from outside, on the OS's clock and threads: broker/clippy.toml's
// determinism rule is for the broker's own code, not for its tests.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::{
    CreateTopicsRequest, FindCoordinatorRequest, MetadataRequest, MetadataResponse, ProduceRequest,
    TopicName,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use support::{call, eventually, free_port, TestBroker};

const TOPIC: &str = "orders";
const PARTITIONS: i32 = 6;

/// Three nodes sharing a cluster id and node 1's controller.
struct Cluster {
    nodes: BTreeMap<i32, TestBroker>,
}

impl Cluster {
    fn start() -> Cluster {
        let controller_port = free_port();
        let cluster_id = kafka_lab_broker::kafka_uuid::encode_bytes(&[9; 16]);
        let common = [
            format!("controller.quorum.voters=1@127.0.0.1:{controller_port}"),
            "controller.listener.names=CONTROLLER".into(),
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT".into(),
            format!("cluster.id={cluster_id}"),
            "broker.heartbeat.interval.ms=250".into(),
            "broker.session.timeout.ms=1500".into(),
            "replica.lag.time.max.ms=3000".into(),
            "replica.fetch.wait.max.ms=100".into(),
            "replica.fetch.backoff.ms=200".into(),
        ];
        let props = |id: i32, roles: &str| {
            let mut all = vec![format!("node.id={id}"), format!("process.roles={roles}")];
            all.extend(common.iter().cloned());
            all
        };
        let mut nodes = BTreeMap::new();
        let one = props(1, "broker,controller");
        let one: Vec<&str> = one.iter().map(String::as_str).collect();
        let controller = format!("CONTROLLER://127.0.0.1:{controller_port}");
        nodes.insert(1, TestBroker::start_with_listeners(&controller, &one));
        for id in [2, 3] {
            let broker = props(id, "broker");
            let broker: Vec<&str> = broker.iter().map(String::as_str).collect();
            nodes.insert(id, TestBroker::start_with(&broker));
        }
        Cluster { nodes }
    }

    /// [`Cluster::start`], once all three brokers are registered, with `orders` created.
    fn start_with_topic() -> Cluster {
        let cluster = Cluster::start();
        eventually(Duration::from_secs(20), "three brokers registered", || {
            let ids: Vec<i32> = cluster.metadata().brokers.iter().map(|b| b.node_id.0).collect();
            (ids == [1, 2, 3], ids)
        });
        create_topic(&cluster);
        cluster
    }

    fn bootstrap(&self) -> String {
        self.nodes.values().map(TestBroker::bootstrap).collect::<Vec<_>>().join(",")
    }

    /// The controller's view (node 1 never goes down here).
    fn metadata(&self) -> MetadataResponse {
        call(self.nodes[&1].port, 12, &MetadataRequest::default().with_topics(None))
    }

    /// Per partition of `orders`: (leader, ISR).
    fn partitions(&self) -> BTreeMap<i32, (i32, Vec<i32>)> {
        let response = self.metadata();
        let Some(topic) =
            response.topics.iter().find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == TOPIC))
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
}

fn create_topic(cluster: &Cluster) {
    let config = CreatableTopicConfig::default()
        .with_name(StrBytes::from_static_str("min.insync.replicas"))
        .with_value(Some(StrBytes::from_static_str("2")));
    let topic = CreatableTopic::default()
        .with_name(TopicName(StrBytes::from_static_str(TOPIC)))
        .with_num_partitions(PARTITIONS)
        .with_replication_factor(3)
        .with_configs(vec![config]);
    let request = CreateTopicsRequest::default().with_topics(vec![topic]).with_timeout_ms(10_000);
    let response = call(cluster.nodes[&1].port, 7, &request);
    assert_eq!(response.topics[0].error_code, 0, "{:?}", response.topics[0].error_message);
}

/// What the producer had acknowledged: (partition, offset) → value.
type Acked = Arc<Mutex<BTreeMap<(i32, i64), String>>>;

/// Produces `0, 1, 2, …` (keys spread over the partitions) until `stop`, recording every
/// acknowledged record; failures (timeouts while a leader moves) are counted, not acked.
async fn produce(bootstrap: String, acked: Acked, stop: Arc<AtomicBool>) -> usize {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("message.timeout.ms", "30000")
        .set("linger.ms", "5")
        .create()
        .expect("producer");
    let mut failed = 0;
    let mut next = 0u64;
    while !stop.load(Ordering::Relaxed) {
        // 20 in flight at a time: enough to keep every partition busy during a failover.
        let mut batch = tokio::task::JoinSet::new();
        for _ in 0..20 {
            let (producer, value) = (producer.clone(), next.to_string());
            next += 1;
            batch.spawn(async move {
                let record = FutureRecord::to(TOPIC).key(&value).payload(&value);
                let delivered = producer.send(record, Duration::from_secs(30)).await;
                (value, delivered.map_err(|(e, _)| e.to_string()))
            });
        }
        while let Some(done) = batch.join_next().await {
            match done.expect("send task") {
                (value, Ok(delivery)) => {
                    acked.lock().unwrap().insert((delivery.partition, delivery.offset), value);
                }
                (_, Err(_)) => failed += 1,
            }
        }
    }
    failed
}

/// Every record of `orders`, by (partition, offset), read from the leaders.
fn read_all(bootstrap: &str, ends: &BTreeMap<i32, i64>) -> BTreeMap<(i32, i64), String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "failover-reader")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        assignment.add_partition_offset(TOPIC, partition, Offset::Beginning).unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let mut read = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let done = |read: &BTreeMap<(i32, i64), String>| {
        ends.iter().all(|(p, end)| *end == 0 || read.contains_key(&(*p, end - 1)))
    };
    while !done(&read) {
        assert!(Instant::now() < deadline, "reading back timed out with {} records", read.len());
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            let value = String::from_utf8(m.payload().unwrap().to_vec()).unwrap();
            assert!(
                read.insert((m.partition(), m.offset()), value).is_none(),
                "offset {}-{} read twice",
                m.partition(),
                m.offset()
            );
        }
    }
    read
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_acknowledged_record_survives_each_broker_killed_in_turn() {
    let mut cluster = Cluster::start_with_topic();
    let all = Duration::from_secs(20);
    let full = |p: &BTreeMap<i32, (i32, Vec<i32>)>| {
        p.len() == PARTITIONS as usize && p.values().all(|(l, isr)| *l > 0 && isr == &[1, 2, 3])
    };
    eventually(all, "every partition led with the full ISR", || {
        let p = cluster.partitions();
        (full(&p), p)
    });

    let acked: Acked = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let producing = tokio::spawn(produce(cluster.bootstrap(), acked.clone(), stop.clone()));
    let count = || acked.lock().unwrap().len();
    let mut failovers = Vec::new();
    for victim in [2, 3] {
        let before = count();
        eventually(all, "the producer progresses", || (count() > before + 200, count()));
        let led: Vec<i32> = cluster
            .partitions()
            .iter()
            .filter(|(_, (leader, _))| *leader == victim)
            .map(|(p, _)| *p)
            .collect();
        assert!(!led.is_empty(), "node {victim} leads nothing: {:?}", cluster.partitions());
        let killed = Instant::now();
        cluster.nodes.get_mut(&victim).unwrap().kill9();
        eventually(all, "leadership moves off the killed broker", || {
            let p = cluster.partitions();
            (p.values().all(|(leader, isr)| *leader != victim && !isr.contains(&victim)), p)
        });
        let at_kill = count();
        eventually(all, "acks=all produce continues on the new leaders", || {
            (count() > at_kill + 200, count())
        });
        failovers.push(killed.elapsed());
        cluster.nodes.get_mut(&victim).unwrap().start_again();
        eventually(Duration::from_secs(40), "the restarted broker rejoins every ISR", || {
            let p = cluster.partitions();
            (full(&p), p)
        });
    }
    stop.store(true, Ordering::Relaxed);
    let failed = producing.await.unwrap();

    // Read back from offset 0 to each partition's end.
    let acked = acked.lock().unwrap().clone();
    let mut ends: BTreeMap<i32, i64> = (0..PARTITIONS).map(|p| (p, 0)).collect();
    for (partition, offset) in acked.keys() {
        let end = ends.get_mut(partition).unwrap();
        *end = (*end).max(offset + 1);
    }
    let read = read_all(&cluster.bootstrap(), &ends);
    let mut lost = Vec::new();
    for (position, value) in &acked {
        match read.get(position) {
            Some(v) if v == value => {}
            other => lost.push((position, value, other)),
        }
    }
    assert!(
        lost.is_empty(),
        "{} acknowledged records lost or changed: {:?}",
        lost.len(),
        &lost[..lost.len().min(10)]
    );
    let values: Vec<&String> = read.values().collect();
    let unique: BTreeSet<&String> = values.iter().copied().collect();
    assert_eq!(values.len(), unique.len(), "a record was written twice (idempotence)");
    eprintln!(
        "{} records acknowledged, {} failed sends, failover (kill to leadership moved and 200 more acks) {:?}",
        acked.len(),
        failed,
        failovers
    );

    // Two brokers down: the ISR is node 1 alone, below min.insync.replicas=2.
    for victim in [2, 3] {
        cluster.nodes.get_mut(&victim).unwrap().kill9();
    }
    eventually(all, "every ISR shrinks to node 1", || {
        let p = cluster.partitions();
        (p.values().all(|(leader, isr)| *leader == 1 && isr == &[1]), p)
    });
    let port = cluster.nodes[&1].port;
    assert_eq!(produce_once(port, -1), ResponseError::NotEnoughReplicas.code(), "acks=all");
    assert_eq!(produce_once(port, 1), 0, "acks=1 is still taken");
    // Back: they truncate, catch up and rejoin; nothing is under-replicated any more.
    for victim in [2, 3] {
        cluster.nodes.get_mut(&victim).unwrap().start_again();
    }
    eventually(Duration::from_secs(40), "both rejoin every ISR", || {
        let p = cluster.partitions();
        (full(&p), p)
    });
    assert_eq!(produce_once(port, -1), 0, "acks=all once the ISR is back");
}

/// One Produce v9 of one record to `orders`-0 with `acks`: its error code.
fn produce_once(port: u16, acks: i16) -> i16 {
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    let batch = kafka_lab_broker::internal_records::encode_batch(
        &[(None, Some(bytes::Bytes::from_static(b"probe")))],
        1,
    );
    let request = ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_static_str(TOPIC)))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(batch.freeze()))])]);
    call(port, 9, &request).responses[0].partition_responses[0].error_code
}

/// The broker that coordinates `group` (FindCoordinator on node 1).
fn coordinator_of(cluster: &Cluster, group: &str) -> i32 {
    let request = FindCoordinatorRequest::default()
        .with_key(StrBytes::from_string(group.to_owned()))
        .with_key_type(0);
    let response = call(cluster.nodes[&1].port, 3, &request);
    assert_eq!(response.error_code, 0, "{:?}", response.error_message);
    response.node_id.0
}

/// `__consumer_offsets` is replicated (offsets.topic.replication.factor=3): a group whose
/// coordinator's broker is killed finds the new coordinator — the new leader of its offsets
/// partition, which loaded the group — and its committed offsets are all there.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_groups_committed_offsets_survive_its_coordinators_death() {
    let mut cluster = Cluster::start_with_topic();
    let all = Duration::from_secs(20);
    // A group coordinated by a broker that may die (not node 1, the controller).
    let mut group = String::new();
    eventually(all, "__consumer_offsets exists with three replicas", || {
        let response = cluster.metadata();
        let offsets = response
            .topics
            .iter()
            .find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == "__consumer_offsets"));
        let replicas = offsets.map(|t| t.partitions[0].replica_nodes.len());
        (replicas == Some(3), replicas)
    });
    for i in 0.. {
        group = format!("readers-{i}");
        if coordinator_of(&cluster, &group) != 1 {
            break;
        }
    }
    let coordinator = coordinator_of(&cluster, &group);
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap())
        .set("group.id", &group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut committed = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        committed
            .add_partition_offset(TOPIC, partition, Offset::Offset(i64::from(partition) + 10))
            .unwrap();
    }
    consumer.commit(&committed, rdkafka::consumer::CommitMode::Sync).expect("commit");
    drop(consumer);

    cluster.nodes.get_mut(&coordinator).unwrap().kill9();
    let mut moved_to = coordinator;
    eventually(all, "another broker coordinates the group", || {
        moved_to = coordinator_of(&cluster, &group);
        (moved_to != coordinator, moved_to)
    });
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap())
        .set("group.id", &group)
        .create()
        .expect("consumer");
    let mut asked = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        asked.add_partition(TOPIC, partition);
    }
    let fetched =
        consumer.committed_offsets(asked, Duration::from_secs(20)).expect("committed offsets");
    let offsets: Vec<(i32, Offset)> =
        fetched.elements().iter().map(|e| (e.partition(), e.offset())).collect();
    let expected: Vec<(i32, Offset)> =
        (0..PARTITIONS).map(|p| (p, Offset::Offset(i64::from(p) + 10))).collect();
    assert_eq!(offsets, expected, "the group's commits, read from node {moved_to}");
}
