//! The Prometheus text of one scrape: the counters of [`super::BrokerMetrics`], `Broker::stats`
//! and the quota sensors, plus gauges read from the broker's state at scrape time (partitions,
//! logs, groups), under the names METRICS.md lists — the names the JMX Prometheus exporter
//! gives Kafka's MBeans with Strimzi's rules. Encoded with the `prometheus` crate.

use prometheus::proto::{Counter, Gauge, LabelPair, Metric, MetricFamily, MetricType};
use prometheus::{Encoder, TextEncoder};

use crate::broker::Broker;
use crate::quota::QuotaType;

/// The broker state Kafka reports while serving (`BrokerState.RUNNING`).
const BROKER_STATE_RUNNING: f64 = 3.0;

/// Kafka's network processor label: this broker has one accept loop per listener.
const NETWORK_PROCESSOR: &str = "0";

/// The exposition text of `broker`'s metrics now.
pub fn render(broker: &Broker) -> String {
    let now = broker.clock.now_ms();
    let mut out = Families::default();
    request_path(&mut out, broker);
    state_gauges(&mut out, broker);
    log_gauges(&mut out, broker);
    group_gauges(&mut out, broker);
    security(&mut out, broker, now);
    quotas(&mut out, broker, now);
    out.encode()
}

/// What the request path counts: topic traffic, requests, errors, request times, connections.
fn request_path(out: &mut Families, broker: &Broker) {
    let snapshot = broker.metrics.snapshot();
    type Field = fn(&crate::metrics::TopicCounters) -> u64;
    let families: [(&str, &str, Field); 7] = [
        ("messagesin", "Records appended (BrokerTopicMetrics MessagesInPerSec)", |c| c.messages_in),
        ("bytesin", "Bytes of record batches appended by producers (BytesInPerSec)", |c| {
            c.bytes_in
        }),
        ("bytesout", "Bytes of record batches sent to fetchers (BytesOutPerSec)", |c| c.bytes_out),
        ("totalproducerequests", "Per-partition produce requests", |c| c.total_produce),
        ("totalfetchrequests", "Per-partition fetch requests", |c| c.total_fetch),
        ("failedproducerequests", "Per-partition produce requests answered with an error", |c| {
            c.failed_produce
        }),
        ("failedfetchrequests", "Per-partition fetch requests answered with an error", |c| {
            c.failed_fetch
        }),
    ];
    for (name, help, field) in families {
        let f = out.counter(&format!("kafka_server_brokertopicmetrics_{name}_total"), help);
        f.add(&[], field(&snapshot.all_topics) as f64);
        for (topic, counters) in &snapshot.topics {
            f.add(&[("topic", topic)], field(counters) as f64);
        }
    }

    let f = out.counter(
        "kafka_network_requestmetrics_requests_total",
        "Requests received per API and version (RequestMetrics RequestsPerSec)",
    );
    for api in &snapshot.apis {
        for (version, n) in &api.by_version {
            f.add(&[("request", &api.name), ("version", &version.to_string())], *n as f64);
        }
    }
    let f = out.counter(
        "kafka_network_requestmetrics_errors_total",
        "Error codes in responses per API, NONE included (RequestMetrics ErrorsPerSec)",
    );
    for api in &snapshot.apis {
        for (code, n) in &api.errors {
            f.add(&[("request", &api.name), ("error", &super::error_name(*code))], *n as f64);
        }
    }
    let f = out.gauge(
        "kafka_network_requestmetrics_totaltimems",
        "Request time in ms from request read to response written, quantiles over the last \
         1028 requests (RequestMetrics TotalTimeMs)",
    );
    for api in &snapshot.apis {
        for (quantile, ms) in &api.time_quantiles_ms {
            f.add(&[("request", &api.name), ("quantile", quantile)], *ms);
        }
    }
    let f = out.counter(
        "kafka_network_requestmetrics_totaltimems_count",
        "Requests timed (RequestMetrics TotalTimeMs Count)",
    );
    for api in snapshot.apis.iter().filter(|a| a.timed > 0) {
        f.add(&[("request", &api.name)], api.timed as f64);
    }

    let f = out.gauge(
        "kafka_server_socket_server_metrics_connection_count",
        "Open connections per listener (socket-server-metrics connection-count)",
    );
    for (listener, n) in &snapshot.connections {
        f.add(&[("listener", listener), ("networkProcessor", NETWORK_PROCESSOR)], *n as f64);
    }
}

