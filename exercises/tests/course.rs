//! The cluster labs (course modules 2 and 4) end to end against the real broker binary: each
//! checker fails on a fresh broker with the precise message, the reference solution makes it
//! pass, and a broken variant — made with real clients, as a learner would break it — is
//! reported exactly. Plus what every exercise's steps share: both languages, same commands.

use std::process::Child;
use std::time::Duration;

use kafka_lab_admin::configs::{ConfigOp, ConfigResourceType};
use kafka_lab_exercises::exercises::{consumer_groups, partitions};
use kafka_lab_exercises::member::Members;
use kafka_lab_exercises::{ClusterLab, Entry, Lang, Phase, Report};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

mod support;
use support::{assert_fails_mentioning, assert_fails_with, assert_passes};

/// One plain broker on a free port, as `kafka-lab up` runs one.
struct Broker {
    child: Child,
    lab: ClusterLab,
    _dir: tempfile::TempDir,
}

impl Broker {
    fn start() -> Broker {
        let dir = tempfile::tempdir().unwrap();
        let port = kafka_lab_testkit::free_port();
        let overrides = [
            format!("listeners=PLAINTEXT://127.0.0.1:{port}"),
            format!("log.dirs={}", dir.path().join("data").display()),
            "group.initial.rebalance.delay.ms=0".to_string(),
        ];
        let child =
            kafka_lab_testkit::spawn_broker(&overrides, &dir.path().join("broker.log"), port);
        let lab = ClusterLab::new(&format!("127.0.0.1:{port}"), "127.0.0.1:1");
        Broker { child, lab, _dir: dir }
    }

    fn check(&self, id: &str) -> Report {
        let Some((_, _, Entry::Cluster(exercise))) = kafka_lab_exercises::find_any(id) else {
            panic!("no cluster exercise {id}")
        };
        let report = (exercise.check)(&self.lab);
        eprintln!("---- check {id} ----\n{report}");
        report
    }

    fn solve(&self, id: &str) {
        let Some((_, _, Entry::Cluster(exercise))) = kafka_lab_exercises::find_any(id) else {
            panic!("no cluster exercise {id}")
        };
        for action in (exercise.solve)(&self.lab, Phase::Admin).unwrap().actions {
            eprintln!("  solve {id}: {action}");
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn lab_lists_every_module_in_course_order() {
    let ids: Vec<String> = kafka_lab_exercises::course()
        .iter()
        .map(|(m, n, e)| format!("{}.{n} {}", m.number, e.id()))
        .collect();
    assert_eq!(
        ids,
        [
            "2.1 partitions",
            "2.2 replication",
            "4.1 consumer-groups",
            "8.1 certificates",
            "8.2 tls-listener",
            "8.3 users",
            "8.4 acls",
            "8.5 quotas",
            "10.1 slow-consumer"
        ]
    );
    let list = kafka_lab_exercises::cli::list();
    assert!(list.starts_with("Module 2: Topics, partitions and replication"), "{list}");
    assert!(list.contains("  8.4   acls "), "{list}");
}

/// The fenced code blocks of a Markdown text, in order.
fn code_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            match current.take() {
                Some(lines) => blocks.push(lines.join("\n")),
                None => current = Some(Vec::new()),
            }
        } else if let Some(lines) = current.as_mut() {
            lines.push(line);
        }
    }
    assert!(current.is_none(), "an unclosed code block");
    blocks
}

#[test]
fn every_exercise_has_russian_steps_with_the_same_commands() {
    for (module, number, entry) in kafka_lab_exercises::course() {
        let (en, ru) = (entry.steps(Lang::En), entry.steps(Lang::Ru));
        assert_ne!(en, ru, "{}: the Russian steps are the English ones", entry.id());
        assert!(ru.contains("Упражнение"), "{}: not translated", entry.id());
        assert_eq!(code_blocks(en), code_blocks(ru), "{}: the code blocks differ", entry.id());
        let check = format!("kafka-lab lab check {}", entry.id());
        assert!(en.contains(&check) && ru.contains(&check), "{}", entry.id());
        if module.number != 8 {
            let heading = format!("# Exercise {}.{number} ", module.number);
            assert!(en.starts_with(&heading), "{}: {heading}", entry.id());
        }
    }
}

