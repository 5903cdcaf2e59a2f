//! `kafka-lab lab …`: the course labs' command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use crate::cluster_lab::{ClusterLab, DEFAULT_BOOTSTRAP_SERVERS, DEFAULT_EXPORTER};
use crate::{Entry, Lab, Lang, Phase, Ports, Solution};

/// The course labs: module 2 (partitions and keys; replication and failover), 4 (consumer
/// groups), 8 (security: certificates, a TLS listener, SCRAM users, ACLs, quotas) and 10 (a
/// slow consumer), each exercise with written steps (English, or Russian with --lang ru), a
/// checker and a reference solution.
///
/// `kafka-lab lab list` shows the exercises by module. For each: read `kafka-lab lab show
/// <id>`, do it and run `kafka-lab lab check <id>`. Modules 2, 4 and 10 work on a running broker
/// or cluster (`--bootstrap-server`, default 127.0.0.1:9092: `kafka-lab up`); the security lab
/// on your own broker in a lab directory (`kafka-lab lab init`, then `kafka-lab broker --config
/// security-lab/broker.yaml`, restarted after every broker.yaml change). The checker talks to
/// the broker with real clients (librdkafka, OpenSSL, the admin client) and prints one line per
/// check, ✓ or ✗ with what to fix; it exits 1 if anything failed.
#[derive(Debug, clap::Args)]
pub struct LabArgs {
    #[command(subcommand)]
    pub command: LabCommand,
}

/// Where the lab lives.
#[derive(Debug, Clone, clap::Args)]
pub struct DirArg {
    /// The lab directory (lab.yaml, broker.yaml, tls/, client properties).
    #[arg(long, default_value = "security-lab", env = "KAFKA_LAB_DIR")]
    pub dir: PathBuf,
}

/// Where the cluster labs (modules 2, 4 and 10) connect.
#[derive(Debug, Clone, clap::Args)]
pub struct ClusterArg {
    /// The cluster of the module 2, 4 and 10 exercises (comma-separated host:port list).
    #[arg(long, default_value = DEFAULT_BOOTSTRAP_SERVERS, env = "KAFKA_LAB_BOOTSTRAP_SERVER")]
    pub bootstrap_server: String,
    /// The lag exporter (host:port) the troubleshooting exercise reads.
    #[arg(long, default_value = DEFAULT_EXPORTER, env = "KAFKA_LAB_EXPORTER")]
    pub exporter: String,
}

