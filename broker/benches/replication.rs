//! What replication costs and how fast a cluster fails over, on real processes: one broker
//! (RF=1) and a three-node cluster ([`support::cluster::Cluster`]: node 1 broker and the
//! quorum's one controller, nodes 2 and 3 brokers) driven by librdkafka.
//!
//! - Produce throughput and latency: acks=1 and acks=all on a 1-node broker (RF=1), on the
//!   cluster with RF=1 and with RF=3 (`min.insync.replicas=2`); node 2 leads each cluster
//!   topic; and acks=all on six partitions led by all three nodes, RF=1 and RF=3. Then the RF=3 topic's leader is `kill -9`ed and its records are consumed from the
//!   new leader, and the time the killed broker takes to come back into the ISR (restart,
//!   log recovery after the kill, catch-up) is measured.
//! - Failover time: `kill -9` of the leader of a one-partition RF=3 topic under a steady
//!   idempotent acks=all producer (about one record per millisecond) to the first delivery
//!   report of a record sent after the kill; and the time from the restart to the broker's
//!   return into the ISR. Per `broker.session.timeout.ms`: 1500 (the tests' setting) and 9000
//!   (Kafka's default), each with `broker.heartbeat.interval.ms` at Kafka's default ratio
//!   (2000 / 9000 of the session).
//!
//! Run with `cargo bench -p kafka-lab-broker --bench replication`. Prints markdown tables;
//! never asserts anything about performance.
//!
//! Environment:
//! - `BENCH_RECORDS=N`: records per throughput scenario (default 200000 of 1 KiB).
//! - `BENCH_KILLS=N`: leader kills per session timeout (default 20; 0 skips the failover part).
//! - `BENCH_SESSION_TIMEOUTS_MS=a,b`: the session timeouts (default `1500,9000`).
//! - `BROKER_LOG`: the brokers' `RUST_LOG` (default `info`).
//!
//! Without `--bench` among its arguments (`cargo test --all-targets`) it exits at once.

// Drives the real binary from outside, on the OS's clock and threads: broker/clippy.toml's
// determinism rule is for the broker's own code, not for its tests.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

#[path = "../tests/support/mod.rs"]
mod support;

mod clients;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clients::{consume, create_topic, load_average, payload, percentile, produce};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::{ClientConfig, FromClientConfigAndContext};
use rdkafka::producer::{BaseRecord, DeliveryResult, ProducerContext, ThreadedProducer};
use support::cluster::{produce_batch, Cluster, CONTROLLER};
use support::{eventually, TestBroker};

