//! Debian's kcat (librdkafka 2.0) against the broker: `-L`, `-P`, `-C` and `-G`.

// Drives the real binary from outside, on the OS's clock and threads: broker/clippy.toml's
// determinism rule is for the broker's own code, not for its tests.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use support::TestBroker;

/// Runs kcat, or returns `None` (with a message) where it is not installed outside CI.
fn kcat(broker: &TestBroker, args: &[&str], stdin: Option<&str>) -> Option<Output> {
    let mut command = Command::new("kcat");
    command
        .arg("-b")
        .arg(broker.bootstrap())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && std::env::var_os("CI").is_none() => {
            eprintln!("SKIPPED: kcat is not installed (apt-get install -y kcat); scripts/test installs it");
            return None;
        }
        Err(e) => panic!("cannot run kcat: {e}"),
    };
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "kcat {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        broker.log_tail()
    );
    Some(output)
}

#[test]
fn kcat_lists_produces_consumes_and_joins_a_group() {
    let broker = TestBroker::start_with(&["num.partitions=2"]);
    let Some(_) =
        kcat(&broker, &["-P", "-t", "greetings", "-K", ":"], Some("a:hello\nb:world\nc:again\n"))
    else {
        return;
    };
    let listing = kcat(&broker, &["-L", "-t", "greetings"], None).unwrap();
    let listing = String::from_utf8(listing.stdout).unwrap();
    assert!(listing.contains("1 brokers:"), "{listing}");
    assert!(listing.contains("topic \"greetings\" with 2 partitions"), "{listing}");

    let consumed = kcat(&broker, &["-C", "-t", "greetings", "-e", "-f", "%k=%s\n"], None).unwrap();
    let mut lines: Vec<String> =
        String::from_utf8(consumed.stdout).unwrap().lines().map(str::to_owned).collect();
    lines.sort();
    assert_eq!(lines, ["a=hello", "b=world", "c=again"]);

    let grouped = kcat(
        &broker,
        &["-G", "kcat-group", "-o", "beginning", "-e", "-f", "%s\n", "greetings"],
        None,
    )
    .unwrap();
    let mut values: Vec<String> =
        String::from_utf8(grouped.stdout).unwrap().lines().map(str::to_owned).collect();
    values.sort();
    assert_eq!(values, ["again", "hello", "world"]);
}

/// A member that dies without LeaveGroup (kcat, `kill -9`) is expired after its session
/// timeout, and the surviving rdkafka member is given its partitions.
#[test]
fn a_crashed_member_is_expired_after_its_session_timeout() {
    use std::collections::BTreeSet;
    use std::time::{Duration, Instant};

    use rdkafka::config::ClientConfig;
    use rdkafka::consumer::{BaseConsumer, Consumer};

    let broker = TestBroker::start_with(&["num.partitions=4"]);
    let Some(_) = kcat(&broker, &["-P", "-t", "crashy"], Some("one\ntwo\n")) else { return };
    let mut doomed = Command::new("kcat")
        .args([
            "-b",
            &broker.bootstrap(),
            "-q",
            "-G",
            "crash-group",
            "-X",
            "session.timeout.ms=6000",
            "-X",
            "heartbeat.interval.ms=500",
            "crashy",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let survivor: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("group.id", "crash-group")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500")
        .create()
        .unwrap();
    survivor.subscribe(&["crashy"]).unwrap();
    let owned = |c: &BaseConsumer| -> BTreeSet<i32> {
        c.assignment().unwrap().elements().iter().map(|e| e.partition()).collect()
    };
    let wait_for = |what: &str, want: usize| {
        let deadline = Instant::now() + Duration::from_secs(40);
        while owned(&survivor).len() != want {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: survivor owns {:?}",
                owned(&survivor)
            );
            survivor.poll(Duration::from_millis(50));
        }
    };
    wait_for("the two members to share the partitions", 2);
    doomed.kill().unwrap();
    doomed.wait().unwrap();
    let killed_at = Instant::now();
    wait_for("the crashed member's partitions", 4);
    // Nothing told the broker: only the session timeout can have moved the partitions.
    assert!(
        killed_at.elapsed() >= Duration::from_secs(5),
        "partitions moved before the session timeout"
    );
}
