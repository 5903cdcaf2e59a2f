//! Protocol rules real librdkafka consumers depend on (issue 12): Fetch size limits (KIP-74) and
//! static membership across a restart of the group leader (KIP-345).

// Drives the real binary from outside, on the OS's clock and threads: broker/clippy.toml's
// determinism rule is for the broker's own code, not for its tests.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use support::TestBroker;

async fn create_topic(broker: &TestBroker, name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", broker.bootstrap()).create().unwrap();
    let results = admin
        .create_topics(
            &[NewTopic::new(name, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        )
        .await
        .expect("create_topics request");
    assert!(results[0].is_ok(), "create {name}: {:?}", results[0]);
}

/// Client-side errors (a rejected response shows up here), kept for the failure message.
#[derive(Default)]
struct ErrorLog(Mutex<Vec<String>>);

impl ClientContext for ErrorLog {
    fn error(&self, error: KafkaError, reason: &str) {
        self.0.lock().unwrap().push(format!("{error}: {reason}"));
    }
}

impl ConsumerContext for ErrorLog {}

const PARTITIONS: i32 = 4;
const RECORDS_PER_PARTITION: i64 = 5;
/// Each record is its own batch of a little over this many bytes.
const VALUE_BYTES: usize = 40_000;
/// Below two batches, so every response can hold only one.
const FETCH_MAX_BYTES: usize = 60_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_with_fetch_max_bytes_below_two_batches_reads_every_record() {
    let broker = TestBroker::start();
    create_topic(&broker, "large", PARTITIONS).await;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("batch.num.messages", "1")
        .set("linger.ms", "0")
        .create()
        .unwrap();
    let value = vec![b'v'; VALUE_BYTES];
    for p in 0..PARTITIONS {
        for i in 0..RECORDS_PER_PARTITION {
            let key = format!("{p}-{i}");
            let record = FutureRecord::to("large").partition(p).key(&key).payload(&value);
            producer.send(record, Duration::from_secs(10)).await.expect("produce");
        }
    }

    // librdkafka refuses a response larger than receive.message.max.bytes and fetches the
    // same offsets again, so a broker that ignores max_bytes stalls this consumer for good.
    let consumer: BaseConsumer<ErrorLog> = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("group.id", "fetch-limits")
        .set("enable.auto.commit", "false")
        .set("message.max.bytes", "10000")
        .set("fetch.max.bytes", FETCH_MAX_BYTES.to_string())
        .set("receive.message.max.bytes", (FETCH_MAX_BYTES + 512).to_string())
        .set("max.partition.fetch.bytes", "10000")
        .create_with_context(ErrorLog::default())
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        assignment.add_partition_offset("large", p, Offset::Beginning).unwrap();
    }
    consumer.assign(&assignment).unwrap();

    let mut read: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    let total = (PARTITIONS as i64 * RECORDS_PER_PARTITION) as usize;
    let deadline = Instant::now() + Duration::from_secs(30);
    while read.values().map(Vec::len).sum::<usize>() < total {
        assert!(
            Instant::now() < deadline,
            "read {read:?} of {total} records; client errors: {:?}",
            consumer.context().0.lock().unwrap()
        );
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            let m = message.expect("consume");
            assert_eq!(m.payload().map(<[u8]>::len), Some(VALUE_BYTES));
            read.entry(m.partition()).or_default().push(m.offset());
        }
    }
    let every: Vec<i64> = (0..RECORDS_PER_PARTITION).collect();
    assert_eq!(read, (0..PARTITIONS).map(|p| (p, every.clone())).collect());

    // On the wire: the same limits give one whole batch of the first partition, nothing else.
    let sizes = fetch_record_bytes(&broker, FETCH_MAX_BYTES as i32, 10_000);
    assert!(sizes[0] > VALUE_BYTES && sizes[0] < 2 * VALUE_BYTES, "{sizes:?}");
    assert_eq!(&sizes[1..], &[0, 0, 0]);
    // Limits that hold two batches per partition and five in all.
    let batch = sizes[0] as i32;
    let sizes = fetch_record_bytes(&broker, 5 * batch, 2 * batch);
    let batch = batch as usize;
    assert_eq!(sizes, vec![2 * batch, 2 * batch, batch, 0]);
}

