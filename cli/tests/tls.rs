//! `kafka-lab tls` refusing options that would write unusable certificates.

use std::process::Command;

#[test]
fn init_with_zero_days_is_refused_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tls");
    let output = Command::new(env!("CARGO_BIN_EXE_kafka-lab"))
        .args(["tls", "init", "--days", "0", "--dir"])
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    // `kafka-lab tls` exits 2 on every refused command.
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--days must be at least 1"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(!out.exists(), "files written: {:?}", std::fs::read_dir(&out).map(|d| d.count()));
}
