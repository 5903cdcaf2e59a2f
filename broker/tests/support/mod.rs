//! Starts the real `kafka-lab-broker` binary on a free loopback port with its own data
//! directory, so tests talk to it exactly as users' clients do.
#![allow(dead_code)]

pub mod cluster;
pub mod quorum;

use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use kafka_lab_testkit::free_port;

/// A broker process owned by a test. Killed on drop; its log is printed if the test failed.
pub struct TestBroker {
    pub port: u16,
    dir: tempfile::TempDir,
    overrides: Vec<String>,
    /// Command-line arguments besides the overrides (`--seed 1`).
    args: Vec<String>,
    child: Option<Child>,
    starts: u32,
}

impl TestBroker {
    /// Starts a broker with test-friendly settings (no initial rebalance delay).
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts a broker with extra `name=value` property overrides.
    pub fn start_with(overrides: &[&str]) -> Self {
        let port = free_port();
        let dir = tempfile::tempdir().expect("temp dir");
        let mut broker = TestBroker {
            port,
            dir,
            overrides: overrides.iter().map(|s| s.to_string()).collect(),
            args: Vec::new(),
            child: None,
            starts: 0,
        };
        broker.spawn();
        broker
    }

    /// Starts a broker whose PLAINTEXT listener on [`TestBroker::port`] is joined by `extra`
    /// listeners (e.g. `SSL://127.0.0.1:40001`), with further property overrides.
    pub fn start_with_listeners(extra: &str, overrides: &[&str]) -> Self {
        Self::start_with_args(&[], extra, overrides)
    }

    /// [`TestBroker::start_with_listeners`] with extra command-line arguments (`--seed 1`).
    pub fn start_with_args(args: &[&str], extra: &str, overrides: &[&str]) -> Self {
        let port = free_port();
        let mut all = vec![format!("listeners=PLAINTEXT://127.0.0.1:{port},{extra}")];
        all.extend(overrides.iter().map(|s| s.to_string()));
        let mut broker = TestBroker {
            port,
            dir: tempfile::tempdir().expect("temp dir"),
            overrides: all,
            args: args.iter().map(|s| s.to_string()).collect(),
            child: None,
            starts: 0,
        };
        broker.spawn();
        broker
    }

    /// A dedicated controller (`process.roles=controller`) whose only listener is
    /// `CONTROLLER` on `port`; `port` is what [`TestBroker::port`] names.
    pub fn start_controller(port: u16, overrides: &[&str]) -> Self {
        let mut all: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        all.push(format!("listeners=CONTROLLER://127.0.0.1:{port}"));
        let mut controller = TestBroker {
            port,
            dir: tempfile::tempdir().expect("temp dir"),
            overrides: all,
            args: Vec::new(),
            child: None,
            starts: 0,
        };
        controller.spawn();
        controller
    }

    /// `bootstrap.servers` for clients.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The broker's `log.dirs`.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("broker.log")
    }

    fn spawn(&mut self) {
        self.starts += 1;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("log file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_kafka-lab-broker"));
        command
            .arg("--override")
            .arg(format!("listeners=PLAINTEXT://127.0.0.1:{}", self.port))
            .arg("--override")
            .arg(format!("log.dirs={}", self.data_dir().display()))
            .arg("--override")
            .arg("group.initial.rebalance.delay.ms=0")
            .env("RUST_LOG", std::env::var("BROKER_LOG").unwrap_or_else(|_| "info".into()))
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log));
        for o in &self.overrides {
            command.arg("--override").arg(o);
        }
        command.args(&self.args);
        let mut child = command.spawn().expect("spawning kafka-lab-broker");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("broker exited during start-up ({status}):\n{}", self.log_tail());
            }
            // Every listener, not just the first: they are bound one after another. Listeners
            // are bound before recovery runs, so also wait for the start-up to finish.
            if self.listener_ports().iter().all(|p| TcpStream::connect(("127.0.0.1", *p)).is_ok())
                && self.log().matches("kafka-lab-broker started").count() >= self.starts as usize
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "broker did not listen within 30 s:\n{}",
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child = Some(child);
    }

    /// The ports of every configured listener.
    fn listener_ports(&self) -> Vec<u16> {
        let listeners = self.overrides.iter().rev().find_map(|o| o.strip_prefix("listeners="));
        let mut ports: Vec<u16> = listeners
            .map(|l| l.split(',').filter_map(|e| e.rsplit(':').next()?.parse().ok()).collect())
            .unwrap_or_default();
        ports.push(self.port);
        ports
    }

    /// Graceful stop (SIGTERM), waiting for exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(20);
            while child.try_wait().unwrap().is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                    panic!("broker ignored SIGTERM for 20 s:\n{}", self.log_tail());
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// `kill -9`: no chance to flush or clean up.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL");
            child.wait().expect("reaping broker");
        }
    }

    /// Sends `kill -<signal>` (`STOP`, `CONT`) to the running broker.
    pub fn signal(&self, signal: &str) {
        let pid = self.pid().expect("the broker is not running");
        let status = Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).status();
        assert!(status.is_ok_and(|s| s.success()), "kill -{signal} {pid}");
    }

    /// Starts the broker again on the same port and data directory.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Starts a stopped or killed broker again.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "broker is still running");
        self.spawn();
    }

    /// The last lines of the broker's log.
    pub fn log_tail(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(self.log_path()) {
            let _ = f.read_to_string(&mut text);
        }
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }

    /// The whole broker log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// The broker process's id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }
}

impl Drop for TestBroker {
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

/// Files under `dir`, recursively, relative to it.
pub fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

/// One request over a fresh plaintext connection, for tests that need an API no real client
/// here speaks (CreateAcls and friends: rdkafka does not wrap them).
pub fn call<R>(port: u16, version: i16, request: &R) -> R::Response
where
    R: kafka_protocol::protocol::Request,
{
    use kafka_lab_broker::client_codec::{decode_response, encode_request};
    use std::io::Write;

    let body = encode_request(request, version, 7, "kafka-lab-test").unwrap();
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    stream.write_all(&(body.len() as u32).to_be_bytes()).unwrap();
    stream.write_all(&body).unwrap();
    let mut size = [0u8; 4];
    stream.read_exact(&mut size).unwrap();
    let mut frame = vec![0u8; u32::from_be_bytes(size) as usize];
    stream.read_exact(&mut frame).unwrap();
    decode_response::<R>(frame.into(), version, 7).unwrap()
}

/// Polls `check` every 50 ms until it holds, failing with `what` and the last value it saw
/// after `within`.
pub fn eventually<T: std::fmt::Debug>(
    within: Duration,
    what: &str,
    mut check: impl FnMut() -> (bool, T),
) {
    let deadline = Instant::now() + within;
    loop {
        let (ok, seen) = check();
        if ok {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: last seen {seen:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
