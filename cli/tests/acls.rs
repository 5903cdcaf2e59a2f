//! `kafka-lab acls` against the real broker binary over SASL_SSL with SCRAM-SHA-512 (TLS
//! certificates from `kafka_lab_tls`), checked by what a real rdkafka client is then allowed to
//! do; and its clear error when the broker has no authorizer.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::Duration;

use kafka_lab_testkit::free_port;
use kafka_lab_tls::{CertificateAuthority, CertificateRequest, KeyAlgorithm};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

const PASSWORD: &str = "lab-pass";

struct Broker {
    child: Child,
    plaintext: u16,
    sasl_ssl: u16,
    dir: tempfile::TempDir,
}

impl Broker {
    fn start(authorizer: bool) -> Broker {
        let dir = tempfile::tempdir().unwrap();
        let certs = dir.path().join("tls");
        let (ca, _) = CertificateAuthority::load_or_create(
            &certs,
            "test CA",
            KeyAlgorithm::EcP256,
            30,
            false,
        )
        .unwrap();
        let request = CertificateRequest::localhost_broker(KeyAlgorithm::Rsa2048);
        ca.issue(&certs, &request, PASSWORD, false).unwrap();
        let (plaintext, sasl_ssl) = (free_port(), free_port());
        let mut overrides = vec![
            format!("listeners=PLAINTEXT://127.0.0.1:{plaintext},SASL_SSL://127.0.0.1:{sasl_ssl}"),
            format!("log.dirs={}", dir.path().join("data").display()),
            format!("ssl.keystore.location={}", certs.join("broker.p12").display()),
            format!("ssl.keystore.password={PASSWORD}"),
            "sasl.scram.users=['SCRAM-SHA-512=[name=admin,password=admin-secret]', 'SCRAM-SHA-512=[name=alice,password=alice-secret]']".into(),
        ];
        if authorizer {
            overrides.push(
                "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer"
                    .into(),
            );
            overrides.push("super.users=User:admin".into());
        }
        let child =
            kafka_lab_testkit::spawn_broker(&overrides, &dir.path().join("broker.log"), sasl_ssl);
        Broker { child, plaintext, sasl_ssl, dir }
    }

    fn ca(&self) -> PathBuf {
        self.dir.path().join("tls/ca.crt")
    }

    /// A `--command-config` file for `user` over SASL_SSL/SCRAM-SHA-512, as Kafka's tools read.
    fn command_config(&self, user: &str) -> PathBuf {
        let path = self.dir.path().join(format!("{user}.properties"));
        std::fs::write(
            &path,
            format!(
                "security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\n\
                 sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \\\n    \
                 username=\"{user}\" password=\"{user}-secret\";\n\
                 ssl.truststore.type=PEM\nssl.truststore.location={}\n",
                self.ca().display()
            ),
        )
        .unwrap();
        path
    }

    fn alice_sees(&self) -> Vec<String> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", format!("127.0.0.1:{}", self.sasl_ssl))
            .set("security.protocol", "SASL_SSL")
            .set("sasl.mechanism", "SCRAM-SHA-512")
            .set("sasl.username", "alice")
            .set("sasl.password", "alice-secret")
            .set("ssl.ca.location", self.ca().display().to_string())
            .create()
            .unwrap();
        let metadata = consumer.fetch_metadata(None, Duration::from_secs(15)).unwrap();
        metadata.topics().iter().map(|t| t.name().to_owned()).collect()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn kafka_lab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kafka-lab")).args(args).output().unwrap()
}

fn acls(broker: &Broker, config: &Path, args: &[&str]) -> String {
    let bootstrap = format!("127.0.0.1:{}", broker.sasl_ssl);
    let config = config.display().to_string();
    let mut all = vec!["acls", "--bootstrap-server", &bootstrap, "--command-config", &config];
    all.extend(args);
    let output = kafka_lab(&all);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "kafka-lab {all:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn add_list_remove_over_sasl_ssl_scram() {
    let broker = Broker::start(true);
    let admin = broker.command_config("admin");
    // A topic for alice to see once allowed (the admin is a super user).
    let output = kafka_lab(&[
        "acls",
        "--bootstrap-server",
        &format!("127.0.0.1:{}", broker.sasl_ssl),
        "--command-config",
        &broker.command_config("alice").display().to_string(),
        "--list",
    ]);
    assert!(!output.status.success(), "alice may not list ACLs");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("ClusterAuthorizationFailed"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(broker.alice_sees().is_empty());

    let added = acls(
        &broker,
        &admin,
        &[
            "--add",
            "--allow-principal",
            "User:alice",
            "--operation",
            "Describe",
            "--topic",
            "__consumer",
            "--resource-pattern-type",
            "prefixed",
        ],
    );
    let pattern = "ResourcePattern(resourceType=TOPIC, name=__consumer, patternType=PREFIXED)";
    assert!(added.contains(&format!("Adding ACLs for resource `{pattern}`")), "{added}");
    assert!(
        added.contains("(principal=User:alice, host=*, operation=DESCRIBE, permissionType=ALLOW)")
    );
    assert!(added.contains(&format!("Current ACLs for resource `{pattern}`")), "{added}");
    assert_eq!(broker.alice_sees(), vec!["__consumer_offsets".to_owned()]);

    acls(
        &broker,
        &admin,
        &[
            "--add",
            "--consumer",
            "--allow-principal",
            "User:alice",
            "--topic",
            "orders",
            "--group",
            "readers",
        ],
    );
    let listed = acls(&broker, &admin, &["--list", "--principal", "User:alice"]);
    for expected in [
        "ResourcePattern(resourceType=TOPIC, name=orders, patternType=LITERAL)",
        "ResourcePattern(resourceType=GROUP, name=readers, patternType=LITERAL)",
        "operation=READ, permissionType=ALLOW",
        "operation=DESCRIBE, permissionType=ALLOW",
    ] {
        assert!(listed.contains(expected), "{expected} missing from:\n{listed}");
    }
    let removed = acls(
        &broker,
        &admin,
        &["--remove", "--topic", "__consumer", "--resource-pattern-type", "prefixed", "--force"],
    );
    assert!(removed.contains(&format!("Removing ACLs for resource `{pattern}`")), "{removed}");
    assert!(broker.alice_sees().is_empty());
    let listed = acls(&broker, &admin, &["--list"]);
    assert!(!listed.contains("__consumer"), "{listed}");
    assert!(listed.contains("name=orders"), "{listed}");
}

#[test]
fn without_an_authorizer_the_tool_says_security_disabled() {
    let broker = Broker::start(false);
    let output = kafka_lab(&[
        "acls",
        "--bootstrap-server",
        &format!("127.0.0.1:{}", broker.plaintext),
        "--list",
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("SecurityDisabled") && stderr.contains("No Authorizer"), "{stderr}");
}
