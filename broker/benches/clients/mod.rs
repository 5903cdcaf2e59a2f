//! What the benches share: librdkafka producers and consumers timed against any
//! `bootstrap.servers` (one broker or a cluster), topic creation, and the machine's figures.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::{ClientConfig, FromClientConfigAndContext};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

pub const LINGER_MS: &str = "5";
pub const FETCH_QUEUE_BACKOFF_MS: &str = "10";
pub const TIMEOUT: Duration = Duration::from_secs(120);

/// Incompressible-looking bytes (compression is off anyway).
pub fn payload(size: usize) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9;
    (0..size)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// Creates `topic` through librdkafka's admin API with `replication_factor` and extra topic
/// configs (`min.insync.replicas`).
pub async fn create_topic(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    replication_factor: i32,
    configs: &[(&str, &str)],
) {
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", bootstrap).create().expect("admin client");
    let mut new_topic =
        NewTopic::new(topic, partitions, TopicReplication::Fixed(replication_factor));
    for (name, value) in configs {
        new_topic = new_topic.set(name, value);
    }
    let results =
        admin.create_topics(&[new_topic], &AdminOptions::new()).await.expect("create_topics");
    assert!(results[0].is_ok(), "create {topic}: {:?}", results[0]);
}

/// Records, per delivery report, when it arrived and how long after its send() it was.
struct Deliveries {
    start: Instant,
    latencies_us: Mutex<Vec<u32>>,
    last_delivery_ns: AtomicU64,
    failures: AtomicU64,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    /// Nanoseconds from `start` to the send() of this record.
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, sent_ns: usize) {
        let now_ns = self.start.elapsed().as_nanos() as u64;
        if result.is_err() {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
        self.latencies_us.lock().unwrap().push(((now_ns - sent_ns as u64) / 1000) as u32);
        self.last_delivery_ns.fetch_max(now_ns, Ordering::Relaxed);
    }
}

/// One produce run: seconds from the first send to the last delivery report, and the
/// send()-to-report latency percentiles.
pub struct ProduceResult {
    pub secs: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// Sends `records` copies of `payload` to `topic` through a librdkafka ThreadedProducer with
/// `acks` (and `extra` producer settings, e.g. `enable.idempotence`), as fast as its queue
/// takes them; every record must be delivered.
pub fn produce(
    bootstrap: &str,
    topic: &str,
    payload: &[u8],
    records: usize,
    acks: &str,
    extra: &[(&str, &str)],
) -> ProduceResult {
    let context = Deliveries {
        start: Instant::now(),
        latencies_us: Mutex::new(Vec::with_capacity(records)),
        last_delivery_ns: AtomicU64::new(0),
        failures: AtomicU64::new(0),
    };
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap).set("linger.ms", LINGER_MS).set("acks", acks);
    for (name, value) in extra {
        config.set(*name, *value);
    }
    let producer: ThreadedProducer<Deliveries> =
        ThreadedProducer::from_config_and_context(&config, context).expect("producer");
    // Connect and learn the topic's leader before the clock starts.
    producer.client().fetch_metadata(Some(topic), TIMEOUT).expect("producer metadata");

    let start = producer.context().start;
    let first_send_ns = start.elapsed().as_nanos() as u64;
    for _ in 0..records {
        loop {
            let sent_ns = start.elapsed().as_nanos() as usize;
            let record =
                BaseRecord::<(), [u8], usize>::with_opaque_to(topic, sent_ns).payload(payload);
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    std::thread::sleep(Duration::from_micros(200));
                }
                Err((e, _)) => panic!("send: {e}"),
            }
        }
    }
    producer.flush(TIMEOUT).expect("flush");

    let context = producer.context();
    let failures = context.failures.load(Ordering::Relaxed);
    assert_eq!(failures, 0, "{failures} records failed delivery");
    let mut latencies = std::mem::take(&mut *context.latencies_us.lock().unwrap());
    assert_eq!(latencies.len(), records, "delivery reports");
    latencies.sort_unstable();
    let latencies_ms: Vec<f64> = latencies.iter().map(|us| *us as f64 / 1000.0).collect();
    let last_ns = context.last_delivery_ns.load(Ordering::Relaxed);
    ProduceResult {
        secs: (last_ns - first_send_ns) as f64 / 1e9,
        p50_ms: percentile(&latencies_ms, 50),
        p99_ms: percentile(&latencies_ms, 99),
    }
}

/// The `p`th percentile of sorted `values` (nearest rank, as the benches have always taken it).
pub fn percentile(sorted: &[f64], p: usize) -> f64 {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

/// Seconds to read all `records` of `topic`'s `partitions` from offset 0.
pub fn consume(bootstrap: &str, topic: &str, partitions: i32, size: usize, records: usize) -> f64 {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "bench")
        .set("enable.auto.commit", "false")
        // librdkafka's default (1000 ms) idles the fetcher for a second whenever its
        // prefetch queue holds more than `queued.min.messages` (100k): with 100 B records
        // that made this a client benchmark (~28 MB/s, both processes nearly idle).
        .set("fetch.queue.backoff.ms", FETCH_QUEUE_BACKOFF_MS)
        .create()
        .expect("consumer");
    consumer.fetch_metadata(Some(topic), TIMEOUT).expect("consumer metadata");

    let start = Instant::now();
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions {
        assignment.add_partition_offset(topic, partition, Offset::Beginning).unwrap();
    }
    consumer.assign(&assignment).expect("assign");
    let mut count = 0;
    let mut bytes = 0;
    while count < records {
        assert!(start.elapsed() < TIMEOUT, "consumed only {count} of {records} records");
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                count += 1;
                bytes += message.payload_len();
            }
            // A killed broker's connection (the read after failover): librdkafka reports it
            // and goes on with the partition's new leader.
            Some(Err(KafkaError::MessageConsumption(RDKafkaErrorCode::BrokerTransportFailure))) => {
            }
            Some(Err(e)) => panic!("consume: {e}"),
            None => {}
        }
    }
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(bytes, size * records, "payload bytes consumed");
    secs
}

/// User + system CPU seconds of a process (all its threads) so far; `pid` may be "self".
pub fn cpu_secs(pid: &str) -> f64 {
    static TICKS_PER_SEC: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    let ticks = *TICKS_PER_SEC.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse().ok())
            .unwrap_or(100.0)
    });
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/<pid>/stat");
    // Fields after the parenthesised command name start at field 3 (state); utime and
    // stime are fields 14 and 15.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split_whitespace().collect();
    let utime: f64 = fields[11].parse().unwrap();
    let stime: f64 = fields[12].parse().unwrap();
    (utime + stime) / ticks
}

pub fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "?".into())
}

pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}
