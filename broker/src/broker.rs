//! The broker's shared state and the operations several APIs share (topic creation, log
//! lookup, producer ids). Per-API request handling lives in `handlers/`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::Context;
use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::broker_registration_request::{Feature, Listener};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, AlterPartitionRequest,
    AlterPartitionResponse, BrokerHeartbeatRequest, BrokerId, BrokerRegistrationRequest,
    ElectLeadersRequest, ElectLeadersResponse,
};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::authorizer::Authorizer;
use crate::clock::SharedClock;
use crate::config::cluster::ProcessRoles;
use crate::config::BrokerConfig;
use crate::controller::heartbeats::{BrokerHeartbeatManager, HeartbeatReply};
use crate::controller::{cluster_control, election, placement, replication, ControllerResult};
use crate::error::ApiError;
use crate::group::{GroupConfig, GroupCoordinator, OffsetsLog};
use crate::handlers::str_bytes;
use crate::internal_records::encode_batch;
use crate::lifecycle::BrokerLifecycle;
use crate::limits::{LogThrottle, MemoryPool};
use crate::log::{LogConfig, LogManager};
use crate::metadata::{
    BrokerEndpoint, ConfigResource, MetadataDelta, MetadataImage, MetadataRecord, MetadataStore,
    TopicImage, METADATA_LOG_DIR, METADATA_TOPIC,
};
use crate::metrics::BrokerMetrics;
use crate::publisher::MetadataPublisher;
use crate::quota::QuotaManager;
use crate::replica::ReplicaManager;
use crate::runtime;
use crate::security::outbound::OutboundSecurity;
use crate::security::random::{OsRandom, SecureRandom};
use crate::security::Credentials;
use crate::stats::BrokerStats;
use crate::storage::Storage;
use crate::topic_config;

/// Name of the internal topic holding committed offsets and group metadata.
pub const CONSUMER_OFFSETS_TOPIC: &str = "__consumer_offsets";

/// Most partitions one CreateTopics or CreatePartitions may add, as KRaft's controller
/// (`MAX_PARTITIONS_PER_BATCH`): a bigger request is refused instead of exhausting memory.
pub const MAX_PARTITIONS_PER_REQUEST: i32 = 10_000;

/// Producer ids are reserved from the metadata log in blocks, as KRaft's ProducerIdsRecord.
pub const PRODUCER_ID_BLOCK: i64 = 1000;

/// How often a combined node in controlled shutdown heartbeats its own controller: its
/// leaderships move in the first heartbeat's commit, the next one hears that it may stop.
const CONTROLLED_SHUTDOWN_HEARTBEAT: std::time::Duration = std::time::Duration::from_millis(100);

/// How long a resigning quorum leader lets its EndQuorumEpoch requests go out before exiting.
const RESIGN_GRACE: std::time::Duration = std::time::Duration::from_millis(200);

/// Where this broker is reachable, as advertised to clients.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    /// `node.id`.
    pub node_id: i32,
    /// Advertised host.
    pub host: String,
    /// Advertised port.
    pub port: i32,
    /// `broker.rack`.
    pub rack: Option<String>,
}

/// This node's part in the metadata quorum, as Kafka's `raft-metrics` report it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuorumMetrics {
    /// The quorum's leader as this node knows it (-1 unknown).
    pub leader_id: i32,
    /// The quorum's epoch as this node knows it.
    pub epoch: i32,
    /// The committed offset as this node knows it (-1 unknown).
    pub high_watermark: i64,
    /// This node's metadata log end offset.
    pub log_end_offset: i64,
    /// Its Raft state's name, lower case: `leader`, `follower`, …, or `observer`.
    pub state: String,
}

/// Everything a handler can reach. One per broker process (or simulated host).
pub struct Broker {
    /// Static configuration.
    pub config: BrokerConfig,
    /// The wall clock seam.
    pub clock: SharedClock,
    /// How clients reach this broker: the first advertised listener.
    pub node: NodeInfo,
    /// The advertised endpoint of each listener, by listener name: clients are told the address
    /// of the listener they connected to, as in Kafka.
    endpoints: BTreeMap<String, NodeInfo>,
    /// ACL enforcement (the ACLs are in the metadata image) and the security counters.
    pub authorizer: Authorizer,
    /// Who may authenticate with SASL.
    pub credentials: std::sync::RwLock<Credentials>,
    /// Cluster id from `meta.properties`.
    pub cluster_id: String,
    metadata: Mutex<MetadataStore>,
    /// This node's voter of the metadata quorum (on a controller); locked after `metadata`.
    quorum: Mutex<Option<crate::raft::QuorumVoter>>,
    /// Requests the voter's state machine sends to other voters, until `voter_network` takes
    /// them.
    quorum_sends: Mutex<Vec<crate::raft::Outbound>>,
    /// Woken when `quorum_sends` gets a request.
    pub(crate) quorum_sends_ready: Notify,
    logs: Arc<Mutex<LogManager>>,
    replicas: Arc<ReplicaManager>,
    /// The consumer-group coordinator.
    pub groups: GroupCoordinator,
    /// Woken on every append, so long-polling fetches re-check their partitions.
    pub appended: Notify,
    producer_ids: Mutex<ProducerIdBlock>,
    /// The controller's broker sessions (in memory, as Kafka's `BrokerHeartbeatManager`).
    heartbeats: Mutex<BrokerHeartbeatManager>,
    /// This start's incarnation id of the local broker, once registered.
    local_incarnation: Mutex<Option<Uuid>>,
    rng: Mutex<ChaCha8Rng>,
    /// Nonces and salts: the OS CSPRNG, whatever the seed (`security::random`).
    secure_random: Arc<dyn SecureRandom>,
    /// Client quota sensors (the quotas themselves are in the metadata image).
    pub quotas: QuotaManager,
    /// Throttling, authentication and authorization counters.
    pub stats: BrokerStats,
    /// Request, topic and connection counters for the metrics endpoint.
    pub metrics: BrokerMetrics,
    /// Request bytes held across connections (`queued.max.request.bytes`).
    pub memory_pool: MemoryPool,
    /// Rate limits on the log lines hostile input causes.
    pub log_throttle: LogThrottle,
    /// A broker-only node's channel for forwarding metadata changes to the controller.
    pub forwarding: crate::forwarding::ForwardingManager,
    /// How this node reaches other nodes, once its network runs (`set_outbound_connector`).
    outbound: std::sync::OnceLock<Arc<dyn crate::network::Connector>>,
    /// TLS and SASL of connections to other brokers' inter-broker listener.
    inter_broker_security: Arc<OutboundSecurity>,
    /// TLS and SASL of connections to the controllers' listener.
    controller_security: Arc<OutboundSecurity>,
    /// Woken when a broker-only node wants a producer id block from the controller.
    pub producer_ids_wanted: Notify,
    /// What `process.roles` makes this node (unset: a combined node).
    roles: ProcessRoles,
    /// The voters `controller.quorum.voters` names, by id (none named: the single-node default).
    voters: BTreeMap<i32, crate::config::cluster::Voter>,
    /// This process's registration identity: a restart registers under a new one, so the
    /// controller tells a restart from a duplicate `node.id` (Kafka's incarnation id).
    pub incarnation_id: Uuid,
    /// A broker-only node's registration and heartbeats (`lifecycle`).
    pub lifecycle: BrokerLifecycle,
    /// Woken when the metadata log grows, its high watermark moves or the quorum's leader
    /// changes: held metadata fetches answer at once (as Kafka completes delayed fetches when
    /// the log end moves), and what waits for a commit looks again.
    pub metadata_log_moved: Notify,
    /// The metadata quorum's leader as last learned (`-1` while unknown).
    quorum_leader: AtomicI32,
    /// The quorum epoch a broker-only node learned from the leader's fetch responses.
    observed_quorum_epoch: AtomicI32,
    /// When the controller's next leader rebalance runs, once one is scheduled (Kafka's
    /// `maybeScheduleNextBalancePartitionLeaders`).
    next_leader_rebalance: Mutex<Option<runtime::Instant>>,
    /// When the controller next looks for leaderless partitions that allow unclean election
    /// (every `unclean.leader.election.interval.ms`).
    next_unclean_election: Mutex<Option<runtime::Instant>>,
}

/// Where a new topic's replicas go.
enum Placement {
    /// The striped placer's choice.
    Striped { partitions: i32, replication_factor: i32 },
    /// CreateTopics' manual assignments, partition index → replicas.
    Manual(Vec<(i32, Vec<i32>)>),
}

/// The producer ids this node hands out: the current block `[next, end)` and, on a broker
/// without the controller role, the block fetched ahead from the controller (Kafka's
/// `RPCProducerIdManager` prefetches at 90% use).
struct ProducerIdBlock {
    next: i64,
    end: i64,
    prefetched: Option<(i64, i64)>,
    /// A block is wanted from the controller (`lifecycle`'s producer-id loop serves it).
    wanted: bool,
}

impl Broker {
    /// Opens the broker's data under `log.dirs`: `meta.properties`, the metadata log, every
    /// partition log it names (running recovery), and the group state in `__consumer_offsets`.
    /// `seed` decides ids (cluster id, topic ids); security material comes from the OS CSPRNG.
    pub fn open(
        config: BrokerConfig,
        storage: Arc<dyn Storage>,
        clock: SharedClock,
        seed: u64,
    ) -> anyhow::Result<Arc<Self>> {
        Self::open_with_secure_random(config, storage, clock, seed, Arc::new(OsRandom))
    }

