//! TLS and SASL through real clients: librdkafka (rdkafka crate) and kcat over SSL (with and
//! without a client certificate), SASL_PLAINTEXT and SASL_SSL with PLAIN, SCRAM-SHA-256 and
//! SCRAM-SHA-512; wrong passwords and wrong protocols fail cleanly while the broker keeps
//! serving everyone else. Certificates come from `kafka_lab_tls`, as `kafka-lab tls init` makes
//! them.

// Drives the real binary from outside, on the OS's clock and threads: broker/clippy.toml's
// determinism rule is for the broker's own code, not for its tests.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use kafka_lab_tls::{
    CertificateAuthority, CertificateRequest, KeyAlgorithm, SubjectAltName, Usage,
};
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use support::{free_port, TestBroker};

const TIMEOUT: Duration = Duration::from_secs(15);
const PASSWORD: &str = "lab-pass";

struct SecuredBroker {
    broker: TestBroker,
    certs: PathBuf,
    ssl: u16,
    sasl_ssl: u16,
    sasl_plaintext: u16,
    _dir: tempfile::TempDir,
}

fn certificates(dir: &Path) {
    let (ca, _) =
        CertificateAuthority::load_or_create(dir, "test CA", KeyAlgorithm::EcP256, 30, false)
            .unwrap();
    let request = |name: &str, usage, sans: &[&str]| CertificateRequest {
        name: name.into(),
        common_name: name.into(),
        organizational_unit: None,
        subject_alt_names: sans.iter().map(|s| SubjectAltName::parse(s)).collect(),
        usage,
        key_algorithm: KeyAlgorithm::Rsa2048,
        valid_days: 30,
    };
    ca.issue(dir, &request("broker", Usage::Server, &["localhost", "127.0.0.1"]), PASSWORD, false)
        .unwrap();
    ca.issue(dir, &request("alice", Usage::Client, &[]), PASSWORD, false).unwrap();
}

fn start(client_auth: &str) -> SecuredBroker {
    start_with(client_auth, &[])
}

fn start_with(client_auth: &str, extra: &[&str]) -> SecuredBroker {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("tls");
    certificates(&certs);
    let (ssl, sasl_ssl, sasl_plaintext) = (free_port(), free_port(), free_port());
    let jaas = r#"org.apache.kafka.common.security.plain.PlainLoginModule required user_admin="admin-secret" user_carol="carol-secret";"#;
    let mut overrides: Vec<String> = vec![
        "listener.security.protocol.map=CLIENT:SASL_PLAINTEXT".into(),
        format!("ssl.keystore.location={}", certs.join("broker.p12").display()),
        format!("ssl.keystore.password={PASSWORD}"),
        format!("ssl.truststore.location={}", certs.join("ca.crt").display()),
        format!("ssl.client.auth={client_auth}"),
        "ssl.principal.mapping.rules=RULE:^CN=(.*?),.*$/$1/,DEFAULT".into(),
        format!("listener.name.sasl_ssl.plain.sasl.jaas.config={jaas}"),
        format!("listener.name.client.plain.sasl.jaas.config={jaas}"),
        "sasl.scram.users=['SCRAM-SHA-256=[name=alice,password=alice-secret]', 'SCRAM-SHA-512=[name=bob,password=bob-secret,iterations=8192]']".into(),
    ];
    overrides.extend(extra.iter().map(|s| s.to_string()));
    let overrides: Vec<&str> = overrides.iter().map(String::as_str).collect();
    let broker = TestBroker::start_with_listeners(
        &format!("SSL://127.0.0.1:{ssl},SASL_SSL://127.0.0.1:{sasl_ssl},CLIENT://127.0.0.1:{sasl_plaintext}"),
        &overrides,
    );
    SecuredBroker { broker, certs, ssl, sasl_ssl, sasl_plaintext, _dir: dir }
}

impl SecuredBroker {
    fn client(&self, port: u16, settings: &[(&str, &str)]) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", format!("127.0.0.1:{port}"));
        for (k, v) in settings {
            config.set(*k, *v);
        }
        if settings.iter().any(|(k, v)| *k == "security.protocol" && v.contains("SSL")) {
            config.set("ssl.ca.location", self.path("ca.crt"));
        }
        config
    }

    fn path(&self, file: &str) -> String {
        self.certs.join(file).display().to_string()
    }
}

/// Produces three records to a fresh topic and reads them back through the same settings.
fn round_trip(broker: &SecuredBroker, port: u16, settings: &[(&str, &str)], topic: &str) {
    let producer: ThreadedProducer<DefaultProducerContext> =
        broker.client(port, settings).set("acks", "all").create().expect("producer");
    for i in 0..3 {
        producer
            .send(BaseRecord::to(topic).key(&format!("k{i}")).payload(&format!("v{i}")))
            .unwrap();
    }
    producer
        .flush(TIMEOUT)
        .unwrap_or_else(|e| panic!("flush over {settings:?}: {e}\n{}", broker.broker.log_tail()));
    let consumer: BaseConsumer = broker
        .client(port, settings)
        .set("group.id", format!("{topic}-readers"))
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).unwrap();
    let mut payloads = Vec::new();
    let deadline = std::time::Instant::now() + TIMEOUT * 2;
    while payloads.len() < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "only {payloads:?} arrived over {settings:?}"
        );
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            let message = message.expect("consume error");
            payloads.push(String::from_utf8(message.payload().unwrap().to_vec()).unwrap());
        }
    }
    payloads.sort();
    assert_eq!(payloads, ["v0", "v1", "v2"], "over {settings:?}");
}

