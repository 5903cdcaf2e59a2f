//! What a run reports: counts, fault durations, verdicts, timings, and the replay command.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::checkers::Verdict;
use crate::config::SimConfig;
use crate::history::{CommitOutcome, Event, ProduceOutcome};
use crate::run::RunOutcome;
use crate::schedule::Fault;

/// Fault count and total duration by kind.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FaultStats {
    /// How many.
    pub count: usize,
    /// Summed duration, simulated ms.
    pub total_ms: u64,
}

/// The summary of one run, as written to `results.json`.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// The seed.
    pub seed: u64,
    /// Whether every checker passed.
    pub ok: bool,
    /// The command that replays this run.
    pub replay: String,
    /// The knobs.
    pub config: SimConfig,
    /// Faults derived from the seed.
    pub schedule: Vec<Fault>,
    /// Operation counts by kind and outcome, e.g. `produce acks=-1 idempotent: ok`.
    pub operations: BTreeMap<String, usize>,
    /// Faults by kind.
    pub faults: BTreeMap<String, FaultStats>,
    /// Broker starts (1 + restarts).
    pub broker_starts: usize,
    /// Each checker's verdict.
    pub verdicts: Vec<Verdict>,
    /// A host error or panic (a broker invariant), if any.
    pub crashed: Option<String>,
    /// Simulated time, ms.
    pub sim_ms: u64,
    /// Wall-clock time, ms (not part of the history; differs between replays).
    pub wall_ms: u64,
    /// Hash of the full history and fault trace.
    pub history_hash: String,
}

/// The exact command that reproduces a run of `config`.
pub fn replay_command(config: &SimConfig) -> String {
    format!(
        "kafka-lab sim --seed {} --nodes {} --rf {} --min-isr {} --duration-ms {} --producers {} \
         --consumers {} --group-consumers {} --session-timeout-ms {} --partitions {} \
         --flush-interval-messages {} --intensity {} --restart-intensity {} --request-timeout-ms {} \
         --heal-timeout-ms {} \
         --tick-ms {} --acks {}{}",
        config.seed,
        config.nodes,
        config.replication_factor,
        config.min_insync_replicas,
        config.duration_ms,
        config.producers,
        config.consumers,
        config.group_consumers,
        config.session_timeout_ms,
        config.partitions,
        config.flush_interval_messages,
        config.intensity,
        config.restart_intensity,
        config.request_timeout_ms,
        config.heal_timeout_ms,
        config.tick_ms,
        config.acks.name(),
        if config.unclean_leader_election { " --unclean" } else { "" }
    )
}

/// Operation counts by kind and outcome (`produce acks=-1 idempotent: ok`, `poll: records`, …)
/// and how many times a broker started, over a history.
pub fn count_operations(events: &[Event]) -> (BTreeMap<String, usize>, usize) {
    let mut operations = BTreeMap::new();
    let mut broker_starts = 0;
    for e in events {
        let key = match e {
            Event::Produce { acks, idempotent, outcome, .. } => {
                let kind = match outcome {
                    ProduceOutcome::Ok { .. } => "ok",
                    ProduceOutcome::Sent => "sent",
                    ProduceOutcome::Fail { .. } => "fail",
                    ProduceOutcome::Info { .. } => "info",
                };
                let idem = if *idempotent { " idempotent" } else { "" };
                format!("produce acks={acks}{idem}: {kind}")
            }
            Event::Poll { client, records, .. } if client == "final-reader" => {
                *operations.entry("final read: records".to_owned()).or_default() += records.len();
                "final read: polls".to_owned()
            }
            Event::Poll { records, .. } => {
                *operations.entry("poll: records".to_owned()).or_default() += records.len();
                "poll: ok".to_owned()
            }
            Event::Reset { .. } => "poll: reset".to_owned(),
            Event::GroupOp { op, outcome, .. } => format!("group {op}: {outcome}"),
            Event::Assigned { .. } => "group sync: ok (assigned)".to_owned(),
            Event::Commit { outcome, .. } => match outcome {
                CommitOutcome::Ok => "commit: ok".to_owned(),
                CommitOutcome::Fail { error } => format!("commit: fail ({error})"),
                CommitOutcome::Info { .. } => "commit: info".to_owned(),
            },
            Event::OffsetFetch { .. } => "offset fetch: ok".to_owned(),
            Event::BrokerStarted { .. } => {
                broker_starts += 1;
                continue;
            }
            _ => continue,
        };
        *operations.entry(key).or_default() += 1;
    }
    (operations, broker_starts)
}