    /// [`Broker::open`] with nonces and salts from `secure_random`: the simulator passes a
    /// seeded source so its runs replay; nothing else should.
    pub fn open_with_secure_random(
        config: BrokerConfig,
        storage: Arc<dyn Storage>,
        clock: SharedClock,
        seed: u64,
        secure_random: Arc<dyn SecureRandom>,
    ) -> anyhow::Result<Arc<Self>> {
        // Everything that can be refused on the configuration alone is checked before anything
        // is written to `log.dirs`: a start that fails leaves the data directory as it was.
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let roles = config.process_roles()?;
        // Outbound security is built (its stores read, its credentials checked) only for the
        // connections this node opens: replica fetchers on a broker of a cluster, controller
        // channels on a broker-only node and between the voters of several.
        let voters = crate::config::cluster::parse_voters(&config.controller_quorum_voters)?;
        let voter_count = voters.len();
        let inter_broker_security = if config.process_roles.is_some() && roles.broker {
            OutboundSecurity::inter_broker(&config)?
        } else {
            OutboundSecurity::plaintext(&config.inter_broker_listener_name())
        };
        let controller_security = if roles.controller && voter_count <= 1 {
            OutboundSecurity::plaintext(&config.controller_listener_name())
        } else {
            OutboundSecurity::controller(&config)?
        };
        let endpoints: BTreeMap<String, NodeInfo> = config
            .advertised_listeners()?
            .into_iter()
            .map(|advertised| {
                let node = NodeInfo {
                    node_id: config.node_id,
                    host: if advertised.host.is_empty() || advertised.host == "0.0.0.0" {
                        "localhost".to_owned()
                    } else {
                        advertised.host
                    },
                    port: advertised.port as i32,
                    rack: config.broker_rack.clone(),
                };
                (advertised.name, node)
            })
            .collect();
        let first = config.advertised_listeners()?.remove(0).name;
        let node = endpoints[&first].clone();
        // The metadata's SCRAM changes are applied over these by the start-up publication.
        let credentials = Credentials::from_config(&config, || {
            let mut salt = [0u8; 16];
            secure_random.fill(&mut salt);
            salt
        })
        .map_err(|e| anyhow::anyhow!(e))?;
        let authorizer = Authorizer::from_config(&config).map_err(|e| anyhow::anyhow!(e))?;
        let listener_names: Vec<String> = config.listeners()?.into_iter().map(|l| l.name).collect();
        for name in listener_names.iter().filter(|name| !endpoints.contains_key(*name)) {
            tracing::warn!(
                listener = %name,
                "listener is not in advertised.listeners: its clients are told of no broker \
                 endpoint (Metadata answers LISTENER_NOT_FOUND), as in Kafka"
            );
        }
        let log_dir = config.log_dir();
        storage.create_dir_all(&log_dir).with_context(|| {
            format!("log.dirs `{}`: cannot create the directory", log_dir.display())
        })?;
        let formatted = format_if_new(&*storage, &log_dir, &config, &mut rng)?;
        let cluster_id = formatted.cluster_id;
        let now = clock.now_ms();
        let log_manager = LogManager::open(storage.clone(), log_dir.clone())?;
        if !formatted.new && !log_manager.had_clean_shutdown() {
            tracing::warn!(
                log_dir = %log_dir.display(),
                "the previous run did not shut down cleanly: recovering every log above its recovery point"
            );
        }
        // A sole voter commits all it writes; any other node's log may end in records the
        // quorum never committed, so it checkpoints what it applied and replays only that.
        let sole_voter = roles.controller && voter_count <= 1;
        let committed_checkpoint = (!sole_voter).then(|| log_manager.high_watermarks().clone());
        let mut metadata = MetadataStore::open(
            storage.clone(),
            &log_dir,
            now,
            log_manager.recovery_points().clone(),
            committed_checkpoint,
        )
        .map_err(|e| {
            anyhow::anyhow!(
                "refusing to start: the metadata log {} cannot be replayed: {e}. Starting without the records after that point would drop the topics, ACLs, quotas and users they hold; no partition data was touched. Restore {METADATA_LOG_DIR} from a backup (or, to give up this cluster's metadata, move log.dirs {} aside and start afresh)",
                log_dir.join(METADATA_LOG_DIR).display(),
                log_dir.display()
            )
        })?;
        metadata.set_snapshot_policy(config.snapshot_policy());
        let quotas = QuotaManager::new(
            config.quota_window_num as usize,
            config.quota_window_size_seconds as i64 * 1000,
        );
        let replayed = metadata.take_replayed();
        let logs = Arc::new(Mutex::new(log_manager));
        let next_producer_id = metadata.image().next_producer_id();
        let replicas = Arc::new(ReplicaManager::new(config.node_id, logs.clone()));
        let offsets_log =
            Arc::new(ConsumerOffsetsLog { replicas: replicas.clone(), clock: clock.clone() });
        let groups = GroupCoordinator::new(
            clock.clone(),
            offsets_log,
            GroupConfig {
                offsets_topic_num_partitions: config.offsets_topic_num_partitions,
                group_min_session_timeout_ms: config.group_min_session_timeout_ms,
                group_max_session_timeout_ms: config.group_max_session_timeout_ms,
                group_initial_rebalance_delay_ms: config.group_initial_rebalance_delay_ms,
                offsets_retention_minutes: config.offsets_retention_minutes,
                group_max_size: config.group_max_size,
            },
        );
        let memory_pool = MemoryPool::new(config.queued_max_request_bytes);
        let (quorum, initial_sends) = if roles.controller {
            let mut voter_ids: std::collections::BTreeSet<i32> = voters.keys().copied().collect();
            if voter_ids.is_empty() {
                // The single-node default: this node is its quorum.
                voter_ids.insert(config.node_id);
            }
            let (voter, applied) = crate::raft::QuorumVoter::open(
                storage.clone(),
                &log_dir,
                config.node_id,
                voter_ids,
                config.quorum_config(),
                &mut metadata,
                seed ^ 0x7261_6674,
                now,
            )?;
            assert!(applied.delta.is_empty(), "a leader-change record changes no metadata");
            // What the state machine sends from its start (a restarted leader's
            // EndQuorumEpoch) goes out once the network runs.
            (Some(voter), applied.sends)
        } else {
            (None, Vec::new())
        };
        let quorum_leader = match voters.keys().next() {
            _ if roles.controller && voter_count <= 1 => config.node_id,
            Some(&only) if voter_count == 1 => only,
            _ => -1,
        };
        let incarnation_id = {
            let mut bytes = [0u8; 16];
            rng.fill_bytes(&mut bytes);
            uuid::Builder::from_random_bytes(bytes).into_uuid()
        };
        let mut heartbeats = BrokerHeartbeatManager::new(&config);
        heartbeats.activate(metadata.image(), config.node_id, runtime::now());
        let broker = Arc::new(Self {
            config,
            clock,
            node,
            endpoints,
            authorizer,
            credentials: std::sync::RwLock::new(credentials),
            cluster_id,
            metadata: Mutex::new(metadata),
            quorum: Mutex::new(quorum),
            quorum_sends: Mutex::new(initial_sends),
            quorum_sends_ready: Notify::new(),
            logs,
            replicas,
            groups,
            appended: Notify::new(),
            producer_ids: Mutex::new(ProducerIdBlock {
                next: next_producer_id,
                end: next_producer_id,
                prefetched: None,
                wanted: !roles.controller,
            }),
            producer_ids_wanted: Notify::new(),
            forwarding: Default::default(),
            outbound: Default::default(),
            inter_broker_security: Arc::new(inter_broker_security),
            controller_security: Arc::new(controller_security),
            heartbeats: Mutex::new(heartbeats),
            local_incarnation: Mutex::new(None),
            rng: Mutex::new(rng),
            secure_random,
            quotas,
            stats: BrokerStats::for_listeners(listener_names.iter().map(String::as_str)),
            metrics: BrokerMetrics::new(&listener_names),
            memory_pool,
            log_throttle: LogThrottle::default(),
            roles,
            voters,
            incarnation_id,
            lifecycle: BrokerLifecycle::default(),
            metadata_log_moved: Notify::new(),
            quorum_leader: AtomicI32::new(quorum_leader),
            observed_quorum_epoch: AtomicI32::new(-1),
            next_leader_rebalance: Mutex::new(None),
            next_unclean_election: Mutex::new(None),
        });
        broker.open_partition_logs(&replayed, formatted.new)?;
        broker.skip_producer_ids_in_logs();
        if broker.registers_over_network() || !broker.roles.broker {
            // A broker-only node registers over the network and learns the metadata from the
            // controller (`lifecycle::run`, started by the caller); it writes none itself. So
            // does a combined node of a quorum of several voters, with the active controller,
            // whichever it is. A dedicated controller (process.roles=controller) is no broker:
            // nothing registers.
            broker.lock_logs().clear_clean_shutdown_marker()?;
            return Ok(broker);
        }
        broker
            .register()
            .map_err(|e| anyhow::anyhow!("cannot register this broker: {}", e.message))?;
        if broker.config.process_roles.is_none() {
            // The one combined node of the single-node default: `__consumer_offsets` at once,
            // on itself. A cluster (process.roles set) creates it once enough brokers are
            // registered (`run_controller_maintenance`).
            broker.maybe_create_offsets_topic(1).map_err(|e| {
                anyhow::anyhow!("cannot create {CONSUMER_OFFSETS_TOPIC}: {}", e.message)
            })?;
        }
        broker.lock_logs().clear_clean_shutdown_marker()?;
        Ok(broker)
    }

    /// A consistent snapshot of the metadata image (a reference count, not a copy).
    pub fn metadata(&self) -> Arc<MetadataImage> {
        self.lock_metadata().image().clone()
    }

