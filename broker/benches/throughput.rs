//! Produce/consume throughput of the real broker binary with librdkafka, next to the
//! machine's ceiling for moving the same bytes (loopback TCP into a sequential file).
//!
//! Run with `cargo bench -p kafka-lab-broker --bench throughput`. Prints a markdown
//! table; never asserts anything about performance.
//!
//! Environment:
//! - `BENCH_RECORDS=N`: records per scenario for both record sizes (default 2000000 for
//!   100 B records and 500000 for 1 KiB records, about 200 MB and 512 MB).
//! - `BROKER_LOG`: the broker's `RUST_LOG` (default `info`).
//! - `BENCH_METRICS=1`: the broker serves its metrics endpoint and a thread scrapes it every
//!   second, as Prometheus would (compare with a run without it for the endpoint's cost).
//!
//! Without `--bench` among its arguments (that is, when `cargo test --all-targets`
//! runs it in test mode) it prints a note and exits at once.

// Drives the real binary from outside, on the OS's clock and threads: broker/clippy.toml's
// determinism rule is for the broker's own code, not for its tests.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
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
use support::TestBroker;

const PARTITIONS: i32 = 1;
const LINGER_MS: &str = "5";
const FETCH_QUEUE_BACKOFF_MS: &str = "10";
const CHUNK: usize = 64 * 1024;
const TIMEOUT: Duration = Duration::from_secs(120);

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("throughput: benchmark skipped (run it with `cargo bench --bench throughput`)");
        return;
    }
    let custom: Option<usize> = std::env::var("BENCH_RECORDS")
        .ok()
        .map(|v| v.parse().expect("BENCH_RECORDS must be a count"));
    let sizes: [(usize, usize, &str); 2] =
        [(100, custom.unwrap_or(2_000_000), "100 B"), (1024, custom.unwrap_or(500_000), "1 KiB")];

    let load_before = load_average();
    let broker = match std::env::var("BENCH_METRICS").is_ok_and(|v| v == "1") {
        true => {
            let port = support::free_port();
            let listener = format!("prometheus.metrics.reporter.listener=http://127.0.0.1:{port}");
            let broker = TestBroker::start_with(&[&listener]);
            std::thread::spawn(move || loop {
                // Reported, not asserted: the last scrape may meet the broker being stopped.
                if kafka_lab_testkit::scrape::http_get(port, "/metrics").map(|r| r.0) != Some(200) {
                    eprintln!("a scrape of the broker's metrics failed");
                }
                std::thread::sleep(Duration::from_secs(1));
            });
            println!("scraping the broker's metrics endpoint every second");
            broker
        }
        false => TestBroker::start(),
    };
    let broker_pid = broker.pid().expect("broker pid");
    let cpu = || (cpu_secs(&broker_pid.to_string()), cpu_secs("self"));
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");

    let mut rows: Vec<Row> = Vec::new();
    for (topic_no, &(size, records, label)) in sizes.iter().enumerate() {
        let payload = payload(size);
        let total_bytes = (size * records) as u64;
        eprintln!("ceiling for {label} x {records} ...");
        let ceiling = ceiling(total_bytes);
        for acks in ["1", "all"] {
            let topic = format!("bench-{topic_no}-acks-{acks}");
            runtime.block_on(create_topic(&broker, &topic));
            eprintln!("produce {label} acks={acks} x {records} ...");
            let before = cpu();
            let p = produce(&broker, &topic, &payload, records, acks);
            let after = cpu();
            rows.push(Row {
                scenario: format!("produce {label} acks={acks}"),
                records: Some(records),
                secs: p.secs,
                bytes: total_bytes,
                latency_ms: Some((p.p50_ms, p.p99_ms)),
                ceiling_mb_s: Some(ceiling.no_fsync_mb_s),
                cpu_secs: Some((after.0 - before.0, after.1 - before.1)),
            });
            if acks == "1" {
                eprintln!("consume {label} x {records} ...");
                let before = cpu();
                let secs = consume(&broker, &topic, size, records);
                let after = cpu();
                rows.push(Row {
                    scenario: format!("consume {label}"),
                    records: Some(records),
                    secs,
                    bytes: total_bytes,
                    latency_ms: None,
                    ceiling_mb_s: Some(ceiling.no_fsync_mb_s),
                    cpu_secs: Some((after.0 - before.0, after.1 - before.1)),
                });
            }
        }
        let mb = total_bytes as f64 / 1e6;
        rows.push(Row {
            scenario: format!("ceiling: loopback TCP -> sequential file, {mb:.0} MB"),
            records: None,
            secs: ceiling.no_fsync_secs,
            bytes: total_bytes,
            latency_ms: None,
            ceiling_mb_s: None,
            cpu_secs: Some((0.0, ceiling.no_fsync_cpu_secs)),
        });
        rows.push(Row {
            scenario: format!("ceiling: same plus one fsync at the end, {mb:.0} MB"),
            records: None,
            secs: ceiling.fsync_secs,
            bytes: total_bytes,
            latency_ms: None,
            ceiling_mb_s: None,
            cpu_secs: None,
        });
    }
    drop(broker);
    let load_after = load_average();

    println!();
    println!("| scenario | records | records/s | MB/s | p50 ms | p99 ms | of ceiling | broker CPU | bench CPU |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in &rows {
        println!("{}", row.render());
    }
    println!();
    println!(
        "machine: {} CPUs, kernel {}, loadavg {} before / {} after. Broker: release binary, 1 node, \
         default flush policy (log.flush.interval.messages and log.flush.interval.ms unset: no fsync on \
         the produce path, the OS writes back), log dir in {}. Topics: {PARTITIONS} partition, fresh per \
         produce scenario. Producer: librdkafka {} ThreadedProducer, linger.ms={LINGER_MS}, no compression, \
         otherwise defaults; figures from first send to last delivery report; latency = send() to delivery \
         report per record, under full load (includes time queued in the client). Consumer: BaseConsumer \
         assigned from offset 0, fetch.queue.backoff.ms={FETCH_QUEUE_BACKOFF_MS}, otherwise defaults, timed \
         from assign to the last record. Ceiling: {} KiB writes over loopback \
         TCP, receiver writes each read to a std::fs::File, median of 3 runs. MB = 10^6 payload bytes. \
         CPU columns: CPU time over the scenario's wall time (100 % = one core) of the broker process \
         and of this bench process (librdkafka client, or both ceiling threads).",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        kernel_release(),
        load_before,
        load_after,
        std::env::temp_dir().display(),
        rdkafka::util::get_rdkafka_version().1,
        CHUNK / 1024,
    );
}

