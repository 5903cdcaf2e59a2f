//! Broker configuration: YAML with Apache Kafka's property names, overridable from the
//! command line with `--override name=value` (as `kafka-server-start.sh --override`).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::security::jaas::JAAS_SYNTAX;

pub mod cluster;
pub mod names;

/// Everything the broker reads from its configuration file. Property names are Kafka's own
/// (`node.id`, `log.dirs`, …) so that a Kafka operator's `server.properties` knowledge carries
/// over; unknown names are rejected so a typo does not silently fall back to a default.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrokerConfig {
    /// This broker's id, reported in Metadata and DescribeCluster.
    #[serde(rename = "node.id")]
    pub node_id: i32,
    /// Comma-separated listeners, e.g. `PLAINTEXT://127.0.0.1:9092`.
    pub listeners: String,
    /// What clients are told to connect to; defaults to `listeners`.
    #[serde(rename = "advertised.listeners")]
    pub advertised_listeners: Option<String>,
    /// Data directory. Kafka allows several comma-separated; this broker uses exactly one.
    #[serde(rename = "log.dirs")]
    pub log_dirs: String,
    /// The cluster id written to `meta.properties` on first start; generated when absent.
    #[serde(rename = "cluster.id")]
    pub cluster_id: Option<String>,
    /// Partitions of an auto-created topic, and of a CreateTopics asking for -1.
    #[serde(rename = "num.partitions")]
    pub num_partitions: i32,
    /// Whether a Metadata request for a missing topic creates it.
    #[serde(rename = "auto.create.topics.enable")]
    pub auto_create_topics_enable: bool,
    /// Whether DeleteTopics is allowed.
    #[serde(rename = "delete.topic.enable")]
    pub delete_topic_enable: bool,
    /// Default time retention; -1 keeps data forever.
    #[serde(rename = "log.retention.ms")]
    pub log_retention_ms: Option<i64>,
    /// Default time retention in hours, used when `log.retention.ms` is not set.
    #[serde(rename = "log.retention.hours")]
    pub log_retention_hours: i64,
    /// Default size retention per partition; -1 means no size limit.
    #[serde(rename = "log.retention.bytes")]
    pub log_retention_bytes: i64,
    /// Segment size at which the active segment rolls.
    #[serde(rename = "log.segment.bytes")]
    pub log_segment_bytes: i64,
    /// Segment age at which the active segment rolls.
    #[serde(rename = "log.roll.ms")]
    pub log_roll_ms: Option<i64>,
    /// Segment age in hours, used when `log.roll.ms` is not set.
    #[serde(rename = "log.roll.hours")]
    pub log_roll_hours: i64,
    /// Bytes between sparse offset-index entries.
    #[serde(rename = "log.index.interval.bytes")]
    pub log_index_interval_bytes: i32,
    /// fsync after this many appended messages; 1 makes every acknowledged write durable.
    #[serde(rename = "log.flush.interval.messages")]
    pub log_flush_interval_messages: i64,
    /// fsync when the oldest unflushed message is this old; absent leaves flushing to the OS.
    #[serde(rename = "log.flush.interval.ms")]
    pub log_flush_interval_ms: Option<i64>,
    /// How often retention and the time-based flush policy are checked.
    #[serde(rename = "log.retention.check.interval.ms")]
    pub log_retention_check_interval_ms: i64,
    /// How often every log's recovery point is written to `recovery-point-offset-checkpoint`
    /// (also on clean shutdown); recovery after a crash starts there.
    #[serde(rename = "log.flush.offset.checkpoint.interval.ms")]
    pub log_flush_offset_checkpoint_interval_ms: i64,
    /// A follower that has not caught up with the leader's log end offset for this long is
    /// removed from the ISR (`ReplicaManager::maybe_shrink_isr`).
    #[serde(rename = "replica.lag.time.max.ms")]
    pub replica_lag_time_max_ms: i64,
    /// Largest request frame accepted; a larger length prefix closes the connection.
    #[serde(rename = "socket.request.max.bytes")]
    pub socket_request_max_bytes: i32,
    /// Connections the broker holds open at once, all listeners together; at the limit the
    /// accept loop waits for a connection to close before serving a new one, as Kafka's
    /// acceptor does.
    #[serde(rename = "max.connections")]
    pub max_connections: i32,
    /// Connections one client address may hold open; one more is accepted and closed at once.
    #[serde(rename = "max.connections.per.ip")]
    pub max_connections_per_ip: i32,
    /// Per-address exceptions to `max.connections.per.ip`: `host:count,host:count`.
    #[serde(rename = "max.connections.per.ip.overrides")]
    pub max_connections_per_ip_overrides: String,
    /// A connection with no bytes read or written for this long is closed, a stalled partial
    /// request included; negative disables the timer.
    #[serde(rename = "connections.max.idle.ms")]
    pub connections_max_idle_ms: i64,
    /// Bytes of requests held in memory across all connections; over it, connections read no
    /// further request until memory is released. -1 (Kafka's default) is unbounded.
    #[serde(rename = "queued.max.request.bytes")]
    pub queued_max_request_bytes: i64,
    /// Samples a client quota's rate is measured over (Kafka's `quota.window.num`).
    #[serde(rename = "quota.window.num")]
    pub quota_window_num: i32,
    /// Length of one quota sample, in seconds (Kafka's `quota.window.size.seconds`).
    #[serde(rename = "quota.window.size.seconds")]
    pub quota_window_size_seconds: i32,
    /// Largest record batch accepted in a Produce request.
    #[serde(rename = "message.max.bytes")]
    pub message_max_bytes: i32,
    /// Default `compression.type` of topics: `producer` keeps the producer's codec.
    #[serde(rename = "compression.type")]
    pub compression_type: String,
    /// Default `message.timestamp.type` of topics: `CreateTime` or `LogAppendTime`.
    #[serde(rename = "log.message.timestamp.type")]
    pub log_message_timestamp_type: String,
    /// Default `message.timestamp.before.max.ms` of topics.
    #[serde(rename = "log.message.timestamp.before.max.ms")]
    pub log_message_timestamp_before_max_ms: i64,
    /// Default `message.timestamp.after.max.ms` of topics.
    #[serde(rename = "log.message.timestamp.after.max.ms")]
    pub log_message_timestamp_after_max_ms: i64,
    /// Default `min.insync.replicas` of topics; above 1, acks=all gets NOT_ENOUGH_REPLICAS here.
    #[serde(rename = "min.insync.replicas")]
    pub min_insync_replicas: i32,
    /// Partitions of `__consumer_offsets`.
    #[serde(rename = "offsets.topic.num.partitions")]
    pub offsets_topic_num_partitions: i32,
    /// Replicas of `__consumer_offsets` in a cluster (`process.roles` set): the controller
    /// creates the topic once this many brokers are registered, and FindCoordinator answers
    /// COORDINATOR_NOT_AVAILABLE until then. The single-node default keeps one replica.
    #[serde(rename = "offsets.topic.replication.factor")]
    pub offsets_topic_replication_factor: i16,
    /// How long a new group waits for more members before its first rebalance completes.
    #[serde(rename = "group.initial.rebalance.delay.ms")]
    pub group_initial_rebalance_delay_ms: i32,
    /// Smallest session timeout a member may ask for.
    #[serde(rename = "group.min.session.timeout.ms")]
    pub group_min_session_timeout_ms: i32,
    /// Largest session timeout a member may ask for.
    #[serde(rename = "group.max.session.timeout.ms")]
    pub group_max_session_timeout_ms: i32,
    /// Most members one group may have.
    #[serde(rename = "group.max.size")]
    pub group_max_size: i32,
    /// Committed offsets of an empty group are kept this long.
    #[serde(rename = "offsets.retention.minutes")]
    pub offsets_retention_minutes: i64,
    /// How often committed offsets are checked against `offsets.retention.minutes` (and empty
    /// groups without offsets removed).
    #[serde(rename = "offsets.retention.check.interval.ms")]
    pub offsets_retention_check_interval_ms: i64,
    /// Rack reported for this broker.
    #[serde(rename = "broker.rack")]
    pub broker_rack: Option<String>,
    /// Listener name to security protocol, e.g. `CLIENT:SASL_SSL,INTERNAL:PLAINTEXT`. Names that
    /// are themselves protocols (`PLAINTEXT`, `SSL`, `SASL_PLAINTEXT`, `SASL_SSL`) need no entry.
    #[serde(rename = "listener.security.protocol.map")]
    pub listener_security_protocol_map: Option<String>,
    /// `PKCS12` or `PEM` (a file holding the private key and the certificate chain). JKS is not
    /// supported: convert with `keytool -importkeystore -deststoretype PKCS12`.
    #[serde(rename = "ssl.keystore.type")]
    pub ssl_keystore_type: String,
    /// The broker's key and certificate chain, for SSL and SASL_SSL listeners.
    #[serde(rename = "ssl.keystore.location")]
    pub ssl_keystore_location: Option<String>,
    /// Password of the PKCS#12 keystore.
    #[serde(rename = "ssl.keystore.password")]
    pub ssl_keystore_password: Option<String>,
    /// Password of an encrypted private key in a PEM keystore.
    #[serde(rename = "ssl.key.password")]
    pub ssl_key_password: Option<String>,
    /// `PEM` (CA certificates) or `PKCS12`: which CAs client certificates must chain to.
    #[serde(rename = "ssl.truststore.type")]
    pub ssl_truststore_type: String,
    /// CA certificates trusted for client certificates.
    #[serde(rename = "ssl.truststore.location")]
    pub ssl_truststore_location: Option<String>,
    /// Password of a PKCS#12 truststore.
    #[serde(rename = "ssl.truststore.password")]
    pub ssl_truststore_password: Option<String>,
    /// `none`, `requested` or `required`: whether SSL listeners ask for client certificates.
    #[serde(rename = "ssl.client.auth")]
    pub ssl_client_auth: String,
    /// TLS versions accepted; TLS 1.2 is the floor.
    #[serde(rename = "ssl.enabled.protocols")]
    pub ssl_enabled_protocols: String,
    /// Maps a client certificate's subject (RFC 2253, `CN=alice,O=kafka-lab`) to a user name:
    /// `RULE:^CN=(.*?),.*$/$1/,DEFAULT` as in Kafka. `DEFAULT` keeps the whole subject.
    #[serde(rename = "ssl.principal.mapping.rules")]
    pub ssl_principal_mapping_rules: String,
    /// SASL mechanisms offered on SASL listeners: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512.
    #[serde(rename = "sasl.enabled.mechanisms")]
    pub sasl_enabled_mechanisms: String,
    /// SCRAM users known from start-up, in the syntax of `kafka-storage format --add-scram`:
    /// `SCRAM-SHA-256=[name=alice,password=alice-secret]` (optionally `iterations=8192`).
    /// Only salted keys are kept in memory; AlterUserScramCredentials adds users at run time.
    #[serde(rename = "sasl.scram.users")]
    pub sasl_scram_users: Vec<String>,
    /// Per-listener properties, by their full Kafka name, e.g.
    /// `listener.name.sasl_ssl.plain.sasl.jaas.config` whose `user_<name>="<password>"` entries
    /// are the PLAIN users, exactly as in Apache Kafka.
    #[serde(skip)]
    pub listener_properties: std::collections::BTreeMap<String, String>,
    /// `org.apache.kafka.metadata.authorizer.StandardAuthorizer` turns ACL enforcement on;
    /// empty (the default) allows every request, and the ACL APIs answer SECURITY_DISABLED.
    #[serde(rename = "authorizer.class.name")]
    pub authorizer_class_name: String,
    /// Principals that bypass ACLs, `;`-separated: `User:admin;User:ops`.
    #[serde(rename = "super.users")]
    pub super_users: String,
    /// Whether a resource that no ACL covers is open to everyone.
    #[serde(rename = "allow.everyone.if.no.acl.found")]
    pub allow_everyone_if_no_acl_found: bool,
    /// `broker`, `controller`, or `broker,controller` (Kafka's `process.roles`). Unset: one
    /// combined node that is the only voter of its own quorum, as this broker has always run;
    /// set, Kafka's KRaft rules apply in full (`config::cluster`).
    #[serde(rename = "process.roles")]
    pub process_roles: Option<String>,
    /// The controller quorum's voters, `{id}@{host}:{port}` comma-separated.
    #[serde(rename = "controller.quorum.voters")]
    pub controller_quorum_voters: String,
    /// Controllers to discover the quorum from, `host:port` comma-separated (KIP-853).
    #[serde(rename = "controller.quorum.bootstrap.servers")]
    pub controller_quorum_bootstrap_servers: String,
    /// How long a voter goes without a leader before it stands, randomised to between one
    /// and two times this (Kafka's default 1000).
    #[serde(rename = "controller.quorum.election.timeout.ms")]
    pub controller_quorum_election_timeout_ms: u64,
    /// How long a follower goes without a successful fetch from the leader before it stands
    /// (Kafka's default 2000).
    #[serde(rename = "controller.quorum.fetch.timeout.ms")]
    pub controller_quorum_fetch_timeout_ms: u64,
    /// The most a lost election backs off before standing again (Kafka's default 1000).
    #[serde(rename = "controller.quorum.election.backoff.max.ms")]
    pub controller_quorum_election_backoff_max_ms: u64,
    /// How long a quorum request waits for its answer (Kafka's default 2000).
    #[serde(rename = "controller.quorum.request.timeout.ms")]
    pub controller_quorum_request_timeout_ms: u64,
    /// Record bytes committed to the metadata log since the last snapshot of the metadata
    /// image that trigger the next (KIP-630; Kafka's default 20 MiB).
    #[serde(rename = "metadata.log.max.record.bytes.between.snapshots")]
    pub metadata_log_max_record_bytes_between_snapshots: u64,
    /// The longest a committed metadata record waits to be in a snapshot, 0 for no limit
    /// (Kafka's default 1 hour).
    #[serde(rename = "metadata.log.max.snapshot.interval.ms")]
    pub metadata_log_max_snapshot_interval_ms: i64,
    /// The most bytes the metadata log and its snapshots keep before the oldest snapshot and
    /// the log below the next one are removed; the newest snapshot and the log after it always
    /// stay. -1 for no limit (Kafka's default 100 MiB).
    #[serde(rename = "metadata.max.retention.bytes")]
    pub metadata_max_retention_bytes: i64,
    /// How long a metadata snapshot is kept, by its last record's time, before it and the log
    /// below the next snapshot are removed. -1 for no limit (Kafka's default 7 days).
    #[serde(rename = "metadata.max.retention.ms")]
    pub metadata_max_retention_ms: i64,
    /// The listeners controllers use, comma-separated names from `listeners`.
    #[serde(rename = "controller.listener.names")]
    pub controller_listener_names: String,
    /// The listener brokers replicate over; unset, the one named `PLAINTEXT` (Kafka's default
    /// `security.inter.broker.protocol`).
    #[serde(rename = "inter.broker.listener.name")]
    pub inter_broker_listener_name_config: Option<String>,
    /// The security protocol brokers replicate over, naming the listener of that name; the
    /// older spelling of `inter.broker.listener.name`, and exclusive with it as in Kafka.
    #[serde(rename = "security.inter.broker.protocol")]
    pub security_inter_broker_protocol: Option<String>,
    /// The SASL mechanism a broker authenticates with to other brokers on a SASL inter-broker
    /// listener. Kafka's default, GSSAPI, is not supported: set PLAIN, SCRAM-SHA-256 or
    /// SCRAM-SHA-512.
    #[serde(rename = "sasl.mechanism.inter.broker.protocol")]
    pub sasl_mechanism_inter_broker_protocol: String,
    /// The SASL mechanism a broker authenticates with to the controllers on a SASL controller
    /// listener; as `sasl.mechanism.inter.broker.protocol`.
    #[serde(rename = "sasl.mechanism.controller.protocol")]
    pub sasl_mechanism_controller_protocol: String,
    /// `https` (the default): a node checks that the certificate of the node it connects to
    /// names the host it dialled; empty turns the check off (the chain is still verified).
    #[serde(rename = "ssl.endpoint.identification.algorithm", deserialize_with = "null_as_empty")]
    pub ssl_endpoint_identification_algorithm: String,
    /// Replicas of a topic created without a replication factor (CreateTopics' -1, and
    /// auto-created topics).
    #[serde(rename = "default.replication.factor")]
    pub default_replication_factor: i32,
    /// How long the controller waits for a broker's heartbeat before fencing it (Kafka's
    /// `broker.session.timeout.ms`).
    #[serde(rename = "broker.session.timeout.ms")]
    pub broker_session_timeout_ms: i64,
    /// How often a broker heartbeats the controller (`broker.heartbeat.interval.ms`); the
    /// controller's session checks run at least this often.
    #[serde(rename = "broker.heartbeat.interval.ms")]
    pub broker_heartbeat_interval_ms: i64,
    /// Whether a replica outside the ISR may be elected leader when no in-sync replica is
    /// alive, at the cost of losing data (the broker default of the topic config).
    #[serde(rename = "unclean.leader.election.enable")]
    pub unclean_leader_election_enable: bool,
    /// How often the controller looks for leaderless partitions of topics that allow unclean
    /// election and elects a live out-of-sync replica (Kafka's KRaft controller: a topic
    /// config switched on takes effect at the next check).
    #[serde(rename = "unclean.leader.election.interval.ms")]
    pub unclean_leader_election_interval_ms: i64,
    /// Whether the controller moves leaderships back to each partition's preferred replica
    /// (its first) once that replica is in the ISR and active again.
    #[serde(rename = "auto.leader.rebalance.enable")]
    pub auto_leader_rebalance_enable: bool,
    /// How long the controller waits, once it sees a partition not led by its preferred
    /// replica, before it runs the leader rebalance.
    #[serde(rename = "leader.imbalance.check.interval.seconds")]
    pub leader_imbalance_check_interval_seconds: i64,
    /// Kafka's per-broker imbalance ratio that triggered a rebalance in the ZooKeeper
    /// controller. Kafka 4.1's KRaft controller reads it and does not apply it (it balances
    /// every imbalanced partition at each check), and neither does this one.
    #[serde(rename = "leader.imbalance.per.broker.percentage")]
    pub leader_imbalance_per_broker_percentage: i32,
    /// Bytes a follower asks of each partition in one fetch (the first batch comes whole
    /// whatever its size).
    #[serde(rename = "replica.fetch.max.bytes")]
    pub replica_fetch_max_bytes: i32,
    /// Bytes a follower asks for in one whole fetch response.
    #[serde(rename = "replica.fetch.response.max.bytes")]
    pub replica_fetch_response_max_bytes: i32,
    /// How long the leader may hold a follower's fetch with less than
    /// `replica.fetch.min.bytes` to answer.
    #[serde(rename = "replica.fetch.wait.max.ms")]
    pub replica_fetch_wait_max_ms: i32,
    /// Bytes the leader waits for before answering a follower's fetch.
    #[serde(rename = "replica.fetch.min.bytes")]
    pub replica_fetch_min_bytes: i32,
    /// Pause after a failed fetch (an unreachable leader, a partition in error) before the
    /// next.
    #[serde(rename = "replica.fetch.backoff.ms")]
    pub replica_fetch_backoff_ms: i32,
    /// How long a follower waits for a fetch response before dropping the connection.
    #[serde(rename = "replica.socket.timeout.ms")]
    pub replica_socket_timeout_ms: i32,
    /// How often every partition's high watermark is written to
    /// `replication-offset-checkpoint` (also on shutdown).
    #[serde(rename = "replica.high.watermark.checkpoint.interval.ms")]
    pub replica_high_watermark_checkpoint_interval_ms: i64,
    /// Where the Prometheus metrics endpoint (`GET /metrics`) listens, under the property name
    /// of Strimzi's Prometheus metrics reporter: `http://:9404` (every interface) or
    /// `http://127.0.0.1:9404`. Unset: no endpoint.
    #[serde(rename = "prometheus.metrics.reporter.listener")]
    pub prometheus_metrics_reporter_listener: Option<String>,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        Self {
            node_id: 1,
            listeners: "PLAINTEXT://127.0.0.1:9092".into(),
            advertised_listeners: None,
            log_dirs: "./data".into(),
            cluster_id: None,
            num_partitions: 1,
            auto_create_topics_enable: true,
            delete_topic_enable: true,
            log_retention_ms: None,
            log_retention_hours: 168,
            log_retention_bytes: -1,
            log_segment_bytes: 1 << 30,
            log_roll_ms: None,
            log_roll_hours: 168,
            log_index_interval_bytes: 4096,
            log_flush_interval_messages: i64::MAX,
            log_flush_interval_ms: None,
            log_retention_check_interval_ms: 300_000,
            log_flush_offset_checkpoint_interval_ms: 60_000,
            replica_lag_time_max_ms: 30_000,
            socket_request_max_bytes: 104_857_600,
            max_connections: i32::MAX,
            max_connections_per_ip: i32::MAX,
            max_connections_per_ip_overrides: String::new(),
            connections_max_idle_ms: 600_000,
            queued_max_request_bytes: -1,
            quota_window_num: 11,
            quota_window_size_seconds: 1,
            message_max_bytes: 1_048_588,
            compression_type: "producer".into(),
            log_message_timestamp_type: "CreateTime".into(),
            log_message_timestamp_before_max_ms: i64::MAX,
            log_message_timestamp_after_max_ms: 3_600_000,
            min_insync_replicas: 1,
            offsets_topic_num_partitions: 50,
            offsets_topic_replication_factor: 3,
            group_initial_rebalance_delay_ms: 3000,
            group_min_session_timeout_ms: 6000,
            group_max_session_timeout_ms: 1_800_000,
            group_max_size: i32::MAX,
            offsets_retention_minutes: 10080,
            offsets_retention_check_interval_ms: 600_000,
            broker_rack: None,
            listener_security_protocol_map: None,
            ssl_keystore_type: "PKCS12".into(),
            ssl_keystore_location: None,
            ssl_keystore_password: None,
            ssl_key_password: None,
            ssl_truststore_type: "PEM".into(),
            ssl_truststore_location: None,
            ssl_truststore_password: None,
            ssl_client_auth: "none".into(),
            ssl_enabled_protocols: "TLSv1.2,TLSv1.3".into(),
            ssl_principal_mapping_rules: "DEFAULT".into(),
            sasl_enabled_mechanisms: "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512".into(),
            sasl_scram_users: Vec::new(),
            listener_properties: Default::default(),
            authorizer_class_name: String::new(),
            super_users: String::new(),
            allow_everyone_if_no_acl_found: false,
            prometheus_metrics_reporter_listener: None,
            process_roles: None,
            controller_quorum_voters: String::new(),
            controller_quorum_bootstrap_servers: String::new(),
            controller_quorum_election_timeout_ms: 1000,
            controller_quorum_fetch_timeout_ms: 2000,
            controller_quorum_election_backoff_max_ms: 1000,
            controller_quorum_request_timeout_ms: 2000,
            metadata_log_max_record_bytes_between_snapshots: 20 * 1024 * 1024,
            metadata_log_max_snapshot_interval_ms: 3_600_000,
            metadata_max_retention_bytes: 100 * 1024 * 1024,
            metadata_max_retention_ms: 7 * 24 * 3_600_000,
            controller_listener_names: String::new(),
            inter_broker_listener_name_config: None,
            security_inter_broker_protocol: None,
            sasl_mechanism_inter_broker_protocol: "GSSAPI".into(),
            sasl_mechanism_controller_protocol: "GSSAPI".into(),
            ssl_endpoint_identification_algorithm: "https".into(),
            default_replication_factor: 1,
            broker_session_timeout_ms: 9000,
            broker_heartbeat_interval_ms: 2000,
            unclean_leader_election_enable: false,
            unclean_leader_election_interval_ms: 300_000,
            auto_leader_rebalance_enable: true,
            leader_imbalance_check_interval_seconds: 300,
            leader_imbalance_per_broker_percentage: 10,
            replica_fetch_max_bytes: 1_048_576,
            replica_fetch_response_max_bytes: 10_485_760,
            replica_fetch_wait_max_ms: 500,
            replica_fetch_min_bytes: 1,
            replica_fetch_backoff_ms: 1000,
            replica_socket_timeout_ms: 30_000,
            replica_high_watermark_checkpoint_interval_ms: 5000,
        }
    }
}

