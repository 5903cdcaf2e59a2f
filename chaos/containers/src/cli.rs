//! `kafka-lab chaos`: chaos failover suites on a real three-node cluster in containers.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use crate::suite::{default_out, run_suite, Suite, SuiteConfig};

/// `kafka-lab chaos`: run a chaos failover suite against real containers.
///
/// Three kafka-lab nodes (each a broker and a voter of the metadata quorum) run as containers
/// from the `kafka-lab` image, on a client network (each node's client listener published on
/// a host port) and a cluster network (replication and the quorum); the lag exporter runs in
/// its own container. Build both images first, no registry needed:
///
///   scripts/build-image kafka-lab && scripts/build-image kafka-lag-exporter
///
/// While the suite's faults repeat for --duration, librdkafka clients on this machine produce
/// numbered records (two idempotent acks=all producers, one acks=1 producer for contrast) to
/// a topic with 6 partitions, RF=3, min.insync.replicas=2, and a consumer group consumes and
/// commits. Then every node is healed, the topic read back, each node's log read from its
/// disk, and the simulator's checkers judge the history: lost-write (acks=all records must
/// survive; acks=1 losses are shown as expected), duplicate, inconsistent-offsets,
/// replica-divergence, nonmonotonic-poll, poll-skip, committed-offset-regression, liveness.
/// The exporter must report under-replicated partitions during the faults and none after.
#[derive(Debug, Clone, clap::Args)]
pub struct ChaosArgs {
    #[command(subcommand)]
    pub command: ChaosCommand,
}

/// What to do.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum ChaosCommand {
    /// Run one suite and write its folder (results.json, summary.txt, report.html,
    /// history.jsonl, metadata.jsonl, exporter.jsonl, every container's log, the nodes' data;
    /// index.html in the folder above lists the runs); exit 1 if a checker failed.
    Run(RunArgs),
    /// Draw a run's report.html again from its files, and the index.html of its folder.
    Report {
        /// The run's folder.
        dir: PathBuf,
    },
}

/// Arguments of `kafka-lab chaos run`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Which fault to repeat.
    #[arg(long, value_enum)]
    pub suite: Suite,

    /// How long the faults repeat, e.g. 120s, 5m.
    #[arg(long, default_value = "120s", value_parser = parse_duration)]
    pub duration: Duration,

    /// The run's folder (default chaos-runs/<suite>-<unix time>).
    #[arg(long)]
    pub out: Option<PathBuf>,

    /// broker.session.timeout.ms of the nodes: how long a silent node keeps its leaderships
    /// (Kafka's default). A kill's failover takes about this long; a pause's or an
    /// isolation's lasts until the node resumes, as librdkafka's requests wait on it.
    #[arg(long, default_value_t = 9000)]
    pub broker_session_timeout_ms: u64,

    /// The nodes' image.
    #[arg(long, default_value = "kafka-lab")]
    pub image: String,

    /// The lag exporter's image.
    #[arg(long, default_value = "kafka-lag-exporter")]
    pub exporter_image: String,
}

/// `120s`, `5m`, `1500ms`, or plain seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let n: u64 = number.parse().map_err(|_| format!("{text:?} is not a duration like 120s"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        "h" => Ok(Duration::from_secs(n * 3600)),
        _ => Err(format!("{text:?}: the unit must be ms, s, m or h")),
    }
}

/// Runs `kafka-lab chaos …`.
pub fn run(args: ChaosArgs) -> anyhow::Result<ExitCode> {
    let args = match args.command {
        ChaosCommand::Run(args) => args,
        ChaosCommand::Report { dir } => {
            crate::report::write_report(&dir)?;
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                crate::report::write_index(parent)?;
            }
            println!("wrote {}", dir.join("report.html").display());
            return Ok(ExitCode::SUCCESS);
        }
    };
    let config = SuiteConfig {
        suite: args.suite,
        duration: args.duration,
        broker_session_timeout_ms: args.broker_session_timeout_ms,
        image: args.image,
        exporter_image: args.exporter_image,
        ..SuiteConfig::default()
    };
    let out = args.out.unwrap_or_else(|| default_out(args.suite));
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        if let Err(why) = crate::cluster::engine_available().await {
            anyhow::bail!("kafka-lab chaos needs a Docker engine: {why}");
        }
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        // Interrupted (Ctrl-C, SIGTERM): the run is dropped, and with it every container and
        // the cluster network (their Drop removes them), so nothing is left running.
        let report = tokio::select! {
            report = run_suite(&config, &out) => {
                report.with_context(|| format!("the {} suite", config.suite.name()))?
            }
            _ = tokio::signal::ctrl_c() => return Ok(interrupted(&out)),
            _ = terminate.recv() => return Ok(interrupted(&out)),
        };
        print!("{}", report.render());
        println!("  folder: {}", out.display());
        Ok(if report.ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
    })
}

/// What an interrupted run says once its containers are gone.
fn interrupted(out: &std::path::Path) -> ExitCode {
    eprintln!(
        "interrupted: the containers and networks are removed; {} is incomplete",
        out.display()
    );
    ExitCode::from(130)
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations_parse_with_their_units() {
        assert_eq!(parse_duration("120s"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("s").is_err());
    }
}
