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

mod clients;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use clients::{
    consume, cpu_secs, create_topic, kernel_release, load_average, payload, produce,
    FETCH_QUEUE_BACKOFF_MS, LINGER_MS,
};
use support::TestBroker;

const PARTITIONS: i32 = 1;
const CHUNK: usize = 64 * 1024;

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
            runtime.block_on(create_topic(&broker.bootstrap(), &topic, PARTITIONS, 1, &[]));
            eprintln!("produce {label} acks={acks} x {records} ...");
            let before = cpu();
            let p = produce(&broker.bootstrap(), &topic, &payload, records, acks, &[]);
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
                let secs = consume(&broker.bootstrap(), &topic, PARTITIONS, size, records);
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
