//! The replication alerts against a real failure: three real `kafka-lab-broker` processes
//! (node 1 broker and the quorum's one controller, nodes 2 and 3 brokers), a topic with
//! replication factor 3, and a real `prometheus` scraping the three metrics endpoints every
//! second with `alerts/kafka-broker.yml` loaded (every `for:` shortened to 2 s, expressions and
//! thresholds as written).
//!
//! The broker-only node leading more partitions is killed with SIGKILL (node 1 holds the quorum's
//! only voter, so it stays): the controller fences it once its session expires and takes
//! it out of every ISR, so the leaders report under-replicated partitions and
//! `KafkaUnderReplicatedPartitions` fires (read from Prometheus's `/api/v1/alerts`). The node
//! comes back on the same data, catches up, the leaders bring it back into every ISR and the
//! alert clears. On the way the replication counters are checked exactly, from the brokers'
//! own scrapes: the controller elected one leader per partition the node led (none unclean); the
//! ISR shrinks were the controller's, so no leader counted one; each partition's leader counted
//! one expansion when the node returned.
//!
//! `KafkaOfflinePartitions` and `KafkaIsrShrinking` stay inactive throughout. Every wait has a
//! deadline; the times the alert took to fire and clear are printed, not
//! asserted.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};

use kafka_lab_monitoring::alerts;
use kafka_lab_monitoring::prometheus::{shorten_for, PrometheusApi, PrometheusServer, ScrapeJob};
use kafka_lab_testkit::scrape::{http_get, Scrape};
use kafka_lab_testkit::{free_port, spawn_broker, wait_until};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::ClientConfig;

const CLUSTER: &str = "replication";
const TOPIC: &str = "replicated";
const PARTITIONS: i32 = 3;
const ALERT: &str = "KafkaUnderReplicatedPartitions";
/// The `for:` of every alert in the loaded copy of `alerts/kafka-broker.yml`.
const SHORT_FOR: &str = "2s";

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// One node: its ports, its data directory and its process while it runs.
struct Node {
    id: i32,
    port: u16,
    metrics_port: u16,
    dir: tempfile::TempDir,
    overrides: Vec<String>,
    child: Option<Child>,
    starts: u32,
}

impl Node {
    fn start(id: i32, overrides: Vec<String>, port: u16, metrics_port: u16) -> Node {
        let mut node = Node {
            id,
            port,
            metrics_port,
            dir: tempfile::tempdir().unwrap(),
            overrides,
            child: None,
            starts: 0,
        };
        node.spawn();
        node
    }

    fn spawn(&mut self) {
        self.starts += 1;
        let mut overrides = self.overrides.clone();
        overrides.push(format!("log.dirs={}", self.dir.path().join("data").display()));
        let log = self.dir.path().join(format!("broker-{}.log", self.starts));
        self.child = Some(spawn_broker(&overrides, &log, self.port));
        wait_until(&format!("node {}'s metrics endpoint answers", self.id), secs(30), || {
            http_get(self.metrics_port, "/metrics").is_some_and(|(s, _)| s == 200)
        });
    }

    /// SIGKILL: no flush, no controlled shutdown, no goodbye to the controller.
    fn kill9(&mut self) {
        let mut child = self.child.take().expect("running");
        child.kill().expect("SIGKILL");
        child.wait().unwrap();
    }

    fn scrape(&self) -> Scrape {
        Scrape::get(self.metrics_port)
    }

