//! The real clients checkers use: librdkafka through the `rdkafka` crate, configured as a
//! learner would configure kcat or confluent-kafka for each listener and identity.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

use crate::lab::{Lab, User};

/// How long one client operation may take before the checker gives up on it.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// One way into the broker: a listener and the identity used on it.
#[derive(Debug, Clone)]
pub struct Access {
    /// Who and how, for messages: `user alice over SASL_SSL`.
    pub label: String,
    settings: Vec<(String, String)>,
}

impl Access {
    /// `User:ANONYMOUS` on the PLAINTEXT listener.
    pub fn plaintext(lab: &Lab) -> Self {
        Access {
            label: "an anonymous client over PLAINTEXT".into(),
            settings: vec![
                ("bootstrap.servers".into(), lab.config.listeners.plaintext.clone()),
                ("security.protocol".into(), "PLAINTEXT".into()),
            ],
        }
    }

    /// The SSL listener, trusting the lab CA, with `certificate`'s client certificate if any.
    pub fn ssl(lab: &Lab, certificate: Option<&str>) -> Self {
        let mut settings = vec![
            ("bootstrap.servers".into(), lab.config.listeners.ssl.clone()),
            ("security.protocol".into(), "SSL".into()),
            ("ssl.ca.location".into(), lab.tls_file("ca.crt").display().to_string()),
        ];
        let label = match certificate {
            Some(name) => {
                settings.push((
                    "ssl.certificate.location".into(),
                    lab.tls_file(&format!("{name}.crt")).display().to_string(),
                ));
                settings.push((
                    "ssl.key.location".into(),
                    lab.tls_file(&format!("{name}.key")).display().to_string(),
                ));
                format!("{name}'s client certificate over SSL")
            }
            None => "a client without a certificate over SSL".into(),
        };
        Access { label, settings }
    }

    /// The SASL_SSL listener as `user` with `password`, trusting the lab CA.
    pub fn sasl_ssl(lab: &Lab, user: &User, password: &str) -> Self {
        Access {
            label: format!("user {} ({}) over SASL_SSL", user.name, user.mechanism),
            settings: vec![
                ("bootstrap.servers".into(), lab.config.listeners.sasl_ssl.clone()),
                ("security.protocol".into(), "SASL_SSL".into()),
                ("ssl.ca.location".into(), lab.tls_file("ca.crt").display().to_string()),
                ("sasl.mechanism".into(), user.mechanism.clone()),
                ("sasl.username".into(), user.name.clone()),
                ("sasl.password".into(), password.into()),
            ],
        }
    }

    /// `user` with their own password from `lab.yaml`.
    pub fn user(lab: &Lab, name: &str) -> Self {
        let user = lab.user(name);
        Self::sasl_ssl(lab, user, &user.password)
    }

    /// The same access with one more librdkafka property.
    pub fn with(mut self, key: &str, value: &str) -> Self {
        self.settings.push((key.into(), value.into()));
        self
    }

    /// A librdkafka configuration for this access.
    pub fn config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        for (k, v) in &self.settings {
            config.set(k, v);
        }
        config.set("socket.timeout.ms", "5000");
        config.set("log_level", "0");
        config
    }
}

/// Keeps the errors librdkafka reports through its error callback (authentication and TLS
/// failures arrive there; the request itself only sees a timeout).
#[derive(Default)]
pub struct Recording {
    errors: Mutex<Vec<String>>,
    delivered: Mutex<Vec<Result<(), String>>>,
    /// When each acknowledgement arrived.
    acknowledged_at: Mutex<Vec<Instant>>,
    max_throttle_ms: Mutex<i64>,
}

impl Recording {
    fn first_error(&self) -> Option<String> {
        self.errors.lock().unwrap().first().cloned()
    }
}

impl ClientContext for Recording {
    fn error(&self, error: KafkaError, reason: &str) {
        self.errors.lock().unwrap().push(format!("{error}: {reason}"));
    }

