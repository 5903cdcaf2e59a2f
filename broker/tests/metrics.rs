//! The metrics endpoint (`prometheus.metrics.reporter.listener`) of the real broker binary,
//! scraped over HTTP while real librdkafka clients (rdkafka crate) use the broker: exact
//! BrokerTopicMetrics, log, group and request series after a known workload; the security and
//! quota series after a wrong password, a denied produce and a throttled producer on a SASL
//! listener with the StandardAuthorizer; `promtool check metrics` on a scrape; scrapes in the
//! middle of a produce load; 404 on other paths.

// Drives the real binary from outside, on the OS's clock and threads: broker/clippy.toml's
// determinism rule is for the broker's own code, not for its tests.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_lab_admin::{AdminClient, ClientProperties};
use kafka_lab_broker::authorizer::ResourceType;
use kafka_lab_broker::authorizer::{AclBinding, AclOperation, AclPermissionType, PatternType};
use kafka_lab_testkit::scrape::{http, promtool_check, Scrape};
use rdkafka::admin::{AdminClient as RdAdmin, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::Message;
use support::{free_port, TestBroker};

const TIMEOUT: Duration = Duration::from_secs(30);
const STANDARD_AUTHORIZER: &str = "org.apache.kafka.metadata.authorizer.StandardAuthorizer";

/// A broker with its metrics endpoint on a free port, plus `overrides`; returns that port.
fn broker_with_metrics(extra_listener: Option<&str>, overrides: &[&str]) -> (TestBroker, u16) {
    let metrics = free_port();
    let mut all = vec![format!("prometheus.metrics.reporter.listener=http://127.0.0.1:{metrics}")];
    all.extend(overrides.iter().map(|o| o.to_string()));
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    let broker = match extra_listener {
        Some(listener) => TestBroker::start_with_listeners(listener, &all),
        None => TestBroker::start_with(&all),
    };
    (broker, metrics)
}

fn create_topic(bootstrap: &str, name: &str) {
    let admin: RdAdmin<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", bootstrap).create().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let topic = NewTopic::new(name, 1, TopicReplication::Fixed(1));
    for result in rt.block_on(admin.create_topics(&[topic], &AdminOptions::new())).unwrap() {
        result.unwrap();
    }
}

/// Produces `count` records of `size` payload bytes and waits for every acknowledgement.
fn produce(config: &mut ClientConfig, topic: &str, count: usize, size: usize) {
    let producer: BaseProducer = config.set("linger.ms", "5").create().expect("producer");
    let payload = vec![b'x'; size];
    for _ in 0..count {
        let mut record = BaseRecord::<(), _>::to(topic).payload(&payload);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, r)) => {
                    record = r;
                    producer.poll(Duration::from_millis(10));
                }
            }
        }
    }
    producer.flush(TIMEOUT).expect("every record acknowledged");
}

fn plaintext(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap);
    config
}

/// Lint complaints that the names METRICS.md takes from Kafka (as the JMX exporter's Strimzi
/// rules name its MBeans) cannot avoid, each for exactly the family it concerns.
const FORCED_BY_KAFKA_NAMES: &[(&str, &str)] = &[
    // TotalTimeMs' percentiles: a gauge with a `quantile` label, not a summary.
    ("kafka_network_requestmetrics_totaltimems", QUANTILE),
    // TotalTimeMs' Yammer `Count`: a counter named `_count`.
    ("kafka_network_requestmetrics_totaltimems_count", TOTAL),
    ("kafka_network_requestmetrics_totaltimems_count", COUNT),
    // LeaderElectionRateAndTimeMs' Yammer `Count`, likewise.
    ("kafka_controller_controllerstats_leaderelectionrateandtimems_count", TOTAL),
    ("kafka_controller_controllerstats_leaderelectionrateandtimems_count", COUNT),
    // Kafka's `clientId` tag on ReplicaFetcherManager's MaxLag.
    ("kafka_server_replicafetchermanager_maxlag", CAMEL),
    // Kafka's `connection-count` and `acls-total-count` gauges.
    ("kafka_server_socket_server_metrics_connection_count", COUNT),
    ("kafka_server_authorizer_metrics_acls_total_count", COUNT),
    // Kafka's `networkProcessor` tag on socket-server metrics.
    ("kafka_server_socket_server_metrics_connection_count", CAMEL),
    ("kafka_server_socket_server_metrics_successful_authentication_total", CAMEL),
    ("kafka_server_socket_server_metrics_failed_authentication_total", CAMEL),
];
const QUANTILE: &str = "non-summary metrics should not have \"quantile\" label";
const TOTAL: &str = "counter metrics should have \"_total\" suffix";
const COUNT: &str = "non-histogram and non-summary metrics should not have \"_count\" suffix";
const CAMEL: &str = "label names should be written in 'snake_case' not 'camelCase'";