    fn log(&self) -> String {
        (1..=self.starts)
            .map(|n| {
                let path = self.dir.path().join(format!("broker-{n}.log"));
                std::fs::read_to_string(path).unwrap_or_default()
            })
            .collect()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!("--- node {} log (last lines) ---", self.id);
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

/// Three nodes sharing a cluster id and node 1's controller, with short sessions and lag times
/// (the settings of `broker/tests/failover.rs`).
struct Cluster {
    nodes: BTreeMap<i32, Node>,
}

impl Cluster {
    fn start() -> Cluster {
        let controller_port = free_port();
        let cluster_id = kafka_lab_broker::kafka_uuid::encode_bytes(&[7; 16]);
        let common = [
            format!("controller.quorum.voters=1@127.0.0.1:{controller_port}"),
            "controller.listener.names=CONTROLLER".into(),
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT".into(),
            format!("cluster.id={cluster_id}"),
            "broker.heartbeat.interval.ms=250".into(),
            // The controller takes a dead broker out of the ISRs after 1.5 s; its leaders would
            // only after 3 s, so the shrinks are the controller's.
            "broker.session.timeout.ms=1500".into(),
            "replica.lag.time.max.ms=3000".into(),
            "replica.fetch.wait.max.ms=100".into(),
            "replica.fetch.backoff.ms=200".into(),
            "offsets.topic.num.partitions=3".into(),
            "group.initial.rebalance.delay.ms=0".into(),
        ];
        let mut nodes = BTreeMap::new();
        for id in [1, 2, 3] {
            let (port, metrics_port) = (free_port(), free_port());
            let mut overrides = vec![
                format!("node.id={id}"),
                format!("prometheus.metrics.reporter.listener=http://127.0.0.1:{metrics_port}"),
            ];
            if id == 1 {
                overrides.push("process.roles=broker,controller".into());
                overrides.push(format!(
                    "listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}"
                ));
            } else {
                overrides.push("process.roles=broker".into());
                overrides.push(format!("listeners=PLAINTEXT://127.0.0.1:{port}"));
            }
            overrides.extend(common.iter().cloned());
            nodes.insert(id, Node::start(id, overrides, port, metrics_port));
        }
        Cluster { nodes }
    }

    /// Node 1's address: it is never killed here.
    fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.nodes[&1].port)
    }

    /// Per partition of every topic (internal ones included), from the controller's node:
    /// (leader, sorted ISR).
    fn partitions(&self) -> BTreeMap<(String, i32), (i32, Vec<i32>)> {
        let client: BaseConsumer =
            ClientConfig::new().set("bootstrap.servers", self.bootstrap()).create().unwrap();
        let metadata = client.fetch_metadata(None, secs(5)).expect("Metadata from node 1");
        let mut out = BTreeMap::new();
        for topic in metadata.topics() {
            for p in topic.partitions() {
                let mut isr = p.isr().to_vec();
                isr.sort();
                out.insert((topic.name().to_string(), p.id()), (p.leader(), isr));
            }
        }
        out
    }

    fn brokers(&self) -> usize {
        let client: BaseConsumer =
            ClientConfig::new().set("bootstrap.servers", self.bootstrap()).create().unwrap();
        client.fetch_metadata(None, secs(5)).map(|m| m.brokers().len()).unwrap_or(0)
    }

    /// Whether every partition of every topic has all three nodes in its ISR.
    fn fully_replicated(&self, expected_partitions: usize) -> bool {
        let partitions = self.partitions();
        partitions.len() == expected_partitions
            && partitions.values().all(|(leader, isr)| *leader > 0 && isr == &[1, 2, 3])
    }

    /// The sum of `name` over the nodes that run now.
    fn sum(&self, name: &str) -> f64 {
        self.nodes.values().filter(|n| n.child.is_some()).map(|n| n.scrape().sum(name, &[])).sum()
    }
}

fn create_topic(bootstrap: &str) {
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", bootstrap).create().unwrap();
    let topic = NewTopic::new(TOPIC, PARTITIONS, TopicReplication::Fixed(3))
        .set("min.insync.replicas", "2");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    for r in rt.block_on(admin.create_topics(&[topic], &AdminOptions::new())).unwrap() {
        r.unwrap();
    }
}

/// `records` acks=all records to every partition of [`TOPIC`], all acknowledged.
fn produce(bootstrap: &str, records: usize) {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("message.timeout.ms", "20000")
        .create()
        .unwrap();
    for i in 0..records {
        let value = i.to_string();
        let record = BaseRecord::<(), str>::to(TOPIC).partition(i as i32 % PARTITIONS);
        producer.send(record.payload(&value)).map_err(|(e, _)| e).unwrap();
    }
    producer.flush(secs(20)).expect("every record acknowledged");
}

