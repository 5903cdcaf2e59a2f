//! The follower's data plane, after Kafka's `ReplicaFetcherManager` (`AbstractFetcherManager`)
//! and `ReplicaFetcherThread` (`AbstractFetcherThread`): [`ReplicaFetcherManager`] keeps one
//! fetcher task per leader broker, and each task fetches its partitions from that leader as a
//! follower (Fetch with `ReplicaState`), appends what comes with the leader's offsets, follows
//! the leader's high watermark and log start offset, truncates where its log diverged
//! (KIP-320's DivergingEpoch) or fell out of the leader's range, and backs off
//! (`replica.fetch.backoff.ms`) on errors.
//!
//! Partitions are handed over by the metadata publisher as the metadata makes this node their
//! follower; they wait in the manager until [`ReplicaFetcherManager::start`] gives it the
//! network (`Broker::start_replica_fetchers`), since `Broker::open` has none. Tasks are started
//! through a [`SpawnFetcher`] the caller gives: `runtime::spawn` in the binary, `spawn_local`
//! in the simulator.
//!
//! A fetcher holds only a weak reference to the replica manager: once the broker is dropped its
//! fetchers end at their next round.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use bytes::BytesMut;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic, ReplicaState};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{
    BrokerId, FetchRequest, FetchResponse, ListOffsetsRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::Notify;
use uuid::Uuid;

use super::{FollowerError, Partition, ReplicaManager};
use crate::clock::SharedClock;
use crate::config::BrokerConfig;
use crate::log::manager::PartitionKey;
use crate::log::LogError;
use crate::metrics::error_name;
use crate::network::{Connector, NodeClient};
use crate::runtime::{self, Instant};

/// How the manager starts a fetcher task: `runtime::spawn` in the binary, `spawn_local` in the
/// simulator (whose host drops its tasks on a crash).
pub type SpawnFetcher = Arc<dyn Fn(Pin<Box<dyn Future<Output = ()> + Send>>) + Send + Sync>;

/// ListOffsets' LATEST and EARLIEST timestamps.
const LATEST_TIMESTAMP: i64 = -1;
const EARLIEST_TIMESTAMP: i64 = -2;

/// The fetcher's settings, Kafka's `replica.fetch.*` properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetcherConfig {
    /// This node's replica id (`node.id`).
    pub local_replica_id: i32,
    /// `replica.fetch.max.bytes`: per partition.
    pub max_bytes: i32,
    /// `replica.fetch.response.max.bytes`: per response.
    pub response_max_bytes: i32,
    /// `replica.fetch.wait.max.ms`.
    pub max_wait_ms: i32,
    /// `replica.fetch.min.bytes`.
    pub min_bytes: i32,
    /// `replica.fetch.backoff.ms`.
    pub backoff: Duration,
    /// `replica.socket.timeout.ms`: how long one request may take.
    pub socket_timeout: Duration,
}

impl FetcherConfig {
    /// The settings `config` gives.
    pub fn from_broker_config(config: &BrokerConfig) -> Self {
        let ms = |v: i32| Duration::from_millis(v.max(0) as u64);
        FetcherConfig {
            local_replica_id: config.node_id,
            max_bytes: config.replica_fetch_max_bytes,
            response_max_bytes: config.replica_fetch_response_max_bytes,
            max_wait_ms: config.replica_fetch_wait_max_ms,
            min_bytes: config.replica_fetch_min_bytes,
            backoff: ms(config.replica_fetch_backoff_ms),
            socket_timeout: ms(config.replica_socket_timeout_ms),
        }
    }
}

/// A leader broker as the follower reaches it: its registered endpoint on
/// `inter.broker.listener.name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderEndpoint {
    /// The leader's node id.
    pub leader_id: i32,
    /// Its advertised host.
    pub host: String,
    /// Its advertised port.
    pub port: u16,
}

