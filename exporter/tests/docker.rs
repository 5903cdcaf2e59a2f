//! The Docker image: built by scripts/build-image from this test run's binary, run
//! against a real broker, scraped over HTTP, its built-in healthcheck executed inside it; and
//! the README's `docker run` line, as written there, against `kafka-lab up` on this machine.
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

/// Whether a Docker engine answers; prints why the test skips when none does.
fn engine(test: &str) -> bool {
    let engine = Command::new("docker").arg("info").output();
    let ok = engine.is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("SKIPPED {test}: no Docker engine answers `docker info`");
    }
    ok
}

/// Builds the image `kafka-lag-exporter` from this test run's binary.
fn build_image() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/build-image");
    let status = Command::new(script)
        .args(["kafka-lag-exporter", env!("CARGO_BIN_EXE_kafka-lag-exporter")])
        .env_remove("TAG")
        .status()
        .expect("running build-image");
    assert!(status.success(), "build-image failed");
}

#[test]
fn image_runs_and_serves_metrics() {
    if !engine("docker image test") {
        return;
    }
    build_image();
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

/// The README's command for `kafka-lab up` on the same machine, and the addresses in it that
/// the test moves to free ports.
const README_BOOTSTRAP: &str = "127.0.0.1:9092";
const README_LISTEN: &str = "127.0.0.1:8001";

#[test]
fn readme_docker_run_reaches_kafka_lab_up() {
    if !engine("README docker run test") {
        return;
    }
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    let line = readme
        .lines()
        .find(|l| l.starts_with("docker run ") && l.contains(README_BOOTSTRAP))
        .expect("README.md has a `docker run` line for kafka-lab up's broker");
    let line = line.split(" #").next().unwrap().trim();
    let words: Vec<&str> = line.split_whitespace().collect();
    assert!(words.windows(2).any(|w| w == ["--network", "host"]), "{line}");
    assert!(words.contains(&README_LISTEN), "{line}: the test moves --listen to a free port");

    build_image();
    let broker_port = free_port();
    let data = tempfile::tempdir().unwrap();
    let up_log = tempfile::NamedTempFile::new().unwrap();
    let mut up = Command::new(kafka_lab_binary())
        .args(["up", "--broker-port", &broker_port.to_string()])
        .arg("--data-dir")
        .arg(data.path())
        .args(["--exporter-listen", &format!("127.0.0.1:{}", free_port())])
        .args(["--broker-metrics", &format!("http://127.0.0.1:{}", free_port())])
        .stdout(std::process::Stdio::from(up_log.reopen().unwrap()))
        .stderr(std::process::Stdio::from(up_log.reopen().unwrap()))
        .spawn()
        .expect("spawning kafka-lab up");
    struct Up<'a>(&'a mut std::process::Child);
    impl Drop for Up<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let up = Up(&mut up);
    let bootstrap = format!("127.0.0.1:{broker_port}");
    wait_until("kafka-lab up's broker listens", Duration::from_secs(60), || {
        std::net::TcpStream::connect(&bootstrap).is_ok()
    });

    // The README's words, with its two addresses moved to this test's ports, and a cidfile
    // so the container can be removed whatever happens.
    let listen_port = free_port();
    let listen = format!("127.0.0.1:{listen_port}");
    let cid_dir = tempfile::tempdir().unwrap();
    let cidfile = cid_dir.path().join("cid");
    let args: Vec<String> = words[1..]
        .iter()
        .map(|w| match *w {
            README_BOOTSTRAP => bootstrap.clone(),
            README_LISTEN => listen.clone(),
            w => w.to_string(),
        })
        .collect();
    let mut run = Command::new(words[0])
        .arg(&args[0])
        .arg("--cidfile")
        .arg(&cidfile)
        .args(&args[1..])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("running the README's docker run");
    let mut container = None;
    wait_until("the container starts", Duration::from_secs(60), || {
        assert!(run.try_wait().unwrap().is_none(), "`{line}` exited");
        container = std::fs::read_to_string(&cidfile).ok().filter(|id| !id.is_empty());
        container.is_some()
    });
    let container = Container(container.unwrap());
    let group = [("consumergroup", "demo-consumers")];
    wait_until("the container sees kafka-lab up's demo group", Duration::from_secs(90), || {
        http_get(listen_port, "/metrics").is_some_and(|(s, body)| {
            let scrape = Scrape::parse(&body);
            s == 200
                && scrape.value("kafka_lag_exporter_up", &[]) == Some(1.0)
                && scrape.has("kafka_consumergroup_lag")
                && !scrape.find("kafka_consumergroup_members", &group).is_empty()
        })
    });
    assert_eq!(http_get(listen_port, "/ready").unwrap().0, 200);
    drop(container);
    let _ = run.wait();
    drop(up);
}