/// The address of the metrics endpoint, from `prometheus.metrics.reporter.listener`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsListener {
    /// Host to bind; empty means every interface.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl MetricsListener {
    /// Parses `http://host:port` (host may be empty, an IP, `[v6]` or a name; a trailing `/`
    /// is allowed).
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        const PROPERTY: &str = "prometheus.metrics.reporter.listener";
        let err = |why: &str| {
            ConfigError::Invalid(format!(
                "{PROPERTY}: `{text}` {why} (expected http://host:port, e.g. http://:9404 or \
                 http://127.0.0.1:9404)"
            ))
        };
        let text = text.trim();
        if text.starts_with("https://") {
            return Err(err("asks for TLS, which the metrics endpoint does not serve"));
        }
        let address =
            text.strip_prefix("http://").ok_or_else(|| err("does not start with http://"))?;
        let address = address.strip_suffix('/').unwrap_or(address);
        let (host, port) = address.rsplit_once(':').ok_or_else(|| err("has no port"))?;
        let port = port.parse::<u16>().map_err(|_| err("has an invalid port"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let valid_host = host.parse::<std::net::IpAddr>().is_ok()
            || host.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
        if !valid_host {
            return Err(err("has an invalid host"));
        }
        Ok(MetricsListener { host: host.to_owned(), port })
    }

    /// The `host:port` to bind (`0.0.0.0` for every interface).
    pub fn bind_address(&self) -> String {
        match self.host.as_str() {
            "" => format!("0.0.0.0:{}", self.port),
            host if host.contains(':') => format!("[{host}]:{}", self.port),
            host => format!("{host}:{}", self.port),
        }
    }
}