struct Row {
    scenario: String,
    records: Option<usize>,
    secs: f64,
    bytes: u64,
    latency_ms: Option<(f64, f64)>,
    ceiling_mb_s: Option<f64>,
    /// CPU seconds of (broker, bench process) during the scenario.
    cpu_secs: Option<(f64, f64)>,
}

impl Row {
    fn mb_s(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.secs
    }

    fn render(&self) -> String {
        let (p50, p99) = match self.latency_ms {
            Some((p50, p99)) => (format!("{p50:.1}"), format!("{p99:.1}")),
            None => ("".into(), "".into()),
        };
        let of_ceiling = match self.ceiling_mb_s {
            Some(c) => format!("{:.1} %", 100.0 * self.mb_s() / c),
            None => "".into(),
        };
        let (records, rate) = match self.records {
            Some(n) => (n.to_string(), format!("{:.0}", n as f64 / self.secs)),
            None => ("".into(), "".into()),
        };
        let (broker_cpu, bench_cpu) = match self.cpu_secs {
            Some((b, c)) => (
                format!("{:.0} %", 100.0 * b / self.secs),
                format!("{:.0} %", 100.0 * c / self.secs),
            ),
            None => ("".into(), "".into()),
        };
        format!(
            "| {} | {records} | {rate} | {:.1} | {p50} | {p99} | {of_ceiling} | {broker_cpu} | {bench_cpu} |",
            self.scenario,
            self.mb_s()
        )
    }
}