/// `promtool check metrics` on a scrape: any complaint but those in [`FORCED_BY_KAFKA_NAMES`]
/// fails the test.
fn assert_promtool_accepts(scrape: &Scrape) {
    let Some((_, output)) = promtool_check(&scrape.text) else {
        eprintln!("SKIPPED promtool check: promtool not installed (scripts/install-test-deps)");
        return;
    };
    let forced = |line: &str| {
        FORCED_BY_KAFKA_NAMES.iter().any(|(name, complaint)| line == format!("{name} {complaint}"))
    };
    let complaints: Vec<&str> =
        output.lines().filter(|l| !l.trim().is_empty() && !forced(l)).collect();
    assert!(complaints.is_empty(), "promtool check metrics:\n{}", complaints.join("\n"));
}

#[test]
fn a_known_workload_shows_in_exact_series() {
    const RECORDS: usize = 200;
    const SIZE: usize = 100;
    let (broker, metrics) = broker_with_metrics(None, &[]);
    let bootstrap = broker.bootstrap();

    // Before any client: the series that exist from the start.
    let fresh = Scrape::get(metrics);
    assert_eq!(fresh.expect("kafka_server_kafkaserver_brokerstate", &[]), 3.0);
    let plaintext_listener = [("listener", "PLAINTEXT"), ("networkProcessor", "0")];
    for name in ["successful", "failed"] {
        let series = format!("kafka_server_socket_server_metrics_{name}_authentication_total");
        assert_eq!(fresh.expect(&series, &plaintext_listener), 0.0);
    }
    assert!(!fresh.has("kafka_server_authorizer_metrics_authorization_request_rate_per_minute"));
    assert_eq!(fresh.expect("kafka_server_brokertopicmetrics_messagesin_total", &[]), 0.0);

    create_topic(&bootstrap, "orders");
    produce(&mut plaintext(&bootstrap), "orders", RECORDS, SIZE);
    let consumer: BaseConsumer = plaintext(&bootstrap)
        .set("group.id", "metrics-group")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    consumer.subscribe(&["orders"]).unwrap();
    let mut consumed = 0;
    let deadline = Instant::now() + TIMEOUT;
    while consumed < RECORDS {
        assert!(Instant::now() < deadline, "consumed only {consumed} of {RECORDS}");
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            assert_eq!(message.unwrap().payload().map(<[u8]>::len), Some(SIZE));
            consumed += 1;
        }
    }
    consumer.commit_consumer_state(CommitMode::Sync).unwrap();

    // The consumer is still in its group, so the group is Stable.
    let s = Scrape::get(metrics);
    let orders = [("topic", "orders")];
    let partition = [("partition", "0"), ("topic", "orders")];
    let n = RECORDS as f64;
    assert_eq!(s.expect("kafka_server_brokertopicmetrics_messagesin_total", &orders), n);
    assert_eq!(s.expect("kafka_server_brokertopicmetrics_messagesin_total", &[]), n);
    let bytes_in = s.expect("kafka_server_brokertopicmetrics_bytesin_total", &orders);
    assert!(bytes_in > n * SIZE as f64, "batches carry headers: {bytes_in}");
    // Batches are stored as received, so the log grew by exactly the bytes counted in.
    assert_eq!(s.expect("kafka_log_log_size", &partition), bytes_in);
    let bytes_out = s.expect("kafka_server_brokertopicmetrics_bytesout_total", &orders);
    assert!(bytes_out >= bytes_in, "everything was fetched at least once: {bytes_out}");
    assert!(s.expect("kafka_server_brokertopicmetrics_totalproducerequests_total", &orders) >= 1.0);
    assert!(s.expect("kafka_server_brokertopicmetrics_totalfetchrequests_total", &orders) >= 1.0);
    assert_eq!(
        s.expect("kafka_server_brokertopicmetrics_failedproducerequests_total", &orders),
        0.0
    );
    assert_eq!(s.expect("kafka_log_log_logendoffset", &partition), n);
    assert_eq!(s.expect("kafka_log_log_logstartoffset", &partition), 0.0);
    assert_eq!(s.expect("kafka_log_log_numlogsegments", &partition), 1.0);

    assert!(s.sum("kafka_network_requestmetrics_requests_total", &[("request", "Produce")]) > 0.0);
    let produce_none = [("error", "NONE"), ("request", "Produce")];
    assert!(s.expect("kafka_network_requestmetrics_errors_total", &produce_none) >= 1.0);
    let mut previous = 0.0;
    for quantile in ["0.50", "0.75", "0.95", "0.98", "0.99", "0.999"] {
        let labels = [("quantile", quantile), ("request", "Fetch")];
        let ms = s.expect("kafka_network_requestmetrics_totaltimems", &labels);
        assert!(ms >= previous, "quantiles grow: {quantile} is {ms} ms after {previous}");
        previous = ms;
    }
    // A request is counted when handled and timed once its response is written; the consumer
    // keeps fetching, so one may sit between the two.
    let timed = s.expect("kafka_network_requestmetrics_totaltimems_count", &[("request", "Fetch")]);
    let fetches = s.sum("kafka_network_requestmetrics_requests_total", &[("request", "Fetch")]);
    assert!(timed > 0.0 && (fetches - timed).abs() <= 1.0, "{timed} timed of {fetches}");

    let group = "kafka_coordinator_group_groupmetadatamanager_";
    assert_eq!(s.expect(&format!("{group}numgroups"), &[]), 1.0);
    assert_eq!(s.expect(&format!("{group}numgroupsstable"), &[]), 1.0);
    assert_eq!(s.expect(&format!("{group}numgroupsempty"), &[]), 0.0);
    assert_eq!(s.expect(&format!("{group}numoffsets"), &[]), 1.0);
    assert!(
        s.expect("kafka_server_socket_server_metrics_connection_count", &plaintext_listener) > 0.0
    );
    // `orders` and the 50 partitions of __consumer_offsets.
    assert_eq!(s.expect("kafka_controller_kafkacontroller_globaltopiccount", &[]), 2.0);
    assert_eq!(s.expect("kafka_server_replicamanager_partitioncount", &[]), 51.0);
    assert_eq!(s.expect("kafka_controller_kafkacontroller_activecontrollercount", &[]), 1.0);
    // The one voter leads the metadata quorum in the epoch of this start, everything committed.
    assert_eq!(s.expect("kafka_server_raftmetrics_current_leader", &[]), 1.0);
    assert_eq!(s.expect("kafka_server_raftmetrics_current_epoch", &[]), 1.0);
    let hw = s.expect("kafka_server_raftmetrics_high_watermark", &[]);
    assert!(hw > 0.0 && hw == s.expect("kafka_server_raftmetrics_log_end_offset", &[]), "{hw}");
    assert_eq!(
        s.expect("kafka_server_raftmetrics_current_state", &[("current_state", "leader")]),
        1.0
    );
    // One node: every ISR is the leader alone, nothing to fetch, no leader ever moved.
    assert_eq!(s.expect("kafka_server_replicamanager_isrshrinks_total", &[]), 0.0);
    assert_eq!(s.expect("kafka_server_replicamanager_isrexpands_total", &[]), 0.0);
    assert_eq!(
        s.expect("kafka_server_replicafetchermanager_maxlag", &[("clientId", "Replica")]),
        0.0
    );
    let elections = "kafka_controller_controllerstats_leaderelectionrateandtimems_count";
    assert_eq!(s.expect(elections, &[]), 0.0);
    assert_eq!(s.expect("kafka_controller_controllerstats_uncleanleaderelections_total", &[]), 0.0);
    assert_promtool_accepts(&s);

    // The group's members leave: it is Empty and holds its offset.
    drop(consumer);
    let empty = format!("{group}numgroupsempty");
    let s = scrape_until(metrics, "the group is Empty", |s| s.exact(&empty, &[]) == Some(1.0));
    assert_eq!(s.expect(&format!("{group}numgroupsstable"), &[]), 0.0);
    assert_eq!(s.expect(&format!("{group}numgroupsempty"), &[]), 1.0);

    // Only /metrics exists.
    assert_eq!(http(metrics, "GET", "/nope").map(|r| r.0), Some(404));
    assert_eq!(http(metrics, "GET", "/").map(|r| r.0), Some(404));
    assert_eq!(http(metrics, "POST", "/metrics").map(|r| r.0), Some(405));
}

