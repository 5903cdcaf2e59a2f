//! The CI sweep: a few hundred seeds, both flush policies, every checker must pass.
//!
//! Sized for a couple of minutes in a debug build on two cores: short chaos phases with a
//! high fault rate. `kafka-lab sim --seeds N` runs longer sweeps.

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
    let summary = sweep(&base, seeds, false, None, |outcome, report| {
        crashes += report.broker_starts.saturating_sub(1);
        acknowledged += report
            .operations
            .iter()
            .filter(|(k, _)| k.starts_with("produce") && k.ends_with(": ok"))
            .map(|(_, n)| n)
            .sum::<usize>();
        if !report.ok {
            eprint!("{}", report.render());
            assert!(outcome.events.len() > 1);
        }
    });
    println!("{}", summary.render(&base));
    assert!(crashes > seeds as usize / 4, "the sweep should crash the broker often: {crashes}");
    assert!(acknowledged > seeds as usize * 50, "too few acknowledged writes: {acknowledged}");
    assert!(summary.failed.is_empty(), "failing seeds: {:?}", summary.failed);
}

#[test]
fn strict_flush_policy_sweep_finds_no_anomaly() {
    run_sweep(sweep_config(0, 1), 150);
}

#[test]
fn lax_flush_policy_sweep_finds_no_anomaly() {
    run_sweep(sweep_config(1_000_000, 1_000), 150);
}