/// A partition handed to the fetchers: whom to follow, at which leader epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchTarget {
    /// The leader.
    pub leader: LeaderEndpoint,
    /// The topic id (Fetch v13+ names topics by id).
    pub topic_id: Uuid,
    /// The epoch of the leadership followed (the fetch's `current_leader_epoch`).
    pub leader_epoch: i32,
}

/// One followed partition as its fetcher sees it (the metrics' hook).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchStatus {
    /// The leader fetched from.
    pub leader_id: i32,
    /// The leader epoch fetched at.
    pub leader_epoch: i32,
    /// The leader's high watermark minus this replica's log end offset at the last fetch;
    /// `None` before the first answer (or before the fetchers started).
    pub lag: Option<i64>,
    /// Given up after a storage or unexpected error, until the metadata hands it over again.
    pub failed: bool,
    /// Waiting out `replica.fetch.backoff.ms` after an error.
    pub delayed: bool,
    /// Why its fetcher cannot reach the leader, while it cannot.
    pub leader_unreachable: Option<String>,
}

/// Kafka's `ReplicaFetcherManager`: one fetcher per leader broker.
#[derive(Default)]
pub struct ReplicaFetcherManager {
    state: Mutex<ManagerState>,
    /// This node's broker epoch, from its registration in the metadata (`ReplicaState`'s
    /// `replica_epoch`; -1 while unknown).
    broker_epoch: Arc<AtomicI64>,
}

#[derive(Default)]
struct ManagerState {
    /// Every partition followed with a reachable leader, started or not.
    partitions: BTreeMap<PartitionKey, FetchTarget>,
    started: Option<Started>,
    /// The running fetchers, by leader id.
    fetchers: BTreeMap<i32, Arc<Fetcher>>,
}

/// What fetchers are started with.
#[derive(Clone)]
struct Started {
    replicas: Weak<ReplicaManager>,
    connector: Arc<dyn Connector>,
    spawn: SpawnFetcher,
    config: FetcherConfig,
    clock: SharedClock,
    broker_epoch: Arc<AtomicI64>,
}

/// One fetcher task's shared state: its leader and partitions.
struct Fetcher {
    leader: LeaderEndpoint,
    partitions: Mutex<BTreeMap<PartitionKey, PartitionFetchState>>,
    /// Woken when its partitions change.
    changed: Notify,
    stopped: AtomicBool,
    /// Why the leader cannot be reached, while it cannot.
    unreachable: Mutex<Option<String>>,
}

/// Kafka's `PartitionFetchState`, minus what the log itself knows (the fetch offset is the log
/// end offset, the last fetched epoch the cache's latest).
#[derive(Debug, Clone, PartialEq, Eq)]
struct PartitionFetchState {
    topic_id: Uuid,
    leader_epoch: i32,
    /// Not fetched before this instant (after an error).
    delayed_until: Option<Instant>,
    failed: bool,
    lag: Option<i64>,
    /// The last error code logged, so a repeated error logs once.
    last_error: Option<i16>,
}

impl PartitionFetchState {
    fn new(target: &FetchTarget) -> Self {
        PartitionFetchState {
            topic_id: target.topic_id,
            leader_epoch: target.leader_epoch,
            delayed_until: None,
            failed: false,
            lag: None,
            last_error: None,
        }
    }
}

impl Fetcher {
    fn lock_partitions(&self) -> MutexGuard<'_, BTreeMap<PartitionKey, PartitionFetchState>> {
        self.partitions.lock().expect("fetcher lock poisoned")
    }

    /// Runs `update` on `key`'s state if it is still fetched at `leader_epoch`.
    fn update(
        &self,
        key: &PartitionKey,
        leader_epoch: i32,
        update: impl FnOnce(&mut PartitionFetchState),
    ) {
        if let Some(state) = self.lock_partitions().get_mut(key) {
            if state.leader_epoch == leader_epoch {
                update(state);
            }
        }
    }
}