    pub(crate) fn lock_metadata(&self) -> MutexGuard<'_, MetadataStore> {
        self.metadata.lock().expect("metadata lock poisoned")
    }

    fn lock_logs(&self) -> MutexGuard<'_, LogManager> {
        self.logs.lock().expect("log manager lock poisoned")
    }

    /// NOT_CONTROLLER unless this node has the controller role: `what` is made by controllers.
    pub(crate) fn check_controller_role(&self, what: &str) -> Result<(), ApiError> {
        if self.is_controller() {
            return Ok(());
        }
        Err(ApiError::new(
            ResponseError::NotController,
            format!(
                "node {} has process.roles without `controller`: {what} go to the active \
                 controller (the metadata quorum's leader is node {})",
                self.node.node_id,
                self.quorum_leader_id()
            ),
        ))
    }

    /// NOT_CONTROLLER unless this node is the active controller (`is_active_controller`),
    /// naming the leader `what` should go to instead.
    pub(crate) fn check_active_controller(&self, what: &str) -> Result<(), ApiError> {
        self.check_controller_role(what)?;
        if self.is_active_controller() {
            return Ok(());
        }
        Err(ApiError::new(
            ResponseError::NotController,
            format!(
                "node {} is not the active controller (the metadata quorum's leader is node {}, \
                 -1 while none is known): {what} go there",
                self.node.node_id,
                self.quorum_leader_id()
            ),
        ))
    }

    /// Commits metadata records (durable, then applied) and publishes their effects.
    pub fn commit_metadata(&self, records: Vec<MetadataRecord>) -> Result<(), ApiError> {
        let mut store = self.lock_metadata();
        self.commit_and_publish(&mut store, records)
    }

    /// The one way metadata changes at run time: commits `records` on the locked `store`, then
    /// publishes what they changed before the lock is released, so effects happen in commit
    /// order and a request that computes records from the image sees the effects of every
    /// record before (a deleted credential is gone from the live credentials too).
    fn commit_and_publish(
        &self,
        store: &mut MetadataStore,
        records: Vec<MetadataRecord>,
    ) -> Result<(), ApiError> {
        self.check_controller_role("metadata changes")?;
        if records.is_empty() {
            return Ok(());
        }
        // A leader whose epoch is not committed yet would compute these from an image without
        // an earlier leader's last records: refused, as by a non-leader (clients retry).
        self.check_active_controller("metadata changes")?;
        let elections = crate::controller::partition_change::Elections::in_records(&records);
        let batch = store.encode_checked(&records).map_err(ApiError::from)?;
        let count = records.len() as i64;
        let mut appended = None;
        self.run_quorum(store, |client, now| appended = Some(client.append(now, count, batch)))?;
        match appended {
            Some(Ok(_)) => {}
            Some(Err(not_leader)) => {
                return Err(ApiError::new(
                    ResponseError::NotController,
                    format!(
                        "node {} is not the metadata quorum's leader in epoch {} (leader: {:?})",
                        self.node.node_id, not_leader.epoch, not_leader.leader_id
                    ),
                ))
            }
            None => unreachable!("a controller runs the quorum"),
        }
        self.metrics.record_elections(elections);
        Ok(())
    }

    /// Runs one step of this voter's quorum state machine on the locked `store` — `step` is
    /// given the state machine and its clock —, applies its actions (appends, the quorum-state
    /// file, commits), publishes what the committed records changed, and returns the replies
    /// the step produced. Empty on a node that is no voter.
    pub(crate) fn run_quorum(
        &self,
        store: &mut MetadataStore,
        step: impl FnOnce(&mut crate::raft::client::RaftClient<Vec<u8>>, u64),
    ) -> Result<Vec<(u64, crate::raft::client::Response<crate::raft::client::LogRange>)>, ApiError>
    {
        let mut quorum = self.quorum.lock().expect("quorum lock poisoned");
        let Some(voter) = quorum.as_mut() else { return Ok(Vec::new()) };
        let now = voter.now_ms();
        let before = (store.applied_offset(), store.log_end_offset());
        step(voter.client(), now);
        let actions = voter.client().take_actions();
        let applied = voter.apply(store, actions, self.clock.now_ms()).map_err(ApiError::from)?;
        drop(quorum);
        if applied.leader_change.is_some()
            || (store.applied_offset(), store.log_end_offset()) != before
        {
            // Also for a commit that changed nothing and for a lost leadership.
            self.metadata_log_moved.notify_waiters();
        }
        if let Some((_, Some(leader))) = applied.leader_change {
            self.learn_quorum_leader(leader);
            if leader == self.node.node_id {
                // Kafka's `QuorumController` claiming leadership: every registered broker gets
                // a fresh session, so none is fenced for heartbeats the last leader received.
                let image = store.controller_image().clone();
                self.lock_heartbeats().activate(&image, -1, runtime::now());
            }
        }
        if !applied.sends.is_empty() {
            self.quorum_sends.lock().expect("quorum sends lock poisoned").extend(applied.sends);
            self.quorum_sends_ready.notify_one();
        }
        if applied.delta.is_empty() {
            return Ok(applied.replies);
        }
        self.publisher().publish(&applied.delta, store.image(), self.clock.now_ms())?;
        Ok(applied.replies)
    }

    /// Waits until the metadata log is committed up to where it ends now — past whatever the
    /// request being answered wrote —, while this node leads the quorum in its current epoch.
    /// The reason when it is not: the leadership was lost (the records may be truncated by
    /// the next leader) or `timeout` passed.
    pub async fn wait_for_metadata_commit(
        &self,
        timeout: std::time::Duration,
    ) -> Result<(), String> {
        let target = self.lock_metadata().log_end_offset();
        let epoch = self.quorum_epoch();
        let deadline = runtime::now() + timeout;
        loop {
            // Registered before the check, so a commit in between is not missed.
            let committed = self.metadata_log_moved.notified();
            tokio::pin!(committed);
            committed.as_mut().enable();
            if self.lock_metadata().applied_offset() >= target {
                return Ok(());
            }
            if !self.is_active_controller() || self.quorum_epoch() != epoch {
                return Err(format!(
                    "this node lost the metadata quorum's leadership of epoch {epoch} before \
                     offset {target} was committed"
                ));
            }
            if runtime::now() >= deadline {
                return Err(format!(
                    "no majority of the metadata quorum's voters fetched up to offset {target} \
                     within {timeout:?}"
                ));
            }
            tokio::select! {
                biased;
                _ = &mut committed => {}
                _ = runtime::sleep_until(deadline) => {}
            }
        }
    }

    /// Lets the quorum's timers run on a voter (`tcp::maintenance_loop`): a voter pushed out of
    /// its leadership (a vote in a newer epoch) stands again when its election timeout fires.
    pub fn poll_quorum(&self) {
        let mut store = self.lock_metadata();
        if let Err(e) = self.run_quorum(&mut store, |client, now| client.poll(now)) {
            tracing::error!(error = %e.message, "the metadata quorum's step failed");
        }
    }

    /// The requests this voter's state machine wants sent to other voters, oldest first
    /// (`raft::voter_network`).
    pub(crate) fn take_quorum_sends(&self) -> Vec<crate::raft::Outbound> {
        std::mem::take(&mut *self.quorum_sends.lock().expect("quorum sends lock poisoned"))
    }

    /// When the quorum's state machine next has something to do; `None` on a node that is no
    /// voter.
    pub(crate) fn quorum_next_deadline(&self) -> Option<runtime::Instant> {
        let quorum = self.quorum.lock().expect("quorum lock poisoned");
        quorum.as_ref().map(|voter| voter.next_deadline())
    }

    /// Hands the state machine the answer to its request `request_id` from voter `from` —
    /// or, `Err`, that none came — and lets it send what follows at once.
    pub(crate) fn handle_quorum_answer(
        &self,
        request_id: u64,
        from: i32,
        answer: Result<
            crate::raft::client::Response<crate::raft::client::Records<Vec<u8>>>,
            String,
        >,
    ) {
        let mut store = self.lock_metadata();
        let step = |client: &mut crate::raft::client::RaftClient<Vec<u8>>, now| {
            match answer {
                Ok(response) => client.handle_response(now, request_id, from, response),
                Err(_) => client.handle_send_failure(now, request_id),
            }
            client.poll(now);
        };
        if let Err(e) = self.run_quorum(&mut store, step) {
            tracing::error!(error = %e.message, from, "the metadata quorum could not take an answer");
        }
    }

    /// One client per other voter of `controller.quorum.voters`, by id, over `connector` with
    /// the controller listener's security, named `controller-<node.id>-<purpose>`.
    pub(crate) fn voter_clients(
        &self,
        connector: &Arc<dyn crate::network::Connector>,
        purpose: &str,
        deadline: std::time::Duration,
    ) -> Vec<(i32, crate::network::NodeClient)> {
        let client_id = format!("controller-{}-{purpose}", self.node.node_id);
        let others = self.voters.values().filter(|voter| voter.id != self.node.node_id);
        let addresses = others.map(|v| (v.id, v.host.clone(), v.port)).collect();
        self.clients_of_controllers(connector, addresses, &client_id, deadline)
    }

    /// One client per address over `connector` with the controller listener's security.
    fn clients_of_controllers<K>(
        &self,
        connector: &Arc<dyn crate::network::Connector>,
        addresses: Vec<(K, String, u16)>,
        client_id: &str,
        deadline: std::time::Duration,
    ) -> Vec<(K, crate::network::NodeClient)> {
        let connector = self.secured(connector, &self.controller_security);
        addresses
            .into_iter()
            .map(|(key, host, port)| {
                let client = crate::network::NodeClient::new(
                    connector.clone(),
                    &host,
                    port,
                    client_id,
                    deadline,
                );
                (key, client)
            })
            .collect()
    }

    /// The quorum as its leader describes it; `None` on a node that does not lead it.
    pub fn describe_quorum(&self) -> Option<crate::raft::QuorumDescription> {
        let quorum = self.quorum.lock().expect("quorum lock poisoned");
        quorum.as_ref().and_then(|voter| voter.describe(self.clock.now_ms()))
    }

    /// What Kafka's `raft-metrics` report of this node's part in the metadata quorum.
    pub fn quorum_metrics(&self) -> QuorumMetrics {
        let store = self.lock_metadata();
        let quorum = self.quorum.lock().expect("quorum lock poisoned");
        let (epoch, state, high_watermark) = match quorum.as_ref() {
            Some(voter) => {
                let client = voter.client_ref();
                (
                    client.epoch(),
                    client.state_name().to_lowercase(),
                    client.high_watermark().unwrap_or(-1),
                )
            }
            None => (
                self.observed_quorum_epoch.load(Ordering::Relaxed),
                "observer".to_owned(),
                store.applied_offset(),
            ),
        };
        QuorumMetrics {
            leader_id: self.quorum_leader_id(),
            epoch,
            high_watermark,
            log_end_offset: store.log_end_offset(),
            state,
        }
    }

    /// This node's metadata log as the quorum's state machine sees it: its start, end, each
    /// epoch's start offset and its snapshots (the simulator's committed-metadata checker).
    pub fn metadata_log_view(&self) -> crate::raft::client::LogView {
        self.lock_metadata().log_view()
    }

    /// Why this node does not answer a quorum request only its leader answers (Fetch,
    /// FetchSnapshot) made in `current_leader_epoch`: the state machine's
    /// `leader_only_request_error`; a node that is no voter does not lead.
    pub fn leader_only_quorum_error(
        &self,
        current_leader_epoch: i32,
    ) -> Option<kafka_protocol::error::ResponseError> {
        match self.quorum.lock().expect("quorum lock poisoned").as_ref() {
            Some(voter) => voter.client_ref().leader_only_request_error(current_leader_epoch),
            None => Some(kafka_protocol::error::ResponseError::NotLeaderOrFollower),
        }
    }

    /// The metadata quorum's epoch as this node knows it (`-1` before it knows one).
    pub fn quorum_epoch(&self) -> i32 {
        match self.quorum.lock().expect("quorum lock poisoned").as_ref() {
            Some(voter) => voter.client_ref().epoch(),
            None => self.observed_quorum_epoch.load(Ordering::Relaxed),
        }
    }

    /// Appends metadata batches fetched from the quorum's leader, then applies and publishes
    /// what is committed — up to the leader's `high_watermark` — under the metadata lock, as a
    /// commit is (`raft::observer`).
    pub fn apply_replicated_metadata(
        &self,
        batches: &[u8],
        high_watermark: i64,
    ) -> Result<(), ApiError> {
        let mut store = self.lock_metadata();
        let now = self.clock.now_ms();
        store.append_replicated(batches, now).map_err(ApiError::from)?;
        let delta = store.apply_committed(high_watermark, now).map_err(ApiError::from)?;
        if delta.is_empty() {
            return Ok(());
        }
        self.publisher().publish(&delta, store.image(), now)
    }

    /// Writes a chunk of a metadata snapshot fetched from the quorum's leader (`raft::observer`).
    pub fn write_fetched_metadata_snapshot(
        &self,
        id: crate::metadata::SnapshotId,
        position: u64,
        chunk: &[u8],
    ) -> Result<(), ApiError> {
        self.lock_metadata().write_snapshot_chunk(id, position, chunk).map_err(ApiError::from)
    }

    /// Loads a metadata snapshot fetched whole from the quorum's leader in place of this
    /// node's metadata log and publishes what it changed (`raft::observer`).
    pub fn load_fetched_metadata_snapshot(
        &self,
        id: crate::metadata::SnapshotId,
    ) -> Result<(), ApiError> {
        let mut store = self.lock_metadata();
        let now = self.clock.now_ms();
        let delta = store.load_fetched_snapshot(id, now).map_err(ApiError::from)?;
        self.metadata_log_moved.notify_waiters();
        if delta.is_empty() {
            return Ok(());
        }
        self.publisher().publish(&delta, store.image(), now)
    }

    /// Truncates the metadata log where the quorum's leader says it diverges (KIP-595's
    /// DivergingEpoch: its `epoch` ends at `end_offset`), as Kafka's `truncateToEndOffset`:
    /// to where this log's copy of that epoch ends, if earlier.
    pub fn truncate_replicated_metadata(
        &self,
        epoch: i32,
        end_offset: i64,
    ) -> Result<i64, ApiError> {
        let mut store = self.lock_metadata();
        let local = store.log_view().end_offset_for_epoch(epoch);
        let offset = if local.epoch == epoch { local.offset.min(end_offset) } else { local.offset };
        store.truncate_to(offset).map_err(ApiError::from)?;
        Ok(offset)
    }

    /// Whether this node has the controller role: a voter of the metadata quorum, which
    /// answers the quorum's RPCs and, while it leads, the controller's APIs.
    pub fn is_controller(&self) -> bool {
        self.roles.controller
    }

    /// Whether this node has the broker role (a dedicated controller has not).
    pub fn has_broker_role(&self) -> bool {
        self.roles.broker
    }

    /// A graceful shutdown of the quorum's leader among several voters: it resigns and tells
    /// the others (EndQuorumEpoch, naming its preferred successors) so one stands at once, as
    /// Kafka's `KafkaRaftClient.shutdown`; waits briefly for the requests to go out.
    pub async fn resign_quorum_leadership(&self) {
        if !self.has_several_voters() || !self.is_active_controller() {
            return;
        }
        let resigned = {
            let mut store = self.lock_metadata();
            self.run_quorum(&mut store, |client, now| client.resign(now))
        };
        if let Err(e) = resigned {
            tracing::warn!(error = %e.message, "could not resign the metadata quorum's leadership");
            return;
        }
        tracing::info!("resigned the metadata quorum's leadership");
        runtime::sleep(RESIGN_GRACE).await;
    }

    /// Whether this node's broker registers and heartbeats over the network (`lifecycle`), as
    /// a broker-only node's does, rather than with its own controller in-process: everywhere
    /// but on the sole voter of a quorum, which is always the active controller.
    pub fn registers_over_network(&self) -> bool {
        self.roles.broker && (!self.roles.controller || self.has_several_voters())
    }

    /// Whether admin requests from clients go to the active controller in an Envelope: on a
    /// broker that is not the active controller (a dedicated controller answers
    /// NOT_CONTROLLER itself, as Kafka's do).
    pub fn forwards_to_controller(&self) -> bool {
        self.roles.broker && !self.is_active_controller()
    }

    /// Whether the metadata quorum has more than one voter: elections over the network.
    pub fn has_several_voters(&self) -> bool {
        self.voters.len() > 1
    }

    /// Whether this node is the active controller: the metadata quorum's leader, the one
    /// node that writes metadata records (a sole voter always is), once its epoch's first
    /// record is committed — before that, records an earlier leader left uncommitted in the
    /// log are not in its image yet, and a record computed from it could contradict them (a
    /// topic created twice).
    pub fn is_active_controller(&self) -> bool {
        // A sole voter leads from its start; the lock only where leadership can move.
        self.roles.controller
            && (!self.has_several_voters()
                || self
                    .quorum
                    .lock()
                    .expect("quorum lock poisoned")
                    .as_ref()
                    .is_some_and(|voter| voter.client_ref().is_leader_with_committed_epoch()))
    }

    /// The metadata quorum's leader as this node knows it; `-1` while unknown.
    pub fn quorum_leader_id(&self) -> i32 {
        self.quorum_leader.load(Ordering::Relaxed)
    }

    /// The controller id Metadata and DescribeCluster tell clients: the quorum leader when it
    /// is also a live broker (a combined node, which handles admin requests itself), else this
    /// broker — as Kafka's KRaft brokers name a broker, since clients never reach controllers.
    pub fn controller_id_for_clients(&self) -> i32 {
        let leader = self.quorum_leader_id();
        let image = self.metadata();
        match image.brokers().get(&leader) {
            Some(b) if !b.fenced => leader,
            _ => self.node.node_id,
        }
    }

    /// Gives the node its outbound connection seam (real TCP, or the simulator's); set once.
    pub fn set_outbound_connector(&self, connector: Arc<dyn crate::network::Connector>) {
        if self.outbound.set(connector).is_err() {
            tracing::debug!("the outbound connector is already set");
        }
    }

    /// The outbound connection seam, once set.
    pub fn outbound_connector(&self) -> Option<Arc<dyn crate::network::Connector>> {
        self.outbound.get().cloned()
    }

    /// This node's broker epoch: its registration's, as the controller gave it (a broker-only
    /// node learns it from its BrokerRegistration response, a combined node from its image).
    pub fn local_broker_epoch(&self) -> Option<i64> {
        if self.registers_over_network() {
            return self.lifecycle.broker_epoch();
        }
        let image = self.metadata();
        image.brokers().get(&self.node.node_id).map(|b| b.registration.broker_epoch)
    }

    /// Records the quorum leader a fetch response named.
    pub(crate) fn learn_quorum_leader(&self, leader_id: i32) {
        self.quorum_leader.store(leader_id, Ordering::Relaxed);
    }

    /// A broker-only node learned the quorum's epoch from the leader.
    pub(crate) fn learn_quorum_epoch(&self, epoch: i32) {
        self.observed_quorum_epoch.fetch_max(epoch, Ordering::Relaxed);
    }

    /// Where this node reaches the controllers: `controller.quorum.voters`' addresses, else
    /// `controller.quorum.bootstrap.servers`.
    pub fn quorum_addresses(&self) -> Vec<(String, u16)> {
        self.config.quorum_addresses().expect("validated on open")
    }

    /// Clients of the controllers over `connector`, one per `controller.quorum.voters` entry
    /// (else per `controller.quorum.bootstrap.servers` address), named
    /// `broker-<node.id>-<purpose>`: every channel of this node to the controller starts here.
    pub fn controller_clients(
        &self,
        connector: &Arc<dyn crate::network::Connector>,
        purpose: &str,
        deadline: std::time::Duration,
    ) -> crate::network::ControllerClients {
        let client_id = format!("broker-{}-{purpose}", self.node.node_id);
        let addresses: Vec<(Option<i32>, String, u16)> = if self.voters.is_empty() {
            self.quorum_addresses().into_iter().map(|(host, port)| (None, host, port)).collect()
        } else {
            self.voters.values().map(|v| (Some(v.id), v.host.clone(), v.port)).collect()
        };
        let clients = self.clients_of_controllers(connector, addresses, &client_id, deadline);
        crate::network::ControllerClients::new(clients)
    }

    /// The metadata log's end offset and the leader epoch of its last batch (`-1` when empty):
    /// where a node fetching it continues.
    pub fn metadata_log_position(&self) -> (i64, i32) {
        let store = self.lock_metadata();
        (store.log_end_offset(), store.latest_epoch())
    }

    /// The one path from committed metadata to its effects, on this broker's parts.
    fn publisher(&self) -> MetadataPublisher<'_> {
        MetadataPublisher {
            config: &self.config,
            replicas: &self.replicas,
            credentials: &self.credentials,
            metrics: &self.metrics,
            groups: Some(&self.groups),
        }
    }

    /// Computes records from the current image and commits them under one lock, so concurrent
    /// requests never act on the same stale image (two deletes of one ACL, say).
    pub fn update_metadata<T>(
        &self,
        change: impl FnOnce(&MetadataImage) -> (Vec<MetadataRecord>, T),
    ) -> Result<T, ApiError> {
        let mut store = self.lock_metadata();
        let (records, outcome) = change(store.controller_image());
        self.commit_and_publish(&mut store, records)?;
        Ok(outcome)
    }

    /// This node's partitions: appends, reads and high watermarks go through them.
    pub fn replica_manager(&self) -> &ReplicaManager {
        &self.replicas
    }

    /// Starts fetching the partitions this node follows from their leaders over `connector`
    /// (`replica::fetcher`); `spawn` runs each fetcher task (`runtime::spawn` in the binary,
    /// `spawn_local` in the simulator). Partitions the metadata made followers before are
    /// fetched from now on. `Broker::open` has no network, hence this second step.
    pub fn start_replica_fetchers(
        &self,
        connector: Arc<dyn crate::network::Connector>,
        spawn: crate::replica::fetcher::SpawnFetcher,
    ) {
        let config = crate::replica::fetcher::FetcherConfig::from_broker_config(&self.config);
        let connector = self.secured(&connector, &self.inter_broker_security);
        self.replicas.start_fetchers(connector, spawn, config, self.clock.clone());
    }

    /// `connector` with the TLS and SASL of `security` on every connection it opens: the one
    /// place outbound connections get their listener's security (`network::secure`).
    fn secured(
        &self,
        connector: &Arc<dyn crate::network::Connector>,
        security: &Arc<OutboundSecurity>,
    ) -> Arc<dyn crate::network::Connector> {
        crate::network::secure::SecureConnector::wrap(
            connector.clone(),
            security.clone(),
            self.secure_random.clone(),
            &format!("broker-{}", self.node.node_id),
        )
    }

    /// The endpoint clients of `listener` are told to use. `None` for a listener left out of
    /// `advertised.listeners`: as in Kafka, its clients are told of no broker endpoint
    /// (Metadata answers LISTENER_NOT_FOUND), never another listener's.
    pub fn node_for(&self, listener: &str) -> Option<&NodeInfo> {
        self.endpoints.get(listener)
    }

    /// The brokers clients are told of on `listener`: every registered, unfenced broker with an
    /// endpoint of that name, in node id order (Kafka's alive brokers of the metadata cache).
    pub fn live_brokers_for(&self, listener: &str) -> Vec<NodeInfo> {
        let image = self.metadata();
        image
            .brokers()
            .values()
            .filter(|b| !b.fenced)
            .filter_map(|b| {
                let r = &b.registration;
                let endpoint = r.endpoints.iter().find(|e| e.name == listener)?;
                Some(NodeInfo {
                    node_id: r.broker_id,
                    host: endpoint.host.clone(),
                    port: i32::from(endpoint.port),
                    rack: r.rack.clone(),
                })
            })
            .collect()
    }

    /// Unpredictable bytes for security material (SCRAM nonces and salts): the OS CSPRNG in
    /// the binary, never the seeded generator.
    pub fn secure_random_bytes<const N: usize>(&self) -> [u8; N] {
        let mut bytes = [0u8; N];
        self.secure_random.fill(&mut bytes);
        bytes
    }

    /// A fresh random id from the broker's seeded generator.
    pub fn random_uuid(&self) -> Uuid {
        let mut bytes = [0u8; 16];
        self.rng.lock().expect("rng lock poisoned").fill_bytes(&mut bytes);
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }

    /// The effective log config of `topic`: broker defaults overlaid with topic overrides.
    pub fn log_config(&self, topic: &TopicImage) -> LogConfig {
        topic_config::log_config(&self.config, &topic.configs)
    }

    /// Creates a topic with `partitions` partitions of `default.replication.factor` replicas
    /// each (auto-created topics, CreateTopics' -1).
    pub fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<TopicImage, ApiError> {
        let replication_factor = self.config.default_replication_factor;
        self.create_topic_replicated(name, partitions, replication_factor, configs, validate_only)
    }

    /// Creates a topic with `partitions` partitions of `replication_factor` replicas each,
    /// placed by the controller's striped placer over the registered brokers
    /// (INVALID_REPLICATION_FACTOR, with Kafka's message, when there are too few); each
    /// partition's ISR is its active replicas, the first leading.
    pub fn create_topic_replicated(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i32,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<TopicImage, ApiError> {
        let placement = Placement::Striped { partitions, replication_factor };
        self.create_topic_placed(name, placement, configs, validate_only)
    }

    /// Creates a topic on the replicas CreateTopics assigned by hand, partition index →
    /// replicas (`controller::placement::manual`'s checks).
    pub fn create_topic_assigned(
        &self,
        name: &str,
        assignments: Vec<(i32, Vec<i32>)>,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<TopicImage, ApiError> {
        self.create_topic_placed(name, Placement::Manual(assignments), configs, validate_only)
    }

    fn create_topic_placed(
        &self,
        name: &str,
        placement: Placement,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<TopicImage, ApiError> {
        let partitions = match &placement {
            Placement::Striped { partitions, .. } => *partitions,
            Placement::Manual(assignments) => assignments.len() as i32,
        };
        validate_topic_name(name)?;
        if partitions < 1 {
            return Err(ApiError::new(
                ResponseError::InvalidPartitions,
                format!(
                    "topic `{name}`: number of partitions must be at least 1, got {partitions}"
                ),
            ));
        }
        check_partition_batch(partitions)?;
        topic_config::validate_all(&self.config, &configs)?;
        let mut store = self.lock_metadata();
        if store.controller_image().topic(name).is_some() {
            return Err(ApiError::new(
                ResponseError::TopicAlreadyExists,
                format!("topic `{name}` already exists"),
            ));
        }
        let image = store.controller_image().clone();
        let assignments = match placement {
            Placement::Striped { partitions, replication_factor } => {
                self.place_replicas(&image, partitions, replication_factor)?
            }
            Placement::Manual(assignments) => placement::manual(&image, &assignments)?,
        };
        let replication_factor = assignments.first().map_or(0, Vec::len);
        let topic_id = self.random_uuid();
        let mut records = vec![MetadataRecord::Topic { name: name.to_owned(), topic_id }];
        records.extend(assignments.into_iter().zip(0..).map(|(replicas, partition)| {
            MetadataRecord::Partition(replication::new_partition(
                &image, topic_id, partition, replicas,
            ))
        }));
        records.extend(configs.iter().map(|(key, value)| MetadataRecord::Config {
            resource: ConfigResource::Topic(name.to_owned()),
            name: key.clone(),
            value: Some(value.clone()),
        }));
        if validate_only {
            let mut scratch = MetadataImage::clone(store.controller_image());
            records.iter().for_each(|r| scratch.apply(r));
            return Ok(scratch.topic(name).expect("just applied").clone());
        }
        self.commit_and_publish(&mut store, records)?;
        let topic = store.controller_image().topic(name).expect("just committed").clone();
        drop(store);
        tracing::info!(topic = name, partitions, replication_factor, %topic_id, "created topic");
        Ok(topic)
    }

    /// Replicas for `partitions` new partitions (Kafka's `StripedReplicaPlacer` over the usable
    /// brokers, its random start drawn from the broker's seeded generator).
    fn place_replicas(
        &self,
        image: &MetadataImage,
        partitions: i32,
        replication_factor: i32,
    ) -> Result<Vec<Vec<i32>>, ApiError> {
        let brokers = placement::usable_brokers(image);
        let mut rng = self.rng.lock().expect("rng lock poisoned");
        placement::place(&mut *rng, &brokers, partitions, replication_factor)
    }

    /// Adds partitions to an existing topic so that it has `count` in all, with as many
    /// replicas as its partition 0, placed as a new topic's.
    pub fn create_partitions(
        &self,
        name: &str,
        count: i32,
        validate_only: bool,
    ) -> Result<(), ApiError> {
        let mut store = self.lock_metadata();
        let topic =
            store.controller_image().topic(name).cloned().ok_or_else(|| unknown_topic(name))?;
        let current = topic.partitions.len() as i32;
        if count <= current {
            return Err(ApiError::new(
                ResponseError::InvalidPartitions,
                format!(
                    "topic `{name}` has {current} partitions; the new count {count} must be larger"
                ),
            ));
        }
        check_partition_batch(count - current)?;
        let image = store.controller_image().clone();
        let replication_factor = topic.partitions.get(&0).map_or(1, |p| p.replicas.len() as i32);
        let assignments = self.place_replicas(&image, count - current, replication_factor)?;
        if validate_only {
            return Ok(());
        }
        let records = assignments
            .into_iter()
            .zip(current..)
            .map(|(replicas, partition)| {
                MetadataRecord::Partition(replication::new_partition(
                    &image,
                    topic.topic_id,
                    partition,
                    replicas,
                ))
            })
            .collect();
        self.commit_and_publish(&mut store, records)
    }

    /// Deletes a topic: the RemoveTopic record's publication deletes its partition directories.
    pub fn delete_topic(&self, name: &str) -> Result<Uuid, ApiError> {
        if !self.config.delete_topic_enable {
            return Err(ApiError::new(
                ResponseError::TopicDeletionDisabled,
                "topic deletion is disabled (delete.topic.enable=false)",
            ));
        }
        if name == CONSUMER_OFFSETS_TOPIC {
            return Err(ApiError::new(
                ResponseError::InvalidTopicException,
                format!("the internal topic `{name}` cannot be deleted"),
            ));
        }
        let mut store = self.lock_metadata();
        let topic =
            store.controller_image().topic(name).cloned().ok_or_else(|| unknown_topic(name))?;
        let records = vec![MetadataRecord::RemoveTopic { topic_id: topic.topic_id }];
        self.commit_and_publish(&mut store, records)?;
        drop(store);
        tracing::info!(topic = name, "deleted topic");
        Ok(topic.topic_id)
    }

    /// Sets (`Some`) or removes (`None`) topic config overrides, validated first.
    pub fn alter_topic_configs(
        &self,
        name: &str,
        changes: Vec<(String, Option<String>)>,
        validate_only: bool,
    ) -> Result<(), ApiError> {
        for (key, value) in &changes {
            topic_config::validate(key, value.as_deref())?;
        }
        // Check and commit under one lock: a concurrent DeleteTopics must not slip in between.
        let mut store = self.lock_metadata();
        let Some(topic) = store.controller_image().topic(name) else {
            return Err(unknown_topic(name));
        };
        // The topic's overrides as they would be, checked together (e.g. compaction lags).
        let mut altered = topic.configs.clone();
        for (key, value) in &changes {
            match value {
                Some(value) => altered.insert(key.clone(), value.clone()),
                None => altered.remove(key),
            };
        }
        topic_config::validate_all(&self.config, &altered)?;
        if validate_only {
            return Ok(());
        }
        let records = changes
            .into_iter()
            .map(|(key, value)| MetadataRecord::Config {
                resource: ConfigResource::Topic(name.to_owned()),
                name: key,
                value,
            })
            .collect();
        self.commit_and_publish(&mut store, records)
    }

    /// A producer id for InitProducerId. The controller reserves a new block in the metadata log
    /// when its own is used up; a broker-only node takes ids from blocks the controller gave it
    /// (AllocateProducerIds) and, with none left, answers COORDINATOR_LOAD_IN_PROGRESS, which
    /// producers retry, as Kafka's `RPCProducerIdManager`.
    pub fn allocate_producer_id(&self) -> Result<i64, ApiError> {
        let mut block = self.producer_ids.lock().expect("producer id lock poisoned");
        if self.registers_over_network() {
            return self.take_producer_id_from_controller_blocks(&mut block);
        }
        if block.next >= block.end {
            let floor = block.end;
            let start = self.reserve_producer_id_block(self.node.node_id, -1, floor)?;
            block.next = start;
            block.end = start + PRODUCER_ID_BLOCK;
        }
        let id = block.next;
        block.next += 1;
        Ok(id)
    }

    fn take_producer_id_from_controller_blocks(
        &self,
        block: &mut ProducerIdBlock,
    ) -> Result<i64, ApiError> {
        if block.next >= block.end {
            if let Some((start, end)) = block.prefetched.take() {
                (block.next, block.end) = (start, end);
            }
        }
        let left = block.end - block.next;
        if left * 10 <= PRODUCER_ID_BLOCK && block.prefetched.is_none() && !block.wanted {
            block.wanted = true;
            self.producer_ids_wanted.notify_one();
        }
        if left <= 0 {
            return Err(ApiError::new(
                ResponseError::CoordinatorLoadInProgress,
                "no producer id block yet: waiting for one from the controller",
            ));
        }
        let id = block.next;
        block.next += 1;
        Ok(id)
    }

    /// Whether a broker-only node wants a producer id block from the controller.
    pub fn wants_producer_id_block(&self) -> bool {
        self.producer_ids.lock().expect("producer id lock poisoned").wanted
    }

    /// Takes the block `[start, start + len)` the controller gave this node.
    pub fn install_producer_id_block(&self, start: i64, len: i64) {
        let mut block = self.producer_ids.lock().expect("producer id lock poisoned");
        // Ids the logs already hold (`skip_producer_ids_in_logs`) are never handed out again;
        // what remains of the block is still this node's alone.
        let (start, end) = (start.max(block.end), start + len);
        if start >= end {
            tracing::warn!(
                start,
                end,
                "the controller's producer id block is below ids already in use: asking again"
            );
            self.producer_ids_wanted.notify_one();
            return;
        }
        if block.next >= block.end {
            (block.next, block.end) = (start, end);
        } else {
            block.prefetched = Some((start, end));
        }
        block.wanted = false;
    }

    /// The controller's side of AllocateProducerIds (and of its own broker's needs): reserves
    /// the next block of [`PRODUCER_ID_BLOCK`] ids, at or above `floor`, for `broker_id` with a
    /// ProducerIdsRecord; returns its first id. Refused with STALE_BROKER_EPOCH when
    /// `broker_epoch` (other than -1, the controller's own) is not the broker's registration.
    pub fn reserve_producer_id_block(
        &self,
        broker_id: i32,
        broker_epoch: i64,
        floor: i64,
    ) -> Result<i64, ApiError> {
        self.update_metadata(|image| {
            let registered = image.brokers().get(&broker_id).map(|b| b.registration.broker_epoch);
            if broker_epoch != -1 && registered != Some(broker_epoch) {
                let error = ApiError::new(
                    ResponseError::StaleBrokerEpoch,
                    format!(
                        "broker {broker_id} asked for producer ids at broker epoch \
                         {broker_epoch}, but its registration is at {registered:?}"
                    ),
                );
                return (Vec::new(), Err(error));
            }
            let start = image.next_producer_id().max(floor);
            let record = MetadataRecord::ProducerIds {
                broker_id,
                broker_epoch,
                next_producer_id: start + PRODUCER_ID_BLOCK,
            };
            (vec![record], Ok(start))
        })?
    }

    /// Runs retention and the time-based flush policy on every partition.
    pub fn run_log_maintenance(&self) {
        let now = self.clock.now_ms();
        let logs = self.lock_logs();
        if let Err(e) = logs.enforce_retention_all(now) {
            tracing::warn!(error = %e, "retention check failed");
        }
        if let Err(e) = logs.maybe_flush_all(now) {
            tracing::error!(error = %e, "time-based flush failed");
        }
    }

    /// Expires committed offsets past `offsets.retention.minutes` and removes empty groups left
    /// without offsets; run every `offsets.retention.check.interval.ms`.
    pub fn run_group_maintenance(&self) {
        let expired = self.groups.expire_offsets();
        if expired > 0 {
            tracing::info!(expired, "expired committed offsets");
        }
    }

    /// Writes every partition's high watermark to `replication-offset-checkpoint`, where a
    /// follower's starts from after a restart; run every
    /// `replica.high.watermark.checkpoint.interval.ms` and on shutdown.
    pub fn checkpoint_high_watermarks(&self) {
        if let Err(e) = self.replicas.checkpoint_high_watermarks() {
            tracing::warn!(error = %e, "could not checkpoint high watermarks");
        }
    }

    /// Flushes every partition, checkpoints the recovery points and high watermarks and marks
    /// the clean shutdown, so the next start recovers nothing.
    pub fn flush_all(&self) {
        self.checkpoint_high_watermarks();
        match self.lock_logs().shut_down_cleanly() {
            Ok(()) => tracing::info!("flushed every log and checkpointed its recovery point"),
            Err(e) => tracing::error!(error = %e, "flush on shutdown failed"),
        }
    }

    /// Writes every log's recovery point to `recovery-point-offset-checkpoint`; run every
    /// `log.flush.offset.checkpoint.interval.ms`.
    pub fn checkpoint_recovery_points(&self) {
        if let Err(e) = self.lock_logs().checkpoint_recovery_points() {
            tracing::warn!(error = %e, "could not checkpoint recovery points");
        }
    }

    /// Producer ids are never handed out at or below one already in a partition's batches,
    /// even when the metadata log lost the record reserving them.
    fn skip_producer_ids_in_logs(&self) {
        let seen = self
            .lock_logs()
            .logs()
            .filter_map(|(_, log)| log.lock().expect("partition lock poisoned").max_producer_id())
            .max();
        let mut block = self.producer_ids.lock().expect("producer id lock poisoned");
        if let Some(seen) = seen.filter(|seen| *seen >= block.end) {
            tracing::warn!(
                max_producer_id_in_logs = seen,
                next_producer_id = block.end,
                "partition logs hold producer ids the metadata log does not reserve; new producer ids start above {seen}"
            );
            block.next = seen + 1;
            block.end = seen + 1;
        }
    }

    /// Start-up's publication: matches the partition directories on disk to the replayed
    /// metadata, then publishes `replayed` (the delta from the empty image) through the same
    /// path as run-time commits, which opens every partition the metadata names. A partition
    /// directory it does not name is never deleted for that: if it belongs to a topic whose
    /// removal the metadata log records, the interrupted deletion is finished; otherwise it is
    /// set aside as `…-stray` and reported, as Kafka does.
    fn open_partition_logs(&self, replayed: &MetadataDelta, new: bool) -> anyhow::Result<()> {
        let store = self.lock_metadata();
        let image = store.image().clone();
        let removed_topic_ids = replayed.removed_topics();
        let mut logs = self.lock_logs();
        for name in logs.remove_interrupted_deletions()? {
            tracing::info!(dir = name, "finished deleting a partition of a deleted topic");
        }
        for (topic, partition) in logs.partitions_on_disk()? {
            if topic == METADATA_TOPIC {
                continue;
            }
            let recorded_id = logs.partition_topic_id(&topic, partition)?;
            let known = image.topic(&topic).filter(|t| t.partitions.contains_key(&partition));
            let matches = known.is_some_and(|t| recorded_id.is_none_or(|id| id == t.topic_id));
            if matches {
                continue;
            }
            if let Some(id) = recorded_id.filter(|id| removed_topic_ids.contains_key(id)) {
                logs.remove(&topic, partition, &id.simple().to_string())?;
                tracing::info!(
                    topic,
                    partition,
                    topic_id = %id,
                    "finished deleting a partition of a deleted topic"
                );
                continue;
            }
            let tag = recorded_id.unwrap_or_else(|| self.random_uuid()).simple().to_string();
            let stray = logs.set_aside_as_stray(&topic, partition, &tag)?;
            let why = match (known, recorded_id) {
                (Some(t), Some(id)) => format!(
                    "it belongs to topic id {id}, but topic `{topic}` now has id {}",
                    t.topic_id
                ),
                (None, _) if image.topic(&topic).is_some() => {
                    format!("topic `{topic}` has no partition {partition} in the metadata")
                }
                _ => format!("the metadata has no topic `{topic}`"),
            };
            tracing::warn!(
                topic,
                partition,
                kept_as = %stray.display(),
                "stray partition directory: {why}. It is kept as {}, untouched; move it back once the metadata that names it is restored, or delete it yourself",
                stray.display()
            );
        }
        let strays = logs.stray_directories()?;
        if !strays.is_empty() {
            tracing::warn!(count = strays.len(), dirs = ?strays, "stray partition directories are kept in log.dirs");
        }
        drop(logs);
        let now = self.clock.now_ms();
        self.publisher().publish(replayed, &image, now).map_err(|e| anyhow::anyhow!(e.message))?;
        drop(store);
        let logs = self.lock_logs();
        let mut corrupt = 0;
        for (key, log) in logs.logs() {
            let log = log.lock().expect("partition lock poisoned");
            corrupt += log.corrupt_regions().len();
            debug_assert!(log.recovery_point() <= log.log_end_offset(), "{key:?}");
        }
        if corrupt > 0 {
            tracing::error!(
                corrupt_regions = corrupt,
                "recovery found corrupt data below the recovery point and kept it (see the lines above): consumers of those offsets get CORRUPT_MESSAGE"
            );
        }
        // A fresh checkpoint: recovery points only grow from here.
        logs.checkpoint_recovery_points()?;
        if !new {
            tracing::info!(partitions = logs.logs().count(), "opened every partition log");
        }
        Ok(())
    }

    /// Registers this node's broker with this node's controller through the same path as a
    /// remote broker's BrokerRegistration (a RegisterBrokerRecord, fenced, at a new epoch — the
    /// record's offset — with this start's incarnation id and advertised listeners), then
    /// heartbeats once: a one-voter quorum's broker has replayed the metadata log by
    /// construction, so the heartbeat unfences it.
    fn register(&self) -> Result<(), ApiError> {
        *self.local_incarnation.lock().expect("incarnation lock poisoned") =
            Some(self.incarnation_id);
        self.register_broker(&self.registration_request())?;
        self.heartbeat_local_broker()
    }

    /// This broker's BrokerRegistration, as it sends it to its own controller (a combined
    /// node, `register`) or over the network (`lifecycle`): its incarnation, its broker
    /// listeners, rack, and the metadata.version levels it reads — Kafka 4.x's lowest, which
    /// it writes, up to Kafka 4.1's latest (4.1-IV1), whose record schemas the codec reads.
    pub fn registration_request(&self) -> BrokerRegistrationRequest {
        let listeners = self
            .registration_endpoints()
            .into_iter()
            .map(|e| {
                Listener::default()
                    .with_host(str_bytes(e.host))
                    .with_name(str_bytes(e.name))
                    .with_port(e.port)
                    .with_security_protocol(e.security_protocol)
            })
            .collect();
        let metadata_version = Feature::default()
            .with_name(str_bytes(cluster_control::METADATA_VERSION_FEATURE))
            .with_min_supported_version(cluster_control::DEFAULT_METADATA_VERSION)
            .with_max_supported_version(27);
        BrokerRegistrationRequest::default()
            .with_broker_id(BrokerId(self.node.node_id))
            .with_cluster_id(str_bytes(self.cluster_id.clone()))
            .with_incarnation_id(self.incarnation_id)
            .with_listeners(listeners)
            .with_features(vec![metadata_version])
            .with_rack(self.config.broker_rack.clone().map(str_bytes))
            .with_previous_broker_epoch(-1)
    }

    fn lock_heartbeats(&self) -> MutexGuard<'_, BrokerHeartbeatManager> {
        self.heartbeats.lock().expect("heartbeat lock poisoned")
    }

    /// Runs a controller operation on the current image and this controller's broker sessions
    /// under the metadata lock, commits its records, and keeps its session changes only once
    /// they are committed. The operation is given the offset its first record will have.
    fn controller_write<T>(
        &self,
        operation: impl FnOnce(
            &MetadataImage,
            &mut BrokerHeartbeatManager,
            i64,
        ) -> Result<ControllerResult<T>, ApiError>,
    ) -> Result<T, ApiError> {
        let mut store = self.lock_metadata();
        let image = store.controller_image().clone();
        let mut heartbeats = self.lock_heartbeats().clone();
        let result = operation(&image, &mut heartbeats, store.log_end_offset())?;
        self.commit_and_publish(&mut store, result.records)?;
        *self.lock_heartbeats() = heartbeats;
        Ok(result.response)
    }

    /// BrokerRegistration (Kafka's `ClusterControlManager.registerBroker`): the broker epoch.
    pub fn register_broker(&self, request: &BrokerRegistrationRequest) -> Result<i64, ApiError> {
        let now = runtime::now();
        self.controller_write(|image, heartbeats, next_offset| {
            cluster_control::register_broker(
                image,
                &self.cluster_id,
                heartbeats,
                request,
                next_offset,
                now,
            )
        })
    }

    /// BrokerHeartbeat (Kafka's `processBrokerHeartbeat`): the session touched, the broker
    /// fenced, unfenced or moved into controlled shutdown as its request and state decide.
    pub fn broker_heartbeat(
        &self,
        request: &BrokerHeartbeatRequest,
    ) -> Result<HeartbeatReply, ApiError> {
        let now = runtime::now();
        self.controller_write(|image, heartbeats, next_offset| {
            heartbeats.process_broker_heartbeat(image, &self.config, request, next_offset, now)
        })
    }

    /// AlterPartition from a partition leader (Kafka's `ReplicationControlManager.alterPartition`):
    /// its PartitionChangeRecords committed, the answer per partition. A commit that fails
    /// answers the request's error for every partition.
    pub fn alter_partition(&self, request: AlterPartitionRequest) -> AlterPartitionResponse {
        let outcome = self.controller_write(|image, _, _| {
            Ok(replication::alter_partition(image, &self.config, &request))
        });
        outcome.unwrap_or_else(|e| {
            tracing::warn!(error = %e.message, "AlterPartition could not be committed");
            AlterPartitionResponse::default().with_error_code(e.code())
        })
    }

    /// ElectLeaders at the controller (Kafka's `electLeaders`): each partition's election, its
    /// PartitionChangeRecords committed together. The caller has authorized the request.
    pub fn elect_leaders(
        &self,
        request: &ElectLeadersRequest,
    ) -> Result<ElectLeadersResponse, ApiError> {
        self.controller_write(|image, _, _| election::elect_leaders(image, request))
    }

    /// AlterPartitionReassignments at the controller (Kafka's `alterPartitionReassignments`):
    /// every partition's change committed together. The caller has authorized the request.
    pub fn alter_partition_reassignments(
        &self,
        request: &AlterPartitionReassignmentsRequest,
    ) -> Result<AlterPartitionReassignmentsResponse, ApiError> {
        self.controller_write(|image, _, _| {
            Ok(crate::controller::reassignment::alter_partition_reassignments(
                image,
                &self.config,
                request,
            ))
        })
    }

    /// The controller's leader rebalance with `auto.leader.rebalance.enable`, as Kafka's
    /// `QuorumController` schedules it: once a partition is seen led by another replica than
    /// its preferred one, a rebalance runs `leader.imbalance.check.interval.seconds` later and
    /// moves every such leadership whose preferred replica is in the ISR and active; a run
    /// that hit `MAX_ELECTIONS_PER_IMBALANCE` runs again at the next maintenance.
    fn maybe_balance_partition_leaders(&self, now: runtime::Instant) {
        if !self.config.auto_leader_rebalance_enable {
            return;
        }
        let mut next = self.next_leader_rebalance.lock().expect("rebalance lock poisoned");
        let due = match *next {
            Some(at) => at <= now,
            None => {
                if election::are_partition_leaders_imbalanced(&self.metadata()) {
                    let interval = self.config.leader_imbalance_check_interval_seconds.max(1);
                    *next = Some(now + std::time::Duration::from_secs(interval as u64));
                }
                false
            }
        };
        if !due {
            return;
        }
        *next = None;
        let outcome = self.commit_elections(|image| {
            election::maybe_balance_partition_leaders(image, election::MAX_ELECTIONS_PER_IMBALANCE)
        });
        match outcome {
            Ok((elected, again)) => {
                if elected > 0 {
                    tracing::info!(
                        elected,
                        "moved partition leaderships back to their preferred replicas"
                    );
                }
                if again {
                    *next = Some(now);
                }
            }
            Err(e) => tracing::warn!(error = %e.message, "the leader rebalance failed"),
        }
    }

    /// Commits the elections a periodic task chose: how many partitions it elected, and whether
    /// it stopped at its per-run limit (so the task should run again at once).
    fn commit_elections(
        &self,
        choose: impl FnOnce(&MetadataImage) -> ControllerResult<bool>,
    ) -> Result<(usize, bool), ApiError> {
        self.controller_write(|image, _, _| {
            let result = choose(image);
            Ok(ControllerResult {
                response: (result.records.len(), result.response),
                records: result.records,
            })
        })
    }

    /// The periodic unclean election (Kafka's `uncleanLeaderElection` task): every
    /// `unclean.leader.election.interval.ms`, leaderless partitions of topics that allow it get
    /// a live replica as leader; at once again if the per-run limit was reached.
    fn maybe_elect_unclean_leaders(&self, now: runtime::Instant) {
        let mut next = self.next_unclean_election.lock().expect("unclean election lock poisoned");
        let interval = std::time::Duration::from_millis(
            self.config.unclean_leader_election_interval_ms.max(1) as u64,
        );
        match *next {
            Some(at) if at <= now => {}
            Some(_) => return,
            None => {
                *next = Some(now + interval);
                return;
            }
        }
        *next = Some(now + interval);
        let outcome = self.commit_elections(|image| {
            let limit = election::MAX_ELECTIONS_PER_IMBALANCE;
            election::maybe_elect_unclean_leaders(image, &self.config, limit)
        });
        match outcome {
            Ok((elected, again)) => {
                if elected > 0 {
                    tracing::warn!(
                        elected,
                        "unclean leader election: out-of-sync replicas now lead partitions that \
                         had no leader (unclean.leader.election.enable); records only their \
                         former leaders had are lost"
                    );
                }
                if again {
                    *next = Some(now);
                }
            }
            Err(e) => tracing::warn!(error = %e.message, "the unclean leader election failed"),
        }
    }

    /// This broker's BrokerHeartbeat at `broker_epoch`, local or remote: the metadata offset
    /// applied so far, and `want_fence` once the log dir failed ([`Broker::check_log_dir`]):
    /// the controller fences the broker and moves its leaderships, as it does in Kafka for a
    /// broker that asks, and no later heartbeat lets it be unfenced before a restart.
    pub(crate) fn heartbeat_request(
        &self,
        broker_epoch: i64,
        want_shut_down: bool,
    ) -> BrokerHeartbeatRequest {
        let log_dir_failed = self.check_log_dir();
        let (log_end_offset, _) = self.metadata_log_position();
        BrokerHeartbeatRequest::default()
            .with_broker_id(BrokerId(self.node.node_id))
            .with_broker_epoch(broker_epoch)
            .with_current_metadata_offset(log_end_offset - 1)
            .with_want_fence(log_dir_failed)
            .with_want_shut_down(want_shut_down)
    }

    /// Whether this node's log dir failed, probing it first. Kafka takes a log dir offline
    /// when an I/O on it fails; a directory removed or unmounted under the broker fails no
    /// write into the files it has open, so `meta.properties` is looked for: gone, the log
    /// dir is lost, every partition goes offline and stays so until a restart.
    fn check_log_dir(&self) -> bool {
        if self.replicas.log_dir_failure().is_some() {
            return true;
        }
        if self.lock_logs().has_file("meta.properties") {
            return false;
        }
        let dir = self.config.log_dir();
        let why = format!("{} has no meta.properties any more", dir.display());
        let offline = self.replicas.handle_log_dir_failure(&why);
        tracing::error!(
            log_dir = %dir.display(),
            partitions_offline = offline,
            "the log dir failed ({why}: removed or unmounted?): its partitions answer \
             KAFKA_STORAGE_ERROR and this broker asks the controller to fence it; restart the \
             broker once the directory is back (Apache Kafka halts a broker whose every log dir \
             failed)"
        );
        true
    }

    /// This node's broker heartbeats this node's controller, as a combined node's broker
    /// lifecycle manager does in Kafka: caught up with every committed record.
    fn heartbeat_local_broker(&self) -> Result<(), ApiError> {
        let incarnation = *self.local_incarnation.lock().expect("incarnation lock poisoned");
        let image = self.metadata();
        let Some(registration) = image
            .brokers()
            .get(&self.node.node_id)
            .filter(|b| Some(b.registration.incarnation_id) == incarnation)
        else {
            return Ok(());
        };
        let epoch = registration.registration.broker_epoch;
        self.lifecycle.set_epoch(Some(epoch));
        let want_shut_down = self.lifecycle.wants_shut_down();
        let request = self.heartbeat_request(epoch, want_shut_down);
        let reply = self.broker_heartbeat(&request)?;
        if want_shut_down {
            self.lifecycle.controlled_shutdown_answered(reply.should_shut_down);
        }
        Ok(())
    }

    /// A controlled shutdown (SIGTERM), as Kafka's broker does it: heartbeats ask the
    /// controller to move this broker's leaderships to other in-sync replicas; resolves true
    /// once the controller says this broker leads nothing more, false after `timeout` (the
    /// process exits anyway, and its partitions fail over as after a crash).
    ///
    /// A combined node's broker heartbeats its own controller, as Kafka's combined node does:
    /// its leaderships move to the other brokers while its controller still runs, so with a
    /// single-voter quorum the cluster loses its controller but not its partitions' leaders.
    pub async fn controlled_shutdown(&self, timeout: std::time::Duration) -> bool {
        if self.registers_over_network() {
            return self.lifecycle.controlled_shutdown(timeout).await;
        }
        if !self.lifecycle.begin_controlled_shutdown() {
            return false;
        }
        let done = async {
            while self.lifecycle.state() != crate::lifecycle::BrokerState::ShuttingDown {
                if let Err(e) = self.heartbeat_local_broker() {
                    tracing::warn!(error = %e.message, "controlled shutdown: the heartbeat failed");
                }
                runtime::sleep(CONTROLLED_SHUTDOWN_HEARTBEAT).await;
            }
        };
        runtime::timeout(timeout, done).await.is_ok()
    }

    /// The controller's periodic work, run at least every `broker.heartbeat.interval.ms`
    /// (`tcp::maintenance_loop`, also in the simulator): fences the brokers whose session
    /// expired, one commit each, leaders moving off them; creates a cluster's
    /// `__consumer_offsets` once it can; runs the leader rebalance when it is due.
    ///
    /// This node's own broker heartbeats first, in the same call. Kafka's combined node keeps
    /// its broker's session alive by heartbeating its controller every
    /// `broker.heartbeat.interval.ms`; doing it right before the expiry check is that same
    /// heartbeat on the same timer, so the local broker is never found stale while this process
    /// runs, and goes through the same state machine as any other broker.
    pub fn run_controller_maintenance(&self) {
        if !self.is_active_controller() {
            return;
        }
        if self.roles.broker && !self.registers_over_network() {
            if let Err(e) = self.heartbeat_local_broker() {
                tracing::warn!(error = %e.message, "this node's broker could not heartbeat its controller");
            }
        }
        let now = runtime::now();
        // At most one fencing per registered broker: each sees the previous one's effect.
        for _ in 0..self.metadata().brokers().len() {
            let fenced = self.controller_write(|image, heartbeats, _| {
                Ok(match heartbeats.maybe_fence_one_stale_broker(image, &self.config, now) {
                    Some((id, records)) => ControllerResult { records, response: Some(id) },
                    None => ControllerResult { records: Vec::new(), response: None },
                })
            });
            match fenced {
                Ok(Some(_)) => continue,
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e.message, "could not fence a stale broker");
                    break;
                }
            }
        }
        self.maybe_create_offsets_topic_in_cluster();
        self.maybe_balance_partition_leaders(now);
        self.maybe_elect_unclean_leaders(now);
    }

    /// In a cluster, `__consumer_offsets` is created with `offsets.topic.replication.factor`
    /// replicas once that many brokers are registered and unfenced (Kafka creates it on the
    /// first FindCoordinator and fails until the cluster is that big; here the controller does
    /// it as soon as it can, and FindCoordinator answers COORDINATOR_NOT_AVAILABLE until then).
    fn maybe_create_offsets_topic_in_cluster(&self) {
        let image = self.metadata();
        if self.config.process_roles.is_none() || image.topic(CONSUMER_OFFSETS_TOPIC).is_some() {
            return;
        }
        let wanted = i32::from(self.config.offsets_topic_replication_factor);
        let live = image.brokers().values().filter(|b| !b.fenced).count() as i32;
        if live < wanted {
            return;
        }
        match self.maybe_create_offsets_topic(wanted) {
            Ok(()) => {
                tracing::info!(replication_factor = wanted, "created {CONSUMER_OFFSETS_TOPIC}")
            }
            Err(e) => {
                tracing::warn!(error = %e.message, "cannot create {CONSUMER_OFFSETS_TOPIC} yet")
            }
        }
    }

    /// This node's advertised broker listeners as it registers them (the host as clients are
    /// told it: `localhost` for every interface); controller listeners are left out, as Kafka.
    pub fn registration_endpoints(&self) -> Vec<BrokerEndpoint> {
        let advertised = self.config.advertised_listeners().expect("validated on open");
        advertised
            .into_iter()
            // A combined node's controller listener is the quorum's, not one clients use.
            .filter(|listener| !self.config.is_controller_listener(&listener.name))
            .map(|listener| BrokerEndpoint {
                host: self.endpoints[&listener.name].host.clone(),
                name: listener.name,
                port: listener.port,
                security_protocol: listener.protocol.id(),
            })
            .collect()
    }

    /// Creates `__consumer_offsets` with `replication_factor` replicas if it does not exist
    /// (Kafka's `offsets.topic.*` settings: never deleted by retention, 100 MiB segments).
    /// Its publication makes the group coordinator load the partitions this node leads.
    fn maybe_create_offsets_topic(&self, replication_factor: i32) -> Result<(), ApiError> {
        if self.metadata().topic(CONSUMER_OFFSETS_TOPIC).is_some() {
            return Ok(());
        }
        let partitions = self.config.offsets_topic_num_partitions;
        let configs = BTreeMap::from([
            ("retention.ms".to_owned(), "-1".to_owned()),
            ("segment.bytes".to_owned(), "104857600".to_owned()),
        ]);
        self.create_topic_replicated(
            CONSUMER_OFFSETS_TOPIC,
            partitions,
            replication_factor,
            configs,
            false,
        )
        .map(|_| ())
    }
}

