//! Debian's kcat (librdkafka 2.0) against the broker: `-L`, `-P`, `-C` and `-G`.

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
