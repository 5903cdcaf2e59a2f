//! The end-to-end proof of issue 5: the real `kafka-lab-broker` (PLAINTEXT for the workload,
//! SASL_PLAINTEXT with the StandardAuthorizer for the security panels, its metrics listener),
//! the real `kafka-lag-exporter` polling it every second as cluster `e2e`, and the real
//! `prometheus` scraping both every second (job `kafka` with target label `cluster="e2e"`, job
//! `kafka-lag-exporter`) with the rules of `alerts/*.yml` loaded.
//!
//! The rules are loaded from a rewritten copy in which every `for:` is 5 s instead of minutes
//! (and a group's own `interval:` is dropped, so they are evaluated every second); expressions
//! and thresholds are exactly as written, so the workload has to exceed them. They are loaded
//! once both targets are up: Prometheus hands its targets to the scrapers about 5 s after it
//! starts, and with `for: 5s` `KafkaLagExporterAbsent` would fire on that start-up gap, which
//! its real `for: 5m` covers.
//!
//! Workload (librdkafka through `rdkafka`): a producer writing steadily to two topics; a
//! consumer group that consumes and commits, but slower than the producer, so its lag grows
//! past the alerts' lag threshold; on the SASL listener a super user, a user denied an
//! operation, a failed login, and a user over a small produce/fetch/request quota who gets
//! throttled.
//!
//! Then, through Prometheus's HTTP API:
//! - every dashboard query (panels' targets and template variables' queries, variables
//!   substituted with the real cluster, group and topic, `$__rate_interval` with 15 s)
//!   parses and returns at least one sample at some instant query during the run;
//! - every metric name the dashboards and the alerts use is in a real scrape of the broker or
//!   the exporter (as Prometheus stored it);
//! - the consumer-lag alert (offsets) and the sustained-throttling alert fire; the
//!   healthy-cluster alerts never fire and end inactive; every rule evaluates without error.
//!
//! Every wait has a deadline; nothing asserts how long anything took.

#[path = "../../exporter/tests/support/mod.rs"]
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use kafka_lab_admin::{AdminClient, ClientProperties};
use kafka_lab_broker::authorizer::{
    AclBinding, AclOperation, AclPermissionType, PatternType, ResourceType,
};
use kafka_lab_monitoring::alerts;
use kafka_lab_monitoring::dashboard::{self, Dashboard, Substitution, VariableFunction};
use kafka_lab_monitoring::prometheus::{
    shorten_for, PrometheusApi, PrometheusServer, Rule, ScrapeJob,
};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{ClientConfig, TopicPartitionList};
use support::{create_topics, free_port, wait_until, TestBroker, TestExporter};

const CLUSTER: &str = "e2e";
const GROUP: &str = "e2e-consumers";
const TOPICS: [&str; 2] = ["e2e-orders", "e2e-payments"];
const PARTITIONS: i32 = 3;
/// The `for:` every alert gets in the loaded copy of `alerts/*.yml`.
const SHORT_FOR: &str = "5s";
/// What Grafana's `$__rate_interval` becomes: several 1 s scrapes.
const RATE_INTERVAL: Duration = Duration::from_secs(15);
/// Records per second the producer writes to each topic.
const PRODUCE_PER_TOPIC_PER_S: u64 = 500;
/// Records per second the group consumes over both topics: far fewer than produced.
const CONSUME_PER_S: u64 = 20;
/// Time the run may take from the workload's start until every expectation is met.
const RUN_DEADLINE: Duration = Duration::from_secs(80);
/// How long the healthy-cluster alerts are watched at least, so that one with `for: 5s` that
/// misfires has had time to fire.
const MIN_WATCH: Duration = Duration::from_secs(20);

/// Alerts the workload must fire: the consumer-lag alert (lag in offsets), and sustained
/// throttling (alice stays over her quotas).
const EXPECTED_ALERTS: &[&str] = &["KafkaConsumerGroupLagHigh", "KafkaQuotaThrottlingSustained"];
/// Alerts that must stay inactive on a healthy single-broker cluster with a working exporter.
const HEALTHY_ALERTS: &[&str] = &[
    "KafkaUnderReplicatedPartitions",
    "KafkaIsrShrinking",
    "KafkaOfflinePartitions",
    "KafkaNoActiveController",
    "KafkaBrokerCountDropped",
    "KafkaBrokerMetricsDown",
    "KafkaLagExporterDown",
    "KafkaLagExporterAbsent",
    "KafkaLagExporterPollFailing",
    "KafkaLagExporterMetricsStale",
];

