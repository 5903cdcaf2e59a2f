//! `kafka-lab sim`: the command-line shell over [`crate::run`] and [`crate::sweep`].

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::config::{AcksMode, SimConfig};
use crate::history::to_jsonl;
use crate::sweep::{run_timed, sweep_on};

/// Deterministic fault simulator: the broker's own code under seeded faults, replayable.
///
/// A run has three phases. CHAOS (--duration-ms): producers (--acks: by default cycling
/// all+idempotent, 1, 0, all) write unique records; assign consumers poll every partition; group consumers
/// (one consumer group: join, sync with a range assignment, heartbeat, fetch, commit) share
/// the partitions; faults derived from the seed hit the client<->broker links (partitions both
/// ways and one-way, hold/release, latency spikes, message loss), the broker (crash and restart
/// after a downtime, with or without a torn write: unsynced bytes are lost, or a random prefix
/// of them survives) and the group (a member stalls past its session timeout and resumes; a
/// member leaves and later joins again). HEAL: the network is repaired, the broker restarted
/// if down, clients stop. FINAL READ: every partition is read to its high watermark; it must
/// finish within --heal-timeout-ms.
///
/// Checkers: lost-write (an acknowledged record missing from the final read; with
/// --flush-interval-messages above 1, losses a crash explains are excused), duplicate,
/// inconsistent-offsets (one offset, two records), nonmonotonic-poll and poll-skip (also: a
/// new group owner resumes at or before the committed offset), high-watermark (going
/// backwards), committed-offset-regression (a commit or OffsetFetch below an acknowledged
/// commit, without a reset), double-assignment (two members of one generation own a
/// partition), stale-generation-commit (a commit of an old generation acknowledged after a new
/// one formed), one-leader-per-epoch (no two nodes lead a partition in one leader epoch, nor
/// the metadata quorum in one quorum epoch, by the nodes' own sampled state), epoch-regression
/// (a node's quorum and leader epochs never go back while it runs),
/// majority-reached-high-watermark (a quorum leader's high watermark is held by a majority of
/// the voters), committed-metadata (every committed metadata prefix a node reported is in the
/// final leader's log, and each voter's committed log matches it), liveness. Broker
/// invariants are asserted inside the broker; a violation fails the run as a host failure.
///
/// Cluster (--nodes 3): combined broker+controller nodes (a three-voter Raft quorum), the
/// topic created once through the controller with --rf and --min-isr, clients routing to each
/// partition's leader by metadata; faults pick a node. lost-write then holds for acks=all with
/// RF >= 3, min.insync.replicas >= 2 and unclean election off; acks=1 records lost in a
/// failover, and with --unclean acknowledged records an out-of-sync new leader lacked, are
/// excused as expected for that configuration (the report counts them). high-watermark is
/// checked per answering node (a new leader's may lag its predecessor's until its followers
/// fetch, as in Kafka).
/// replica-divergence: after the run each node's copy of every partition is read from its
/// disk; below the high watermark it must hold what the final read found. Cluster faults also
/// cut a node off from the other nodes (clients still reach it: the zombie leader) and pause
/// a node (all its messages held, then delivered).
///
/// Output: a report on stdout; with --out, results.json (schedule, counts, verdicts),
/// history.jsonl (every operation, fault and node sample) and timeline.html (a lane per node
/// and client with faults shaded and restarts marked, each partition's and the quorum's
/// leader over time with its epochs, high watermarks, acknowledged vs read records).
///
/// Replay: the same seed and knobs replay the same run exactly; a failing run prints the
/// command. A sweep (--seeds N, --jobs J threads) prints a progress bar, then each checker's
/// counts and the fault kinds injected. Exit code 1 if any seed fails.
#[derive(Debug, Clone, Args)]
#[command(verbatim_doc_comment)]
pub struct SimArgs {
    /// Seed of the run (with --seeds: the first seed of the sweep).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Sweep this many consecutive seeds, with a progress bar and a summary table.
    #[arg(long)]
    pub seeds: Option<u64>,
    /// Threads a sweep runs seeds on (0: one per CPU). Each seed is one simulated world on
    /// one thread and replays exactly either way; reports come in seed order.
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// Write results.json, history.jsonl and timeline.html here (a sweep: results.json, and
    /// seed-<S>/history.jsonl and seed-<S>/timeline.html for each failing seed).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Nodes: 1 is a single broker (its own quorum's one voter); more run a cluster as
    /// `kafka-lab cluster up` does — combined broker+controller nodes, the first three the
    /// metadata quorum's voters — and the faults pick a node.
    #[arg(long, default_value_t = 1)]
    pub nodes: i32,
    /// The topic's replication factor (default: min(3, --nodes)).
    #[arg(long)]
    pub rf: Option<i32>,
    /// The topic's min.insync.replicas (default: RF - 1, at least 1). With acks=all, RF >= 3
    /// and min.insync.replicas >= 2 no acknowledged record may be lost; acks=1 records lost
    /// in a failover are counted as expected for that configuration.
    #[arg(long)]
    pub min_isr: Option<i32>,
    /// Simulated length of the chaos phase.
    #[arg(long, default_value_t = SimConfig::default().duration_ms)]
    pub duration_ms: u64,
    /// Producer hosts.
    #[arg(long, default_value_t = SimConfig::default().producers)]
    pub producers: usize,
    /// The producers' acks: `mixed` cycles through all+idempotent, 1, 0 and all; `all` is
    /// acks=all throughout (idempotent and not, alternating); `1` is acks=1 throughout.
    #[arg(long, value_enum, default_value_t = AcksMode::Mixed)]
    pub acks: AcksMode,
    /// The topic's unclean.leader.election.enable=true: when no in-sync replica is left, an
    /// out-of-sync one leads, and acknowledged records it lacks are lost — counted as
    /// expected for this configuration, not as a failure.
    #[arg(long)]
    pub unclean: bool,
    /// Assign-consumer hosts.
    #[arg(long, default_value_t = SimConfig::default().consumers)]
    pub consumers: usize,
    /// Group consumers (members of one consumer group).
    #[arg(long, default_value_t = SimConfig::default().group_consumers)]
    pub group_consumers: usize,
    /// The group consumers' session.timeout.ms (simulated ms; at least 100).
    #[arg(long, default_value_t = SimConfig::default().session_timeout_ms)]
    pub session_timeout_ms: u64,
    /// Partitions of the topic under test.
    #[arg(long, default_value_t = SimConfig::default().partitions)]
    pub partitions: i32,
    /// The broker's log.flush.interval.messages; 1 = fsync before every ack.
    #[arg(long, default_value_t = SimConfig::default().flush_interval_messages)]
    pub flush_interval_messages: u64,
    /// Mean faults per simulated second during chaos (0: no faults).
    #[arg(long, default_value_t = SimConfig::default().intensity)]
    pub intensity: f64,
    /// In a cluster, mean controlled shutdowns per simulated second (SIGTERM: leaderships
    /// move away, the node flushes, exits and restarts after a downtime); a quarter of them
    /// are rolling restarts of every node in turn. 0: none.
    #[arg(long, default_value_t = SimConfig::default().restart_intensity)]
    pub restart_intensity: f64,
    /// Deadline of every client request (simulated ms).
    #[arg(long, default_value_t = SimConfig::default().request_timeout_ms)]
    pub request_timeout_ms: u64,
    /// Liveness bound: the final read must finish this long after healing (simulated ms).
    #[arg(long, default_value_t = SimConfig::default().heal_timeout_ms)]
    pub heal_timeout_ms: u64,
    /// The simulator's step (simulated ms): 1 resolves latencies to the millisecond; 5 runs a
    /// sweep about 3-4x faster with coarser timing.
    #[arg(long, default_value_t = SimConfig::default().tick_ms)]
    pub tick_ms: u64,
}