/// Kafka's `BrokerState` values as `kafka_server_kafkaserver_brokerstate` reports them.
fn broker_state(broker: &Broker) -> f64 {
    use crate::lifecycle::BrokerState;
    if !broker.registers_over_network() {
        // A sole voter's broker is registered and unfenced before it serves anything.
        return BROKER_STATE_RUNNING;
    }
    match broker.lifecycle.state() {
        BrokerState::Starting => 1.0,
        BrokerState::Fenced => 2.0,
        BrokerState::Running => BROKER_STATE_RUNNING,
        BrokerState::PendingControlledShutdown => 6.0,
        BrokerState::ShuttingDown => 7.0,
    }
}

/// What this node's partitions say, as Kafka's ReplicaManager gauges count it: partitions it
/// has, leads, and of those it leads the ones whose ISR is short of their replicas, below or
/// at `min.insync.replicas`; and the ones offline with a failed log dir.
#[derive(Default)]
struct ReplicaCounts {
    partitions: usize,
    leaders: usize,
    under_replicated: usize,
    under_min_isr: usize,
    at_min_isr: usize,
    offline: usize,
}

fn replica_counts(broker: &Broker, image: &crate::metadata::MetadataImage) -> ReplicaCounts {
    let mut counts = ReplicaCounts::default();
    for partition in broker.replica_manager().partitions() {
        counts.partitions += 1;
        let leader = match partition.role() {
            crate::replica::Role::Leader(leader) => leader,
            crate::replica::Role::Offline { .. } => {
                counts.offline += 1;
                continue;
            }
            crate::replica::Role::Follower { .. } => continue,
        };
        counts.leaders += 1;
        let isr = leader.isr.len() as i64;
        if isr < leader.replicas.len() as i64 {
            counts.under_replicated += 1;
        }
        let Some(topic) = image.topic(partition.topic()) else { continue };
        let min_isr = crate::topic_config::min_insync_replicas(&broker.config, &topic.configs);
        if isr < min_isr {
            counts.under_min_isr += 1;
        } else if isr == min_isr {
            counts.at_min_isr += 1;
        }
    }
    counts
}

fn state_gauges(out: &mut Families, broker: &Broker) {
    let image = broker.metadata();
    let topics = image.topics().count() as f64;
    let partitions = image.topics().map(|t| t.partitions.len()).sum::<usize>() as f64;
    let local = replica_counts(broker, &image);
    // The controller's view (Kafka reports these from the active controller; elsewhere 0).
    let controller = broker.is_active_controller();
    let on_controller = |value: usize| if controller { value as f64 } else { 0.0 };
    let offline = image.topics().flat_map(|t| t.partitions.values()).filter(|p| p.leader < 0);
    let offline = on_controller(offline.count());
    let fenced = image.brokers().values().filter(|b| b.fenced).count();
    let active = on_controller(image.brokers().len() - fenced);
    let gauges: [(&str, &str, f64); 14] = [
        ("kafka_server_kafkaserver_brokerstate", "Broker state; 3 = RUNNING", broker_state(broker)),
        (
            "kafka_server_replicamanager_partitioncount",
            "Partitions on this broker",
            local.partitions as f64,
        ),
        (
            "kafka_server_replicamanager_leadercount",
            "Partitions this broker leads",
            local.leaders as f64,
        ),
        (
            "kafka_server_replicamanager_underreplicatedpartitions",
            "Partitions this broker leads whose ISR is smaller than their replicas",
            local.under_replicated as f64,
        ),
        (
            "kafka_server_replicamanager_underminisrpartitioncount",
            "Partitions this broker leads with ISR below min.insync.replicas",
            local.under_min_isr as f64,
        ),
        (
            "kafka_server_replicamanager_atminisrpartitioncount",
            "Partitions this broker leads with ISR at min.insync.replicas",
            local.at_min_isr as f64,
        ),
        (
            "kafka_server_replicamanager_offlinereplicacount",
            "Replicas on this broker's failed log dir",
            local.offline as f64,
        ),
        (
            "kafka_controller_kafkacontroller_activecontrollercount",
            "1 on the active controller, else 0",
            if controller { 1.0 } else { 0.0 },
        ),
        (
            "kafka_controller_kafkacontroller_offlinepartitionscount",
            "Partitions without a live leader (on the active controller)",
            offline,
        ),
        (
            "kafka_controller_kafkacontroller_preferredreplicaimbalancecount",
            "Partitions not led by their preferred replica (on the active controller)",
            on_controller(crate::controller::election::preferred_replica_imbalance_count(&image)),
        ),
        (
            "kafka_controller_kafkacontroller_activebrokercount",
            "Unfenced brokers the controller sees",
            active,
        ),
        (
            "kafka_controller_kafkacontroller_fencedbrokercount",
            "Fenced brokers (on the active controller)",
            on_controller(fenced),
        ),
        (
            "kafka_controller_kafkacontroller_globaltopiccount",
            "Topics in the cluster, internal ones included",
            topics,
        ),
        (
            "kafka_controller_kafkacontroller_globalpartitioncount",
            "Partitions in the cluster, internal ones included",
            partitions,
        ),
    ];
    for (name, help, value) in gauges {
        out.gauge(name, help).add(&[], value);
    }
    replication(out, broker);
    raft(out, broker);
}

