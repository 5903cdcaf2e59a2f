//! Two real brokers in one process, on memory storage, serving real TCP on 127.0.0.1: node 2
//! follows node 1's partition through the replica fetcher.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use uuid::Uuid;

use crate::broker::Broker;
use crate::clock::TokioClock;
use crate::config::BrokerConfig;
use crate::internal_records::encode_batch;
use crate::metadata::{
    BrokerEndpoint, MetadataRecord, PartitionChangeRecord, PartitionRecord, RegisterBrokerRecord,
};
use crate::replica::Partition;
use crate::runtime::JoinHandle;
use crate::storage::MemoryStorage;

const TOPIC: &str = "r";
const TOPIC_ID: Uuid = Uuid::from_u128(0x5eed);

/// This test's partition led at `epoch` with `isr`, the partition epoch moving with it.
fn lead(epoch: i32, isr: &[i32]) -> crate::replica::LeaderAndIsr {
    crate::replica::LeaderAndIsr {
        leader_epoch: epoch,
        partition_epoch: epoch,
        replicas: vec![1, 2],
        isr: isr.to_vec(),
    }
}

/// A broker and the tasks serving its port.
struct Node {
    broker: Arc<Broker>,
    storage: Arc<MemoryStorage>,
    port: u16,
    serving: Vec<JoinHandle<()>>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Node {
    async fn open(node_id: i32) -> Node {
        Node::open_with(node_id, &[]).await
    }

    /// [`Node::open`] with further property overrides.
    async fn open_with(node_id: i32, extra: &[&str]) -> Node {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut overrides = vec![
            format!("node.id={node_id}"),
            format!("listeners=PLAINTEXT://127.0.0.1:{port}"),
            "log.dirs=/data".to_owned(),
            "offsets.topic.num.partitions=1".to_owned(),
            "replica.fetch.wait.max.ms=50".to_owned(),
            "replica.fetch.backoff.ms=100".to_owned(),
        ];
        overrides.extend(extra.iter().map(|o| o.to_string()));
        let config = BrokerConfig::load(None, &overrides).unwrap();
        let clock = Arc::new(TokioClock::new(1_700_000_000_000));
        let storage = Arc::new(MemoryStorage::new());
        let broker = Broker::open(config, storage.clone(), clock, node_id as u64).unwrap();
        let mut node =
            Node { broker, storage, port, serving: Vec::new(), connections: Arc::default() };
        node.serve(listener);
        node
    }

    /// Serves the port: each connection through `server::serve_connection`.
    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let (broker, connections) = (self.broker.clone(), self.connections.clone());
        self.serving.push(crate::runtime::spawn(async move {
            loop {
                let (stream, peer) = listener.accept().await.unwrap();
                let task =
                    crate::server::serve_connection(broker.clone(), stream, peer.to_string());
                connections.lock().unwrap().push(crate::runtime::spawn(task));
            }
        }));
    }

    /// Closes the port and every connection to it, as a node that went away.
    fn stop_serving(&mut self) {
        self.serving.drain(..).for_each(|task| task.abort());
        self.connections.lock().unwrap().drain(..).for_each(|task| task.abort());
    }

    async fn serve_again(&mut self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        self.serve(listener);
    }

    fn start_fetchers(&self) {
        self.broker.start_replica_fetchers(
            Arc::new(crate::tcp::TcpConnector),
            Arc::new(|task| {
                crate::runtime::spawn(task);
            }),
        );
    }

    fn partition(&self) -> Arc<Partition> {
        self.broker.replica_manager().partition(TOPIC, 0).unwrap()
    }

    fn commit(&self, records: Vec<MetadataRecord>) {
        self.broker.commit_metadata(records).unwrap();
    }

