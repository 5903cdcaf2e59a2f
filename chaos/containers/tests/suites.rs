//! The chaos suites, short: a real three-node cluster in containers from images built from
//! this test run's binaries (scripts/build-image), real librdkafka clients on the host, one or
//! two rounds of each suite's fault. Each run must pass every checker (nothing acknowledged
//! with acks=all lost, no duplicate, replicas identical below the high watermark, …), the
//! exporter must have reported the under-replicated partitions and cleared them, and the
//! run's folder must hold what a person reads. Skips, saying so, where no Docker engine runs.

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use kafka_lab_chaos_containers::{run_suite, Suite, SuiteConfig};

/// One cluster at a time: three debug nodes on CI's two cores, with a session timeout of
/// seconds, are all they can carry.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const IMAGE: &str = "kafka-lab:chaos-test";
const EXPORTER_IMAGE: &str = "kafka-lag-exporter:chaos-test";

fn engine(test: &str) -> bool {
    let ok = Command::new("docker").arg("info").output().is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("SKIPPED {test}: no Docker engine answers `docker info`");
    }
    ok
}

/// Both images from this test run's binaries, once per test process.
fn build_images() {
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/build-image");
        for (name, package, tag) in [
            ("kafka-lab", "kafka-lab", IMAGE),
            ("kafka-lag-exporter", "kafka-lab-exporter", EXPORTER_IMAGE),
        ] {
            let binary = kafka_lab_testkit::process::workspace_binary(package, name);
            let status = Command::new(script)
                .arg(name)
                .arg(&binary)
                .env("TAG", tag)
                .status()
                .expect("running scripts/build-image");
            assert!(status.success(), "scripts/build-image {name} failed");
        }
    });
}

fn run(suite: Suite, duration: Duration) {
    if !engine(suite.name()) {
        return;
    }
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    build_images();
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    // Kept when the run fails: its folder is what explains it.
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let dir = root.join(suite.name());
    let config = SuiteConfig {
        suite,
        duration,
        broker_session_timeout_ms: 3000,
        image: IMAGE.to_owned(),
        exporter_image: EXPORTER_IMAGE.to_owned(),
        ..SuiteConfig::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let report = match runtime.block_on(run_suite(&config, &dir)) {
        Ok(report) => report,
        Err(e) => panic!("the suite did not run: {e:#}\n  folder kept: {}", tmp.keep().display()),
    };
    let mut summary = report.render();
    println!("{summary}");
    if !report.ok {
        summary.push_str(&format!("  folder kept: {}\n", tmp.keep().display()));
    }
    assert!(report.ok, "{summary}");
    assert!(!report.faults.is_empty(), "{summary}");
    let acked = report.operations.get("produce acks=-1 idempotent: ok").copied().unwrap_or(0);
    assert!(acked > 100, "too little acknowledged to judge: {summary}");
    let lost = report.verdicts.iter().find(|v| v.name == "lost-write").expect("lost-write ran");
    assert!(lost.checked >= acked, "{summary}");
    let divergence = report.verdicts.iter().find(|v| v.name == "replica-divergence").unwrap();
    assert!(divergence.checked > 0, "no replica's log was compared: {summary}");
    for file in [
        "results.json",
        "summary.txt",
        "report.html",
        "history.jsonl",
        "metadata.jsonl",
        "exporter.jsonl",
        "node-1.log",
    ] {
        assert!(nonempty(&dir.join(file)), "{file} missing from the run's folder");
    }
    let page = std::fs::read_to_string(dir.join("report.html")).unwrap();
    for chart in ["Throughput", "Latency", "Acknowledged vs read", "Leaders", "ISR size"] {
        assert!(page.contains(&format!("<h2>{chart}")), "report.html lacks {chart}");
    }
    assert!(page.matches("<svg").count() >= 6, "report.html lacks charts");
    let index = std::fs::read_to_string(root.join("index.html")).unwrap();
    assert!(index.contains(&format!("{}/report.html", suite.name())), "{index}");
}

fn nonempty(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.len() > 0)
}

#[test]
fn leader_kill() {
    run(Suite::LeaderKill, Duration::from_secs(8));
}

#[test]
fn leader_pause() {
    run(Suite::LeaderPause, Duration::from_secs(5));
}

#[test]
fn leader_isolate() {
    run(Suite::LeaderIsolate, Duration::from_secs(5));
}

#[test]
fn controller_failover() {
    run(Suite::ControllerFailover, Duration::from_secs(5));
}

#[test]
fn rolling_restart() {
    run(Suite::RollingRestart, Duration::from_secs(12));
}
