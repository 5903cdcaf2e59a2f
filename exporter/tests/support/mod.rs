//! Real components for the exporter's tests: the `kafka-lab-broker` binary on a free port with
//! its own data dir, the `kafka-lag-exporter` binary, rdkafka clients; HTTP, scrape parsing and
//! `wait_until` from `kafka-lab-testkit`, re-exported so `use support::*` brings them.
#![allow(dead_code)]

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

// Each test target that includes this module uses some of these.
use kafka_lab_testkit::workspace_binary;
#[allow(unused_imports)]
pub use kafka_lab_testkit::{
    free_port,
    scrape::{http_get, promtool_check, request, Scrape},
    wait_until,
};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

/// The broker binary, built once if this test run has not built it.
pub fn broker_binary() -> PathBuf {
    workspace_binary("kafka-lab-broker", "kafka-lab-broker")
}

/// The exporter binary: cargo's own for the exporter's tests, else (other crates' tests that
/// include this module) built once like the broker.
pub fn exporter_binary() -> PathBuf {
    match option_env!("CARGO_BIN_EXE_kafka-lag-exporter") {
        Some(path) => PathBuf::from(path),
        None => workspace_binary("kafka-lab-exporter", "kafka-lag-exporter"),
    }
}

/// A broker process; killed on drop.
pub struct TestBroker {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
    overrides: Vec<String>,
}

impl TestBroker {
    pub fn start() -> TestBroker {
        Self::start_with(&[])
    }

    /// A broker with extra `name=value` overrides (further listeners, security, ACLs).
    pub fn start_with(overrides: &[String]) -> TestBroker {
        let mut b = TestBroker {
            port: free_port(),
            dir: tempfile::tempdir().unwrap(),
            child: None,
            overrides: overrides.to_vec(),
        };
        b.spawn();
        b
    }

    /// A directory that lives as long as the broker, for certificates and config files.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("broker.log"))
            .unwrap();
        let mut command = Command::new(broker_binary());
        let mut listeners = format!("PLAINTEXT://127.0.0.1:{}", self.port);
        let mut overrides = Vec::new();
        for o in &self.overrides {
            match o.strip_prefix("listeners=") {
                Some(extra) => listeners = format!("{listeners},{extra}"),
                None => overrides.push(o.clone()),
            }
        }
        for o in overrides {
            command.arg("-o").arg(o);
        }
        let mut child = command
            .arg("-o")
            .arg(format!("listeners={listeners}"))
            .arg("-o")
            .arg(format!("log.dirs={}", self.dir.path().join("data").display()))
            .arg("-o")
            .arg("group.initial.rebalance.delay.ms=0")
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawning kafka-lab-broker");
        wait_until("the broker listens", Duration::from_secs(30), || {
            assert!(child.try_wait().unwrap().is_none(), "broker exited:\n{}", self.log());
            TcpStream::connect(("127.0.0.1", self.port)).is_ok()
        });
        self.child = Some(child);
    }

    /// SIGTERM and wait.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            child.wait().unwrap();
        }
    }

    /// Starts the stopped broker again on the same port and data dir.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none());
        self.spawn();
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("broker.log")).unwrap_or_default()
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The exporter binary on a free port; killed on drop, its log printed if the test failed.
pub struct TestExporter {
    pub port: u16,
    child: Child,
    log: tempfile::NamedTempFile,
}

impl TestExporter {
    /// Starts `kafka-lag-exporter --listen 127.0.0.1:<free> <args>` and waits for /healthz.
    pub fn start(args: &[&str]) -> TestExporter {
        let port = free_port();
        let log = tempfile::NamedTempFile::new().unwrap();
        let child = Command::new(exporter_binary())
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::from(log.reopen().unwrap()))
            .stderr(Stdio::from(log.reopen().unwrap()))
            .spawn()
            .expect("spawning kafka-lag-exporter");
        let mut e = TestExporter { port, child, log };
        wait_until("the exporter answers /healthz", Duration::from_secs(30), || {
            assert!(e.child.try_wait().unwrap().is_none(), "exporter exited:\n{}", e.log());
            e.try_get("/healthz").is_some_and(|(s, _)| s == 200)
        });
        e
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    pub fn try_get(&self, path: &str) -> Option<(u16, String)> {
        http_get(self.port, path)
    }