    /// `other` registered and unfenced, as the controller would have it.
    fn register(&self, other: &Node) {
        let id = other.broker.node.node_id;
        // The epoch `other` registered itself at, which its fetches carry: the leader
        // refuses a fetch at another epoch as stale.
        let epoch = other.broker.local_broker_epoch().unwrap();
        let registration = RegisterBrokerRecord {
            broker_id: id,
            incarnation_id: Uuid::from_u128(id as u128),
            broker_epoch: epoch,
            endpoints: vec![BrokerEndpoint {
                name: "PLAINTEXT".into(),
                host: "127.0.0.1".into(),
                port: other.port,
                security_protocol: 0,
            }],
            features: Vec::new(),
            rack: None,
            fenced: true,
            in_controlled_shutdown: false,
        };
        let unfence = MetadataRecord::UnfenceBroker { id, epoch };
        self.commit(vec![MetadataRecord::RegisterBroker(registration), unfence]);
    }

    /// Appends `count` one-record batches as the leader.
    fn produce(&self, count: usize, tag: &str) {
        let partition = self.partition();
        for i in 0..count {
            let value = Bytes::from(format!("{tag}-{i}"));
            let mut batch = encode_batch(&[(None, Some(value))], 1_700_000_000_000);
            partition.append_as_leader(&mut batch, 1_700_000_000_000, false).unwrap();
        }
    }

    /// The partition's bytes, epochs, log end offset and high watermark.
    fn log(&self) -> (Bytes, Vec<(i32, i64)>, i64, i64) {
        let partition = self.partition();
        let (bytes, epochs) = partition.read_log(|log| {
            let epochs = log.leader_epochs().iter().map(|e| (e.epoch, e.start_offset)).collect();
            (log.read(log.log_start_offset(), u32::MAX).unwrap(), epochs)
        });
        (bytes, epochs, partition.log_end_offset(), partition.high_watermark())
    }
}

/// Waits (real time, a few seconds at most) until `done` holds.
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let start = crate::runtime::now();
    while !done() {
        assert!(crate::runtime::elapsed(start) < Duration::from_secs(10), "timed out: {what}");
        crate::runtime::sleep(Duration::from_millis(10)).await;
    }
}

/// Two nodes with the same topic, replicas [1, 2] and ISR [1, 2], led by node 1 at epoch 0.
async fn two_nodes() -> (Node, Node) {
    two_nodes_with(&[]).await
}

/// [`two_nodes`], node 2 with further property overrides.
async fn two_nodes_with(follower_overrides: &[&str]) -> (Node, Node) {
    let (one, two) = (Node::open(1).await, Node::open_with(2, follower_overrides).await);
    one.register(&two);
    two.register(&one);
    for node in [&one, &two] {
        let partition = PartitionRecord::new(TOPIC_ID, 0, vec![1, 2]);
        node.commit(vec![
            MetadataRecord::Topic { name: TOPIC.into(), topic_id: TOPIC_ID },
            MetadataRecord::Partition(partition),
        ]);
    }
    // The leader tracks node 2 in its ISR (whatever the publisher's leader branch does).
    one.partition().make_leader(&lead(0, &[1, 2]), 0);
    (one, two)
}

#[tokio::test]
async fn a_follower_copies_the_leader_and_moves_its_high_watermark() {
    let (one, two) = two_nodes().await;
    assert!(matches!(two.partition().role(), crate::replica::Role::Follower { leader_id: 1, .. }));
    one.produce(3, "a");
    assert_eq!(one.partition().high_watermark(), 0, "node 2 has fetched nothing yet");
    assert_eq!(two.log().2, 0);

    two.start_fetchers();
    eventually("node 2 copies node 1's batches", || two.log() == one.log()).await;
    let (bytes, epochs, leo, hw) = two.log();
    assert_eq!((leo, hw), (3, 3), "node 2's high watermark follows the leader's");
    assert_eq!(epochs, [(0, 0)]);
    assert_eq!(bytes, one.log().0, "identical bytes: offsets, epochs, timestamps");
    assert_eq!(one.partition().high_watermark(), 3, "moved by node 2's fetches");
    let lags = two.broker.replica_manager().replica_fetchers().fetch_states();
    assert_eq!(lags[&(TOPIC.to_owned(), 0)].lag, Some(0));

    one.produce(2, "b");
    eventually("node 2 follows new batches", || two.log() == one.log()).await;
    assert_eq!(two.log().3, 5);

    // Clients of a follower are told to go to the leader.
    let error = two.partition().leader_log().err().unwrap();
    assert_eq!(error.error, kafka_protocol::ResponseError::NotLeaderOrFollower);
}

