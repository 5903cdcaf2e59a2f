//! The same seed replays the same run; different seeds give different runs.

use kafka_lab_chaos::{run, SimConfig};

fn config(seed: u64) -> SimConfig {
    // A lax flush policy exercises crash recovery with data loss, the richest history.
    SimConfig { seed, flush_interval_messages: 1000, duration_ms: 5_000, ..SimConfig::default() }
}

#[test]
fn same_seed_same_history_and_trace_different_seed_different() {
    let first = run(&config(16));
    let other = run(&config(15));
    let again = run(&config(16));
    assert!(first.events.len() > 100, "a run should record many events");
    assert!(
        first.events.iter().any(|e| matches!(e, kafka_lab_chaos::history::Event::Fault { .. })),
        "the run should inject faults"
    );
    if let Some(i) = (0..first.events.len().max(again.events.len()))
        .find(|i| first.events.get(*i) != again.events.get(*i))
    {
        panic!(
            "seed 16 replayed differently from event {i}:\n{:?}\nvs\n{:?}",
            first.events.get(i),
            again.events.get(i)
        );
    }
    assert_eq!(first.history_hash, again.history_hash);
    assert_ne!(first.history_hash, other.history_hash, "seeds 15 and 16 gave the same history");
}