/// The checkers' lines of a summary: each verdict with its counts, its first anomaly and why
/// items were excused (the simulator's report and the container suites' share them).
pub fn render_verdicts(verdicts: &[Verdict]) -> String {
    let mut out = String::from("  checkers:\n");
    for v in verdicts {
        let status = if v.ok { "ok" } else { "FAIL" };
        out.push_str(&format!(
            "    {:<32} {status:<4} checked {:>6}, anomalies {}, excused {}\n",
            v.name, v.checked, v.anomalies, v.excused
        ));
        if let Some(first) = &v.first {
            out.push_str(&format!("      first: {first}\n"));
        }
        if let Some(because) = v.excused_because {
            out.push_str(&format!("      excused: {because}\n"));
        }
    }
    out
}

impl RunReport {
    /// Summarises `outcome`, which took `wall_ms` of real time.
    pub fn new(outcome: &RunOutcome, wall_ms: u64) -> Self {
        let (operations, broker_starts) = count_operations(&outcome.events);
        let mut faults: BTreeMap<String, FaultStats> = BTreeMap::new();
        for f in &outcome.schedule {
            let stats = faults.entry(f.kind.name().to_owned()).or_default();
            stats.count += 1;
            let end = (f.at_ms + f.duration_ms).min(outcome.config.duration_ms);
            stats.total_ms += end - f.at_ms;
        }
        Self {
            seed: outcome.config.seed,
            ok: outcome.ok(),
            replay: replay_command(&outcome.config),
            config: outcome.config.clone(),
            schedule: outcome.schedule.clone(),
            operations,
            faults,
            broker_starts,
            verdicts: outcome.verdicts.clone(),
            crashed: outcome.crashed.clone(),
            sim_ms: outcome.sim_ms,
            wall_ms,
            history_hash: format!("{:016x}", outcome.history_hash),
        }
    }

    /// A human-readable summary.
    pub fn render(&self) -> String {
        let mut out = format!(
            "seed {}: {}\n  simulated {:.1} s in {:.2} s wall ({:.0}x), history hash {}\n",
            self.seed,
            if self.ok { "ok" } else { "FAILED" },
            self.sim_ms as f64 / 1000.0,
            self.wall_ms as f64 / 1000.0,
            self.sim_ms as f64 / (self.wall_ms.max(1)) as f64,
            self.history_hash
        );
        out.push_str("  faults:");
        if self.faults.is_empty() {
            out.push_str(" none");
        }
        for (name, s) in &self.faults {
            out.push_str(&format!(" {name}×{} ({} ms)", s.count, s.total_ms));
        }
        out.push_str(&format!("; broker starts: {}\n  operations:\n", self.broker_starts));
        for (name, n) in &self.operations {
            out.push_str(&format!("    {name:<40} {n}\n"));
        }
        out.push_str(&render_verdicts(&self.verdicts));
        if let Some(crashed) = &self.crashed {
            out.push_str(&format!("  host failure: {crashed}\n"));
        }
        if !self.ok {
            out.push_str(&format!("  replay: {}\n", self.replay));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::replay_command;
    use crate::cli::SimArgs;
    use crate::config::{AcksMode, SimConfig};

    #[derive(Parser)]
    struct Sim {
        #[command(flatten)]
        args: SimArgs,
    }

    /// The replay command a report prints parses back into the very configuration it ran,
    /// every knob included (a knob it forgot would replay another run).
    #[test]
    fn the_replay_command_parses_back_into_the_same_config() {
        let configs = [
            SimConfig::default(),
            SimConfig {
                seed: 90,
                acks: AcksMode::One,
                unclean_leader_election: true,
                tick_ms: 5,
                ..SimConfig::cluster(3)
            },
            SimConfig {
                acks: AcksMode::All,
                flush_interval_messages: 1000,
                ..SimConfig::default()
            },
        ];
        for config in configs {
            let command = replay_command(&config);
            let words = command.split_whitespace().skip(1);
            let parsed = Sim::try_parse_from(words).expect("the replay command parses").args;
            assert_eq!(parsed.config(), config, "{command}");
        }
    }
}
