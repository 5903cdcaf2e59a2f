//! Failover of a three-node cluster of real processes ([`support::cluster::Cluster`]: node 1
//! broker and the quorum's one controller, nodes 2 and 3 brokers):
//! - under a real idempotent acks=all producer (librdkafka) each broker is `kill -9`ed in turn
//!   while it leads partitions of a topic with RF=3 and `min.insync.replicas=2`: leadership
//!   moves to in-sync replicas, the producer carries on without a restart, the killed node
//!   comes back, truncates what it must, catches up and rejoins every ISR; at the end every
//!   acknowledged record is read back exactly once, in order per partition;
//! - the checker can fail: with both followers stopped (SIGSTOP), an acks=all write is not
//!   acknowledged, so the leader's death loses nothing acknowledged — built with the
//!   test-only fault `fault-ack-before-isr` (acknowledged at the local append) the same
//!   scenario loses acknowledged records and the checker says so;
//! - a divergent tail: a leader killed after appending acks=1 records its followers never
//!   fetched truncates them when it returns, catches up and rejoins the ISR, and below the high
//!   watermark its log holds exactly what the other two replicas' logs hold.
//!
//! `cargo test -p kafka-lab-broker --features fault-ack-before-isr --test failover
//! the_checker` runs the fault build (scripts/test does).

// Drives real binaries from outside, on the OS's clock and threads: broker/clippy.toml's
// determinism rule is for the broker's own code, not for its tests.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::FindCoordinatorRequest;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::RecordBatchDecoder;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use support::cluster::{full_isr, high_watermark, produce_batch, Cluster, Partitions, CONTROLLER};
use support::{call, eventually};

const TOPIC: &str = "orders";
const PARTITIONS: i32 = 6;

/// One cluster at a time: three debug brokers per test on CI's two cores, and a broker whose
/// heartbeats starve past the 1.5 s session is fenced, which moves leaderships these tests
/// choose on purpose.
static ONE_CLUSTER_AT_A_TIME: Mutex<()> = Mutex::new(());

/// [`Cluster::start`] with `orders` created (RF=3, `min.insync.replicas=2`), fully in sync;
/// the guard keeps other tests of this file from starting theirs meanwhile.
fn start_with_topic() -> (MutexGuard<'static, ()>, Cluster) {
    // A test that failed holding it poisons it; the next one still runs.
    let guard = ONE_CLUSTER_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let cluster = Cluster::start();
    cluster.create_topic(TOPIC, PARTITIONS, 2);
    (guard, cluster)
}

/// What the producer had acknowledged, in the order of the acknowledgements: ((partition,
/// offset), value). A list, not a map: two acknowledgements of one offset must both be checked.
type Acked = Arc<Mutex<Vec<((i32, i64), String)>>>;

/// Produces `0, 1, 2, …` (keys spread over the partitions) until `stop`, recording every
/// acknowledged record; failures (timeouts while a leader moves) are counted, not acked.
async fn produce(bootstrap: String, acked: Acked, stop: Arc<AtomicBool>) -> usize {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("message.timeout.ms", "30000")
        .set("linger.ms", "5")
        .create()
        .expect("producer");
    let mut failed = 0;
    let mut next = 0u64;
    while !stop.load(Ordering::Relaxed) {
        // 20 in flight at a time: enough to keep every partition busy during a failover.
        let mut batch = tokio::task::JoinSet::new();
        for _ in 0..20 {
            let (producer, value) = (producer.clone(), next.to_string());
            next += 1;
            batch.spawn(async move {
                let record = FutureRecord::to(TOPIC).key(&value).payload(&value);
                let delivered = producer.send(record, Duration::from_secs(30)).await;
                (value, delivered.map_err(|(e, _)| e.to_string()))
            });
        }
        while let Some(done) = batch.join_next().await {
            match done.expect("send task") {
                (value, Ok(delivery)) => {
                    acked.lock().unwrap().push(((delivery.partition, delivery.offset), value));
                }
                (_, Err(_)) => failed += 1,
            }
        }
    }
    failed
}

