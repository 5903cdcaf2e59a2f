//! Topic configs as Apache Kafka 4.1 defines them, through the real broker binary: every one
//! accepted at its default by librdkafka's CreateTopics, out-of-range values refused,
//! DescribeConfigs sources and synonyms, and the configs that act on produced batches
//! (`compression.type`, `message.timestamp.*`, `max.message.bytes`, `min.insync.replicas`)
//! seen by real librdkafka producers and consumers.

// Drives the real binary from outside, on the OS's clock and threads: broker/clippy.toml's
// determinism rule is for the broker's own code, not for its tests.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::DescribeConfigsResourceResult;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::{alter_configs_request, AlterConfigsRequest};
use kafka_protocol::messages::{create_topics_request, DescribeConfigsRequest};
use kafka_protocol::messages::{
    CreateTopicsRequest, IncrementalAlterConfigsRequest, ProduceRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::admin::{
    AdminClient, AdminOptions, ConfigSource, NewTopic, ResourceSpecifier, TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Timestamp, TopicPartitionList};
use support::{call, TestBroker};

const TIMEOUT: Duration = Duration::from_secs(20);

/// Apache Kafka 4.1's topic configs and their defaults (LogConfig, the generated
/// topic_config.html of 4.1, plus `message.downconversion.enable`, still accepted as a
/// deprecated no-op).
const KAFKA_41_TOPIC_CONFIGS: &[(&str, &str)] = &[
    ("cleanup.policy", "delete"),
    ("compression.gzip.level", "-1"),
    ("compression.lz4.level", "9"),
    ("compression.type", "producer"),
    ("compression.zstd.level", "3"),
    ("delete.retention.ms", "86400000"),
    ("file.delete.delay.ms", "60000"),
    ("flush.messages", "9223372036854775807"),
    ("flush.ms", "9223372036854775807"),
    ("follower.replication.throttled.replicas", ""),
    ("index.interval.bytes", "4096"),
    ("leader.replication.throttled.replicas", ""),
    ("local.retention.bytes", "-2"),
    ("local.retention.ms", "-2"),
    ("max.compaction.lag.ms", "9223372036854775807"),
    ("max.message.bytes", "1048588"),
    ("message.downconversion.enable", "true"),
    ("message.timestamp.after.max.ms", "3600000"),
    ("message.timestamp.before.max.ms", "9223372036854775807"),
    ("message.timestamp.type", "CreateTime"),
    ("min.cleanable.dirty.ratio", "0.5"),
    ("min.compaction.lag.ms", "0"),
    ("min.insync.replicas", "1"),
    ("preallocate", "false"),
    ("remote.log.copy.disable", "false"),
    ("remote.log.delete.on.disable", "false"),
    ("remote.storage.enable", "false"),
    ("retention.bytes", "-1"),
    ("retention.ms", "604800000"),
    ("segment.bytes", "1073741824"),
    ("segment.index.bytes", "10485760"),
    ("segment.jitter.ms", "0"),
    ("segment.ms", "604800000"),
    ("unclean.leader.election.enable", "false"),
];

fn admin(broker: &TestBroker) -> AdminClient<DefaultClientContext> {
    ClientConfig::new().set("bootstrap.servers", broker.bootstrap()).create().expect("admin client")
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_owned())
}

async fn create(broker: &TestBroker, name: &str, configs: &[(&str, &str)]) {
    let mut topic = NewTopic::new(name, 1, TopicReplication::Fixed(1));
    for (k, v) in configs {
        topic = topic.set(k, v);
    }
    let results = admin(broker).create_topics(&[topic], &AdminOptions::new()).await.unwrap();
    assert!(results[0].is_ok(), "create {name} with {configs:?}: {:?}", results[0]);
}

fn producer(broker: &TestBroker, extra: &[(&str, &str)]) -> FutureProducer {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", broker.bootstrap())
        .set("linger.ms", "20")
        .set("message.timeout.ms", "10000");
    for (k, v) in extra {
        config.set(*k, *v);
    }
    config.create().expect("producer")
}

