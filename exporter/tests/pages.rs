//! The pages a person reads, against the real broker with a real joined group: the overview
//! at `/` (last poll age apart from its duration, a lag chart, a meta refresh), the group's
//! detail page (per partition committed, latest, lag, lag seconds, status, member, host), the
//! topics page; no script and nothing loaded from elsewhere. `/api/groups/<name>` stays JSON.

mod support;

use std::time::Duration;

use support::*;

/// The `<tr>` of `html` that contains every one of `cells` as a whole `<td>`.
fn row_with<'a>(html: &'a str, cells: &[String]) -> Option<&'a str> {
    html.split("<tr>").find(|row| cells.iter().all(|c| row.contains(&format!(">{c}</td>"))))
}

/// No page may run code or fetch anything: only links to the exporter's own paths.
fn self_contained(page: &str) {
    assert!(!page.to_ascii_lowercase().contains("<script"), "{page}");
    for attr in ["src=", "href=\"http", "@import", "url("] {
        assert!(!page.contains(attr), "{attr} in {page}");
    }
}

#[test]
fn overview_group_detail_and_topics_pages() {
    let broker = TestBroker::start();
    let b = broker.bootstrap();
    create_topics(&b, &[("orders", 2)]);
    produce(&b, "orders", 0, 10);
    produce(&b, "orders", 1, 4);
    let consumer = joined_consumer(&b, "g-page", &["orders"]);
    commit_with(&consumer, &[("orders", 0, 6), ("orders", 1, 4)]);
    let exporter = TestExporter::start(&["-b", &b, "--poll-interval", "1s"]);
    wait_until("the group's lag is polled twice", Duration::from_secs(60), || {
        let _ = consumer.poll(Duration::ZERO);
        let s = exporter.scrape();
        s.value("kafka_consumergroup_lag", &[("consumergroup", "g-page"), ("partition", "0")])
            == Some(4.0)
            && s.value("kafka_lag_exporter_polls_total", &[]) >= Some(3.0)
    });
    let (status, api) = exporter.get("/api/groups/g-page");
    assert_eq!(status, 200);
    let api: serde_json::Value = serde_json::from_str(&api).expect("JSON for machines");
    let member = api[0]["partitions"][0]["consumer_id"].as_str().unwrap().to_string();
    let host = api[0]["partitions"][0]["member_host"].as_str().unwrap().to_string();
    assert!(!member.is_empty() && !host.is_empty(), "{api}");

    let (status, page) = exporter.get("/");
    assert_eq!(status, 200);
    self_contained(&page);
    assert!(page.contains("<meta http-equiv=\"refresh\" content=\"1\">"), "{page}");
    assert!(page.contains("<a href=\"/groups/g-page\">g-page</a>"), "{page}");
    assert!(page.contains("<a href=\"/topics\">"), "{page}");
    // "last poll N s ago" and the poll's duration are separate cells.
    let cluster = row_with(&page, &["default".into(), "up".into()]).expect(&page);
    assert!(cluster.contains(" s ago</td>") && cluster.contains(" s</td>"), "{cluster}");
    let group = row_with(&page, &["default".into(), "4".into()]).expect(&page);
    assert!(group.contains("<svg") && group.contains("<polyline"), "{group}");

    let (status, detail) = exporter.get("/groups/g-page");
    assert_eq!(status, 200, "{detail}");
    self_contained(&detail);
    assert!(detail.contains("<polyline"), "the lag history chart: {detail}");
    let p0 = ["orders", "0", "6", "10", "4"].map(String::from);
    let row = row_with(&detail, &p0).unwrap_or_else(|| panic!("partition 0 row: {detail}"));
    for cell in [&member, &host, &"lag-test-client".to_string()] {
        assert!(row.contains(&format!(">{cell}</td>")), "{cell} in {row}");
    }
    assert!(row.contains("class=\"OK\">OK<") || row.contains(">WARN<"), "status: {row}");
    let p1 = ["orders", "1", "4", "4", "0", "0.0"].map(String::from);
    assert!(row_with(&detail, &p1).is_some(), "partition 1, caught up: {detail}");
    assert_eq!(exporter.get("/groups/no-such-group").0, 404);

    let (status, topics) = exporter.get("/topics");
    assert_eq!(status, 200);
    self_contained(&topics);
    let t0 = ["orders", "0", "1", "1", "1", "0", "10", "10"].map(String::from);
    assert!(row_with(&topics, &t0).is_some(), "orders-0 with leader, replicas, ISR: {topics}");
    let t1 = ["orders", "1", "0", "4"].map(String::from);
    assert!(row_with(&topics, &t1).is_some(), "{topics}");
}