/// Every record of `orders` below each partition's high watermark, by (partition, offset),
/// read from the leaders by a librdkafka consumer; a record read twice fails the test.
fn read_all(bootstrap: &str) -> BTreeMap<(i32, i64), String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "failover-reader")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut ends = BTreeMap::new();
    let mut assignment = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        let (_, high) = consumer
            .fetch_watermarks(TOPIC, partition, Duration::from_secs(20))
            .expect("the partition's high watermark");
        ends.insert(partition, high);
        assignment.add_partition_offset(TOPIC, partition, Offset::Beginning).unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let mut read = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let done = |read: &BTreeMap<(i32, i64), String>| {
        ends.iter().all(|(p, end)| *end == 0 || read.contains_key(&(*p, end - 1)))
    };
    while !done(&read) {
        assert!(Instant::now() < deadline, "reading back timed out with {} records", read.len());
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            let value = String::from_utf8(m.payload().unwrap().to_vec()).unwrap();
            assert!(
                read.insert((m.partition(), m.offset()), value).is_none(),
                "offset {}-{} read twice",
                m.partition(),
                m.offset()
            );
        }
    }
    read
}

/// What the failover checker found comparing what producers had acknowledged with what is
/// read back.
#[derive(Debug, Default)]
struct Verdict {
    /// Acknowledged records missing or with another value at their offset: (partition,
    /// offset), the acknowledged value, what is there.
    lost: Vec<((i32, i64), String, Option<String>)>,
    /// Values read back more than once (an idempotent producer's retry written twice).
    duplicated: Vec<String>,
}

/// The failover checker: every acknowledged record is read back at its offset with its value,
/// and no value is read twice.
fn check(acked: &[((i32, i64), String)], read: &BTreeMap<(i32, i64), String>) -> Verdict {
    let mut verdict = Verdict::default();
    for (position, value) in acked {
        match read.get(position) {
            Some(v) if v == value => {}
            other => verdict.lost.push((*position, value.clone(), other.cloned())),
        }
    }
    let mut seen = BTreeSet::new();
    for value in read.values() {
        if !seen.insert(value) {
            verdict.duplicated.push(value.clone());
        }
    }
    verdict
}

#[cfg_attr(
    feature = "fault-ack-before-isr",
    ignore = "the fault acknowledges writes the ISR lacks"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
