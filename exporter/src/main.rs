//! The `kafka-lag-exporter` binary: flags, logging, runtime.

use clap::{Parser, Subcommand};
use kafka_lab_exporter::config::{ExporterArgs, Settings, DEFAULT_LISTEN};

/// Consumer-group lag exporter for Kafka 2.x–4.x: lag in offsets and seconds, Burrow-style
/// status, danielqsj/kafka_exporter and seglo/kafka-lag-exporter metric names, on :8000.
#[derive(Debug, Parser)]
#[command(name = "kafka-lag-exporter", version, about, long_about)]
struct Cli {
    #[command(flatten)]
    args: ExporterArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Exit 0 if the exporter on --listen answers /healthz (for Docker's HEALTHCHECK).
    Healthcheck,
}

fn main() -> std::process::ExitCode {
    init_tracing();
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Healthcheck) => kafka_lab_exporter::app::healthcheck(
            cli.args.listen.unwrap_or_else(|| DEFAULT_LISTEN.parse().unwrap()),
        ),
        None => Settings::load(&cli.args).and_then(|settings| {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            runtime.block_on(kafka_lab_exporter::app::run(settings))
        }),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kafka-lag-exporter: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Logs to stdout, coloured only when stdout is a terminal and `NO_COLOR` is unset: log files,
/// pipes and `docker logs` get plain text.
fn init_tracing() {
    use std::io::IsTerminal;
    let colour = std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_target(false)
        .with_writer(std::io::stdout)
        .with_ansi(colour)
        .try_init();
}