/// An assign-mode consumer of partition 0 of `topic` from the beginning.
fn consumer(broker: &TestBroker, topic: &str) -> BaseConsumer {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("group.id", "topic-configs-test")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, rdkafka::Offset::Beginning).unwrap();
    consumer.assign(&tpl).unwrap();
    consumer
}

fn describe_v4(broker: &TestBroker, topic: &str) -> Vec<DescribeConfigsResourceResult> {
    let request = DescribeConfigsRequest::default()
        .with_include_synonyms(true)
        .with_include_documentation(true)
        .with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(s(topic))]);
    let mut response = call(broker.port, 4, &request);
    let result = response.results.remove(0);
    assert_eq!(result.error_code, 0, "{:?}", result.error_message);
    result.configs
}

fn entry<'a>(
    configs: &'a [DescribeConfigsResourceResult],
    name: &str,
) -> &'a DescribeConfigsResourceResult {
    configs.iter().find(|c| c.name.as_str() == name).unwrap_or_else(|| panic!("{name} described"))
}

/// The attributes of every batch in a partition's first segment file.
fn stored_batch_attributes(broker: &TestBroker, topic: &str) -> Vec<i16> {
    let path = broker.data_dir().join(format!("{topic}-0")).join("00000000000000000000.log");
    let bytes = std::fs::read(&path).unwrap();
    let mut attributes = Vec::new();
    let mut pos = 0;
    while pos + 61 <= bytes.len() {
        let length = i32::from_be_bytes(bytes[pos + 8..pos + 12].try_into().unwrap()) as usize;
        attributes.push(i16::from_be_bytes([bytes[pos + 21], bytes[pos + 22]]));
        pos += 12 + length;
    }
    attributes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_topics_accepts_every_kafka_topic_config_at_its_default() {
    let broker = TestBroker::start();
    // One topic per config, so a refusal names the config, and one with all of them.
    let names: Vec<String> =
        (0..KAFKA_41_TOPIC_CONFIGS.len()).map(|i| format!("default-{i}")).collect();
    let mut topics: Vec<NewTopic> = KAFKA_41_TOPIC_CONFIGS
        .iter()
        .zip(&names)
        .map(|((name, value), topic)| {
            NewTopic::new(topic, 1, TopicReplication::Fixed(1)).set(name, value)
        })
        .collect();
    topics.push(NewTopic::new("no-overrides", 1, TopicReplication::Fixed(1)));
    let mut all = NewTopic::new("all-defaults", 1, TopicReplication::Fixed(1));
    for (name, value) in KAFKA_41_TOPIC_CONFIGS {
        all = all.set(name, value);
    }
    topics.push(all);
    let results = admin(&broker).create_topics(&topics, &AdminOptions::new()).await.unwrap();
    for (result, (name, value)) in results.iter().zip(KAFKA_41_TOPIC_CONFIGS) {
        assert!(result.is_ok(), "{name}={value}: {result:?}");
    }
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");

    // DescribeConfigs lists every one of them with the value it was created with.
    let described = describe_v4(&broker, "all-defaults");
    for (name, value) in KAFKA_41_TOPIC_CONFIGS {
        let e = entry(&described, name);
        assert_eq!(e.value.as_deref(), Some(*value), "{name}");
        assert_eq!(e.config_source, 1, "{name} is a DYNAMIC_TOPIC_CONFIG");
    }
    assert_eq!(described.len(), KAFKA_41_TOPIC_CONFIGS.len());
    // A topic without overrides lists them all but the internal one, from their defaults.
    let described = describe_v4(&broker, "no-overrides");
    assert_eq!(described.len(), KAFKA_41_TOPIC_CONFIGS.len() - 1);
    for (name, value) in KAFKA_41_TOPIC_CONFIGS {
        if *name == "message.downconversion.enable" {
            assert!(described.iter().all(|c| c.name.as_str() != *name), "internal: not listed");
            continue;
        }
        let e = entry(&described, name);
        assert_eq!(e.value.as_deref(), Some(*value), "{name}");
        assert_eq!(e.config_source, 5, "{name} is a DEFAULT_CONFIG");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_range_values_and_missing_features_are_refused_with_invalid_config() {
    let broker = TestBroker::start();
    let bad: &[(&str, &str)] = &[
        ("cleanup.policy", "compact"),
        ("cleanup.policy", "delete,compact"),
        ("cleanup.policy", "forever"),
        ("compression.type", "brotli"),
        ("compression.gzip.level", "0"),
        ("compression.lz4.level", "18"),
        ("compression.zstd.level", "23"),
        ("delete.retention.ms", "-1"),
        ("flush.messages", "0"),
        ("leader.replication.throttled.replicas", "0-1"),
        ("local.retention.ms", "-3"),
        ("max.compaction.lag.ms", "0"),
        ("max.message.bytes", "-1"),
        ("message.timestamp.type", "createtime"),
        ("message.timestamp.after.max.ms", "-1"),
        ("min.cleanable.dirty.ratio", "1.5"),
        ("min.insync.replicas", "0"),
        ("preallocate", "yes"),
        ("remote.storage.enable", "true"),
        ("retention.ms", "-2"),
        ("segment.bytes", "1048575"),
        ("segment.index.bytes", "3"),
        ("segment.ms", "0"),
        ("message.format.version", "3.0"),
        ("retention.millis", "1000"),
    ];
    let names: Vec<String> = (0..bad.len()).map(|i| format!("bad-{i}")).collect();
    let topics: Vec<NewTopic> = bad
        .iter()
        .zip(&names)
        .map(|((name, value), topic)| {
            NewTopic::new(topic, 1, TopicReplication::Fixed(1)).set(name, value)
        })
        .collect();
    let results = admin(&broker).create_topics(&topics, &AdminOptions::new()).await.unwrap();
    for (result, (name, value)) in results.iter().zip(bad) {
        assert_eq!(
            result.as_ref().map_err(|e| e.1),
            Err(RDKafkaErrorCode::InvalidConfig),
            "{name}={value}"
        );
    }
    // min.compaction.lag.ms above max.compaction.lag.ms conflicts, as in Kafka.
    let conflict = NewTopic::new("lags", 1, TopicReplication::Fixed(1))
        .set("min.compaction.lag.ms", "10")
        .set("max.compaction.lag.ms", "5");
    let results = admin(&broker).create_topics(&[conflict], &AdminOptions::new()).await.unwrap();
    assert_eq!(results[0].as_ref().map_err(|e| e.1), Err(RDKafkaErrorCode::InvalidConfig));

    // The error message says what is missing.
    let message = |name: &str, value: &str| {
        let request = CreateTopicsRequest::default().with_timeout_ms(5000).with_topics(vec![
            create_topics_request::CreatableTopic::default()
                .with_name(TopicName(s("msg")))
                .with_num_partitions(1)
                .with_replication_factor(1)
                .with_configs(vec![create_topics_request::CreatableTopicConfig::default()
                    .with_name(s(name))
                    .with_value(Some(s(value)))]),
        ]);
        let topic = call(broker.port, 7, &request).topics.remove(0);
        assert_eq!(topic.error_code, 40, "{name}={value} is INVALID_CONFIG");
        topic.error_message.unwrap().to_string()
    };
    let compact = message("cleanup.policy", "compact");
    assert!(compact.contains("log compaction is not implemented"), "{compact}");
    let tiered = message("remote.storage.enable", "true");
    assert!(tiered.contains("tiered storage is not implemented"), "{tiered}");
    let range = message("segment.bytes", "1024");
    assert!(range.contains("at least 1048576"), "{range}");
    let removed = message("message.timestamp.difference.max.ms", "1000");
    assert!(removed.contains("message.timestamp.before.max.ms"), "{removed}");

    // Altering to a missing feature is refused the same way, and the topic keeps its policy.
    create(&broker, "plain", &[]).await;
    let alter = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(s("plain"))
            .with_configs(vec![AlterableConfig::default()
                .with_name(s("cleanup.policy"))
                .with_config_operation(2) // APPEND
                .with_value(Some(s("compact")))]),
    ]);
    let response = call(broker.port, 1, &alter).responses.remove(0);
    assert_eq!(response.error_code, 40, "INVALID_CONFIG");
    let message = response.error_message.unwrap().to_string();
    assert!(message.contains("log compaction is not implemented"), "{message}");
    assert_eq!(
        entry(&describe_v4(&broker, "plain"), "cleanup.policy").value.as_deref(),
        Some("delete")
    );
    // The legacy AlterConfigs (librdkafka's alter_configs) refuses it too.
    let legacy = AlterConfigsRequest::default().with_resources(vec![
        alter_configs_request::AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(s("plain"))
            .with_configs(vec![alter_configs_request::AlterableConfig::default()
                .with_name(s("cleanup.policy"))
                .with_value(Some(s("compact")))]),
    ]);
    assert_eq!(call(broker.port, 1, &legacy).responses[0].error_code, 40, "INVALID_CONFIG");

    // APPEND and SUBTRACT take list configs only, starting from Kafka's default.
    let incremental = |name: &str, operation: i8, value: &str| {
        let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(s("plain"))
                .with_configs(vec![AlterableConfig::default()
                    .with_name(s(name))
                    .with_config_operation(operation)
                    .with_value(Some(s(value)))]),
        ]);
        call(broker.port, 1, &request).responses.remove(0).error_code
    };
    assert_eq!(incremental("leader.replication.throttled.replicas", 2, "0:1"), 0);
    assert_eq!(incremental("leader.replication.throttled.replicas", 2, "1:1"), 0);
    assert_eq!(incremental("leader.replication.throttled.replicas", 3, "0:1"), 0);
    let throttled = describe_v4(&broker, "plain");
    let throttled = entry(&throttled, "leader.replication.throttled.replicas");
    assert_eq!((throttled.value.as_deref(), throttled.config_source), (Some("1:1"), 1));
    assert_eq!(incremental("retention.ms", 2, "1000"), 40, "retention.ms is not a list");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_configs_reports_sources_and_synonyms_as_kafka_does() {
    let broker = TestBroker::start_with(&["log.retention.bytes=1000", "log.roll.ms=3600000"]);
    create(&broker, "described", &[("retention.ms", "60000"), ("min.insync.replicas", "1")]).await;

    // librdkafka sees the three sources.
    let described = admin(&broker)
        .describe_configs(&[ResourceSpecifier::Topic("described")], &AdminOptions::new())
        .await
        .unwrap();
    let config = described[0].as_ref().unwrap();
    let source = |name: &str| &config.get(name).unwrap_or_else(|| panic!("{name}")).source;
    assert!(matches!(source("retention.ms"), ConfigSource::DynamicTopic));
    assert!(matches!(source("retention.bytes"), ConfigSource::StaticBroker));
    assert!(matches!(source("segment.ms"), ConfigSource::StaticBroker));
    assert!(matches!(source("compression.type"), ConfigSource::Default));
    assert_eq!(config.get("retention.bytes").unwrap().value.as_deref(), Some("1000"));
    assert!(config.entries.iter().all(|e| !e.is_read_only && !e.is_sensitive));

    // Synonyms: the topic override, then the broker property, then Kafka's default.
    let configs = describe_v4(&broker, "described");
    let synonyms = |name: &str| -> Vec<(String, String, i8)> {
        entry(&configs, name)
            .synonyms
            .iter()
            .map(|s| (s.name.to_string(), s.value.as_deref().unwrap_or("").to_owned(), s.source))
            .collect()
    };
    let owned = |v: &[(&str, &str, i8)]| -> Vec<(String, String, i8)> {
        v.iter().map(|(n, v, s)| (n.to_string(), v.to_string(), *s)).collect()
    };
    assert_eq!(
        synonyms("retention.bytes"),
        owned(&[("log.retention.bytes", "1000", 4), ("log.retention.bytes", "-1", 5)])
    );
    assert_eq!(
        synonyms("segment.ms"),
        owned(&[("log.roll.ms", "3600000", 4), ("log.roll.hours", "168", 5)])
    );
    // Kafka lists no broker synonym for retention.ms unless log.retention.ms itself is set.
    assert_eq!(synonyms("retention.ms"), owned(&[("retention.ms", "60000", 1)]));
    assert_eq!(
        synonyms("min.insync.replicas"),
        owned(&[("min.insync.replicas", "1", 1), ("min.insync.replicas", "1", 5)])
    );
    assert_eq!(synonyms("compression.type"), owned(&[("compression.type", "producer", 5)]));
    assert!(synonyms("leader.replication.throttled.replicas").is_empty());
    assert_eq!(entry(&configs, "leader.replication.throttled.replicas").config_source, 5);
    // Types (BOOLEAN 1, STRING 2, INT 3, LONG 5, DOUBLE 6, LIST 7) and documentation (v3+).
    for (name, config_type) in [
        ("preallocate", 1),
        ("compression.type", 2),
        ("segment.bytes", 3),
        ("retention.ms", 5),
        ("min.cleanable.dirty.ratio", 6),
        ("cleanup.policy", 7),
    ] {
        assert_eq!(entry(&configs, name).config_type, config_type, "{name}");
    }
    assert!(configs.iter().all(|c| c.documentation.as_ref().is_some_and(|d| !d.is_empty())));
}