/// How a listener's connections are secured, as Kafka's `security.protocol` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SecurityProtocol {
    /// Neither encrypted nor authenticated: every client is `User:ANONYMOUS`.
    Plaintext,
    /// TLS; a client certificate, when presented, names the principal.
    Ssl,
    /// SASL authentication without encryption.
    SaslPlaintext,
    /// SASL authentication inside TLS.
    SaslSsl,
}

impl SecurityProtocol {
    /// Kafka's id of the protocol (`SecurityProtocol.id`), as broker registrations carry it.
    pub fn id(self) -> i16 {
        match self {
            SecurityProtocol::Plaintext => 0,
            SecurityProtocol::Ssl => 1,
            SecurityProtocol::SaslPlaintext => 2,
            SecurityProtocol::SaslSsl => 3,
        }
    }

    /// Parses Kafka's name of a protocol.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "PLAINTEXT" => SecurityProtocol::Plaintext,
            "SSL" => SecurityProtocol::Ssl,
            "SASL_PLAINTEXT" => SecurityProtocol::SaslPlaintext,
            "SASL_SSL" => SecurityProtocol::SaslSsl,
            _ => return None,
        })
    }

    /// Whether the connection runs inside TLS.
    pub fn uses_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    /// Whether the client must authenticate with SASL before any other request.
    pub fn uses_sasl(self) -> bool {
        matches!(self, SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl)
    }
}

