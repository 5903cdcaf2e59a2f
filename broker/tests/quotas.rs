//! Client quotas and SCRAM credential administration through real clients: `kafka-lab
//! configs` (the `kafka-lab-admin` wire client, over PLAINTEXT, SASL/PLAIN and SASL/SCRAM)
//! sets credentials and quotas; librdkafka authenticates with them, before and after a
//! restart; a producer limited to 1 MiB/s is held to it over 30 s while librdkafka's own
//! statistics report the throttle time, and an unthrottled user on the same broker is not.

// Drives the real binary from outside, on the OS's clock and threads: broker/clippy.toml's
// determinism rule is for the broker's own code, not for its tests.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;

use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use kafka_lab_admin::cli::configs::{self, ConfigsArgs};
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DeliveryResult, ProducerContext, ThreadedProducer};
use rdkafka::Statistics;
use support::{free_port, TestBroker};

const JAAS: &str = r#"org.apache.kafka.common.security.plain.PlainLoginModule required user_admin="admin-secret" user_limited="limited-secret" user_free="free-secret";"#;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: ConfigsArgs,
}

/// Runs `kafka-lab configs` with these arguments against `bootstrap`.
fn kafka_configs(bootstrap: &str, args: &[&str]) -> anyhow::Result<String> {
    let mut argv = vec!["configs", "--bootstrap-server", bootstrap];
    argv.extend_from_slice(args);
    let mut out = Vec::new();
    configs::run(&Cli::try_parse_from(argv)?.args, &mut out)?;
    Ok(String::from_utf8(out)?)
}

/// A broker with a SASL_PLAINTEXT listener (`CLIENT`) next to PLAINTEXT; returns its port.
fn sasl_broker() -> (TestBroker, u16) {
    let sasl = free_port();
    let broker = TestBroker::start_with_listeners(
        &format!("CLIENT://127.0.0.1:{sasl}"),
        &[
            "listener.security.protocol.map=CLIENT:SASL_PLAINTEXT",
            &format!("listener.name.client.plain.sasl.jaas.config={JAAS}"),
        ],
    );
    (broker, sasl)
}

fn sasl_client(port: u16, mechanism: &str, user: &str, password: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", format!("127.0.0.1:{port}"))
        .set("security.protocol", "SASL_PLAINTEXT")
        .set("sasl.mechanisms", mechanism)
        .set("sasl.username", user)
        .set("sasl.password", password);
    config
}

/// Whether librdkafka can authenticate and read metadata with these credentials.
fn can_authenticate(port: u16, mechanism: &str, user: &str, password: &str) -> bool {
    let consumer: BaseConsumer =
        sasl_client(port, mechanism, user, password).create().expect("consumer");
    consumer.fetch_metadata(None, Duration::from_secs(5)).is_ok()
}

