//! `kafka-lab lab …`: the security lab's command line.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::{Lab, Phase, Ports};

/// The security lab (course module 8): certificates, a TLS listener, SCRAM users, ACLs and
/// quotas, each with written steps, a checker and a reference solution.
///
/// Start with `kafka-lab lab init`, then for each exercise in `kafka-lab lab list`: read
/// `kafka-lab lab show <id>`, do it, run your broker (`kafka-lab broker --config
/// security-lab/broker.yaml`, restarted after every broker.yaml change) and run `kafka-lab lab
/// check <id>`. The checker talks to your broker with real clients (librdkafka, OpenSSL) and
/// prints one line per check, ✓ or ✗ with what to fix; it exits 1 if anything failed.
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
    /// List the exercises in course order.
    List,
    /// Show an exercise's steps.
    Show {
        /// Exercise id, from `kafka-lab lab list`.
        exercise: String,
    },
    /// Check your work on an exercise against your running broker; exits 1 on any failure.
    Check {
        /// Exercise id, from `kafka-lab lab list`.
        exercise: String,
        #[command(flatten)]
        dir: DirArg,
    },
    /// Apply the reference solution: certificates and broker.yaml first; once the broker runs
    /// the new broker.yaml, run it again for the admin operations (users, ACLs, quotas).
    Solve {
        /// Exercise id, from `kafka-lab lab list`.
        exercise: String,
        #[command(flatten)]
        dir: DirArg,
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
        LabCommand::List => {
            for (i, exercise) in crate::all().iter().enumerate() {
                println!("{}. {:<13} {}", i + 1, exercise.id, exercise.title);
            }
        }
        LabCommand::Show { exercise } => print!("{}", find(&exercise)?.steps),
        LabCommand::Check { exercise, dir } => {
            let exercise = find(&exercise)?;
            let lab = Lab::open(&dir.dir)?;
            let report = (exercise.check)(&lab);
            print!("{report}");
            if !report.passed() {
                println!("{}: {} check(s) failed", exercise.id, report.failures().len());
                return Ok(ExitCode::from(1));
            }
            println!("{}: all {} checks passed", exercise.id, report.checks.len());
        }
        LabCommand::Solve { exercise, dir } => {
            let exercise = find(&exercise)?;
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
    }
    Ok(ExitCode::SUCCESS)
}

fn find(id: &str) -> anyhow::Result<&'static crate::Exercise> {
    crate::find(id).ok_or_else(|| {
        let ids: Vec<&str> = crate::all().iter().map(|e| e.id).collect();
        anyhow::anyhow!("no exercise `{id}`; the exercises are: {}", ids.join(", "))
    })
}
