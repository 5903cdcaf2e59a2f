//! The CI sweep: a couple of hundred seeds, both flush policies, every checker must pass.
//!
//! Sized for a couple of minutes in a debug build on two cores: short chaos phases with a
//! high fault rate. `kafka-lab sim --seeds N` runs longer sweeps.

use kafka_lab_chaos::config::AcksMode;
use kafka_lab_chaos::sweep::sweep;
use kafka_lab_chaos::SimConfig;

fn sweep_config(seed: u64, flush_interval_messages: u64) -> SimConfig {
    SimConfig {
        seed,
        duration_ms: 3_000,
        intensity: 3.0,
        flush_interval_messages,
        ..SimConfig::default()
    }
}

fn run_sweep(base: SimConfig, seeds: u64) {
    let mut crashes = 0;
    let mut acknowledged = 0;
    let (mut assignments, mut commits, mut fenced_commits, mut stalls, mut leaves) =
        (0, 0, 0, 0, 0);
    let summary = sweep(&base, seeds, false, None, |outcome, report| {
        crashes += report.broker_starts.saturating_sub(1);
        let count = |pred: &dyn Fn(&str) -> bool| {
            report.operations.iter().filter(|(k, _)| pred(k)).map(|(_, n)| n).sum::<usize>()
        };
        acknowledged += count(&|k| k.starts_with("produce") && k.ends_with(": ok"));
        assignments += count(&|k| k == "group sync: ok (assigned)");
        commits += count(&|k| k == "commit: ok");
        // Commits refused because the member's generation was over (a stall past the session
        // timeout, a rebalance it missed).
        fenced_commits += count(&|k| {
            k == "commit: fail (IllegalGeneration)" || k == "commit: fail (UnknownMemberId)"
        });
        let faults = |name: &str| report.faults.get(name).map_or(0, |f| f.count);
        stalls += faults("consumer-stall");
        leaves += faults("member-leave");
        if !report.ok {
            eprint!("{}", report.render());
            assert!(outcome.events.len() > 1);
        }
    });
    println!("{}", summary.render(&base));
    assert!(crashes > seeds as usize / 4, "the sweep should crash the broker often: {crashes}");
    assert!(acknowledged > seeds as usize * 50, "too few acknowledged writes: {acknowledged}");
    let n = seeds as usize;
    assert!(assignments > n * 3, "too few group assignments: {assignments}");
    assert!(commits > n * 20, "too few acknowledged commits: {commits}");
    assert!(
        stalls > n / 2 && leaves > n / 2,
        "too few group faults: {stalls} stalls, {leaves} leaves"
    );
    assert!(fenced_commits > n / 10, "too few commits fenced by generation: {fenced_commits}");
    println!(
        "{assignments} assignments, {commits} commits acknowledged, {fenced_commits} fenced; \
         {stalls} stalls, {leaves} leaves"
    );
    assert!(summary.failed.is_empty(), "failing seeds: {:?}", summary.failed);
}

#[test]
fn strict_flush_policy_sweep_finds_no_anomaly() {
    run_sweep(sweep_config(0, 1), 60);
}

#[test]
fn lax_flush_policy_sweep_finds_no_anomaly() {
    run_sweep(sweep_config(1_000_000, 1_000), 60);
}

/// A three-node cluster (combined nodes, a three-voter quorum; RF=3, min.insync.replicas=2)
/// under node crashes and link faults: every checker passes — no acks=all record lost; acks=1
/// records lost in a failover are counted as expected, not as anomalies.
#[test]
fn three_node_cluster_sweep_finds_no_anomaly() {
    // Longer than the single node's: the cluster elects, registers and creates its topic in
    // the first second or two.
    let base = SimConfig { duration_ms: 5_000, intensity: 3.0, ..SimConfig::cluster(3) };
    let seeds = 30;
    let (mut crashes, mut acknowledged_all, mut checked, mut expected_losses) = (0, 0, 0, 0);
    let summary = sweep(&base, seeds, false, None, |outcome, report| {
        crashes += report.faults.get("broker-crash").map_or(0, |f| f.count)
            + report.faults.get("broker-crash-torn-write").map_or(0, |f| f.count);
        acknowledged_all += report
            .operations
            .iter()
            .filter(|(k, _)| k.starts_with("produce acks=-1") && k.ends_with(": ok"))
            .map(|(_, n)| n)
            .sum::<usize>();
        if let Some(v) = outcome.verdicts.iter().find(|v| v.name == "lost-write") {
            checked += v.checked;
            expected_losses += v.excused;
        }
        if !report.ok {
            eprint!("{}", report.render());
        }
    });
    println!("{}", summary.render(&base));
    println!(
        "{crashes} node crashes; {acknowledged_all} acks=all writes acknowledged; lost-write \
         checked {checked}, {expected_losses} losses expected for acks=1"
    );
    assert!(crashes > seeds as usize / 2, "the sweep should crash nodes often: {crashes}");
    assert!(acknowledged_all > seeds as usize * 10, "too few acks=all writes: {acknowledged_all}");
    assert!(summary.failed.is_empty(), "failing seeds: {:?}", summary.failed);
}