/// The node leading every cluster topic of the throughput part (and the one killed there).
const LEADER: i32 = 2;
const RECORD_BYTES: usize = 1024;
/// Partitions of the spread topics (leaders on every node).
const SPREAD_PARTITIONS: i32 = 6;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .map(|v| v.parse().unwrap_or_else(|_| panic!("{name}: not a number: {v}")))
        .unwrap_or(default)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("replication: benchmark skipped (run it with `cargo bench --bench replication`)");
        return;
    }
    let records: usize = env_or("BENCH_RECORDS", 200_000);
    let kills: usize = env_or("BENCH_KILLS", 20);
    let session_timeouts: Vec<u64> = std::env::var("BENCH_SESSION_TIMEOUTS_MS")
        .unwrap_or_else(|_| "1500,9000".into())
        .split(',')
        .map(|v| v.trim().parse().expect("BENCH_SESSION_TIMEOUTS_MS: comma-separated ms"))
        .collect();
    let load_before = load_average();
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    let payload = payload(RECORD_BYTES);

    let mut rows = Vec::new();
    let single = TestBroker::start();
    for acks in ["1", "all"] {
        let topic = format!("single-acks-{acks}");
        runtime.block_on(create_topic(&single.bootstrap(), &topic, 1, 1, &[]));
        eprintln!("1 node, RF=1, acks={acks} x {records} ...");
        let p = produce(&single.bootstrap(), &topic, &payload, records, acks, &[]);
        rows.push((
            format!("produce, 1 node, RF=1, acks={acks}"),
            records,
            p.secs,
            p.p50_ms,
            p.p99_ms,
        ));
    }
    drop(single);

    let mut cluster = Cluster::start();
    let bootstrap = cluster.bootstrap();
    for (rf, acks) in [(1, "1"), (1, "all"), (3, "1"), (3, "all")] {
        let topic = format!("cluster-rf-{rf}-acks-{acks}");
        runtime.block_on(create_led_by(&bootstrap, &topic, LEADER, rf));
        wait_led_in_sync(&cluster, &topic, LEADER, rf as usize);
        eprintln!("3 nodes, RF={rf}, acks={acks} x {records} ...");
        let p = produce(&bootstrap, &topic, &payload, records, acks, &[]);
        rows.push((
            format!("produce, 3 nodes, RF={rf}, acks={acks}"),
            records,
            p.secs,
            p.p50_ms,
            p.p99_ms,
        ));
    }
    // The course's topic shape: six partitions, leaders spread over the three nodes, so the
    // producer has a connection per leader and each follower a fetch stream per leader.
    for rf in [1, 3] {
        let topic = format!("cluster-6-partitions-rf-{rf}");
        let min_isr = if rf == 3 { "2" } else { "1" };
        runtime.block_on(create_topic(
            &bootstrap,
            &topic,
            SPREAD_PARTITIONS,
            rf,
            &[("min.insync.replicas", min_isr)],
        ));
        eventually(Duration::from_secs(60), "every partition led with its full ISR", || {
            let p = cluster.partitions(&topic);
            let ok = p.len() == SPREAD_PARTITIONS as usize
                && p.values().all(|(leader, isr)| *leader > 0 && isr.len() == rf as usize);
            (ok, p)
        });
        eprintln!("3 nodes, {SPREAD_PARTITIONS} partitions, RF={rf}, acks=all x {records} ...");
        let p = produce(&bootstrap, &topic, &payload, records, "all", &[]);
        rows.push((
            format!("produce, 3 nodes, {SPREAD_PARTITIONS} partitions led by all three, RF={rf}, acks=all"),
            records,
            p.secs,
            p.p50_ms,
            p.p99_ms,
        ));
    }
    let topic = "cluster-rf-3-acks-all";
    eprintln!("consume {topic} from the new leader after kill -9 of node {LEADER} ...");
    cluster.kill9(LEADER);
    eventually(Duration::from_secs(60), "leadership moves off the killed node", || {
        let p = cluster.partitions(topic);
        (p[&0].0 > 0 && p[&0].0 != LEADER, p)
    });
    let secs = consume(&bootstrap, topic, 1, RECORD_BYTES, records);
    rows.push((
        format!("consume after failover, RF=3 (from node {})", cluster.partitions(topic)[&0].0),
        records,
        secs,
        f64::NAN,
        f64::NAN,
    ));
    let restarted = Instant::now();
    cluster.start_again(LEADER);
    cluster.wait_for_full_isr(topic, 1, Duration::from_secs(600));
    let rejoin_loaded_s = restarted.elapsed().as_secs_f64();
    drop(cluster);

    let mut failovers = Vec::new();
    for &session_ms in session_timeouts.iter().filter(|_| kills > 0) {
        let heartbeat_ms = session_ms * 2 / 9;
        eprintln!("failover x {kills}, broker.session.timeout.ms={session_ms} ...");
        failovers.push((
            session_ms,
            heartbeat_ms,
            measure_failovers(session_ms, heartbeat_ms, kills),
        ));
    }
    let load_after = load_average();

    println!();
    println!("| scenario | records | records/s | MB/s | p50 ms | p99 ms |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (scenario, n, secs, p50, p99) in &rows {
        let latency = |v: f64| if v.is_nan() { String::new() } else { format!("{v:.1}") };
        println!(
            "| {scenario} | {n} | {:.0} | {:.1} | {} | {} |",
            *n as f64 / secs,
            (*n * RECORD_BYTES) as f64 / 1e6 / secs,
            latency(*p50),
            latency(*p99)
        );
    }
    println!();
    println!(
        "Restart of node {LEADER} after kill -9 to its return into the ISR of the RF=3 topic \
         ({records} records, log recovery included): {rejoin_loaded_s:.2} s"
    );
    println!();
    println!(
        "| broker.session.timeout.ms | heartbeat ms | kills | leader moved p50 / p99 ms | \
         new leader acks p50 / p99 ms | failover p50 ms | failover p99 ms | rejoin p50 ms | \
         rejoin p99 ms |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (session_ms, heartbeat_ms, f) in &failovers {
        println!(
            "| {session_ms} | {heartbeat_ms} | {} | {:.0} / {:.0} | {:.0} / {:.0} | {:.0} | {:.0} \
             | {:.0} | {:.0} |",
            f.failover_ms.len(),
            percentile(&f.moved_ms, 50),
            percentile(&f.moved_ms, 99),
            percentile(&f.leader_acked_ms, 50),
            percentile(&f.leader_acked_ms, 99),
            percentile(&f.failover_ms, 50),
            percentile(&f.failover_ms, 99),
            percentile(&f.rejoin_ms, 50),
            percentile(&f.rejoin_ms, 99)
        );
    }
    println!();
    println!(
        "machine: {} CPUs, loadavg {load_before} before / {load_after} after; all nodes on this \
         machine, release binaries, log dirs in {}. {RECORD_BYTES} B records; producer: librdkafka \
         {} ThreadedProducer, linger.ms={}, defaults otherwise; latency = send() to delivery \
         report under full load. Cluster topics: one partition led by node {LEADER} (or {SPREAD_PARTITIONS} led by all three), \
         min.insync.replicas=2 for RF=3; replica.fetch.wait.max.ms=100, replica.lag.time.max.ms=3000. \
         Failover: kill -9 of the leader of a fresh one-partition RF=3 topic (nodes 2 and 3 in \
         turn) to the first delivery report of a record sent after the kill, idempotent acks=all \
         producer sending one record per ms (leader moved: to the controller's metadata naming \
         another leader, polled every 5 ms; new leader acks: to a raw acks=all Produce answered \
         without error by that leader, sent directly); rejoin: restart (process start-up included) to the \
         restarted node back in the ISR, the producer still sending. p99 over {kills} kills is \
         their maximum when fewer than 100.",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        std::env::temp_dir().display(),
        rdkafka::util::get_rdkafka_version().1,
        clients::LINGER_MS,
    );
}

