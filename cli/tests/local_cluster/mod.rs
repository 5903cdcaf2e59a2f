//! Three real broker processes for the admin tools' tests: node 1 combined (broker and the one
//! controller), nodes 2 and 3 brokers; no automatic leader rebalance, so only the tools move
//! leaders. Shared by `leader_election.rs` and `reassign_partitions.rs`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use kafka_lab_testkit::{free_port, spawn_broker};

/// One node process, restartable on its data.
pub struct Node {
    child: Child,
    overrides: Vec<String>,
    log: PathBuf,
    /// Its PLAINTEXT port.
    pub port: u16,
}

impl Node {
    fn start(overrides: Vec<String>, log: PathBuf, port: u16) -> Node {
        let child = spawn_broker(&overrides, &log, port);
        Node { child, overrides, log, port }
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again on its data.
    pub fn start_again(&mut self) {
        self.child = spawn_broker(&self.overrides, &self.log, self.port);
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Node 1 combined (broker and the one controller), 2 and 3 brokers; no automatic rebalance,
/// so only the tool moves leaders back. Returns once all three are live (unfenced).
pub fn cluster(dir: &Path) -> Vec<Node> {
    let controller_port = free_port();
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let nodes = (1..=3)
        .map(|id| {
            let port = ports[id - 1];
            let node_dir = dir.join(format!("node-{id}"));
            let (roles, listeners) = if id == 1 {
                (
                    "broker,controller",
                    format!(
                        "PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}"
                    ),
                )
            } else {
                ("broker", format!("PLAINTEXT://127.0.0.1:{port}"))
            };
            let overrides = vec![
                format!("node.id={id}"),
                format!("process.roles={roles}"),
                format!("listeners={listeners}"),
                format!("log.dirs={}", node_dir.join("data").display()),
                format!("controller.quorum.voters=1@127.0.0.1:{controller_port}"),
                "controller.listener.names=CONTROLLER".into(),
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT".into(),
                "cluster.id=BQUFBQUFBQUFBQUFBQUFBQ".into(),
                "broker.heartbeat.interval.ms=250".into(),
                "broker.session.timeout.ms=1500".into(),
                "replica.lag.time.max.ms=3000".into(),
                "replica.fetch.wait.max.ms=100".into(),
                "auto.leader.rebalance.enable=false".into(),
            ];
            std::fs::create_dir_all(&node_dir).unwrap();
            Node::start(overrides, dir.join(format!("node-{id}.log")), port)
        })
        .collect();
    // Every broker registered *and unfenced* (Metadata lists only those): a CreateTopics with
    // RF=3 succeeds earlier, since placement falls back to fenced brokers, as Kafka's does.
    let bootstrap = format!("127.0.0.1:{}", ports[0]);
    eventually("three live brokers", || {
        let props = kafka_lab_admin::properties::ClientProperties::default();
        let brokers = kafka_lab_admin::client::AdminClient::connect(&bootstrap, &props)
            .and_then(|mut client| client.cluster_metadata())
            .map(|m| m.brokers);
        (brokers.as_ref().is_ok_and(|b| b.len() == 3), brokers.map_err(|e| e.to_string()))
    });
    nodes
}

/// `kafka-lab args`.
pub fn kafka_lab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kafka-lab")).args(args).output().unwrap()
}

/// (stdout, stderr).
pub fn text(output: &Output) -> (String, String) {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    (stdout, String::from_utf8_lossy(&output.stderr).into_owned())
}

/// Polls until `check` holds; fails with `what` and the last value seen.
pub fn eventually<T: std::fmt::Debug>(what: &str, mut check: impl FnMut() -> (bool, T)) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (ok, seen) = check();
        if ok {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: last seen {seen:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}