// The guard serializes whole tests, each on its own test thread; no task awaits it.
#[allow(clippy::await_holding_lock)]
async fn every_acknowledged_record_survives_each_broker_killed_in_turn() {
    let (_one, mut cluster) = start_with_topic();
    let all = Duration::from_secs(20);
    let full = |p: &Partitions| full_isr(p, PARTITIONS);

    let acked: Acked = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let producing = tokio::spawn(produce(cluster.bootstrap(), acked.clone(), stop.clone()));
    let count = || acked.lock().unwrap().len();
    let mut failovers = Vec::new();
    for victim in [2, 3] {
        let before = count();
        eventually(all, "the producer progresses", || (count() > before + 200, count()));
        let led: Vec<i32> = cluster
            .partitions(TOPIC)
            .iter()
            .filter(|(_, (leader, _))| *leader == victim)
            .map(|(p, _)| *p)
            .collect();
        assert!(!led.is_empty(), "node {victim} leads nothing: {:?}", cluster.partitions(TOPIC));
        let killed = Instant::now();
        cluster.kill9(victim);
        eventually(all, "leadership moves off the killed broker", || {
            let p = cluster.partitions(TOPIC);
            (p.values().all(|(leader, isr)| *leader != victim && !isr.contains(&victim)), p)
        });
        let at_kill = count();
        eventually(all, "acks=all produce continues on the new leaders", || {
            (count() > at_kill + 200, count())
        });
        failovers.push(killed.elapsed());
        cluster.start_again(victim);
        eventually(Duration::from_secs(40), "the restarted broker rejoins every ISR", || {
            let p = cluster.partitions(TOPIC);
            (full(&p), p)
        });
    }
    stop.store(true, Ordering::Relaxed);
    let failed = producing.await.unwrap();

    let acked = acked.lock().unwrap().clone();
    let read = read_all(&cluster.bootstrap());
    let verdict = check(&acked, &read);
    assert!(
        verdict.lost.is_empty(),
        "{} acknowledged records lost or changed: {:?}",
        verdict.lost.len(),
        &verdict.lost[..verdict.lost.len().min(10)]
    );
    assert!(verdict.duplicated.is_empty(), "written twice (idempotence): {:?}", verdict.duplicated);
    eprintln!(
        "{} records acknowledged, {} failed sends, failover (kill to leadership moved and 200 more acks) {:?}",
        acked.len(),
        failed,
        failovers
    );

    // Two brokers down: the ISR is node 1 alone, below min.insync.replicas=2.
    for victim in [2, 3] {
        cluster.kill9(victim);
    }
    eventually(all, "every ISR shrinks to node 1", || {
        let p = cluster.partitions(TOPIC);
        (p.values().all(|(leader, isr)| *leader == 1 && isr == &[1]), p)
    });
    let port = cluster.port(CONTROLLER);
    let probe = ["probe".to_owned()];
    let produce_once = |acks| produce_batch(port, TOPIC, 0, acks, 10_000, &probe).0;
    assert_eq!(produce_once(-1), ResponseError::NotEnoughReplicas.code(), "acks=all");
    assert_eq!(produce_once(1), 0, "acks=1 is still taken");
    // Back: they truncate, catch up and rejoin; nothing is under-replicated any more.
    for victim in [2, 3] {
        cluster.start_again(victim);
    }
    eventually(Duration::from_secs(40), "both rejoin every ISR", || {
        let p = cluster.partitions(TOPIC);
        (full(&p), p)
    });
    assert_eq!(produce_once(-1), 0, "acks=all once the ISR is back");
}

/// A partition of `orders` led by a broker-only node (one that may die) with the full ISR:
/// (partition, leader, its two followers — the controller among them).
fn partition_led_by_a_broker(cluster: &Cluster) -> (i32, i32, [i32; 2]) {
    let mut found = None;
    eventually(Duration::from_secs(20), "a partition led by a broker, fully in sync", || {
        let partitions = cluster.partitions(TOPIC);
        found = partitions
            .iter()
            .find(|(_, (leader, isr))| *leader != CONTROLLER && isr == &[1, 2, 3])
            .map(|(p, (leader, _))| (*p, *leader));
        (found.is_some(), partitions)
    });
    let (partition, leader) = found.unwrap();
    let mut followers = [1, 2, 3].into_iter().filter(|id| *id != leader);
    (partition, leader, [followers.next().unwrap(), followers.next().unwrap()])
}

/// A leader appending while both its followers are stopped, before it is killed.
struct StoppedFollowers {
    partition: i32,
    leader: i32,
    followers: [i32; 2],
    /// The records acknowledged before the followers stopped (on every replica), across
    /// attempts: ((partition, offset), value).
    replicated: Vec<((i32, i64), String)>,
    /// The answer to the append with the followers stopped: (error code, base offset).
    answer: (i16, i64),
}

