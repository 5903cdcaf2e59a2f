//! `kafka-lab`: the umbrella command. Each subcommand is a thin shell over the library crate
//! that owns the concept; this file only routes.

use clap::{Parser, Subcommand};
use kafka_lab_broker::cli::{self as broker_cli, BrokerArgs};
use kafka_lab_chaos::cli::{self as sim_cli, SimArgs};

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
    Sim(SimArgs),
}

fn main() -> anyhow::Result<std::process::ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::Broker(args) => {
            broker_cli::init_tracing();
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(broker_cli::run(args))?;
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Sim(args) => {
            sim_cli::init_tracing();
            sim_cli::run(args)
        }
    }
}
