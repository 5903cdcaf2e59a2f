//! A broker host: the real `Broker`, its server over turmoil TCP, its storage on a simulated
//! disk that outlives the host, so a crash loses exactly what was never synced.
//!
//! Hosts are keyed by node id (`broker-<id>`). One host is a single broker, its own quorum's
//! one voter, which creates the topic itself. Several are a cluster as `kafka-lab cluster up`
//! runs one: combined nodes whose first three are the metadata quorum's voters (Kafka's Raft
//! over the CONTROLLER listener), the others brokers; each starts as the binary does
//! (`cli::start`): the voters' network, registration and heartbeats with the active
//! controller, replica fetchers — every connection over turmoil.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use kafka_lab_broker::clock::Clock;
use kafka_lab_broker::security::random::SeededRandom;
use kafka_lab_broker::storage::MemoryStorage;
use kafka_lab_broker::{Broker, BrokerConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use kafka_lab_broker::replica::Role;

use crate::history::{Event, History, QuorumSample, ReplicaSample};

/// The port every broker host listens on.
pub const PORT: u16 = 9092;
/// The port of a cluster node's CONTROLLER listener.
pub const CONTROLLER_PORT: u16 = 9093;
/// The cluster id of every simulated cluster (so a run replays).
const CLUSTER_ID: &str = "c2ltdWxhdGVkLWNsdXN0ZQ";
/// The topic the clients produce to and consume from.
pub const TOPIC: &str = "chaos";
/// Wall-clock time at the start of every run (2026-01-01T00:00:00Z), so timestamps replay.
pub const EPOCH_MS: i64 = 1_767_225_600_000;

/// Wall time for the broker: the fixed epoch plus turmoil's simulated elapsed time. Unlike
/// `TokioClock`, it keeps counting across a host restart (each turmoil incarnation gets a
/// fresh tokio runtime whose clock starts anew).
#[derive(Debug, Clone, Copy)]
pub struct SimClock;

impl Clock for SimClock {
    fn now_ms(&self) -> i64 {
        EPOCH_MS + turmoil::sim_elapsed().map_or(0, |d| d.as_millis() as i64)
    }
}

/// One broker of the simulated cluster and the disk it keeps across crashes.
#[derive(Clone)]
pub struct BrokerHost {
    /// `node.id`.
    pub node_id: i32,
    /// The simulated disk; survives the host.
    pub storage: MemoryStorage,
    config: BrokerConfig,
    seed: u64,
    partitions: i32,
    /// Nodes in the cluster (1: a single broker that creates the topic itself).
    nodes: i32,
    incarnations: Arc<AtomicU32>,
    history: History,
    /// The running incarnation's broker, for [`BrokerHost::sample`]; `None` while down.
    live: Arc<Mutex<Option<Arc<Broker>>>>,
    /// Set by [`BrokerHost::request_shutdown`]: the node shuts down as on SIGTERM.
    shutdown: Arc<tokio::sync::Notify>,
    /// Set once a requested shutdown is complete.
    stopped: Arc<std::sync::atomic::AtomicBool>,
}

impl BrokerHost {
    /// Node `node_id` of `sim`'s cluster, with its flush policy.
    pub fn new(
        node_id: i32,
        sim: &crate::config::SimConfig,
        history: History,
    ) -> anyhow::Result<Self> {
        let (seed, partitions, flush_interval_messages) =
            (sim.seed, sim.partitions, sim.flush_interval_messages);
        let name = Self::host_name(node_id);
        let mut overrides = vec![
            format!("node.id={node_id}"),
            format!("listeners=PLAINTEXT://0.0.0.0:{PORT}"),
            format!("advertised.listeners=PLAINTEXT://{name}:{PORT}"),
            "log.dirs=/data".to_owned(),
            format!("log.flush.interval.messages={flush_interval_messages}"),
            // Small segments, so runs roll segments and crash between rolls.
            "log.segment.bytes=8192".to_owned(),
            "log.retention.check.interval.ms=1000".to_owned(),
            "offsets.topic.num.partitions=1".to_owned(),
            // Group consumers use session timeouts of about a second, and a run's chaos phase
            // lasts seconds: Kafka's 6 s minimum and 3 s initial delay would leave no room.
            "group.min.session.timeout.ms=100".to_owned(),
            "group.initial.rebalance.delay.ms=100".to_owned(),
        ];
        if sim.nodes > 1 {
            overrides.extend(cluster_overrides(node_id, sim));
        }
        let config = BrokerConfig::load(None, &overrides)?;
        Ok(Self {
            node_id,
            storage: MemoryStorage::new(),
            config,
            seed,
            partitions,
            nodes: sim.nodes,
            incarnations: Arc::default(),
            history,
            live: Arc::default(),
            shutdown: Arc::default(),
            stopped: Arc::default(),
        })
    }

    /// The turmoil host name of broker `node_id`.
    pub fn host_name(node_id: i32) -> String {
        format!("broker-{node_id}")
    }

    /// This host's name.
    pub fn name(&self) -> String {
        Self::host_name(self.node_id)
    }

    /// The address clients bootstrap from.
    pub fn address(&self) -> String {
        format!("{}:{PORT}", self.name())
    }

    /// Registers the host with the simulation; turmoil calls the closure again on restart.
    pub fn install(&self, sim: &mut turmoil::Sim<'_>) {
        let host = self.clone();
        sim.host(self.name(), move || host.clone().run());
    }

    /// What the running node says of itself now — its quorum state and its replica of every
    /// partition of the topic — or `None` while it is down. Read between simulation steps,
    /// when none of its tasks runs, so sampling changes nothing in the run.
    pub fn sample(&self, time_ms: u64) -> Option<Event> {
        let broker = self.live.lock().expect("live broker lock poisoned").clone()?;
        let quorum = broker.quorum_metrics();
        let committed_epoch =
            broker.metadata_log_view().epoch_at(quorum.high_watermark - 1).unwrap_or(-1);
        let replicas = (0..self.partitions)
            .filter_map(|p| broker.replica_manager().partition(TOPIC, p))
            .map(|partition| {
                let (role, leader_id, isr) = match partition.role() {
                    Role::Leader(leader) => {
                        ("leader", self.node_id, leader.isr.iter().copied().collect())
                    }
                    Role::Follower { leader_id, .. } => ("follower", leader_id, Vec::new()),
                    Role::Offline { .. } => ("offline", -1, Vec::new()),
                };
                ReplicaSample {
                    partition: partition.partition(),
                    role: role.to_owned(),
                    leader_id,
                    leader_epoch: partition.leader_epoch(),
                    high_watermark: partition.high_watermark(),
                    log_end_offset: partition.log_end_offset(),
                    isr,
                }
            })
            .collect();
        Some(Event::NodeState {
            time_ms,
            node_id: self.node_id,
            incarnation: self.incarnations.load(Ordering::SeqCst).saturating_sub(1),
            quorum: QuorumSample {
                state: quorum.state,
                leader_id: quorum.leader_id,
                epoch: quorum.epoch,
                high_watermark: quorum.high_watermark,
                log_end_offset: quorum.log_end_offset,
                committed_epoch,
            },
            replicas,
        })
    }

    /// The running node's metadata log after the run, or `None` while it is down.
    pub fn metadata_log(&self) -> Option<Event> {
        let broker = self.live.lock().expect("live broker lock poisoned").clone()?;
        let quorum = broker.quorum_metrics();
        let view = broker.metadata_log_view();
        Some(Event::MetadataLog {
            node_id: self.node_id,
            voter: broker.is_controller(),
            leader: quorum.state == "leader",
            log_start_offset: view.start_offset(),
            log_end_offset: view.end_offset(),
            high_watermark: quorum.high_watermark,
            epochs: view.epochs().to_vec(),
        })
    }

    /// Asks the running node to shut down as the binary does on SIGTERM (`cli::run`): a
    /// controlled shutdown moves its leaderships away within `broker.session.timeout.ms`, the
    /// quorum's leader resigns, every log is flushed, then the node's software returns.
    pub fn request_shutdown(&self) {
        self.shutdown.notify_one();
    }

    /// The node went down: nothing of this incarnation is sampled again.
    pub fn forget_live(&self) {
        self.live.lock().expect("live broker lock poisoned").take();
    }

    /// Simulates power loss on the disk. With `torn`, a seeded random prefix of each file's
    /// unsynced tail survives (a crash in the middle of a write).
    pub fn crash_disk(&self, torn: bool, seed: u64) {
        if torn {
            let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ seed);
            self.storage.crash_with(|_, unflushed| rng.gen_range(0..=unflushed));
        } else {
            self.storage.crash();
        }
    }

    async fn run(self) -> turmoil::Result {
        let incarnation = self.incarnations.fetch_add(1, Ordering::SeqCst);
        // A shutdown asked of an earlier incarnation is not this one's.
        tokio::select! {
            biased;
            () = self.shutdown.notified() => {}
            () = std::future::ready(()) => {}
        }
        self.stopped.store(false, Ordering::SeqCst);
        // Nonces and salts from the run's seed too, so the run replays; the binary uses the OS.
        let broker = Broker::open_with_secure_random(
            self.config.clone(),
            Arc::new(self.storage.clone()),
            Arc::new(SimClock),
            if self.nodes > 1 {
                self.seed ^ (self.node_id as u64).rotate_left(48) ^ u64::from(incarnation)
            } else {
                self.seed
            },
            Arc::new(SeededRandom::new(self.seed.rotate_left(32) ^ u64::from(incarnation))),
        )
        .map_err(|e| format!("broker {} cannot open: {e:#}", self.node_id))?;
        *self.live.lock().expect("live broker lock poisoned") = Some(broker.clone());
        if self.nodes > 1 {
            return self.run_cluster_node(broker, incarnation).await;
        }
        if broker.metadata().topic(TOPIC).is_none() {
            broker
                .create_topic(TOPIC, self.partitions, BTreeMap::new(), false)
                .map_err(|e| format!("cannot create {TOPIC}: {}", e.message))?;
        }
        self.record_start(&broker, incarnation);
        // `spawn_local`, not `tokio::spawn`: a crash drops the host's tasks, and tokio drops
        // runtime-owned tasks in an order that depends on a process-global task-id counter,
        // so the FINs of dropped connections would reach the network in a different order in
        // the second run of a process. A LocalSet drops its tasks in spawn order.
        tokio::task::spawn_local(kafka_lab_broker::tcp::maintenance_loop(broker.clone()));
        broker.start_replica_fetchers(
            Arc::new(super::network::TurmoilConnector),
            Arc::new(|task| {
                tokio::task::spawn_local(task);
            }),
        );
        accept(broker, PORT).await
    }
}