/// Kafka's `raft-metrics` (KafkaRaftClient's, on voters and on brokers, its observers), named
/// as the JMX exporter names them: who leads the metadata quorum in which epoch, the committed
/// offset and the log end as this node knows them, and its state, 1 under its name.
fn raft(out: &mut Families, broker: &Broker) {
    let quorum = broker.quorum_metrics();
    let gauges = [
        (
            "current_leader",
            "The metadata quorum's leader as this node knows it (-1 unknown)",
            quorum.leader_id as f64,
        ),
        ("current_epoch", "The metadata quorum's epoch as this node knows it", quorum.epoch as f64),
        (
            "high_watermark",
            "The metadata log's committed offset as this node knows it",
            quorum.high_watermark as f64,
        ),
        ("log_end_offset", "This node's metadata log end offset", quorum.log_end_offset as f64),
    ];
    for (name, help, value) in gauges {
        out.gauge(&format!("kafka_server_raftmetrics_{name}"), help).add(&[], value);
    }
    out.gauge(
        "kafka_server_raftmetrics_current_state",
        "This node's Raft state, 1 under its name (leader, follower, candidate, prospective, unattached, resigned, observer)",
    )
    .add(&[("current_state", quorum.state.as_str())], 1.0);
}

/// Kafka's replication meters and the fetcher's lag: ISR changes this node proposed as leader
/// and saw committed (ReplicaManager `IsrShrinksPerSec`/`IsrExpandsPerSec`), the leader
/// elections its controller committed (ControllerStats; 0 elsewhere, as the counters only grow
/// where records commit), and the largest lag of the partitions it follows
/// (ReplicaFetcherManager `MaxLag`, clientId `Replica`; 0 while it follows none).
fn replication(out: &mut Families, broker: &Broker) {
    let replicas = broker.replica_manager();
    let isr = replicas.isr_changes();
    out.counter(
        "kafka_server_replicamanager_isrshrinks_total",
        "ISR shrinks this broker proposed as leader and saw committed (IsrShrinksPerSec)",
    )
    .add(&[], isr.shrinks() as f64);
    out.counter(
        "kafka_server_replicamanager_isrexpands_total",
        "ISR expansions this broker proposed as leader and saw committed (IsrExpandsPerSec)",
    )
    .add(&[], isr.expands() as f64);
    let elections = broker.metrics.elections();
    out.counter(
        "kafka_controller_controllerstats_leaderelectionrateandtimems_count",
        "Leader elections the controller committed (ControllerStats LeaderElectionRateAndTimeMs \
         Count)",
    )
    .add(&[], elections.leader_elections as f64);
    out.counter(
        "kafka_controller_controllerstats_uncleanleaderelections_total",
        "Unclean leader elections the controller committed (UncleanLeaderElectionsPerSec)",
    )
    .add(&[], elections.unclean as f64);
    let max_lag = replicas.replica_fetchers().fetch_states().values().filter_map(|s| s.lag).max();
    out.gauge(
        "kafka_server_replicafetchermanager_maxlag",
        "Largest lag in records of the partitions this broker follows: the leader's high \
         watermark minus the fetch offset (ReplicaFetcherManager MaxLag)",
    )
    .add(&[("clientId", "Replica")], max_lag.unwrap_or(0) as f64);
}

