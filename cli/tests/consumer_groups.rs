//! `kafka-lab consumer-groups` (kafka-consumer-groups.sh) against the real broker binary with
//! real librdkafka consumers: a group with two live members (offsets and lag, members, state,
//! list, a reset refused as Kafka refuses it), then stopped (no active members, reset dry-run
//! vs execute — checked by where a new rdkafka member starts reading —, delete-offsets,
//! delete), every output line asserted exactly; Kafka's option checks; and the same tool over
//! SASL_SSL with SCRAM through `--command-config`.

use std::collections::BTreeSet;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use kafka_lab_testkit::free_port;
use kafka_lab_tls::{CertificateAuthority, CertificateRequest, KeyAlgorithm};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Message, Offset, TopicPartitionList};

const TOPIC: &str = "orders";
const GROUP: &str = "billing";
const PER_PARTITION: i64 = 10;
/// 2026-01-01T00:00:00.000Z, the first record's timestamp.
const FIRST_RECORD_MS: i64 = 1_767_225_600_000;

struct Broker {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Broker {
    fn start(overrides: &[String], dir: tempfile::TempDir, port: u16) -> Broker {
        let mut all = vec![format!("log.dirs={}", dir.path().join("data").display())];
        all.extend_from_slice(overrides);
        let child = kafka_lab_testkit::spawn_broker(&all, &dir.path().join("broker.log"), port);
        Broker { child, port, _dir: dir }
    }

    fn plaintext() -> Broker {
        let port = free_port();
        let listeners = format!("listeners=PLAINTEXT://127.0.0.1:{port}");
        Broker::start(&[listeners], tempfile::tempdir().unwrap(), port)
    }

    fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `kafka-lab <tool> --bootstrap-server … args`.
    fn run(&self, tool: &str, args: &[&str]) -> Output {
        let bootstrap = self.bootstrap();
        let mut all = vec![tool, "--bootstrap-server", &bootstrap];
        all.extend(args);
        Command::new(env!("CARGO_BIN_EXE_kafka-lab")).args(&all).output().unwrap()
    }

    /// stdout and stderr of a `consumer-groups` command that must exit with `code`.
    fn groups(&self, code: i32, args: &[&str]) -> (String, String) {
        let output = self.run("consumer-groups", args);
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert_eq!(
            output.status.code(),
            Some(code),
            "kafka-lab consumer-groups {args:?}:\n{stdout}\n{stderr}"
        );
        (stdout, stderr)
    }

    /// The stdout of a `consumer-groups` command that must succeed.
    fn ok(&self, args: &[&str]) -> String {
        self.groups(0, args).0
    }

    fn config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", self.bootstrap());
        config
    }

    /// A member of `GROUP` subscribed to `TOPIC`, committing only when told.
    fn consumer(&self, client_id: &str) -> BaseConsumer {
        let consumer: BaseConsumer = self
            .config()
            .set("group.id", GROUP)
            .set("client.id", client_id)
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false")
            .set("partition.assignment.strategy", "range")
            .set("session.timeout.ms", "6000")
            .set("heartbeat.interval.ms", "500")
            .create()
            .expect("consumer");
        consumer.subscribe(&[TOPIC]).unwrap();
        consumer
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls every consumer until each has partitions assigned; their assignments.
fn wait_for_assignments(consumers: &[&BaseConsumer]) -> Vec<Vec<i32>> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        for c in consumers {
            if let Some(Err(e)) = c.poll(Duration::from_millis(20)) {
                panic!("consumer error while joining: {e}");
            }
        }
        let assignments: Vec<Vec<i32>> = consumers
            .iter()
            .map(|c| {
                let mut ps: Vec<i32> =
                    c.assignment().unwrap().elements().iter().map(|e| e.partition()).collect();
                ps.sort();
                ps
            })
            .collect();
        let all: BTreeSet<i32> = assignments.iter().flatten().copied().collect();
        if assignments.iter().all(|a| !a.is_empty()) && all.len() == 3 {
            return assignments;
        }
        assert!(Instant::now() < deadline, "no complete assignment: {assignments:?}");
    }
}

/// The committed offset the test gives partition `p` while the members run.
fn committed(p: i32) -> i64 {
    3 + p as i64
}

