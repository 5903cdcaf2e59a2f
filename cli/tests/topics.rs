//! `kafka-lab topics` (kafka-topics.sh) against the real broker binary: create with configs,
//! list, describe in Kafka's line format, the report filters, alter partitions, delete by
//! regex, Kafka's error lines; partitions cross-checked with `kcat -L`; and the same tool over
//! SASL_SSL with SCRAM through `--command-config`.

use std::process::{Child, Command, Output};

use kafka_lab_testkit::free_port;
use kafka_lab_tls::{CertificateAuthority, CertificateRequest, KeyAlgorithm};

struct Broker {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Broker {
    fn start() -> Broker {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let overrides = [
            format!("listeners=PLAINTEXT://127.0.0.1:{port}"),
            format!("log.dirs={}", dir.path().join("data").display()),
        ];
        let child =
            kafka_lab_testkit::spawn_broker(&overrides, &dir.path().join("broker.log"), port);
        Broker { child, port, dir }
    }

    fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `kafka-lab topics --bootstrap-server … args`.
    fn topics(&self, args: &[&str]) -> Output {
        let bootstrap = self.bootstrap();
        let mut all = vec!["topics", "--bootstrap-server", &bootstrap];
        all.extend(args);
        Command::new(env!("CARGO_BIN_EXE_kafka-lab")).args(&all).output().unwrap()
    }