    fn stats(&self, statistics: Statistics) {
        let throttle = statistics
            .brokers
            .values()
            .filter_map(|b| b.throttle.as_ref().map(|w| w.max))
            .max()
            .unwrap_or(0);
        let mut max = self.max_throttle_ms.lock().unwrap();
        *max = (*max).max(throttle);
    }
}

impl ConsumerContext for Recording {}

impl ProducerContext for Recording {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        let outcome = result.as_ref().map(|_| ()).map_err(|(e, _)| e.to_string());
        if outcome.is_ok() {
            self.acknowledged_at.lock().unwrap().push(Instant::now());
        }
        self.delivered.lock().unwrap().push(outcome);
    }
}

/// Fetches metadata; `None` when it works, otherwise what went wrong (the request's error and
/// the client's reported errors).
pub fn metadata_error(access: &Access) -> Option<String> {
    let consumer: BaseConsumer<Recording> =
        match access.config().create_with_context(Recording::default()) {
            Ok(c) => c,
            Err(e) => return Some(format!("client configuration rejected: {e}")),
        };
    // Short attempts: librdkafka keeps retrying a failed authentication until the request
    // times out, but reports the failure through the error callback at once.
    let mut error = None;
    for _ in 0..7 {
        match consumer.fetch_metadata(None, Duration::from_secs(1)) {
            Ok(_) => return None,
            Err(e) => error = Some(e),
        }
        consumer.poll(Duration::from_millis(50));
        if consumer.context().first_error().is_some() {
            break;
        }
    }
    let error = error?;
    Some(match consumer.context().first_error() {
        Some(reported) => format!("{error}; {reported}"),
        None => error.to_string(),
    })
}

/// Produces `count` records of `size` bytes to `topic` and waits for every acknowledgement.
pub fn produce(access: &Access, topic: &str, count: usize, size: usize) -> Result<(), String> {
    let producer: BaseProducer<Recording> = access
        .config()
        .set("acks", "all")
        .set("message.timeout.ms", TIMEOUT.as_millis().to_string())
        .create_with_context(Recording::default())
        .map_err(|e| format!("client configuration rejected: {e}"))?;
    let payload = vec![b'x'; size];
    for _ in 0..count {
        let mut record = BaseRecord::to(topic).payload(&payload[..]).key("lab");
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    producer.poll(Duration::from_millis(50));
                }
                Err((e, _)) => return Err(e.to_string()),
            }
        }
    }
    let deadline = Instant::now() + TIMEOUT + Duration::from_secs(2);
    while producer.context().delivered.lock().unwrap().len() < count {
        if Instant::now() > deadline {
            return Err(producer
                .context()
                .first_error()
                .unwrap_or_else(|| "no acknowledgement within the timeout".into()));
        }
        producer.poll(Duration::from_millis(50));
    }
    let delivered = producer.context().delivered.lock().unwrap();
    match delivered.iter().find_map(|r| r.as_ref().err()) {
        Some(error) => Err(error.clone()),
        None => Ok(()),
    }
}

/// What a timed production measured.
#[derive(Debug, Clone, Copy)]
pub struct Throughput {
    /// Acknowledged bytes per second of record values.
    pub bytes_per_second: f64,
    /// The largest throttle time librdkafka reported, in milliseconds.
    pub max_throttle_ms: i64,
}