/// Keeps the errors librdkafka reports through its error callback: authentication failures
/// arrive there, while the request itself only sees a transport failure.
#[derive(Default)]
struct RecordingContext {
    errors: Mutex<Vec<String>>,
}

impl ClientContext for RecordingContext {
    fn error(&self, error: KafkaError, reason: &str) {
        self.errors.lock().unwrap().push(format!("{error}: {reason}"));
    }
}

impl ConsumerContext for RecordingContext {}

/// The errors a metadata request produces (its own and the client's error callback's), or
/// `None` when it succeeds.
fn metadata_error(config: &ClientConfig) -> Option<String> {
    let consumer: BaseConsumer<RecordingContext> = config
        .clone()
        .set("socket.timeout.ms", "4000")
        .create_with_context(RecordingContext::default())
        .expect("client");
    let result = consumer.fetch_metadata(None, Duration::from_secs(6));
    if result.is_err() {
        // Callbacks are served by poll.
        for _ in 0..20 {
            if !consumer.context().errors.lock().unwrap().is_empty() {
                break;
            }
            consumer.poll(Duration::from_millis(100));
        }
    }
    let reported = consumer.context().errors.lock().unwrap().join("; ");
    result.err().map(|e| format!("{e}; {reported}"))
}

#[test]
fn ssl_with_and_without_a_client_certificate_round_trips() {
    let broker = start("requested");
    round_trip(
        &broker,
        broker.ssl,
        &[
            ("security.protocol", "SSL"),
            ("ssl.certificate.location", &broker.path("alice.crt")),
            ("ssl.key.location", &broker.path("alice.key")),
        ],
        "tls-with-cert",
    );
    round_trip(&broker, broker.ssl, &[("security.protocol", "SSL")], "tls-without-cert");
}

#[test]
fn required_client_auth_refuses_clients_without_a_certificate() {
    let broker = start("required");
    let anonymous = broker.client(broker.ssl, &[("security.protocol", "SSL")]);
    assert!(metadata_error(&anonymous).is_some(), "a client without a certificate got metadata");
    let alice = broker.client(
        broker.ssl,
        &[
            ("security.protocol", "SSL"),
            ("ssl.certificate.location", &broker.path("alice.crt")),
            ("ssl.key.location", &broker.path("alice.key")),
        ],
    );
    assert_eq!(metadata_error(&alice), None);
    assert!(broker.broker.log().contains("TLS handshake failed"), "{}", broker.broker.log_tail());
}

/// KIP-684: the broker-wide `ssl.client.auth` does not reach SASL_SSL listeners, whose clients
/// authenticate with SASL; a listener-prefixed setting does.
#[test]
fn required_client_auth_applies_to_sasl_ssl_only_when_listener_prefixed() {
    let scram = [
        ("security.protocol", "SASL_SSL"),
        ("sasl.mechanism", "SCRAM-SHA-256"),
        ("sasl.username", "alice"),
        ("sasl.password", "alice-secret"),
    ];
    let broker = start("required");
    assert_eq!(metadata_error(&broker.client(broker.sasl_ssl, &scram)), None);
    assert!(metadata_error(&broker.client(broker.ssl, &[("security.protocol", "SSL")])).is_some());

    let broker = start_with("none", &["listener.name.sasl_ssl.ssl.client.auth=required"]);
    assert!(
        metadata_error(&broker.client(broker.sasl_ssl, &scram)).is_some(),
        "a SASL_SSL client without a certificate got through listener-prefixed required auth"
    );
    let mut with_cert = scram.to_vec();
    let (cert, key) = (broker.path("alice.crt"), broker.path("alice.key"));
    with_cert.push(("ssl.certificate.location", &cert));
    with_cert.push(("ssl.key.location", &key));
    assert_eq!(metadata_error(&broker.client(broker.sasl_ssl, &with_cert)), None);
}

#[test]
fn every_sasl_mechanism_authenticates_over_sasl_ssl_and_sasl_plaintext() {
    let broker = start("none");
    for (port, protocol) in
        [(broker.sasl_ssl, "SASL_SSL"), (broker.sasl_plaintext, "SASL_PLAINTEXT")]
    {
        for (mechanism, user, password) in [
            ("PLAIN", "carol", "carol-secret"),
            ("SCRAM-SHA-256", "alice", "alice-secret"),
            ("SCRAM-SHA-512", "bob", "bob-secret"),
        ] {
            round_trip(
                &broker,
                port,
                &[
                    ("security.protocol", protocol),
                    ("sasl.mechanism", mechanism),
                    ("sasl.username", user),
                    ("sasl.password", password),
                ],
                &format!("{}-{}", protocol.to_lowercase(), mechanism.to_lowercase()),
            );
        }
    }
    let log = broker.broker.log();
    for principal in ["User:carol", "User:alice", "User:bob"] {
        assert!(log.contains(principal), "no authentication of {principal} logged");
    }
}