/// The configuration that makes node `node_id` one of `sim.nodes` cluster nodes: the first
/// three combined broker+controller voters, the rest brokers; Kafka's settings for a cluster
/// with timeouts scaled to a run of seconds.
fn cluster_overrides(node_id: i32, sim: &crate::config::SimConfig) -> Vec<String> {
    let voters: Vec<String> = sim
        .voters()
        .into_iter()
        .map(|id| format!("{id}@{}:{CONTROLLER_PORT}", BrokerHost::host_name(id)))
        .collect();
    let is_voter = sim.voters().contains(&node_id);
    let name = BrokerHost::host_name(node_id);
    let mut overrides = vec![
        format!("process.roles={}", if is_voter { "broker,controller" } else { "broker" }),
        format!("controller.quorum.voters={}", voters.join(",")),
        "controller.listener.names=CONTROLLER".to_owned(),
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT".to_owned(),
        format!("cluster.id={CLUSTER_ID}"),
        format!("default.replication.factor={}", sim.replication_factor),
        format!("offsets.topic.replication.factor={}", sim.replication_factor),
        format!("min.insync.replicas={}", sim.min_insync_replicas),
        "broker.heartbeat.interval.ms=250".to_owned(),
        "broker.session.timeout.ms=1500".to_owned(),
        "replica.lag.time.max.ms=2000".to_owned(),
        "replica.fetch.wait.max.ms=100".to_owned(),
        // turmoil's TCP does not retransmit: a message lost to a fault hangs its connection
        // until the request's deadline, which must be short in a run of seconds (Kafka's 30 s
        // would leave a follower stuck past the final read).
        "replica.socket.timeout.ms=1000".to_owned(),
        // With --unclean, a partition left leaderless (no live replica when its leader was
        // fenced) gets one within a second of simulated time, not Kafka's five minutes.
        "unclean.leader.election.interval.ms=1000".to_owned(),
    ];
    overrides.push(if is_voter {
        format!(
            "advertised.listeners=PLAINTEXT://{name}:{PORT},CONTROLLER://{name}:{CONTROLLER_PORT}"
        )
    } else {
        format!("advertised.listeners=PLAINTEXT://{name}:{PORT}")
    });
    overrides.push(if is_voter {
        format!("listeners=PLAINTEXT://0.0.0.0:{PORT},CONTROLLER://0.0.0.0:{CONTROLLER_PORT}")
    } else {
        format!("listeners=PLAINTEXT://0.0.0.0:{PORT}")
    });
    overrides
}

