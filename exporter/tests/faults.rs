//! A broker stopped and restarted mid-run: the exporter stays up; the first poll after the
//! stop fails within the poll interval (each poll's calls are bounded by it, not by the 10 s
//! Kafka timeout), turning `up` to 0 and /ready to 503; while the cluster is down none of its
//! Kafka series are served on /metrics (only `up` 0 and the self-metrics), the human views keep
//! the last poll's lag marked as old; and everything recovers with the broker.
//!
//! Time is counted in polls (`kafka_lag_exporter_polls_total`), not in seconds, so a loaded
//! machine slows the test down without failing it.

mod support;

use std::time::Duration;

use support::*;

/// The exporter's poll interval here; its Kafka timeout stays at the 10 s default.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

#[test]
fn broker_outage_marks_cluster_down_within_one_poll_and_recovers() {
    let mut broker = TestBroker::start();
    let b = broker.bootstrap();
    create_topics(&b, &[("faulty", 1)]);
    produce(&b, "faulty", 0, 5);
    commit(&b, "g-fault", &[("faulty", 0, 2)]);
    let mut exporter = TestExporter::start(&["-b", &b, "--poll-interval", "1s"]);
    let lag = [("consumergroup", "g-fault"), ("topic", "faulty"), ("partition", "0")];
    wait_until("ready with lag", Duration::from_secs(30), || {
        exporter.get("/ready").0 == 200
            && exporter.scrape().value("kafka_consumergroup_lag", &lag) == Some(3.0)
    });

    let polls_at_stop = exporter.scrape().value("kafka_lag_exporter_polls_total", &[]).unwrap();
    broker.stop();
    // A hang guard only; the assertion is on the number of polls below.
    let mut down = None;
    wait_until("up turns 0", Duration::from_secs(120), || {
        let s = exporter.scrape();
        let is_down = s.value("kafka_lag_exporter_up", &[]) == Some(0.0);
        if is_down {
            down = Some(s);
        }
        is_down
    });
    let s = down.unwrap();
    let polls = s.value("kafka_lag_exporter_polls_total", &[]).unwrap() - polls_at_stop;
    // The poll under way at the stop may still have succeeded; the next one must have failed.
    assert!(polls <= 2.0, "up turned 0 only after {polls} polls since the stop");
    let poll_seconds = s.value("kafka_lag_exporter_last_poll_duration_seconds", &[]).unwrap();
    assert!(
        poll_seconds < 2.0 * POLL_INTERVAL.as_secs_f64(),
        "a failed poll took {poll_seconds} s with a {POLL_INTERVAL:?} poll interval"
    );
    assert_eq!(exporter.get("/ready").0, 503);
    assert!(s.value("kafka_lag_exporter_poll_errors_total", &[]).unwrap() >= 1.0);
    let kafka_series: Vec<_> =
        s.series.iter().filter(|(n, _, _)| !n.starts_with("kafka_lag_exporter_")).collect();
    assert!(kafka_series.is_empty(), "stale series served while down: {kafka_series:?}");
    let (status, api) = exporter.get("/api/groups/g-fault");
    assert_eq!(status, 200, "{api}");
    let api: serde_json::Value = serde_json::from_str(&api).unwrap();
    assert_eq!(api[0]["lag_sum"], 3, "the last poll's lag stays on the API: {api}");
    assert_eq!(api[0]["up"], false, "{api}");
    let (_, page) = exporter.get("/");
    assert!(page.contains("DOWN"), "{page}");
    assert_eq!(exporter.get("/healthz").0, 200);
    assert!(exporter.alive());

    broker.start_again();
    produce(&b, "faulty", 0, 5);
    wait_until("recovery", Duration::from_secs(60), || {
        exporter.get("/ready").0 == 200
            && exporter.scrape().value("kafka_consumergroup_lag", &lag) == Some(8.0)
    });
    let s = exporter.scrape();
    assert_eq!(s.value("kafka_lag_exporter_up", &[]), Some(1.0));
    assert!(!s.has("kafka_lag_exporter_connection_error"), "cleared on recovery");
    assert!(exporter.log().contains("poll succeeded again"), "{}", exporter.log());
    assert!(exporter.alive());
}