fn log_gauges(out: &mut Families, broker: &Broker) {
    let logs: Vec<_> = broker
        .replica_manager()
        .partitions()
        .into_iter()
        .map(|partition| {
            let values = partition.read_log(|log| {
                [
                    log.size_bytes() as f64,
                    log.log_start_offset() as f64,
                    log.log_end_offset() as f64,
                    log.segment_count() as f64,
                ]
            });
            (partition.topic().to_owned(), partition.partition().to_string(), values)
        })
        .collect();
    let families = [
        ("kafka_log_log_size", "Bytes on disk (Log Size)"),
        ("kafka_log_log_logstartoffset", "Earliest offset (Log LogStartOffset)"),
        ("kafka_log_log_logendoffset", "Log end offset (Log LogEndOffset)"),
        ("kafka_log_log_numlogsegments", "Segments (Log NumLogSegments)"),
    ];
    for (i, (name, help)) in families.into_iter().enumerate() {
        let f = out.gauge(name, help);
        for (topic, partition, values) in &logs {
            f.add(&[("topic", topic), ("partition", partition)], values[i]);
        }
    }
}

fn group_gauges(out: &mut Families, broker: &Broker) {
    let by_state = broker.groups.groups_by_state();
    let prefix = "kafka_coordinator_group_groupmetadatamanager_";
    out.gauge(&format!("{prefix}numgroups"), "Classic groups (GroupMetadataManager NumGroups)")
        .add(&[], by_state.values().sum::<usize>() as f64);
    for state in ["Stable", "Empty", "PreparingRebalance", "CompletingRebalance", "Dead"] {
        let name = format!("{prefix}numgroups{}", state.to_ascii_lowercase());
        out.gauge(&name, &format!("Classic groups in state {state}"))
            .add(&[], by_state.get(state).copied().unwrap_or(0) as f64);
    }
    out.gauge(&format!("{prefix}numoffsets"), "Committed offsets held (NumOffsets)")
        .add(&[], broker.groups.offset_count() as f64);
}

fn security(out: &mut Families, broker: &Broker, now: i64) {
    let stats = broker.stats.snapshot(now);
    let f = out.counter(
        "kafka_server_socket_server_metrics_successful_authentication_total",
        "Completed authentications: TLS handshakes on SSL listeners, SASL on SASL listeners",
    );
    for (listener, n) in &stats.authentication_successes {
        f.add(&[("listener", listener), ("networkProcessor", NETWORK_PROCESSOR)], *n as f64);
    }
    let f = out.counter(
        "kafka_server_socket_server_metrics_failed_authentication_total",
        "Failed authentications: bad credentials, failed TLS handshakes",
    );
    for (listener, n) in &stats.authentication_failures_by_listener {
        f.add(&[("listener", listener), ("networkProcessor", NETWORK_PROCESSOR)], *n as f64);
    }
    if broker.authorizer.is_enabled() {
        let rates = stats.authorizer;
        for (what, value) in
            [("request", rates.requests), ("allowed", rates.allowed), ("denied", rates.denied)]
        {
            out.gauge(
                &format!("kafka_server_authorizer_metrics_authorization_{what}_rate_per_minute"),
                &format!("Authorization checks ({what}) in the last minute"),
            )
            .add(&[], value as f64);
        }
        out.gauge("kafka_server_authorizer_metrics_acls_total_count", "ACL bindings")
            .add(&[], broker.metadata().acls().len() as f64);
    }
    let f = out.counter(
        "kafka_lab_broker_authorization_denials_total",
        "Denials by the authorizer per operation and resource type",
    );
    for ((operation, resource_type), n) in &stats.denials {
        // `Write`, `Topic`: the spelling of kafka-acls.sh's options.
        let labels =
            [("operation", operation.camel_name()), ("resource_type", resource_type.camel_name())];
        f.add(&labels, *n as f64);
    }
    let f = out.counter(
        "kafka_lab_broker_authentication_failures_total",
        "Failed authentications per listener and mechanism; SSL is a failed TLS handshake",
    );
    for ((listener, mechanism), n) in &stats.authentication_failures {
        f.add(&[("listener", listener), ("mechanism", mechanism)], *n as f64);
    }
    let f = out.counter(
        "kafka_lab_broker_throttled_responses_total",
        "Responses sent with a throttle time, per quota type",
    );
    for (key, events, _) in &stats.throttles {
        if let Some(quota) = QuotaType::from_key(key) {
            f.add(&[("quota_type", quota_label(quota))], *events as f64);
        }
    }
}