impl ReplicaFetcherManager {
    fn lock(&self) -> MutexGuard<'_, ManagerState> {
        self.state.lock().expect("fetcher manager lock poisoned")
    }

    /// Records this node's broker epoch (from its registration in the metadata image).
    pub fn set_broker_epoch(&self, broker_epoch: i64) {
        self.broker_epoch.store(broker_epoch, Ordering::Relaxed);
    }

    /// Fetches `partitions` from their leaders (Kafka's `addFetcherForPartitions`); a partition
    /// already fetched from the same leader at the same epoch keeps its state, one whose leader
    /// or epoch changed starts afresh.
    pub fn add_partitions(
        &self,
        partitions: impl IntoIterator<Item = (PartitionKey, FetchTarget)>,
    ) {
        let mut state = self.lock();
        state.partitions.extend(partitions);
        state.sync();
    }

    /// Stops fetching `partitions` (Kafka's `removeFetcherForPartitions`): they became led
    /// here, lost their leader or were deleted.
    pub fn remove_partitions<'a>(&self, partitions: impl IntoIterator<Item = &'a PartitionKey>) {
        let mut state = self.lock();
        let mut removed = false;
        for key in partitions {
            removed |= state.partitions.remove(key).is_some();
        }
        if removed {
            state.sync();
        }
    }

    /// Starts the fetchers of every partition handed over so far, and of those handed over
    /// later, over `connector`; `spawn` runs each fetcher task. A second call is ignored.
    pub fn start(
        &self,
        replicas: Weak<ReplicaManager>,
        connector: Arc<dyn Connector>,
        spawn: SpawnFetcher,
        config: FetcherConfig,
        clock: SharedClock,
    ) {
        let mut state = self.lock();
        if state.started.is_some() {
            return;
        }
        let broker_epoch = self.broker_epoch.clone();
        state.started = Some(Started { replicas, connector, spawn, config, clock, broker_epoch });
        state.sync();
    }

    /// Every followed partition with its fetch state, in (topic, partition) order.
    pub fn fetch_states(&self) -> BTreeMap<PartitionKey, FetchStatus> {
        let state = self.lock();
        let now = runtime::now();
        state
            .partitions
            .iter()
            .map(|(key, target)| {
                let fetcher = state.fetchers.get(&target.leader.leader_id);
                let fetched = fetcher.and_then(|f| f.lock_partitions().get(key).cloned());
                let status = FetchStatus {
                    leader_id: target.leader.leader_id,
                    leader_epoch: target.leader_epoch,
                    lag: fetched.as_ref().and_then(|f| f.lag),
                    failed: fetched.as_ref().is_some_and(|f| f.failed),
                    delayed: fetched
                        .as_ref()
                        .is_some_and(|f| f.delayed_until.is_some_and(|until| until > now)),
                    leader_unreachable: fetcher
                        .and_then(|f| f.unreachable.lock().expect("fetcher lock poisoned").clone()),
                };
                (key.clone(), status)
            })
            .collect()
    }
}