impl std::fmt::Display for SecurityProtocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        })
    }
}

/// One `NAME://host:port` entry of `listeners`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// Listener name, e.g. `PLAINTEXT` or `CLIENT`.
    pub name: String,
    /// Its security protocol, from the name or `listener.security.protocol.map`.
    pub protocol: SecurityProtocol,
    /// Host to bind or advertise; empty means all interfaces.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

/// A configuration problem, with the property it concerns.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    /// The YAML did not parse or named an unknown property.
    #[error("invalid broker configuration: {0}")]
    Invalid(String),
}

impl BrokerConfig {
    /// Reads `path` (when given) and applies `overrides` (`name=value`, value parsed as YAML).
    ///
    /// A refused property is named together with where it was set (the file, or the override).
    /// Unknown names are refused with the nearest known name as a suggestion; Kafka properties
    /// that have no effect here ([`names::NO_EFFECT`]) are accepted with one warning each.
    pub fn load(path: Option<&Path>, overrides: &[String]) -> Result<Self, ConfigError> {
        let mut map = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
                match serde_yaml::from_str::<serde_yaml::Value>(&text).map_err(|e| {
                    // serde_yaml reports a repeated key where the mapping starts, not where the
                    // key is repeated; name both lines instead.
                    let message = duplicate_key(&text).unwrap_or_else(|| e.to_string());
                    ConfigError::Invalid(format!("{}: {message}", path.display()))
                })? {
                    serde_yaml::Value::Mapping(map) => map,
                    serde_yaml::Value::Null => serde_yaml::Mapping::new(),
                    _ => {
                        return Err(ConfigError::Invalid(format!(
                            "{}: expected a mapping of Kafka property names to values",
                            path.display()
                        )))
                    }
                }
            }
            None => serde_yaml::Mapping::new(),
        };
        // Where each property was set, so that an error can name the file or the override.
        let mut origins: std::collections::BTreeMap<String, String> = map
            .keys()
            .filter_map(|k| k.as_str())
            .filter_map(|k| Some((k.to_owned(), format!("in {}", path?.display()))))
            .collect();
        for entry in overrides {
            let (name, value) = entry.split_once('=').ok_or_else(|| {
                ConfigError::Invalid(format!("override `{entry}` is not of the form name=value"))
            })?;
            let value: serde_yaml::Value = serde_yaml::from_str(value)
                .unwrap_or_else(|_| serde_yaml::Value::String(value.to_owned()));
            let name = name.trim();
            let shown =
                if BrokerConfig::is_sensitive(name) { "…".into() } else { value_text(&value) };
            origins.insert(name.to_owned(), format!("in --override {name}={shown}"));
            map.insert(serde_yaml::Value::String(name.to_owned()), value);
        }
        let located = |message: String| ConfigError::Invalid(locate(message, &origins));
        // `listener.name.<listener>.<property>` keys are open-ended, so they are kept aside
        // rather than declared as fields.
        let mut listener_properties = std::collections::BTreeMap::new();
        let known = Self::property_names();
        let mut unknown = Vec::new();
        let mut no_effect = Vec::new();
        for (key, value) in std::mem::take(&mut map) {
            let Some(name) = key.as_str().map(str::to_owned) else {
                return Err(ConfigError::Invalid(format!(
                    "property names must be strings, got `{}`",
                    value_text(&key)
                )));
            };
            if name.starts_with("listener.name.") {
                listener_properties.insert(name, value_text(&value));
            } else if known.contains(&name) {
                map.insert(key, value);
            } else if name == "sasl.jaas.config" {
                // Kafka reads a broker's JAAS configuration only with a listener and mechanism
                // prefix and ignores this one with a warning; it must still be valid.
                crate::security::jaas::parse_jaas_config(&value_text(&value))
                    .map_err(|why| located(format!("{name}: {why} (expected {JAAS_SYNTAX})")))?;
                no_effect.push((
                    name,
                    "a broker reads JAAS configurations only as \
                     listener.name.<listener>.<mechanism>.sasl.jaas.config, as Kafka does",
                ));
            } else if let Some(reason) = names::no_effect_reason(&name) {
                no_effect.push((name, reason));
            } else {
                unknown.push(name);
            }
        }
        if !unknown.is_empty() {
            let described: Vec<String> = unknown
                .iter()
                .map(|name| {
                    let hint = names::suggestion(name, known.iter().map(String::as_str))
                        .map(|s| format!(" (did you mean `{s}`?)"))
                        .unwrap_or_default();
                    format!("`{name}`{hint} {}", origins.get(name).map_or("", String::as_str))
                })
                .collect();
            return Err(ConfigError::Invalid(format!(
                "unknown propert{} {}",
                if unknown.len() == 1 { "y" } else { "ies" },
                described.join(", ")
            )));
        }
        for (name, reason) in no_effect {
            tracing::warn!("`{name}` has no effect on kafka-lab-broker: {reason}");
        }
        let mut config: BrokerConfig =
            serde_yaml::from_value(serde_yaml::Value::Mapping(map.clone())).map_err(|e| {
                // serde names neither the property nor the file: find the property it refused.
                let refused = map.iter().find(|(k, v)| {
                    let one = serde_yaml::Mapping::from_iter([((*k).clone(), (*v).clone())]);
                    serde_yaml::from_value::<BrokerConfig>(serde_yaml::Value::Mapping(one)).is_err()
                });
                match refused.and_then(|(k, _)| k.as_str()) {
                    Some(name) => located(format!("{name}: {e}")),
                    None => ConfigError::Invalid(e.to_string()),
                }
            })?;
        config.listener_properties = listener_properties;
        config.validate().map_err(|e| match e {
            ConfigError::Invalid(message) => located(message),
            other => other,
        })?;
        Ok(config)
    }

    /// Every property name the configuration declares (`listener.name.*` aside).
    fn property_names() -> Vec<String> {
        let value = serde_yaml::to_value(BrokerConfig::default()).expect("config serializes");
        let serde_yaml::Value::Mapping(map) = value else { unreachable!("config is a struct") };
        map.keys().filter_map(|k| k.as_str()).map(str::to_owned).collect()
    }

    /// Every property with its effective value, by Kafka name (DescribeConfigs for the broker).
    /// Secrets (passwords, JAAS configurations, SCRAM users) are not included: see
    /// [`BrokerConfig::is_sensitive`].
    pub fn properties(&self) -> std::collections::BTreeMap<String, String> {
        let value = serde_yaml::to_value(self).expect("config serializes");
        let serde_yaml::Value::Mapping(map) = value else { unreachable!("config is a struct") };
        map.into_iter()
            .filter(|(k, _)| !k.as_str().is_some_and(Self::is_sensitive))
            .filter_map(|(k, v)| {
                let key = k.as_str()?.to_owned();
                let value = match v {
                    serde_yaml::Value::Null => return None,
                    serde_yaml::Value::String(s) => s,
                    other => serde_yaml::to_string(&other).ok()?.trim().to_owned(),
                };
                Some((key, value))
            })
            .collect()
    }

    /// Whether a property holds a secret that must never be shown or logged.
    pub fn is_sensitive(name: &str) -> bool {
        name.ends_with(".password")
            || name.ends_with("sasl.jaas.config")
            || name == "sasl.scram.users"
    }

    /// The value of `listener.name.<listener>.<property>` (listener name lower-cased, as Kafka
    /// writes it).
    pub fn listener_property(&self, listener: &str, property: &str) -> Option<&str> {
        let key = format!("listener.name.{}.{property}", listener.to_ascii_lowercase());
        self.listener_properties.get(&key).map(String::as_str)
    }

    /// The parsed `prometheus.metrics.reporter.listener`; `None` when unset or empty.
    pub fn metrics_listener(&self) -> Result<Option<MetricsListener>, ConfigError> {
        match self.prometheus_metrics_reporter_listener.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(text) => MetricsListener::parse(text).map(Some),
        }
    }

    /// `max.connections.per.ip.overrides` as (host, limit) pairs; hosts are resolved where
    /// connections are accepted.
    pub fn max_connections_per_ip_overrides(&self) -> Result<Vec<(String, i32)>, ConfigError> {
        let text = self.max_connections_per_ip_overrides.trim();
        if text.is_empty() {
            return Ok(Vec::new());
        }
        text.split(',')
            .map(|entry| {
                let entry = entry.trim();
                let parsed = entry
                    .rsplit_once(':')
                    .and_then(|(host, n)| Some((host.trim(), n.trim().parse::<i32>().ok()?)))
                    .filter(|(host, n)| !host.is_empty() && *n >= 0);
                parsed.map(|(host, n)| (host.to_owned(), n)).ok_or_else(|| {
                    ConfigError::Invalid(format!(
                        "max.connections.per.ip.overrides: `{entry}` is not `host:count` \
                         (e.g. `127.0.0.1:200,broker-2:50`)"
                    ))
                })
            })
            .collect()
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |msg: String| Err(ConfigError::Invalid(msg));
        let listeners = self.listeners()?;
        self.metrics_listener()?;
        let advertised = self.advertised_listeners()?;
        crate::authorizer::Authorizer::from_config(self).map_err(ConfigError::Invalid)?;
        for listener in &advertised {
            if !listeners.iter().any(|l| l.name == listener.name) {
                return invalid(format!(
                    "advertised.listeners names `{}`, which is not in listeners",
                    listener.name
                ));
            }
        }
        if !matches!(self.ssl_client_auth.as_str(), "none" | "requested" | "required") {
            return invalid(format!(
                "ssl.client.auth must be none, requested or required, got `{}`",
                self.ssl_client_auth
            ));
        }
        if let Some(protocol) = &self.security_inter_broker_protocol {
            if self.inter_broker_listener_name_config.is_some() {
                // Kafka's KafkaConfig.getInterBrokerListenerNameAndSecurityProtocol.
                return invalid(
                    "Only one of inter.broker.listener.name and security.inter.broker.protocol \
                     should be set."
                        .into(),
                );
            }
            if SecurityProtocol::parse(protocol.trim()).is_none() {
                return invalid(format!(
                    "security.inter.broker.protocol: `{protocol}` is not a security protocol \
                     (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL)"
                ));
            }
        }
        for mechanism in self.sasl_mechanisms() {
            if !matches!(mechanism.as_str(), "PLAIN" | "SCRAM-SHA-256" | "SCRAM-SHA-512") {
                return invalid(format!(
                    "sasl.enabled.mechanisms: `{mechanism}` is not supported \
                     (PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 are)"
                ));
            }
        }
        if self.log_dirs.contains(',') {
            return invalid(format!(
                "log.dirs `{}`: this broker supports exactly one log directory",
                self.log_dirs
            ));
        }
        if self.node_id < 0 {
            return invalid(format!("node.id must be at least 0, got {}", self.node_id));
        }
        if self.metadata_log_max_record_bytes_between_snapshots < 1 {
            return invalid(
                "metadata.log.max.record.bytes.between.snapshots must be at least 1, got 0".into(),
            );
        }
        if self.metadata_log_max_snapshot_interval_ms < 0 {
            return invalid(format!(
                "metadata.log.max.snapshot.interval.ms must be at least 0 (0: no time limit), got {}",
                self.metadata_log_max_snapshot_interval_ms
            ));
        }
        if self.message_max_bytes < 1 {
            return invalid(format!(
                "message.max.bytes must be at least 1 (no record batch would fit), got {}",
                self.message_max_bytes
            ));
        }
        if let Some(cluster_id) = &self.cluster_id {
            if crate::kafka_uuid::decode(cluster_id).is_none() {
                let shown: String = cluster_id.chars().take(24).collect();
                return invalid(format!(
                    "cluster.id `{shown}` is not a Kafka cluster id: it must be 16 bytes in \
                     URL-safe base64, 22 characters such as `kafka-storage.sh random-uuid` \
                     prints (e.g. MkU3OEVBNTcwNTJENDM2Qg)"
                ));
            }
        }
        for (name, value) in &self.listener_properties {
            if name.ends_with(".sasl.jaas.config") {
                crate::security::jaas::parse_jaas_config(value).map_err(|why| {
                    ConfigError::Invalid(format!("{name}: {why} (expected {JAAS_SYNTAX})"))
                })?;
            }
        }
        if self.num_partitions < 1 {
            return invalid(format!(
                "num.partitions must be at least 1, got {}",
                self.num_partitions
            ));
        }
        if self.log_segment_bytes < 14 {
            return invalid(format!(
                "log.segment.bytes must be at least 14, got {}",
                self.log_segment_bytes
            ));
        }
        if self.socket_request_max_bytes < 1024 {
            return invalid(format!(
                "socket.request.max.bytes must be at least 1024, got {}",
                self.socket_request_max_bytes
            ));
        }
        if self.max_connections < 0 || self.max_connections_per_ip < 0 {
            return invalid(format!(
                "max.connections ({}) and max.connections.per.ip ({}) must be at least 0",
                self.max_connections, self.max_connections_per_ip
            ));
        }
        let per_ip_overrides = self.max_connections_per_ip_overrides()?;
        if self.max_connections_per_ip == 0 && per_ip_overrides.is_empty() {
            // Kafka's rule: 0 for everyone is only meaningful with exceptions.
            return invalid(
                "max.connections.per.ip is 0, so max.connections.per.ip.overrides must name \
                 the addresses that may connect"
                    .into(),
            );
        }
        if self.queued_max_request_bytes == 0 || self.queued_max_request_bytes < -1 {
            return invalid(format!(
                "queued.max.request.bytes must be positive, or -1 for unbounded, got {}",
                self.queued_max_request_bytes
            ));
        }
        if self.quota_window_num < 2 {
            return invalid(format!(
                "quota.window.num must be at least 2, got {}",
                self.quota_window_num
            ));
        }
        if self.quota_window_size_seconds < 1 {
            return invalid(format!(
                "quota.window.size.seconds must be at least 1, got {}",
                self.quota_window_size_seconds
            ));
        }
        if self.log_flush_interval_messages < 1 {
            return invalid(format!(
                "log.flush.interval.messages must be at least 1, got {}",
                self.log_flush_interval_messages
            ));
        }
        if self.log_flush_offset_checkpoint_interval_ms < 1 {
            return invalid(format!(
                "log.flush.offset.checkpoint.interval.ms must be at least 1, got {}",
                self.log_flush_offset_checkpoint_interval_ms
            ));
        }
        if self.offsets_retention_check_interval_ms < 1 {
            return invalid(format!(
                "offsets.retention.check.interval.ms must be at least 1, got {}",
                self.offsets_retention_check_interval_ms
            ));
        }
        if self.offsets_topic_replication_factor < 1 {
            return invalid(format!(
                "offsets.topic.replication.factor must be at least 1, got {}",
                self.offsets_topic_replication_factor
            ));
        }
        if self.offsets_topic_num_partitions < 1 {
            return invalid(format!(
                "offsets.topic.num.partitions must be at least 1, got {}",
                self.offsets_topic_num_partitions
            ));
        }
        if self.default_replication_factor < 1 {
            return invalid(format!(
                "default.replication.factor must be at least 1, got {}",
                self.default_replication_factor
            ));
        }
        if self.broker_heartbeat_interval_ms < 1 || self.broker_session_timeout_ms < 1 {
            return invalid(format!(
                "broker.heartbeat.interval.ms ({}) and broker.session.timeout.ms ({}) must be at \
                 least 1",
                self.broker_heartbeat_interval_ms, self.broker_session_timeout_ms
            ));
        }
        if self.unclean_leader_election_interval_ms < 1 {
            return invalid(format!(
                "unclean.leader.election.interval.ms must be at least 1, got {}",
                self.unclean_leader_election_interval_ms
            ));
        }
        if self.leader_imbalance_check_interval_seconds < 1 {
            return invalid(format!(
                "leader.imbalance.check.interval.seconds must be at least 1, got {}",
                self.leader_imbalance_check_interval_seconds
            ));
        }
        // KafkaConfig's check: the leader would otherwise hold a fetch past the follower's wait.
        if self.replica_fetch_wait_max_ms > self.replica_socket_timeout_ms {
            return invalid(
                "replica.socket.timeout.ms should always be at least replica.fetch.wait.max.ms \
                 to prevent unnecessary socket timeouts"
                    .to_owned(),
            );
        }
        if self.replica_high_watermark_checkpoint_interval_ms < 1 {
            return invalid(format!(
                "replica.high.watermark.checkpoint.interval.ms must be at least 1, got {}",
                self.replica_high_watermark_checkpoint_interval_ms
            ));
        }
        for (name, value) in [
            ("replica.fetch.max.bytes", self.replica_fetch_max_bytes),
            ("replica.fetch.response.max.bytes", self.replica_fetch_response_max_bytes),
            ("replica.fetch.wait.max.ms", self.replica_fetch_wait_max_ms),
            ("replica.fetch.min.bytes", self.replica_fetch_min_bytes),
            ("replica.fetch.backoff.ms", self.replica_fetch_backoff_ms),
        ] {
            if value < 0 {
                return invalid(format!("{name} must be at least 0, got {value}"));
            }
        }
        let roles = self.process_roles()?;
        if self.process_roles.is_some() {
            cluster::validate(self, roles, &listeners, &advertised)?;
        }
        // Broker defaults of topic configs take the topic config's validator, as in Kafka.
        for (property, topic_config, value) in [
            ("compression.type", "compression.type", self.compression_type.clone()),
            (
                "log.message.timestamp.type",
                "message.timestamp.type",
                self.log_message_timestamp_type.clone(),
            ),
            (
                "log.message.timestamp.before.max.ms",
                "message.timestamp.before.max.ms",
                self.log_message_timestamp_before_max_ms.to_string(),
            ),
            (
                "log.message.timestamp.after.max.ms",
                "message.timestamp.after.max.ms",
                self.log_message_timestamp_after_max_ms.to_string(),
            ),
            ("min.insync.replicas", "min.insync.replicas", self.min_insync_replicas.to_string()),
        ] {
            crate::topic_config::validate(topic_config, Some(&value))
                .map_err(|e| ConfigError::Invalid(format!("{property}: {}", e.message)))?;
        }
        Ok(())
    }

    /// Parsed `process.roles`; unset, a combined node.
    pub fn process_roles(&self) -> Result<cluster::ProcessRoles, ConfigError> {
        match &self.process_roles {
            Some(text) => cluster::parse_process_roles(text),
            None => Ok(cluster::ProcessRoles { broker: true, controller: true }),
        }
    }

    /// Where a node reaches the metadata quorum: the `controller.quorum.voters` addresses in id
    /// order, else the `controller.quorum.bootstrap.servers` (`host:port`, comma-separated).
    pub fn quorum_addresses(&self) -> Result<Vec<(String, u16)>, ConfigError> {
        let voters = cluster::parse_voters(&self.controller_quorum_voters)?;
        if !voters.is_empty() {
            return Ok(voters.into_values().map(|v| (v.host, v.port)).collect());
        }
        cluster::parse_bootstrap_servers(&self.controller_quorum_bootstrap_servers)
    }

    /// When the metadata image is snapshotted and the log cleaned below its snapshots, from
    /// the `metadata.log.max.*` and `metadata.max.retention.*` settings.
    pub fn snapshot_policy(&self) -> crate::metadata::SnapshotPolicy {
        crate::metadata::SnapshotPolicy {
            max_bytes_between: self.metadata_log_max_record_bytes_between_snapshots,
            max_interval_ms: self.metadata_log_max_snapshot_interval_ms,
            retention_bytes: self.metadata_max_retention_bytes,
            retention_ms: self.metadata_max_retention_ms,
        }
    }

    /// The metadata quorum's timing, from the `controller.quorum.*` settings.
    pub fn quorum_config(&self) -> crate::raft::client::QuorumConfig {
        crate::raft::client::QuorumConfig {
            election_timeout_ms: self.controller_quorum_election_timeout_ms,
            fetch_timeout_ms: self.controller_quorum_fetch_timeout_ms,
            election_backoff_max_ms: self.controller_quorum_election_backoff_max_ms,
            request_timeout_ms: self.controller_quorum_request_timeout_ms,
            ..Default::default()
        }
    }

    /// The listener a broker reaches the controllers on: the first `controller.listener.names`
    /// entry, as Kafka's brokers choose it.
    pub fn controller_listener_name(&self) -> String {
        self.controller_listener_names.split(',').map(str::trim).next().unwrap_or("").to_owned()
    }

    /// Whether the listener called `name` is one of `controller.listener.names`: the quorum's,
    /// never advertised to clients.
    pub fn is_controller_listener(&self, name: &str) -> bool {
        self.controller_listener_names.split(',').map(str::trim).any(|n| !n.is_empty() && n == name)
    }

    /// The security protocol a broker uses to reach the controllers: that of the first
    /// `controller.listener.names` entry, from `listener.security.protocol.map` or its name.
    pub fn controller_listener_protocol(&self) -> Result<SecurityProtocol, ConfigError> {
        let name = self.controller_listener_name();
        self.listener_protocol(&name)?.ok_or_else(|| {
            ConfigError::Invalid(format!(
                "controller.listener.names: `{name}` is neither a security protocol nor in \
                 listener.security.protocol.map"
            ))
        })
    }

    /// The security protocol of the listener called `name`: its `listener.security.protocol.map`
    /// entry, else the protocol the name is; `None` for neither.
    pub fn listener_protocol(&self, name: &str) -> Result<Option<SecurityProtocol>, ConfigError> {
        let mapped = self.protocol_map()?.into_iter().find(|(n, _)| n == name).map(|(_, p)| p);
        Ok(mapped.or_else(|| SecurityProtocol::parse(name)))
    }

    /// `inter.broker.listener.name`, else the listener named after `security.inter.broker.protocol`
    /// (Kafka's `ListenerName.forSecurityProtocol`), else Kafka's default: `PLAINTEXT`.
    pub fn inter_broker_listener_name(&self) -> String {
        self.inter_broker_listener_name_config
            .clone()
            .or_else(|| self.security_inter_broker_protocol.as_ref().map(|p| p.trim().to_owned()))
            .unwrap_or_else(|| "PLAINTEXT".into())
    }

    /// The security protocol of the inter-broker listener.
    pub fn inter_broker_listener_protocol(&self) -> Result<SecurityProtocol, ConfigError> {
        let name = self.inter_broker_listener_name();
        self.listener_protocol(&name)?.ok_or_else(|| {
            ConfigError::Invalid(format!(
                "inter.broker.listener.name: `{name}` is neither a security protocol nor in \
                 listener.security.protocol.map"
            ))
        })
    }

    /// `listener.name.<listener>.<property>` when set, else the property itself (`top`): how
    /// Kafka resolves a listener's `ssl.*` settings.
    pub fn listener_or_top(
        &self,
        listener: &str,
        property: &str,
        top: Option<&str>,
    ) -> Option<String> {
        self.listener_property(listener, property).or(top).map(str::to_owned)
    }

    /// Parsed `listeners`.
    pub fn listeners(&self) -> Result<Vec<Listener>, ConfigError> {
        parse_listeners("listeners", &self.listeners, &self.protocol_map()?)
    }

    /// Parsed `advertised.listeners`, falling back to `listeners`.
    pub fn advertised_listeners(&self) -> Result<Vec<Listener>, ConfigError> {
        match &self.advertised_listeners {
            Some(text) => parse_listeners("advertised.listeners", text, &self.protocol_map()?),
            None => self.listeners(),
        }
    }

    /// The enabled SASL mechanism names, upper-case.
    pub fn sasl_mechanisms(&self) -> Vec<String> {
        self.sasl_enabled_mechanisms
            .split(',')
            .map(|m| m.trim().to_ascii_uppercase())
            .filter(|m| !m.is_empty())
            .collect()
    }

    fn protocol_map(&self) -> Result<Vec<(String, SecurityProtocol)>, ConfigError> {
        let Some(text) = &self.listener_security_protocol_map else { return Ok(Vec::new()) };
        text.split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(|entry| {
                let (name, protocol) = entry.split_once(':').ok_or_else(|| {
                    ConfigError::Invalid(format!(
                        "listener.security.protocol.map: `{entry}` is not of the form NAME:PROTOCOL"
                    ))
                })?;
                let protocol = SecurityProtocol::parse(protocol.trim()).ok_or_else(|| {
                    ConfigError::Invalid(format!(
                        "listener.security.protocol.map: `{protocol}` is not a security protocol \
                         (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL)"
                    ))
                })?;
                Ok((name.trim().to_owned(), protocol))
            })
            .collect()
    }

    /// The single log directory.
    pub fn log_dir(&self) -> PathBuf {
        PathBuf::from(self.log_dirs.trim())
    }

    /// Effective default time retention (`log.retention.ms` over `log.retention.hours`).
    pub fn retention_ms(&self) -> i64 {
        self.log_retention_ms.unwrap_or(self.log_retention_hours * 3_600_000)
    }

    /// Effective default segment age (`log.roll.ms` over `log.roll.hours`).
    pub fn roll_ms(&self) -> i64 {
        self.log_roll_ms.unwrap_or(self.log_roll_hours * 3_600_000)
    }
}