/// Produces `size`-byte records to `topic` as fast as the broker lets it for `duration` and
/// measures the rate acknowledged within it; what is still queued then is purged. Statistics
/// every 500 ms catch librdkafka's throttle window.
pub fn produce_for(
    access: &Access,
    topic: &str,
    duration: Duration,
    size: usize,
) -> Result<Throughput, String> {
    let producer: BaseProducer<Recording> = access
        .config()
        .set("acks", "1")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "30000")
        .set("queue.buffering.max.kbytes", "1024")
        // Small requests, one at a time: each throttle period then covers one small request,
        // so acknowledgements arrive evenly rather than in multi-megabyte bursts.
        .set("batch.size", "65536")
        .set("max.in.flight.requests.per.connection", "1")
        .set("statistics.interval.ms", "500")
        .create_with_context(Recording::default())
        .map_err(|e| format!("client configuration rejected: {e}"))?;
    let payload = vec![b'q'; size];
    let start = Instant::now();
    let end = start + duration;
    let mut sent = 0usize;
    while Instant::now() < end {
        match producer.send(BaseRecord::<(), [u8]>::to(topic).payload(&payload[..])) {
            Ok(()) => sent += 1,
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {}
            Err((e, _)) => return Err(e.to_string()),
        }
        producer.poll(Duration::from_millis(if sent % 16 == 0 { 1 } else { 0 }));
    }
    let context = producer.context();
    let acknowledged =
        context.acknowledged_at.lock().unwrap().iter().filter(|at| **at < end).count();
    // Whatever is still queued is dropped: only the rate inside the window counts.
    producer.purge(rdkafka::producer::PurgeConfig::default().queue().inflight());
    producer.poll(Duration::from_millis(600));
    if let Some(error) = context.delivered.lock().unwrap().iter().find_map(|r| match r {
        Err(e) if !e.contains("Purged") => Some(e.clone()),
        _ => None,
    }) {
        return Err(error);
    }
    let max_throttle_ms = *context.max_throttle_ms.lock().unwrap();
    Ok(Throughput {
        bytes_per_second: (acknowledged * size) as f64 / duration.as_secs_f64(),
        max_throttle_ms,
    })
}

/// Reads `topic` from the beginning until `at_least` records (or `bytes` of values) arrived.
/// With a `group` it subscribes and commits, as an application would; without one it assigns
/// every partition (no group, so no group ACL is involved).
pub fn consume(
    access: &Access,
    topic: &str,
    group: Option<&str>,
    at_least: usize,
) -> Result<Throughput, String> {
    let mut config = access.config();
    config
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        .set("statistics.interval.ms", "500");
    // librdkafka's consumer cannot assign without a group.id, and looks up that group's
    // coordinator even when it never joins; a reader without group ACLs gets
    // GROUP_AUTHORIZATION_FAILED for it, which says nothing about reading the topic.
    config.set("group.id", group.unwrap_or("kafka-lab-checker")).set("enable.auto.commit", "false");
    let consumer: BaseConsumer<Recording> = config
        .create_with_context(Recording::default())
        .map_err(|e| format!("client configuration rejected: {e}"))?;
    if group.is_some() {
        consumer.subscribe(&[topic]).map_err(|e| e.to_string())?;
    } else {
        let metadata = consumer.fetch_metadata(Some(topic), TIMEOUT).map_err(|e| e.to_string())?;
        let partitions = metadata.topics().first().map(|t| t.partitions().len()).unwrap_or(0);
        if let Some(error) = metadata.topics().first().and_then(|t| t.error()) {
            return Err(format!("{:?}", RDKafkaErrorCode::from(error)));
        }
        let mut list = TopicPartitionList::new();
        for p in 0..partitions as i32 {
            list.add_partition_offset(topic, p, Offset::Beginning).map_err(|e| e.to_string())?;
        }
        consumer.assign(&list).map_err(|e| e.to_string())?;
    }
    let start = Instant::now();
    let deadline = start + TIMEOUT * 2;
    let (mut count, mut bytes) = (0usize, 0usize);
    while count < at_least {
        if Instant::now() > deadline {
            // A throttled fetch comes back empty (Kafka's fetch quota): report the throttling.
            let max_throttle_ms = *consumer.context().max_throttle_ms.lock().unwrap();
            if max_throttle_ms > 0 {
                let bytes_per_second = bytes as f64 / start.elapsed().as_secs_f64();
                return Ok(Throughput { bytes_per_second, max_throttle_ms });
            }
            return Err(consumer.context().first_error().unwrap_or_else(|| {
                format!("only {count} of {at_least} records arrived within {:?}", TIMEOUT * 2)
            }));
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                count += 1;
                bytes += message.payload().map_or(0, <[u8]>::len);
            }
            Some(Err(e)) if group.is_none() && is_group_error(&e.to_string()) => {}
            Some(Err(e)) => return Err(e.to_string()),
            None => {}
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    if group.is_some() {
        consumer
            .commit_consumer_state(rdkafka::consumer::CommitMode::Sync)
            .map_err(|e| format!("commit failed: {e}"))?;
    }
    consumer.poll(Duration::from_millis(600));
    let max_throttle_ms = *consumer.context().max_throttle_ms.lock().unwrap();
    Ok(Throughput { bytes_per_second: bytes as f64 / elapsed, max_throttle_ms })
}

/// Creates `topic` (one partition) unless it exists, through librdkafka's admin API.
pub fn ensure_topic(access: &Access, topic: &str) -> Result<(), String> {
    let admin: AdminClient<DefaultClientContext> =
        access.config().create().map_err(|e| format!("client configuration rejected: {e}"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let new = NewTopic::new(topic, 1, TopicReplication::Fixed(1));
    let options = AdminOptions::new().operation_timeout(Some(TIMEOUT));
    let results =
        runtime.block_on(admin.create_topics([&new], &options)).map_err(|e| e.to_string())?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => return Err(format!("creating topic {name}: {code}")),
        }
    }
    Ok(())
}

fn is_group_error(error: &str) -> bool {
    error.contains("FindCoordinator") || error.contains("Group authorization failed")
}

/// Whether an error text says the broker refused for lack of permission.
pub fn is_authorization_error(error: &str) -> bool {
    error.contains("authorization failed") || error.contains("AuthorizationFailed")
}

impl Access {
    /// An anonymous PLAINTEXT client of the cluster at `bootstrap_servers` (a comma-separated
    /// list): the course modules without security.
    pub fn bootstrap(bootstrap_servers: &str) -> Self {
        Access {
            label: format!("a client of {bootstrap_servers}"),
            settings: vec![
                ("bootstrap.servers".into(), bootstrap_servers.into()),
                ("security.protocol".into(), "PLAINTEXT".into()),
            ],
        }
    }
}

/// One record as a checker read it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadRecord {
    pub partition: i32,
    pub offset: i64,
    /// The key's bytes; `None` for a record without a key.
    pub key: Option<Vec<u8>>,
    /// The value's bytes; `None` for a tombstone.
    pub value: Option<Vec<u8>>,
}

