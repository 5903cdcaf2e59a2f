//! `kafka-lab reassign-partitions` (kafka-reassign-partitions.sh) against three real broker
//! processes: --execute prints the rollback JSON and starts the move, --verify follows it to
//! "is completed.", --list shows nothing left; records written before the move are read back
//! from the new replica with kcat; --cancel with nothing active; Kafka's checks in its words.

mod local_cluster;

use std::process::Command;

use local_cluster::{cluster, eventually, kafka_lab, text};

fn reassign(bootstrap: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let mut all = vec!["reassign-partitions", "--bootstrap-server", bootstrap];
    all.extend(args);
    let output = kafka_lab(&all);
    let (stdout, stderr) = text(&output);
    (output.status.code(), stdout, stderr)
}

#[test]
fn the_tool_moves_a_partition_and_follows_it_to_completion() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = cluster(dir.path());
    let bootstrap = format!("127.0.0.1:{}", nodes[0].port);
    let broker_only = format!("127.0.0.1:{}", nodes[2].port);
    let create = |args: &[&str]| {
        let mut all = vec!["topics", "--bootstrap-server", &bootstrap, "--create"];
        all.extend(args);
        let output = kafka_lab(&all);
        (output.status.success(), text(&output))
    };
    eventually("three brokers", || create(&["--topic", "probe", "--replication-factor", "3"]));
    let (created, output) = create(&["--topic", "t", "--replica-assignment", "1:2"]);
    assert!(created, "{output:?}");
    // Ten records on partition 0 (kcat waits for acks=all by default: -X acks=-1).
    let mut kcat = Command::new("kcat")
        .args(["-b", &bootstrap, "-P", "-t", "t", "-p", "0", "-X", "acks=all"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("kcat");
    {
        use std::io::Write;
        let stdin = kcat.stdin.as_mut().unwrap();
        for i in 0..10 {
            writeln!(stdin, "record-{i}").unwrap();
        }
    }
    assert!(kcat.wait().unwrap().success());

    let json = dir.path().join("move.json");
    let write = |text: &str| std::fs::write(&json, text).unwrap();
    let file = json.display().to_string();

    // Kafka's checks.
    let (code, _, stderr) = reassign(&bootstrap, &["--execute"]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("Missing required argument \"[reassignment-json-file]\""), "{stderr}");
    write(r#"{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[3,9]}]}"#);
    let (code, _, stderr) = reassign(&bootstrap, &["--reassignment-json-file", &file, "--execute"]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("Unknown broker id 9"), "{stderr}");

    // KIP-860: --disallow-replication-factor-change refuses a plan that adds a replica, in
    // kafka-reassign-partitions.sh's words; only with --execute.
    write(r#"{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1,2,3]}]}"#);
    let guarded = ["--reassignment-json-file", &file, "--disallow-replication-factor-change"];
    let (code, _, stderr) = reassign(&bootstrap, &[&guarded[..], &["--execute"]].concat());
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains(
            "Error reassigning partition(s):\nt-0: The replication factor is changed from 2 to 3"
        ),
        "{stderr}"
    );
    let (code, _, stderr) = reassign(&bootstrap, &[&guarded[..], &["--verify"]].concat());
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains(
            "Option \"[disallow-replication-factor-change]\" can't be used with action \"[verify]\""
        ),
        "{stderr}"
    );

    let (code, stdout, _) = reassign(&bootstrap, &["--list"]);
    assert_eq!((code, stdout.as_str()), (Some(0), "No partition reassignments found.\n"));

    // [1, 2] → [3, 2], sent to a broker-only node.
    write(r#"{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[3,2]}]}"#);
    let (code, stdout, stderr) =
        reassign(&broker_only, &["--reassignment-json-file", &file, "--execute"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert_eq!(
        stdout,
        "Current partition replica assignment\n\n\
         {\"version\":1,\"partitions\":[{\"topic\":\"t\",\"partition\":0,\"replicas\":[1,2],\"log_dirs\":[\"any\",\"any\"]}]}\n\n\
         Save this to use as the --reassignment-json-file option during rollback\n\
         Successfully started partition reassignment for t-0\n"
    );
    eventually("the reassignment completes", || {
        let (code, stdout, _) =
            reassign(&bootstrap, &["--reassignment-json-file", &file, "--verify"]);
        let done =
            "Status of partition reassignment:\nReassignment of partition t-0 is completed.\n";
        (code == Some(0) && stdout == done, stdout)
    });
    let (_, stdout, _) = reassign(&bootstrap, &["--list"]);
    assert_eq!(stdout, "No partition reassignments found.\n");
    let (code, stdout, _) = reassign(&bootstrap, &["--reassignment-json-file", &file, "--cancel"]);
    assert_eq!(
        (code, stdout.as_str()),
        (Some(0), "None of the specified partition reassignments are active.\n")
    );

    // Every record, from the new replica set (node 3 leads now).
    let output = Command::new("kcat")
        .args(["-b", &broker_only, "-C", "-t", "t", "-p", "0", "-o", "beginning", "-e", "-q"])
        .output()
        .unwrap();
    let read: Vec<String> =
        String::from_utf8_lossy(&output.stdout).lines().map(str::to_owned).collect();
    let expected: Vec<String> = (0..10).map(|i| format!("record-{i}")).collect();
    assert_eq!(read, expected);

    // Back to [1, 2] is a reassignment like any other; verifying the old file now tells the
    // replica set differs.
    let back = dir.path().join("back.json");
    std::fs::write(
        &back,
        r#"{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1,2]}]}"#,
    )
    .unwrap();
    let back = back.display().to_string();
    let (code, _, stderr) = reassign(&bootstrap, &["--reassignment-json-file", &back, "--execute"]);
    assert_eq!(code, Some(0), "{stderr}");
    eventually("moved back", || {
        let (_, stdout, _) = reassign(&bootstrap, &["--reassignment-json-file", &file, "--verify"]);
        let differs = "There is no active reassignment of partition t-0, but replica set is 1,2 \
                       rather than 3,2.";
        (stdout.contains(differs), stdout)
    });
}
