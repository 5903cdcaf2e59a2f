//! The checkers can fail: with a test-only fault built into the broker, the sweep finds a
//! seed that fails the fault's checker within a bounded number of seeds, and that seed
//! replays the failure.
//!
//! Run with `cargo test -p kafka-lab-chaos --test faults --features F`, F one or more of
//! `fault-ack-before-flush`, `fault-double-assign`, `fault-ack-before-isr` and
//! `fault-commit-without-majority`. Faults whose effects no other fault's checker can see
//! share a build (scripts/test says which): each test looks for its own checker's failure,
//! so another fault failing a seed first does not hide its fault.
#![cfg(any(
    feature = "fault-ack-before-flush",
    feature = "fault-double-assign",
    feature = "fault-ack-before-isr",
    feature = "fault-commit-without-majority"
))]

use kafka_lab_chaos::{run, RunOutcome, SimConfig};

/// Seeds the sweep may take to catch a fault.
const BOUND: u64 = 50;

/// Runs seeds from `base` until one fails `checker`, then checks that the seed replays that
/// failure exactly. Returns the seed.
fn caught_and_replayed(base: SimConfig, fault: &str, checker: &str) -> u64 {
    let failed =
        |o: &RunOutcome| o.verdicts.iter().find(|v| v.name == checker).is_some_and(|v| !v.ok);
    let Some(seed) = (base.seed..base.seed + BOUND)
        .find(|&seed| failed(&run(&SimConfig { seed, ..base.clone() })))
    else {
        panic!("no seed among the first {BOUND} caught the {fault} fault with {checker}");
    };
    println!("{fault} caught by seed {seed} after {} seeds", seed - base.seed + 1);
    let config = SimConfig { seed, ..base };
    let first = run(&config);
    let replay = run(&config);
    assert!(failed(&first), "seed {seed} should fail {checker}: {:?}", first.verdicts);
    let verdict = first.verdicts.iter().find(|v| v.name == checker).expect("the checker ran");
    println!("{checker}: {}", verdict.first.as_deref().unwrap_or(""));
    assert_eq!(first.history_hash, replay.history_hash, "seed {seed} did not replay");
    assert_eq!(first.verdicts, replay.verdicts);
    seed
}

#[cfg(feature = "fault-ack-before-flush")]
#[test]
fn sweep_catches_ack_before_flush_and_the_seed_replays_it() {
    // Strict policy: every acknowledged write must survive a crash, which the fault breaks.
    let base = SimConfig { seed: 0, duration_ms: 3_000, intensity: 3.0, ..SimConfig::default() };
    caught_and_replayed(base, "ack-before-flush", "lost-write");
}

#[cfg(feature = "fault-double-assign")]
#[test]
fn sweep_catches_double_assignment_and_the_seed_replays_it() {
    // The coordinator gives two members of an even generation the same partitions; the
    // SyncGroup answers in the history show it.
    let base = SimConfig { seed: 0, duration_ms: 3_000, intensity: 3.0, ..SimConfig::default() };
    caught_and_replayed(base, "double-assign", "double-assignment");
}

#[cfg(feature = "fault-ack-before-isr")]
#[test]
fn sweep_catches_acks_all_answered_before_the_isr_has_the_records_on_a_cluster() {
    // Three nodes, RF=3, min.insync.replicas=2: a leader that acknowledges acks=all at its own
    // append loses what it acknowledged when it crashes before its followers fetched.
    let base = SimConfig { duration_ms: 4_000, intensity: 3.0, ..SimConfig::cluster(3) };
    caught_and_replayed(base, "ack-before-isr", "lost-write");
}

#[cfg(feature = "fault-commit-without-majority")]
#[test]
fn sweep_catches_a_metadata_commit_without_a_majority_on_a_cluster() {
    // Three voters: a quorum leader that commits its own appends alone is seen leading with a
    // high watermark no majority of the voters holds — when it is cut off or paused and fences
    // the brokers it no longer hears, or simply ahead of its followers' fetches.
    let base = SimConfig { duration_ms: 4_000, intensity: 3.0, ..SimConfig::cluster(3) };
    caught_and_replayed(base, "commit-without-majority", "majority-reached-high-watermark");
}
