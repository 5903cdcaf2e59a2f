//! A lab directory on free ports and the real `kafka-lab-broker` binary running its
//! `broker.yaml`, restarted as a learner would after each change.
#![allow(dead_code)]

use std::io::Read;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kafka_lab_exercises::{Lab, Phase, Ports, Report};
use kafka_lab_testkit::free_port;

/// A fresh lab and (once started) the learner's broker.
pub struct LabBroker {
    pub lab: Lab,
    child: Option<Child>,
    _dir: tempfile::TempDir,
}

/// The broker binary: `KAFKA_LAB_BROKER_BIN`, else built for this test's profile.
fn broker_binary() -> PathBuf {
    match std::env::var_os("KAFKA_LAB_BROKER_BIN") {
        Some(explicit) => PathBuf::from(explicit),
        None => kafka_lab_testkit::workspace_binary("kafka-lab-broker", "kafka-lab-broker"),
    }
}

impl LabBroker {
    /// `kafka-lab lab init` on free ports, broker not started.
    pub fn init() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ports = Ports { plaintext: free_port(), ssl: free_port(), sasl_ssl: free_port() };
        let lab = Lab::init(&dir.path().join("security-lab"), "127.0.0.1", ports, false)
            .expect("lab init");
        LabBroker { lab, child: None, _dir: dir }
    }

    fn log_path(&self) -> PathBuf {
        self.lab.dir.join("broker.log")
    }

    /// Starts the broker on broker.yaml and waits until every listener accepts.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "broker already running");
        let log =
            std::fs::OpenOptions::new().create(true).append(true).open(self.log_path()).unwrap();
        let mut child = Command::new(broker_binary())
            .arg("--config")
            .arg(self.lab.broker_yaml())
            .env("RUST_LOG", "info")
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawning kafka-lab-broker");
        let ports = self.listener_ports();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("the broker exited on start-up ({status}):\n{}", self.log_tail());
            }
            if ports.iter().all(|p| TcpStream::connect(("127.0.0.1", *p)).is_ok()) {
                break;
            }
            assert!(Instant::now() < deadline, "broker not listening:\n{}", self.log_tail());
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child = Some(child);
    }

    /// Stops the broker (SIGTERM, then waits).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(20);
            while child.try_wait().unwrap().is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// What a learner does after editing broker.yaml.
    pub fn restart(&mut self) {
        self.stop();
        self.start();
    }

    fn listener_ports(&self) -> Vec<u16> {
        let yaml = self.lab.read_broker_yaml().unwrap();
        yaml.get("listeners")
            .unwrap_or_default()
            .split(',')
            .filter_map(|e| e.rsplit(':').next()?.trim().parse().ok())
            .collect()
    }

    /// Runs the checker of `exercise`.
    pub fn check(&self, exercise: &str) -> Report {
        let report = (kafka_lab_exercises::find(exercise).unwrap().check)(&self.lab);
        eprintln!("---- check {exercise} ----\n{report}");
        report
    }

    /// Applies the reference solution as `kafka-lab lab solve` does, restarting the broker
    /// in between when broker.yaml changed (and it runs).
    pub fn solve(&mut self, exercise: &str) {
        let solve = kafka_lab_exercises::find(exercise).unwrap().solve;
        let files = solve(&self.lab, Phase::Files).expect("solve (files)");
        if files.restart_broker && self.child.is_some() {
            self.restart();
        }
        if self.child.is_none() {
            self.start();
        }
        solve(&self.lab, Phase::Admin)
            .unwrap_or_else(|e| panic!("solve {exercise} (admin operations): {e:#}"));
    }

    /// Edits broker.yaml (then the caller restarts).
    pub fn edit_broker_yaml(&self, edit: impl FnOnce(&mut kafka_lab_exercises::lab::BrokerYaml)) {
        let mut yaml = self.lab.read_broker_yaml().unwrap();
        edit(&mut yaml);
        yaml.write().unwrap();
    }

    /// The last lines of the broker's log.
    pub fn log_tail(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(self.log_path()) {
            let _ = f.read_to_string(&mut text);
        }
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for LabBroker {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("---- broker log (last lines) ----\n{}", self.log_tail());
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Asserts the report failed and one of its failures is exactly `expected`.
pub fn assert_fails_with(report: &Report, expected: &str) {
    assert!(!report.passed(), "the check passed but should have failed:\n{report}");
    assert!(
        report.failures().contains(&expected),
        "no failure reads exactly {expected:?}:\n{report}"
    );
}

/// Asserts the report failed with a failure containing `fragment`.
pub fn assert_fails_mentioning(report: &Report, fragment: &str) {
    assert!(!report.passed(), "the check passed but should have failed:\n{report}");
    assert!(
        report.failures().iter().any(|f| f.contains(fragment)),
        "no failure mentions {fragment:?}:\n{report}"
    );
}

/// Asserts every check passed.
pub fn assert_passes(report: &Report) {
    assert!(report.passed(), "the check failed:\n{report}");
}
