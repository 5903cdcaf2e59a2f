//! Each checker on small hand-written histories: it flags the anomaly it names, and the lax
//! flush policy excuses exactly what a crash explains.

use super::check_all;
use crate::config::SimConfig;
use crate::history::{Event, ProduceOutcome};

fn produce(end_ms: u64, partition: i32, value: &str, offset: i64) -> Event {
    Event::Produce {
        start_ms: end_ms - 1,
        end_ms,
        client: "producer-0".into(),
        partition,
        value: value.into(),
        acks: -1,
        idempotent: false,
        outcome: ProduceOutcome::Ok { offset },
    }
}

fn poll(client: &str, end_ms: u64, fetch_offset: i64, hw: i64, records: &[(i64, &str)]) -> Event {
    Event::Poll {
        start_ms: end_ms - 1,
        end_ms,
        client: client.into(),
        partition: 0,
        fetch_offset,
        high_watermark: hw,
        records: records.iter().map(|(o, v)| (*o, v.to_string())).collect(),
    }
}

fn started(time_ms: u64, incarnation: u32, leo: i64) -> Event {
    Event::BrokerStarted { time_ms, node_id: 1, incarnation, log_end_offsets: vec![leo] }
}

fn final_read(time_ms: u64) -> Event {
    Event::FinalRead { time_ms, complete: true }
}

/// The names of the checkers that failed.
fn failed(flush_interval_messages: u64, events: &[Event]) -> Vec<&'static str> {
    let config = SimConfig { flush_interval_messages, partitions: 1, ..SimConfig::default() };
    check_all(&config, events).into_iter().filter(|v| !v.ok).map(|v| v.name).collect()
}

#[test]
fn a_clean_history_passes_every_checker() {
    let events = [
        started(0, 0, 0),
        produce(10, 0, "a", 0),
        produce(20, 0, "b", 1),
        poll("consumer-0", 30, 0, 2, &[(0, "a"), (1, "b")]),
        poll("final-reader", 40, 0, 2, &[(0, "a"), (1, "b")]),
        final_read(40),
    ];
    assert_eq!(failed(1, &events), Vec::<&str>::new());
}

#[test]
fn a_write_lost_in_a_crash_fails_strict_and_is_excused_under_a_lax_policy() {
    let events = [
        started(0, 0, 0),
        produce(10, 0, "a", 0),
        produce(20, 0, "b", 1),
        started(30, 1, 1),
        poll("final-reader", 40, 0, 1, &[(0, "a")]),
        final_read(40),
    ];
    assert_eq!(failed(1, &events), vec!["lost-write"]);
    assert_eq!(failed(1000, &events), Vec::<&str>::new());
}

#[test]
fn a_lost_write_no_crash_explains_fails_under_a_lax_policy_too() {
    let events = [
        started(0, 0, 0),
        started(5, 1, 0),
        produce(10, 0, "a", 0),
        poll("final-reader", 40, 0, 0, &[]),
        final_read(40),
    ];
    assert_eq!(failed(1000, &events), vec!["lost-write"]);
}

#[test]
fn duplicates_inconsistent_offsets_skips_and_reordering_are_flagged() {
    let events = [
        started(0, 0, 0),
        produce(10, 0, "a", 0),
        poll("consumer-0", 20, 0, 3, &[(0, "x"), (2, "a")]),
        poll("consumer-0", 30, 3, 3, &[(1, "b")]),
        poll("consumer-1", 40, 0, 2, &[]),
        poll("final-reader", 50, 0, 3, &[(0, "a"), (1, "b"), (2, "a")]),
        final_read(50),
    ];
    let failures = failed(1, &events);
    for name in
        ["duplicate", "inconsistent-offsets", "poll-skip", "nonmonotonic-poll", "high-watermark"]
    {
        assert!(failures.contains(&name), "{name} not flagged: {failures:?}");
    }
    assert!(!failures.contains(&"lost-write"), "{failures:?}");
}

#[test]
fn an_unfinished_final_read_fails_liveness() {
    let events = [started(0, 0, 0), Event::FinalRead { time_ms: 99, complete: false }];
    assert_eq!(failed(1, &events), vec!["liveness"]);
}
