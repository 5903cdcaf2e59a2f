//! Real, unmodified librdkafka (through the `rdkafka` crate) against the broker binary.

// Drives the real binary from outside, on the OS's clock and threads: broker/clippy.toml's
// determinism rule is for the broker's own code, not for its tests.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, NewPartitions, NewTopic, ResourceSpecifier,
    TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use support::TestBroker;

const TIMEOUT: Duration = Duration::from_secs(20);

fn admin(broker: &TestBroker) -> AdminClient<DefaultClientContext> {
    ClientConfig::new().set("bootstrap.servers", broker.bootstrap()).create().expect("admin client")
}

async fn create_topic(broker: &TestBroker, name: &str, partitions: i32) {
    let results = admin(broker)
        .create_topics(
            &[NewTopic::new(name, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        )
        .await
        .expect("create_topics request");
    assert!(results[0].is_ok(), "create {name}: {:?}", results[0]);
}

fn producer(broker: &TestBroker, extra: &[(&str, &str)]) -> FutureProducer {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", broker.bootstrap()).set("linger.ms", "5");
    for (k, v) in extra {
        config.set(*k, *v);
    }
    config.create().expect("producer")
}

fn consumer(broker: &TestBroker, group: &str, extra: &[(&str, &str)]) -> BaseConsumer {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", broker.bootstrap())
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500");
    for (k, v) in extra {
        config.set(*k, *v);
    }
    config.create().expect("consumer")
}

/// Reads from an assign-mode consumer until `count` messages arrived; returns
/// (partition, offset, key, payload) in arrival order.
fn read_n(consumer: &BaseConsumer, count: usize) -> Vec<(i32, i64, String, String)> {
    let deadline = Instant::now() + TIMEOUT;
    let mut out = Vec::new();
    while out.len() < count {
        assert!(Instant::now() < deadline, "only {} of {count} messages arrived", out.len());
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            let m = message.expect("consume error");
            let text =
                |b: Option<&[u8]>| String::from_utf8(b.unwrap_or_default().to_vec()).unwrap();
            out.push((m.partition(), m.offset(), text(m.key()), text(m.payload())));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_acks_all_producer_round_trips_in_order() {
    let broker = TestBroker::start();
    create_topic(&broker, "orders", 3).await;
    let producer = producer(&broker, &[("acks", "all"), ("enable.idempotence", "true")]);
    let mut deliveries = Vec::new();
    for i in 0..3000 {
        let key = format!("key-{}", i % 17);
        let payload = format!("order-{i}");
        deliveries.push(
            producer.send_result(FutureRecord::to("orders").key(&key).payload(&payload)).unwrap(),
        );
    }
    let mut acked: BTreeMap<i32, Vec<(i64, String)>> = BTreeMap::new();
    for (i, delivery) in deliveries.into_iter().enumerate() {
        let d = delivery.await.unwrap().unwrap_or_else(|(e, _)| panic!("message {i} failed: {e}"));
        acked.entry(d.partition).or_default().push((d.offset, format!("order-{i}")));
    }
    assert_eq!(acked.values().map(Vec::len).sum::<usize>(), 3000);

    let consumer = consumer(&broker, "unused", &[]);
    let mut tpl = TopicPartitionList::new();
    for p in 0..3 {
        tpl.add_partition_offset("orders", p, Offset::Beginning).unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let read = read_n(&consumer, 3000);
    let mut by_partition: BTreeMap<i32, Vec<(i64, String)>> = BTreeMap::new();
    for (p, offset, _key, payload) in read {
        by_partition.entry(p).or_default().push((offset, payload));
    }
    for (p, records) in &by_partition {
        let offsets: Vec<i64> = records.iter().map(|r| r.0).collect();
        assert_eq!(
            offsets,
            (0..records.len() as i64).collect::<Vec<_>>(),
            "partition {p} offsets are dense"
        );
    }
    // Each acknowledged (offset, payload) is exactly what is read back: no loss, no duplicate.
    assert_eq!(by_partition, acked);
}

/// Polls every consumer until `done` holds for their assignments.
fn poll_until(
    consumers: &[&BaseConsumer],
    what: &str,
    done: impl Fn(&[BTreeSet<i32>]) -> bool,
) -> Vec<BTreeSet<i32>> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        for c in consumers {
            if let Some(Err(e)) = c.poll(Duration::from_millis(20)) {
                panic!("consumer error while waiting for {what}: {e}");
            }
        }
        let assignments: Vec<BTreeSet<i32>> = consumers
            .iter()
            .map(|c| c.assignment().unwrap().elements().iter().map(|e| e.partition()).collect())
            .collect();
        if done(&assignments) {
            return assignments;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; assignments {assignments:?}"
        );
    }
}

fn balanced(assignments: &[BTreeSet<i32>], partitions: i32) -> bool {
    let total: usize = assignments.iter().map(BTreeSet::len).sum();
    let union: BTreeSet<i32> = assignments.iter().flatten().copied().collect();
    let per = partitions as usize / assignments.len();
    total == partitions as usize
        && union.len() == total
        && assignments.iter().all(|a| a.len() == per)
}

async fn group_rebalances(strategy: &str) {
    let broker = TestBroker::start();
    let topic = format!("events-{strategy}");
    create_topic(&broker, &topic, 6).await;
    let group = format!("group-{strategy}");
    let extra = [("partition.assignment.strategy", strategy)];
    let a = consumer(&broker, &group, &extra);
    let b = consumer(&broker, &group, &extra);
    let c = consumer(&broker, &group, &extra);
    for x in [&a, &b, &c] {
        x.subscribe(&[&topic]).unwrap();
    }
    poll_until(&[&a, &b, &c], "three members with two partitions each", |s| balanced(s, 6));
    drop(c); // close() sends LeaveGroup
    poll_until(&[&a, &b], "two members with three partitions each", |s| balanced(s, 6));
    let d = consumer(&broker, &group, &extra);
    d.subscribe(&[&topic]).unwrap();
    poll_until(&[&a, &b, &d], "a joining member gets its share", |s| balanced(s, 6));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_group_rebalances_with_eager_assignor() {
    group_rebalances("range").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_group_rebalances_with_cooperative_assignor() {
    group_rebalances("cooperative-sticky").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_offsets_and_records_survive_restart() {
    let mut broker = TestBroker::start();
    create_topic(&broker, "ledger", 2).await;
    let producer = producer(&broker, &[("acks", "all")]);
    for i in 0..100 {
        let payload = format!("entry-{i}");
        producer
            .send(FutureRecord::to("ledger").key("k").payload(&payload).partition(i % 2), TIMEOUT)
            .await
            .unwrap();
    }
    drop(producer);
    {
        let consumer = consumer(&broker, "accounting", &[]);
        consumer.subscribe(&["ledger"]).unwrap();
        let mut seen = 0;
        let deadline = Instant::now() + TIMEOUT;
        while seen < 60 {
            assert!(Instant::now() < deadline, "consumed only {seen}");
            if let Some(m) = consumer.poll(Duration::from_millis(100)) {
                m.unwrap();
                seen += 1;
            }
        }
        let mut commit = TopicPartitionList::new();
        commit.add_partition_offset("ledger", 0, Offset::Offset(30)).unwrap();
        commit.add_partition_offset("ledger", 1, Offset::Offset(25)).unwrap();
        consumer.commit(&commit, CommitMode::Sync).unwrap();
    }

    broker.restart();

    let consumer = consumer(&broker, "accounting", &[]);
    let mut wanted = TopicPartitionList::new();
    wanted.add_partition("ledger", 0);
    wanted.add_partition("ledger", 1);
    let committed = consumer.committed_offsets(wanted, TIMEOUT).unwrap();
    let offsets: Vec<_> =
        committed.elements().iter().map(|e| (e.partition(), e.offset())).collect();
    assert_eq!(offsets, vec![(0, Offset::Offset(30)), (1, Offset::Offset(25))]);

    consumer.subscribe(&["ledger"]).unwrap();
    let mut first: BTreeMap<i32, i64> = BTreeMap::new();
    let mut total = 0;
    let deadline = Instant::now() + TIMEOUT;
    while total < 45 {
        assert!(Instant::now() < deadline, "resumed consumer read only {total} of 45");
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            let m = m.unwrap();
            first.entry(m.partition()).or_insert(m.offset());
            assert_eq!(
                m.payload(),
                Some(format!("entry-{}", m.offset() * 2 + m.partition() as i64).as_bytes())
            );
            total += 1;
        }
    }
    assert_eq!(
        first,
        BTreeMap::from([(0, 30), (1, 25)]),
        "resumed exactly at the committed offsets"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seek_by_timestamp_finds_the_first_later_record() {
    let broker = TestBroker::start();
    create_topic(&broker, "ticks", 1).await;
    let producer = producer(&broker, &[]);
    let t0 = 1_700_000_000_000i64;
    for i in 0..100i64 {
        let payload = format!("tick-{i}");
        producer
            .send(
                FutureRecord::to("ticks").key("k").payload(&payload).timestamp(t0 + i * 1000),
                TIMEOUT,
            )
            .await
            .unwrap();
    }
    let consumer = consumer(&broker, "ticker", &[]);
    let mut query = TopicPartitionList::new();
    query.add_partition_offset("ticks", 0, Offset::Offset(t0 + 50_500)).unwrap();
    let found = consumer.offsets_for_times(query, TIMEOUT).unwrap();
    assert_eq!(found.elements()[0].offset(), Offset::Offset(51));

    let mut beyond = TopicPartitionList::new();
    beyond.add_partition_offset("ticks", 0, Offset::Offset(t0 + 1_000_000)).unwrap();
    assert_eq!(
        consumer.offsets_for_times(beyond, TIMEOUT).unwrap().elements()[0].offset(),
        Offset::End
    );

    let mut assign = TopicPartitionList::new();
    assign.add_partition_offset("ticks", 0, Offset::Offset(51)).unwrap();
    consumer.assign(&assign).unwrap();
    let (_, offset, _, payload) = read_n(&consumer, 1).remove(0);
    assert_eq!((offset, payload.as_str()), (51, "tick-51"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_manages_topics_partitions_and_configs() {
    let broker = TestBroker::start();
    let admin = admin(&broker);
    let opts = AdminOptions::new();
    let results = admin
        .create_topics(
            &[
                NewTopic::new("audit", 2, TopicReplication::Fixed(1))
                    .set("retention.ms", "3600000"),
                NewTopic::new("bad name!", 1, TopicReplication::Fixed(1)),
                NewTopic::new("compacted", 1, TopicReplication::Fixed(1))
                    .set("cleanup.policy", "compact"),
                NewTopic::new("replicated", 1, TopicReplication::Fixed(3)),
            ],
            &opts,
        )
        .await
        .unwrap();
    assert!(results[0].is_ok());
    assert_eq!(results[1].as_ref().unwrap_err().1, RDKafkaErrorCode::InvalidTopic);
    assert_eq!(results[2].as_ref().unwrap_err().1, RDKafkaErrorCode::InvalidConfig);
    assert_eq!(results[3].as_ref().unwrap_err().1, RDKafkaErrorCode::InvalidReplicationFactor);
    let again = admin
        .create_topics(&[NewTopic::new("audit", 1, TopicReplication::Fixed(1))], &opts)
        .await
        .unwrap();
    assert_eq!(again[0].as_ref().unwrap_err().1, RDKafkaErrorCode::TopicAlreadyExists);

    let configs =
        admin.describe_configs(&[ResourceSpecifier::Topic("audit")], &opts).await.unwrap();
    let config = configs[0].as_ref().unwrap();
    assert_eq!(config.get("retention.ms").unwrap().value.as_deref(), Some("3600000"));
    assert_eq!(config.get("cleanup.policy").unwrap().value.as_deref(), Some("delete"));

    let alter =
        AlterConfig::new(ResourceSpecifier::Topic("audit")).set("retention.bytes", "1048576");
    assert!(admin.alter_configs(&[alter], &opts).await.unwrap()[0].is_ok());
    let configs =
        admin.describe_configs(&[ResourceSpecifier::Topic("audit")], &opts).await.unwrap();
    assert_eq!(
        configs[0].as_ref().unwrap().get("retention.bytes").unwrap().value.as_deref(),
        Some("1048576")
    );

    let grown = admin.create_partitions(&[NewPartitions::new("audit", 5)], &opts).await.unwrap();
    assert!(grown[0].is_ok(), "{grown:?}");
    let shrink = admin.create_partitions(&[NewPartitions::new("audit", 3)], &opts).await.unwrap();
    assert_eq!(shrink[0].as_ref().unwrap_err().1, RDKafkaErrorCode::InvalidPartitions);
    let metadata = admin.inner().fetch_metadata(Some("audit"), TIMEOUT).unwrap();
    assert_eq!(metadata.topics()[0].partitions().len(), 5);

    let deleted = admin.delete_topics(&["audit", "never-existed"], &opts).await.unwrap();
    assert!(deleted[0].is_ok());
    assert_eq!(deleted[1].as_ref().unwrap_err().1, RDKafkaErrorCode::UnknownTopicOrPartition);
    let all = admin.inner().fetch_metadata(None, TIMEOUT).unwrap();
    let names: Vec<&str> = all.topics().iter().map(|t| t.name()).collect();
    assert!(!names.contains(&"audit"), "{names:?}");
    assert!(names.contains(&"__consumer_offsets"), "{names:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_disk_layout_is_kafkas() {
    let broker = TestBroker::start_with(&["log.segment.bytes=20000"]);
    create_topic(&broker, "layout", 1).await;
    let producer = producer(&broker, &[]);
    for i in 0..500 {
        let payload = format!("{i:0100}");
        producer
            .send(FutureRecord::to("layout").key("k").payload(&payload), TIMEOUT)
            .await
            .unwrap();
    }
    let files = support::files_under(&broker.data_dir());
    for expected in [
        "meta.properties",
        "layout-0/00000000000000000000.log",
        "layout-0/00000000000000000000.index",
        "layout-0/00000000000000000000.timeindex",
        "__consumer_offsets-0/00000000000000000000.log",
    ] {
        assert!(files.iter().any(|f| f == expected), "{expected} missing from {files:?}");
    }
    let segments =
        files.iter().filter(|f| f.starts_with("layout-0/") && f.ends_with(".log")).count();
    assert!(segments > 1, "20 kB segments should have rolled: {files:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_retention_deletes_old_segments_in_the_background() {
    let broker = TestBroker::start_with(&["log.retention.check.interval.ms=100"]);
    let admin = admin(&broker);
    let topic = NewTopic::new("short-lived", 1, TopicReplication::Fixed(1))
        .set("retention.ms", "60000")
        .set("segment.ms", "100");
    assert!(admin.create_topics(&[topic], &AdminOptions::new()).await.unwrap()[0].is_ok());
    let producer = producer(&broker, &[]);
    // Records stamped an hour ago: older than retention.ms as soon as their segment rolls.
    let an_hour_ago =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()
            as i64
            - 3_600_000;
    for i in 0..10 {
        let payload = format!("old-{i}");
        producer
            .send(
                FutureRecord::to("short-lived").key("k").payload(&payload).timestamp(an_hour_ago),
                TIMEOUT,
            )
            .await
            .unwrap();
    }
    let consumer = consumer(&broker, "retention", &[]);
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let (low, high) = consumer.fetch_watermarks("short-lived", 0, TIMEOUT).unwrap();
        assert_eq!(high, 10);
        if low == 10 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "retention never advanced the log start offset (low={low})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let files = support::files_under(&broker.data_dir());
    assert!(
        !files.iter().any(|f| f == "short-lived-0/00000000000000000000.log"),
        "the expired segment should be deleted: {files:?}"
    );
}