fn parse_listeners(
    property: &str,
    text: &str,
    protocol_map: &[(String, SecurityProtocol)],
) -> Result<Vec<Listener>, ConfigError> {
    let mut out = Vec::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let err = |why: &str| ConfigError::Invalid(format!("{property}: `{entry}` {why}"));
        let (name, address) =
            entry.split_once("://").ok_or_else(|| err("is not of the form NAME://host:port"))?;
        let (host, port) = address.rsplit_once(':').ok_or_else(|| err("has no port"))?;
        let port = port.parse::<u16>().map_err(|_| err("has an invalid port"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
        let protocol = protocol_map
            .iter()
            .find(|(mapped, _)| mapped == name)
            .map(|(_, protocol)| *protocol)
            .or_else(|| SecurityProtocol::parse(name))
            .ok_or_else(|| {
                err("has a listener name that is neither a security protocol nor in \
                     listener.security.protocol.map")
            })?;
        if out.iter().any(|l: &Listener| l.name == name) {
            return Err(err("repeats a listener name"));
        }
        out.push(Listener { name: name.to_owned(), protocol, host, port });
    }
    if out.is_empty() {
        return Err(ConfigError::Invalid(format!("{property} is empty")));
    }
    Ok(out)
}

/// A property whose empty value means something (`ssl.endpoint.identification.algorithm=`, as
/// Kafka's properties files write it): YAML reads a missing value as null, taken as empty here.
fn null_as_empty<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let value: Option<String> = serde::Deserialize::deserialize(deserializer)?;
    Ok(value.unwrap_or_default())
}

