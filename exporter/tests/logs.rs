//! The exporter's logs when they do not go to a terminal (a pipe, a file, `docker logs`):
//! plain text, without ANSI colour codes.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use support::*;

#[test]
fn piped_logs_carry_no_colour_codes() {
    let port = free_port();
    let unreachable = format!("127.0.0.1:{}", free_port());
    let mut child = Command::new(exporter_binary())
        .args(["--listen", &format!("127.0.0.1:{port}"), "-b", &unreachable])
        .args(["--poll-interval", "200ms", "--kafka-timeout", "1s"])
        .env("RUST_LOG", "info")
        // NO_COLOR would hide the bug: the check must be that stdout is not a terminal.
        .env_remove("NO_COLOR")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning kafka-lag-exporter");
    wait_until("the exporter answers /healthz", Duration::from_secs(30), || {
        http_get(port, "/healthz").is_some_and(|(status, _)| status == 200)
    });
    child.kill().unwrap();
    let output = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(text.contains("kafka-lag-exporter listening"), "{text}");
    assert!(!text.contains("\x1b["), "ANSI escape codes in piped logs: {text:?}");
}
