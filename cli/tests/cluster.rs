//! `kafka-lab cluster` as a learner drives it: `up` in one terminal, `status`, `kill`, `start`
//! and `stop` from another, against real node processes.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn kafka_lab(dir: &Path, args: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_kafka-lab"))
        .arg("cluster")
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .output()
        .expect("running kafka-lab");
    let text = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

/// `count` consecutive ports nothing listens on.
fn free_ports(count: u16) -> u16 {
    let mut base = kafka_lab_testkit::free_port();
    loop {
        if base < 60_000 && (0..count).all(|i| TcpListener::bind(("127.0.0.1", base + i)).is_ok()) {
            return base;
        }
        base = kafka_lab_testkit::free_port();
    }
}

fn eventually(what: &str, dir: &Path, mut check: impl FnMut(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, status) = kafka_lab(dir, &["status"]);
        if check(&status) {
            return status;
        }
        assert!(Instant::now() < deadline, "{what}; status:\n{status}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The `status` row of node `id`.
fn row(status: &str, id: i32) -> String {
    status.lines().find(|l| l.starts_with(&format!("{id} "))).unwrap_or_default().to_owned()
}

struct Up(Child);

impl Drop for Up {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.0.id().to_string()).stderr(Stdio::null()).status();
        let _ = self.0.wait();
    }
}