const JAAS: &str = r#"org.apache.kafka.common.security.plain.PlainLoginModule required user_admin="admin-secret" user_alice="alice-secret" user_bob="bob-secret";"#;

/// The broker with its SASL and metrics ports.
struct Cluster {
    broker: TestBroker,
    sasl_port: u16,
    metrics_port: u16,
}

impl Cluster {
    /// PLAINTEXT (the workload and the exporter, as `User:ANONYMOUS`, a super user: the lab's
    /// internal listener), SASL_PLAINTEXT/PLAIN (admin: super user; alice: ACLs on
    /// `e2e-orders` and small quotas; bob: no ACLs), the StandardAuthorizer, the metrics
    /// listener.
    fn start() -> Cluster {
        let sasl_port = free_port();
        let metrics_port = free_port();
        let broker = TestBroker::start_with(&[
            format!("listeners=SASL_PLAINTEXT://127.0.0.1:{sasl_port}"),
            format!("listener.name.sasl_plaintext.plain.sasl.jaas.config={JAAS}"),
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer".into(),
            "super.users=User:admin;User:ANONYMOUS".into(),
            format!("prometheus.metrics.reporter.listener=http://127.0.0.1:{metrics_port}"),
        ]);
        wait_until("the SASL listener and the metrics endpoint answer", secs(30), || {
            std::net::TcpStream::connect(("127.0.0.1", sasl_port)).is_ok()
                && support::http_get(metrics_port, "/metrics").is_some_and(|(s, _)| s == 200)
        });
        Cluster { broker, sasl_port, metrics_port }
    }