fn quotas(out: &mut Families, broker: &Broker, now: i64) {
    let sensors = broker.quotas.snapshot(now);
    for quota in QuotaType::ALL {
        let label = quota_label(quota);
        let of_type = || sensors.iter().filter(move |s| s.quota == quota);
        let f = out.gauge(
            &format!("kafka_server_{label}_throttle_time"),
            &format!("Average {label} throttle time in ms over the quota window (type={label})"),
        );
        for s in of_type() {
            f.add(&[("user", &s.tags.user), ("client_id", &s.tags.client_id)], s.throttle_time_ms);
        }
        if quota != QuotaType::Request {
            let f = out.gauge(
                &format!("kafka_server_{label}_byte_rate"),
                &format!("{label} bytes/s over the quota window"),
            );
            for s in of_type() {
                f.add(&[("user", &s.tags.user), ("client_id", &s.tags.client_id)], s.rate);
            }
        }
    }
}

/// Kafka's quota metric type, lower-cased as in the metric names.
fn quota_label(quota: QuotaType) -> &'static str {
    match quota {
        QuotaType::Produce => "produce",
        QuotaType::Fetch => "fetch",
        QuotaType::Request => "request",
    }
}

/// The families of one scrape, in the order they were started.
#[derive(Default)]
struct Families(Vec<Family>);

/// One metric family under construction.
struct Family(MetricFamily);

impl Families {
    fn counter(&mut self, name: &str, help: &str) -> &mut Family {
        self.family(name, help, MetricType::COUNTER)
    }

    fn gauge(&mut self, name: &str, help: &str) -> &mut Family {
        self.family(name, help, MetricType::GAUGE)
    }

    fn family(&mut self, name: &str, help: &str, kind: MetricType) -> &mut Family {
        let mut mf = MetricFamily::default();
        mf.set_name(name.to_owned());
        mf.set_help(help.to_owned());
        mf.set_field_type(kind);
        self.0.push(Family(mf));
        self.0.last_mut().expect("just pushed")
    }

    /// The text of every family with at least one series (an empty family is not valid text).
    fn encode(self) -> String {
        let families: Vec<MetricFamily> =
            self.0.into_iter().map(|f| f.0).filter(|mf| !mf.get_metric().is_empty()).collect();
        let mut text = Vec::new();
        TextEncoder::new()
            .encode(&families, &mut text)
            .expect("encoding into memory cannot fail for valid names");
        String::from_utf8(text).expect("the text format is UTF-8")
    }
}

impl Family {
    /// Adds a series.
    fn add(&mut self, labels: &[(&str, &str)], value: f64) -> &mut Self {
        let mut m = Metric::default();
        m.set_label(
            labels
                .iter()
                .map(|(k, v)| {
                    let mut l = LabelPair::default();
                    l.set_name(k.to_string());
                    l.set_value(v.to_string());
                    l
                })
                .collect(),
        );
        if self.0.get_field_type() == MetricType::COUNTER {
            let mut c = Counter::default();
            c.set_value(value);
            m.set_counter(c);
        } else {
            let mut g = Gauge::default();
            g.set_value(value);
            m.set_gauge(g);
        }
        self.0.mut_metric().push(m);
        self
    }
}
