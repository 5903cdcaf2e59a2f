//! The same seed replays the same run; different seeds give different runs.

use kafka_lab_chaos::{run, RunOutcome, SimConfig};

/// Two runs of one config recorded the same events (the first difference shown otherwise).
fn assert_replayed(first: &RunOutcome, again: &RunOutcome, what: &str) {
    if let Some(i) = (0..first.events.len().max(again.events.len()))
        .find(|i| first.events.get(*i) != again.events.get(*i))
    {
        panic!(
            "{what} replayed differently from event {i}:\n{:?}\nvs\n{:?}",
            first.events.get(i),
            again.events.get(i)
        );
    }
    assert_eq!(first.history_hash, again.history_hash);
}

fn config(seed: u64) -> SimConfig {
    // A lax flush policy exercises crash recovery with data loss, the richest history.
    SimConfig { seed, flush_interval_messages: 1000, duration_ms: 5_000, ..SimConfig::default() }
}

/// A three-node cluster (RF=3, min.insync.replicas=2) replays too: its nodes' tasks, elections
/// and replication are all on the simulator's clock and seeds.
#[test]
fn a_cluster_run_replays_exactly() {
    let config = SimConfig { seed: 4, duration_ms: 5_000, ..SimConfig::cluster(3) };
    let first = run(&config);
    let again = run(&config);
    assert!(first.ok(), "{:?} {:?}", first.crashed, first.verdicts);
    assert!(
        first.events.iter().any(|e| matches!(
            e,
            kafka_lab_chaos::history::Event::BrokerStarted { node_id: 3, .. }
        )),
        "three nodes ran"
    );
    assert_replayed(&first, &again, "the cluster run");
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
    assert_replayed(&first, &again, "seed 16");
    assert_ne!(first.history_hash, other.history_hash, "seeds 15 and 16 gave the same history");
}

/// A sweep on two threads replays the sweep on one: each seed is one world on one thread, so
/// running two side by side changes nothing in either, and the reports come in seed order.
#[test]
fn a_sweep_on_two_threads_replays_the_sweep_on_one() {
    let base = SimConfig { duration_ms: 2_000, intensity: 3.0, ..config(40) };
    let hashes = |jobs| {
        let mut seen = Vec::new();
        kafka_lab_chaos::sweep::sweep_on(&base, 6, jobs, false, None, |outcome, _| {
            seen.push((outcome.config.seed, outcome.history_hash));
        });
        seen
    };
    let one = hashes(1);
    assert_eq!(one.iter().map(|(seed, _)| *seed).collect::<Vec<_>>(), (40..46).collect::<Vec<_>>());
    assert_eq!(hashes(2), one);
}
