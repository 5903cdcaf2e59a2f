//! The checkers can fail: with a test-only fault built into the broker, the sweep finds a
//! failing seed within a bounded number of seeds, and that seed replays the failure.
//!
//! Run with `cargo test -p kafka-lab-chaos --features fault-ack-before-flush --test faults`.
#![cfg(feature = "fault-ack-before-flush")]

use kafka_lab_chaos::sweep::sweep;
use kafka_lab_chaos::{run, SimConfig};

/// Seeds the sweep may take to catch the fault.
const BOUND: u64 = 50;

#[test]
fn sweep_catches_ack_before_flush_and_the_seed_replays_it() {
    // Strict policy: every acknowledged write must survive a crash, which the fault breaks.
    let base = SimConfig { seed: 0, duration_ms: 3_000, intensity: 3.0, ..SimConfig::default() };
    let summary = sweep(&base, BOUND, false, Some(1), |_, _| {});
    let Some(&seed) = summary.failed.first() else {
        panic!("no seed among the first {BOUND} caught the ack-before-flush fault");
    };
    println!("caught by seed {seed} after {} seeds", summary.seeds);
    let config = SimConfig { seed, ..base };
    let first = run(&config);
    let replay = run(&config);
    let lost = |o: &kafka_lab_chaos::RunOutcome| {
        o.verdicts.iter().find(|v| v.name == "lost-write").is_some_and(|v| !v.ok)
    };
    assert!(lost(&first), "seed {seed} should fail lost-write: {:?}", first.verdicts);
    assert_eq!(first.history_hash, replay.history_hash, "seed {seed} did not replay");
    assert_eq!(first.verdicts, replay.verdicts);
}