    fn sasl_client(&self, user: &str, password: &str) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", format!("127.0.0.1:{}", self.sasl_port))
            .set("security.protocol", "SASL_PLAINTEXT")
            .set("sasl.mechanisms", "PLAIN")
            .set("sasl.username", user)
            .set("sasl.password", password);
        config
    }

    /// Topics, alice's ACLs and quotas, through the admin client on PLAINTEXT.
    fn set_up(&self) {
        let bootstrap = self.broker.bootstrap();
        create_topics(&bootstrap, &TOPICS.map(|t| (t, PARTITIONS)));
        let mut admin = AdminClient::connect(&bootstrap, &ClientProperties::plaintext())
            .expect("admin client on PLAINTEXT");
        let alice_on_orders = |operation| AclBinding {
            resource_type: ResourceType::Topic,
            resource_name: TOPICS[0].into(),
            pattern_type: PatternType::Literal,
            principal: "User:alice".into(),
            host: "*".into(),
            operation,
            permission: AclPermissionType::Allow,
        };
        let acls =
            [AclOperation::Write, AclOperation::Read, AclOperation::Describe].map(alice_on_orders);
        for result in admin.create_acls(&acls).expect("CreateAcls") {
            result.expect("alice's ACL created");
        }
        let alice = vec![("user".to_string(), Some("alice".to_string()))];
        let quotas = [
            ("producer_byte_rate".to_string(), Some(1024.0)),
            ("consumer_byte_rate".to_string(), Some(1024.0)),
            ("request_percentage".to_string(), Some(1.0)),
        ];
        admin
            .alter_client_quotas(&alice, &quotas, false)
            .expect("AlterClientQuotas")
            .expect("alice's quotas set");
    }
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Background clients until dropped: the producer, the lagging group, and the security
/// traffic on the SASL listener.
struct Workload {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Workload {
    fn start(cluster: &Cluster) -> Workload {
        // Built first, so a panic below still stops the threads already started.
        let mut workload = Workload { stop: Arc::new(AtomicBool::new(false)), threads: Vec::new() };
        let stop = workload.stop.clone();
        let threads = &mut workload.threads;
        let bootstrap = cluster.broker.bootstrap();
        threads.push(spawn_loop(&stop, "producer", {
            let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
                .set("bootstrap.servers", &bootstrap)
                .set("linger.ms", "20")
                .create()
                .expect("producer");
            let mut n = 0u64;
            move || {
                // Ten ticks a second.
                for topic in TOPICS {
                    for _ in 0..PRODUCE_PER_TOPIC_PER_S / 10 {
                        n += 1;
                        let key = (n % 16).to_string();
                        let payload = format!("record {n}");
                        let record = BaseRecord::to(topic).key(&key).payload(&payload);
                        let _ = producer.send(record);
                    }
                }
                Duration::from_millis(100)
            }
        }));
        threads.push(spawn_loop(&stop, "group consumer", {
            let consumer: BaseConsumer = ClientConfig::new()
                .set("bootstrap.servers", &bootstrap)
                .set("group.id", GROUP)
                .set("client.id", "e2e-consumer")
                .set("enable.auto.commit", "false")
                .set("auto.offset.reset", "earliest")
                .create()
                .expect("group consumer");
            consumer.subscribe(&TOPICS).expect("subscribe");
            let mut ticks = 0u64;
            move || {
                // Ten ticks a second, a record or two each, a commit every second.
                for _ in 0..CONSUME_PER_S / 10 {
                    let _ = consumer.poll(Duration::from_millis(20));
                }
                ticks += 1;
                if ticks % 10 == 0 && consumer.assignment().is_ok_and(|a| a.count() > 0) {
                    let _ = consumer.commit_consumer_state(CommitMode::Async);
                }
                Duration::from_millis(100)
            }
        }));
        threads.push(spawn_loop(&stop, "alice producing", {
            let producer: ThreadedProducer<DefaultProducerContext> = cluster
                .sasl_client("alice", "alice-secret")
                .set("linger.ms", "0")
                .create()
                .expect("alice's producer");
            let payload = vec![b'q'; 2048];
            move || {
                // 10 KB/s against a 1 KB/s produce quota. One record in flight at most:
                // records queued while the connection is muted would go out as one large
                // request, whose throttle grows with its size.
                if producer.in_flight_count() == 0 {
                    let _ = producer.send(BaseRecord::<(), _>::to(TOPICS[0]).payload(&payload));
                }
                Duration::from_millis(200)
            }
        }));
        threads.push(spawn_loop(&stop, "alice fetching", {
            let consumer: BaseConsumer = cluster
                .sasl_client("alice", "alice-secret")
                .set("group.id", "alice-reader")
                .set("enable.auto.commit", "false")
                // Small fetches, so the (uncapped) byte-rate throttle stays short.
                .set("fetch.max.bytes", "4096")
                .set("max.partition.fetch.bytes", "4096")
                .set("message.max.bytes", "4096")
                .create()
                .expect("alice's consumer");
            let mut assignment = TopicPartitionList::new();
            assignment.add_partition_offset(TOPICS[0], 0, rdkafka::Offset::Beginning).unwrap();
            consumer.assign(&assignment).expect("assign");
            move || {
                let _ = consumer.poll(Duration::from_millis(50));
                Duration::from_millis(200)
            }
        }));
        threads.push(spawn_loop(&stop, "security events", {
            let admin = cluster.sasl_client("admin", "admin-secret");
            let intruder = cluster.sasl_client("alice", "wrong-password");
            let bob = cluster.sasl_client("bob", "bob-secret");
            move || {
                // The super user authenticates and lists topics.
                let c: BaseConsumer = admin.create().expect("admin client");
                c.fetch_metadata(None, secs(5)).expect("the super user reads metadata");
                // A failed login.
                let c: BaseConsumer = intruder.create().expect("client");
                assert!(c.fetch_metadata(None, secs(5)).is_err(), "a wrong password is refused");
                // bob has no ACL: writing to e2e-orders is denied.
                let p: ThreadedProducer<DefaultProducerContext> =
                    bob.clone().set("message.timeout.ms", "3000").create().expect("bob's producer");
                let _ = p.send(BaseRecord::<(), _>::to(TOPICS[0]).payload("denied"));
                let _ = p.flush(secs(4));
                Duration::from_secs(5)
            }
        }));
        workload
    }
}

impl Workload {
    /// Stops every client; the names of the threads that panicked (a client assertion failed).
    fn stop(&mut self) -> Vec<String> {
        self.stop.store(true, Ordering::SeqCst);
        let mut panicked = Vec::new();
        for t in self.threads.drain(..) {
            let name = t.thread().name().unwrap_or_default().to_string();
            if t.join().is_err() {
                panicked.push(name);
            }
        }
        panicked
    }
}

impl Drop for Workload {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs `step` on a thread until `stop`, sleeping what it returns between runs.
fn spawn_loop(
    stop: &Arc<AtomicBool>,
    name: &str,
    mut step: impl FnMut() -> Duration + Send + 'static,
) -> JoinHandle<()> {
    let stop = stop.clone();
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let pause = step();
                let until = Instant::now() + pause;
                while !stop.load(Ordering::SeqCst) && Instant::now() < until {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        })
        .expect("spawning a workload thread")
}

/// `alerts/*.yml` rewritten with short `for:` into `dir`; their paths.
fn short_rule_files(dir: &Path) -> Vec<PathBuf> {
    let files = alerts::rule_files().unwrap_or_else(|e| panic!("{e:#}"));
    files
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).unwrap();
            let short = shorten_for(&text, SHORT_FOR)
                .unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
            let out = dir.join(path.file_name().unwrap());
            std::fs::write(&out, short).unwrap();
            out
        })
        .collect()
}