/// Writes the group coordinator's records into `__consumer_offsets`.
struct ConsumerOffsetsLog {
    replicas: Arc<ReplicaManager>,
    clock: SharedClock,
}

impl OffsetsLog for ConsumerOffsetsLog {
    fn append(&self, partition: i32, records: Vec<(Bytes, Option<Bytes>)>) -> Result<(), String> {
        let log = self
            .replicas
            .partition(CONSUMER_OFFSETS_TOPIC, partition)
            .ok_or_else(|| format!("{CONSUMER_OFFSETS_TOPIC}-{partition} does not exist"))?;
        let entries: Vec<_> = records.into_iter().map(|(k, v)| (Some(k), v)).collect();
        let now = self.clock.now_ms();
        let mut batch = encode_batch(&entries, now);
        // Offsets are acknowledged to the client, so they are made durable like metadata.
        log.append_as_leader(&mut batch, now, true).map_err(|e| e.message)?;
        Ok(())
    }
}

fn check_partition_batch(added: i32) -> Result<(), ApiError> {
    if added > MAX_PARTITIONS_PER_REQUEST {
        return Err(ApiError::new(
            ResponseError::PolicyViolation,
            format!(
                "excessively large number of partitions per request: {added} (at most {MAX_PARTITIONS_PER_REQUEST})"
            ),
        ));
    }
    Ok(())
}

