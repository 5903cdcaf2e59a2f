//! Metadata snapshots (KIP-630) at scale, on real files: a metadata log of 10,000 partitions
//! (1,000 topics of 10 partitions, RF=3 over 3 brokers) followed by leader changes, then
//!
//! - the snapshot of its image: size on disk and time to write (encode, write, fsync, rename);
//! - a start's load time from the snapshot (plus the empty tail) against replaying the whole
//!   log without a snapshot, median of `BENCH_LOADS` opens each;
//! - a node behind the leader's log start catching up from it: the snapshot read in
//!   FetchSnapshot's 8 MiB chunks, written to the new node's `.part` and loaded in place of its
//!   log and image (`load_fetched_snapshot`), median of `BENCH_LOADS`.
//!
//! Run with `cargo bench -p kafka-lab-broker --bench metadata_snapshot`. Prints a markdown
//! table; never asserts anything about performance.
//!
//! Environment:
//! - `BENCH_TOPICS=N`: topics of 10 partitions (default 1000: 10,000 partitions).
//! - `BENCH_CHANGES=N`: leader changes appended after the topics (default 20000).
//! - `BENCH_LOADS=N`: opens per measurement (default 5).
//!
//! Without `--bench` among its arguments (`cargo test --all-targets`) it exits at once.

// A bench on the OS's clock: broker/clippy.toml's determinism rule is for the broker's code.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_lab_broker::log::checkpoint::RecoveryPoints;
use kafka_lab_broker::metadata::{
    MetadataRecord, MetadataStore, PartitionChangeRecord, PartitionRecord, RegisterBrokerRecord,
    METADATA_LOG_DIR,
};
use kafka_lab_broker::storage::{FileStorage, Storage};
use uuid::Uuid;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .map(|v| v.parse().unwrap_or_else(|_| panic!("{name}: not a number: {v}")))
        .unwrap_or(default)
}

fn open(storage: &Arc<dyn Storage>, dir: &Path) -> MetadataStore {
    let points = Arc::new(RecoveryPoints::read(storage.clone(), dir).unwrap());
    MetadataStore::open(storage.clone(), dir, 0, points, None).unwrap()
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let topics: u128 = env_or("BENCH_TOPICS", 1000);
    let changes: u64 = env_or("BENCH_CHANGES", 20_000);
    let loads: usize = env_or("BENCH_LOADS", 5);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let storage: Arc<dyn Storage> = Arc::new(FileStorage::new());
    let mut store = open(&storage, dir);
    // Never by the policy: the bench takes the one snapshot it measures.
    store.set_snapshot_policy(kafka_lab_broker::metadata::SnapshotPolicy {
        max_bytes_between: u64::MAX,
        max_interval_ms: 0,
        ..Default::default()
    });
    let brokers: Vec<MetadataRecord> = (1..=3)
        .map(|broker_id| {
            MetadataRecord::RegisterBroker(RegisterBrokerRecord {
                broker_id,
                incarnation_id: Uuid::from_u128(broker_id as u128),
                broker_epoch: broker_id as i64,
                endpoints: vec![],
                features: vec![],
                rack: None,
                fenced: false,
                in_controlled_shutdown: false,
            })
        })
        .collect();
    store.commit(brokers, 0).unwrap();
    let built = Instant::now();
    for t in 0..topics {
        let topic_id = Uuid::from_u128(t + 1);
        let mut records = vec![MetadataRecord::Topic { name: format!("topic-{t:04}"), topic_id }];
        for p in 0..10 {
            let replicas: Vec<i32> = (0..3).map(|r| ((t as i32 + p + r) % 3) + 1).collect();
            records.push(MetadataRecord::Partition(PartitionRecord::new(topic_id, p, replicas)));
        }
        store.commit(records, 0).unwrap();
    }
    for c in 0..changes {
        let t = (c as u128) % topics;
        let mut change = PartitionChangeRecord::new(Uuid::from_u128(t + 1), (c % 10) as i32);
        change.leader = (c % 3) as i32 + 1;
        store.commit(vec![MetadataRecord::PartitionChange(change)], 0).unwrap();
    }
    let partitions: usize = store.image().topics().map(|t| t.partitions.len()).sum();
    let log_end = store.log_end_offset();
    eprintln!("built {partitions} partitions, {log_end} records, in {:?}", built.elapsed());
    let log_dir = dir.join(METADATA_LOG_DIR);
    let log_bytes: u64 = std::fs::read_dir(&log_dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
        .map(|e| e.metadata().unwrap().len())
        .sum();

    let written = Instant::now();
    let (id, size) = store.snapshot_now(0).unwrap().expect("a snapshot");
    let write_time = written.elapsed();
    drop(store);

    let with_snapshot = median(
        (0..loads)
            .map(|_| {
                let started = Instant::now();
                let store = open(&storage, dir);
                let took = started.elapsed();
                assert_eq!(store.latest_snapshot(), Some(id));
                took
            })
            .collect(),
    );
    let snapshot_path = log_dir.join(id.file_name());
    let aside = dir.join("aside.checkpoint");
    std::fs::rename(&snapshot_path, &aside).unwrap();
    let whole_log = median(
        (0..loads)
            .map(|_| {
                let started = Instant::now();
                let store = open(&storage, dir);
                let took = started.elapsed();
                assert_eq!(store.latest_snapshot(), None);
                took
            })
            .collect(),
    );
    std::fs::rename(&aside, &snapshot_path).unwrap();

    // A node behind the leader's log start: the snapshot read in FetchSnapshot's 8 MiB chunks,
    // written to a new node's `.part`, then loaded in place of its (empty) log and image.
    let leader = open(&storage, dir);
    let fetched = median(
        (0..loads)
            .map(|_| {
                let follower_dir = tempfile::tempdir().unwrap();
                let mut follower = open(&storage, follower_dir.path());
                let started = Instant::now();
                let mut position = 0;
                while position < size {
                    let (_, chunk) =
                        leader.snapshot_chunk(id, position, 8 * 1024 * 1024).unwrap().unwrap();
                    follower.write_snapshot_chunk(id, position, &chunk).unwrap();
                    position += chunk.len() as u64;
                }
                let delta = follower.load_fetched_snapshot(id, 0).unwrap();
                let took = started.elapsed();
                assert_eq!(delta.created_topics().len(), leader.image().topics().count());
                took
            })
            .collect(),
    );

    println!("| partitions | log records | log bytes | snapshot bytes | snapshot write ms | load from snapshot ms | load from whole log ms | fetched snapshot written and loaded ms |");
    println!("|---|---|---|---|---|---|---|---|");
    println!(
        "| {partitions} | {log_end} | {log_bytes} | {size} | {:.1} | {:.1} | {:.1} | {:.1} |",
        ms(write_time),
        ms(with_snapshot),
        ms(whole_log),
        ms(fetched)
    );
}
