//! `kafka-lab-broker`: run the broker on real TCP and a real disk.

use clap::Parser;
use kafka_lab_broker::cli::{self, BrokerArgs};

/// A Kafka-wire-compatible broker that unmodified Kafka clients (librdkafka, kcat,
/// kafka-python, confluent-kafka, sarama) use as they would use Apache Kafka.
///
/// Configuration uses Apache Kafka's property names, in YAML (see broker/broker.example.yaml).
/// Without --config the broker listens on PLAINTEXT://127.0.0.1:9092 and stores data in ./data.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
struct Args {
    #[command(flatten)]
    broker: BrokerArgs,
}

// The shell builds the one multi-threaded runtime; the core only spawns onto it through
// `runtime::spawn` (the simulator runs the same core on turmoil's runtime instead).
#[allow(clippy::disallowed_methods)]
fn main() -> std::process::ExitCode {
    cli::init_tracing();
    let args = Args::parse();
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| runtime.block_on(cli::run(args.broker)));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line with every cause, e.g. `log.dirs `/x`: cannot create the directory: …`.
            eprintln!("kafka-lab-broker: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