/// Picks a partition led by a broker with the full ISR, writes `replicated-*` records there
/// with acks=all and waits until every replica has them, stops both followers, then sends
/// `values` to the leader with `acks` and `timeout_ms`. Should the leadership have moved
/// just before the stop (a broker fenced on a loaded machine: NOT_LEADER_OR_FOLLOWER), the
/// followers resume and it starts over on the partition that is then led by a broker.
fn append_with_followers_stopped(
    cluster: &Cluster,
    acks: i16,
    timeout_ms: i32,
    values: &[String],
) -> StoppedFollowers {
    let mut replicated = Vec::new();
    for attempt in 0..5 {
        let (partition, leader, followers) = partition_led_by_a_broker(cluster);
        let batch: Vec<String> = (0..5).map(|i| format!("replicated-{attempt}-{i}")).collect();
        let base = produce_acked(cluster, partition, &batch);
        for (i, value) in batch.iter().enumerate() {
            replicated.push(((partition, base + i as i64), value.clone()));
        }
        // On every replica before they stop (the high watermark is the ISR's least log end;
        // the fault build acknowledges before it moves).
        eventually_high_watermark(cluster, partition, base + batch.len() as i64);
        pause_followers(cluster, followers);
        let answer =
            produce_batch(cluster.port(leader), TOPIC, partition, acks, timeout_ms, values);
        if answer.0 != ResponseError::NotLeaderOrFollower.code() {
            return StoppedFollowers { partition, leader, followers, replicated, answer };
        }
        for id in followers {
            cluster.resume(id);
        }
    }
    panic!("the leadership kept moving: {:?}", cluster.partitions(TOPIC));
}

/// `values` produced as one acks=all batch to `partition`'s current leader, retried while
/// leadership or the ISR settles; the batch's base offset. Only errors raised before the append
/// are retried (this raw producer is not idempotent: a retry after REQUEST_TIMED_OUT would
/// write the batch twice).
fn produce_acked(cluster: &Cluster, partition: i32, values: &[String]) -> i64 {
    let before_append = [
        ResponseError::UnknownTopicOrPartition,
        ResponseError::NotLeaderOrFollower,
        ResponseError::LeaderNotAvailable,
        ResponseError::NotEnoughReplicas,
        ResponseError::FencedLeaderEpoch,
    ]
    .map(|e| e.code());
    let mut base_offset = -1;
    eventually(Duration::from_secs(20), "an acks=all produce is acknowledged", || {
        let (leader, isr) = cluster.partitions(TOPIC)[&partition].clone();
        if leader < 1 {
            return (false, (leader, isr, -1));
        }
        let (error, offset) =
            produce_batch(cluster.port(leader), TOPIC, partition, -1, 5_000, values);
        assert!(
            error == 0 || before_append.contains(&error),
            "acks=all produce to node {leader} failed with {error} after the append"
        );
        base_offset = offset;
        (error == 0, (leader, isr, error))
    });
    base_offset
}

/// Waits until `partition`'s current leader (it may still move while fenced brokers come
/// back) reports a high watermark of at least `at_least`: (leader, high watermark).
fn eventually_high_watermark(cluster: &Cluster, partition: i32, at_least: i64) -> (i32, i64) {
    let mut found = (-1, -1);
    eventually(Duration::from_secs(20), "the high watermark passes the last write", || {
        let (leader, _) = cluster.partitions(TOPIC)[&partition].clone();
        if leader < 1 {
            return (false, (leader, -1, -1));
        }
        let (error, hw) = high_watermark(cluster.port(leader), TOPIC, partition);
        found = (leader, hw);
        (error == 0 && hw >= at_least, (leader, error, hw))
    });
    found
}

/// SIGSTOPs both followers, then waits out any fetch of theirs the leader still holds
/// (replica.fetch.wait.max.ms=100): answered before the next append, it carries none of it.
fn pause_followers(cluster: &Cluster, followers: [i32; 2]) {
    for id in followers {
        cluster.pause(id);
    }
    std::thread::sleep(Duration::from_millis(500));
}

/// Waits until `partition`'s leader is one of `followers` (the ISR when the old leader died,
/// so a clean election) and its ISR is exactly them; returns the new leader.
fn wait_for_leader_among(cluster: &Cluster, partition: i32, followers: [i32; 2]) -> i32 {
    let mut leader = -1;
    eventually(Duration::from_secs(30), "a new leader elected from the ISR", || {
        let (l, isr) = cluster.partitions(TOPIC)[&partition].clone();
        leader = l;
        (followers.contains(&l) && isr == followers, (l, isr))
    });
    leader
}