/// Incompressible-looking bytes (compression is off anyway).
fn payload(size: usize) -> Vec<u8> {
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

async fn create_topic(broker: &TestBroker, topic: &str) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .create()
        .expect("admin client");
    let results = admin
        .create_topics(
            &[NewTopic::new(topic, PARTITIONS, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        )
        .await
        .expect("create_topics request");
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

struct ProduceResult {
    secs: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn produce(
    broker: &TestBroker,
    topic: &str,
    payload: &[u8],
    records: usize,
    acks: &str,
) -> ProduceResult {
    let context = Deliveries {
        start: Instant::now(),
        latencies_us: Mutex::new(Vec::with_capacity(records)),
        last_delivery_ns: AtomicU64::new(0),
        failures: AtomicU64::new(0),
    };
    let producer: ThreadedProducer<Deliveries> = ThreadedProducer::from_config_and_context(
        ClientConfig::new()
            .set("bootstrap.servers", broker.bootstrap())
            .set("linger.ms", LINGER_MS)
            .set("acks", acks),
        context,
    )
    .expect("producer");
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
    let percentile =
        |p: usize| latencies[(latencies.len() * p / 100).min(latencies.len() - 1)] as f64 / 1000.0;
    let last_ns = context.last_delivery_ns.load(Ordering::Relaxed);
    ProduceResult {
        secs: (last_ns - first_send_ns) as f64 / 1e9,
        p50_ms: percentile(50),
        p99_ms: percentile(99),
    }
}

/// Seconds to read all `records` of the topic from offset 0.
fn consume(broker: &TestBroker, topic: &str, size: usize, records: usize) -> f64 {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
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
    for partition in 0..PARTITIONS {
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
            Some(Err(e)) => panic!("consume: {e}"),
            None => {}
        }
    }
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(bytes, size * records, "payload bytes consumed");
    secs
}

struct Ceiling {
    no_fsync_secs: f64,
    no_fsync_mb_s: f64,
    /// CPU seconds of this process during the median no-fsync run.
    no_fsync_cpu_secs: f64,
    fsync_secs: f64,
}

/// Median over 3 runs of loopback TCP -> sequential file, without and with a final fsync.
fn ceiling(total_bytes: u64) -> Ceiling {
    let median = |fsync: bool| {
        let mut runs: Vec<(f64, f64)> = (0..3)
            .map(|_| {
                let before = cpu_secs("self");
                let secs = copy_to_file(total_bytes, fsync);
                (secs, cpu_secs("self") - before)
            })
            .collect();
        runs.sort_by(|a, b| a.0.total_cmp(&b.0));
        runs[1]
    };
    let (no_fsync_secs, no_fsync_cpu_secs) = median(false);
    let (fsync_secs, _) = median(true);
    Ceiling {
        no_fsync_secs,
        no_fsync_mb_s: total_bytes as f64 / 1e6 / no_fsync_secs,
        no_fsync_cpu_secs,
        fsync_secs,
    }
}

/// Seconds to send `total_bytes` over loopback TCP in `CHUNK` writes, the receiver
/// appending each read to a file in a fresh temp dir (and fsyncing it at the end if asked).
fn copy_to_file(total_bytes: u64, fsync: bool) -> f64 {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("ceiling.log");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().unwrap();
    let receiver = std::thread::spawn(move || {
        let (mut socket, _) = listener.accept().expect("accept");
        let mut file = std::fs::File::create(&path).expect("ceiling file");
        let mut buf = vec![0u8; CHUNK];
        let mut received = 0u64;
        loop {
            let n = socket.read(&mut buf).expect("read");
            if n == 0 {
                break;
            }
            file.write_all(&buf[..n]).expect("write");
            received += n as u64;
        }
        if fsync {
            file.sync_all().expect("fsync");
        }
        received
    });
    let chunk = payload(CHUNK);
    let start = Instant::now();
    let mut socket = TcpStream::connect(address).expect("connect");
    let mut left = total_bytes;
    while left > 0 {
        let n = left.min(CHUNK as u64) as usize;
        socket.write_all(&chunk[..n]).expect("send");
        left -= n as u64;
    }
    drop(socket);
    let received = receiver.join().expect("receiver thread");
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(received, total_bytes, "ceiling bytes");
    secs
}

/// User + system CPU seconds of a process (all its threads) so far; `pid` may be "self".
fn cpu_secs(pid: &str) -> f64 {
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

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "?".into())
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}
