//! `kafka-lab`: the umbrella command. Each subcommand is a thin shell over the library crate
//! that owns the concept; this file only routes.

use clap::{Parser, Subcommand};
use kafka_lab_broker::cli::{self as broker_cli, BrokerArgs};

/// kafka-lab: an observability and reliability test harness for Apache Kafka-style systems.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the Kafka-wire-compatible broker (same as the `kafka-lab-broker` binary).
    Broker(BrokerArgs),
    /// Create and check TLS certificates: a CA, broker and client certificates (PEM, PKCS#12).
    Tls(kafka_lab_tls::cli::TlsArgs),
}

fn main() -> anyhow::Result<std::process::ExitCode> {
    broker_cli::init_tracing();
    let cli = Cli::parse();
    match cli.command {
        Command::Broker(args) => {
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(broker_cli::run(args))?;
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Tls(args) => match kafka_lab_tls::cli::run(args) {
            Ok(()) => Ok(std::process::ExitCode::SUCCESS),
            Err(err) => {
                eprintln!("error: {err}");
                Ok(std::process::ExitCode::from(2))
            }
        },
    }
}