/// A YAML value as the text a property holds (strings unquoted).
fn value_text(value: &serde_yaml::Value) -> String {
    match value {
        serde_yaml::Value::String(s) => s.clone(),
        // `name=` on the command line, `name:` in YAML: empty, as a properties file means it.
        serde_yaml::Value::Null => String::new(),
        other => serde_yaml::to_string(other).unwrap_or_default().trim().to_owned(),
    }
}

/// Adds where the property a message is about was set: every validation message starts with
/// the property's name, so the longest set name the message starts with is the one.
fn locate(message: String, origins: &std::collections::BTreeMap<String, String>) -> String {
    let is_name_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
    let origin = origins
        .iter()
        .filter(|(name, _)| {
            message.strip_prefix(name.as_str()).is_some_and(|rest| !rest.starts_with(is_name_char))
        })
        .max_by_key(|(name, _)| name.len())
        .map(|(_, origin)| origin);
    match origin {
        Some(origin) => format!("{message} ({origin})"),
        None => message,
    }
}

/// The first top-level property set twice in a YAML file, named with both of its lines
/// (1-based), e.g. after appending a `listeners:` line to a file that already has one. Also
/// for tools that read a broker's YAML themselves (the security lab's checkers).
pub fn duplicate_key(text: &str) -> Option<String> {
    let mut seen: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for (index, line) in text.lines().enumerate() {
        // Top-level keys start in column 0; comments, list items and document markers do not
        // name a property.
        if line.starts_with([' ', '\t', '#', '-']) || line.starts_with("...") {
            continue;
        }
        let Some((key, _)) = line.split_once(':') else { continue };
        let key = key.trim().trim_matches(|c| c == '"' || c == '\'');
        if key.is_empty() {
            continue;
        }
        if let Some(first) = seen.insert(key, index + 1) {
            return Some(format!(
                "`{key}` is set twice, on line {first} and on line {}; keep one of them",
                index + 1
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_property_set_twice_is_named_with_both_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("broker.yaml");
        std::fs::write(
            &path,
            "# lab init\nnode.id: 1\nlisteners: PLAINTEXT://127.0.0.1:9092\nlog.dirs: /tmp/x\n\n\
             listeners: PLAINTEXT://127.0.0.1:9092,SSL://127.0.0.1:9093\nssl.client.auth: required\n",
        )
        .unwrap();
        let err = BrokerConfig::load(Some(&path), &[]).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "invalid broker configuration: {}: `listeners` is set twice, on line 3 and on \
                 line 6; keep one of them",
                path.display()
            )
        );
    }

    #[test]
    fn kafka_property_names_and_overrides() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("broker.yaml");
        std::fs::write(&path, "node.id: 3\nlog.dirs: /var/lib/k\nnum.partitions: 6\n").unwrap();
        let config = BrokerConfig::load(
            Some(&path),
            &["num.partitions=12".into(), "log.retention.ms=1000".into()],
        )
        .unwrap();
        assert_eq!(config.node_id, 3);
        assert_eq!(config.num_partitions, 12);
        assert_eq!(config.retention_ms(), 1000);
        assert_eq!(config.log_dir(), PathBuf::from("/var/lib/k"));
    }

    /// The follower's fetch settings take Kafka's names and defaults, and KafkaConfig's check
    /// that a socket timeout outlasts the leader's wait.
    #[test]
    fn replica_fetch_settings_have_kafkas_names_and_defaults() {
        let config = BrokerConfig::default();
        let defaults = (
            config.replica_fetch_max_bytes,
            config.replica_fetch_response_max_bytes,
            config.replica_fetch_wait_max_ms,
            config.replica_fetch_min_bytes,
            config.replica_fetch_backoff_ms,
            config.replica_socket_timeout_ms,
        );
        assert_eq!(defaults, (1_048_576, 10_485_760, 500, 1, 1000, 30_000));
        let set = BrokerConfig::load(None, &["replica.fetch.wait.max.ms=50".into()]).unwrap();
        assert_eq!(set.replica_fetch_wait_max_ms, 50);
        let err = BrokerConfig::load(None, &["replica.fetch.wait.max.ms=40000".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("replica.socket.timeout.ms should always be at least"), "{err}");
        let err = BrokerConfig::load(None, &["replica.fetch.backoff.ms=-1".into()]).unwrap_err();
        assert!(err.to_string().contains("replica.fetch.backoff.ms must be at least 0"), "{err}");
    }

    #[test]
    fn unknown_property_is_rejected_by_name() {
        let err = BrokerConfig::load(None, &["log.dir.typo=/x".into()]).unwrap_err();
        assert!(err.to_string().contains("log.dir.typo"), "{err}");
    }

    #[test]
    fn listeners_parse_and_reject_garbage() {
        let config =
            BrokerConfig::load(None, &["listeners=PLAINTEXT://0.0.0.0:19092".into()]).unwrap();
        assert_eq!(
            config.listeners().unwrap(),
            vec![Listener {
                name: "PLAINTEXT".into(),
                protocol: SecurityProtocol::Plaintext,
                host: "0.0.0.0".into(),
                port: 19092
            }]
        );
        assert!(BrokerConfig::load(None, &["listeners=localhost".into()]).is_err());
    }

    #[test]
    fn listener_names_map_to_security_protocols() {
        let config = BrokerConfig::load(
            None,
            &[
                "listeners=CLIENT://:9094,SSL://127.0.0.1:9093,INTERNAL://127.0.0.1:9092".into(),
                "listener.security.protocol.map=CLIENT:SASL_SSL,INTERNAL:PLAINTEXT".into(),
            ],
        )
        .unwrap();
        let protocols: Vec<_> =
            config.listeners().unwrap().into_iter().map(|l| (l.name, l.protocol)).collect();
        assert_eq!(
            protocols,
            vec![
                ("CLIENT".into(), SecurityProtocol::SaslSsl),
                ("SSL".into(), SecurityProtocol::Ssl),
                ("INTERNAL".into(), SecurityProtocol::Plaintext),
            ]
        );
        let err = BrokerConfig::load(None, &["listeners=CLIENT://:9094".into()]).unwrap_err();
        assert!(err.to_string().contains("listener.security.protocol.map"), "{err}");
        let err = BrokerConfig::load(None, &["advertised.listeners=SSL://kafka.lab:9093".into()])
            .unwrap_err();
        assert!(err.to_string().contains("not in listeners"), "{err}");
    }

    #[test]
    fn the_metrics_listener_parses_and_rejects_garbage_clearly() {
        let parse = |v: &str| {
            BrokerConfig::load(None, &[format!("prometheus.metrics.reporter.listener={v}")])
                .and_then(|c| c.metrics_listener())
        };
        let listener = |host: &str, port| Some(MetricsListener { host: host.into(), port });
        assert_eq!(parse("http://:9404").unwrap(), listener("", 9404));
        assert_eq!(parse("http://127.0.0.1:9404/").unwrap(), listener("127.0.0.1", 9404));
        assert_eq!(parse("http://[::1]:9404").unwrap(), listener("::1", 9404));
        assert_eq!(parse("").unwrap(), None);
        assert_eq!(listener("", 9404).unwrap().bind_address(), "0.0.0.0:9404");
        assert_eq!(listener("::1", 1).unwrap().bind_address(), "[::1]:1");
        for (bad, why) in [
            (":9404", "does not start with http://"),
            ("https://:9404", "TLS"),
            ("http://localhost", "has no port"),
            ("http://:99999", "invalid port"),
            ("http://a b:9404", "invalid host"),
        ] {
            let err = parse(bad).unwrap_err().to_string();
            assert!(err.contains("prometheus.metrics.reporter.listener"), "{err}");
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn listener_properties_are_kept_and_secrets_never_described() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("broker.yaml");
        std::fs::write(
            &path,
            "listeners: SASL_SSL://127.0.0.1:9094\n\
             ssl.keystore.password: hunter2\n\
             sasl.scram.users: ['SCRAM-SHA-256=[name=a,password=hunter2]']\n\
             listener.name.sasl_ssl.plain.sasl.jaas.config: 'x required user_a=\"hunter2\";'\n",
        )
        .unwrap();
        let config = BrokerConfig::load(Some(&path), &[]).unwrap();
        assert_eq!(
            config.listener_property("SASL_SSL", "plain.sasl.jaas.config"),
            Some("x required user_a=\"hunter2\";")
        );
        let described = format!("{:?}", config.properties());
        assert!(!described.contains("hunter2"), "{described}");
        assert!(described.contains("ssl.client.auth"), "{described}");
    }

    #[test]
    fn connection_limits_parse_and_refuse_what_kafka_refuses() {
        let load = |overrides: &[&str]| {
            let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
            BrokerConfig::load(None, &overrides)
        };
        let config = load(&["max.connections.per.ip.overrides=127.0.0.2:3, broker-2:0"]).unwrap();
        assert_eq!(
            config.max_connections_per_ip_overrides().unwrap(),
            [("127.0.0.2".to_owned(), 3), ("broker-2".to_owned(), 0)]
        );
        let error = load(&["max.connections.per.ip.overrides=127.0.0.2"]).unwrap_err().to_string();
        assert!(error.contains("`127.0.0.2` is not `host:count`"), "{error}");
        let error = load(&["max.connections.per.ip=0"]).unwrap_err().to_string();
        assert!(error.contains("max.connections.per.ip.overrides must name"), "{error}");
        assert!(load(&["max.connections=-1"]).is_err());
        assert!(load(&["queued.max.request.bytes=0"]).is_err());
        assert_eq!(load(&["queued.max.request.bytes=-1"]).unwrap().queued_max_request_bytes, -1);
    }
}

#[cfg(test)]
mod example_file {
    use super::*;

    #[test]
    fn the_documented_example_loads_and_matches_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("broker.example.yaml");
        let example = BrokerConfig::load(Some(&path), &[]).unwrap();
        let defaults = BrokerConfig::default();
        assert_eq!(example.properties(), defaults.properties());
    }
}