#[test]
fn scrapes_during_a_produce_load_leave_clients_served() {
    const RECORDS: usize = 20_000;
    let (broker, metrics) = broker_with_metrics(None, &[]);
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "load");
    let done = Arc::new(AtomicBool::new(false));
    let producer = {
        let (bootstrap, done) = (bootstrap.clone(), done.clone());
        std::thread::spawn(move || {
            produce(&mut plaintext(&bootstrap), "load", RECORDS, 200);
            done.store(true, Ordering::Relaxed);
        })
    };
    let mut scrapes = 0;
    while !done.load(Ordering::Relaxed) || scrapes < 5 {
        let s = Scrape::get(metrics);
        assert!(s.has("kafka_server_brokertopicmetrics_messagesin_total"));
        scrapes += 1;
    }
    producer.join().expect("the producer got every acknowledgement while being scraped");
    let s = Scrape::get(metrics);
    let load = [("topic", "load")];
    assert_eq!(s.expect("kafka_server_brokertopicmetrics_messagesin_total", &load), RECORDS as f64);
    assert_eq!(
        s.expect("kafka_log_log_logendoffset", &[("partition", "0"), ("topic", "load")]),
        RECORDS as f64
    );
    eprintln!("{scrapes} scrapes during the load");
}

const JAAS: &str = r#"org.apache.kafka.common.security.plain.PlainLoginModule required user_admin="admin-secret" user_alice="alice-secret";"#;

