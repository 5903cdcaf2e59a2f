//! `kafka-lab`: the umbrella command. Each subcommand is a thin shell over the library crate
//! that owns the concept; this file only routes.

mod up;

use clap::{Parser, Subcommand};
use kafka_lab_broker::cli::{self as broker_cli, BrokerArgs};
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
    /// on :8000; prints where to look.
    Up(up::UpArgs),
    /// Run the Kafka-wire-compatible broker (same as the `kafka-lab-broker` binary).
    Broker(BrokerArgs),
    /// Run the consumer-lag exporter (same as the `kafka-lag-exporter` binary).
    LagExporter(Box<ExporterArgs>),
    /// Create and check TLS certificates: a CA, broker and client certificates (PEM, PKCS#12).
    Tls(kafka_lab_tls::cli::TlsArgs),
}

fn main() -> anyhow::Result<std::process::ExitCode> {
    broker_cli::init_tracing();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match cli.command {
        Command::Up(args) => runtime.block_on(up::run(args))?,
        Command::Broker(args) => runtime.block_on(broker_cli::run(args))?,
        Command::LagExporter(args) => {
            runtime.block_on(kafka_lab_exporter::app::run(Settings::load(&args)?))?
        }
        Command::Tls(args) => {
            if let Err(err) = kafka_lab_tls::cli::run(args) {
                eprintln!("error: {err}");
                return Ok(std::process::ExitCode::from(2));
            }
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}