/// UNKNOWN_TOPIC_OR_PARTITION for a topic name.
pub fn unknown_topic(name: &str) -> ApiError {
    ApiError::new(ResponseError::UnknownTopicOrPartition, format!("topic `{name}` does not exist"))
}

/// Kafka's topic-name rules: 1–249 characters of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn validate_topic_name(name: &str) -> Result<(), ApiError> {
    let invalid = |why: String| Err(ApiError::new(ResponseError::InvalidTopicException, why));
    if name.is_empty() || name == "." || name == ".." {
        return invalid(format!("topic name `{name}` is not allowed"));
    }
    if name.len() > 249 {
        return invalid(format!("topic name is {} characters long; the limit is 249", name.len()));
    }
    if let Some(c) =
        name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return invalid(format!(
            "topic name `{name}` contains `{c}`; only ASCII letters, digits, '.', '_' and '-' are allowed"
        ));
    }
    Ok(())
}

/// What start-up found in `log.dirs`.
struct Formatted {
    /// The cluster id from `meta.properties`.
    cluster_id: String,
    /// The directory was formatted by this start (it held no data).
    new: bool,
}

/// Reads `meta.properties` (Kafka's file naming the cluster and node), or formats a directory
/// that holds no data yet: the metadata log first, `meta.properties` last, so a start
/// interrupted in between formats again. Refuses, with what to do, a directory that belongs to
/// another cluster or node, one whose `meta.properties` is missing or garbled while data is
/// there, and one that has `meta.properties` but lost its metadata log: starting over either
/// would make its partitions unexplained.
fn format_if_new(
    storage: &dyn Storage,
    log_dir: &Path,
    config: &BrokerConfig,
    rng: &mut ChaCha8Rng,
) -> anyhow::Result<Formatted> {
    let path = log_dir.join("meta.properties");
    let metadata_dir = log_dir.join(METADATA_LOG_DIR);
    if !storage.exists(&path) {
        let data = entries_holding_data(storage, log_dir)?;
        anyhow::ensure!(
            data.is_empty(),
            "refusing to start: log.dirs {} holds data ({}) but no meta.properties, so the cluster it belongs to is unknown. Restore meta.properties (it names cluster.id and node.id), or move the directory aside to start a new cluster; nothing was changed",
            log_dir.display(),
            summarize(&data)
        );
        let cluster_id = match &config.cluster_id {
            Some(id) => id.clone(),
            None => {
                let mut bytes = [0u8; 16];
                rng.fill_bytes(&mut bytes);
                crate::kafka_uuid::encode_bytes(&bytes)
            }
        };
        storage.create_dir_all(&metadata_dir)?;
        let text = format!(
            "#kafka-lab-broker\nversion=1\ncluster.id={cluster_id}\nnode.id={}\n",
            config.node_id
        );
        crate::log::checkpoint::write_atomically(storage, &path, text.as_bytes())?;
        tracing::info!(log_dir = %log_dir.display(), cluster_id, "formatted a new log directory");
        return Ok(Formatted { cluster_id, new: true });
    }
    let props = crate::properties_file::read_properties_file(storage, &path)
        .map_err(|e| anyhow::anyhow!("refusing to start: {e:#}"))?;
    let cluster_id = props
        .get("cluster.id")
        .ok_or_else(|| anyhow::anyhow!("refusing to start: {} has no cluster.id", path.display()))?
        .to_string();
    anyhow::ensure!(
        crate::kafka_uuid::decode(&cluster_id).is_some(),
        "refusing to start: {} has cluster.id `{cluster_id}`, which is not a Kafka cluster id (22 characters of URL-safe base64, as `kafka-storage random-uuid` prints); restore the file's original cluster.id",
        path.display()
    );
    if let Some(wanted) = &config.cluster_id {
        anyhow::ensure!(
            *wanted == cluster_id,
            "log.dirs {} belongs to cluster {cluster_id}, but cluster.id is configured as {wanted}",
            log_dir.display()
        );
    }
    if let Some(node) = props.get("node.id") {
        anyhow::ensure!(
            *node == config.node_id.to_string(),
            "log.dirs {} belongs to node.id {node}, but node.id is configured as {}",
            log_dir.display(),
            config.node_id
        );
    }
    anyhow::ensure!(
        storage.exists(&metadata_dir),
        "refusing to start: log.dirs {} is formatted (meta.properties names cluster {cluster_id}) but its metadata log {} is missing, so no partition directory can be matched to a topic. Restore {METADATA_LOG_DIR} from a backup; nothing was changed",
        log_dir.display(),
        metadata_dir.display()
    );
    Ok(Formatted { cluster_id, new: false })
}

