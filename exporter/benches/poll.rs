//! Poll-cycle time, /metrics response time and peak RSS of the exporter at scale, against the
//! real broker: 100 groups × 1,000 partitions and 1,000 groups × 10,000 partitions (topics of
//! 10 partitions, one group per topic committing all 10). The exporter runs as its own process
//! so that its RSS (VmHWM from /proc) excludes the broker's.
//!
//! Run: `cargo bench -p kafka-lab-exporter --bench poll` (append `-- small` or `-- large` for
//! one size, or `-- fd-limited` for 1,000 × 5,000). The broker keeps one file open per
//! partition: at 10,000 partitions raise the soft open-file limit first, e.g.
//! `bash -c 'ulimit -n 20000 && cargo bench ...'`. Targets at the large size: poll < 1 s,
//! scrape < 50 ms, RSS < 40 MB.
//! Without the `--bench` argument (as under `cargo test --all-targets`) it returns at once.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use support::*;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--bench") {
        return;
    }
    let sizes: &[(usize, usize)] = if args.iter().any(|a| a == "small") {
        &[(100, 10)]
    } else if args.iter().any(|a| a == "fd-limited") {
        // 1,000 groups × 5,000 partitions: fits a 20,000 open-file limit.
        &[(1000, 5)]
    } else if args.iter().any(|a| a == "large") {
        &[(1000, 10)]
    } else {
        &[(100, 10), (1000, 10)]
    };
    for &(groups, per_topic) in sizes {
        run(groups, per_topic);
    }
}

fn run(groups: usize, per_topic: usize) {
    let partitions = groups * per_topic;
    println!("== {groups} groups x {partitions} partitions ({per_topic} per topic)");
    let broker = TestBroker::start();
    let b = broker.bootstrap();
    let setup = Instant::now();
    let names: Vec<String> = (0..groups).map(|i| format!("bench-{i:04}")).collect();
    for chunk in names.chunks(100) {
        let topics: Vec<(&str, i32)> =
            chunk.iter().map(|t| (t.as_str(), per_topic as i32)).collect();
        create_topics(&b, &topics);
    }
    // A few records per partition, so latest offsets and lag are non-trivial.
    produce_spread(&b, &names, per_topic, 3);
    // One simple-consumer commit per group, 4 at a time.
    std::thread::scope(|s| {
        for part in names.chunks(names.len().div_ceil(4)) {
            let b = &b;
            s.spawn(move || {
                for t in part {
                    let offsets: Vec<(&str, i32, i64)> =
                        (0..per_topic as i32).map(|p| (t.as_str(), p, i64::from(p % 3))).collect();
                    commit(b, t, &offsets);
                }
            });
        }
    });
    println!("setup (topics, records, commits): {:.1} s", setup.elapsed().as_secs_f64());

    let exporter =
        TestExporter::start(&["-b", &b, "--poll-interval", "2s", "--kafka-timeout", "30s"]);
    wait_until("a complete poll", Duration::from_secs(300), || {
        let s = exporter.scrape();
        s.find("kafka_consumergroup_group_sum_lag", &[]).len() == groups
    });
    let mut polls = Vec::new();
    let mut last_ts = 0.0;
    while polls.len() < 5 {
        let s = exporter.scrape();
        let ts = s.value("kafka_lag_exporter_last_poll_timestamp_seconds", &[]).unwrap();
        if ts != last_ts {
            last_ts = ts;
            polls.push(s.value("kafka_lag_exporter_last_poll_duration_seconds", &[]).unwrap());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // As Prometheus scrapes: accepting gzip, which is how the text is kept.
    let mut scrapes = Vec::new();
    let mut bytes = 0;
    for _ in 0..20 {
        let start = Instant::now();
        let (status, _, body) =
            request(exporter.port, "GET", "/metrics", "Accept-Encoding: gzip\r\n").unwrap();
        scrapes.push(start.elapsed().as_secs_f64());
        assert_eq!(status, 200);
        bytes = body.len();
    }
    // A scraper without gzip makes the exporter decompress for it.
    let mut plain = Vec::new();
    let mut text_bytes = 0;
    for _ in 0..5 {
        let start = Instant::now();
        let (status, body) = http_get(exporter.port, "/metrics").unwrap();
        plain.push(start.elapsed().as_secs_f64());
        assert_eq!(status, 200);
        text_bytes = body.len();
    }
    let last = exporter.scrape();
    let series = last.series.len();
    let phases: Vec<String> = last
        .find("kafka_lag_exporter_last_poll_phase_duration_seconds", &[])
        .iter()
        .map(|(labels, v)| format!("{} {:.0} ms", labels["phase"], v * 1e3))
        .collect();
    let proc_status = std::fs::read_to_string(format!("/proc/{}/status", exporter.pid())).unwrap();
    let field = |name: &str| {
        proc_status.lines().find(|l| l.starts_with(name)).map(|l| l.to_string()).unwrap_or_default()
    };
    polls.sort_by(f64::total_cmp);
    scrapes.sort_by(f64::total_cmp);
    plain.sort_by(f64::total_cmp);
    println!(
        "series: {series}, /metrics text: {:.1} MB, gzip body: {:.2} MB",
        text_bytes as f64 / 1e6,
        bytes as f64 / 1e6
    );
    println!("poll cycle: median {:.0} ms, max {:.0} ms (5 polls)", polls[2] * 1e3, polls[4] * 1e3);
    println!("last poll's phases: {}", phases.join(", "));
    println!(
        "/metrics response: median {:.1} ms, max {:.1} ms (20 GETs, body read in full)",
        scrapes[10] * 1e3,
        scrapes[19] * 1e3
    );
    println!(
        "/metrics without gzip: median {:.1} ms, max {:.1} ms (5 GETs)",
        plain[2] * 1e3,
        plain[4] * 1e3
    );
    println!(
        "exporter {} / {}",
        field("VmHWM").replace('\t', " "),
        field("VmRSS").replace('\t', " ")
    );
}

/// `per_partition` records to every partition of every topic, through one producer.
fn produce_spread(bootstrap: &str, topics: &[String], per_topic: usize, per_partition: usize) {
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    let p: BaseProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "5")
        .create()
        .unwrap();
    for t in topics {
        for partition in 0..per_topic as i32 {
            for _ in 0..per_partition {
                let mut record = BaseRecord::<(), _>::to(t).partition(partition).payload("x");
                while let Err((_, r)) = p.send(record) {
                    record = r;
                    p.poll(Duration::from_millis(5));
                }
            }
        }
        p.poll(Duration::ZERO);
    }
    p.flush(Duration::from_secs(120)).unwrap();
}