/// `kafka-lab cluster up` with `args` in `dir`, on ports from `base` and metrics ports from
/// `metrics`, once it printed its bootstrap list: the process, its stdout still read, and
/// the list.
fn up(
    dir: &Path,
    args: &[&str],
    base: u16,
    metrics: u16,
) -> (Up, std::io::Lines<BufReader<std::process::ChildStdout>>, String) {
    let mut up = Up(Command::new(env!("CARGO_BIN_EXE_kafka-lab"))
        .arg("cluster")
        .arg("--data-dir")
        .arg(dir)
        .arg("up")
        .args(args)
        .args(["--exporter-listen", "none"])
        .args(["--base-port", &base.to_string(), "--metrics-base-port", &(metrics - 1).to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap());
    let mut lines = BufReader::new(up.0.stdout.take().unwrap()).lines();
    let bootstrap = loop {
        let line = lines.next().expect("`up` ended before the cluster was up").unwrap();
        if let Some(list) = line.trim().strip_prefix("bootstrap servers") {
            break list.trim().to_owned();
        }
    };
    (up, lines, bootstrap)
}

#[test]
fn a_local_cluster_comes_up_fails_over_by_hand_and_stops() {
    let dir = tempfile::tempdir().unwrap();
    let base = free_ports(4);
    let metrics = free_ports(4);
    let (mut up, _lines, bootstrap) = up(dir.path(), &["--brokers", "3"], base, metrics);
    let expected: Vec<String> = (0..3).map(|i| format!("127.0.0.1:{}", base + i)).collect();
    assert_eq!(bootstrap, expected.join(","));

    let status = eventually("every node listed", dir.path(), |s| {
        (1..=3).all(|id| row(s, id).ends_with("yes"))
    });
    assert!(row(&status, 1).contains("broker,controller"), "{status}");
    assert!(status.contains("under-replicated partitions: 0"), "{status}");

    // A crash: the process is gone at once, the cluster fences it within its session timeout.
    let (ok, out) = kafka_lab(dir.path(), &["kill", "2"]);
    assert!(ok, "{out}");
    eventually("node 2 fenced", dir.path(), |s| {
        row(s, 2).contains("stopped") && row(s, 2).ends_with("no (fenced)")
    });
    let (ok, out) = kafka_lab(dir.path(), &["kill", "2"]);
    assert!(!ok && out.contains("node 2 is not running"), "{out}");
    let (ok, out) = kafka_lab(dir.path(), &["start", "2"]);
    assert!(ok, "{out}");
    eventually("node 2 back", dir.path(), |s| row(s, 2).ends_with("yes"));

    // A controlled shutdown waits for the process to exit.
    let (ok, out) = kafka_lab(dir.path(), &["stop", "3"]);
    assert!(ok && out.contains("node 3 stopped"), "{out}");
    let (_, status) = kafka_lab(dir.path(), &["status"]);
    assert!(row(&status, 3).contains("stopped"), "{status}");
    let (ok, out) = kafka_lab(dir.path(), &["kill", "7"]);
    assert!(!ok && out.contains("no node 7"), "{out}");

    // Ctrl-C on `up` stops every node.
    Command::new("kill").args(["-INT", &up.0.id().to_string()]).status().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while up.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "`up` did not stop");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (_, status) = kafka_lab(dir.path(), &["status"]);
    assert!((1..=3).all(|id| row(&status, id).contains("stopped")), "{status}");
}

/// `kafka-lab metadata-quorum describe --status`'s `LeaderId`, asked through `flag`
/// (`--bootstrap-server` or `--bootstrap-controller`) `addresses`.
fn quorum_leader(flag: &str, addresses: &str) -> Option<i32> {
    let output = Command::new(env!("CARGO_BIN_EXE_kafka-lab"))
        .args(["metadata-quorum", flag, addresses, "describe", "--status"])
        .output()
        .expect("running kafka-lab");
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout.lines().find_map(|l| l.strip_prefix("LeaderId:")?.trim().parse().ok())
}

#[test]
fn three_dedicated_controllers_survive_the_loss_of_the_active_one() {
    let dir = tempfile::tempdir().unwrap();
    let base = free_ports(6);
    let metrics = free_ports(7);
    let (up, lines, bootstrap) =
        up(dir.path(), &["--controllers", "3", "--brokers", "3"], base, metrics);
    // Brokers 4-6 on the first ports, controllers 1-3 after them.
    let expected: Vec<String> = (0..3).map(|i| format!("127.0.0.1:{}", base + i)).collect();
    assert_eq!(bootstrap, expected.join(","));
    let status = eventually("three voters and three brokers", dir.path(), |s| {
        (1..=3).all(|id| row(s, id).ends_with("voter"))
            && (4..=6).all(|id| row(s, id).ends_with("yes"))
    });
    assert!(row(&status, 1).contains(" controller "), "{status}");
    assert!(row(&status, 4).contains(" broker "), "{status}");

    // The active controller crashes: the others elect one of themselves, and topics can be
    // created again.
    let leader = quorum_leader("--bootstrap-server", &bootstrap).expect("a quorum leader");
    assert!((1..=3).contains(&leader), "leader {leader}");
    let (ok, out) = kafka_lab(dir.path(), &["kill", &leader.to_string()]);
    assert!(ok, "{out}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let created = Command::new(env!("CARGO_BIN_EXE_kafka-lab"))
            .args(["topics", "--bootstrap-server", &bootstrap, "--create", "--topic", "orders"])
            .args(["--partitions", "3", "--replication-factor", "3"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&created.stdout).to_string()
            + &String::from_utf8_lossy(&created.stderr);
        if created.status.success() || text.contains("already exists") {
            break;
        }
        assert!(Instant::now() < deadline, "no topic after the failover: {text}");
        std::thread::sleep(Duration::from_millis(300));
    }
    // The broker forwards DescribeQuorum to the leader it knows: soon the new one.
    let deadline = Instant::now() + Duration::from_secs(30);
    let new_leader = loop {
        match quorum_leader("--bootstrap-server", &bootstrap) {
            Some(id) if id != leader => break id,
            seen => assert!(Instant::now() < deadline, "leader {leader} still, or none: {seen:?}"),
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!((1..=3).contains(&new_leader), "{leader} → {new_leader}");
    // Asked of the controllers themselves (the dead one among them), the leader answers.
    let controllers: Vec<String> = (3..6).map(|i| format!("127.0.0.1:{}", base + i)).collect();
    let asked = quorum_leader("--bootstrap-controller", &controllers.join(","));
    assert_eq!(asked, Some(new_leader));
    let (_, status) = kafka_lab(dir.path(), &["status"]);
    assert!(row(&status, leader).contains("stopped"), "{status}");
    // `up` stops first, while its stdout is still read.
    drop(up);
    drop(lines);
}