/// Alerts that must stay inactive throughout: every partition keeps a live leader, and one
/// failure shrinks each ISR once (by the controller).
const NEVER: [&str; 2] = ["KafkaOfflinePartitions", "KafkaIsrShrinking"];

/// The state of [`ALERT`] in Prometheus now: `firing`, `pending`, or `None` when inactive.
/// Panics if one of [`NEVER`] is active.
fn alert_state(api: &PrometheusApi) -> Option<String> {
    let alerts = api.alerts().expect("GET /api/v1/alerts");
    let wrong: Vec<_> = alerts.iter().filter(|a| NEVER.contains(&a.name())).collect();
    assert!(wrong.is_empty(), "alerts that must not be active: {wrong:?}");
    let ours: Vec<_> = alerts.iter().filter(|a| a.name() == ALERT).collect();
    if ours.iter().any(|a| a.state == "firing") {
        Some("firing".into())
    } else {
        ours.first().map(|a| a.state.clone())
    }
}

/// `alerts/kafka-broker.yml` with every `for:` shortened, written into `dir`.
fn short_broker_rules(dir: &std::path::Path) -> Vec<PathBuf> {
    let path = alerts::rule_files()
        .unwrap_or_else(|e| panic!("{e:#}"))
        .into_iter()
        .find(|p| p.file_name().is_some_and(|n| n == "kafka-broker.yml"))
        .expect("alerts/kafka-broker.yml");
    let short = shorten_for(&std::fs::read_to_string(&path).unwrap(), SHORT_FOR).unwrap();
    let out = dir.join("kafka-broker.yml");
    std::fs::write(&out, short).unwrap();
    vec![out]
}

