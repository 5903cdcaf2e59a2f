//! Exact lag: known produce counts and known commits on a real broker, read back from a real
//! scrape of the real exporter, in both metric families; promtool on the same scrape; a deleted
//! group's series disappear on the next poll.

mod support;

use std::time::Duration;

use support::*;

const ALPHA: [i64; 3] = [10, 20, 30];
const BETA: [i64; 2] = [5, 15];

#[test]
fn every_lag_series_matches_the_ground_truth() {
    let broker = TestBroker::start();
    let b = broker.bootstrap();
    create_topics(&b, &[("alpha", 3), ("beta", 2)]);
    for (p, n) in ALPHA.iter().enumerate() {
        produce(&b, "alpha", p as i32, *n as usize);
    }
    for (p, n) in BETA.iter().enumerate() {
        produce(&b, "beta", p as i32, *n as usize);
    }
    // g-simple commits without joining; beta-1 gets no commit at all.
    let simple = [("alpha", 0, 4), ("alpha", 1, 20), ("alpha", 2, 0), ("beta", 0, 5)];
    commit(&b, "g-simple", &simple);
    // g-member has a live member that owns both beta partitions.
    let member = joined_consumer(&b, "g-member", &["beta"]);
    commit_with(&member, &[("beta", 0, 1), ("beta", 1, 15)]);
    let committed_at = now();

    let exporter =
        TestExporter::start(&["-b", &b, "--cluster-name", "lab", "--poll-interval", "500ms"]);
    let s = scrape_after(&exporter, committed_at);
    // A scraper without gzip gets the same series, decompressed.
    let keys =
        |s: &Scrape| s.series.iter().map(|(n, l, _)| (n.clone(), l.clone())).collect::<Vec<_>>();
    assert_eq!(keys(&exporter.scrape_plain()), keys(&s));

    // Topic/partition families.
    let c = ("cluster", "lab");
    assert_eq!(s.value("kafka_brokers", &[c]), Some(1.0));
    assert_eq!(s.value("kafka_topic_partitions", &[c, ("topic", "alpha")]), Some(3.0));
    assert_eq!(s.value("kafka_topic_partitions", &[c, ("topic", "beta")]), Some(2.0));
    for (topic, counts) in [("alpha", &ALPHA[..]), ("beta", &BETA[..])] {
        for (p, n) in counts.iter().enumerate() {
            let p = p.to_string();
            let l = [c, ("topic", topic), ("partition", p.as_str())];
            assert_eq!(s.value("kafka_topic_partition_current_offset", &l), Some(*n as f64));
            assert_eq!(s.value("kafka_topic_partition_oldest_offset", &l), Some(0.0));
            assert_eq!(s.value("kafka_partition_latest_offset", &l), Some(*n as f64));
            assert_eq!(s.value("kafka_partition_earliest_offset", &l), Some(0.0));
            assert_eq!(s.value("kafka_topic_partition_leader_is_preferred", &l), Some(1.0));
            assert_eq!(s.value("kafka_topic_partition_under_replicated_partition", &l), Some(0.0));
        }
    }

    // Per-partition group series, both families: (group, topic, partition, committed, lag).
    let truth = [
        ("g-simple", "alpha", 0, 4, 6),
        ("g-simple", "alpha", 1, 20, 0),
        ("g-simple", "alpha", 2, 0, 30),
        ("g-simple", "beta", 0, 5, 0),
        ("g-member", "beta", 0, 1, 4),
        ("g-member", "beta", 1, 15, 0),
    ];
    for (group, topic, partition, committed, lag) in truth {
        let p = partition.to_string();
        let dq = [c, ("consumergroup", group), ("topic", topic), ("partition", p.as_str())];
        let seglo = [
            c,
            ("cluster_name", "lab"),
            ("group", group),
            ("topic", topic),
            ("partition", p.as_str()),
        ];
        let at = format!("{group} {topic}-{partition}");
        assert_eq!(
            s.value("kafka_consumergroup_current_offset", &dq),
            Some(committed as f64),
            "{at}"
        );
        assert_eq!(s.value("kafka_consumergroup_lag", &dq), Some(lag as f64), "{at}");
        assert_eq!(
            s.value("kafka_consumergroup_group_offset", &seglo),
            Some(committed as f64),
            "{at}"
        );
        assert_eq!(s.value("kafka_consumergroup_group_lag", &seglo), Some(lag as f64), "{at}");
        if lag == 0 {
            assert_eq!(s.value("kafka_consumergroup_lag_seconds", &dq), Some(0.0), "{at}");
        }
    }
    // Nothing more: no series for the partition g-simple never committed.
    for name in ["kafka_consumergroup_lag", "kafka_consumergroup_current_offset"] {
        assert_eq!(s.find(name, &[c]).len(), truth.len(), "{name}");
    }
    for name in ["kafka_consumergroup_group_lag", "kafka_consumergroup_group_offset"] {
        assert_eq!(s.find(name, &[c]).len(), truth.len(), "{name}");
    }
    assert!(s
        .find(
            "kafka_consumergroup_lag",
            &[("topic", "beta"), ("partition", "1"), ("consumergroup", "g-simple")]
        )
        .is_empty());

    // Member labels come from the live member's assignment.
    let owned =
        s.find("kafka_consumergroup_group_lag", &[("group", "g-member"), ("partition", "0")]);
    assert_eq!(owned[0].0["client_id"], "lag-test-client");
    assert!(!owned[0].0["consumer_id"].is_empty() && !owned[0].0["member_host"].is_empty());

    // Aggregates.
    let g = |group| [c, ("consumergroup", group)];
    assert_eq!(s.value("kafka_consumergroup_members", &g("g-simple")), Some(0.0));
    assert_eq!(s.value("kafka_consumergroup_members", &g("g-member")), Some(1.0));
    let sums =
        [("g-simple", "alpha", 36, 24), ("g-simple", "beta", 0, 5), ("g-member", "beta", 4, 16)];
    for (group, topic, lag_sum, offset_sum) in sums {
        let dq = [c, ("consumergroup", group), ("topic", topic)];
        assert_eq!(s.value("kafka_consumergroup_lag_sum", &dq), Some(lag_sum as f64));
        assert_eq!(s.value("kafka_consumergroup_current_offset_sum", &dq), Some(offset_sum as f64));
        let seglo = [c, ("group", group), ("topic", topic)];
        assert_eq!(
            s.value("kafka_consumergroup_group_topic_sum_lag", &seglo),
            Some(lag_sum as f64)
        );
    }
    for (group, simple, max, sum) in [("g-simple", "true", 30, 36), ("g-member", "false", 4, 4)] {
        let l = [c, ("cluster_name", "lab"), ("group", group)];
        assert_eq!(s.value("kafka_consumergroup_group_sum_lag", &l), Some(sum as f64));
        let l = [c, ("cluster_name", "lab"), ("group", group), ("is_simple_consumer", simple)];
        assert_eq!(s.value("kafka_consumergroup_group_max_lag", &l), Some(max as f64));
        let max_seconds = s.value("kafka_consumergroup_group_max_lag_seconds", &l).unwrap();
        assert!(max_seconds.is_finite() && max_seconds >= 0.0);
    }
    assert_eq!(s.value("kafka_lag_exporter_up", &[c]), Some(1.0));
    // Every series carries `cluster`.
    assert!(s.series.iter().all(|(_, l, _)| l.get("cluster").map(String::as_str) == Some("lab")));

    match promtool_check(&s.text) {
        Some((ok, msg)) => assert!(ok, "promtool check metrics:\n{msg}"),
        None => eprintln!("SKIPPED promtool check: promtool not installed (scripts/install-test-deps installs it)"),
    }

    // JSON and HTML views agree.
    let (status, body) = exporter.get("/api/groups/g-simple");
    assert_eq!(status, 200);
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json[0]["lag_sum"], 36);
    assert_eq!(exporter.get("/api/groups/nope").0, 404);
    let (status, html) = exporter.get("/");
    assert_eq!(status, 200);
    assert!(html.contains("g-member") && html.contains("g-simple"));

    // A deleted group vanishes on the next poll.
    delete_groups(&b, &["g-simple"]);
    let deleted_at = now();
    let s = scrape_after(&exporter, deleted_at);
    assert!(!s.text.contains("g-simple"), "series of a deleted group remain");
    assert_eq!(s.value("kafka_consumergroup_members", &g("g-member")), Some(1.0));
    drop(member);
}

fn now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64()
}

/// The first scrape whose poll started after `t` (its end timestamp is past `t` + 1 poll).
fn scrape_after(exporter: &TestExporter, t: f64) -> Scrape {
    let mut found = None;
    wait_until("a poll after the commits", Duration::from_secs(30), || {
        let s = exporter.scrape();
        let polled = s.value("kafka_lag_exporter_last_poll_timestamp_seconds", &[]).unwrap_or(0.0);
        let duration = s.value("kafka_lag_exporter_last_poll_duration_seconds", &[]).unwrap_or(0.0);
        if polled - duration > t {
            found = Some(s);
            true
        } else {
            false
        }
    });
    found.unwrap()
}