/// Entries of an unformatted `log.dirs` that hold data: anything but an empty metadata log
/// left by an interrupted format and leftover temporary files.
fn entries_holding_data(storage: &dyn Storage, log_dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut data = Vec::new();
    for name in storage.list_dir(log_dir)? {
        if name.ends_with(".tmp") {
            continue;
        }
        if name == METADATA_LOG_DIR {
            let dir = log_dir.join(&name);
            let mut empty = true;
            for file in storage.list_dir(&dir)? {
                empty &=
                    storage.open(&dir.join(file), false).and_then(|f| f.len()).unwrap_or(1) == 0;
            }
            if empty {
                continue;
            }
        }
        data.push(name);
    }
    Ok(data)
}

fn summarize(names: &[String]) -> String {
    let shown: Vec<&str> = names.iter().take(3).map(String::as_str).collect();
    match names.len() {
        n if n > 3 => format!("{} and {} more", shown.join(", "), n - 3),
        _ => shown.join(", "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::TokioClock;
    use crate::metadata::PartitionRecord;
    use crate::storage::MemoryStorage;

    fn open_on(storage: &Arc<MemoryStorage>) -> Arc<Broker> {
        let clock = Arc::new(TokioClock::new(1_700_000_000_000));
        Broker::open(BrokerConfig::default(), storage.clone(), clock, 7).unwrap()
    }

    /// (topic, partition, retention.ms) of every partition this node has.
    fn partitions(broker: &Broker) -> Vec<(String, i32, i64)> {
        let partitions = broker.replica_manager().partitions();
        let retention = |p: &crate::replica::Partition| p.read_log(|l| l.config().retention_ms);
        partitions.iter().map(|p| (p.topic().to_owned(), p.partition(), retention(p))).collect()
    }

    /// The sole voter stands and wins at each start: a new quorum epoch, persisted in
    /// `quorum-state` in Kafka's format, its leader-change record first in the epoch; a
    /// `quorum-state` it cannot read refuses the start with the file's name and the reason.
    #[tokio::test]
    async fn each_start_is_a_new_quorum_epoch_remembered_in_quorum_state() {
        let storage = Arc::new(MemoryStorage::new());
        let state_file = BrokerConfig::default()
            .log_dir()
            .join(METADATA_LOG_DIR)
            .join(crate::raft::election_state::QUORUM_STATE_FILE);
        let read_state = || {
            crate::log::checkpoint::read_text(storage.as_ref() as &dyn Storage, &state_file)
                .unwrap()
        };
        let broker = open_on(&storage);
        assert_eq!(broker.quorum_epoch(), 1);
        assert_eq!(broker.quorum_leader_id(), 1);
        assert_eq!(broker.lock_metadata().log_view().last_epoch(), 1, "records carry the epoch");
        drop(broker);
        assert!(
            read_state().contains(r#""leaderId":1,"leaderEpoch":1,"votedId":-1"#),
            "{}",
            read_state()
        );

        let broker = open_on(&storage);
        assert_eq!(broker.quorum_epoch(), 2, "a restarted sole voter stands in a new epoch");
        assert!(broker.metadata().topic("__consumer_offsets").is_some(), "metadata replayed");
        drop(broker);
        assert!(read_state().contains(r#""leaderEpoch":2"#));

        let mut file = storage.open(&state_file, false).unwrap();
        file.truncate(20).unwrap();
        file.sync().unwrap();
        drop(file);
        let clock = Arc::new(TokioClock::new(1_700_000_000_000));
        let refused = Broker::open(BrokerConfig::default(), storage.clone(), clock, 7)
            .err()
            .expect("a torn quorum-state refuses the start")
            .to_string();
        assert!(
            refused.contains("quorum-state") && refused.contains("cannot be used"),
            "{refused}"
        );
    }

    /// Each start registers the node as Kafka's controller registers a broker: a new epoch (the
    /// record's offset) and incarnation, its advertised listeners with their protocols, then
    /// unfenced; clients are told of registered, unfenced brokers only.
    #[tokio::test]
    async fn every_start_registers_the_broker_at_a_new_epoch() {
        let storage = Arc::new(MemoryStorage::new());
        let broker = open_on(&storage);
        let first = broker.metadata().brokers()[&1].clone();
        assert!(!first.fenced);
        let endpoints: Vec<_> = first
            .registration
            .endpoints
            .iter()
            .map(|e| (e.name.as_str(), e.host.as_str(), e.port, e.security_protocol))
            .collect();
        assert_eq!(endpoints, [("PLAINTEXT", "127.0.0.1", 9092, 0)]);
        let live = broker.live_brokers_for("PLAINTEXT");
        assert_eq!(live.iter().map(|n| (n.node_id, n.port)).collect::<Vec<_>>(), [(1, 9092)]);
        assert!(broker.live_brokers_for("SSL").is_empty());
        drop(broker);

        let broker = open_on(&storage);
        let again = broker.metadata().brokers()[&1].clone();
        assert!(again.registration.broker_epoch > first.registration.broker_epoch);
        assert_eq!(broker.metadata().brokers().len(), 1, "a restart replaces its registration");
        let fence = MetadataRecord::FenceBroker { id: 1, epoch: again.registration.broker_epoch };
        broker.commit_metadata(vec![fence]).unwrap();
        assert!(broker.live_brokers_for("PLAINTEXT").is_empty(), "a fenced broker is not listed");
    }

    /// Whoever proposes records — a handler, or, later, a controller whose records a follower
    /// receives — the commit performs their effects; a restart replaying them ends the same.
    #[tokio::test]
    async fn committed_records_take_effect_whoever_proposes_them() {
        let storage = Arc::new(MemoryStorage::new());
        let broker = open_on(&storage);
        let node = broker.node.node_id;
        let (old, new) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let partition = |topic_id, partition| {
            MetadataRecord::Partition(PartitionRecord::new(topic_id, partition, vec![node]))
        };
        let retention = |ms: &str| MetadataRecord::Config {
            resource: ConfigResource::Topic("x".into()),
            name: "retention.ms".into(),
            value: Some(ms.into()),
        };
        let topic = |topic_id| MetadataRecord::Topic { name: "x".into(), topic_id };
        broker
            .commit_metadata(vec![topic(old), partition(old, 0), partition(old, 1), retention("5")])
            .unwrap();
        let x = |p, ms| ("x".to_owned(), p, ms);
        let listed = partitions(&broker);
        assert!(listed.contains(&x(0, 5)) && listed.contains(&x(1, 5)), "{listed:?}");
        broker.commit_metadata(vec![retention("6")]).unwrap();
        assert!(partitions(&broker).contains(&x(1, 6)));

        let again =
            vec![MetadataRecord::RemoveTopic { topic_id: old }, topic(new), partition(new, 0)];
        broker.commit_metadata(again).unwrap();
        let listed = partitions(&broker);
        let default_retention = broker.config.retention_ms();
        assert!(listed.contains(&x(0, default_retention)), "{listed:?}");
        assert!(!listed.iter().any(|(t, p, _)| t == "x" && *p == 1), "{listed:?}");
        let log_dir = broker.config.log_dir();
        assert!(!storage.exists(&log_dir.join("x-1")), "the removed topic's data is deleted");
        let ids = broker.lock_logs().partition_topic_id("x", 0).unwrap();
        assert_eq!(ids, Some(new), "x-0 is the new topic's");

        broker.flush_all();
        drop(broker);
        let reopened = open_on(&storage);
        assert_eq!(partitions(&reopened), listed, "the replayed records have the same effects");
    }

    #[test]
    fn topic_names_follow_kafka_rules() {
        assert!(validate_topic_name("orders.v1_eu-west").is_ok());
        for bad in ["", ".", "..", "a b", "zakázky", &"x".repeat(250)] {
            let err = validate_topic_name(bad).unwrap_err();
            assert_eq!(err.error, ResponseError::InvalidTopicException, "{bad}");
        }
    }
}