#[test]
fn partitions() {
    let broker = Broker::start();
    let bootstrap = broker.lab.bootstrap_servers.clone();
    assert_fails_with(
        &broker.check("partitions"),
        &format!(
            "topic orders does not exist: kafka-lab topics --bootstrap-server {bootstrap} --create --topic orders --partitions 6"
        ),
    );

    broker.solve("partitions");
    let report = broker.check("partitions");
    assert_passes(&report);
    assert!(report.mentions("each of the 5 keys stays in one partition (30 records"), "{report}");

    // Another retention: named with the command that sets the exercise's.
    let mut admin = broker.lab.admin().unwrap();
    let set = ConfigOp::Set("retention.ms".into(), "3600000".into());
    admin.incremental_alter_configs(ConfigResourceType::Topic, "orders", &[set]).unwrap().unwrap();
    assert_fails_with(
        &broker.check("partitions"),
        &format!(
            "topic orders has retention.ms=3600000, the exercise sets 86400000 (one day): {}",
            partitions::retention_command(&broker.lab)
        ),
    );
    let delete = ConfigOp::Delete("retention.ms".into());
    admin
        .incremental_alter_configs(ConfigResourceType::Topic, "orders", &[delete])
        .unwrap()
        .unwrap();
    assert_fails_mentioning(
        &broker.check("partitions"),
        "topic orders has no retention.ms of its own (the broker's 604800000 applies)",
    );

    // A producer that picks partitions itself: customer-1 lands in a second partition.
    let home = kafka_lab_exercises::client::read_topic(&broker.lab.access(), "orders")
        .unwrap()
        .iter()
        .find(|r| r.key.as_deref() == Some(b"customer-1"))
        .unwrap()
        .partition;
    let other = (home + 1) % 6;
    let producer: BaseProducer = broker.lab.access().config().create().unwrap();
    producer
        .send(BaseRecord::to("orders").key("customer-1").payload("stray").partition(other))
        .unwrap();
    producer.flush(Duration::from_secs(10)).unwrap();
    let report = broker.check("partitions");
    let (first, second) = if home < other { (home, other) } else { (other, home) };
    let counts = |p: i32| if p == home { 6 } else { 1 };
    assert_fails_mentioning(
        &report,
        &format!(
            "the records of key customer-1 are in 2 partitions ({} in partition {first}, {} in partition {second}), so their order is lost",
            counts(first),
            counts(second)
        ),
    );

    // The solution starts the topic afresh, as the message says.
    broker.solve("partitions");
    assert_passes(&broker.check("partitions"));

    // Too few partitions.
    admin.delete_topics(&["orders".into()]).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let new = kafka_lab_admin::topics::NewTopic {
        name: "orders".into(),
        partitions: Some(3),
        ..Default::default()
    };
    admin.create_topic(&new).unwrap().unwrap();
    let report = broker.check("partitions");
    assert_fails_mentioning(
        &report,
        "topic orders has 3 partitions, the exercise wants 6: kafka-lab topics",
    );
    assert_fails_mentioning(&report, "topic orders holds 0 keyed records with 0 distinct keys");
}

#[test]
fn consumer_groups() {
    let broker = Broker::start();
    let bootstrap = broker.lab.bootstrap_servers.clone();
    assert_fails_with(
        &broker.check("consumer-groups"),
        &format!(
            "topic clicks does not exist: kafka-lab topics --bootstrap-server {bootstrap} --create --topic clicks --partitions 6"
        ),
    );

    // Two members only, still running: three things to fix, each named.
    let new = kafka_lab_admin::topics::NewTopic {
        name: "clicks".into(),
        partitions: Some(6),
        ..Default::default()
    };
    broker.lab.admin().unwrap().create_topic(&new).unwrap().unwrap();
    let records: Vec<(String, String)> =
        (1..=60).map(|i| (format!("user-{}", i % 12), format!("click-{i}"))).collect();
    kafka_lab_exercises::client::produce_keyed(&broker.lab.access(), "clicks", &records, "all", 2)
        .unwrap();
    let access = broker.lab.access();
    let mut members = Members::start(&access, "clicks-app", "clicks", "member", 1, Duration::ZERO);
    std::thread::sleep(Duration::from_secs(2));
    members.add(&access, "clicks-app", "clicks", "member-2", Duration::ZERO);
    kafka_lab_testkit::wait_until(
        "both members commit everything",
        Duration::from_secs(30),
        || {
            let report = broker.check("consumer-groups");
            members.committed() >= 60
                && report.mentions("the members committed offsets on every partition")
                && report.mentions("at most 2, generation 2")
        },
    );
    let report = broker.check("consumer-groups");
    assert_fails_with(
        &report,
        &format!(
            "group clicks-app never had 3 members at once (at most 2, generation 2): start member 3 in another terminal while the others run: {}",
            consumer_groups::member_command(&broker.lab, 3)
        ),
    );
    assert!(
        report.mentions("the group rebalanced: 2 generations with members (generations 1–2)"),
        "{report}"
    );
    assert_fails_with(
        &report,
        "group clicks-app still has 2 members (Stable): Kafka resets the offsets of an inactive group only: stop every member (Ctrl-C in each terminal), then reset the offsets",
    );
    assert_fails_with(
        &report,
        &format!(
            "the offsets of partitions {} were not reset to the earliest after the members committed: {}",
            with_records(&broker),
            consumer_groups::reset_command(&broker.lab)
        ),
    );
    members.stop();

    broker.solve("consumer-groups");
    let report = broker.check("consumer-groups");
    assert_passes(&report);
    assert!(report.mentions("group clicks-app lags 60 records behind the log end now"), "{report}");

    // Re-reading after the reset keeps the exercise done.
    let members = Members::start(&access, "clicks-app", "clicks", "again", 1, Duration::ZERO);
    kafka_lab_testkit::wait_until("the re-read", Duration::from_secs(30), || {
        members.committed() >= 60
    });
    members.stop();
    assert_passes(&broker.check("consumer-groups"));
}

/// The partitions of `clicks` holding records, as the checker lists them: `0,2,3`.
fn with_records(broker: &Broker) -> String {
    let records = kafka_lab_exercises::client::read_topic(&broker.lab.access(), "clicks").unwrap();
    let partitions: std::collections::BTreeSet<i32> = records.iter().map(|r| r.partition).collect();
    partitions.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}
