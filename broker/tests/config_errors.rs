//! Configurations that would leave the broker unusable are refused by the real binary before it
//! binds or writes anything: exit code 1, one line on stderr naming the property (or file) and
//! where it was set, and no `log.dirs` created. Typos get a suggestion; Kafka properties without
//! effect here start the broker with a warning. A listener left out of `advertised.listeners` is
//! told of no broker endpoint, as Kafka does, never another listener's.

// Drives the real binary from outside, on the OS's clock and threads: broker/clippy.toml's
// determinism rule is for the broker's own code, not for its tests.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kafka_protocol::messages::{
    FindCoordinatorRequest, FindCoordinatorResponse, MetadataRequest, MetadataResponse,
};
use kafka_protocol::protocol::StrBytes;
use support::{call, files_under, free_port, TestBroker};

/// Runs the broker with `log.dirs=<log_dir>` and `overrides`, expecting it to refuse to start;
/// returns its stderr (one line). Panics if it starts (still running after 10 s).
fn refused_with(log_dir: &Path, config: Option<&Path>, overrides: &[&str]) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kafka-lab-broker"));
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    command
        .arg("-o")
        .arg(format!("log.dirs={}", log_dir.display()))
        .arg("-o")
        .arg(format!("listeners=PLAINTEXT://127.0.0.1:{}", free_port()));
    for o in overrides {
        command.arg("-o").arg(o);
    }
    let mut child = command
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning kafka-lab-broker");
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            let output = child.wait_with_output().unwrap();
            panic!(
                "the broker started with {overrides:?}:\n{}",
                String::from_utf8_lossy(&output.stdout)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
    assert_eq!(output.status.code(), Some(1), "{overrides:?}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line expected: {stderr}");
    stderr
}

/// [`refused_with`] on a fresh `log.dirs`, which must not have been created.
fn refused(overrides: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let stderr = refused_with(&data, None, overrides);
    assert!(!data.exists(), "log.dirs was created: {:?}", files_under(&data));
    stderr
}

fn assert_names(stderr: &str, wanted: &[&str]) {
    for w in wanted {
        assert!(stderr.contains(w), "`{w}` not in: {stderr}");
    }
}

#[test]
fn message_max_bytes_below_one_is_refused() {
    for value in ["0", "-5"] {
        let o = format!("message.max.bytes={value}");
        let stderr = refused(&[&o]);
        assert_names(
            &stderr,
            &["message.max.bytes must be at least 1", &format!("--override {o}")],
        );
    }
}

/// A broker-only node whose connections to other nodes cannot be secured is refused at start
/// (the messages of every such refusal are unit tests in `security::outbound`).
#[test]
fn node_to_node_security_that_cannot_work_is_refused_at_start() {
    let broker = [
        "process.roles=broker",
        "node.id=2",
        "controller.quorum.voters=1@127.0.0.1:9093",
        "controller.listener.names=CONTROLLER",
    ];
    let with = |extra: &[&str]| {
        let mut all = broker.to_vec();
        all.extend_from_slice(extra);
        refused(&all)
    };
    let stderr =
        with(&["listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:SASL_PLAINTEXT"]);
    assert_names(
        &stderr,
        &["sasl.mechanism.controller.protocol is GSSAPI (Kafka's default), but listener CONTROLLER (SASL_PLAINTEXT)", "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"],
    );
    let stderr = with(&[
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:SASL_PLAINTEXT",
        "sasl.mechanism.controller.protocol=PLAIN",
    ]);
    assert_names(&stderr, &["set listener.name.controller.plain.sasl.jaas.config to"]);
    let stderr = with(&["listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:SSL"]);
    assert_names(&stderr, &["listener CONTROLLER uses TLS", "ssl.truststore.location"]);
}

#[test]
fn a_negative_node_id_is_refused() {
    let stderr = refused(&["node.id=-1"]);
    assert_names(&stderr, &["node.id must be at least 0, got -1", "--override node.id=-1"]);
}

#[test]
fn a_refused_value_in_a_file_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("broker.yaml");
    std::fs::write(&config, "message.max.bytes: 0\n").unwrap();
    let data = dir.path().join("data");
    let stderr = refused_with(&data, Some(&config), &[]);
    assert_names(&stderr, &["message.max.bytes", &config.display().to_string()]);
    assert!(!data.exists());
}

#[test]
fn a_jaas_config_that_does_not_parse_is_refused_without_echoing_it() {
    let listener = format!("listeners=SASL_PLAINTEXT://127.0.0.1:{}", free_port());
    let property = "listener.name.sasl_plaintext.plain.sasl.jaas.config";
    let stderr = refused(&[&listener, &format!("{property}=hello world")]);
    assert_names(&stderr, &[property, "control flag", "--override"]);
    assert!(!stderr.contains("hello"), "a JAAS configuration holds passwords: {stderr}");
    // Unterminated (no `;`): Kafka refuses it too.
    let stderr = refused(&[
        &listener,
        &format!("{property}=org.apache.kafka.common.security.plain.PlainLoginModule required user_alice=\"alice-secret\""),
    ]);
    assert_names(&stderr, &[property, "not terminated by `;`"]);
    assert!(!stderr.contains("alice-secret"), "{stderr}");
}

#[test]
fn a_cluster_id_that_is_not_a_kafka_uuid_is_refused() {
    let stderr = refused(&["cluster.id=my-cluster"]);
    assert_names(&stderr, &["cluster.id `my-cluster` is not a Kafka cluster id", "--override"]);
}

