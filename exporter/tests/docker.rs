//! The Docker image: built by scripts/build-image from this test run's binary, run
//! against a real broker, scraped over HTTP, its built-in healthcheck executed inside it.
//! Skips (with a message) only where no Docker engine answers `docker info`.

mod support;

use std::process::Command;
use std::time::Duration;

use support::*;

struct Container(String);

impl Drop for Container {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = Command::new("docker").args(["logs", &self.0]).status();
        }
        let _ = Command::new("docker").args(["rm", "-f", &self.0]).output();
    }
}

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().expect("running docker");
    assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn image_runs_and_serves_metrics() {
    let engine = Command::new("docker").arg("info").output();
    if !engine.is_ok_and(|o| o.status.success()) {
        eprintln!("SKIPPED docker image test: no Docker engine answers `docker info`");
        return;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/build-image");
    let status = Command::new(script)
        .args(["kafka-lag-exporter", env!("CARGO_BIN_EXE_kafka-lag-exporter")])
        .env_remove("TAG")
        .status()
        .expect("running build-image");
    assert!(status.success(), "build-image failed");
    let user = docker(&[
        "image",
        "inspect",
        "-f",
        "{{.Config.User}} {{json .Config.ExposedPorts}}",
        "kafka-lag-exporter",
    ]);
    assert!(user.starts_with("10001") && user.contains("8000/tcp"), "{user}");

    let broker = TestBroker::start();
    let b = broker.bootstrap();
    create_topics(&b, &[("boxed", 1)]);
    produce(&b, "boxed", 0, 7);
    commit(&b, "g-boxed", &[("boxed", 0, 3)]);

    let port = free_port();
    let listen = format!("KAFKA_LAG_EXPORTER_LISTEN=127.0.0.1:{port}");
    let id = docker(&[
        "run",
        "-d",
        "--network",
        "host",
        "-e",
        &listen,
        "kafka-lag-exporter",
        "--bootstrap-servers",
        &b,
        "--poll-interval",
        "500ms",
    ]);
    let container = Container(id);
    let lag = [("consumergroup", "g-boxed"), ("topic", "boxed"), ("partition", "0")];
    wait_until("the container serves the group's lag", Duration::from_secs(60), || {
        http_get(port, "/metrics").is_some_and(|(s, body)| {
            s == 200 && Scrape::parse(&body).value("kafka_consumergroup_lag", &lag) == Some(4.0)
        })
    });
    assert_eq!(http_get(port, "/ready").unwrap().0, 200);
    docker(&["exec", &container.0, "/kafka-lag-exporter", "healthcheck"]);
    let pid = docker(&["inspect", "-f", "{{.State.Pid}}", &container.0]);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(uid.split_whitespace().skip(1).all(|u| u == "10001"), "runs as non-root: {uid}");
}
