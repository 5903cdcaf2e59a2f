//! Why the exporter cannot reach a cluster, named: the broker address and the cause
//! (connection refused, cannot resolve, TLS handshake, SASL authentication), on `/`, in
//! `kafka_lag_exporter_connection_error{address,cause}` and in one log line per change, not
//! only librdkafka's "BrokerTransportFailure". And `kafka_lag_exporter_up` is there, 0, from
//! the first scrape, before any poll has ended.

mod support;

use std::time::Duration;

use kafka_lab_tls::{CertificateAuthority, CertificateRequest, KeyAlgorithm};
use support::*;

/// Waits until the exporter reports `cause` for `address`, then checks the page and the log.
fn expect_cause(exporter: &TestExporter, address: &str, cause: &str, words: &str) {
    let labels = [("address", address), ("cause", cause)];
    wait_until(&format!("{cause} reported for {address}"), Duration::from_secs(60), || {
        exporter.scrape().value("kafka_lag_exporter_connection_error", &labels) == Some(1.0)
    });
    let s = exporter.scrape();
    assert_eq!(s.value("kafka_lag_exporter_up", &[]), Some(0.0));
    let (_, page) = exporter.get("/");
    assert!(page.contains(address) && page.contains(words), "{words} for {address}: {page}");
    assert!(exporter.log().contains(&format!("{address}: {words}")), "{}", exporter.log());
}

#[test]
fn refused_connection_is_named_and_up_exists_from_the_first_scrape() {
    let address = format!("127.0.0.1:{}", free_port());
    // A first poll cannot end before 3 s: librdkafka retries a refused connection until the
    // call's time limit.
    let exporter = TestExporter::start(&["-b", &address, "--poll-interval", "3s"]);
    let first = exporter.scrape();
    assert_eq!(first.value("kafka_lag_exporter_up", &[("cluster", "default")]), Some(0.0));
    assert_eq!(first.value("kafka_lag_exporter_polls_total", &[]), Some(0.0));
    assert_eq!(exporter.get("/ready").0, 503);
    expect_cause(&exporter, &address, "connection_refused", "connection refused");
    // Logged once per change: more failed polls of the same kind add no line.
    wait_until("three failed polls", Duration::from_secs(60), || {
        exporter.scrape().value("kafka_lag_exporter_poll_errors_total", &[]) >= Some(3.0)
    });
    assert_eq!(exporter.log().matches("poll failed").count(), 1, "{}", exporter.log());
}

#[test]
fn unresolvable_host_is_named() {
    // `.invalid` never resolves (RFC 2606).
    let address = "no-such-broker.invalid:9092";
    let exporter = TestExporter::start(&["-b", address, "--poll-interval", "1s"]);
    expect_cause(&exporter, address, "cannot_resolve", "cannot resolve the host name");
}

#[test]
fn tls_and_sasl_failures_are_named() {
    let sasl_ssl = free_port();
    let certs_dir = tempfile::tempdir().unwrap();
    let certs = certs_dir.path();
    let (ca, _) =
        CertificateAuthority::load_or_create(certs, "test CA", KeyAlgorithm::EcP256, 30, false)
            .unwrap();
    ca.issue(certs, &CertificateRequest::localhost_broker(KeyAlgorithm::Rsa2048), "pw", false)
        .unwrap();
    // A CA the broker's certificate does not chain to.
    let other_dir = tempfile::tempdir().unwrap();
    CertificateAuthority::load_or_create(
        other_dir.path(),
        "other",
        KeyAlgorithm::EcP256,
        30,
        false,
    )
    .unwrap();
    let broker = TestBroker::start_with(&[
        format!("listeners=SASL_SSL://127.0.0.1:{sasl_ssl}"),
        format!("ssl.keystore.location={}", certs.join("broker.p12").display()),
        "ssl.keystore.password=pw".into(),
        "sasl.scram.users=['SCRAM-SHA-512=[name=lag-exporter,password=exporter-secret]']".into(),
    ]);
    let address = format!("127.0.0.1:{sasl_ssl}");
    let exporter_with = |name: &str, ca: &std::path::Path, password: &str| {
        let config = broker.dir().join(format!("{name}.yaml"));
        std::fs::write(
            &config,
            format!(
                "clusters:\n  - name: {name}\n    bootstrap_servers: {address}\n    \
                 properties:\n      security.protocol: SASL_SSL\n      \
                 sasl.mechanism: SCRAM-SHA-512\n      sasl.username: lag-exporter\n      \
                 sasl.password: {password}\n      ssl.ca.location: {}\n",
                ca.display()
            ),
        )
        .unwrap();
        TestExporter::start(&["--config", &config.display().to_string(), "--poll-interval", "1s"])
    };
    let untrusted = exporter_with("untrusted", &other_dir.path().join("ca.crt"), "exporter-secret");
    let wrong_password = exporter_with("wrong-password", &certs.join("ca.crt"), "not-the-secret");
    expect_cause(&untrusted, &address, "tls_handshake", "TLS handshake failed");
    expect_cause(&wrong_password, &address, "sasl_authentication", "SASL authentication failed");
}