/// One dashboard query as Prometheus gets it.
struct DashboardQuery {
    /// `dashboard uid / panel title` or `dashboard uid / variable $name`.
    place: String,
    /// As written in the dashboard.
    written: String,
    /// Substituted.
    promql: String,
    /// For a `label_values(…, label)` variable whose value the test substitutes: the label and
    /// the value its options must include.
    must_offer: Option<(String, String)>,
}

/// Every panel and variable query of `dashboards/*.json`, with the run's values substituted.
fn dashboard_queries() -> Vec<DashboardQuery> {
    let values = [("cluster", CLUSTER), ("consumergroup", GROUP), ("topic", TOPICS[0])];
    let mut sub = values.iter().fold(Substitution::new(), |sub, (k, v)| sub.var(k, v));
    sub.rate_interval = RATE_INTERVAL;
    let mut queries = Vec::new();
    for d in Dashboard::load_all().unwrap_or_else(|e| panic!("{e:#}")) {
        for q in d.queries() {
            queries.push(DashboardQuery {
                place: format!("{} / panel {:?}", q.dashboard, q.panel_title),
                promql: q.substituted(&sub).unwrap_or_else(|e| panic!("{e:#}")),
                written: q.expr,
                must_offer: None,
            });
        }
        for v in d.variable_queries().unwrap_or_else(|e| panic!("{e:#}")) {
            let must_offer = match &v.function {
                VariableFunction::LabelValues { label } => values
                    .iter()
                    .find(|(name, _)| *name == v.variable)
                    .map(|(_, value)| (label.clone(), value.to_string())),
                VariableFunction::QueryResult => None,
            };
            queries.push(DashboardQuery {
                place: format!("{} / variable ${}", v.dashboard, v.variable),
                promql: v.substituted(&sub).unwrap_or_else(|e| panic!("{e:#}")),
                written: v.expr,
                must_offer,
            });
        }
    }
    assert!(!queries.is_empty(), "no dashboard queries");
    queries
}

/// `Ok(true)` once `q` returns what it should; `Err` if Prometheus refuses it.
fn query_has_data(api: &PrometheusApi, q: &DashboardQuery) -> anyhow::Result<bool> {
    let data = api.query(&q.promql)?;
    Ok(match &q.must_offer {
        None => data.sample_count() > 0,
        Some((label, value)) => data.samples().iter().any(|(l, _)| l.get(label) == Some(value)),
    })
}

/// The metric names a PromQL expression selects, each with the `job` its selector asks for
/// (`None`: any). A regular-expression name matcher (`{__name__=~"a_(x|y)"}`) counts as the
/// names it spells out, or, when not a plain alternation, as itself prefixed with `~`.
fn selected_names(promql: &str) -> Vec<(String, Option<String>)> {
    let selectors = dashboard::selectors(promql).unwrap_or_else(|e| panic!("{e:#}"));
    let mut names = Vec::new();
    for s in selectors {
        let job = s.matchers.iter().find(|(l, op, _)| l == "job" && op == "=").map(|m| m.2.clone());
        if !s.name.is_empty() {
            names.push((s.name, job));
            continue;
        }
        for (_, _, re) in s.matchers.iter().filter(|(l, op, _)| l == "__name__" && op == "=~") {
            names.extend(spell_out(re).into_iter().map(|n| (n, job.clone())));
        }
    }
    names
}

