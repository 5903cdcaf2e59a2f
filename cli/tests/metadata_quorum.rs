//! `kafka-lab metadata-quorum` (kafka-metadata-quorum.sh) against a three-node cluster of real
//! broker processes — node 1 the quorum's one voter, nodes 2 and 3 brokers following the
//! metadata log as observers: `describe --status` and `describe --replication` as Kafka's tool
//! prints them, from the controller and through a broker (forwarded); a restart of
//! the controller is a new quorum epoch.

mod local_cluster;

use local_cluster::{cluster, eventually, kafka_lab, text};

fn describe(flag: &str, bootstrap: &[&str]) -> (bool, String, String) {
    let mut args = vec!["metadata-quorum"];
    args.extend(bootstrap);
    args.extend(["describe", flag]);
    let output = kafka_lab(&args);
    let (stdout, stderr) = text(&output);
    (output.status.success(), stdout, stderr)
}

/// The value after `name:` in `--status` output.
fn field(status: &str, name: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')))
        .map(|v| v.trim().to_owned())
        .unwrap_or_default()
}

#[test]
fn the_tool_describes_the_quorum_as_kafkas_tool_does() {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = cluster(dir.path());
    let controller = format!("127.0.0.1:{}", nodes[0].port);
    let broker_only = format!("127.0.0.1:{}", nodes[2].port);

    // Both brokers fetched the metadata log and caught up: observers with no lag.
    eventually("observers 2 and 3 caught up", || {
        let (ok, stdout, stderr) = describe("--replication", &["--bootstrap-server", &controller]);
        let rows: Vec<Vec<String>> = stdout
            .lines()
            .skip(1)
            .map(|l| l.split('\t').map(|c| c.trim().to_owned()).collect())
            .collect();
        let summary: Vec<(String, String, String)> =
            rows.iter().map(|r| (r[0].clone(), r[3].clone(), r[6].clone())).collect();
        let want = [("1", "0", "Leader"), ("2", "0", "Observer"), ("3", "0", "Observer")];
        let mut sorted = summary.clone();
        sorted[1..].sort();
        let same = ok
            && sorted.len() == 3
            && sorted
                .iter()
                .zip(want)
                .all(|(s, w)| (s.0.as_str(), s.1.as_str(), s.2.as_str()) == w);
        (same, (summary, stderr))
    });

    let (ok, status, stderr) = describe("--status", &["--bootstrap-server", &broker_only]);
    assert!(ok, "{stderr}");
    assert_eq!(field(&status, "LeaderId"), "1", "{status}");
    let epoch: i32 = field(&status, "LeaderEpoch").parse().unwrap();
    assert!(field(&status, "HighWatermark").parse::<i64>().unwrap() > 0, "{status}");
    assert_eq!(field(&status, "MaxFollowerLag"), "0", "{status}");
    assert!(
        field(&status, "CurrentVoters").starts_with(
            r#"[{"id": 1, "directoryId": null, "endpoints": ["CONTROLLER://127.0.0.1:"#
        ),
        "{status}"
    );
    assert_eq!(
        field(&status, "CurrentObservers"),
        r#"[{"id": 2, "directoryId": null}, {"id": 3, "directoryId": null}]"#
    );
    assert!(!field(&status, "ClusterId").is_empty(), "{status}");

    // A restarted controller stands again: a new epoch.
    nodes[0].kill();
    nodes[0].start_again();
    eventually("a new quorum epoch after the restart", || {
        let (ok, status, stderr) = describe("--status", &["--bootstrap-server", &controller]);
        let now: i32 = field(&status, "LeaderEpoch").parse().unwrap_or(-1);
        (ok && now > epoch, (status, stderr))
    });

    // Misuse is refused as Kafka's tool refuses it.
    let output = kafka_lab(&["metadata-quorum", "describe", "--status"]);
    assert!(!output.status.success());
    assert!(text(&output).1.contains("--bootstrap-server or --bootstrap-controller"));
}