impl BrokerHost {
    /// What this node's copy of `partition` holds, read from its disk after the run (the
    /// replica-divergence checker compares the replicas).
    pub fn replica_log(&self, partition: i32) -> Event {
        let dir = std::path::Path::new("/data").join(format!("{TOPIC}-{partition}"));
        read_replica_log(Arc::new(self.storage.clone()), &dir, self.node_id, partition)
    }

    /// Records this start with the log end offsets recovery left (what bounds a crash's loss).
    fn record_start(&self, broker: &Broker, incarnation: u32) {
        let log_end_offsets = (0..self.partitions)
            .map(|p| {
                broker.replica_manager().partition(TOPIC, p).map_or(-1, |log| log.log_end_offset())
            })
            .collect();
        self.history.push(Event::BrokerStarted {
            time_ms: crate::history::now_ms(),
            node_id: self.node_id,
            incarnation,
            log_end_offsets,
        });
    }

    /// A cluster node, started as `cli::start` starts one: a voter serves its CONTROLLER
    /// listener and the quorum's network at once; a broker registers with the active
    /// controller and catches up with the metadata log before it serves clients.
    async fn run_cluster_node(self, broker: Arc<Broker>, incarnation: u32) -> turmoil::Result {
        let connector: Arc<dyn kafka_lab_broker::network::Connector> =
            Arc::new(super::network::TurmoilConnector);
        self.record_start(&broker, incarnation);
        broker.set_outbound_connector(connector.clone());
        let several_voters = broker.is_controller() && broker.has_several_voters();
        if several_voters {
            tokio::task::spawn_local(kafka_lab_broker::raft::voter_network::run(
                broker.clone(),
                connector.clone(),
            ));
            tokio::task::spawn_local(accept(broker.clone(), CONTROLLER_PORT));
        }
        tokio::task::spawn_local(kafka_lab_broker::tcp::maintenance_loop(broker.clone()));
        if broker.registers_over_network() {
            tokio::task::spawn_local(kafka_lab_broker::lifecycle::run(
                broker.clone(),
                connector.clone(),
            ));
            broker.lifecycle.wait_until_running().await;
        }
        broker.start_replica_fetchers(
            connector,
            Arc::new(|task| {
                tokio::task::spawn_local(task);
            }),
        );
        let shutdown = self.shutdown.clone();
        tokio::select! {
            biased;
            () = shutdown.notified() => {}
            served = accept(broker.clone(), PORT) => return served,
        }
        // As `cli::run` on SIGTERM.
        let timeout =
            std::time::Duration::from_millis(broker.config.broker_session_timeout_ms.max(0) as u64);
        if !broker.controlled_shutdown(timeout).await {
            tracing::warn!("controlled shutdown did not complete in time: shutting down anyway");
        }
        broker.resign_quorum_leadership().await;
        broker.flush_all();
        self.forget_live();
        self.history.push(Event::BrokerStopped {
            time_ms: crate::history::now_ms(),
            node_id: self.node_id,
            incarnation,
        });
        // The process has exited: the orchestrator stops the host, which drops its tasks and
        // their connections (returning here would leave them frozen, holding their sockets).
        self.stopped.store(true, Ordering::SeqCst);
        std::future::pending().await
    }

