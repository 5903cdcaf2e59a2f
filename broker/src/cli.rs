//! The command-line shell around the broker: arguments, start-up on real TCP and a real disk,
//! and shutdown on a signal. Shared by `kafka-lab-broker` and `kafka-lab broker`. Not part of
//! the deterministic core: it reads the wall clock for a default seed and installs signal
//! handlers.

use std::path::PathBuf;
use std::sync::Arc;

use crate::clock::SystemClock;
use crate::runtime;
use crate::storage::FileStorage;
use crate::{metrics_http, tcp, Broker, BrokerConfig};

/// Arguments of the broker command.
///
/// Configuration uses Apache Kafka's property names, in YAML (see broker/broker.example.yaml).
/// Without --config the broker listens on PLAINTEXT://127.0.0.1:9092 and stores data in ./data.
#[derive(Debug, Clone, clap::Args)]
pub struct BrokerArgs {
    /// YAML configuration file with Kafka property names (node.id, listeners, log.dirs, ...).
    #[arg(long, short = 'c', env = "KAFKA_LAB_BROKER_CONFIG")]
    pub config: Option<PathBuf>,

    /// Override one property, e.g. `--override log.dirs=/tmp/k --override num.partitions=3`.
    #[arg(long = "override", short = 'o', value_name = "NAME=VALUE")]
    pub overrides: Vec<String>,

    /// Seed for the broker's random choices (topic ids, cluster id); random when absent.
    #[arg(long)]
    pub seed: Option<u64>,
}

/// Installs the `RUST_LOG`-driven (default `info`) log subscriber used by every binary. Logs go
/// to stdout, coloured only when stdout is a terminal (and `NO_COLOR` is unset), so files and
/// pipes get plain text.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_target(false)
        .with_writer(std::io::stdout)
        .with_ansi(colour_on(&std::io::stdout()))
        .try_init();
}