fn write_properties(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn scram_credentials_set_by_kafka_configs_authenticate_librdkafka_and_survive_restart() {
    let (mut broker, sasl) = sasl_broker();
    let bootstrap = broker.bootstrap();
    let dir = tempfile::tempdir().unwrap();
    assert!(!can_authenticate(sasl, "SCRAM-SHA-256", "alice", "alice-secret"));

    let out = kafka_configs(
        &bootstrap,
        &[
            "--alter",
            "--add-config",
            "SCRAM-SHA-256=[iterations=8192,password=alice-secret]",
            "--entity-type",
            "users",
            "--entity-name",
            "alice",
        ],
    )
    .unwrap();
    assert_eq!(out, "Completed updating config for user-principal 'alice'.\n");
    // The admin tool over SASL/PLAIN, properties in Java's style.
    let plain = write_properties(
        dir.path(),
        "plain.properties",
        "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\nsasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"admin\" password=\"admin-secret\";\n",
    );
    let sasl_bootstrap = format!("127.0.0.1:{sasl}");
    kafka_configs(
        &sasl_bootstrap,
        &[
            "--command-config",
            &plain,
            "--alter",
            "--add-config",
            "SCRAM-SHA-512=[password=bob-secret]",
            "--entity-type",
            "users",
            "--entity-name",
            "bob",
        ],
    )
    .unwrap();
    // Iterations below Kafka's minimum are refused with the broker's reason.
    let err = kafka_configs(
        &bootstrap,
        &[
            "--alter",
            "--add-config",
            "SCRAM-SHA-256=[iterations=100,password=x]",
            "--entity-type",
            "users",
            "--entity-name",
            "carol",
        ],
    )
    .unwrap_err();
    assert!(err.to_string().contains("Too few iterations"), "{err}");

    assert!(can_authenticate(sasl, "SCRAM-SHA-256", "alice", "alice-secret"));
    assert!(can_authenticate(sasl, "SCRAM-SHA-512", "bob", "bob-secret"));
    assert!(!can_authenticate(sasl, "SCRAM-SHA-256", "alice", "wrong"));
    assert!(!can_authenticate(sasl, "SCRAM-SHA-256", "bob", "bob-secret"), "bob has 512 only");

    // The admin tool over SASL/SCRAM, librdkafka-style properties.
    let scram = write_properties(
        dir.path(),
        "scram.properties",
        "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-256\nsasl.username=alice\nsasl.password=alice-secret\n",
    );
    let described = kafka_configs(
        &sasl_bootstrap,
        &["--command-config", &scram, "--describe", "--entity-type", "users"],
    )
    .unwrap();
    assert_eq!(
        described,
        "SCRAM credential configs for user-principal 'alice' are SCRAM-SHA-256=iterations=8192\n\
         SCRAM credential configs for user-principal 'bob' are SCRAM-SHA-512=iterations=4096\n"
    );

    broker.restart();
    assert!(can_authenticate(sasl, "SCRAM-SHA-256", "alice", "alice-secret"));
    assert!(can_authenticate(sasl, "SCRAM-SHA-512", "bob", "bob-secret"));
    kafka_configs(
        &bootstrap,
        &[
            "--alter",
            "--delete-config",
            "SCRAM-SHA-256",
            "--entity-type",
            "users",
            "--entity-name",
            "alice",
        ],
    )
    .unwrap();
    assert!(!can_authenticate(sasl, "SCRAM-SHA-256", "alice", "alice-secret"));
    broker.restart();
    assert!(!can_authenticate(sasl, "SCRAM-SHA-256", "alice", "alice-secret"));
    assert!(can_authenticate(sasl, "SCRAM-SHA-512", "bob", "bob-secret"));

    // Passwords reach neither the log nor the disk.
    assert!(!broker.log().contains("alice-secret") && !broker.log().contains("bob-secret"));
    for file in support::files_under(&broker.data_dir()) {
        let bytes = std::fs::read(broker.data_dir().join(&file)).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("alice-secret") && !text.contains("bob-secret"), "{file}");
    }
    assert!(broker.log().contains("authentication failed"), "failures are logged");
}

#[test]
fn client_quotas_are_altered_described_and_kept_across_restart() {
    let mut broker = TestBroker::start();
    let b = broker.bootstrap();
    let alter = |add: &str, entity: &[&str]| {
        let mut args = vec!["--alter", "--add-config", add];
        args.extend_from_slice(entity);
        kafka_configs(&b, &args)
    };
    alter(
        "producer_byte_rate=1048576,consumer_byte_rate=2097152",
        &["--entity-type", "users", "--entity-name", "alice"],
    )
    .unwrap();
    alter("request_percentage=25.5", &["--entity-type", "users", "--entity-default"]).unwrap();
    alter(
        "producer_byte_rate=1024",
        &[
            "--entity-type",
            "users",
            "--entity-name",
            "alice",
            "--entity-type",
            "clients",
            "--entity-name",
            "app",
        ],
    )
    .unwrap();
    alter("consumer_byte_rate=4096", &["--entity-type", "clients", "--entity-default"]).unwrap();
    let err = alter("producer_byte_rate=-5", &["--entity-type", "clients", "--entity-name", "x"])
        .unwrap_err();
    assert!(err.to_string().contains("InvalidRequest"), "{err}");
    let err =
        alter("fetch_bytes=5", &["--entity-type", "clients", "--entity-name", "x"]).unwrap_err();
    assert!(err.to_string().contains("Unknown quota key"), "{err}");

    let describe = |args: &[&str]| {
        let mut all = vec!["--describe"];
        all.extend_from_slice(args);
        kafka_configs(&b, &all).unwrap()
    };
    let users = "Quota configs for the default user-principal are request_percentage=25.5\n\
                 Quota configs for user-principal 'alice' are consumer_byte_rate=2097152.0,producer_byte_rate=1048576.0\n";
    assert_eq!(describe(&["--entity-type", "users"]), users);
    assert_eq!(
        describe(&["--entity-type", "users", "--entity-name", "alice"]),
        "Quota configs for user-principal 'alice' are consumer_byte_rate=2097152.0,producer_byte_rate=1048576.0\n"
    );
    assert_eq!(
        describe(&["--entity-type", "clients", "--entity-default"]),
        "Quota configs for the default client-id are consumer_byte_rate=4096.0\n"
    );
    assert_eq!(
        describe(&["--entity-type", "users", "--entity-type", "clients"]),
        "Quota configs for user-principal 'alice', client-id 'app' are producer_byte_rate=1024.0\n"
    );
    broker.restart();
    assert_eq!(describe(&["--entity-type", "users"]), users);
    kafka_configs(
        &b,
        &[
            "--alter",
            "--delete-config",
            "producer_byte_rate",
            "--entity-type",
            "users",
            "--entity-name",
            "alice",
        ],
    )
    .unwrap();
    assert_eq!(
        describe(&["--entity-type", "users", "--entity-name", "alice"]),
        "Quota configs for user-principal 'alice' are consumer_byte_rate=2097152.0\n"
    );
}