impl SimArgs {
    /// The run configuration these arguments describe.
    pub fn config(&self) -> SimConfig {
        let nodes = self.nodes.max(1);
        let replication_factor = self.rf.unwrap_or(nodes.min(3)).clamp(1, nodes);
        let min_insync_replicas =
            self.min_isr.unwrap_or((replication_factor - 1).max(1)).clamp(1, replication_factor);
        SimConfig {
            seed: self.seed,
            nodes,
            replication_factor,
            min_insync_replicas,
            duration_ms: self.duration_ms,
            producers: self.producers,
            acks: self.acks,
            unclean_leader_election: self.unclean,
            consumers: self.consumers,
            group_consumers: self.group_consumers,
            session_timeout_ms: self.session_timeout_ms.max(100),
            partitions: self.partitions.max(1),
            flush_interval_messages: self.flush_interval_messages.max(1),
            intensity: self.intensity,
            restart_intensity: self.restart_intensity,
            request_timeout_ms: self.request_timeout_ms,
            heal_timeout_ms: self.heal_timeout_ms,
            tick_ms: self.tick_ms.max(1),
        }
    }
}

/// Logs to stderr, warnings only unless `RUST_LOG` says otherwise: a sweep's hosts log every
/// connection and restart at info level.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            // The nodes' warnings are the faults' expected effects (a refused registration in
            // an election, a lost connection): `RUST_LOG=warn` shows them.
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "error".into()),
        )
        .with_target(false)
        .with_writer(std::io::stderr)
        .with_ansi(kafka_lab_broker::cli::colour_on(&std::io::stderr()))
        .try_init();
}

/// Runs `kafka-lab sim`; the exit code is 1 if any checker failed.
pub fn run(args: SimArgs) -> anyhow::Result<ExitCode> {
    let config = args.config();
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir)?;
    }
    let ok = match args.seeds {
        None => {
            let (outcome, report) = run_timed(&config);
            print!("{}", report.render());
            if let Some(dir) = &args.out {
                std::fs::write(dir.join("results.json"), serde_json::to_string_pretty(&report)?)?;
                std::fs::write(dir.join("history.jsonl"), to_jsonl(&outcome.events))?;
                std::fs::write(dir.join("timeline.html"), crate::timeline::render(&outcome))?;
            }
            report.ok
        }
        Some(count) => {
            let mut reports = Vec::new();
            let mut write_error = None;
            let jobs = match args.jobs {
                0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
                n => n,
            };
            let summary = sweep_on(&config, count, jobs, true, None, |outcome, report| {
                if !report.ok {
                    eprintln!();
                    eprint!("{}", report.render());
                    if let Some(dir) = &args.out {
                        let seed_dir = dir.join(format!("seed-{}", report.seed));
                        let written = std::fs::create_dir_all(&seed_dir)
                            .and_then(|()| {
                                std::fs::write(
                                    seed_dir.join("history.jsonl"),
                                    to_jsonl(&outcome.events),
                                )
                            })
                            .and_then(|()| {
                                std::fs::write(
                                    seed_dir.join("timeline.html"),
                                    crate::timeline::render(outcome),
                                )
                            });
                        if let Err(e) = written {
                            write_error = Some(e);
                        }
                    }
                }
                reports.push(report.clone());
            });
            print!("{}", summary.render(&config));
            if let Some(e) = write_error {
                return Err(e.into());
            }
            if let Some(dir) = &args.out {
                let results = serde_json::json!({ "summary": summary, "runs": reports });
                std::fs::write(dir.join("results.json"), serde_json::to_string_pretty(&results)?)?;
            }
            summary.failed.is_empty()
        }
    };
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