/// Produces `count` keyed records with two headers of the same key, waiting for every
/// delivery; all are queued first, so librdkafka batches them.
async fn produce_records(producer: &FutureProducer, topic: &str, count: usize) {
    let deliveries: Vec<_> = (0..count)
        .map(|i| {
            let headers = OwnedHeaders::new()
                .insert(Header { key: "h", value: Some("1") })
                .insert(Header { key: "h", value: Some("2") });
            let (key, payload) = (format!("key-{i}"), format!("{VALUE}{i}"));
            let record = FutureRecord::to(topic).key(&key).payload(&payload).headers(headers);
            producer.send_result(record).map_err(|(e, _)| e).expect("queued")
        })
        .collect();
    for delivery in deliveries {
        delivery.await.expect("not cancelled").map_err(|(e, _)| e).expect("delivered");
    }
}

const VALUE: &str = "a compressible value, a compressible value, a compressible value ";

/// Reads `count` records of `topic` with an rdkafka consumer, checking keys, values and that
/// both headers (same key) survived: records are never re-encoded.
fn read_back_with_rdkafka(broker: &TestBroker, topic: &str, count: usize) {
    let consumer = consumer(broker, topic);
    let deadline = Instant::now() + TIMEOUT;
    let mut seen = 0;
    while seen < count {
        assert!(Instant::now() < deadline, "{topic}: only {seen} of {count} records read back");
        let Some(message) = consumer.poll(Duration::from_millis(100)) else { continue };
        let m = message.unwrap_or_else(|e| panic!("{topic}: {e}"));
        assert_eq!(m.offset(), seen as i64);
        assert_eq!(m.key(), Some(format!("key-{seen}").as_bytes()));
        assert_eq!(m.payload(), Some(format!("{VALUE}{seen}").as_bytes()));
        let headers = m.headers().expect("headers");
        let values: Vec<&[u8]> = headers.iter().map(|h| h.value.unwrap()).collect();
        assert_eq!(values, [b"1", b"2"], "{topic}");
        seen += 1;
    }
}