/// `--acks 1` on the same cluster: the leader's append is the acknowledgement, so a failover
/// loses what the followers had not fetched. The run passes; the report counts those losses as
/// expected for the configuration, with the reason, so a learner sees what acks=all buys.
#[test]
fn acks_1_losses_in_a_failover_are_reported_as_expected_for_the_configuration() {
    let base = SimConfig {
        duration_ms: 5_000,
        intensity: 3.0,
        acks: AcksMode::One,
        ..SimConfig::cluster(3)
    };
    let seeds = 6;
    let (mut expected_losses, mut because) = (0, None);
    let summary = sweep(&base, seeds, false, None, |outcome, report| {
        let lost_write = outcome.verdicts.iter().find(|v| v.name == "lost-write");
        let lost_write = lost_write.expect("lost-write runs");
        expected_losses += lost_write.excused;
        because = because.or(lost_write.excused_because);
        if !report.ok {
            eprint!("{}", report.render());
        }
    });
    println!("{}", summary.render(&base));
    assert!(summary.failed.is_empty(), "failing seeds: {:?}", summary.failed);
    assert!(expected_losses > 0, "no acks=1 record was lost in {seeds} seeds of failovers");
    assert!(because.is_some_and(|b| b.contains("expected for this configuration")), "{because:?}");
}

/// Regression, seed 150 of a 3-node sweep: the leader (node 1) acknowledged an acks=all record
/// and crashed; the new leader's high watermark stayed below it for seconds, until a replica of
/// its ISR that had stopped fetching was dropped — the final read once stopped short there and
/// reported the record lost. It must now wait for the high watermark to settle and find it.
#[test]
fn seed_150_a_new_leaders_lagging_high_watermark_is_waited_out() {
    cluster_seed_passes(150);
}

/// Regression, seed 90 of a 3-node sweep: the controller (node 1) paused while an ISR expansion
/// of its own replica was in flight from the partition's leader; a republished registration
/// dropped the pending expansion, the leader advanced the high watermark without node 1, and
/// the controller — resuming, fencing the others — elected node 1: 50 committed records were
/// lost. The replica-divergence and lost-write checkers must now find nothing.
#[test]
fn seed_90_a_pending_isr_expansion_survives_a_republished_registration() {
    cluster_seed_passes(90);
}

/// Regression, seed 26 of a 3-node sweep with `--tick-ms 5`: the group coordinator (node 2)
/// was sent SIGTERM while an OffsetCommit waited for its offsets partition's ISR; leadership
/// moved, the commit was answered REQUEST_TIMED_OUT — which the client took for "not
/// committed" — yet the new coordinator had it, and poll-skip reported the member resuming
/// past every commit. Kafka 4.x answers NOT_COORDINATOR there, and either answer may follow
/// an append: the client now records such commits as maybe applied.
#[test]
fn seed_26_a_commit_answered_after_its_coordinator_moved_may_be_applied() {
    let config = SimConfig { seed: 26, duration_ms: 5_000, tick_ms: 5, ..SimConfig::cluster(3) };
    let outcome = kafka_lab_chaos::run(&config);
    assert!(outcome.ok(), "seed 26: {:?} {:?}", outcome.crashed, outcome.verdicts);
    let moved = outcome
        .events
        .iter()
        .any(|e| matches!(e, kafka_lab_chaos::history::Event::BrokerStopped { node_id: 2, .. }));
    assert!(moved, "node 2 finished a controlled shutdown");
}

/// Seed `seed` of the three-node sweep's settings (before controlled shutdowns were drawn,
/// so the seed's faults are the ones it was found with) passes every checker.
fn cluster_seed_passes(seed: u64) {
    let config = SimConfig {
        seed,
        duration_ms: 5_000,
        intensity: 3.0,
        restart_intensity: 0.0,
        ..SimConfig::cluster(3)
    };
    let outcome = kafka_lab_chaos::run(&config);
    assert!(outcome.ok(), "seed {seed}: {:?} {:?}", outcome.crashed, outcome.verdicts);
}
