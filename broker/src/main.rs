//! `kafka-lab-broker`: run the broker on real TCP and a real disk.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Parser;
use kafka_lab_broker::clock::SystemClock;
use kafka_lab_broker::storage::FileStorage;
use kafka_lab_broker::{tcp, Broker, BrokerConfig};

/// A Kafka-wire-compatible broker that unmodified Kafka clients (librdkafka, kcat,
/// kafka-python, confluent-kafka, sarama) use as they would use Apache Kafka.
///
/// Configuration uses Apache Kafka's property names, in YAML (see broker/broker.example.yaml).
/// Without --config the broker listens on PLAINTEXT://127.0.0.1:9092 and stores data in ./data.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
struct Args {
    /// YAML configuration file with Kafka property names (node.id, listeners, log.dirs, ...).
    #[arg(long, short = 'c', env = "KAFKA_LAB_BROKER_CONFIG")]
    config: Option<PathBuf>,

    /// Override one property, e.g. `--override log.dirs=/tmp/k --override num.partitions=3`.
    #[arg(long = "override", short = 'o', value_name = "NAME=VALUE")]
    overrides: Vec<String>,

    /// Seed for the broker's random choices (topic ids, cluster id); random when absent.
    #[arg(long)]
    seed: Option<u64>,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_target(false)
        .init();
    let args = Args::parse();
    let config = BrokerConfig::load(args.config.as_deref(), &args.overrides)?;
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
            ^ u64::from(std::process::id())
    });
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run(config, seed))
}

async fn run(config: BrokerConfig, seed: u64) -> anyhow::Result<()> {
    let broker = Broker::open(config, Arc::new(FileStorage::new()), Arc::new(SystemClock), seed)?;
    tracing::info!(
        node_id = broker.node.node_id,
        cluster_id = %broker.cluster_id,
        log_dir = %broker.config.log_dir().display(),
        "kafka-lab-broker started"
    );
    for listener in tcp::bind(&broker).await? {
        tokio::spawn(tcp::accept_loop(broker.clone(), listener));
    }
    tokio::spawn(tcp::maintenance_loop(broker.clone()));
    shutdown_signal().await;
    tracing::info!("shutting down: flushing logs");
    broker.flush_all();
    Ok(())
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