#[test]
fn a_killed_broker_fires_under_replicated_partitions_and_its_return_clears_it() {
    let started = Instant::now();
    let mut cluster = Cluster::start();
    wait_until("three brokers registered", secs(30), || cluster.brokers() == 3);
    create_topic(&cluster.bootstrap());
    // `__consumer_offsets` (3 partitions here) is created once three brokers are live.
    let all_partitions = PARTITIONS as usize + 3;
    wait_until("every partition on all three nodes' ISRs", secs(30), || {
        cluster.fully_replicated(all_partitions)
    });
    produce(&cluster.bootstrap(), 300);

    let rules_dir = tempfile::tempdir().unwrap();
    let targets: Vec<String> =
        cluster.nodes.values().map(|n| format!("127.0.0.1:{}", n.metrics_port)).collect();
    let prometheus = PrometheusServer::start(
        &[ScrapeJob::new("kafka", &targets).label("cluster", CLUSTER)],
        &[],
    )
    .unwrap_or_else(|e| panic!("{e:#}"));
    let api = prometheus.api();
    wait_until("the three scrape targets are up", secs(30), || {
        let targets = api.targets().expect("GET /api/v1/targets");
        targets.len() == 3 && targets.iter().all(|t| t.health == "up")
    });
    prometheus
        .load_rules(&short_broker_rules(rules_dir.path()))
        .unwrap_or_else(|e| panic!("{e:#}"));
    // Healthy: the alert stays inactive over several evaluations.
    let healthy_until = Instant::now() + secs(4);
    while Instant::now() < healthy_until {
        assert_eq!(alert_state(api), None, "{ALERT} on a healthy cluster");
        std::thread::sleep(Duration::from_millis(250));
    }

    let before = cluster.partitions();
    let led_by = |id: i32| before.values().filter(|(leader, _)| *leader == id).count();
    let victim = if led_by(3) >= led_by(2) { 3 } else { 2 };
    let led_by_victim = led_by(victim);
    let controller = cluster.nodes[&1].scrape();
    let elections_before = controller
        .expect("kafka_controller_controllerstats_leaderelectionrateandtimems_count", &[]);
    let unclean_before =
        controller.expect("kafka_controller_controllerstats_uncleanleaderelections_total", &[]);
    let survivors_sum = |cluster: &Cluster, name: &str| -> f64 {
        cluster.nodes.values().filter(|n| n.id != victim).map(|n| n.scrape().sum(name, &[])).sum()
    };
    let shrinks_before = survivors_sum(&cluster, "kafka_server_replicamanager_isrshrinks_total");
    let expands_before = survivors_sum(&cluster, "kafka_server_replicamanager_isrexpands_total");

    cluster.nodes.get_mut(&victim).unwrap().kill9();
    let killed = Instant::now();
    let mut pending_after = None;
    let fired_after = loop {
        match alert_state(api).as_deref() {
            Some("firing") => break killed.elapsed(),
            Some("pending") if pending_after.is_none() => pending_after = Some(killed.elapsed()),
            _ => {}
        }
        assert!(killed.elapsed() < secs(30), "{ALERT} did not fire within 30 s of the kill");
        std::thread::sleep(Duration::from_millis(100));
    };
    let firing: Vec<_> = api
        .alerts()
        .unwrap()
        .into_iter()
        .filter(|a| a.name() == ALERT && a.state == "firing")
        .collect();
    let survivors: Vec<String> = cluster
        .nodes
        .values()
        .filter(|n| n.id != victim)
        .map(|n| format!("127.0.0.1:{}", n.metrics_port))
        .collect();
    for alert in &firing {
        let instance = alert.labels.get("instance").cloned().unwrap_or_default();
        assert!(survivors.contains(&instance), "fired for a leader that is alive: {alert:?}");
        assert_eq!(alert.labels.get("cluster").map(String::as_str), Some(CLUSTER));
    }

    let during = cluster.partitions();
    assert!(
        during.values().all(|(leader, isr)| *leader != victim && !isr.contains(&victim)),
        "node {victim} out of every ISR and leading nothing: {during:?}"
    );
    let controller = cluster.nodes[&1].scrape();
    let elections = controller
        .expect("kafka_controller_controllerstats_leaderelectionrateandtimems_count", &[])
        - elections_before;
    assert_eq!(
        elections, led_by_victim as f64,
        "one election per partition node {victim} led: {before:?} → {during:?}"
    );
    assert_eq!(
        controller.expect("kafka_controller_controllerstats_uncleanleaderelections_total", &[]),
        unclean_before,
        "no unclean election: every partition had live in-sync replicas"
    );
    assert_eq!(
        survivors_sum(&cluster, "kafka_server_replicamanager_isrshrinks_total"),
        shrinks_before,
        "the controller took node {victim} out of the ISRs, not the leaders"
    );
    // Writes the returning node has to fetch.
    produce(&cluster.bootstrap(), 300);

    cluster.nodes.get_mut(&victim).unwrap().spawn();
    let restarted = Instant::now();
    let cleared_after = loop {
        if alert_state(api).is_none() {
            break restarted.elapsed();
        }
        assert!(restarted.elapsed() < secs(30), "{ALERT} did not clear within 30 s of the restart");
        std::thread::sleep(Duration::from_millis(100));
    };
    wait_until("every partition back on all three ISRs", secs(10), || {
        cluster.fully_replicated(all_partitions)
    });
    let expands = survivors_sum(&cluster, "kafka_server_replicamanager_isrexpands_total")
        - expands_before
        + cluster.nodes[&victim].scrape().sum("kafka_server_replicamanager_isrexpands_total", &[]);
    assert_eq!(
        expands, all_partitions as f64,
        "each partition's leader counted node {victim}'s return once"
    );
    wait_until("every follower caught up (fetcher max lag 0)", secs(10), || {
        cluster.sum("kafka_server_replicafetchermanager_maxlag") == 0.0
    });
    for node in cluster.nodes.values() {
        let lag = node
            .scrape()
            .exact("kafka_server_replicafetchermanager_maxlag", &[("clientId", "Replica")]);
        assert_eq!(lag, Some(0.0), "node {}'s max lag", node.id);
    }

    eprintln!(
        "replication_alerts: {ALERT} pending {:.1} s and firing {:.1} s after SIGKILL of node \
         {victim} (broker.session.timeout.ms 1.5 s, scrape and evaluation 1 s, for: {SHORT_FOR}); \
         cleared {:.1} s after the restart; {elections} leader elections, {expands} ISR \
         expansions; whole test {:.1} s",
        pending_after.map_or(f64::NAN, |d| d.as_secs_f64()),
        fired_after.as_secs_f64(),
        cleared_after.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}