    /// Whether the node finished a requested shutdown; taking it clears it.
    pub fn take_stopped(&self) -> bool {
        self.stopped.swap(false, Ordering::SeqCst)
    }
}

/// The same accept loop as `tcp::accept_loop`, over turmoil's listener on `port`.
async fn accept(broker: Arc<Broker>, port: u16) -> turmoil::Result {
    let listener = turmoil::net::TcpListener::bind(("0.0.0.0", port)).await?;
    loop {
        let (stream, peer) = listener.accept().await?;
        tokio::task::spawn_local(kafka_lab_broker::server::serve_connection(
            broker.clone(),
            stream,
            peer.to_string(),
        ));
    }
}

/// The node id in a broker address (`broker-<id>:<port>`); 0 for any other.
pub fn node_of(address: &str) -> i32 {
    address
        .strip_prefix("broker-")
        .and_then(|rest| rest.split(':').next())
        .and_then(|id| id.parse().ok())
        .unwrap_or(0)
}

/// What one replica of `partition` holds in the partition directory `dir` on `storage`: every
/// record from its log start to its log end offset, read with the broker's own log code (the
/// simulator's disks and, for the container suites, a node's data directory on the host).
/// A missing or unreadable directory is an empty replica with log end offset -1.
pub fn read_replica_log(
    storage: Arc<dyn kafka_lab_broker::storage::Storage>,
    dir: &std::path::Path,
    node_id: i32,
    partition: i32,
) -> Event {
    let mut records = Vec::new();
    let mut log_end_offset = -1;
    if storage.exists(dir) {
        let config = kafka_lab_broker::log::LogConfig::default();
        if let Ok(log) = kafka_lab_broker::log::PartitionLog::open(storage, dir.into(), config, 0) {
            log_end_offset = log.log_end_offset();
            let mut offset = log.log_start_offset();
            while offset < log_end_offset {
                let Ok(mut bytes) = log.read(offset, 1 << 20) else { break };
                let Ok(sets) = kafka_protocol::records::RecordBatchDecoder::decode_all(&mut bytes)
                else {
                    break;
                };
                let before = offset;
                for r in sets.into_iter().flat_map(|s| s.records) {
                    let value = r.value.as_deref().map(String::from_utf8_lossy);
                    records.push((r.offset, value.unwrap_or_default().into_owned()));
                    offset = offset.max(r.offset + 1);
                }
                if offset == before {
                    break;
                }
            }
        }
    }
    Event::ReplicaLog { node_id, partition, log_end_offset, records }
}