/// The checker can fail. The leader of a partition appends an acks=all write while both its
/// followers are stopped (SIGSTOP: no fetches, no heartbeats, and the controller among them
/// cannot shrink the ISR), then dies (SIGKILL); the followers resume and one of them is
/// elected from the ISR. Correct code never acknowledged that write (REQUEST_TIMED_OUT: the
/// high watermark never passed it), so nothing acknowledged is lost. Built with
/// `fault-ack-before-isr` it was acknowledged at the local append, and the checker reports
/// exactly those records lost.
#[test]
fn the_checker_catches_acks_all_answered_before_the_isr_has_the_records() {
    let (_one, mut cluster) = start_with_topic();
    let unreplicated: Vec<String> = (0..3).map(|i| format!("unreplicated-{i}")).collect();
    // 1 s: far below replica.lag.time.max.ms, and the controller is stopped anyway.
    let stopped = append_with_followers_stopped(&cluster, -1, 1_000, &unreplicated);
    let StoppedFollowers { partition, leader, followers, answer: (error, base), .. } = stopped;
    let mut acked = stopped.replicated.clone();
    let mut acked_unreplicated = Vec::new();
    if error == 0 {
        for (i, value) in unreplicated.iter().enumerate() {
            acked_unreplicated.push(((partition, base + i as i64), value.clone()));
        }
        acked.extend(acked_unreplicated.clone());
    }
    cluster.kill9(leader);
    for id in followers {
        cluster.resume(id);
    }
    wait_for_leader_among(&cluster, partition, followers);
    // A write acknowledged by the new leader's ISR: past it, the high watermark covers all the
    // new leader holds, so the read-back below sees everything the partition kept.
    let after = ["after-failover".to_owned()];
    let after_offset = produce_acked(&cluster, partition, &after);
    acked.push(((partition, after_offset), after[0].clone()));
    let (new_leader, _) = eventually_high_watermark(&cluster, partition, after_offset + 1);

    let verdict = check(&acked, &read_all(&cluster.bootstrap()));
    let lost: BTreeSet<(i32, i64)> = verdict.lost.iter().map(|(at, _, _)| *at).collect();
    eprintln!("node {leader} led {TOPIC}-{partition}, then node {new_leader}: {verdict:?}");
    if cfg!(feature = "fault-ack-before-isr") {
        assert_eq!(error, 0, "the fault acknowledges at the local append");
        let expected: BTreeSet<(i32, i64)> = acked_unreplicated.iter().map(|(at, _)| *at).collect();
        assert_eq!(lost, expected, "the checker reports the acknowledged, unreplicated records");
    } else {
        assert_eq!(
            error,
            ResponseError::RequestTimedOut.code(),
            "acks=all with both followers stopped is not acknowledged"
        );
        assert!(verdict.lost.is_empty(), "acknowledged records lost: {:?}", verdict.lost);
    }
    assert!(verdict.duplicated.is_empty(), "{:?}", verdict.duplicated);
}

/// Every record of `topic`-`partition` in a replica's segment files, decoded with
/// kafka-protocol's batch decoder (not the broker's): (offset, value). Segment writes are
/// plain `pwrite`s, so a running broker's files show what it appended.
fn replica_log(data_dir: &std::path::Path, topic: &str, partition: i32) -> Vec<(i64, String)> {
    let dir = data_dir.join(format!("{topic}-{partition}"));
    let mut segments: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    segments.sort();
    let mut records = Vec::new();
    for segment in segments {
        let mut bytes = bytes::Bytes::from(std::fs::read(&segment).unwrap());
        let sets = RecordBatchDecoder::decode_all(&mut bytes)
            .unwrap_or_else(|e| panic!("{}: {e}", segment.display()));
        for record in sets.into_iter().flat_map(|s| s.records) {
            let value = record.value.map(|v| String::from_utf8_lossy(&v).into_owned());
            records.push((record.offset, value.unwrap_or_default()));
        }
    }
    records
}