/// Whether log lines written to `stream` may carry ANSI colour codes.
pub fn colour_on(stream: &impl std::io::IsTerminal) -> bool {
    stream.is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// A started broker.
pub struct Running {
    /// The broker.
    pub broker: Arc<Broker>,
    /// Where the metrics endpoint listens (`prometheus.metrics.reporter.listener`), if set.
    pub metrics: Option<std::net::SocketAddr>,
}

/// Binds the broker's listeners (the metrics endpoint first), then opens the broker and starts
/// its accept, scrape and maintenance tasks on the current tokio runtime. Everything that can
/// fail on configuration alone (ports in use, keystores, SCRAM users, ACL settings) fails before
/// anything is written to `log.dirs`. Returns once every listener is bound, so callers may
/// connect at once.
pub async fn start(args: &BrokerArgs) -> anyhow::Result<Running> {
    let config = BrokerConfig::load(args.config.as_deref(), &args.overrides)?;
    check_log_dir(&config.log_dir())?;
    let seed = args.seed.unwrap_or_else(seed_from_wall_clock);
    let metrics_socket = metrics_http::bind(&config).await?;
    let listeners = tcp::bind(&config).await?;
    let broker = Broker::open(config, Arc::new(FileStorage::new()), Arc::new(SystemClock), seed)?;
    tracing::info!(
        node_id = broker.node.node_id,
        cluster_id = %broker.cluster_id,
        log_dir = %broker.config.log_dir().display(),
        "kafka-lab-broker started"
    );
    let metrics = match metrics_socket {
        Some(socket) => {
            let address = socket.local_addr()?;
            runtime::spawn(metrics_http::serve(socket, broker.clone()));
            Some(address)
        }
        None => None,
    };
    let mut listeners = listeners;
    if broker.is_controller() && broker.has_several_voters() {
        // The voters elect and replicate over the controller listener, which serves at once:
        // a combined node's broker registers only once some voter leads, perhaps this one.
        broker.set_outbound_connector(Arc::new(tcp::TcpConnector));
        runtime::spawn(crate::raft::voter_network::run(
            broker.clone(),
            Arc::new(tcp::TcpConnector),
        ));
        let is_controller = |l: &tcp::BoundListener| broker.config.is_controller_listener(l.name());
        let (controller, others): (Vec<_>, Vec<_>) = listeners.into_iter().partition(is_controller);
        for listener in controller {
            runtime::spawn(tcp::accept_loop(broker.clone(), listener));
        }
        listeners = others;
        runtime::spawn(tcp::maintenance_loop(broker.clone()));
    }
    if broker.registers_over_network() {
        // As Kafka's BrokerServer: register, catch up with the metadata log and be unfenced
        // before serving clients, so no client is told of a broker that knows no topics.
        runtime::spawn(crate::lifecycle::run(broker.clone(), Arc::new(tcp::TcpConnector)));
        let controllers: Vec<String> =
            broker.quorum_addresses().iter().map(|(h, p)| format!("{h}:{p}")).collect();
        tracing::info!(
            controllers = controllers.join(","),
            "waiting to register with the controller and catch up with the metadata log"
        );
        broker.lifecycle.wait_until_running().await;
    }
    for listener in listeners {
        runtime::spawn(tcp::accept_loop(broker.clone(), listener));
    }
    if !(broker.is_controller() && broker.has_several_voters()) {
        runtime::spawn(tcp::maintenance_loop(broker.clone()));
    }
    broker.start_replica_fetchers(
        Arc::new(tcp::TcpConnector),
        Arc::new(|task| {
            runtime::spawn(task);
        }),
    );
    Ok(Running { broker, metrics })
}

/// Runs the broker until SIGINT or SIGTERM, then flushes every log.
pub async fn run(args: BrokerArgs) -> anyhow::Result<()> {
    let broker = start(&args).await?.broker;
    shutdown_signal().await;
    // Leadership moves away before the process exits, so producers fail over at once instead
    // of after broker.session.timeout.ms. A lone combined node has nowhere to move it; a
    // dedicated controller leads no partition.
    let moves = broker.registers_over_network() || broker.metadata().brokers().len() > 1;
    if broker.has_broker_role() && moves {
        let timeout =
            std::time::Duration::from_millis(broker.config.broker_session_timeout_ms.max(0) as u64);
        if !broker.controlled_shutdown(timeout).await {
            tracing::warn!("controlled shutdown did not complete in time: shutting down anyway");
        }
    }
    // The quorum's leader resigns (EndQuorumEpoch), so another voter stands at once instead
    // of after controller.quorum.fetch.timeout.ms.
    broker.resign_quorum_leadership().await;
    tracing::info!("shutting down: flushing logs");
    broker.flush_all();
    Ok(())
}

/// Resolves on the first SIGINT (Ctrl-C) or SIGTERM (`docker stop`).
pub async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

// Shell only: without `--seed` the binary's ids (topic ids, the cluster id) come from a seed
// that differs between starts; the simulator always passes its seed.
#[allow(clippy::disallowed_methods, clippy::disallowed_types)]
fn seed_from_wall_clock() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
        ^ u64::from(std::process::id())
}

/// Refuses a `log.dirs` that cannot hold the broker's data before anything is bound or
/// written: a path that is a file, or an existing directory this process cannot write (probed
/// by creating and removing one empty file). A directory that does not exist yet is created by
/// `Broker::open`, whose error names it.
fn check_log_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    let shown = dir.display();
    match std::fs::metadata(dir) {
        Ok(meta) if !meta.is_dir() => {
            anyhow::bail!("log.dirs `{shown}` is a file, not a directory")
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
            anyhow::bail!("log.dirs `{shown}` cannot be created: a directory on its path is a file")
        }
        Err(e) => anyhow::bail!("log.dirs `{shown}` cannot be read: {e}"),
    }
    let probe = dir.join(format!(".kafka-lab-broker-write-check-{}", std::process::id()));
    match std::fs::OpenOptions::new().write(true).create_new(true).open(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) => anyhow::bail!("log.dirs `{shown}` is not writable: {e}"),
    }
}
