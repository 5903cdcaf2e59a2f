//! Sweeps: many seeds in a row, with a progress line and a summary.

use std::io::Write;
use std::time::Instant;

use crate::config::SimConfig;
use crate::report::RunReport;
use crate::run::{run, RunOutcome};

/// Runs one seed and reports it, timing the wall clock (the harness's, not the simulation's).
pub fn run_timed(config: &SimConfig) -> (RunOutcome, RunReport) {
    let started = Instant::now();
    let outcome = run(config);
    let report = RunReport::new(&outcome, started.elapsed().as_millis() as u64);
    (outcome, report)
}

/// The result of a sweep.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SweepSummary {
    /// Seeds run.
    pub seeds: u64,
    /// Seeds that failed a checker.
    pub failed: Vec<u64>,
    /// Wall time, ms.
    pub wall_ms: u64,
    /// Simulated time over all runs, ms.
    pub sim_ms: u64,
    /// Seeds per wall minute.
    pub seeds_per_minute: f64,
    /// Per checker: how many seeds it failed.
    pub failures_by_checker: std::collections::BTreeMap<String, usize>,
    /// Per checker, over every seed: what it checked and what it excused as expected.
    pub checked_by_checker: std::collections::BTreeMap<String, (usize, usize)>,
    /// Per fault kind, over every seed: how many were injected.
    pub faults: std::collections::BTreeMap<String, usize>,
}

/// Runs `count` seeds from `base.seed` on, calling `each` with every run; with `progress`, a
/// progress line on stderr. Stops early after `stop_after_failures` failing seeds, if set.
pub fn sweep(
    base: &SimConfig,
    count: u64,
    progress: bool,
    stop_after_failures: Option<usize>,
    mut each: impl FnMut(&RunOutcome, &RunReport),
) -> SweepSummary {
    let started = Instant::now();
    let mut summary = SweepSummary {
        seeds: 0,
        failed: Vec::new(),
        wall_ms: 0,
        sim_ms: 0,
        seeds_per_minute: 0.0,
        failures_by_checker: Default::default(),
        checked_by_checker: Default::default(),
        faults: Default::default(),
    };
    for i in 0..count {
        let config = SimConfig { seed: base.seed.wrapping_add(i), ..base.clone() };
        let (outcome, report) = run_timed(&config);
        summary.seeds += 1;
        summary.sim_ms += report.sim_ms;
        for v in &report.verdicts {
            let entry = summary.checked_by_checker.entry(v.name.to_owned()).or_default();
            entry.0 += v.checked;
            entry.1 += v.excused;
        }
        for (kind, stats) in &report.faults {
            *summary.faults.entry(kind.clone()).or_default() += stats.count;
        }
        if !report.ok {
            summary.failed.push(config.seed);
            for v in report.verdicts.iter().filter(|v| !v.ok) {
                *summary.failures_by_checker.entry(v.name.to_owned()).or_default() += 1;
            }
            if report.crashed.is_some() {
                *summary.failures_by_checker.entry("host-failure".to_owned()).or_default() += 1;
            }
        }
        each(&outcome, &report);
        if progress {
            let elapsed = started.elapsed().as_secs_f64();
            let eta = elapsed / (i + 1) as f64 * (count - i - 1) as f64;
            eprint!(
                "\r[{:>5}/{count}] seed {:<8} failed {:<4} elapsed {:>6.1}s eta {:>6.1}s",
                i + 1,
                config.seed,
                summary.failed.len(),
                elapsed,
                eta
            );
            let _ = std::io::stderr().flush();
        }
        if stop_after_failures.is_some_and(|n| summary.failed.len() >= n) {
            break;
        }
    }
    if progress {
        eprintln!();
    }
    summary.wall_ms = started.elapsed().as_millis() as u64;
    summary.seeds_per_minute = summary.seeds as f64 * 60_000.0 / summary.wall_ms.max(1) as f64;
    summary
}

impl SweepSummary {
    /// The summary table.
    pub fn render(&self, base: &SimConfig) -> String {
        let mut out = format!(
            "{} seeds, {} failed; {:.1} seeds/min; simulated {:.0} s in {:.1} s wall ({:.0}x)\n",
            self.seeds,
            self.failed.len(),
            self.seeds_per_minute,
            self.sim_ms as f64 / 1000.0,
            self.wall_ms as f64 / 1000.0,
            self.sim_ms as f64 / self.wall_ms.max(1) as f64
        );
        out.push_str(&format!(
            "{:<28} {:>12} {:>10} {:>12}\n",
            "checker", "seeds failed", "checked", "excused"
        ));
        for (name, (checked, excused)) in &self.checked_by_checker {
            let failed = self.failures_by_checker.get(name).copied().unwrap_or(0);
            out.push_str(&format!("{name:<28} {failed:>12} {checked:>10} {excused:>12}\n"));
        }
        if let Some(n) = self.failures_by_checker.get("host-failure") {
            out.push_str(&format!("{:<28} {n:>12}\n", "host-failure"));
        }
        out.push_str(&format!("{:<28} {:>12}\n", "fault kind", "injected"));
        for (kind, n) in &self.faults {
            out.push_str(&format!("{kind:<28} {n:>12}\n"));
        }
        for seed in &self.failed {
            let config = SimConfig { seed: *seed, ..base.clone() };
            out.push_str(&format!("replay: {}\n", crate::report::replay_command(&config)));
        }
        out
    }
}
