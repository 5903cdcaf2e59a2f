//! A broker stopped and restarted mid-run: the exporter stays up, /ready flips and recovers,
//! and while the cluster is down none of its Kafka series are served (only `up` 0 and the
//! self-metrics).

mod support;

use std::time::Duration;

use support::*;

#[test]
fn broker_outage_marks_cluster_down_and_recovers() {
    let mut broker = TestBroker::start();
    let b = broker.bootstrap();
    create_topics(&b, &[("faulty", 1)]);
    produce(&b, "faulty", 0, 5);
    commit(&b, "g-fault", &[("faulty", 0, 2)]);
    let mut exporter =
        TestExporter::start(&["-b", &b, "--poll-interval", "500ms", "--kafka-timeout", "2s"]);
    let lag = [("consumergroup", "g-fault"), ("topic", "faulty"), ("partition", "0")];
    wait_until("ready with lag", Duration::from_secs(30), || {
        exporter.get("/ready").0 == 200
            && exporter.scrape().value("kafka_consumergroup_lag", &lag) == Some(3.0)
    });

    broker.stop();
    wait_until("/ready reports the outage", Duration::from_secs(60), || {
        exporter.get("/ready").0 == 503
    });
    let s = exporter.scrape();
    assert_eq!(s.value("kafka_lag_exporter_up", &[]), Some(0.0));
    assert!(s.value("kafka_lag_exporter_poll_errors_total", &[]).unwrap() >= 1.0);
    let kafka_series: Vec<_> =
        s.series.iter().filter(|(n, _, _)| !n.starts_with("kafka_lag_exporter_")).collect();
    assert!(kafka_series.is_empty(), "stale series served while down: {kafka_series:?}");
    assert_eq!(exporter.get("/healthz").0, 200);
    assert!(exporter.alive());

    broker.start_again();
    produce(&b, "faulty", 0, 5);
    wait_until("recovery", Duration::from_secs(60), || {
        exporter.get("/ready").0 == 200
            && exporter.scrape().value("kafka_consumergroup_lag", &lag) == Some(8.0)
    });
    assert_eq!(exporter.scrape().value("kafka_lag_exporter_up", &[]), Some(1.0));
    assert!(exporter.alive());
}
