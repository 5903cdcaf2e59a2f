//! Go's sarama (Debian's golang-github-shopify-sarama-dev 1.22) against the broker: ClusterAdmin
//! CreateTopic, a SyncProducer with acks=all, a ConsumerGroup that marks and commits, and
//! ClusterAdmin.ListConsumerGroupOffsets. The Go program is `tests/sarama/main.go`, built in GOPATH
//! mode against Debian's gocode tree (no Go module proxy).

// Drives the real binary from outside, on the OS's clock and threads: broker/clippy.toml's
// determinism rule is for the broker's own code, not for its tests.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use support::TestBroker;

/// Where Debian installs Go library sources.
const DEBIAN_GOPATH: &str = "/usr/share/gocode";

/// Builds the sarama check program into `dir`, or returns `None` (with a message) where Go or
/// sarama is not installed outside CI.
fn build_sarama_check(dir: &Path) -> Option<PathBuf> {
    let skip_or_fail = |why: &str| {
        assert!(std::env::var_os("CI").is_none(), "{why}");
        eprintln!(
            "SKIPPED: {why} (apt-get install -y golang-go golang-github-shopify-sarama-dev); \
             scripts/test installs it"
        );
    };
    if !Path::new(DEBIAN_GOPATH).join("src/github.com/Shopify/sarama").is_dir() {
        skip_or_fail("sarama's Go sources are not installed");
        return None;
    }
    let binary = dir.join("sarama-check");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sarama");
    let started = Instant::now();
    let output = match Command::new("go")
        .arg("build")
        .arg("-o")
        .arg(&binary)
        .arg(".")
        .current_dir(&source)
        .env("GO111MODULE", "off")
        .env("GOPATH", DEBIAN_GOPATH)
        .env("GOFLAGS", "")
        .output()
    {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            skip_or_fail("go is not installed");
            return None;
        }
        Err(e) => panic!("cannot run go: {e}"),
    };
    assert!(
        output.status.success(),
        "go build of {} failed:\n{}{}",
        source.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!("go build took {:.1?}", started.elapsed());
    Some(binary)
}

#[test]
fn sarama_creates_produces_consumes_in_a_group_and_commits() {
    let dir = tempfile::tempdir().expect("temp dir");
    let Some(check) = build_sarama_check(dir.path()) else {
        return;
    };
    let broker = TestBroker::start();
    // The newest protocol version sarama 1.22 knows, and the oldest one that works: 0.11 and
    // older create topics with CreateTopics v0/v1, which the broker does not speak.
    for version in ["2.2.0", "1.0.0"] {
        let started = Instant::now();
        let output = Command::new(&check)
            .arg("-brokers")
            .arg(broker.bootstrap())
            .args(["-topic", &format!("sarama-{version}")])
            .args(["-group", &format!("sarama-group-{version}")])
            .args(["-n", "300"])
            .args(["-version", version])
            // sarama 1.22 commits with OffsetCommit v1 unless a retention time is set, and the
            // broker speaks OffsetCommit v2 and newer only; with a retention time it sends v2.
            .args(["-offsets-retention", "24h"])
            .args(["-timeout", "60s"])
            .output()
            .expect("running sarama-check");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains("sarama: OK produced 300 consumed 300"),
            "sarama-check (version {version}) failed ({}):\n{stdout}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        eprintln!("sarama {version}: {} in {:.1?}", stdout.trim(), started.elapsed());
    }
}
