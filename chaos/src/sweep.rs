//! Sweeps: many seeds in a row, with a progress line and a summary.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
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
    pub failures_by_checker: BTreeMap<String, usize>,
    /// Per checker, over every seed: what it checked and what it excused as expected.
    pub checked_by_checker: BTreeMap<String, (usize, usize)>,
    /// Per fault kind, over every seed: how many were injected.
    pub faults: BTreeMap<String, usize>,
}

/// Runs `count` seeds from `base.seed` on, calling `each` with every run; with `progress`, a
/// progress line on stderr. Stops early after `stop_after_failures` failing seeds, if set.
pub fn sweep(
    base: &SimConfig,
    count: u64,
    progress: bool,
    stop_after_failures: Option<usize>,
    each: impl FnMut(&RunOutcome, &RunReport),
) -> SweepSummary {
    sweep_on(base, count, 1, progress, stop_after_failures, each)
}

/// [`sweep`] on `jobs` threads, each running whole seeds (a run is one turmoil world on one
/// thread, so runs do not share state and each still replays exactly). `each` and the summary
/// see the runs in seed order whatever order they finish in; with `stop_after_failures`, the
/// seeds after the last one counted are dropped.
pub fn sweep_on(
    base: &SimConfig,
    count: u64,
    jobs: usize,
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
    let next = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let (results, finished) = mpsc::channel::<(u64, RunOutcome, RunReport)>();
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            let (next, stop, results) = (&next, &stop, results.clone());
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= count || stop.load(Ordering::SeqCst) {
                    return;
                }
                let config = SimConfig { seed: base.seed.wrapping_add(i), ..base.clone() };
                let (outcome, report) = run_timed(&config);
                if results.send((i, outcome, report)).is_err() {
                    return;
                }
            });
        }
        drop(results);
        // Runs finish out of order on several threads; they are taken in seed order.
        let mut waiting = BTreeMap::new();
        let mut i = 0;
        for (index, outcome, report) in finished.iter() {
            waiting.insert(index, (outcome, report));
            while let Some((outcome, report)) = waiting.remove(&i) {
                summary.add(&outcome, &report);
                each(&outcome, &report);
                i += 1;
                if progress {
                    print_progress(&summary, count, started, report.seed);
                }
                if stop_after_failures.is_some_and(|n| summary.failed.len() >= n) {
                    stop.store(true, Ordering::SeqCst);
                }
                if stop.load(Ordering::SeqCst) {
                    break;
                }
            }
            if stop.load(Ordering::SeqCst) {
                break;
            }
        }
    });
    if progress {
        eprintln!();
    }
    summary.wall_ms = started.elapsed().as_millis() as u64;
    summary.seeds_per_minute = summary.seeds as f64 * 60_000.0 / summary.wall_ms.max(1) as f64;
    summary
}

/// The progress line: a bar, seeds done, failures, elapsed and remaining time.
fn print_progress(summary: &SweepSummary, count: u64, started: Instant, seed: u64) {
    const WIDTH: u64 = 30;
    let done = summary.seeds;
    let filled = (done * WIDTH / count.max(1)) as usize;
    let elapsed = started.elapsed().as_secs_f64();
    let eta = elapsed / done.max(1) as f64 * count.saturating_sub(done) as f64;
    eprint!(
        "\r[{}{}] {done:>6}/{count} seed {seed:<8} failed {:<4} elapsed {elapsed:>6.1}s eta {eta:>6.1}s",
        "#".repeat(filled),
        ".".repeat(WIDTH as usize - filled),
        summary.failed.len(),
    );
    let _ = std::io::stderr().flush();
}

impl SweepSummary {
    /// Counts one run.
    fn add(&mut self, outcome: &RunOutcome, report: &RunReport) {
        self.seeds += 1;
        self.sim_ms += report.sim_ms;
        for v in &report.verdicts {
            let entry = self.checked_by_checker.entry(v.name.to_owned()).or_default();
            entry.0 += v.checked;
            entry.1 += v.excused;
        }
        for (kind, stats) in &report.faults {
            *self.faults.entry(kind.clone()).or_default() += stats.count;
        }
        if !report.ok {
            self.failed.push(outcome.config.seed);
            for v in report.verdicts.iter().filter(|v| !v.ok) {
                *self.failures_by_checker.entry(v.name.to_owned()).or_default() += 1;
            }
            if report.crashed.is_some() {
                *self.failures_by_checker.entry("host-failure".to_owned()).or_default() += 1;
            }
        }
    }

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
            "{:<32} {:>12} {:>10} {:>12}\n",
            "checker", "seeds failed", "checked", "excused"
        ));
        for (name, (checked, excused)) in &self.checked_by_checker {
            let failed = self.failures_by_checker.get(name).copied().unwrap_or(0);
            out.push_str(&format!("{name:<32} {failed:>12} {checked:>10} {excused:>12}\n"));
        }
        if let Some(n) = self.failures_by_checker.get("host-failure") {
            out.push_str(&format!("{:<32} {n:>12}\n", "host-failure"));
        }
        out.push_str(&format!("{:<32} {:>12}\n", "fault kind", "injected"));
        for (kind, n) in &self.faults {
            out.push_str(&format!("{kind:<32} {n:>12}\n"));
        }
        for seed in &self.failed {
            let config = SimConfig { seed: *seed, ..base.clone() };
            out.push_str(&format!("replay: {}\n", crate::report::replay_command(&config)));
        }
        out
    }
}