impl ClusterArg {
    fn lab(&self) -> ClusterLab {
        ClusterLab::new(&self.bootstrap_server, &self.exporter)
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum LabCommand {
    /// Create the lab directory: lab.yaml (where checkers connect) and a PLAINTEXT-only
    /// broker.yaml to start from. Existing files are kept unless --force.
    Init {
        #[command(flatten)]
        dir: DirArg,
        /// The host clients dial on every listener (the broker certificate must cover it).
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// Port of the PLAINTEXT listener.
        #[arg(long, default_value_t = 9092)]
        plaintext_port: u16,
        /// Port of the SSL listener (exercise tls-listener).
        #[arg(long, default_value_t = 9093)]
        ssl_port: u16,
        /// Port of the SASL_SSL listener (exercise users).
        #[arg(long, default_value_t = 9094)]
        sasl_ssl_port: u16,
        /// Overwrite lab.yaml and broker.yaml.
        #[arg(long)]
        force: bool,
    },
    /// List the exercises in course order, by module.
    List,
    /// Show an exercise's steps.
    Show {
        /// Exercise id, from `kafka-lab lab list`.
        exercise: String,
        /// The language of the steps.
        #[arg(long, value_enum, default_value = "en", env = "KAFKA_LAB_LANG")]
        lang: Lang,
    },
    /// Check your work on an exercise against your running broker; exits 1 on any failure.
    Check {
        /// Exercise id, from `kafka-lab lab list`.
        exercise: String,
        #[command(flatten)]
        dir: DirArg,
        #[command(flatten)]
        cluster: ClusterArg,
    },
    /// Apply the reference solution. Security lab: certificates and broker.yaml first; once the
    /// broker runs the new broker.yaml, run it again for the admin operations (users, ACLs,
    /// quotas). Modules 2, 4 and 10: what the steps do, against the running cluster.
    Solve {
        /// Exercise id, from `kafka-lab lab list`.
        exercise: String,
        #[command(flatten)]
        dir: DirArg,
        #[command(flatten)]
        cluster: ClusterArg,
    },
    /// Run one member of a consumer group until Ctrl-C: it prints each rebalance (the
    /// partitions assigned and revoked), processes each record (taking --process-ms) and then
    /// commits its offset by hand (enable.auto.commit=false, a synchronous commit).
    Consume {
        #[command(flatten)]
        cluster: ClusterArg,
        /// The group (`group.id`).
        #[arg(long)]
        group: String,
        /// The topic to subscribe to.
        #[arg(long)]
        topic: String,
        /// `client.id`, shown in CLIENT-ID by `kafka-lab consumer-groups --describe`.
        #[arg(long, default_value = "kafka-lab-member")]
        client_id: String,
        /// Milliseconds of "work" per record before its commit (a slow consumer: a large one).
        #[arg(long, default_value_t = 0)]
        process_ms: u64,
    },
}

/// Runs one `kafka-lab lab` command.
pub fn run(args: LabArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        LabCommand::Init { dir, host, plaintext_port, ssl_port, sasl_ssl_port, force } => {
            let ports = Ports { plaintext: plaintext_port, ssl: ssl_port, sasl_ssl: sasl_ssl_port };
            let lab = Lab::init(&dir.dir, &host, ports, force)?;
            println!(
                "lab ready in {}\n  lab.yaml     where the checkers connect\n  broker.yaml  your \
                 broker: kafka-lab broker --config {}\nNext: kafka-lab lab show {}",
                lab.dir.display(),
                lab.broker_yaml().display(),
                crate::all()[0].id
            );
        }
        LabCommand::List => print!("{}", list()),
        LabCommand::Show { exercise, lang } => print!("{}", find(&exercise)?.steps(lang)),
        LabCommand::Check { exercise, dir, cluster } => {
            let entry = find(&exercise)?;
            let report = match entry {
                Entry::Security(exercise) => (exercise.check)(&Lab::open(&dir.dir)?),
                Entry::Cluster(exercise) => (exercise.check)(&cluster.lab()),
            };
            print!("{report}");
            if !report.passed() {
                println!("{}: {} check(s) failed", entry.id(), report.failures().len());
                return Ok(ExitCode::from(1));
            }
            println!("{}: all {} checks passed", entry.id(), report.checks.len());
        }
        LabCommand::Solve { exercise, dir, cluster } => {
            let exercise = match find(&exercise)? {
                Entry::Security(exercise) => exercise,
                Entry::Cluster(exercise) => {
                    let lab = cluster.lab();
                    let solution: Solution = (exercise.solve)(&lab, Phase::Admin)?;
                    for action in &solution.actions {
                        println!("  {action}");
                    }
                    println!(
                        "{}: the reference solution's part is done; check it with `kafka-lab lab check {} --bootstrap-server {}`",
                        exercise.id, exercise.id, lab.bootstrap_servers
                    );
                    return Ok(ExitCode::SUCCESS);
                }
            };
            let lab = Lab::open(&dir.dir)?;
            let files = (exercise.solve)(&lab, Phase::Files)?;
            for action in &files.actions {
                println!("  {action}");
            }
            if files.restart_broker {
                println!(
                    "broker.yaml changed: restart the broker (kafka-lab broker --config {}), then \
                     run `kafka-lab lab solve {} --dir {}` again to finish (admin operations, \
                     where the exercise has any)",
                    lab.broker_yaml().display(),
                    exercise.id,
                    dir.dir.display()
                );
                return Ok(ExitCode::SUCCESS);
            }
            let admin = (exercise.solve)(&lab, Phase::Admin)?;
            for action in &admin.actions {
                println!("  {action}");
            }
            println!("solved {}: check it with `kafka-lab lab check {}`", exercise.id, exercise.id);
        }
        LabCommand::Consume { cluster, group, topic, client_id, process_ms } => {
            let process_time = Duration::from_millis(process_ms);
            let options = crate::member::MemberOptions { group, topic, client_id, process_time };
            consume(&cluster, options)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn find(id: &str) -> anyhow::Result<Entry> {
    crate::find_any(id).map(|(_, _, e)| e).ok_or_else(|| {
        let ids: Vec<&str> = crate::course().iter().map(|(_, _, e)| e.id()).collect();
        anyhow::anyhow!("no exercise `{id}`; the exercises are: {}", ids.join(", "))
    })
}

/// `kafka-lab lab list`: every exercise by module, numbered `module.n`.
pub fn list() -> String {
    let mut out = String::new();
    for module in crate::MODULES {
        out.push_str(&format!(
            "Module {}: {}  ({})\n",
            module.number, module.title, module.runs_on
        ));
        for (i, entry) in module.entries().iter().enumerate() {
            let number = format!("{}.{}", module.number, i + 1);
            out.push_str(&format!("  {number:<5} {:<16} {}\n", entry.id(), entry.title()));
        }
    }
    out
}

/// `kafka-lab lab consume`: one member in the foreground until Ctrl-C.
fn consume(cluster: &ClusterArg, options: crate::member::MemberOptions) -> anyhow::Result<()> {
    static STOP: AtomicBool = AtomicBool::new(false);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    // Ctrl-C ends the poll loop, so the member leaves the group (the others rebalance at once).
    std::thread::spawn(move || {
        runtime.block_on(async {
            let _ = tokio::signal::ctrl_c().await;
        });
        STOP.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    println!(
        "member {} of group {} on topic {} ({}): Ctrl-C leaves the group",
        options.client_id, options.group, options.topic, cluster.bootstrap_server
    );
    crate::member::run(&cluster.lab().access(), &options, &STOP, |event| println!("{event}"))?;
    println!("left group {}", options.group);
    Ok(())
}
