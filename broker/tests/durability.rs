//! Durability through real clients: `kill -9` during a produce load loses no acknowledged
//! record under the flush-every-write policy, and a torn tail is recovered on restart.

// Drives the real binary from outside, on the OS's clock and threads: broker/clippy.toml's
// determinism rule is for the broker's own code, not for its tests.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use support::TestBroker;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_produce_loses_no_acknowledged_record() {
    let mut broker = TestBroker::start_with(&["log.flush.interval.messages=1", "num.partitions=2"]);
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("acks", "all")
        .set("linger.ms", "1")
        .set("message.timeout.ms", "5000")
        .create()
        .unwrap();
    // Acknowledged (partition, offset) -> payload, filled by delivery reports.
    let acked: Arc<Mutex<BTreeMap<(i32, i64), String>>> = Arc::default();
    let mut pending = Vec::new();
    let started = Instant::now();
    let mut i = 0u64;
    // Keep producing until a good number of records is acknowledged, then pull the plug with
    // sends still in flight.
    while acked.lock().unwrap().len() < 3000 {
        assert!(started.elapsed() < Duration::from_secs(60), "producer made no progress");
        let payload = format!("record-{i}");
        let future =
            producer.send_result(FutureRecord::to("load").key("k").payload(&payload)).unwrap();
        let acked = acked.clone();
        pending.push(tokio::spawn(async move {
            if let Ok(Ok(delivery)) = future.await {
                acked.lock().unwrap().insert((delivery.partition, delivery.offset), payload);
            }
        }));
        i += 1;
        if i % 200 == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    broker.kill9();
    for p in pending {
        let _ = p.await;
    }
    drop(producer);
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 3000);

    broker.start_again();
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("group.id", "verifier")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("load", 0, Offset::Beginning).unwrap();
    tpl.add_partition_offset("load", 1, Offset::Beginning).unwrap();
    consumer.assign(&tpl).unwrap();
    let mut stored: BTreeMap<(i32, i64), String> = BTreeMap::new();
    let mut ends = BTreeMap::new();
    for p in 0..2 {
        ends.insert(p, consumer.fetch_watermarks("load", p, Duration::from_secs(10)).unwrap().1);
    }
    let total: i64 = ends.values().sum();
    let deadline = Instant::now() + Duration::from_secs(30);
    while (stored.len() as i64) < total {
        assert!(Instant::now() < deadline, "read {} of {total} stored records", stored.len());
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            let m = m.unwrap();
            stored.insert(
                (m.partition(), m.offset()),
                String::from_utf8(m.payload().unwrap().to_vec()).unwrap(),
            );
        }
    }
    let lost: Vec<_> = acked.iter().filter(|(k, v)| stored.get(k) != Some(v)).take(5).collect();
    assert!(lost.is_empty(), "acknowledged records missing or changed after kill -9: {lost:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn torn_tail_is_truncated_and_the_log_continues() {
    let mut broker = TestBroker::start_with(&["num.partitions=1"]);
    let producer: FutureProducer =
        ClientConfig::new().set("bootstrap.servers", broker.bootstrap()).create().unwrap();
    for i in 0..50 {
        let payload = format!("before-{i}");
        producer
            .send(FutureRecord::to("torn").key("k").payload(&payload), Duration::from_secs(10))
            .await
            .unwrap();
    }
    drop(producer);
    broker.kill9();
    // A half-written batch: a plausible header whose body never made it to disk.
    let segment = broker.data_dir().join("torn-0/00000000000000000000.log");
    let mut file = std::fs::OpenOptions::new().append(true).open(&segment).unwrap();
    let mut torn = Vec::new();
    torn.extend_from_slice(&50i64.to_be_bytes());
    torn.extend_from_slice(&500i32.to_be_bytes());
    torn.extend_from_slice(&[0, 0, 0, 0, 2, 1, 2, 3]);
    file.write_all(&torn).unwrap();
    drop(file);

    broker.start_again();
    assert!(
        broker.log().contains("truncat"),
        "recovery should log the truncation:\n{}",
        broker.log_tail()
    );
    let producer: FutureProducer =
        ClientConfig::new().set("bootstrap.servers", broker.bootstrap()).create().unwrap();
    let delivery = producer
        .send(FutureRecord::to("torn").key("k").payload("after"), Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(delivery.offset, 50, "appends continue right after the last whole batch");
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("group.id", "reader")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("torn", 0, Offset::Beginning).unwrap();
    consumer.assign(&tpl).unwrap();
    let mut payloads = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while payloads.len() < 51 {
        assert!(Instant::now() < deadline, "read {} of 51", payloads.len());
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            payloads.push(String::from_utf8(m.unwrap().payload().unwrap().to_vec()).unwrap());
        }
    }
    assert_eq!(payloads[49], "before-49");
    assert_eq!(payloads[50], "after");
}