/// Creates a one-partition `topic` whose replicas are `leader` first (the leader placement
/// prefers) then the other nodes, `replication_factor` of them, `min.insync.replicas=2` for
/// RF=3.
async fn create_led_by(bootstrap: &str, topic: &str, leader: i32, replication_factor: i32) {
    let mut replicas = vec![leader];
    replicas.extend([1, 2, 3].into_iter().filter(|n| *n != leader));
    replicas.truncate(replication_factor as usize);
    let assignment = [replicas.as_slice()];
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", bootstrap).create().expect("admin client");
    let mut new_topic = NewTopic::new(topic, 1, TopicReplication::Variable(&assignment));
    if replication_factor == 3 {
        new_topic = new_topic.set("min.insync.replicas", "2");
    }
    let results =
        admin.create_topics(&[new_topic], &AdminOptions::new()).await.expect("create_topics");
    assert!(results[0].is_ok(), "create {topic}: {:?}", results[0]);
}

/// Waits until `topic`-0 is led by `leader` with `in_sync` replicas in its ISR.
fn wait_led_in_sync(cluster: &Cluster, topic: &str, leader: i32, in_sync: usize) {
    eventually(Duration::from_secs(30), &format!("{topic} led by {leader} and in sync"), || {
        let p = cluster.partitions(topic);
        let ok = p.get(&0).is_some_and(|(l, isr)| *l == leader && isr.len() == in_sync);
        (ok, p)
    });
}

/// Every successful delivery report: (ns from `start` at send(), ns at the report).
struct Acks {
    start: Instant,
    acked_ns: Mutex<Vec<(u64, u64)>>,
    failed: AtomicU64,
}

struct AckContext(Arc<Acks>);

impl ClientContext for AckContext {}