    /// GET `path`; panics on connection errors.
    pub fn get(&self, path: &str) -> (u16, String) {
        self.try_get(path).unwrap_or_else(|| panic!("GET {path} failed:\n{}", self.log()))
    }

    /// A scrape of /metrics as Prometheus makes it (accepting gzip), parsed.
    pub fn scrape(&self) -> Scrape {
        let (status, head, body) =
            request(self.port, "GET", "/metrics", "Accept-Encoding: gzip\r\n")
                .unwrap_or_else(|| panic!("GET /metrics failed:\n{}", self.log()));
        assert_eq!(status, 200);
        assert!(head.to_ascii_lowercase().contains("content-encoding: gzip"), "{head}");
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&body[..]), &mut text)
            .expect("a valid gzip body");
        Scrape::parse(&text)
    }

    /// A scrape of /metrics by a client that does not accept gzip, parsed.
    pub fn scrape_plain(&self) -> Scrape {
        let (status, head, body) = request(self.port, "GET", "/metrics", "").unwrap();
        assert_eq!(status, 200);
        assert!(!head.to_ascii_lowercase().contains("content-encoding"), "{head}");
        Scrape::parse(&String::from_utf8(body).unwrap())
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for TestExporter {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("---- exporter log ----\n{}", self.log());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Creates topics with the given partition counts.
pub fn create_topics(bootstrap: &str, topics: &[(&str, i32)]) {
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", bootstrap).create().unwrap();
    let new: Vec<NewTopic> =
        topics.iter().map(|(t, p)| NewTopic::new(t, *p, TopicReplication::Fixed(1))).collect();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    for r in rt.block_on(admin.create_topics(&new, &AdminOptions::new())).unwrap() {
        r.unwrap();
    }
}

/// Deletes consumer groups.
pub fn delete_groups(bootstrap: &str, groups: &[&str]) {
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", bootstrap).create().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    for r in rt.block_on(admin.delete_groups(groups, &AdminOptions::new())).unwrap() {
        r.unwrap();
    }
}

/// Produces `count` records to `topic`/`partition` and waits for their acks.
pub fn produce(bootstrap: &str, topic: &str, partition: i32, count: usize) {
    let p: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "0")
        .create()
        .unwrap();
    for i in 0..count {
        let payload = format!("record {i}");
        let mut record = BaseRecord::<(), _>::to(topic).partition(partition).payload(&payload);
        loop {
            match p.send(record) {
                Ok(()) => break,
                Err((_, r)) => {
                    record = r;
                    p.poll(Duration::from_millis(10));
                }
            }
        }
    }
    p.flush(Duration::from_secs(30)).expect("producer flush");
}

/// Commits `offsets` for `group` without joining it (a "simple consumer" commit).
pub fn commit(bootstrap: &str, group: &str, offsets: &[(&str, i32, i64)]) {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    commit_with(&c, offsets);
}

/// Commits `offsets` through an existing consumer.
pub fn commit_with(c: &BaseConsumer, offsets: &[(&str, i32, i64)]) {
    let mut tpl = TopicPartitionList::new();
    for (t, p, o) in offsets {
        tpl.add_partition_offset(t, *p, Offset::Offset(*o)).unwrap();
    }
    c.commit(&tpl, CommitMode::Sync).expect("commit");
}

/// A consumer that joins `group`, subscribed to `topics`, once it has its assignment.
pub fn joined_consumer(bootstrap: &str, group: &str, topics: &[&str]) -> BaseConsumer {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("client.id", "lag-test-client")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    c.subscribe(topics).unwrap();
    wait_until("the consumer is assigned", Duration::from_secs(30), || {
        let _ = c.poll(Duration::from_millis(100));
        c.assignment().map(|a| a.count() > 0).unwrap_or(false)
    });
    c
}

/// The umbrella `kafka-lab` binary (broker, tls, acls, configs), built once like the broker.
pub fn kafka_lab_binary() -> PathBuf {
    workspace_binary("kafka-lab", "kafka-lab")
}
