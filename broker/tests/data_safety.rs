//! Start-up never destroys data a fault did not touch (issue 12): the real binary on a real
//! disk, real librdkafka clients, records counted before and after each fault.
//!
//! - a missing or corrupt metadata log, a missing or garbled `meta.properties`: the broker
//!   refuses to start, says what is wrong, and changes no file;
//! - a corrupt header in a sealed, flushed segment: nothing is truncated, consumers get
//!   CORRUPT_MESSAGE at the corruption instead of silently skipping it, the rest reads back;
//! - a partition directory the metadata does not name is set aside as `-stray`, untouched;
//! - a start that fails on its configuration (port in use, keystore missing, bad SCRAM users)
//!   leaves `log.dirs` as it was, or never creates it;
//! - producer ids are never reused after the metadata log lost its tail;
//! - a corrupt `__consumer_offsets` batch fails only the groups of its partition
//!   (NOT_COORDINATOR), keeps the file as it is, and every other group is served.

// Drives the real binary from outside, on the OS's clock and threads: broker/clippy.toml's
// determinism rule is for the broker's own code, not for its tests.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kafka_protocol::messages::InitProducerIdRequest;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};
use support::{files_under, free_port, TestBroker};

/// Every file under `dir` with its bytes, except the offset and time indexes: they are a cache
/// of the log that recovery rebuilds.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    files_under(dir)
        .into_iter()
        .filter(|f| !f.ends_with(".index") && !f.ends_with(".timeindex"))
        .map(|f| (f.clone(), std::fs::read(dir.join(&f)).unwrap()))
        .collect()
}

/// Runs the broker binary on `data_dir` and expects it to exit on its own; returns its exit
/// code and output.
fn start_expecting_failure(data_dir: &Path, overrides: &[String]) -> (i32, String) {
    let port = free_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_kafka-lab-broker"));
    command
        .arg("--override")
        .arg(format!("listeners=PLAINTEXT://127.0.0.1:{port}"))
        .arg("--override")
        .arg(format!("log.dirs={}", data_dir.display()));
    for o in overrides {
        command.arg("--override").arg(o);
    }
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "the broker started instead of refusing:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

async fn produce(bootstrap: &str, topic: &str, partitions: i32, records: usize) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "5")
        .set("batch.num.messages", "20")
        .create()
        .unwrap();
    let mut pending = Vec::new();
    for i in 0..records {
        let payload = format!("{topic}-{i}");
        let partition = (i as i32) % partitions;
        pending.push(
            producer
                .send_result(
                    FutureRecord::<str, str>::to(topic).partition(partition).payload(&payload),
                )
                .unwrap(),
        );
    }
    for p in pending {
        p.await.unwrap().unwrap();
    }
}

/// Reads every partition of `topic` from the beginning to its end; payloads by (partition,
/// offset). Panics on a consume error.
fn read_all(bootstrap: &str, topic: &str, partitions: i32) -> BTreeMap<(i32, i64), String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "data-safety-reader")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    let mut total = 0;
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning).unwrap();
        total += consumer.fetch_watermarks(topic, p, Duration::from_secs(10)).unwrap().1;
    }
    consumer.assign(&tpl).unwrap();
    let mut out = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while (out.len() as i64) < total {
        assert!(Instant::now() < deadline, "read {} of {total} records of {topic}", out.len());
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            let m = m.unwrap();
            let payload = String::from_utf8(m.payload().unwrap().to_vec()).unwrap();
            out.insert((m.partition(), m.offset()), payload);
        }
    }
    out
}

/// A broker with three topics of records and committed offsets, stopped cleanly.
async fn populated_broker() -> (TestBroker, BTreeMap<&'static str, BTreeMap<(i32, i64), String>>) {
    let mut broker = TestBroker::start_with(&["num.partitions=2"]);
    let mut records = BTreeMap::new();
    for topic in ["orders", "payments", "audit"] {
        produce(&broker.bootstrap(), topic, 2, 300).await;
        records.insert(topic, read_all(&broker.bootstrap(), topic, 2));
    }
    broker.stop();
    (broker, records)
}