/// A divergent tail. The leader of a partition appends acks=1 records (acknowledged at once)
/// its stopped followers never fetch, then dies; a follower is elected and takes new acks=all
/// writes at the same offsets. The old leader, restarted, must truncate that tail (its epoch
/// ended where the new leader's began: KIP-320's DivergingEpoch), fetch the new leader's
/// records and rejoin the ISR — after which the three replicas' logs hold the same records
/// below the high watermark, and none holds the divergent ones.
#[cfg_attr(
    feature = "fault-ack-before-isr",
    ignore = "the fault acknowledges writes the ISR lacks"
)]
#[test]
fn a_leader_killed_before_replicating_truncates_its_divergent_tail_and_rejoins() {
    let (_one, mut cluster) = start_with_topic();
    let divergent: Vec<String> = (0..4).map(|i| format!("divergent-{i}")).collect();
    let stopped = append_with_followers_stopped(&cluster, 1, 5_000, &divergent);
    let StoppedFollowers { partition, leader: old_leader, followers, answer, .. } = stopped;
    let (error, divergent_base) = answer;
    assert_eq!(error, 0, "acks=1 is answered at the leader's append");
    let replicated: Vec<String> = stopped
        .replicated
        .iter()
        .filter(|((p, _), _)| *p == partition)
        .map(|(_, value)| value.clone())
        .collect();
    let old_log = replica_log(&cluster.nodes[&old_leader].data_dir(), TOPIC, partition);
    assert!(old_log.iter().any(|(_, v)| v == "divergent-3"), "appended: {old_log:?}");
    cluster.kill9(old_leader);
    for id in followers {
        cluster.resume(id);
    }
    wait_for_leader_among(&cluster, partition, followers);
    let newer: Vec<String> = (0..3).map(|i| format!("new-leader-{i}")).collect();
    let newer_base = produce_acked(&cluster, partition, &newer);
    assert_eq!(newer_base, divergent_base, "the new leader writes where the divergent tail began");

    cluster.start_again(old_leader);
    cluster.wait_for_full_isr(TOPIC, PARTITIONS, Duration::from_secs(40));
    let newer_end = newer_base + newer.len() as i64;
    let (new_leader, hw) = eventually_high_watermark(&cluster, partition, newer_end);
    let expected: Vec<String> = replicated.iter().chain(&newer).cloned().collect();
    let mut below_hw = BTreeMap::new();
    for (id, node) in &cluster.nodes {
        let log = replica_log(&node.data_dir(), TOPIC, partition);
        assert!(
            !log.iter().any(|(_, v)| v.starts_with("divergent-")),
            "node {id} still holds the divergent tail: {log:?}"
        );
        let kept: Vec<(i64, String)> = log.into_iter().filter(|(o, _)| *o < hw).collect();
        below_hw.insert(*id, kept);
    }
    let leaders = &below_hw[&new_leader];
    let values: Vec<String> = leaders.iter().map(|(_, v)| v.clone()).collect();
    assert_eq!(values, expected, "the new leader's log below the high watermark {hw}");
    let offsets: Vec<i64> = leaders.iter().map(|(o, _)| *o).collect();
    assert_eq!(offsets, (0..hw).collect::<Vec<_>>(), "offsets without gaps");
    for (id, log) in &below_hw {
        assert_eq!(log, leaders, "node {id}'s log below the high watermark {hw}");
    }
    let old = cluster.nodes[&old_leader].log();
    let truncations: Vec<&str> = old.lines().filter(|l| l.contains("runcat")).collect();
    eprintln!("node {old_leader} (old leader), then node {new_leader}: {truncations:#?}");
}

/// The broker that coordinates `group` (FindCoordinator on node 1).
fn coordinator_of(cluster: &Cluster, group: &str) -> i32 {
    let request = FindCoordinatorRequest::default()
        .with_key(StrBytes::from_string(group.to_owned()))
        .with_key_type(0);
    let response = call(cluster.port(CONTROLLER), 3, &request);
    assert_eq!(response.error_code, 0, "{:?}", response.error_message);
    response.node_id.0
}

