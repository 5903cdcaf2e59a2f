//! `kafka-lab`: the umbrella command. Each subcommand is a thin shell over the library crate
//! that owns the concept; this file only routes.

mod cluster;
mod up;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use kafka_lab_broker::cli::{self as broker_cli, BrokerArgs};
use kafka_lab_chaos::cli::{self as sim_cli, SimArgs};
use kafka_lab_exporter::config::{ExporterArgs, Settings};

/// kafka-lab: an observability and reliability test harness for Apache Kafka-style systems.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the lab: broker, a demo producer and lagging consumer group, and the lag exporter
    /// on 127.0.0.1:8000 (HTTP endpoints on loopback unless --listen-all); prints where to look.
    Up(up::UpArgs),
    /// Run a cluster of local broker processes (node 1 also the controller) with the lag
    /// exporter, and stop, kill and restart its nodes by hand for failover exercises.
    Cluster(cluster::ClusterArgs),
    /// Run the Kafka-wire-compatible broker (same as the `kafka-lab-broker` binary).
    Broker(BrokerArgs),
    /// Run the consumer-lag exporter (same as the `kafka-lag-exporter` binary).
    LagExporter(Box<ExporterArgs>),
    /// Run the deterministic fault simulator: the broker under faults chosen from a seed.
    Sim(SimArgs),
    /// Run a chaos failover suite on a real three-node cluster in containers (our images):
    /// nodes killed, paused, cut off or restarted under real clients, judged by the
    /// simulator's checkers.
    Chaos(kafka_lab_chaos_containers::cli::ChaosArgs),
    /// Create and check TLS certificates: a CA, broker and client certificates (PEM, PKCS#12).
    Tls(kafka_lab_tls::cli::TlsArgs),
    /// The course labs: exercises for modules 2 (partitions, replication), 4 (consumer groups),
    /// 8 (security) and 10 (troubleshooting) with steps (English, Russian), checkers that test
    /// your broker with real clients, and reference solutions.
    Lab(kafka_lab_exercises::cli::LabArgs),
    // `acls`, `configs`, `topics` and `consumer-groups` (Kafka's admin tools without Java), routed by
    // kafka_lab_admin::cli.
    #[command(flatten)]
    Admin(kafka_lab_admin::cli::AdminCommand),
}

/// Runs the command. Every error ends here as one `error: …` line and status 1: returning an
/// `anyhow::Error` from `main` would print its Debug form, a backtrace included whenever
/// `RUST_BACKTRACE` is set, which tells a user nothing they can act on.
fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let runtime = || tokio::runtime::Builder::new_multi_thread().enable_all().build();
    match cli.command {
        Command::Up(args) => {
            broker_cli::init_tracing();
            runtime()?.block_on(up::run(args))?;
        }
        Command::Cluster(args) => {
            broker_cli::init_tracing();
            runtime()?.block_on(cluster::run(args))?;
        }
        Command::Broker(args) => {
            broker_cli::init_tracing();
            runtime()?.block_on(broker_cli::run(args))?;
        }
        Command::LagExporter(args) => {
            broker_cli::init_tracing();
            runtime()?.block_on(kafka_lab_exporter::app::run(Settings::load(&args)?))?;
        }
        Command::Sim(args) => {
            // The simulator builds its own deterministic runtime per host.
            sim_cli::init_tracing();
            return sim_cli::run(args);
        }
        Command::Chaos(args) => {
            broker_cli::init_tracing();
            return kafka_lab_chaos_containers::cli::run(args);
        }
        Command::Admin(command) => {
            if let Err(err) = kafka_lab_admin::cli::run(&command, &mut std::io::stdout()) {
                // Output cut short by a closed pipe (`… --describe | head`): Kafka's tools,
                // whose PrintStream swallows it, say nothing either.
                let broken_pipe = err.chain().any(|e| {
                    e.downcast_ref::<std::io::Error>()
                        .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
                });
                if broken_pipe {
                    return Ok(ExitCode::SUCCESS);
                }
                if !err.is::<kafka_lab_admin::cli::Reported>() {
                    eprintln!("error: {err:#}");
                }
                return Ok(ExitCode::from(1));
            }
        }
        Command::Tls(args) => {
            if let Err(err) = kafka_lab_tls::cli::run(args) {
                eprintln!("error: {err}");
                return Ok(ExitCode::from(2));
            }
        }
        Command::Lab(args) => return kafka_lab_exercises::cli::run(args),
    }
    Ok(ExitCode::SUCCESS)
}