/// Reads every partition of `topic` from its log start offset up to the high watermark it had
/// when the read began (no group: partitions are assigned, nothing is committed).
pub fn read_topic(access: &Access, topic: &str) -> Result<Vec<ReadRecord>, String> {
    read_partitions(access, topic, None)
}

/// [`read_topic`] for one partition only (`Some`) or all of them (`None`); records in offset
/// order within each partition.
pub fn read_partitions(
    access: &Access,
    topic: &str,
    only: Option<i32>,
) -> Result<Vec<ReadRecord>, String> {
    let consumer: BaseConsumer<Recording> = access
        .config()
        .set("group.id", "kafka-lab-checker")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .create_with_context(Recording::default())
        .map_err(|e| format!("client configuration rejected: {e}"))?;
    let metadata = consumer.fetch_metadata(Some(topic), TIMEOUT).map_err(|e| e.to_string())?;
    let partitions = match metadata.topics().first() {
        Some(t) if t.error().is_none() => t.partitions().len() as i32,
        Some(t) => return Err(format!("{:?}", RDKafkaErrorCode::from(t.error().unwrap()))),
        None => 0,
    };
    let mut list = TopicPartitionList::new();
    let mut ends = Vec::new();
    for p in (0..partitions).filter(|p| only.is_none_or(|o| o == *p)) {
        let (low, high) =
            consumer.fetch_watermarks(topic, p, TIMEOUT).map_err(|e| e.to_string())?;
        if high > low {
            list.add_partition_offset(topic, p, Offset::Offset(low)).map_err(|e| e.to_string())?;
            ends.push((p, high));
        }
    }
    let mut records = Vec::new();
    if ends.is_empty() {
        return Ok(records);
    }
    consumer.assign(&list).map_err(|e| e.to_string())?;
    let mut next: std::collections::BTreeMap<i32, i64> = std::collections::BTreeMap::new();
    let deadline = Instant::now() + TIMEOUT * 2;
    while ends.iter().any(|(p, high)| next.get(p).copied().unwrap_or(0) < *high) {
        if Instant::now() > deadline {
            return Err(format!(
                "could not read topic {topic} up to its end within {:?}",
                TIMEOUT * 2
            ));
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let end = ends.iter().find(|(p, _)| *p == m.partition()).map_or(0, |e| e.1);
                if m.offset() < end {
                    records.push(ReadRecord {
                        partition: m.partition(),
                        offset: m.offset(),
                        key: m.key().map(<[u8]>::to_vec),
                        value: m.payload().map(<[u8]>::to_vec),
                    });
                }
                next.insert(m.partition(), m.offset() + 1);
            }
            Some(Err(e)) => return Err(e.to_string()),
            None => {}
        }
    }
    Ok(records)
}