fn sasl_client(port: u16, user: &str, password: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", format!("127.0.0.1:{port}"))
        .set("security.protocol", "SASL_PLAINTEXT")
        .set("sasl.mechanisms", "PLAIN")
        .set("sasl.username", user)
        .set("sasl.password", password);
    config
}

/// Waits until `condition` holds on a scrape; panics after [`TIMEOUT`] (a hang guard).
fn scrape_until(metrics: u16, what: &str, condition: impl Fn(&Scrape) -> bool) -> Scrape {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let s = Scrape::get(metrics);
        if condition(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "timed out waiting until {what}:\n{}", s.text);
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn failed_logins_denials_and_throttles_show_in_the_security_series() {
    let sasl = free_port();
    let (broker, metrics) = broker_with_metrics(
        Some(&format!("CLIENT://127.0.0.1:{sasl}")),
        &[
            "listener.security.protocol.map=CLIENT:SASL_PLAINTEXT",
            &format!("listener.name.client.plain.sasl.jaas.config={JAAS}"),
            &format!("authorizer.class.name={STANDARD_AUTHORIZER}"),
            "super.users=User:admin;User:ANONYMOUS",
        ],
    );
    let client = [("listener", "CLIENT"), ("networkProcessor", "0")];
    let failed = "kafka_server_socket_server_metrics_failed_authentication_total";
    let succeeded = "kafka_server_socket_server_metrics_successful_authentication_total";
    let lab_failures = "kafka_lab_broker_authentication_failures_total";
    let plain = [("listener", "CLIENT"), ("mechanism", "PLAIN")];
    let denied_rate = "kafka_server_authorizer_metrics_authorization_denied_rate_per_minute";

    let s = Scrape::get(metrics);
    assert_eq!(s.expect(failed, &client), 0.0);
    assert_eq!(s.expect(succeeded, &client), 0.0);
    assert_eq!(s.exact(lab_failures, &plain), None);
    assert_eq!(s.expect(denied_rate, &[]), 0.0);
    assert_eq!(s.expect("kafka_server_authorizer_metrics_acls_total_count", &[]), 0.0);

    // Each client with a wrong password fails once: librdkafka backs off 10 s before trying
    // again, and is gone by then.
    for attempt in 1..=2 {
        let producer: BaseProducer = sasl_client(sasl, "alice", "wrong")
            .set("reconnect.backoff.ms", "10000")
            .set("reconnect.backoff.max.ms", "10000")
            .create()
            .unwrap();
        let _ = producer.client().fetch_metadata(None, Duration::from_millis(1));
        let s = scrape_until(metrics, "the failure is counted", |s| {
            s.exact(failed, &client) == Some(attempt as f64)
        });
        drop(producer);
        assert_eq!(s.expect(lab_failures, &plain), attempt as f64);
        assert_eq!(s.expect(succeeded, &client), 0.0);
    }

    // alice may describe `orders` but not write it; `quota-topic` she may write, at 1 KiB/s.
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "orders");
    create_topic(&bootstrap, "quota-topic");
    let mut admin = AdminClient::connect(&bootstrap, &ClientProperties::plaintext()).unwrap();
    let alice = |topic: &str, operation| AclBinding {
        resource_type: ResourceType::Topic,
        resource_name: topic.into(),
        pattern_type: PatternType::Literal,
        principal: "User:alice".into(),
        host: "*".into(),
        operation,
        permission: AclPermissionType::Allow,
    };
    let acls = [alice("orders", AclOperation::Describe), alice("quota-topic", AclOperation::Write)];
    for result in admin.create_acls(&acls).unwrap() {
        result.unwrap();
    }
    let entity = vec![("user".to_string(), Some("alice".to_string()))];
    admin
        .alter_client_quotas(&entity, &[("producer_byte_rate".into(), Some(1024.0))], false)
        .unwrap()
        .unwrap();

    let alice_producer = || -> BaseProducer {
        sasl_client(sasl, "alice", "alice-secret").set("linger.ms", "50").create().unwrap()
    };
    let denied = alice_producer();
    denied.send(BaseRecord::<(), _>::to("orders").payload("denied")).unwrap();
    denied.flush(TIMEOUT).unwrap();
    // 30 KB in one batch: three times what the 1 KiB/s quota allows over its 10 s minimum.
    let throttled = alice_producer();
    let payload = vec![b'q'; 10_000];
    for _ in 0..3 {
        throttled.send(BaseRecord::<(), _>::to("quota-topic").payload(&payload)).unwrap();
    }
    throttled.flush(TIMEOUT).unwrap();

    let s = Scrape::get(metrics);
    assert!(s.expect(succeeded, &client) >= 1.0, "alice authenticated");
    assert_eq!(s.expect("kafka_server_authorizer_metrics_acls_total_count", &[]), 2.0);
    let write_topic = [("operation", "Write"), ("resource_type", "Topic")];
    assert_eq!(s.expect("kafka_lab_broker_authorization_denials_total", &write_topic), 1.0);
    assert!(s.expect(denied_rate, &[]) >= 1.0);
    let allowed =
        s.expect("kafka_server_authorizer_metrics_authorization_allowed_rate_per_minute", &[]);
    let requests =
        s.expect("kafka_server_authorizer_metrics_authorization_request_rate_per_minute", &[]);
    assert_eq!(requests, allowed + s.expect(denied_rate, &[]));
    // Only permitted appends count; the denied partition is not a produce request to the log.
    assert_eq!(
        s.exact("kafka_server_brokertopicmetrics_messagesin_total", &[("topic", "orders")]),
        None
    );
    assert_eq!(
        s.expect("kafka_server_brokertopicmetrics_messagesin_total", &[("topic", "quota-topic")]),
        3.0
    );

    let alice_tags = [("client_id", ""), ("user", "alice")];
    let throttle = s.expect("kafka_server_produce_throttle_time", &alice_tags);
    assert!(throttle > 0.0, "alice was throttled: {throttle} ms");
    assert!(s.expect("kafka_server_produce_byte_rate", &alice_tags) > 1024.0);
    assert!(
        s.expect("kafka_lab_broker_throttled_responses_total", &[("quota_type", "produce")]) >= 1.0
    );
    assert_promtool_accepts(&s);
}
