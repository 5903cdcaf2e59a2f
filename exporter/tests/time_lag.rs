//! Lag in seconds against controlled produce times: within one poll interval of the truth, and
//! exactly 0 for a caught-up group while producers are idle.

mod support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use support::*;

const POLL: f64 = 0.5;

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

#[test]
fn lag_seconds_follow_produce_times_and_are_zero_when_caught_up() {
    let broker = TestBroker::start();
    let b = broker.bootstrap();
    create_topics(&b, &[("timed", 2)]);
    let exporter = TestExporter::start(&["-b", &b, "--poll-interval", "500ms"]);
    // Let the exporter see the empty partitions first, so the table starts before the records.
    wait_until("a first poll", Duration::from_secs(30), || {
        exporter.scrape().value("kafka_lag_exporter_up", &[]) == Some(1.0)
    });
    produce(&b, "timed", 0, 10);
    std::thread::sleep(Duration::from_secs(2));
    let second_batch_at = now();
    produce(&b, "timed", 0, 10);
    // The next record to consume is the first of the second batch.
    commit(&b, "g-timed", &[("timed", 0, 10)]);
    std::thread::sleep(Duration::from_secs(3));

    let l = [("consumergroup", "g-timed"), ("topic", "timed"), ("partition", "0")];
    let s = exporter.scrape();
    let polled_at = s.value("kafka_lag_exporter_last_poll_timestamp_seconds", &[]).unwrap();
    let reported = s.value("kafka_consumergroup_lag_seconds", &l).expect("lag seconds series");
    let truth = polled_at - second_batch_at;
    assert!(
        (reported - truth).abs() <= POLL + 0.25,
        "reported {reported:.3} s, truth {truth:.3} s at the poll (poll interval {POLL} s)"
    );
    let max =
        s.value("kafka_consumergroup_group_max_lag_seconds", &[("group", "g-timed")]).unwrap();
    assert_eq!(max, reported, "one committed partition: max is its lag");
    // Partition 1 has no commit: no series, and the max above is not poisoned by it.
    assert!(s.find("kafka_consumergroup_lag_seconds", &[("partition", "1")]).is_empty());

    // Caught up, producers idle for several polls: exactly 0, not the time since the last record.
    commit(&b, "g-timed", &[("timed", 0, 20)]);
    std::thread::sleep(Duration::from_secs(3));
    let s = exporter.scrape();
    assert_eq!(s.value("kafka_consumergroup_lag_seconds", &l), Some(0.0));
    assert_eq!(
        s.value("kafka_consumergroup_group_max_lag_seconds", &[("group", "g-timed")]),
        Some(0.0)
    );
    assert!(s.series.iter().all(|(_, _, v)| v.is_finite()), "no +Inf/NaN anywhere");
}