/// Produces `records` (key, value) to `topic` with `acks` and librdkafka's `partitioner`
/// (`murmur2_random` is the Java client's choice), waiting for every acknowledgement. With
/// `retries` 0 a refusal (NOT_ENOUGH_REPLICAS) is reported as the broker gave it, not as a
/// timeout after librdkafka's retries.
pub fn produce_keyed(
    access: &Access,
    topic: &str,
    records: &[(String, String)],
    acks: &str,
    retries: u32,
) -> Result<(), String> {
    let producer: BaseProducer<Recording> = access
        .config()
        .set("acks", acks)
        .set("partitioner", "murmur2_random")
        .set("retries", retries.to_string())
        .set("message.timeout.ms", TIMEOUT.as_millis().to_string())
        .create_with_context(Recording::default())
        .map_err(|e| format!("client configuration rejected: {e}"))?;
    for (key, value) in records {
        let mut record = BaseRecord::to(topic).payload(value.as_str()).key(key.as_str());
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    producer.poll(Duration::from_millis(50));
                }
                Err((e, _)) => return Err(e.to_string()),
            }
        }
    }
    let deadline = Instant::now() + TIMEOUT + Duration::from_secs(2);
    while producer.context().delivered.lock().unwrap().len() < records.len() {
        if Instant::now() > deadline {
            return Err(producer
                .context()
                .first_error()
                .unwrap_or_else(|| "no acknowledgement within the timeout".into()));
        }
        producer.poll(Duration::from_millis(50));
    }
    let delivered = producer.context().delivered.lock().unwrap();
    match delivered.iter().find_map(|r| r.as_ref().err()) {
        Some(error) => Err(error.clone()),
        None => Ok(()),
    }
}

/// Produces one record to partition `partition` of `topic` with `acks` and no retries, so a
/// refusal comes back as the broker's error (`NotEnoughReplicas`), not as a timeout.
pub fn produce_to(access: &Access, topic: &str, partition: i32, acks: &str) -> Result<(), String> {
    let producer: BaseProducer<Recording> = access
        .config()
        .set("acks", acks)
        .set("retries", "0")
        .set("message.timeout.ms", TIMEOUT.as_millis().to_string())
        .create_with_context(Recording::default())
        .map_err(|e| format!("client configuration rejected: {e}"))?;
    let record =
        BaseRecord::to(topic).payload("probe").key("kafka-lab-checker").partition(partition);
    producer.send(record).map_err(|(e, _)| e.to_string())?;
    let deadline = Instant::now() + TIMEOUT + Duration::from_secs(2);
    while producer.context().delivered.lock().unwrap().is_empty() {
        if Instant::now() > deadline {
            return Err("no acknowledgement within the timeout".into());
        }
        producer.poll(Duration::from_millis(50));
    }
    let delivered = producer.context().delivered.lock().unwrap();
    delivered[0].clone()
}