/// Reads `count` records of `topic` with kcat (Debian's librdkafka 2.0, built with gzip and
/// zstd, which this workspace's librdkafka is not); `false` where kcat is not installed.
fn read_back_with_kcat(broker: &TestBroker, topic: &str, count: usize) -> bool {
    let output = match std::process::Command::new("kcat")
        .args(["-b", &broker.bootstrap(), "-C", "-t", topic, "-o", "beginning", "-e"])
        .args(["-f", "%o %k %s %h\n"])
        .output()
    {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && std::env::var_os("CI").is_none() => {
            eprintln!("SKIPPED: kcat is not installed (apt-get install -y kcat); scripts/test installs it");
            return false;
        }
        Err(e) => panic!("cannot run kcat: {e}"),
    };
    assert!(output.status.success(), "kcat: {}", String::from_utf8_lossy(&output.stderr));
    let lines: Vec<String> =
        String::from_utf8(output.stdout).unwrap().lines().map(str::to_owned).collect();
    let expected: Vec<String> =
        (0..count).map(|i| format!("{i} key-{i} {VALUE}{i} h=1,h=2")).collect();
    assert_eq!(lines, expected, "{topic} read back by kcat");
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recompressed_topics_are_read_back_by_librdkafka_consumers() {
    let broker = TestBroker::start();
    let codecs = [("zstd", 4), ("gzip", 1), ("lz4", 3), ("snappy", 2), ("uncompressed", 0)];
    for (codec, _) in codecs {
        create(&broker, codec, &[("compression.type", codec)]).await;
    }
    create(&broker, "as-produced", &[]).await;
    // The producer sends uncompressed batches; the topics store them in their codec.
    let plain = producer(&broker, &[("compression.codec", "none")]);
    for (codec, _) in &codecs[..4] {
        produce_records(&plain, codec, 200).await;
    }
    // An lz4 producer: `uncompressed` decompresses, `producer` (the default) keeps lz4.
    let lz4 = producer(&broker, &[("compression.codec", "lz4")]);
    produce_records(&lz4, "uncompressed", 200).await;
    produce_records(&lz4, "as-produced", 200).await;

    for (codec, id) in codecs.iter().copied().chain([("as-produced", 3)]) {
        let segment = broker.data_dir().join(format!("{codec}-0/00000000000000000000.log"));
        eprintln!(
            "{codec}: 200 records stored in {} bytes",
            std::fs::metadata(segment).unwrap().len()
        );
        let attributes = stored_batch_attributes(&broker, codec);
        assert!(!attributes.is_empty(), "{codec}");
        assert!(attributes.iter().all(|a| a & 0x7 == id), "{codec} batches: {attributes:?}");
    }
    // This workspace's librdkafka has lz4 and snappy built in.
    for topic in ["lz4", "snappy", "uncompressed", "as-produced"] {
        read_back_with_rdkafka(&broker, topic, 200);
    }
    for topic in ["zstd", "gzip"] {
        read_back_with_kcat(&broker, topic, 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_append_time_topic_stamps_batches_with_the_broker_clock() {
    let broker = TestBroker::start();
    create(&broker, "stamped", &[("message.timestamp.type", "LogAppendTime")]).await;
    let producer = producer(&broker, &[]);
    let before = now_ms();
    let hour_ago = before - 3_600_000;
    for i in 0..3 {
        producer
            .send(
                FutureRecord::to("stamped").payload(&format!("v{i}")).key("k").timestamp(hour_ago),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(e, _)| e)
            .expect("delivered");
    }
    let after = now_ms();
    let consumer = consumer(&broker, "stamped");
    let deadline = Instant::now() + TIMEOUT;
    let mut seen = 0;
    while seen < 3 {
        assert!(Instant::now() < deadline, "only {seen} of 3 records read back");
        let Some(message) = consumer.poll(Duration::from_millis(100)) else { continue };
        match message.expect("consume").timestamp() {
            Timestamp::LogAppendTime(t) => {
                assert!((before..=after).contains(&t), "{t} not within [{before}, {after}]")
            }
            other => panic!("expected a LogAppendTime timestamp, got {other:?}"),
        }
        seen += 1;
    }
    assert!(stored_batch_attributes(&broker, "stamped").iter().all(|a| a & 0x8 != 0));

    // The produce response carries the append time.
    let batch = kafka_lab_broker::internal_records::encode_batch(
        &[(None, Some(bytes::Bytes::from_static(b"raw")))],
        hour_ago,
    );
    let response = call(broker.port, 9, &produce_request("stamped", batch.freeze(), -1));
    let partition = &response.responses[0].partition_responses[0];
    assert_eq!(partition.error_code, 0);
    assert!(partition.log_append_time_ms >= after, "{}", partition.log_append_time_ms);
}

fn produce_request(topic: &str, batch: bytes::Bytes, acks: i16) -> ProduceRequest {
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    ProduceRequest::default().with_acks(acks).with_timeout_ms(5000).with_topic_data(vec![
        TopicProduceData::default().with_name(TopicName(s(topic))).with_partition_data(vec![
            PartitionProduceData::default().with_index(0).with_records(Some(batch)),
        ]),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timestamps_outside_the_topics_bounds_are_rejected() {
    let broker = TestBroker::start();
    create(&broker, "recent", &[("message.timestamp.before.max.ms", "60000")]).await;
    create(&broker, "defaults", &[]).await;
    let producer = producer(&broker, &[("retries", "0")]);
    let send = |topic: &'static str, timestamp: i64| {
        let producer = producer.clone();
        async move {
            producer
                .send(
                    FutureRecord::to(topic).payload("v").key("k").timestamp(timestamp),
                    Duration::from_secs(10),
                )
                .await
                .map(|_| ())
                .map_err(|(e, _)| e)
        }
    };
    let invalid = Err(KafkaError::MessageProduction(RDKafkaErrorCode::InvalidTimestamp));
    assert_eq!(send("recent", now_ms() - 3_600_000).await, invalid, "an hour old, bound 1 min");
    assert_eq!(send("recent", now_ms()).await, Ok(()));
    // Kafka 4's default message.timestamp.after.max.ms is one hour.
    assert_eq!(send("defaults", now_ms() + 2 * 3_600_000).await, invalid, "two hours ahead");
    assert_eq!(send("defaults", now_ms() - 30 * 24 * 3_600_000).await, Ok(()), "old is fine");

    // ProduceResponse v8+ names the records and the bounds.
    let batch = kafka_lab_broker::internal_records::encode_batch(
        &[(None, Some(bytes::Bytes::from_static(b"old")))],
        now_ms() - 3_600_000,
    );
    let response = call(broker.port, 9, &produce_request("recent", batch.freeze(), 1));
    let partition = &response.responses[0].partition_responses[0];
    assert_eq!(partition.error_code, 32, "INVALID_TIMESTAMP");
    assert_eq!(partition.record_errors.len(), 1);
    let message = partition.record_errors[0].batch_index_error_message.as_deref().unwrap();
    assert!(message.contains("is out of range"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_message_bytes_and_min_insync_replicas_apply_to_produce() {
    let broker = TestBroker::start();
    create(&broker, "small", &[("max.message.bytes", "200")]).await;
    create(&broker, "durable", &[("min.insync.replicas", "2")]).await;
    let big = kafka_lab_broker::internal_records::encode_batch(
        &[(None, Some(bytes::Bytes::from(vec![7u8; 300])))],
        now_ms(),
    );
    let response = call(broker.port, 9, &produce_request("small", big.freeze(), 1));
    assert_eq!(response.responses[0].partition_responses[0].error_code, 10, "MESSAGE_TOO_LARGE");

    let batch = || {
        kafka_lab_broker::internal_records::encode_batch(
            &[(None, Some(bytes::Bytes::from_static(b"v")))],
            now_ms(),
        )
        .freeze()
    };
    // One broker is the whole ISR: acks=all needs min.insync.replicas <= 1.
    let response = call(broker.port, 9, &produce_request("durable", batch(), -1));
    assert_eq!(response.responses[0].partition_responses[0].error_code, 19, "NOT_ENOUGH_REPLICAS");
    let response = call(broker.port, 9, &produce_request("durable", batch(), 1));
    assert_eq!(response.responses[0].partition_responses[0].error_code, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_properties_are_the_defaults_of_topic_configs() {
    let broker = TestBroker::start_with(&[
        "compression.type=lz4",
        "log.message.timestamp.type=LogAppendTime",
    ]);
    create(&broker, "inherits", &[]).await;
    let configs = describe_v4(&broker, "inherits");
    let compression = entry(&configs, "compression.type");
    assert_eq!((compression.value.as_deref(), compression.config_source), (Some("lz4"), 4));
    let synonyms: Vec<(&str, &str, i8)> = compression
        .synonyms
        .iter()
        .map(|s| (s.name.as_str(), s.value.as_deref().unwrap(), s.source))
        .collect();
    assert_eq!(synonyms, [("compression.type", "lz4", 4), ("compression.type", "producer", 5)]);
    let batch = kafka_lab_broker::internal_records::encode_batch(
        &[(None, Some(bytes::Bytes::from_static(b"v")))],
        now_ms(),
    );
    let response = call(broker.port, 9, &produce_request("inherits", batch.freeze(), 1));
    assert_eq!(response.responses[0].partition_responses[0].error_code, 0);
    assert_eq!(stored_batch_attributes(&broker, "inherits"), [0x8 | 3], "lz4, LogAppendTime");
}