#[test]
fn wrong_passwords_fail_with_a_clear_error_and_are_never_logged() {
    let broker = start("none");
    for (mechanism, user) in [
        ("PLAIN", "carol"),
        ("SCRAM-SHA-256", "alice"),
        ("SCRAM-SHA-512", "bob"),
        ("SCRAM-SHA-256", "mallory"),
    ] {
        let config = broker.client(
            broker.sasl_ssl,
            &[
                ("security.protocol", "SASL_SSL"),
                ("sasl.mechanism", mechanism),
                ("sasl.username", user),
                ("sasl.password", "Wrong-Password-123"),
            ],
        );
        let error = metadata_error(&config)
            .unwrap_or_else(|| panic!("{mechanism} {user}: wrong password accepted"));
        // librdkafka reports the broker's SaslAuthenticate error message.
        assert!(error.contains("Authentication failed"), "{mechanism} {user}: {error}");
    }
    // The same broker still serves correct credentials.
    let good = broker.client(
        broker.sasl_ssl,
        &[
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", "SCRAM-SHA-256"),
            ("sasl.username", "alice"),
            ("sasl.password", "alice-secret"),
        ],
    );
    assert_eq!(metadata_error(&good), None);
    let log = broker.broker.log();
    assert!(log.contains("authentication failed"), "{}", broker.broker.log_tail());
    for secret in ["Wrong-Password-123", "alice-secret", "carol-secret", "bob-secret"] {
        assert!(!log.contains(secret), "the broker log contains a password");
    }
}

#[test]
fn the_wrong_protocol_on_a_port_fails_cleanly_and_harms_no_one() {
    let broker = start("none");
    let plaintext_port = broker.broker.port;
    // TLS to the plaintext port, plaintext to the TLS port, plaintext to a SASL port.
    let wrong = [
        broker.client(plaintext_port, &[("security.protocol", "SSL")]),
        broker.client(broker.ssl, &[("security.protocol", "PLAINTEXT")]),
        broker.client(broker.sasl_plaintext, &[("security.protocol", "PLAINTEXT")]),
    ];
    for config in &wrong {
        assert!(metadata_error(config).is_some(), "a mismatched client got metadata: {config:?}");
    }
    assert_eq!(metadata_error(&broker.client(plaintext_port, &[])), None);
    assert_eq!(metadata_error(&broker.client(broker.ssl, &[("security.protocol", "SSL")])), None);
    let log = broker.broker.log();
    assert!(log.contains("before SASL authentication"), "{}", broker.broker.log_tail());
    // OpenSSL's reason depends on how far librdkafka got before giving up on the connection
    // ("wrong version number" for its plaintext request, "unexpected EOF" when it closed first).
    assert!(log.contains("TLS handshake failed"), "{}", broker.broker.log_tail());
}

/// Runs kcat, or returns `None` (with a message) where it is not installed outside CI.
fn kcat(args: &[String]) -> Option<std::process::Output> {
    match std::process::Command::new("kcat").args(args).output() {
        Ok(output) => Some(output),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && std::env::var_os("CI").is_none() => {
            eprintln!("SKIPPED: kcat is not installed (apt-get install -y kcat); scripts/test installs it");
            None
        }
        Err(e) => panic!("cannot run kcat: {e}"),
    }
}

#[test]
fn kcat_lists_metadata_over_ssl_and_sasl_ssl_scram() {
    let broker = start("requested");
    let ssl = [
        "-b".to_string(),
        format!("127.0.0.1:{}", broker.ssl),
        "-X".into(),
        "security.protocol=SSL".into(),
        "-X".into(),
        format!("ssl.ca.location={}", broker.path("ca.crt")),
        "-X".into(),
        format!("ssl.certificate.location={}", broker.path("alice.crt")),
        "-X".into(),
        format!("ssl.key.location={}", broker.path("alice.key")),
        "-L".into(),
    ];
    let Some(output) = kcat(&ssl) else { return };
    let listing = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    // The broker advertises the SSL listener's own port to SSL clients.
    assert!(listing.contains(&format!("127.0.0.1:{}", broker.ssl)), "{listing}");

    let scram = |password: &str| {
        vec![
            "-b".to_string(),
            format!("127.0.0.1:{}", broker.sasl_ssl),
            "-X".into(),
            "security.protocol=SASL_SSL".into(),
            "-X".into(),
            format!("ssl.ca.location={}", broker.path("ca.crt")),
            "-X".into(),
            "sasl.mechanisms=SCRAM-SHA-512".into(),
            "-X".into(),
            "sasl.username=bob".into(),
            "-X".into(),
            format!("sasl.password={password}"),
            "-m".into(),
            "5".into(),
            "-L".into(),
        ]
    };
    let output = kcat(&scram("bob-secret")).unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let output = kcat(&scram("nope")).unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("Authentication failed"), "{stderr}");
}