impl ManagerState {
    /// Makes the fetchers match `partitions`: one per leader, each with its partitions; a
    /// fetcher whose leader moved to another endpoint is replaced, one left without partitions
    /// stops (Kafka's `shutdownIdleFetcherThreads`).
    fn sync(&mut self) {
        let Some(started) = self.started.clone() else { return };
        let mut by_leader: BTreeMap<i32, Vec<(&PartitionKey, &FetchTarget)>> = BTreeMap::new();
        for (key, target) in &self.partitions {
            by_leader.entry(target.leader.leader_id).or_default().push((key, target));
        }
        let stale: Vec<i32> = self
            .fetchers
            .iter()
            .filter(|(id, fetcher)| {
                by_leader.get(id).is_none_or(|p| p[0].1.leader != fetcher.leader)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in stale {
            let fetcher = self.fetchers.remove(&id).expect("listed");
            fetcher.stopped.store(true, Ordering::Relaxed);
            fetcher.changed.notify_one();
        }
        for (leader_id, partitions) in by_leader {
            let fetcher = self.fetchers.entry(leader_id).or_insert_with(|| {
                let fetcher = Arc::new(Fetcher {
                    leader: partitions[0].1.leader.clone(),
                    partitions: Mutex::new(BTreeMap::new()),
                    changed: Notify::new(),
                    stopped: AtomicBool::new(false),
                    unreachable: Mutex::new(None),
                });
                let task = run_fetcher(fetcher.clone(), started.clone());
                (started.spawn)(Box::pin(task));
                fetcher
            });
            let mut states = fetcher.lock_partitions();
            let before = states.clone();
            states.retain(|key, _| partitions.iter().any(|(k, _)| *k == key));
            for (key, target) in partitions {
                let keep = states.get(key).is_some_and(|s| {
                    s.topic_id == target.topic_id && s.leader_epoch == target.leader_epoch
                });
                if !keep {
                    states.insert(key.clone(), PartitionFetchState::new(target));
                }
            }
            if *states != before {
                drop(states);
                fetcher.changed.notify_one();
            }
        }
    }
}

/// What one fetch asked of a partition, to match its answer against.
struct Sent {
    key: PartitionKey,
    leader_epoch: i32,
    fetch_offset: i64,
}

/// Kafka's `AbstractFetcherThread.doWork`: fetch the ready partitions, process the answers,
/// back off on errors; until the manager stops this fetcher or the broker is gone.
async fn run_fetcher(fetcher: Arc<Fetcher>, started: Started) {
    let config = &started.config;
    let leader = &fetcher.leader;
    let client_id = format!("broker-{}-fetcher-0", config.local_replica_id);
    // The leader may hold a fetch for `max_wait_ms`; the deadline comes on top of that.
    let deadline = config.socket_timeout + Duration::from_millis(config.max_wait_ms.max(0) as u64);
    let mut client =
        NodeClient::new(started.connector.clone(), &leader.host, leader.port, &client_id, deadline);
    tracing::info!(
        leader = leader.leader_id,
        address = client.address(),
        "replica fetcher started"
    );
    loop {
        if fetcher.stopped.load(Ordering::Relaxed) {
            tracing::info!(leader = leader.leader_id, "replica fetcher stopped");
            return;
        }
        let Some(replicas) = started.replicas.upgrade() else { return };
        // Registered before the partitions are read, so a change in between is not missed.
        let changed = fetcher.changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let now = runtime::now();
        let (request, sent, next_ready) = build_fetch(&fetcher, &replicas, &started, now);
        if sent.is_empty() {
            drop(replicas);
            let wake = next_ready.unwrap_or_else(|| now + Duration::from_secs(3600));
            // `biased`: an unbiased select draws from tokio's thread-local RNG, which the
            // simulator cannot seed.
            tokio::select! {
                biased;
                _ = &mut changed => {}
                _ = runtime::sleep_until(wake) => {}
            }
            continue;
        }
        match client.call(&request).await {
            Ok((_, response)) if response.error_code == 0 => {
                set_unreachable(&fetcher, None);
                process_response(&fetcher, &replicas, &started, &mut client, sent, response).await;
            }
            outcome => {
                let why = match outcome {
                    Ok((_, response)) => {
                        format!("the leader answered {}", error_name(response.error_code))
                    }
                    Err(e) => e.to_string(),
                };
                set_unreachable(&fetcher, Some(why));
                drop(replicas);
                // Kafka delays every partition of the fetcher by the backoff.
                runtime::sleep(config.backoff).await;
            }
        }
    }
}

/// Records whether the leader is reachable; logs each change once, not each retry.
fn set_unreachable(fetcher: &Fetcher, why: Option<String>) {
    let mut unreachable = fetcher.unreachable.lock().expect("fetcher lock poisoned");
    if *unreachable == why {
        return;
    }
    let leader = fetcher.leader.leader_id;
    match &why {
        Some(why) => tracing::warn!(
            leader,
            "cannot fetch from the leader: {why}; retrying every replica.fetch.backoff.ms"
        ),
        None => tracing::info!(leader, "fetching from the leader again"),
    }
    *unreachable = why;
}

/// The Fetch request for this fetcher's ready partitions (not failed, not delayed, still
/// following at the fetcher's epoch), what it asked of each, and when the next delayed one is
/// ready.
fn build_fetch(
    fetcher: &Fetcher,
    replicas: &ReplicaManager,
    started: &Started,
    now: Instant,
) -> (FetchRequest, Vec<Sent>, Option<Instant>) {
    let config = &started.config;
    let mut topics: BTreeMap<Uuid, FetchTopic> = BTreeMap::new();
    let mut sent = Vec::new();
    let mut next_ready: Option<Instant> = None;
    let mut states = fetcher.lock_partitions();
    for (key, state) in states.iter_mut() {
        if state.failed {
            continue;
        }
        if let Some(until) = state.delayed_until {
            if until > now {
                next_ready = Some(next_ready.map_or(until, |n| n.min(until)));
                continue;
            }
            state.delayed_until = None;
        }
        let Some(position) =
            replicas.partition(&key.0, key.1).and_then(|p| p.follower_fetch_position())
        else {
            continue;
        };
        if position.leader_epoch != state.leader_epoch {
            // The metadata moved on; the manager hands the partition over again.
            continue;
        }
        let partition = FetchPartition::default()
            .with_partition(key.1)
            .with_current_leader_epoch(state.leader_epoch)
            .with_fetch_offset(position.fetch_offset)
            .with_last_fetched_epoch(position.last_fetched_epoch)
            .with_log_start_offset(position.log_start_offset)
            .with_partition_max_bytes(config.max_bytes);
        topics
            .entry(state.topic_id)
            .or_insert_with(|| {
                FetchTopic::default()
                    .with_topic(TopicName(StrBytes::from_string(key.0.clone())))
                    .with_topic_id(state.topic_id)
            })
            .partitions
            .push(partition);
        sent.push(Sent {
            key: key.clone(),
            leader_epoch: state.leader_epoch,
            fetch_offset: position.fetch_offset,
        });
    }
    drop(states);
    let replica_id = BrokerId(config.local_replica_id);
    let broker_epoch = started.broker_epoch.load(Ordering::Relaxed);
    // From v15 the replica is named in `ReplicaState` only (`replica_id` must stay -1).
    let request = FetchRequest::default()
        .with_replica_state(
            ReplicaState::default().with_replica_id(replica_id).with_replica_epoch(broker_epoch),
        )
        .with_max_wait_ms(config.max_wait_ms)
        .with_min_bytes(config.min_bytes)
        .with_max_bytes(config.response_max_bytes)
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(topics.into_values().collect());
    (request, sent, next_ready)
}

/// Kafka's `processFetchRequest`: each partition's answer, in request order.
async fn process_response(
    fetcher: &Fetcher,
    replicas: &ReplicaManager,
    started: &Started,
    client: &mut NodeClient,
    sent: Vec<Sent>,
    response: FetchResponse,
) {
    let mut answers = BTreeMap::new();
    for topic in response.responses {
        for data in topic.partitions {
            answers.insert((topic.topic_id, data.partition_index), data);
        }
    }
    let backoff = started.config.backoff;
    for asked in sent {
        let key = &asked.key;
        let topic_id = fetcher.lock_partitions().get(key).map(|s| s.topic_id);
        let Some(data) = topic_id.and_then(|id| answers.remove(&(id, key.1))) else { continue };
        let Some(partition) = replicas.partition(&key.0, key.1) else { continue };
        let outcome = match ResponseError::try_from_code(data.error_code) {
            None => {
                let diverging = data.diverging_epoch;
                if diverging.epoch != -1 || diverging.end_offset != -1 {
                    truncate_on_divergence(
                        replicas,
                        &partition,
                        &asked,
                        diverging.epoch,
                        diverging.end_offset,
                    )
                } else {
                    let mut records = BytesMut::from(&data.records.unwrap_or_default()[..]);
                    let now_ms = started.clock.now_ms();
                    partition
                        .append_records_to_follower(
                            asked.leader_epoch,
                            asked.fetch_offset,
                            &mut records,
                            data.high_watermark,
                            data.log_start_offset,
                            now_ms,
                        )
                        .map(|(_, update)| {
                            let lag = (data.high_watermark - update.log_end_offset).max(0);
                            fetcher.update(key, asked.leader_epoch, |s| s.lag = Some(lag));
                        })
                }
            }
            Some(ResponseError::OffsetOutOfRange) => {
                handle_out_of_range(replicas, &partition, &asked, client).await
            }
            Some(error) => {
                // NOT_LEADER_OR_FOLLOWER, FENCED_LEADER_EPOCH, UNKNOWN_LEADER_EPOCH,
                // UNKNOWN_TOPIC_ID, …: the leader's view differs from ours; retried after the
                // backoff until the metadata changes the leadership.
                fetcher.update(key, asked.leader_epoch, |s| {
                    if s.last_error != Some(data.error_code) {
                        tracing::info!(
                            topic = key.0,
                            partition = key.1,
                            leader = fetcher.leader.leader_id,
                            leader_epoch = asked.leader_epoch,
                            "the leader answered {error:?} for this partition; retrying after replica.fetch.backoff.ms"
                        );
                        s.last_error = Some(data.error_code);
                    }
                    s.delayed_until = Some(runtime::now() + backoff);
                });
                continue;
            }
        };
        match outcome {
            Ok(()) => fetcher.update(key, asked.leader_epoch, |s| s.last_error = None),
            Err(FollowerError::Stale(why)) => tracing::debug!("dropped a fetch answer: {why}"),
            Err(FollowerError::Log(e)) => {
                fail_or_delay(fetcher, key, asked.leader_epoch, e, backoff)
            }
        }
    }
}

/// A log error on a fetched partition: a storage error or an append that does not continue
/// the log fails the partition (logged once; Kafka's `markPartitionFailed`), anything else
/// (a corrupt batch, a failed leader lookup) is retried after the backoff.
fn fail_or_delay(
    fetcher: &Fetcher,
    key: &PartitionKey,
    leader_epoch: i32,
    e: LogError,
    backoff: Duration,
) {
    let fails = matches!(e, LogError::Storage { .. } | LogError::UnexpectedAppendOffset { .. });
    fetcher.update(key, leader_epoch, |s| {
        if fails {
            tracing::error!(topic = key.0, partition = key.1, error = %e, "replication of this partition stopped: the follower cannot write what the leader sent; it resumes when the metadata hands the partition over again");
            s.failed = true;
        } else {
            tracing::warn!(topic = key.0, partition = key.1, error = %e, "fetched data not applied; retrying after replica.fetch.backoff.ms");
            s.delayed_until = Some(runtime::now() + backoff);
        }
    });
}

/// KIP-320's truncation on a DivergingEpoch answer (Kafka's `getOffsetTruncationState`): to
/// the smaller of the leader's end offset for the epoch and this replica's own end offset for
/// it — or for its largest epoch below, when it does not have the leader's —, bounded by the
/// log end offset.
fn truncate_on_divergence(
    replicas: &ReplicaManager,
    partition: &Partition,
    asked: &Sent,
    leader_epoch_end: i32,
    leader_end_offset: i64,
) -> Result<(), FollowerError> {
    let local = partition.local_end_offset_for_epoch(leader_epoch_end);
    let offset = truncation_offset(leader_epoch_end, leader_end_offset, local, asked.fetch_offset);
    tracing::info!(
        topic = partition.topic(),
        partition = partition.partition(),
        leader_epoch = leader_epoch_end,
        leader_end_offset,
        "the log diverged from the leader's: truncating to offset {offset}"
    );
    let (topic, index) = (partition.topic(), partition.partition());
    partition.truncate_as_follower(asked.leader_epoch, asked.fetch_offset, || {
        replicas.truncate_log(topic, index, offset).map(|_| ())
    })?;
    Ok(())
}

/// Where a diverged follower truncates (Kafka's `getOffsetTruncationState`), given the
/// leader's `(epoch, end offset)`, this replica's own `(epoch, end offset)` for that epoch
/// (its largest epoch not above it) and its log end offset.
fn truncation_offset(
    leader_epoch: i32,
    leader_end_offset: i64,
    (local_epoch, local_end_offset): (i32, i64),
    log_end_offset: i64,
) -> i64 {
    let offset = if local_epoch == -1 || leader_epoch == -1 {
        // No epoch to compare: trust the leader's end, never above our own.
        leader_end_offset.min(log_end_offset)
    } else if local_epoch != leader_epoch {
        // We never had the leader's epoch: our own epoch below it ends where we must cut; the
        // next fetch compares again from there.
        local_end_offset.min(log_end_offset)
    } else {
        leader_end_offset.min(local_end_offset)
    };
    debug_assert!(offset <= log_end_offset, "a truncation never extends the log");
    offset
}

/// Kafka's `handleOutOfRangeError` (`fetchOffsetAndTruncate`): the leader's log end offset
/// (ListOffsets LATEST as a replica); below ours, truncate to it; else the leader's log start
/// (EARLIEST): above our log end offset, start the log afresh there (our data is all older
/// than the leader keeps), else fetch again from our log end offset.
async fn handle_out_of_range(
    replicas: &ReplicaManager,
    partition: &Partition,
    asked: &Sent,
    client: &mut NodeClient,
) -> Result<(), FollowerError> {
    let (topic, index) = (partition.topic().to_owned(), partition.partition());
    let lookup_error = |why: String| {
        FollowerError::Log(LogError::OffsetOutOfRange(format!(
            "{topic}-{index}: fetch offset {} is out of the leader's range and the leader's \
             offsets are unknown: {why}",
            asked.fetch_offset
        )))
    };
    let leader_end =
        list_offset(client, &asked.key, asked.leader_epoch, LATEST_TIMESTAMP, replicas)
            .await
            .map_err(&lookup_error)?;
    let log_end_offset = asked.fetch_offset;
    if leader_end < log_end_offset {
        tracing::warn!(topic, partition = index, "reset the fetch offset from {log_end_offset} to the leader's log end offset {leader_end}");
        partition.truncate_as_follower(asked.leader_epoch, asked.fetch_offset, || {
            replicas.truncate_log(&topic, index, leader_end).map(|_| ())
        })?;
        return Ok(());
    }
    let leader_start =
        list_offset(client, &asked.key, asked.leader_epoch, EARLIEST_TIMESTAMP, replicas)
            .await
            .map_err(&lookup_error)?;
    if leader_start > log_end_offset {
        tracing::warn!(topic, partition = index, "truncating fully and starting at the leader's log start offset {leader_start}: this replica's log end offset {log_end_offset} is below it");
        partition.truncate_as_follower(asked.leader_epoch, asked.fetch_offset, || {
            replicas.truncate_log_fully_and_start_at(&topic, index, leader_start)
        })?;
    } else {
        tracing::info!(
            topic,
            partition = index,
            "fetching again from this replica's log end offset {log_end_offset}"
        );
    }
    Ok(())
}

/// The leader's offset for `timestamp` (LATEST: its log end offset to a replica; EARLIEST: its
/// log start offset), asked as this replica.
async fn list_offset(
    client: &mut NodeClient,
    key: &PartitionKey,
    leader_epoch: i32,
    timestamp: i64,
    replicas: &ReplicaManager,
) -> Result<i64, String> {
    let request = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(replicas.local_replica_id()))
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(TopicName(StrBytes::from_string(key.0.clone())))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(key.1)
                .with_current_leader_epoch(leader_epoch)
                .with_timestamp(timestamp)])]);
    let (_, response) = client.call(&request).await.map_err(|e| e.to_string())?;
    let answer = response
        .topics
        .first()
        .and_then(|t| t.partitions.first())
        .ok_or_else(|| "ListOffsets answered no partition".to_owned())?;
    if answer.error_code != 0 {
        return Err(format!("ListOffsets answered {}", error_name(answer.error_code)));
    }
    Ok(answer.offset)
}

#[cfg(test)]
mod tests;