/// Kafka's offsets row (`%-15s %-15s %-10s %-15s %-15s %-15s %-Ns %-15s %s`).
fn offsets_row(
    p: i32,
    offset: i64,
    consumer: &str,
    width: usize,
    host: &str,
    client: &str,
) -> String {
    let (end, lag) = (PER_PARTITION.to_string(), (PER_PARTITION - offset).to_string());
    format!(
        "{GROUP:<15} {TOPIC:<15} {p:<10} {offset:<15} {end:<15} {lag:<15} {consumer:<width$} {host:<15} {client}"
    )
}

#[test]
fn live_then_stopped_group_described_reset_and_deleted() {
    let broker = Broker::plaintext();
    let created = broker.run("topics", &["--create", "--topic", TOPIC, "--partitions", "3"]);
    assert!(created.status.success(), "{created:?}");
    let producer: BaseProducer = broker.config().create().unwrap();
    for p in 0..3 {
        for i in 0..PER_PARTITION {
            let payload = format!("p{p}-{i}");
            // One record a minute from FIRST_RECORD_MS, so --to-datetime has offsets to find.
            let record = BaseRecord::<(), _>::to(TOPIC)
                .partition(p)
                .payload(&payload)
                .timestamp(FIRST_RECORD_MS + i * 60_000);
            producer.send(record).unwrap();
        }
    }
    producer.flush(Duration::from_secs(30)).unwrap();

    // Two live members; each commits 3 + p for its partitions.
    let a = broker.consumer("member-a");
    let b = broker.consumer("member-b");
    let consumers = [&a, &b];
    let assignments = wait_for_assignments(&consumers);
    for (consumer, partitions) in consumers.iter().zip(&assignments) {
        let mut tpl = TopicPartitionList::new();
        for &p in partitions {
            tpl.add_partition_offset(TOPIC, p, Offset::Offset(committed(p))).unwrap();
        }
        consumer.commit(&tpl, CommitMode::Sync).unwrap();
    }
    let clients = ["member-a", "member-b"];

    // --members: the coordinator's member ids (librdkafka only echoes them), each
    // `<client.id>-<uuid>`, with the partition counts librdkafka was assigned.
    let members = broker.ok(&["--describe", "--group", GROUP, "--members"]);
    let listed: Vec<(String, String)> = members
        .lines()
        .skip(2)
        .map(|l| {
            let cells: Vec<&str> = l.split_whitespace().collect();
            (cells[1].to_owned(), cells[3].to_owned())
        })
        .collect();
    assert_eq!(listed.len(), 2, "{members}");
    let member_ids: Vec<String> = clients
        .iter()
        .map(|client| {
            let (id, _) = listed.iter().find(|(_, c)| c == client).expect("each client listed");
            assert!(id.starts_with(&format!("{client}-")), "{id}");
            id.clone()
        })
        .collect();
    let width = member_ids.iter().map(String::len).max().unwrap().max(15);
    let mut expected = format!(
        "\n{:<15} {:<width$} {:<15} {:<15} {:<15} \n",
        "GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS"
    );
    let by_id: Vec<usize> = listed
        .iter()
        .map(|(_, client)| clients.iter().position(|c| c == client).unwrap())
        .collect();
    for &i in &by_id {
        let count = assignments[i].len();
        expected.push_str(&format!(
            "{GROUP:<15} {:<width$} {:<15} {:<15} {count:<15} \n",
            member_ids[i], "/127.0.0.1", clients[i]
        ));
    }
    assert_eq!(members, expected);

    // --describe: the member with more partitions first, each member's partitions in order.
    let (stdout, stderr) = broker.groups(0, &["--describe", "--group", GROUP]);
    assert_eq!(stderr, "");
    let mut order: Vec<usize> = vec![0, 1];
    order.sort_by_key(|&i| std::cmp::Reverse(assignments[i].len()));
    let mut expected = format!(
        "\n{:<15} {:<15} {:<10} {:<15} {:<15} {:<15} {:<width$} {:<15} {}\n",
        "GROUP",
        "TOPIC",
        "PARTITION",
        "CURRENT-OFFSET",
        "LOG-END-OFFSET",
        "LAG",
        "CONSUMER-ID",
        "HOST",
        "CLIENT-ID"
    );
    for &i in &order {
        for &p in &assignments[i] {
            let row = offsets_row(p, committed(p), &member_ids[i], width, "/127.0.0.1", clients[i]);
            expected.push_str(&format!("{row}\n"));
        }
    }
    assert_eq!(stdout, expected);
    // --offsets is the default sub-action.
    assert_eq!(broker.ok(&["--describe", "--group", GROUP, "--offsets"]), expected);

    let verbose = broker.ok(&["--describe", "--group", GROUP, "--members", "--verbose"]);
    let header = verbose.lines().nth(1).unwrap();
    assert!(
        header.ends_with(&format!(
            "#PARTITIONS     {:<15} {:<20} {:<15} {:<20}",
            "CURRENT-EPOCH", "CURRENT-ASSIGNMENT", "TARGET-EPOCH", "TARGET-ASSIGNMENT"
        )),
        "{verbose}"
    );
    for &i in &by_id {
        let partitions: Vec<String> = assignments[i].iter().map(i32::to_string).collect();
        let assignment = format!("{TOPIC}:{}", partitions.join(","));
        let line = verbose.lines().find(|l| l.contains(&member_ids[i])).unwrap();
        assert!(
            line.ends_with(&format!(" {:<15} {assignment:<20} {:<15} {:<20}", "-", "-", "-")),
            "{line:?}"
        );
    }

    // --state: the coordinator is this broker, node 1; range was chosen.
    let coordinator = format!("{}  (1)", broker.bootstrap());
    let cw = coordinator.len().max(25);
    let state = broker.ok(&["--describe", "--group", GROUP, "--state"]);
    assert_eq!(
        state,
        format!(
            "\n{:<15} {:<cw$} {:<20} {:<20} {}\n{GROUP:<15} {coordinator:<cw$} {:<20} {:<20} 2\n",
            "GROUP",
            "COORDINATOR (ID)",
            "ASSIGNMENT-STRATEGY",
            "STATE",
            "#MEMBERS",
            "range",
            "Stable"
        )
    );

    // --all-groups is every group: here the one.
    assert_eq!(broker.ok(&["--describe", "--all-groups", "--state"]), state);

    // --list, and --list --state as a table filtered by state.
    assert_eq!(broker.ok(&["--list"]), format!("{GROUP}\n"));
    let listed = broker.ok(&["--list", "--state"]);
    assert_eq!(listed, format!("{:<25} {:<20}\n{GROUP:<25} {:<20}\n", "GROUP", "STATE", "Stable"));
    assert_eq!(
        broker.ok(&["--list", "--state", "empty"]),
        format!("{:<25} {:<20}\n", "GROUP", "STATE")
    );
    let typed = broker.ok(&["--list", "--type", "--state", "Stable"]);
    assert_eq!(
        typed,
        format!(
            "{:<25} {:<20} {:<20}\n{GROUP:<25} {:<20} {:<20}\n",
            "GROUP", "TYPE", "STATE", "Classic", "Stable"
        )
    );

    // A reset of an active group is refused, its offsets untouched; exit status 1.
    let (refused, _) = broker.groups(
        1,
        &["--reset-offsets", "--group", GROUP, "--topic", TOPIC, "--to-earliest", "--execute"],
    );
    assert_eq!(
        refused,
        format!(
            "\nError: Assignments can only be reset if the group '{GROUP}' is inactive, but the \
             current state is Stable.\n\n{:<15} {:<15} {:<10} NEW-OFFSET\n",
            "GROUP", "TOPIC", "PARTITION"
        )
    );
    // delete-offsets and delete are refused too, with Kafka's messages.
    let (subscribed, _) =
        broker.groups(1, &["--delete-offsets", "--group", GROUP, "--topic", &format!("{TOPIC}:0")]);
    assert_eq!(
        subscribed,
        format!(
            "\nError: Encountered some partition-level error, see the follow-up details.\n\n\
             {:<15} {:<10} {:<15}\n{TOPIC:<15} {:<10} Error: org.apache.kafka.common.errors.GroupSubscribedToTopicException: \
             Deleting offsets of a topic is forbidden while the consumer group is actively subscribed to it.\n",
            "TOPIC", "PARTITION", "STATUS", 0
        )
    );
    let (not_empty, _) = broker.groups(1, &["--delete", "--group", GROUP]);
    assert_eq!(
        not_empty,
        format!(
            "\nError: Deletion of some consumer groups failed:\n* Group '{GROUP}' could not be deleted \
             due to: org.apache.kafka.common.errors.GroupNotEmptyException: The group is not empty.\n"
        )
    );
    assert_eq!(broker.ok(&["--describe", "--group", GROUP]).lines().count(), 5);

    // Stop the members: the group is Empty, its offsets stay, without owners.
    drop(a);
    drop(b);
    kafka_lab_testkit::wait_until("the group to empty", Duration::from_secs(30), || {
        broker.ok(&["--list", "--state", "empty"]).contains(GROUP)
    });
    let (stdout, stderr) = broker.groups(0, &["--describe", "--group", GROUP]);
    assert_eq!(stderr, format!("\nConsumer group '{GROUP}' has no active members.\n"));
    let mut stopped = format!(
        "\n{:<15} {:<15} {:<10} {:<15} {:<15} {:<15} {:<15} {:<15} {}\n",
        "GROUP",
        "TOPIC",
        "PARTITION",
        "CURRENT-OFFSET",
        "LOG-END-OFFSET",
        "LAG",
        "CONSUMER-ID",
        "HOST",
        "CLIENT-ID"
    );
    for p in 0..3 {
        stopped.push_str(&format!("{}\n", offsets_row(p, committed(p), "-", 15, "-", "-")));
    }
    assert_eq!(stdout, stopped);
    // --verbose adds LEADER-EPOCH (none committed here).
    let (verbose, _) = broker.groups(0, &["--describe", "--group", GROUP, "--verbose"]);
    let lines: Vec<&str> = verbose.lines().collect();
    assert_eq!(
        lines[1],
        format!(
            "{:<15} {:<15} {:<10} {:<15} {:<15} {:<15} {:<15} {:<15} {:<15} {}",
            "GROUP",
            "TOPIC",
            "PARTITION",
            "LEADER-EPOCH",
            "CURRENT-OFFSET",
            "LOG-END-OFFSET",
            "LAG",
            "CONSUMER-ID",
            "HOST",
            "CLIENT-ID"
        )
    );
    assert_eq!(
        lines[2],
        format!("{GROUP:<15} {TOPIC:<15} {:<10} {:<15} {:<15} {PER_PARTITION:<15} {:<15} {:<15} {:<15} -", 0, "-", committed(0), PER_PARTITION - committed(0), "-", "-")
    );
    let (members, _) = broker.groups(0, &["--describe", "--group", GROUP, "--members"]);
    assert_eq!(
        members,
        format!(
            "\n{:<15} {:<15} {:<15} {:<15} {:<15} \n",
            "GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS"
        )
    );
    let state = broker.ok(&["--describe", "--group", GROUP, "--state"]);
    assert!(state.ends_with(&format!(" {:<20} {:<20} 0\n", "-", "Empty")), "{state:?}");

    // --reset-offsets: a dry run (the default, with Kafka's warning) changes nothing.
    let plan = |offsets: [i64; 3]| {
        let mut text = format!("\n{:<15} {:<15} {:<10} NEW-OFFSET", "GROUP", "TOPIC", "PARTITION");
        for (p, offset) in offsets.iter().enumerate() {
            text.push_str(&format!("\n{GROUP:<15} {TOPIC:<15} {p:<10} {offset}"));
        }
        text + "\n"
    };
    let (dry, warning) =
        broker.groups(0, &["--reset-offsets", "--group", GROUP, "--topic", TOPIC, "--to-earliest"]);
    assert_eq!(dry, plan([0, 0, 0]));
    assert!(
        warning
            .starts_with("WARN: No action will be performed as the --execute option is missing."),
        "{warning}"
    );
    assert_eq!(
        broker.ok(&[
            "--reset-offsets",
            "--group",
            GROUP,
            "--all-topics",
            "--to-latest",
            "--dry-run"
        ]),
        plan([10, 10, 10])
    );
    assert_eq!(broker.groups(0, &["--describe", "--group", GROUP]).0, stopped);

    // --execute commits them.
    let executed = broker.ok(&[
        "--reset-offsets",
        "--group",
        GROUP,
        "--topic",
        TOPIC,
        "--to-earliest",
        "--execute",
    ]);
    assert_eq!(executed, plan([0, 0, 0]));
    let (stdout, _) = broker.groups(0, &["--describe", "--group", GROUP]);
    for p in 0..3 {
        assert!(stdout.contains(&offsets_row(p, 0, "-", 15, "-", "-")), "{stdout}");
    }
    // --shift-by on chosen partitions; --to-offset beyond the log end is moved to it.
    let shifted = broker.ok(&[
        "--reset-offsets",
        "--group",
        GROUP,
        "--topic",
        &format!("{TOPIC}:1"),
        "--shift-by",
        "4",
        "--execute",
    ]);
    assert_eq!(
        shifted,
        format!(
            "\n{:<15} {:<15} {:<10} NEW-OFFSET\n{GROUP:<15} {TOPIC:<15} {:<10} 4\n",
            "GROUP", "TOPIC", "PARTITION", 1
        )
    );
    let (beyond, warning) = broker.groups(
        0,
        &[
            "--reset-offsets",
            "--group",
            GROUP,
            "--topic",
            &format!("{TOPIC}:2"),
            "--to-offset",
            "99",
            "--execute",
        ],
    );
    assert!(beyond.ends_with(&format!("{GROUP:<15} {TOPIC:<15} {:<10} 10\n", 2)), "{beyond}");
    assert_eq!(
        warning,
        format!("WARN New offset (99) is higher than latest offset for topic partition {TOPIC}-2. Value will be set to 10\n")
    );
    // A time in the future finds no record: Kafka falls back to the log end.
    let (future, _) = broker.groups(
        0,
        &[
            "--reset-offsets",
            "--group",
            GROUP,
            "--topic",
            &format!("{TOPIC}:0"),
            "--to-datetime",
            "2999-01-01T00:00:00.000",
            "--dry-run",
        ],
    );
    assert_eq!(
        future,
        format!(
            "\nWarn: Partition 0 from topic {TOPIC} is empty. Falling back to latest known offset.\n\n\
             {:<15} {:<15} {:<10} NEW-OFFSET\n{GROUP:<15} {TOPIC:<15} {:<10} 10\n",
            "GROUP", "TOPIC", "PARTITION", 0
        )
    );
    // The first record at or after a time: 00:04:30 UTC is offset 5; 02:04 at +02:00 is 4.
    let at = |datetime: &str| {
        let args = [
            "--reset-offsets",
            "--group",
            GROUP,
            "--all-topics",
            "--to-datetime",
            datetime,
            "--dry-run",
        ];
        broker.ok(&args)
    };
    assert_eq!(at("2026-01-01T00:04:30.000"), plan([5, 5, 5]));
    assert_eq!(at("2026-01-01T02:04:00.000+02:00"), plan([4, 4, 4]));
    // A century back reaches before every record.
    let (day, _) = broker.groups(
        0,
        &[
            "--reset-offsets",
            "--group",
            GROUP,
            "--all-topics",
            "--by-duration",
            "P36500D",
            "--dry-run",
        ],
    );
    assert_eq!(day, plan([0, 0, 0]));
    let (unknown, _) = broker.groups(
        1,
        &[
            "--reset-offsets",
            "--group",
            GROUP,
            "--topic",
            &format!("{TOPIC}:7"),
            "--to-earliest",
            "--dry-run",
        ],
    );
    assert_eq!(
        unknown,
        format!("\nError: Executing consumer group command failed due to The partitions \"{TOPIC}-7\" do not exist\n")
    );

    // A new member of the group starts where the reset put it: 0, 4 and 10 (nothing left).
    let reader = broker.consumer("reader");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut first = std::collections::BTreeMap::new();
    while first.len() < 2 {
        assert!(Instant::now() < deadline, "read only {first:?}");
        if let Some(message) = reader.poll(Duration::from_millis(100)) {
            let m = message.unwrap();
            first.entry(m.partition()).or_insert(m.offset());
        }
    }
    assert_eq!(first, [(0, 0), (1, 4)].into());
    drop(reader);
    kafka_lab_testkit::wait_until("the group to empty again", Duration::from_secs(30), || {
        broker.ok(&["--list", "--state", "empty"]).contains(GROUP)
    });

    // --export writes the plan as CSV; --from-file applies one (an offset beyond the log end
    // moved to it, as for --to-offset).
    let exported = broker.ok(&[
        "--reset-offsets",
        "--group",
        GROUP,
        "--all-topics",
        "--to-offset",
        "6",
        "--export",
        "--dry-run",
    ]);
    assert_eq!(exported, format!("{TOPIC},0,6\n{TOPIC},1,6\n{TOPIC},2,6\n\n"));
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        file.path(),
        exported.replace(&format!("{TOPIC},2,6"), &format!("{TOPIC},2,99")),
    )
    .unwrap();
    let path = file.path().display().to_string();
    let (applied, warning) =
        broker.groups(0, &["--reset-offsets", "--group", GROUP, "--from-file", &path, "--execute"]);
    assert_eq!(applied, plan([6, 6, 10]));
    assert!(
        warning.contains(&format!(
            "New offset (99) is higher than latest offset for topic partition {TOPIC}-2"
        )),
        "{warning}"
    );
    let (stdout, _) = broker.groups(0, &["--describe", "--group", GROUP]);
    for (p, offset) in [(0, 6), (1, 6), (2, 10)] {
        assert!(stdout.contains(&offsets_row(p, offset, "-", 15, "-", "-")), "{stdout}");
    }

    // --delete-offsets of one partition, then --delete of the group.
    let deleted =
        broker.ok(&["--delete-offsets", "--group", GROUP, "--topic", &format!("{TOPIC}:0")]);
    assert_eq!(
        deleted,
        format!(
            "Request succeeded for deleting offsets from group {GROUP}.\n\n{:<15} {:<10} {:<15}\n{TOPIC:<15} {:<10} {:<15}\n",
            "TOPIC", "PARTITION", "STATUS", 0, "Successful"
        )
    );
    let (stdout, _) = broker.groups(0, &["--describe", "--group", GROUP]);
    assert!(!stdout.contains(&format!("{TOPIC:<15} {:<10} ", 0)), "{stdout}");
    assert_eq!(
        broker.ok(&["--delete", "--group", GROUP]),
        format!("Deletion of requested consumer groups ('{GROUP}') was successful.\n")
    );
    assert_eq!(broker.ok(&["--list"]), "");
    // Kafka's tool exits 0 here; this one 1, as for every error it prints.
    assert_eq!(
        broker.groups(1, &["--describe", "--group", GROUP]).0,
        format!("\nError: Consumer group '{GROUP}' does not exist.\n")
    );
    let (members, _) = broker.groups(1, &["--describe", "--group", GROUP, "--members"]);
    assert_eq!(
        members,
        format!(
            "\nError: Consumer group '{GROUP}' does not exist.\n\n{:<15} {:<15} {:<15} {:<15} {:<15} \n",
            "GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS"
        )
    );
    let (missing, _) = broker.groups(1, &["--delete", "--group", GROUP]);
    assert_eq!(
        missing,
        format!(
            "\nError: Deletion of some consumer groups failed:\n* Group '{GROUP}' could not be deleted \
             due to: org.apache.kafka.common.errors.GroupIdNotFoundException: The group id does not exist.\n"
        )
    );
}