    /// The stdout of a command that must succeed.
    fn ok(&self, args: &[&str]) -> String {
        let output = self.topics(args);
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "kafka-lab topics {args:?} failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    }

    /// The stdout of a command that must fail with exit status 1, as kafka-topics.sh does.
    fn fails(&self, args: &[&str]) -> String {
        let output = self.topics(args);
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert_eq!(
            output.status.code(),
            Some(1),
            "kafka-lab topics {args:?}:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    }

    /// Partition ids of `topic` as kcat's metadata listing shows them.
    fn kcat_partitions(&self, topic: &str) -> Vec<u32> {
        let output = Command::new("kcat")
            .args(["-L", "-b", &self.bootstrap(), "-t", topic, "-m", "10"])
            .output()
            .expect("kcat is installed");
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{text}{}", String::from_utf8_lossy(&output.stderr));
        text.lines()
            .filter_map(|line| line.trim().strip_prefix("partition "))
            .map(|rest| rest.split(',').next().unwrap().parse().unwrap())
            .collect()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The one line starting with `prefix`.
fn line<'a>(text: &'a str, prefix: &str) -> &'a str {
    let found: Vec<&str> = text.lines().filter(|l| l.starts_with(prefix)).collect();
    assert_eq!(found.len(), 1, "one line starting {prefix:?} in:\n{text}");
    found[0]
}

#[test]
fn create_list_describe_alter_delete() {
    let broker = Broker::start();
    let created = broker.ok(&[
        "--create",
        "--topic",
        "orders",
        "--partitions",
        "3",
        "--replication-factor",
        "1",
        "--config",
        "retention.ms=604800000",
        "--config",
        "min.insync.replicas=1",
    ]);
    assert_eq!(created, "Created topic orders.\n");
    assert_eq!(broker.kcat_partitions("orders"), [0, 1, 2]);

    // Names with '.' or '_' get Kafka's metric-collision warning first.
    let created = broker.ok(&["--create", "--topic", "logs.app"]);
    assert_eq!(
        created,
        "WARNING: Due to limitations in metric names, topics with a period ('.') or underscore \
         ('_') could collide. To avoid issues it is best to use either, but not both.\n\
         Created topic logs.app.\n"
    );

    let listed = broker.ok(&["--list"]);
    let names: Vec<&str> = listed.lines().collect();
    assert!(names.contains(&"orders") && names.contains(&"logs.app"), "{listed}");
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "--list is sorted");
    let external = broker.ok(&["--list", "--exclude-internal"]);
    assert_eq!(external, "logs.app\norders\n");
    assert_eq!(broker.ok(&["--list", "--topic", "ord.*"]), "orders\n");

    let described = broker.ok(&["--describe", "--topic", "orders"]);
    let lines: Vec<&str> = described.lines().collect();
    assert_eq!(lines.len(), 4, "{described}");
    let header = lines[0];
    let (name, rest) = header.split_once("\tTopicId: ").expect("a TopicId column");
    assert_eq!(name, "Topic: orders");
    let (topic_id, rest) = rest.split_once('\t').unwrap();
    assert_eq!(topic_id.len(), 22, "Kafka's base64 topic id: {topic_id}");
    let configs = rest
        .strip_prefix("PartitionCount: 3\tReplicationFactor: 1\tConfigs: ")
        .unwrap_or_else(|| panic!("header: {header:?}"));
    let mut configs: Vec<&str> = configs.split(',').collect();
    configs.sort();
    assert_eq!(configs, ["min.insync.replicas=1", "retention.ms=604800000"], "{header:?}");
    for (partition, line) in lines[1..].iter().enumerate() {
        // The broker has no DescribeTopicPartitions, so the tool describes through Metadata,
        // which carries no eligible leader replicas: Kafka's tool prints N/A then.
        assert_eq!(
            *line,
            format!(
                "\tTopic: orders\tPartition: {partition}\tLeader: 1\tReplicas: 1\tIsr: 1\
                 \tElr: N/A\tLastKnownElr: N/A"
            )
        );
    }
    // The topic id is the one --topic-id finds.
    assert_eq!(broker.ok(&["--describe", "--topic-id", topic_id]), described);
    // An id that starts with `-` (1 in 64 do) is a value, not a flag: an unknown one is the
    // tool's error (status 1), not the argument parser's (status 2).
    broker.fails(&["--describe", "--topic-id", "-NkY-9u6RdikpClhqwEydg"]);

    // A topic without overrides shows an empty Configs column.
    let logs = broker.ok(&["--describe", "--topic", "logs\\.app"]);
    assert!(
        line(&logs, "Topic: logs.app").ends_with("\tReplicationFactor: 1\tConfigs: "),
        "{logs}"
    );
    let overridden = broker.ok(&["--describe", "--topics-with-overrides", "--exclude-internal"]);
    assert_eq!(overridden.lines().count(), 1, "{overridden}");
    assert!(overridden.starts_with("Topic: orders\t"), "{overridden}");

    // One node, RF 1: nothing is under-replicated or unavailable; with min.insync.replicas=1
    // every partition is at its minimum ISR, and one asking for 2 is under it.
    assert_eq!(broker.ok(&["--describe", "--under-replicated-partitions"]), "");
    assert_eq!(broker.ok(&["--describe", "--unavailable-partitions"]), "");
    assert_eq!(broker.ok(&["--describe", "--under-min-isr-partitions"]), "");
    let at_min = broker.ok(&["--describe", "--at-min-isr-partitions", "--topic", "orders"]);
    assert_eq!(at_min, lines[1..].iter().map(|l| format!("{l}\n")).collect::<String>());
    broker.ok(&["--create", "--topic", "strict", "--config", "min.insync.replicas=2"]);
    let under_min = broker.ok(&["--describe", "--under-min-isr-partitions"]);
    assert_eq!(under_min.lines().count(), 1, "{under_min}");
    assert!(under_min.starts_with("\tTopic: strict\tPartition: 0\tLeader: 1\t"), "{under_min}");

    // Errors are Kafka's line on stdout and exit status 1.
    let exists = broker.fails(&["--create", "--topic", "orders"]);
    assert!(exists.starts_with("Error while executing topic command : "), "{exists}");
    assert!(exists.contains("orders") && exists.contains("already exists"), "{exists}");
    assert_eq!(broker.ok(&["--create", "--topic", "orders", "--if-not-exists"]), "");
    let rf = broker.fails(&["--create", "--topic", "replicated", "--replication-factor", "2"]);
    assert!(rf.starts_with("Error while executing topic command : "), "{rf}");
    // Kafka words it "… The target replication factor of 2 cannot be reached …".
    assert!(rf.contains("replication factor") && rf.contains('2'), "{rf}");
    assert!(!broker.ok(&["--list"]).contains("replicated"));
    let zero = broker.fails(&["--create", "--topic", "none", "--replication-factor", "0"]);
    assert_eq!(
        zero,
        "Error while executing topic command : The replication factor must be between 1 and \
         32767 inclusive\n"
    );
    let bad_config = broker.fails(&["--create", "--topic", "bad", "--config", "retention.ms"]);
    assert!(bad_config.contains("must be in the format \"key=val\""), "{bad_config}");

    assert_eq!(broker.ok(&["--alter", "--topic", "orders", "--partitions", "5"]), "");
    let described = broker.ok(&["--describe", "--topic", "orders"]);
    assert!(line(&described, "Topic: orders").contains("\tPartitionCount: 5\t"), "{described}");
    assert!(described.contains("\tTopic: orders\tPartition: 4\tLeader: 1\t"), "{described}");
    assert_eq!(broker.kcat_partitions("orders"), [0, 1, 2, 3, 4]);
    let fewer = broker.fails(&["--alter", "--topic", "orders", "--partitions", "2"]);
    assert!(fewer.starts_with("Error while executing topic command : "), "{fewer}");
    // Kafka: "The topic orders currently has 5 partition(s); 2 would not be an increase."
    assert!(fewer.contains("5 partition"), "{fewer}");
    assert_eq!(broker.kcat_partitions("orders"), [0, 1, 2, 3, 4]);

    // --topic is a regular expression for --delete.
    assert_eq!(broker.ok(&["--delete", "--topic", "logs\\..*,strict"]), "");
    assert_eq!(broker.ok(&["--list", "--exclude-internal"]), "orders\n");
    let missing = broker.fails(&["--delete", "--topic", "nope"]);
    assert_eq!(
        missing,
        "Error while executing topic command : Topic 'nope' does not exist as expected\n"
    );
    assert_eq!(broker.ok(&["--delete", "--topic", "nope", "--if-exists"]), "");
    assert_eq!(broker.ok(&["--delete", "--topic", "orders"]), "");
    assert_eq!(broker.ok(&["--list", "--exclude-internal"]), "\n");
}

#[test]
fn options_are_checked_before_connecting() {
    let run =
        |args: &[&str]| Command::new(env!("CARGO_BIN_EXE_kafka-lab")).args(args).output().unwrap();
    let help = run(&["topics", "--help"]);
    let help_text = String::from_utf8_lossy(&help.stdout);
    assert!(help.status.success());
    for option in [
        "--bootstrap-server",
        "--command-config",
        "--create",
        "--replication-factor",
        "--config",
        "--if-not-exists",
        "--exclude-internal",
        "--under-replicated-partitions",
        "--under-min-isr-partitions",
        "--at-min-isr-partitions",
        "--unavailable-partitions",
        "--topics-with-overrides",
    ] {
        assert!(help_text.contains(option), "{option} missing from:\n{help_text}");
    }
    // Port 9 (discard) is never a broker: these must fail on the options alone.
    let two_actions = run(&["topics", "--bootstrap-server", "127.0.0.1:9", "--list", "--create"]);
    assert!(!two_actions.status.success());
    let alter_config = run(&[
        "topics",
        "--bootstrap-server",
        "127.0.0.1:9",
        "--alter",
        "--topic",
        "t",
        "--partitions",
        "2",
        "--config",
        "a=b",
    ]);
    let stderr = String::from_utf8_lossy(&alter_config.stderr);
    assert_eq!(alter_config.status.code(), Some(1));
    assert!(
        stderr.contains("Option \"[config]\" can't be used with option \"[alter]\""),
        "{stderr}"
    );
    let no_partitions =
        run(&["topics", "--bootstrap-server", "127.0.0.1:9", "--alter", "--topic", "t"]);
    let stderr = String::from_utf8_lossy(&no_partitions.stderr);
    assert!(stderr.contains("Missing required argument \"[partitions]\""), "{stderr}");
}

#[test]
fn over_sasl_ssl_with_a_command_config() {
    const PASSWORD: &str = "lab-pass";
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("tls");
    let (ca, _) =
        CertificateAuthority::load_or_create(&certs, "test CA", KeyAlgorithm::EcP256, 30, false)
            .unwrap();
    ca.issue(&certs, &CertificateRequest::localhost_broker(KeyAlgorithm::Rsa2048), PASSWORD, false)
        .unwrap();
    let port = free_port();
    let overrides = [
        format!("listeners=SASL_SSL://127.0.0.1:{port}"),
        format!("log.dirs={}", dir.path().join("data").display()),
        format!("ssl.keystore.location={}", certs.join("broker.p12").display()),
        format!("ssl.keystore.password={PASSWORD}"),
        "sasl.scram.users=['SCRAM-SHA-512=[name=admin,password=admin-secret]']".into(),
    ];
    let child = kafka_lab_testkit::spawn_broker(&overrides, &dir.path().join("broker.log"), port);
    let broker = Broker { child, port, dir };
    let config = broker.dir.path().join("admin.properties");
    std::fs::write(
        &config,
        format!(
            "security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\n\
             sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \
             username=\"admin\" password=\"admin-secret\";\n\
             ssl.truststore.type=PEM\nssl.truststore.location={}\n",
            certs.join("ca.crt").display()
        ),
    )
    .unwrap();
    let config = config.display().to_string();
    let created = broker.ok(&["--command-config", &config, "--create", "--topic", "secure"]);
    assert_eq!(created, "Created topic secure.\n");
    let described = broker.ok(&["--command-config", &config, "--describe", "--topic", "secure"]);
    assert!(described.starts_with("Topic: secure\tTopicId: "), "{described}");
    assert!(described.contains("\tTopic: secure\tPartition: 0\tLeader: 1\t"), "{described}");
    // Without the properties the TLS listener does not answer Kafka requests.
    let output = broker.topics(&["--list"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stdout)
        .starts_with("Error while executing topic command : "));
}