/// `prefix(a|b)suffix` → `[prefixasuffix, prefixbsuffix]`; anything else → `[~regex]`.
fn spell_out(re: &str) -> Vec<String> {
    let plain = |t: &str| t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if let Some((prefix, rest)) = re.split_once('(') {
        if let Some((alternatives, suffix)) = rest.split_once(')') {
            if plain(prefix) && plain(suffix) && alternatives.split('|').all(plain) {
                return alternatives.split('|').map(|a| format!("{prefix}{a}{suffix}")).collect();
            }
        }
    }
    if plain(re) {
        vec![re.to_string()]
    } else {
        vec![format!("~{re}")]
    }
}

#[test]
fn dashboards_and_alerts_work_against_real_metrics_in_a_real_prometheus() {
    let started = Instant::now();
    let queries = dashboard_queries();
    let alert_rules = alerts::alert_rules().unwrap_or_else(|e| panic!("{e:#}"));
    let cluster = Cluster::start();
    cluster.set_up();
    let exporter = TestExporter::start(&[
        "--bootstrap-servers",
        &cluster.broker.bootstrap(),
        "--cluster-name",
        CLUSTER,
        "--poll-interval",
        "1s",
    ]);
    let rules_dir = tempfile::tempdir().unwrap();
    let prometheus = PrometheusServer::start(
        &[
            ScrapeJob::new("kafka", &[format!("127.0.0.1:{}", cluster.metrics_port)])
                .label("cluster", CLUSTER),
            ScrapeJob::new("kafka-lag-exporter", &[format!("127.0.0.1:{}", exporter.port)]),
        ],
        &[],
    )
    .unwrap_or_else(|e| panic!("{e:#}"));
    let api = prometheus.api();
    let mut workload = Workload::start(&cluster);
    let workload_started = Instant::now();
    wait_until("both scrape targets are up", secs(30), || {
        let targets = api.targets().expect("GET /api/v1/targets");
        targets.len() == 2 && targets.iter().all(|t| t.health == "up")
    });
    // Rules only now: see `PrometheusServer::load_rules`.
    prometheus.load_rules(&short_rule_files(rules_dir.path())).unwrap_or_else(|e| panic!("{e:#}"));
    let targets = api.targets().unwrap();
    let kafka = targets.iter().find(|t| t.labels.get("job").is_some_and(|j| j == "kafka"));
    assert_eq!(
        kafka.and_then(|t| t.labels.get("cluster")).map(String::as_str),
        Some(CLUSTER),
        "job kafka has the cluster target label: {targets:?}"
    );

    // Until every expectation is met or the deadline passes: evaluate the dashboard queries
    // that have not returned data yet, and watch the alerts.
    let mut failures = Vec::new();
    let mut pending: Vec<&DashboardQuery> = queries.iter().collect();
    let mut refused: Vec<String> = Vec::new();
    let mut misfired: BTreeMap<String, String> = BTreeMap::new();
    let mut fired: BTreeSet<String> = BTreeSet::new();
    let mut evaluations = 0;
    let deadline = workload_started + RUN_DEADLINE;
    loop {
        pending.retain(|q| {
            evaluations += 1;
            match query_has_data(api, q) {
                Ok(has_data) => !has_data,
                Err(e) => {
                    refused.push(format!("{}: {e:#}\n    {}", q.place, q.promql));
                    false
                }
            }
        });
        for alert in api.alerts().expect("GET /api/v1/alerts") {
            if alert.state != "firing" {
                continue;
            }
            if HEALTHY_ALERTS.contains(&alert.name()) {
                misfired.entry(alert.name().into()).or_insert(format!("{:?}", alert.labels));
            }
            fired.insert(alert.name().to_string());
        }
        let done = EXPECTED_ALERTS.iter().all(|a| fired.contains(*a))
            && pending.is_empty()
            && workload_started.elapsed() >= MIN_WATCH;
        if done || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(secs(1));
    }
    let panicked = workload.stop();
    if !panicked.is_empty() {
        failures.push(format!("workload threads that panicked (see above): {panicked:?}"));
    }
    if !refused.is_empty() {
        failures.push(format!("dashboard queries Prometheus refused:\n{}", refused.join("\n")));
    }
    if !pending.is_empty() {
        let list: Vec<String> = pending
            .iter()
            .map(|q| match &q.must_offer {
                None => format!("{}:\n    {}\n    as sent: {}", q.place, q.written, q.promql),
                Some((label, value)) => format!(
                    "{}: no {label}=\"{value}\" among the options:\n    {}",
                    q.place, q.promql
                ),
            })
            .collect();
        failures.push(format!(
            "{} of {} dashboard queries returned no data within {RUN_DEADLINE:?}:\n{}",
            pending.len(),
            queries.len(),
            list.join("\n")
        ));
    }

    // Every metric name the dashboards and the alerts select is in a real scrape, under the
    // job its selector asks for.
    let scraped: BTreeSet<(String, String)> = api
        .query(r#"group by (__name__, job) ({job=~"kafka|kafka-lag-exporter"})"#)
        .expect("the scraped names")
        .samples()
        .into_iter()
        .map(|(l, _)| (l["__name__"].clone(), l["job"].clone()))
        .collect();
    let mut used: BTreeMap<(String, Option<String>), BTreeSet<String>> = BTreeMap::new();
    for q in &queries {
        for name in selected_names(&q.promql) {
            used.entry(name).or_default().insert(q.place.clone());
        }
    }
    for rule in &alert_rules {
        for name in selected_names(&rule.expr) {
            used.entry(name).or_default().insert(format!("alert {}", rule.name));
        }
    }
    let unscraped: Vec<String> = used
        .iter()
        // `up` is Prometheus's own, about the scrape.
        .filter(|((name, _), _)| name != "up")
        .filter(|((name, job), _)| {
            !scraped.iter().any(|(n, j)| {
                let name_matches = match name.strip_prefix('~') {
                    Some(re) => regex::Regex::new(&format!("^(?:{re})$")).unwrap().is_match(n),
                    None => n == name,
                };
                name_matches && job.as_ref().is_none_or(|job| job == j)
            })
        })
        .map(|((name, job), places)| format!("{name} (job {job:?}) used by {places:?}"))
        .collect();
    if !unscraped.is_empty() {
        failures.push(format!(
            "metric names used but not in a scrape of the broker or the exporter:\n{}",
            unscraped.join("\n")
        ));
    }

    // The alerts as Prometheus evaluated them.
    let groups = api.rules().expect("GET /api/v1/rules");
    let rules: BTreeMap<&str, &Rule> =
        groups.iter().flat_map(|g| &g.rules).map(|r| (r.name.as_str(), r)).collect();
    let unknown: Vec<&&str> =
        HEALTHY_ALERTS.iter().chain(EXPECTED_ALERTS).filter(|a| !rules.contains_key(**a)).collect();
    assert!(unknown.is_empty(), "alerts not loaded from alerts/*.yml: {unknown:?}");
    let broken: Vec<String> = rules
        .values()
        .filter(|r| r.health != "ok")
        .map(|r| format!("{} ({}): {}", r.name, r.health, r.last_error.clone().unwrap_or_default()))
        .collect();
    if !broken.is_empty() {
        failures.push(format!("rules that did not evaluate cleanly:\n{}", broken.join("\n")));
    }
    for name in HEALTHY_ALERTS {
        if rules[name].state != "inactive" {
            let state = format!("{} at the end: {:?}", rules[name].state, rules[name].alerts);
            misfired.entry(name.to_string()).or_insert(state);
        }
    }
    if !misfired.is_empty() {
        failures.push(format!("healthy-cluster alerts that fired or ended active: {misfired:#?}"));
    }
    for name in EXPECTED_ALERTS.iter().filter(|a| !fired.contains(**a)) {
        failures.push(format!(
            "{name} did not fire within {RUN_DEADLINE:?} of the workload's start; rule: {:?}; \
             its expression now: {:?}",
            rules[name],
            api.query(&rules[name].query).map(|d| d.samples())
        ));
    }
    eprintln!(
        "end_to_end: {} dashboard queries ({evaluations} evaluations), {} metric names checked, \
         {} rules; alerts fired: {fired:?}; {:?} in all",
        queries.len(),
        used.len(),
        rules.len(),
        started.elapsed()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn a_rule_file_prometheus_refuses_is_reported_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yml");
    std::fs::write(
        &bad,
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: sum(\n",
    )
    .unwrap();
    let prometheus = PrometheusServer::start(&[], &[]).unwrap_or_else(|e| panic!("{e:#}"));
    let err = prometheus.load_rules(&[bad]).expect_err("a rule that does not parse");
    let message = format!("{err:#}");
    assert!(message.contains("reload refused") && message.contains("bad.yml"), "{message}");
    // A bad reload leaves the running configuration in place.
    assert!(prometheus.api().rules().unwrap().is_empty());
}
