//! `kafka-lab configs --entity-type topics|brokers` (kafka-configs.sh) against the real broker
//! binary: alter and describe a topic's dynamic configs in Kafka's line format, the change seen
//! by `kafka-lab topics --describe`, deletes, Kafka's validation messages, brokers' describe;
//! and a user error that prints one line, no backtrace, with RUST_BACKTRACE=1.

use std::process::{Child, Command, Output};

use kafka_lab_testkit::free_port;

struct Broker {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
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
        Broker { child, port, _dir: dir }
    }

    /// `kafka-lab <tool> --bootstrap-server … args`.
    fn run(&self, tool: &str, args: &[&str]) -> Output {
        let bootstrap = format!("127.0.0.1:{}", self.port);
        let mut all = vec![tool, "--bootstrap-server", &bootstrap];
        all.extend(args);
        Command::new(env!("CARGO_BIN_EXE_kafka-lab")).args(&all).output().unwrap()
    }

    /// The stdout of `kafka-lab <tool>` that must succeed.
    fn ok(&self, tool: &str, args: &[&str]) -> String {
        let output = self.run(tool, args);
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "kafka-lab {tool} {args:?} failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    }

    /// The stderr of `kafka-lab configs` that must fail with status 1 and print nothing else.
    fn fails(&self, args: &[&str]) -> String {
        let output = self.run("configs", args);
        assert_eq!(output.status.code(), Some(1), "kafka-lab configs {args:?}");
        assert_eq!(String::from_utf8_lossy(&output.stdout), "");
        String::from_utf8_lossy(&output.stderr).into_owned()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const TOPIC: [&str; 4] = ["--entity-type", "topics", "--entity-name", "t"];

fn with<'a>(args: &[&'a str], entity: &[&'a str]) -> Vec<&'a str> {
    args.iter().chain(entity).copied().collect()
}

#[test]
fn topic_configs_alter_describe_delete() {
    let broker = Broker::start();
    broker.ok("topics", &["--create", "--topic", "t", "--partitions", "1"]);
    assert_eq!(
        broker.ok("configs", &with(&["--describe"], &TOPIC)),
        "Dynamic configs for topic t are:\n"
    );

    let altered = broker.ok(
        "configs",
        &with(
            &[
                "--alter",
                "--add-config",
                "retention.ms=1000,leader.replication.throttled.replicas=[0:1,0:2]",
            ],
            &TOPIC,
        ),
    );
    assert_eq!(altered, "Completed updating config for topic t.\n");
    let described = broker.ok("configs", &with(&["--describe"], &TOPIC));
    let lines: Vec<&str> = described.lines().collect();
    assert_eq!(lines[0], "Dynamic configs for topic t are:");
    assert_eq!(lines.len(), 3, "{described}");
    // A list value in brackets is the list itself; this config has no broker synonym.
    assert_eq!(
        lines[1],
        "  leader.replication.throttled.replicas=0:1,0:2 sensitive=false \
         synonyms={DYNAMIC_TOPIC_CONFIG:leader.replication.throttled.replicas=0:1,0:2}"
    );
    // The topic's value first; broker synonyms (log.retention.*) may follow it.
    assert!(
        lines[2].starts_with(
            "  retention.ms=1000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=1000"
        ),
        "{described}"
    );
    assert!(lines[2].ends_with('}'), "{described}");
    // The change took effect: the topic tool reads it back from the broker.
    let topic = broker.ok("topics", &["--describe", "--topic", "t"]);
    assert!(topic.contains("retention.ms=1000"), "{topic}");
    assert!(topic.contains("leader.replication.throttled.replicas=0:1,0:2"), "{topic}");

    assert_eq!(
        broker.ok("configs", &with(&["--alter", "--delete-config", "retention.ms"], &TOPIC)),
        "Completed updating config for topic t.\n"
    );
    let described = broker.ok("configs", &with(&["--describe"], &TOPIC));
    assert_eq!(described.lines().count(), 2, "{described}");
    assert!(!described.contains("retention.ms"), "{described}");
    let topic = broker.ok("topics", &["--describe", "--topic", "t"]);
    assert!(!topic.contains("retention.ms=1000"), "{topic}");

    // Deleting what has no dynamic value is named, as kafka-configs.sh names it.
    assert_eq!(
        broker.fails(&with(&["--alter", "--delete-config", "retention.ms"], &TOPIC)),
        "error: Invalid config(s): retention.ms\n"
    );
    // Without --entity-name: every topic, internal ones included, as kafka-configs.sh lists them.
    let all = broker.ok("configs", &["--describe", "--entity-type", "topics"]);
    assert!(all.contains("Dynamic configs for topic t are:\n  leader.replication."), "{all}");
    assert!(all.contains("Dynamic configs for topic __consumer_offsets are:\n"), "{all}");
    // --all: every config of the topic, defaults included.
    let every = broker.ok("configs", &with(&["--describe", "--all"], &TOPIC));
    assert!(every.starts_with("All configs for topic t are:\n"), "{every}");
    assert!(every.contains("\n  segment.bytes="), "{every}");
}

#[test]
fn validation_messages_and_brokers() {
    let broker = Broker::start();
    let checks: [(&[&str], &str); 6] = [
        (&["--alter", "--add-config", "a=1", "--entity-type", "topics"], "An entity name must be specified with --alter of topics"),
        (&["--alter", "--entity-type", "topics", "--entity-name", "t"], "At least one of --add-config, --add-config-file, or --delete-config must be specified with --alter"),
        (&["--describe", "--entity-type", "topics", "--entity-default"], "--entity-default must not be specified with --describe of topics"),
        (&["--describe", "--entity-type", "brokers", "--entity-name", "b1"], "The entity name for brokers must be a valid integer broker id, but it is: b1"),
        (&["--describe", "--entity-type", "topics", "--entity-type", "users"], "Only 'users' and 'clients' entity types may be specified together"),
        (&["--alter", "--add-config", "retention.ms", "--entity-type", "topics", "--entity-name", "t"], "Invalid entity config: all configs to be added must be in the format \"key=val\"."),
    ];
    for (args, message) in checks {
        assert_eq!(broker.fails(args), format!("error: {message}\n"), "{args:?}");
    }

    // Brokers: one broker, then the cluster-wide default; this broker's configs are static.
    let brokers = broker.ok("configs", &["--describe", "--entity-type", "brokers"]);
    let lines: Vec<&str> = brokers.lines().collect();
    assert_eq!(lines.len(), 2, "{brokers}");
    let id = lines[0]
        .strip_prefix("Dynamic configs for broker ")
        .and_then(|l| l.strip_suffix(" are:"))
        .unwrap_or_else(|| panic!("{brokers}"));
    id.parse::<i32>().unwrap();
    assert_eq!(lines[1], "Default configs for brokers in the cluster are:");
    let every = broker
        .ok("configs", &["--describe", "--all", "--entity-type", "brokers", "--entity-name", id]);
    assert!(every.starts_with(&format!("All configs for broker {id} are:\n")), "{every}");
    assert!(every.contains(" sensitive=false synonyms={"), "{every}");
    let refused = broker.fails(&[
        "--alter",
        "--add-config",
        "log.cleaner.threads=2",
        "--entity-type",
        "brokers",
        "--entity-default",
    ]);
    assert!(
        refused.starts_with("error: the broker refused the config change for the default broker: "),
        "{refused}"
    );
    assert_eq!(refused.lines().count(), 1, "{refused}");
}

/// A user error is one line on stderr and status 1, with no backtrace even when asked for one.
#[test]
fn user_errors_are_one_line_without_a_backtrace() {
    for args in [
        &["configs", "--bootstrap-server", "127.0.0.1:1", "--describe", "--entity-type", "topics"]
            [..],
        &["lag-exporter", "--config", "/nonexistent/kafka-lab.yaml"][..],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_kafka-lab"))
            .args(args)
            .env("RUST_BACKTRACE", "1")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
        assert!(!stderr.contains("backtrace"), "{args:?}: {stderr}");
    }
}