/// `__consumer_offsets` is replicated (offsets.topic.replication.factor=3): a group whose
/// coordinator's broker is killed finds the new coordinator — the new leader of its offsets
/// partition, which loaded the group — and its committed offsets are all there.
#[cfg_attr(
    feature = "fault-ack-before-isr",
    ignore = "the fault acknowledges writes the ISR lacks"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
// The guard serializes whole tests, each on its own test thread; no task awaits it.
#[allow(clippy::await_holding_lock)]
async fn a_groups_committed_offsets_survive_its_coordinators_death() {
    let (_one, mut cluster) = start_with_topic();
    let all = Duration::from_secs(20);
    // A group coordinated by a broker that may die (not node 1, the controller).
    let mut group = String::new();
    eventually(all, "__consumer_offsets exists with three replicas", || {
        let response = cluster.metadata();
        let offsets = response
            .topics
            .iter()
            .find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == "__consumer_offsets"));
        let replicas = offsets.map(|t| t.partitions[0].replica_nodes.len());
        (replicas == Some(3), replicas)
    });
    for i in 0.. {
        group = format!("readers-{i}");
        if coordinator_of(&cluster, &group) != 1 {
            break;
        }
    }
    let coordinator = coordinator_of(&cluster, &group);
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap())
        .set("group.id", &group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut committed = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        committed
            .add_partition_offset(TOPIC, partition, Offset::Offset(i64::from(partition) + 10))
            .unwrap();
    }
    consumer.commit(&committed, rdkafka::consumer::CommitMode::Sync).expect("commit");
    drop(consumer);

    cluster.kill9(coordinator);
    let mut moved_to = coordinator;
    eventually(all, "another broker coordinates the group", || {
        moved_to = coordinator_of(&cluster, &group);
        (moved_to != coordinator, moved_to)
    });
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap())
        .set("group.id", &group)
        .create()
        .expect("consumer");
    let mut asked = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        asked.add_partition(TOPIC, partition);
    }
    let fetched =
        consumer.committed_offsets(asked, Duration::from_secs(20)).expect("committed offsets");
    let offsets: Vec<(i32, Offset)> =
        fetched.elements().iter().map(|e| (e.partition(), e.offset())).collect();
    let expected: Vec<(i32, Offset)> =
        (0..PARTITIONS).map(|p| (p, Offset::Offset(i64::from(p) + 10))).collect();
    assert_eq!(offsets, expected, "the group's commits, read from node {moved_to}");
}

/// SIGTERM is a controlled shutdown, as in Kafka: before the process exits the controller moves
/// its leaderships to other in-sync replicas and takes it out of every ISR, so the brokers that
/// remain tell clients of the new leaders at once, not after `broker.session.timeout.ms`. For a
/// broker-only node, and for the combined node 1, whose broker hands its leaderships over
/// while its controller still runs.
#[test]
fn sigterm_moves_every_leadership_away_before_the_process_exits() {
    let (_guard, mut cluster) = start_with_topic();
    for id in [2, CONTROLLER] {
        let before = cluster.partitions(TOPIC);
        assert!(before.values().any(|(leader, _)| *leader == id), "node {id} leads: {before:?}");
        cluster.nodes.get_mut(&id).unwrap().stop();
        let log = cluster.nodes[&id].log();
        assert!(
            log.contains("controlled shutdown: this broker leads no partition any more"),
            "node {id} exited without its controlled shutdown completing:\n{}",
            cluster.nodes[&id].log_tail()
        );
        // Node 3 has replayed the leader moves before the controller let node `id` go.
        let after = support::cluster::partitions_on(cluster.port(3), TOPIC);
        assert_eq!(after.len(), PARTITIONS as usize, "{after:?}");
        for (partition, (leader, isr)) in &after {
            assert!(
                *leader != id && *leader != -1 && !isr.contains(&id),
                "partition {partition} still names node {id} right after it exited: {after:?}"
            );
        }
        if id != CONTROLLER {
            cluster.start_again(id);
            cluster.wait_for_full_isr(TOPIC, PARTITIONS, Duration::from_secs(20));
        }
    }
}