#[test]
fn options_are_checked_before_connecting() {
    let run = |args: &[&str]| {
        let mut all = vec!["consumer-groups", "--bootstrap-server", "127.0.0.1:9"];
        all.extend(args);
        let output = Command::new(env!("CARGO_BIN_EXE_kafka-lab")).args(&all).output().unwrap();
        assert_eq!(output.status.code(), Some(1), "{args:?}: {output:?}");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    // Port 9 (discard) is never a broker: each must fail on its options alone.
    for (args, message) in [
        (&["--list", "--describe"][..], "Command must include exactly one action: --list, --describe, --delete, --reset-offsets, --delete-offsets"),
        (&["--describe"][..], "Option [describe] takes one of these options: [group], [all-groups]"),
        (&["--describe", "--group", "g", "--members", "--state"][..], "Option [describe] takes at most one of these options: [members], [offsets], [state]"),
        (&["--describe", "--group", "g", "--state", "stable"][..], "Option [describe] does not take a value for [state]"),
        (&["--delete", "--group", "g", "--topic", "t"][..], "The consumer does not support topic-specific offset deletion from a consumer group."),
        (&["--delete-offsets", "--group", "g"][..], "Option [delete-offsets] takes the following options: [group], [topic]"),
        (&["--reset-offsets", "--group", "g", "--topic", "t", "--to-earliest", "--dry-run", "--execute"][..], "Option [reset-offsets] only accepts one of [execute] and [dry-run]"),
        (&["--reset-offsets", "--group", "g", "--topic", "t", "--to-earliest", "--to-latest"][..], "Option \"[to-earliest]\" can't be used with option \"[to-latest]\""),
        (&["--reset-offsets", "--group", "g", "--to-earliest"][..], "One of the reset scopes should be defined: --all-topics, --topic."),
        (&["--reset-offsets", "--group", "g", "--topic", "t", "--by-duration", "15m"][..], "Text cannot be parsed to a Duration"),
        (&["--reset-offsets", "--group", "g", "--topic", "t", "--to-datetime", "2026-01-01T00:00:00"][..], "Unparseable date: \"2026-01-01T00:00:00\""),
        (&["--list", "--group", "g"][..], "Option \"[group]\" can't be used with option \"[list]\""),
        (&["--describe", "--group", "g", "--all-groups"][..], "Option \"[group]\" can't be used with option \"[all-groups]\""),
        (&["--list", "--members"][..], "Option(s) [members] are unavailable given other options on the command line"),
        (&["--list", "--state", "idle"][..], "Invalid state list 'idle'. Valid states are: PreparingRebalance, CompletingRebalance, Stable, Dead, Empty, Assigning, Reconciling"),
    ] {
        let stderr = run(args);
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
    let help = Command::new(env!("CARGO_BIN_EXE_kafka-lab"))
        .args(["consumer-groups", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for option in [
        "--bootstrap-server",
        "--command-config",
        "--reset-offsets",
        "--to-datetime",
        "--by-duration",
        "--shift-by",
        "--delete-offsets",
        "--all-groups",
        "--members",
        "--verbose",
    ] {
        assert!(help.contains(option), "{option} missing from:\n{help}");
    }
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
    let config = dir.path().join("admin.properties");
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
    let port = free_port();
    let overrides = [
        format!("listeners=SASL_SSL://127.0.0.1:{port}"),
        format!("ssl.keystore.location={}", certs.join("broker.p12").display()),
        format!("ssl.keystore.password={PASSWORD}"),
        "sasl.scram.users=['SCRAM-SHA-512=[name=admin,password=admin-secret]']".into(),
    ];
    let config = config.display().to_string();
    let broker = Broker::start(&overrides, dir, port);
    // A group made by the tool itself: a reset of an unknown group commits its offsets.
    let created =
        broker.run("topics", &["--command-config", &config, "--create", "--topic", TOPIC]);
    assert!(created.status.success(), "{created:?}");
    let (reset, _) = broker.groups(
        0,
        &[
            "--command-config",
            &config,
            "--reset-offsets",
            "--group",
            GROUP,
            "--topic",
            TOPIC,
            "--to-latest",
            "--execute",
        ],
    );
    assert_eq!(
        reset,
        format!(
            "\n{:<15} {:<15} {:<10} NEW-OFFSET\n{GROUP:<15} {TOPIC:<15} {:<10} 0\n",
            "GROUP", "TOPIC", "PARTITION", 0
        )
    );
    let (listed, _) = broker.groups(0, &["--command-config", &config, "--list"]);
    assert_eq!(listed, format!("{GROUP}\n"));
    // --group is repeatable: one table per group, in group order.
    let audit = [
        "--command-config",
        &config,
        "--reset-offsets",
        "--group",
        "audit",
        "--topic",
        TOPIC,
        "--to-earliest",
        "--execute",
    ];
    let plan = broker.groups(0, &audit).0;
    assert!(plan.ends_with(&format!("\naudit           {TOPIC:<15} {:<10} 0\n", 0)), "{plan}");
    let (both, stderr) = broker.groups(
        0,
        &[
            "--command-config",
            &config,
            "--describe",
            "--group",
            GROUP,
            "--group",
            "audit",
            "--group",
            GROUP,
        ],
    );
    assert_eq!(stderr, format!("\nConsumer group 'audit' has no active members.\n\nConsumer group '{GROUP}' has no active members.\n"));
    let row = |group: &str| {
        format!(
            "{group:<15} {TOPIC:<15} {:<10} {:<15} {:<15} {:<15} {:<15} {:<15} -",
            0, 0, 0, 0, "-", "-"
        )
    };
    assert_eq!(both.lines().filter(|l| l.starts_with("GROUP ")).count(), 2, "{both}");
    assert_eq!(
        both.lines().filter(|l| l.contains(" orders ")).collect::<Vec<_>>(),
        [row("audit"), row(GROUP)],
        "{both}"
    );
    let (state, _) =
        broker.groups(0, &["--command-config", &config, "--describe", "--group", GROUP, "--state"]);
    assert!(state.contains(&format!("127.0.0.1:{port}  (1)")), "{state}");
    // Without the properties the TLS listener does not answer Kafka requests.
    let (failed, _) = broker.groups(1, &["--list"]);
    assert!(
        failed.starts_with("\nError: Executing consumer group command failed due to "),
        "{failed}"
    );
}