#[test]
fn a_typo_gets_a_suggestion() {
    let stderr = refused(&["log.dir=/tmp/kafka-logs"]);
    assert_names(&stderr, &["unknown property `log.dir` (did you mean `log.dirs`?)", "--override"]);
}

#[test]
fn kafka_properties_without_effect_start_the_broker_with_a_warning() {
    let broker = TestBroker::start_with(&["num.io.threads=8", "log.cleaner.threads=2"]);
    let log = broker.log();
    for name in ["num.io.threads", "log.cleaner.threads"] {
        let warnings: Vec<_> = log
            .lines()
            .filter(|l| {
                l.contains("WARN")
                    && l.contains(&format!("`{name}` has no effect on kafka-lab-broker"))
            })
            .collect();
        assert_eq!(warnings.len(), 1, "{log}");
    }
}

#[test]
fn log_dirs_pointing_at_a_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "keep me").unwrap();
    let stderr = refused_with(&file, None, &[]);
    assert_names(&stderr, &["log.dirs", &file.display().to_string(), "is a file"]);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
    let below = file.join("data");
    let stderr = refused_with(&below, None, &[]);
    assert_names(&stderr, &["log.dirs", &below.display().to_string()]);
}

/// A directory this process cannot write: a 0555 directory, or for root (who writes there
/// anyway) `/sys`, which refuses even root.
fn read_only_dir(parent: &Path) -> PathBuf {
    let dir = parent.join("read-only");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
    if std::fs::write(dir.join("probe"), b"").is_ok() {
        return PathBuf::from("/sys");
    }
    dir
}

#[test]
fn a_read_only_log_dirs_is_refused_with_its_path() {
    let parent = tempfile::tempdir().unwrap();
    let read_only = read_only_dir(parent.path());
    // Only a directory of ours is listed: as root it is /sys, far too big to walk.
    let ours = read_only.starts_with(parent.path());
    let before = ours.then(|| files_under(&read_only));
    let stderr = refused_with(&read_only, None, &[]);
    assert_names(&stderr, &["log.dirs", &read_only.display().to_string(), "not writable"]);
    let fresh = read_only.join(format!("kafka-lab-{}", std::process::id()));
    let stderr = refused_with(&fresh, None, &[]);
    assert_names(&stderr, &["log.dirs", &fresh.display().to_string(), "cannot create"]);
    assert!(!fresh.exists());
    if let Some(before) = before {
        assert_eq!(files_under(&read_only), before);
        std::fs::set_permissions(&read_only, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

#[test]
fn a_binary_meta_properties_is_refused_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let meta = data.join("meta.properties");
    let garbage = [0x00, 0xff, 0xfe, 0x13, 0x37, 0x0a];
    std::fs::write(&meta, garbage).unwrap();
    let stderr = refused_with(&data, None, &[]);
    assert_names(&stderr, &[&meta.display().to_string(), "not a properties file"]);
    assert_eq!(std::fs::read(&meta).unwrap(), garbage);
    assert_eq!(files_under(&data), vec!["meta.properties".to_string()]);
}

#[test]
fn a_listener_left_out_of_advertised_listeners_is_told_of_no_broker() {
    let internal = free_port();
    // Only PLAINTEXT is advertised, under a name clients would not dial by accident.
    let advertised = "advertised.listeners=PLAINTEXT://plaintext.example:9092";
    let mut broker = TestBroker::start_with_listeners(
        &format!("INTERNAL://127.0.0.1:{internal}"),
        &["listener.security.protocol.map=INTERNAL:PLAINTEXT", advertised],
    );
    assert!(broker.log().contains("listener is not in advertised.listeners"), "{}", broker.log());

    // The advertised listener is answered with its endpoint.
    let on_plaintext: MetadataResponse = call(broker.port, 12, &MetadataRequest::default());
    assert_eq!(on_plaintext.brokers.len(), 1);
    assert_eq!(on_plaintext.brokers[0].host.as_str(), "plaintext.example");
    assert_eq!(on_plaintext.brokers[0].port, 9092);

    // The unadvertised one: no broker and, per partition, LISTENER_NOT_FOUND (v6+) or
    // LEADER_NOT_AVAILABLE (v5-) with no leader, as Kafka answers.
    for (version, code) in [(12, 72), (5, 5)] {
        let on_internal: MetadataResponse =
            call(internal, version, &MetadataRequest::default().with_topics(None));
        assert!(on_internal.brokers.is_empty(), "v{version}: {:?}", on_internal.brokers);
        let offsets = on_internal
            .topics
            .iter()
            .find(|t| t.name.as_ref().is_some_and(|n| n.as_str() == "__consumer_offsets"))
            .expect("__consumer_offsets listed");
        for p in &offsets.partitions {
            assert_eq!((p.error_code, p.leader_id.0), (code, -1), "v{version}: {p:?}");
        }
    }
    let coordinator: FindCoordinatorResponse = call(
        internal,
        3,
        &FindCoordinatorRequest::default().with_key(StrBytes::from_static_str("g")),
    );
    assert_eq!(coordinator.error_code, 15, "COORDINATOR_NOT_AVAILABLE: {coordinator:?}");
    assert_eq!(coordinator.node_id.0, -1);

    // A real client bootstrapped on the internal listener learns of no other endpoint.
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", format!("127.0.0.1:{internal}"))
        .create()
        .unwrap();
    let metadata = consumer.fetch_metadata(None, Duration::from_secs(10)).unwrap();
    assert!(
        metadata.brokers().is_empty(),
        "{:?}",
        metadata.brokers().iter().map(|b| b.port()).collect::<Vec<_>>()
    );
    broker.stop();
}