/// What a producer thread saw: acknowledged bytes over time and librdkafka's throttle window.
#[derive(Default)]
struct Observed {
    acked_bytes: AtomicU64,
    max_throttle_ms: AtomicI64,
    throttle_samples: AtomicI64,
}

struct Context(Arc<Observed>);

impl ClientContext for Context {
    fn stats(&self, statistics: Statistics) {
        for broker in statistics.brokers.values() {
            if let Some(window) = &broker.throttle {
                self.0.max_throttle_ms.fetch_max(window.max, Ordering::Relaxed);
                self.0.throttle_samples.fetch_add(window.cnt, Ordering::Relaxed);
            }
        }
    }
}

impl ProducerContext for Context {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Ok(message) = result {
            let len = message.payload_len() as u64;
            self.0.acked_bytes.fetch_add(len, Ordering::Relaxed);
        }
    }
}

/// Produces as fast as librdkafka lets it until `stop`, counting acknowledged payload bytes.
fn flood(
    port: u16,
    user: &str,
    password: &str,
    topic: &str,
    observed: Arc<Observed>,
    stop: Instant,
) {
    let producer: ThreadedProducer<Context> = sasl_client(port, "PLAIN", user, password)
        .set("acks", "1")
        .set("linger.ms", "5")
        .set("statistics.interval.ms", "1000")
        .create_with_context(Context(observed))
        .expect("producer");
    let payload = vec![b'x'; 10_000];
    while Instant::now() < stop {
        match producer.send(BaseRecord::<(), _>::to(topic).payload(&payload)) {
            Ok(()) => {}
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    // What is still queued would only be throttled: drop it instead of waiting.
    rdkafka::producer::Producer::purge(
        &producer,
        rdkafka::producer::PurgeConfig::default().queue().inflight(),
    );
}

/// The issue's acceptance test: 1 MiB/s measured over 30 s, within ±10%.
///
/// The broker runs Kafka's algorithm; this test sets `quota.window.num=2` (Kafka's default is
/// 11). Kafka's rate never divides by less than `num - 1` windows, so a fresh or idle sensor
/// admits a burst of `num - 1` seconds' worth at once, and a greedy producer then alternates
/// bursts and long throttles with that period: with 11 samples its rate over an arbitrary 30 s
/// span swings by up to ±20% around the quota (a model of the algorithm shows it, and Kafka
/// behaves the same); with 2 the bursts are one second's worth and 30 s spans stay within ±5%.
#[test]
fn a_producer_limited_to_1_mib_per_second_is_held_to_it_and_others_are_not() {
    const QUOTA: f64 = 1_048_576.0;
    let sasl = free_port();
    let broker = TestBroker::start_with_listeners(
        &format!("CLIENT://127.0.0.1:{sasl}"),
        &[
            "listener.security.protocol.map=CLIENT:SASL_PLAINTEXT",
            &format!("listener.name.client.plain.sasl.jaas.config={JAAS}"),
            "quota.window.num=2",
        ],
    );
    kafka_configs(
        &broker.bootstrap(),
        &[
            "--alter",
            "--add-config",
            "producer_byte_rate=1048576",
            "--entity-type",
            "users",
            "--entity-name",
            "limited",
        ],
    )
    .unwrap();
    // The first burst (one window's worth) is over after the two sample windows.
    let warm_up = Duration::from_secs(2);
    let measured = Duration::from_secs(30);
    let start = Instant::now();
    let stop = start + warm_up + measured + Duration::from_secs(1);
    let limited = Arc::new(Observed::default());
    let free = Arc::new(Observed::default());
    let threads = [
        ("limited", "limited-secret", "limited-topic", limited.clone()),
        ("free", "free-secret", "free-topic", free.clone()),
    ]
    .map(|(user, password, topic, observed)| {
        std::thread::spawn(move || flood(sasl, user, password, topic, observed, stop))
    });
    std::thread::sleep(start + warm_up - Instant::now());
    let (limited_0, free_0) =
        (limited.acked_bytes.load(Ordering::Relaxed), free.acked_bytes.load(Ordering::Relaxed));
    std::thread::sleep(start + warm_up + measured - Instant::now());
    let (limited_1, free_1) =
        (limited.acked_bytes.load(Ordering::Relaxed), free.acked_bytes.load(Ordering::Relaxed));
    for t in threads {
        t.join().unwrap();
    }
    let limited_rate = (limited_1 - limited_0) as f64 / measured.as_secs_f64();
    let free_rate = (free_1 - free_0) as f64 / measured.as_secs_f64();
    eprintln!(
        "limited: {:.0} B/s ({:+.1}% of the quota), max throttle {} ms; free: {:.0} B/s, max throttle {} ms",
        limited_rate,
        (limited_rate / QUOTA - 1.0) * 100.0,
        limited.max_throttle_ms.load(Ordering::Relaxed),
        free_rate,
        free.max_throttle_ms.load(Ordering::Relaxed),
    );
    assert!(
        (limited_rate - QUOTA).abs() <= 0.1 * QUOTA,
        "the limited producer ran at {limited_rate:.0} B/s, not within 10% of {QUOTA} B/s"
    );
    assert!(limited.max_throttle_ms.load(Ordering::Relaxed) > 0, "librdkafka saw no throttle");
    assert_eq!(free.max_throttle_ms.load(Ordering::Relaxed), 0, "the free producer was throttled");
    assert!(free_rate > 3.0 * QUOTA, "the free producer ran at only {free_rate:.0} B/s");
}

/// With the StandardAuthorizer, `kafka-lab configs` is answered CLUSTER_AUTHORIZATION_FAILED
/// until `kafka-lab acls` (the same admin client) grants the operation Kafka checks on the
/// Cluster: DescribeConfigs/AlterConfigs for quotas, Describe/Alter for SCRAM credentials.
#[test]
fn quota_and_scram_administration_needs_the_cluster_operations_kafka_checks() {
    let sasl = free_port();
    let broker = TestBroker::start_with_listeners(
        &format!("CLIENT://127.0.0.1:{sasl}"),
        &[
            "listener.security.protocol.map=CLIENT:SASL_PLAINTEXT",
            &format!("listener.name.client.plain.sasl.jaas.config={JAAS}"),
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users=User:ANONYMOUS",
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let limited = write_properties(
        dir.path(),
        "limited.properties",
        "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\nsasl.username=limited\nsasl.password=limited-secret\n",
    );
    let sasl_bootstrap = format!("127.0.0.1:{sasl}");
    let as_limited = |args: &[&str]| {
        let mut all = vec!["--command-config", limited.as_str()];
        all.extend_from_slice(args);
        kafka_configs(&sasl_bootstrap, &all)
    };
    let set_quota = ["--alter", "--add-config", "producer_byte_rate=2048"];
    let set_quota = [&set_quota[..], &["--entity-type", "users", "--entity-name", "free"]].concat();
    let set_scram = [
        "--alter",
        "--add-config",
        "SCRAM-SHA-256=[password=free-scram]",
        "--entity-type",
        "users",
        "--entity-name",
        "free",
    ];
    let describe_users = ["--describe", "--entity-type", "users"];
    for args in [&set_quota[..], &set_scram[..], &describe_users[..]] {
        let err = as_limited(args).unwrap_err().to_string();
        assert!(err.contains("ClusterAuthorizationFailed"), "{args:?}: {err}");
    }
    // `kafka-lab acls` as the super user (PLAINTEXT's ANONYMOUS): AlterConfigs and Alter.
    let grant = |operation: &str| {
        #[derive(Parser)]
        struct Acls {
            #[command(flatten)]
            args: kafka_lab_admin::cli::AclsArgs,
        }
        let argv = [
            "acls",
            "--bootstrap-server",
            &broker.bootstrap(),
            "--add",
            "--allow-principal",
            "User:limited",
            "--operation",
            operation,
            "--cluster",
        ];
        let mut out = Vec::new();
        kafka_lab_admin::cli::acls::run(&Acls::try_parse_from(argv).unwrap().args, &mut out)
            .unwrap();
    };
    grant("AlterConfigs");
    as_limited(&set_quota).unwrap();
    let err = as_limited(&set_scram).unwrap_err().to_string();
    assert!(err.contains("ClusterAuthorizationFailed"), "AlterConfigs is not Alter: {err}");
    grant("Alter");
    as_limited(&set_scram).unwrap();
    // AlterConfigs implies DescribeConfigs, Alter implies Describe.
    assert_eq!(
        as_limited(&describe_users).unwrap(),
        "Quota configs for user-principal 'free' are producer_byte_rate=2048.0\n\
         SCRAM credential configs for user-principal 'free' are SCRAM-SHA-256=iterations=4096\n"
    );
    assert!(can_authenticate(sasl, "SCRAM-SHA-256", "free", "free-scram"));
    assert!(broker.log().contains("authorization denied"));
}