impl ProducerContext for AckContext {
    /// Nanoseconds from `start` to the send() of this record.
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, sent_ns: usize) {
        let now_ns = self.0.start.elapsed().as_nanos() as u64;
        match result {
            Ok(_) => self.0.acked_ns.lock().unwrap().push((sent_ns as u64, now_ns)),
            Err(_) => {
                self.0.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// `kills` leader kills on a fresh cluster with the session timeout and heartbeat interval.
fn measure_failovers(session_ms: u64, heartbeat_ms: u64, kills: usize) -> Failovers {
    let session = session_ms.to_string();
    let heartbeat = heartbeat_ms.to_string();
    let mut cluster = Cluster::start_with(&[
        ("broker.session.timeout.ms", &session),
        ("broker.heartbeat.interval.ms", &heartbeat),
    ]);
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    let bootstrap = cluster.bootstrap();
    let (mut moved_ms, mut leader_acked_ms) = (Vec::new(), Vec::new());
    let (mut failover_ms, mut rejoin_ms) = (Vec::new(), Vec::new());
    for kill in 0..kills {
        // Nodes 2 and 3 in turn: the controller (node 1) has no stand-in.
        let victim = 2 + (kill % 2) as i32;
        assert_ne!(victim, CONTROLLER);
        let topic = format!("failover-{session_ms}-{kill}");
        runtime.block_on(create_led_by(&bootstrap, &topic, victim, 3));
        wait_led_in_sync(&cluster, &topic, victim, 3);

        let acks = Arc::new(Acks {
            start: Instant::now(),
            acked_ns: Mutex::default(),
            failed: AtomicU64::new(0),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let sending = {
            let (bootstrap, topic, acks, stop) =
                (bootstrap.clone(), topic.clone(), acks.clone(), stop.clone());
            std::thread::spawn(move || send_steadily(&bootstrap, &topic, acks, &stop))
        };
        let count = || acks.acked_ns.lock().unwrap().len();
        eventually(Duration::from_secs(30), "the producer is acknowledged", || {
            (count() >= 100, count())
        });

        let kill_ns = acks.start.elapsed().as_nanos() as u64;
        cluster.kill9(victim);
        // Three instants: the controller's metadata names another leader (session expiry,
        // fencing, election); that leader acknowledges a raw acks=all Produce sent to it
        // directly (the surviving follower fetching from it: the broker side done); the
        // producer's first acknowledgement of a record sent after the kill (plus
        // librdkafka's metadata refresh and retry backoff).
        let (mut moved_ns, mut leader_acked_ns, mut first_ack_ns) = (None, None, None);
        let deadline = Instant::now() + Duration::from_secs(120);
        let probe = ["probe".to_owned()];
        while moved_ns.is_none() || leader_acked_ns.is_none() || first_ack_ns.is_none() {
            assert!(Instant::now() < deadline, "no failover within 120 s: {} acks", count());
            let leader = cluster.partitions(&topic)[&0].0;
            if moved_ns.is_none() && leader != victim {
                moved_ns = Some(acks.start.elapsed().as_nanos() as u64);
            }
            if moved_ns.is_some() && leader_acked_ns.is_none() && leader > 0 && leader != victim {
                let (error, _) = produce_batch(cluster.port(leader), &topic, 0, -1, 5_000, &probe);
                if error == 0 {
                    leader_acked_ns = Some(acks.start.elapsed().as_nanos() as u64);
                }
            }
            if first_ack_ns.is_none() {
                let acked = acks.acked_ns.lock().unwrap();
                first_ack_ns = acked.iter().find(|(sent, _)| *sent > kill_ns).map(|a| a.1);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let since_kill_ms = |ns: Option<u64>| (ns.unwrap() - kill_ns) as f64 / 1e6;
        moved_ms.push(since_kill_ms(moved_ns));
        leader_acked_ms.push(since_kill_ms(leader_acked_ns));
        failover_ms.push(since_kill_ms(first_ack_ns));

        let restarted = Instant::now();
        cluster.start_again(victim);
        eventually(Duration::from_secs(120), "the restarted node rejoins the ISR", || {
            let p = cluster.partitions(&topic);
            (p[&0].1 == [1, 2, 3], p)
        });
        rejoin_ms.push(restarted.elapsed().as_secs_f64() * 1e3);
        stop.store(true, Ordering::Relaxed);
        sending.join().expect("producer thread");
        eprintln!(
            "  kill {kill} (node {victim}): leader moved {:.0} ms, new leader acks {:.0} ms, \
             failover {:.0} ms, rejoin {:.0} ms, {} failed sends",
            moved_ms[kill],
            leader_acked_ms[kill],
            failover_ms[kill],
            rejoin_ms[kill],
            acks.failed.load(Ordering::Relaxed)
        );
    }
    for figures in [&mut moved_ms, &mut leader_acked_ms, &mut failover_ms, &mut rejoin_ms] {
        figures.sort_by(f64::total_cmp);
    }
    Failovers { moved_ms, leader_acked_ms, failover_ms, rejoin_ms }
}

/// One session timeout's figures, each sorted, one entry per kill.
struct Failovers {
    /// `kill -9` to the controller's metadata naming a new leader.
    moved_ms: Vec<f64>,
    /// `kill -9` to the new leader acknowledging a raw acks=all Produce sent to it.
    leader_acked_ms: Vec<f64>,
    /// `kill -9` to the producer's first acknowledgement of a record sent after it.
    failover_ms: Vec<f64>,
    /// Restart to the restarted node back in the ISR.
    rejoin_ms: Vec<f64>,
}

/// An idempotent acks=all producer sending one small record to `topic` about every
/// millisecond until `stop`, then flushing.
fn send_steadily(bootstrap: &str, topic: &str, acks: Arc<Acks>, stop: &AtomicBool) {
    let start = acks.start;
    let producer: ThreadedProducer<AckContext> = ThreadedProducer::from_config_and_context(
        ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("linger.ms", "1")
            .set("message.timeout.ms", "120000"),
        AckContext(acks),
    )
    .expect("producer");
    while !stop.load(Ordering::Relaxed) {
        let sent_ns = start.elapsed().as_nanos() as usize;
        let record = BaseRecord::<(), [u8], usize>::with_opaque_to(topic, sent_ns).payload(b"tick");
        if producer.send(record).is_err() {
            // A full queue while the leader moves: the next tick tries again.
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    use rdkafka::producer::Producer;
    let _ = producer.flush(Duration::from_secs(30));
}