/// Record bytes per partition of one Fetch v12 of `large` from offset 0 on every partition.
fn fetch_record_bytes(broker: &TestBroker, max_bytes: i32, partition_max_bytes: i32) -> Vec<usize> {
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    use kafka_protocol::messages::{FetchRequest, TopicName};
    use kafka_protocol::protocol::StrBytes;

    let request = FetchRequest::default()
        .with_max_wait_ms(0)
        .with_max_bytes(max_bytes)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_static_str("large")))
            .with_partitions(
                (0..PARTITIONS)
                    .map(|p| {
                        FetchPartition::default()
                            .with_partition(p)
                            .with_partition_max_bytes(partition_max_bytes)
                    })
                    .collect(),
            )]);
    let response = support::call(broker.port, 12, &request);
    response.responses[0]
        .partitions
        .iter()
        .map(|p| {
            assert_eq!(p.error_code, 0);
            p.records.as_ref().map_or(0, |r| r.len())
        })
        .collect()
}

/// Counts the rebalance callbacks a consumer gets.
#[derive(Default)]
struct Rebalances(AtomicUsize);

impl ClientContext for Rebalances {}

impl ConsumerContext for Rebalances {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, _: &Rebalance<'_>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
    fn post_rebalance(&self, _: &BaseConsumer<Self>, _: &Rebalance<'_>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn static_member(broker: &TestBroker, instance: &str) -> BaseConsumer<Rebalances> {
    let consumer: BaseConsumer<Rebalances> = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("group.id", "static")
        .set("group.instance.id", instance)
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "30000")
        .set("heartbeat.interval.ms", "300")
        .create_with_context(Rebalances::default())
        .unwrap();
    consumer.subscribe(&["static"]).unwrap();
    consumer
}

fn partitions(consumer: &BaseConsumer<Rebalances>) -> BTreeSet<i32> {
    consumer.assignment().unwrap().elements().iter().map(|e| e.partition()).collect()
}

/// Polls `consumers` until `done` holds for their assignments.
fn poll_until(
    consumers: &[&BaseConsumer<Rebalances>],
    what: &str,
    done: impl Fn(&[BTreeSet<i32>]) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        for c in consumers {
            if let Some(Err(e)) = c.poll(Duration::from_millis(20)) {
                panic!("consumer error while waiting for {what}: {e}");
            }
        }
        let assignments: Vec<BTreeSet<i32>> = consumers.iter().map(|c| partitions(c)).collect();
        if done(&assignments) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}: {assignments:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_static_leader_rejoins_without_a_rebalance() {
    let broker = TestBroker::start();
    create_topic(&broker, "static", PARTITIONS).await;
    // `a` joins alone first, so it is the leader of every later generation it rejoins.
    let a = static_member(&broker, "a");
    poll_until(&[&a], "a owning every partition", |s| s[0].len() == PARTITIONS as usize);
    let b = static_member(&broker, "b");
    poll_until(&[&a, &b], "two partitions each", |s| s[0].len() == 2 && s[1].len() == 2);
    let (a_had, b_has) = (partitions(&a), partitions(&b));
    let b_rebalances = b.context().0.load(Ordering::SeqCst);

    // The leader's process goes away (a static member sends no LeaveGroup) and comes back
    // within session.timeout.ms with the same group.instance.id.
    drop(a);
    let a = static_member(&broker, "a");
    poll_until(&[&a, &b], "the restarted leader owning its partitions again", |s| {
        s[0] == a_had && s[1] == b_has
    });
    // Long enough for a rebalance to reach `b` through its heartbeats (every 300 ms).
    let quiet = Instant::now() + Duration::from_secs(3);
    while Instant::now() < quiet {
        for c in [&a, &b] {
            if let Some(Err(e)) = c.poll(Duration::from_millis(20)) {
                panic!("consumer error after the restart: {e}");
            }
        }
    }
    assert_eq!(partitions(&b), b_has);
    assert_eq!(
        b.context().0.load(Ordering::SeqCst),
        b_rebalances,
        "the other member went through a rebalance"
    );
    assert_eq!(partitions(&a), a_had);
}