/// ReplicaFetcherManager's MaxLag: a follower outside the ISR, one batch per fetch
/// (`replica.fetch.max.bytes=1`), stopped part-way by its leader going away, reports the
/// leader's high watermark minus its next fetch offset, as of its last answer.
#[tokio::test]
async fn the_max_lag_is_the_leaders_high_watermark_minus_the_fetch_offset() {
    const BATCHES: i64 = 1000;
    let (mut one, two) = two_nodes_with(&["replica.fetch.max.bytes=1"]).await;
    // Node 1 alone in the ISR: its high watermark is its log end offset at once.
    one.partition().make_leader(&lead(0, &[1]), 0);
    one.produce(BATCHES as usize, "a");
    assert_eq!(one.partition().high_watermark(), BATCHES);
    let max_lag = |node: &Node| {
        let text = crate::metrics::render(&node.broker);
        let line = text
            .lines()
            .find(|l| {
                l.starts_with("kafka_server_replicafetchermanager_maxlag{clientId=\"Replica\"} ")
            })
            .unwrap_or_else(|| panic!("no max lag series in:\n{text}"))
            .to_owned();
        line.rsplit_once(' ').unwrap().1.parse::<i64>().unwrap()
    };
    assert_eq!(max_lag(&two), 0, "nothing fetched yet");

    two.start_fetchers();
    eventually("node 2 fetched a few batches", || two.log().2 >= 3).await;
    one.stop_serving();
    // An answer in flight lands, then the fetcher only backs off.
    crate::runtime::sleep(Duration::from_millis(300)).await;
    let fetched = two.log().2;
    assert!(fetched < BATCHES, "node 2 caught up before its leader went away");
    assert_eq!(max_lag(&two), BATCHES - fetched);
    assert_eq!(max_lag(&one), 0, "the leader follows nothing");
}

#[tokio::test]
async fn a_divergent_tail_is_truncated_then_the_logs_converge() {
    let (one, two) = two_nodes().await;
    one.produce(3, "a");
    two.start_fetchers();
    eventually("node 2 copies node 1's batches", || two.log() == one.log()).await;

    // Node 2 leads at epoch 1 and appends what nobody replicates...
    let mut change = PartitionChangeRecord::new(TOPIC_ID, 0);
    change.leader = 2;
    two.commit(vec![MetadataRecord::PartitionChange(change)]);
    let fetching = two.broker.replica_manager().replica_fetchers().fetch_states();
    assert!(fetching.is_empty(), "a leader does not fetch: {fetching:?}");
    two.partition().make_leader(&lead(1, &[2]), 0);
    two.produce(2, "lost");
    // ...while node 1 leads at epoch 2 and appends other batches.
    one.partition().make_leader(&lead(2, &[1, 2]), 0);
    one.produce(3, "kept");
    assert_eq!((one.log().2, two.log().2), (6, 5));

    // Node 2 follows node 1 at epoch 2: its epoch-1 tail goes, node 1's batches come.
    let mut follow = PartitionChangeRecord::new(TOPIC_ID, 0);
    follow.leader = 1;
    two.commit(vec![MetadataRecord::PartitionChange(follow)]);
    assert_eq!(two.partition().leader_epoch(), 2);
    eventually("node 2 converges with node 1", || two.log().0 == one.log().0).await;
    let (_, epochs, leo, _) = two.log();
    assert_eq!(epochs, [(0, 0), (2, 3)], "epoch 1 is gone with its batches");
    assert_eq!(leo, 6);
    eventually("both high watermarks reach the end", || {
        one.partition().high_watermark() == 6 && two.partition().high_watermark() == 6
    })
    .await;
}

