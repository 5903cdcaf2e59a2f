//! `kafka-lab leader-election` (kafka-leader-election.sh) against a three-node cluster of real
//! broker processes: Kafka's option checks, "Valid replica already elected", the preferred
//! leader killed and restarted then elected again ("Successfully completed leader election"),
//! the JSON file, and a failed partition ("Error completing leader election …", exit 1).

mod local_cluster;

use local_cluster::{cluster, eventually, kafka_lab, text};

/// `kafka-lab leader-election --bootstrap-server … args`: (exit code, stdout, stderr).
fn elect(bootstrap: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let mut all = vec!["leader-election", "--bootstrap-server", bootstrap];
    all.extend(args);
    let output = kafka_lab(&all);
    let (stdout, stderr) = text(&output);
    (output.status.code(), stdout, stderr)
}

/// Partition 0's "Leader: N" and "Isr: …" (sorted) from `kafka-lab topics --describe`.
fn leader_and_isr(bootstrap: &str) -> (String, String) {
    let output =
        kafka_lab(&["topics", "--bootstrap-server", bootstrap, "--describe", "--topic", "t"]);
    let (stdout, _) = text(&output);
    let line = stdout.lines().find(|l| l.contains("Partition: 0\t")).unwrap_or_default().to_owned();
    let field = |name: &str| {
        line.split('\t')
            .find_map(|f| f.trim().strip_prefix(name).map(str::to_owned))
            .unwrap_or_default()
    };
    let mut isr: Vec<i32> = field("Isr: ").split(',').filter_map(|r| r.parse().ok()).collect();
    isr.sort();
    let isr: Vec<String> = isr.iter().map(i32::to_string).collect();
    (field("Leader: "), isr.join(","))
}

/// Waits until partition 0's leader and ISR are `leader` and `isr`.
fn wait_for(bootstrap: &str, what: &str, leader: &str, isr: &str) {
    eventually(what, || {
        let seen = leader_and_isr(bootstrap);
        (seen.0 == leader && seen.1 == isr, seen)
    });
}

#[test]
fn the_tool_elects_preferred_leaders_as_kafkas_tool_does() {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = cluster(dir.path());
    let bootstrap = format!("127.0.0.1:{}", nodes[0].port);
    let broker_only = format!("127.0.0.1:{}", nodes[2].port);
    // Three unfenced brokers first, so that every replica of `t` starts in the ISR and its
    // preferred replica leads: a replica joins an ISR only once its broker is unfenced.
    let create = |args: &[&str]| {
        let mut all = vec!["topics", "--bootstrap-server", &bootstrap, "--create"];
        all.extend(args);
        let output = kafka_lab(&all);
        (output.status.success(), text(&output))
    };
    eventually("probe created", || create(&["--topic", "probe", "--replication-factor", "3"]));
    eventually("three brokers in probe's ISR", || {
        let args = ["topics", "--bootstrap-server", &bootstrap, "--describe", "--topic", "probe"];
        let (stdout, _) = text(&kafka_lab(&args));
        let isr = stdout.split("Isr: ").nth(1).and_then(|rest| rest.split('\t').next());
        (isr.is_some_and(|isr| isr.split(',').count() == 3), stdout)
    });
    let (created, output) = create(&["--topic", "t", "--replica-assignment", "2:1:3,1:2:3"]);
    assert!(created, "{output:?}");

    // Kafka's checks, before connecting.
    let (code, _, stderr) = elect(&bootstrap, &["--all-topic-partitions"]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("Missing required option(s): election-type"), "{stderr}");
    let (code, _, stderr) = elect(
        &bootstrap,
        &["--election-type", "preferred", "--topic", "t", "--all-topic-partitions"],
    );
    assert_eq!(code, Some(1));
    assert!(stderr.contains("One and only one of the following options is required"), "{stderr}");

    wait_for(&bootstrap, "every replica in sync", "2", "1,2,3");
    let (code, stdout, stderr) =
        elect(&broker_only, &["--election-type", "PREFERRED", "--topic", "t", "--partition", "0"]);
    assert_eq!(
        (code, stdout.as_str()),
        (Some(0), "Valid replica already elected for partitions t-0\n"),
        "{stderr}"
    );

    // The preferred leader dies: node 1 leads; while node 2 is away, no preferred election.
    nodes[1].kill();
    wait_for(&bootstrap, "node 1 leads partition 0", "1", "1,3");
    let (code, stdout, stderr) =
        elect(&bootstrap, &["--election-type", "PREFERRED", "--topic", "t", "--partition", "0"]);
    assert_eq!(code, Some(1));
    assert_eq!(
        stdout,
        "Error completing leader election (PREFERRED) for partition: t-0: \
         org.apache.kafka.common.errors.PreferredLeaderNotAvailableException: The preferred \
         leader was not available.\n"
    );
    assert!(stderr.contains("1 replica(s) could not be elected"), "{stderr}");

    // Back and in sync: the tool moves the leadership back (through a broker-only node).
    nodes[1].start_again();
    wait_for(&bootstrap, "node 2 back in the ISR", "1", "1,2,3");
    let json = dir.path().join("elect.json");
    std::fs::write(
        &json,
        r#"{"partitions": [{"topic": "t", "partition": 0}, {"topic": "t", "partition": 1}]}"#,
    )
    .unwrap();
    let json = json.display().to_string();
    let (code, stdout, stderr) =
        elect(&broker_only, &["--election-type", "preferred", "--path-to-json-file", &json]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert_eq!(
        stdout,
        "Successfully completed leader election (PREFERRED) for partitions t-0\n\
         Valid replica already elected for partitions t-1\n"
    );
    wait_for(&bootstrap, "node 2 leads partition 0", "2", "1,2,3");

    // UNCLEAN on partitions with a leader; an unknown partition fails.
    let (code, stdout, _) =
        elect(&bootstrap, &["--election-type", "unclean", "--topic", "t", "--partition", "1"]);
    assert_eq!(
        (code, stdout.as_str()),
        (Some(0), "Valid replica already elected for partitions t-1\n")
    );
    let (code, stdout, _) =
        elect(&bootstrap, &["--election-type", "PREFERRED", "--topic", "t", "--partition", "5"]);
    assert_eq!(code, Some(1));
    assert_eq!(
        stdout,
        "Error completing leader election (PREFERRED) for partition: t-5: \
         org.apache.kafka.common.errors.UnknownTopicOrPartitionException: No such partition as \
         t-5\n"
    );
}