fn assert_records_intact(
    broker: &TestBroker,
    before: &BTreeMap<&'static str, BTreeMap<(i32, i64), String>>,
) {
    for (topic, records) in before {
        assert_eq!(records.len(), 300);
        assert_eq!(&read_all(&broker.bootstrap(), topic, 2), records, "records of {topic}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_metadata_log_refuses_to_start_and_deletes_nothing() {
    let (mut broker, before) = populated_broker().await;
    let data = broker.data_dir();
    let metadata = data.join("__cluster_metadata-0");
    let aside = broker.data_dir().with_file_name("metadata-aside");
    std::fs::rename(&metadata, &aside).unwrap();
    let files = snapshot(&data);
    assert!(files.keys().filter(|f| f.ends_with(".log")).count() >= 56, "{:?}", files.keys());

    let (code, out) = start_expecting_failure(&data, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("metadata log") && out.contains("missing"), "{out}");
    assert_eq!(snapshot(&data), files, "a refused start must not change a file");

    std::fs::rename(&aside, &metadata).unwrap();
    broker.start_again();
    assert_records_intact(&broker, &before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_metadata_log_refuses_to_start_at_every_position() {
    let (mut broker, before) = populated_broker().await;
    let data = broker.data_dir();
    let log = data.join("__cluster_metadata-0/00000000000000000000.log");
    let original = std::fs::read(&log).unwrap();
    let batches = batch_positions(&original);
    assert!(batches.len() >= 4, "the metadata log has {} batches", batches.len());
    // A record byte of the first, a middle and the last batch, and a header byte (the magic)
    // of a middle batch.
    let (first, middle, last) =
        (batches[0], batches[batches.len() / 2], batches[batches.len() - 1]);
    for position in
        [first.0 + first.1 - 2, middle.0 + middle.1 - 2, last.0 + last.1 - 2, middle.0 + 16]
    {
        let mut bytes = original.clone();
        bytes[position as usize] ^= 0x20;
        std::fs::write(&log, &bytes).unwrap();
        let files = snapshot(&data);
        let (code, out) = start_expecting_failure(&data, &[]);
        assert_eq!(code, 1, "flipped byte at {position}: {out}");
        assert!(out.contains("refusing to start") && out.contains("metadata log"), "{out}");
        assert_eq!(snapshot(&data), files, "flipped byte at {position}: files changed");
    }
    std::fs::write(&log, &original).unwrap();
    broker.start_again();
    assert_records_intact(&broker, &before);
}

/// (position, size) of every batch in a segment file.
fn batch_positions(segment: &[u8]) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos + 12 <= segment.len() {
        let len = i32::from_be_bytes(segment[pos + 8..pos + 12].try_into().unwrap()) as usize;
        out.push((pos as u64, (len + 12) as u64));
        pos += len + 12;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_or_garbled_meta_properties_refuses_to_start() {
    let (mut broker, before) = populated_broker().await;
    let data = broker.data_dir();
    let meta = data.join("meta.properties");
    let original = std::fs::read_to_string(&meta).unwrap();

    std::fs::remove_file(&meta).unwrap();
    let files = snapshot(&data);
    let (code, out) = start_expecting_failure(&data, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("no meta.properties") && out.contains("holds data"), "{out}");
    assert_eq!(snapshot(&data), files, "no new cluster id may be written over existing data");

    let garbled: String = original
        .lines()
        .map(|l| if l.starts_with("cluster.id=") { "cluster.id=not a cluster id" } else { l })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&meta, garbled).unwrap();
    let files = snapshot(&data);
    let (code, out) = start_expecting_failure(&data, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("not a Kafka cluster id"), "{out}");
    assert_eq!(snapshot(&data), files);

    std::fs::write(&meta, original).unwrap();
    broker.start_again();
    assert_records_intact(&broker, &before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_header_in_a_sealed_segment_is_kept_and_served_as_corrupt_message() {
    let mut broker = TestBroker::start_with(&["num.partitions=1", "log.segment.bytes=20000"]);
    produce(&broker.bootstrap(), "sealed", 1, 5000).await;
    let before = read_all(&broker.bootstrap(), "sealed", 1);
    broker.stop();
    let dir = broker.data_dir().join("sealed-0");
    let mut segments: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    segments.sort();
    assert!(segments.len() >= 4, "{segments:?}");
    // The second segment, a batch in its middle: its magic byte.
    let victim = &segments[1];
    let bytes = std::fs::read(victim).unwrap();
    let batches = batch_positions(&bytes);
    let (position, _) = batches[batches.len() / 2];
    let mut corrupted = bytes.clone();
    corrupted[position as usize + 16] = 7;
    std::fs::write(victim, &corrupted).unwrap();
    let first_bad_offset = i64::from_be_bytes(bytes[position as usize..][..8].try_into().unwrap());
    let next_segment_base: i64 =
        segments[2].file_stem().unwrap().to_str().unwrap().parse().unwrap();

    broker.start_again();
    assert_eq!(std::fs::read(victim).unwrap(), corrupted, "the corrupt segment must be kept");
    let log = broker.log();
    assert!(
        log.contains("corrupt record batch")
            && log.contains(&format!("position {position}"))
            && log.contains(&victim.file_name().unwrap().to_string_lossy().to_string()),
        "recovery must name the file and position:\n{}",
        broker.log_tail()
    );
    // A consumer reading from the start gets every record before the corruption, then
    // CORRUPT_MESSAGE — never a record beyond the corrupt region without an error.
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("group.id", "corrupt-reader")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("sealed", 0, Offset::Beginning).unwrap();
    consumer.assign(&tpl).unwrap();
    let mut read = 0i64;
    let mut corrupt_seen = false;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !corrupt_seen {
        assert!(Instant::now() < deadline, "read {read} records, no CORRUPT_MESSAGE");
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                assert!(m.offset() < first_bad_offset, "skipped the corruption to {}", m.offset());
                assert_eq!(before[&(0, m.offset())].as_bytes(), m.payload().unwrap());
                read += 1;
            }
            Some(Err(KafkaError::MessageConsumption(RDKafkaErrorCode::InvalidMessage))) => {
                corrupt_seen = true
            }
            Some(Err(e)) => panic!("unexpected consume error: {e}"),
            None => {}
        }
    }
    assert_eq!(read, first_bad_offset, "every record before the corruption is served");
    // Everything after the corrupt segment reads back unchanged.
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("sealed", 0, Offset::Offset(next_segment_base)).unwrap();
    consumer.assign(&tpl).unwrap();
    let mut after = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    while (after as i64) < 5000 - next_segment_base {
        assert!(Instant::now() < deadline, "read {after} records after the corrupt segment");
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            let m = m.unwrap();
            assert_eq!(before[&(0, m.offset())].as_bytes(), m.payload().unwrap());
            after += 1;
        }
    }
    // The log end offset did not move back: new records continue after the old ones.
    let (_, high) = consumer.fetch_watermarks("sealed", 0, Duration::from_secs(10)).unwrap();
    assert_eq!(high, 5000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_partition_directory_is_set_aside_as_stray() {
    let mut broker = TestBroker::start_with(&["num.partitions=1"]);
    produce(&broker.bootstrap(), "known", 1, 100).await;
    broker.stop();
    // A partition directory no metadata names: a copy of a real one under another topic name.
    let data = broker.data_dir();
    let ghost = data.join("ghost-0");
    std::fs::create_dir(&ghost).unwrap();
    for f in files_under(&data.join("known-0")) {
        std::fs::copy(data.join("known-0").join(&f), ghost.join(&f)).unwrap();
    }
    let ghost_files = snapshot(&ghost);

    broker.start_again();
    assert!(!ghost.exists());
    let strays: Vec<PathBuf> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with("-stray"))
        .collect();
    assert_eq!(strays.len(), 1, "{strays:?}");
    assert!(strays[0].file_name().unwrap().to_string_lossy().starts_with("ghost-0."));
    assert_eq!(snapshot(&strays[0]), ghost_files, "a stray directory is kept untouched");
    assert!(broker.log().contains("stray partition directory"), "{}", broker.log_tail());
    assert_eq!(read_all(&broker.bootstrap(), "known", 1).len(), 100);
    // It stays set aside on later starts.
    broker.restart();
    assert!(strays[0].exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_that_fails_on_its_configuration_writes_nothing() {
    let (broker, before) = populated_broker().await;
    let data = broker.data_dir();
    let files = snapshot(&data);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_port = taken.local_addr().unwrap().port();
    let failing: Vec<(&str, Vec<String>)> = vec![
        ("port in use", vec![format!("listeners=PLAINTEXT://127.0.0.1:{taken_port}")]),
        (
            "metrics port in use",
            vec![format!("prometheus.metrics.reporter.listener=http://127.0.0.1:{taken_port}")],
        ),
        (
            "TLS listener without a keystore",
            vec![format!(
                "listeners=PLAINTEXT://127.0.0.1:{},SSL://127.0.0.1:{}",
                free_port(),
                free_port()
            )],
        ),
        ("invalid SCRAM users", vec!["sasl.scram.users=[\"no-mechanism\"]".to_owned()]),
    ];
    let fresh = tempfile::tempdir().unwrap();
    for (what, overrides) in &failing {
        let (code, out) = start_expecting_failure(&data, overrides);
        assert_eq!(code, 1, "{what}: {out}");
        assert_eq!(snapshot(&data), files, "{what}: a failed start changed log.dirs");
        let new_dir = fresh.path().join("never-created");
        let (code, out) = start_expecting_failure(&new_dir, overrides);
        assert_eq!(code, 1, "{what}: {out}");
        assert!(!new_dir.exists(), "{what}: a failed start created log.dirs");
    }
    drop(taken);
    let mut broker = broker;
    broker.start_again();
    assert_records_intact(&broker, &before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producer_ids_are_not_reused_after_the_metadata_log_lost_its_tail() {
    let mut broker = TestBroker::start_with(&["num.partitions=1"]);
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("enable.idempotence", "true")
        .create()
        .unwrap();
    for i in 0..10 {
        let payload = format!("idempotent-{i}");
        producer
            .send(FutureRecord::<str, str>::to("idem").payload(&payload), Duration::from_secs(10))
            .await
            .unwrap();
    }
    drop(producer);
    broker.kill9();
    // The metadata log loses its tail: every batch from the one reserving producer ids on, and
    // the checkpoint that said it was durable (as a disk that lied about fsync would leave it).
    let data = broker.data_dir();
    let log = data.join("__cluster_metadata-0/00000000000000000000.log");
    let bytes = std::fs::read(&log).unwrap();
    let reserving = batch_positions(&bytes)
        .into_iter()
        .find(|(pos, size)| {
            // A ProducerIdsRecord value in Kafka's form: frame version 1, type 15, version 0,
            // then the broker id (node.id 1).
            let batch = &bytes[*pos as usize..(*pos + *size) as usize];
            batch.windows(7).any(|w| w == [1, 15, 0, 0, 0, 0, 1])
        })
        .expect("a batch reserves producer ids");
    std::fs::write(&log, &bytes[..reserving.0 as usize]).unwrap();
    std::fs::remove_file(data.join("recovery-point-offset-checkpoint")).unwrap();

    broker.start_again();
    let response = support::call(
        broker.port,
        4,
        &InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(60_000)
            .with_producer_id(kafka_protocol::messages::ProducerId(-1))
            .with_producer_epoch(-1),
    );
    assert_eq!(response.error_code, 0);
    let producer_id = response.producer_id.0;
    assert!(producer_id > 0, "producer id {producer_id} was already used");
    assert!(broker.log().contains("producer ids"), "{}", broker.log_tail());
}

/// The `__consumer_offsets` partition of `group` among `partitions`, as Kafka computes it:
/// `Utils.abs(groupId.hashCode()) % partitions`, Java's `String.hashCode` over UTF-16 units.
fn offsets_partition(group: &str, partitions: i32) -> i32 {
    let hash = group.encode_utf16().fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32));
    let abs = if hash == i32::MIN { 0 } else { hash.abs() };
    abs % partitions
}

/// The committed offset of `group` for `topic`-0 and its error code, over OffsetFetch v7.
fn committed(port: u16, group: &str, topic: &str) -> (i16, i16, i64) {
    use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
    use kafka_protocol::messages::{GroupId, OffsetFetchRequest, TopicName};
    use kafka_protocol::protocol::StrBytes;
    let request = OffsetFetchRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.into())))
        .with_topics(Some(vec![OffsetFetchRequestTopic::default()
            .with_name(TopicName(StrBytes::from_string(topic.into())))
            .with_partition_indexes(vec![0])]));
    let response = support::call(port, 7, &request);
    let partition = response.topics.first().and_then(|t| t.partitions.first());
    (
        response.error_code,
        partition.map_or(0, |p| p.error_code),
        partition.map_or(-1, |p| p.committed_offset),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_consumer_offsets_batch_fails_only_its_groups_and_is_kept() {
    const NOT_COORDINATOR: i16 = 16;
    let mut broker =
        TestBroker::start_with(&["num.partitions=1", "offsets.topic.num.partitions=2"]);
    produce(&broker.bootstrap(), "t", 1, 20).await;
    // Two groups on different `__consumer_offsets` partitions.
    let damaged = "group-on-the-damaged-partition";
    let healthy = (0..)
        .map(|i| format!("healthy-{i}"))
        .find(|g| offsets_partition(g, 2) != offsets_partition(damaged, 2))
        .unwrap();
    for (group, offset) in [(damaged, 7), (healthy.as_str(), 4)] {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", broker.bootstrap())
            .set("group.id", group)
            .create()
            .unwrap();
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset("t", 0, Offset::Offset(offset)).unwrap();
        consumer.commit(&tpl, rdkafka::consumer::CommitMode::Sync).unwrap();
        assert_eq!(committed(broker.port, group, "t"), (0, 0, offset));
    }
    broker.stop();

    // Bit rot inside the damaged group's commit, below the recovery point (a clean shutdown
    // checkpointed it at the log end): the batch's CRC no longer matches.
    let partition = offsets_partition(damaged, 2);
    let segment = broker
        .data_dir()
        .join(format!("__consumer_offsets-{partition}"))
        .join("00000000000000000000.log");
    let original = std::fs::read(&segment).unwrap();
    let (position, size) = batch_positions(&original)[0];
    let mut corrupted = original.clone();
    corrupted[(position + size - 3) as usize] ^= 0x20;
    std::fs::write(&segment, &corrupted).unwrap();

    broker.start_again();
    let log = broker.log();
    assert!(
        log.contains(&format!("cannot load __consumer_offsets-{partition}")),
        "the failed partition is named:\n{}",
        broker.log_tail()
    );
    // The damaged group is not served an older offset or none: NOT_COORDINATOR, retriable.
    assert_eq!(committed(broker.port, damaged, "t").0, NOT_COORDINATOR);
    // Every other group is served as before.
    assert_eq!(committed(broker.port, &healthy, "t"), (0, 0, 4));
    // Nothing was written over the damaged partition, nor truncated.
    assert_eq!(std::fs::read(&segment).unwrap(), corrupted);
    broker.stop();

    // Repaired, the damaged group's offset is back: nothing was destroyed.
    std::fs::write(&segment, &original).unwrap();
    broker.start_again();
    assert_eq!(committed(broker.port, damaged, "t"), (0, 0, 7));
    assert_eq!(committed(broker.port, &healthy, "t"), (0, 0, 4));
}