#[tokio::test]
async fn a_follower_backs_off_while_the_leader_is_away_and_resumes() {
    let (mut one, two) = two_nodes().await;
    one.produce(1, "a");
    two.start_fetchers();
    eventually("node 2 copies node 1's batch", || two.log() == one.log()).await;
    let key = (TOPIC.to_owned(), 0);
    let unreachable = || {
        two.broker.replica_manager().replica_fetchers().fetch_states()[&key]
            .leader_unreachable
            .clone()
    };
    assert_eq!(unreachable(), None);

    one.stop_serving();
    eventually("node 2 notices node 1 is away", || unreachable().is_some()).await;
    let why = unreachable().unwrap();
    assert!(why.contains(&format!("127.0.0.1:{}", one.port)), "{why}");
    one.produce(2, "b");
    crate::runtime::sleep(Duration::from_millis(300)).await;
    assert_eq!(two.log().2, 1, "nothing fetched while node 1 is away");

    one.serve_again().await;
    eventually("node 2 resumes", || two.log() == one.log()).await;
    assert_eq!(unreachable(), None);
    assert_eq!(two.log().2, 3);
}

/// OFFSET_OUT_OF_RANGE with the leader's log starting past the follower's end: the follower's
/// data is all older than the leader keeps, so its log starts afresh at the leader's log start
/// offset (ListOffsets EARLIEST) and fetches from there.
#[tokio::test]
async fn a_follower_behind_the_leaders_log_start_starts_again_there() {
    let (one, two) = two_nodes().await;
    // Node 1 alone in the ISR: its high watermark moves without node 2, and DeleteRecords
    // moves its log start past everything node 2 has.
    one.partition().make_leader(&lead(0, &[1]), 0);
    one.produce(5, "a");
    assert_eq!(one.partition().delete_records_on_leader(4).unwrap(), 4);
    two.start_fetchers();
    eventually("node 2 starts at node 1's log start", || two.log().2 == 5).await;
    let partition = two.partition();
    assert_eq!(partition.log_start_offset(), 4);
    let leader_bytes = one.partition().read_log(|log| log.read(4, u32::MAX).unwrap());
    assert_eq!(two.log().0, leader_bytes, "the one batch above the leader's log start");
    assert_eq!(two.log().3, 5);
}

/// A storage error on the follower's append fails that partition (Kafka's
/// `markPartitionFailed`): it is not retried, the leader's high watermark waits for it, and it
/// resumes once the metadata hands it over again.
#[tokio::test]
async fn a_storage_error_fails_the_partition_until_it_is_handed_over_again() {
    let (one, two) = two_nodes().await;
    one.produce(2, "a");
    two.start_fetchers();
    eventually("node 2 copies node 1's batches", || two.log() == one.log()).await;
    let key = (TOPIC.to_owned(), 0);
    let status = || two.broker.replica_manager().replica_fetchers().fetch_states()[&key].clone();

    two.storage.set_capacity_bytes(Some(0));
    one.produce(1, "b");
    eventually("node 2's partition fails", || status().failed).await;
    two.storage.set_capacity_bytes(None);
    crate::runtime::sleep(Duration::from_millis(300)).await;
    assert!(status().failed, "not retried");
    assert_eq!((two.log().2, one.partition().high_watermark()), (2, 2));

    // The metadata hands it over again (a new leader epoch, on both sides).
    one.partition().make_leader(&lead(1, &[1, 2]), 0);
    let mut again = PartitionChangeRecord::new(TOPIC_ID, 0);
    again.leader = 1;
    two.commit(vec![MetadataRecord::PartitionChange(again)]);
    eventually("node 2 resumes", || two.log().0 == one.log().0).await;
    assert!(!status().failed);
    eventually("the high watermark moves on", || one.partition().high_watermark() == 3).await;
}

#[test]
fn a_diverged_follower_truncates_where_both_logs_last_agree() {
    // Same epoch on both: the smaller of the two ends.
    assert_eq!(super::truncation_offset(0, 3, (0, 5), 5), 3);
    assert_eq!(super::truncation_offset(4, 9, (4, 7), 8), 7);
    // The follower never had the leader's epoch 2: cut at the end of its own epoch 1.
    assert_eq!(super::truncation_offset(2, 10, (1, 6), 8), 6);
    // No epoch known here: the leader's end, never above our own end.
    assert_eq!(super::truncation_offset(3, 4, (-1, -1), 9), 4);
    assert_eq!(super::truncation_offset(3, 12, (-1, -1), 9), 9);
}
