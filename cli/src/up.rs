//! `kafka-lab up`: the whole lab in one process — the broker, a demo workload whose consumer
//! group falls behind and catches up, and the lag exporter on 127.0.0.1:8000 — then prints where
//! to look.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use kafka_lab_broker::cli::{self as broker_cli, BrokerArgs};
use kafka_lab_exporter::config::{ExporterArgs, Settings};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::ClientConfig;

const DEMO_TOPIC: &str = "demo-orders";
const DEMO_GROUP: &str = "demo-consumers";

/// Arguments of `kafka-lab up`.
///
/// Data persists in --data-dir across runs; delete it to start afresh. The broker and the HTTP
/// endpoints (lag exporter, broker metrics) listen on 127.0.0.1 only, so the lab is not open to
/// the network; --listen-all (or an explicit --exporter-listen / --broker-metrics address) opens
/// the HTTP endpoints to other machines, e.g. a Prometheus in a container.
#[derive(Debug, Clone, clap::Args)]
pub struct UpArgs {
    /// Broker port on 127.0.0.1.
    #[arg(long, env = "KAFKA_LAB_BROKER_PORT", default_value_t = 9092)]
    pub broker_port: u16,

    /// Broker data directory (`log.dirs`).
    #[arg(long, env = "KAFKA_LAB_DATA_DIR", default_value = "kafka-lab-data")]
    pub data_dir: PathBuf,

    /// Address of the lag exporter's HTTP server [default: 127.0.0.1:8000, or 0.0.0.0:8000
    /// with --listen-all].
    #[arg(long, env = "KAFKA_LAB_EXPORTER_LISTEN")]
    pub exporter_listen: Option<SocketAddr>,

    /// Serve the HTTP endpoints (lag exporter, broker metrics) on every interface (0.0.0.0)
    /// instead of 127.0.0.1. The broker's Kafka port stays on 127.0.0.1.
    #[arg(long)]
    pub listen_all: bool,

    /// Demo records produced per second. The consumer alternates 30 s at half this rate (lag
    /// grows) and 30 s at double (lag shrinks).
    #[arg(long, env = "KAFKA_LAB_DEMO_RATE", default_value_t = 20)]
    pub rate: u32,

    /// Start without the demo producer and consumer group.
    #[arg(long)]
    pub no_demo: bool,

    /// Where the broker serves its Prometheus metrics (`prometheus.metrics.reporter.listener`)
    /// [default: http://127.0.0.1:9404, or http://:9404 (every interface) with --listen-all].
    #[arg(long, env = "KAFKA_LAB_BROKER_METRICS")]
    pub broker_metrics: Option<String>,

    /// Start the broker without its metrics endpoint.
    #[arg(long, conflicts_with = "broker_metrics")]
    pub no_broker_metrics: bool,
}

impl UpArgs {
    /// The lag exporter's address: the flag's, else port 8000 on loopback or, with
    /// --listen-all, every interface.
    fn exporter_address(&self) -> SocketAddr {
        let host = if self.listen_all { "0.0.0.0" } else { "127.0.0.1" };
        self.exporter_listen.unwrap_or_else(|| format!("{host}:8000").parse().expect("address"))
    }

    /// The broker metrics listener, chosen as [`UpArgs::exporter_address`] is.
    fn broker_metrics_listener(&self) -> String {
        match (&self.broker_metrics, self.listen_all) {
            (Some(listener), _) => listener.clone(),
            (None, true) => "http://:9404".into(),
            (None, false) => "http://127.0.0.1:9404".into(),
        }
    }
}

/// Runs the lab until Ctrl-C or SIGTERM.
pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    let bootstrap = format!("127.0.0.1:{}", args.broker_port);
    let mut overrides = vec![
        format!("listeners=PLAINTEXT://{bootstrap}"),
        format!("log.dirs={}", args.data_dir.display()),
        "group.initial.rebalance.delay.ms=0".into(),
    ];
    if !args.no_broker_metrics {
        overrides.push(format!(
            "prometheus.metrics.reporter.listener={}",
            args.broker_metrics_listener()
        ));
    }
    let running = broker_cli::start(&BrokerArgs { config: None, overrides, seed: None }).await?;
    let broker = running.broker;
    let broker_metrics = match running.metrics {
        Some(address) => kafka_lab_broker::metrics_http::url(address),
        None => "off (--no-broker-metrics)".into(),
    };

    let settings = Settings::load(&ExporterArgs {
        bootstrap_servers: Some(bootstrap.clone()),
        cluster_name: "kafka-lab".into(),
        listen: Some(args.exporter_address()),
        poll_interval: Some(Duration::from_secs(5)),
        ..Default::default()
    })?;
    let exporter = kafka_lab_exporter::app::start(settings).await?;

    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    if !args.no_demo {
        create_demo_topic(&bootstrap).await?;
        let rate = args.rate.max(1);
        let (b, s) = (bootstrap.clone(), stop.clone());
        workers.push(std::thread::spawn(move || demo_producer(&b, rate, &s)));
        let (b, s) = (bootstrap.clone(), stop.clone());
        workers.push(std::thread::spawn(move || demo_consumer(&b, rate, &s)));
    }

    let web = match exporter.addr.ip().is_unspecified() {
        true => format!("http://localhost:{}", exporter.addr.port()),
        false => format!("http://{}", exporter.addr),
    };
    println!(
        "\nkafka-lab is up (Ctrl-C to stop)\n\
         \n  broker (bootstrap)   {bootstrap}   data in {data}\
         \n  broker metrics       {broker_metrics}\
         \n  lag overview         {web}/\
         \n  Prometheus metrics   {web}/metrics\
         \n  groups as JSON       {web}/api/groups\
         \n  readiness            {web}/ready\
         \n{demo}\
         \n  look around:         kcat -b {bootstrap} -L\
         \n                       kcat -b {bootstrap} -C -t {DEMO_TOPIC} -o -5 -e\n",
        data = args.data_dir.display(),
        demo = if args.no_demo {
            String::new()
        } else {
            format!(
                "\n  demo workload        topic {DEMO_TOPIC} at {} records/s; group {DEMO_GROUP} \
                 alternates 30 s slow / 30 s fast\n",
                args.rate
            )
        },
    );

    broker_cli::shutdown_signal().await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.join();
    }
    broker.flush_all();
    Ok(())
}

async fn create_demo_topic(bootstrap: &str) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", bootstrap).create()?;
    let topic = NewTopic::new(DEMO_TOPIC, 3, TopicReplication::Fixed(1));
    for r in admin.create_topics([&topic], &AdminOptions::new()).await? {
        match r {
            Ok(_) => {}
            Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((t, e)) => anyhow::bail!("creating {t}: {e}"),
        }
    }
    Ok(())
}

fn demo_producer(bootstrap: &str, rate: u32, stop: &AtomicBool) {
    let producer: BaseProducer =
        match ClientConfig::new().set("bootstrap.servers", bootstrap).create() {
            Ok(p) => p,
            Err(e) => return tracing::error!("demo producer: {e}"),
        };
    let period = Duration::from_secs_f64(1.0 / f64::from(rate));
    let mut next = Instant::now();
    let mut n: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        let payload = format!("{{\"order\":{n}}}");
        let key = (n % 97).to_string();
        if let Err((e, _)) = producer.send(BaseRecord::to(DEMO_TOPIC).key(&key).payload(&payload)) {
            tracing::warn!("demo producer: {e}");
        }
        producer.poll(Duration::ZERO);
        n += 1;
        next += period;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    let _ = producer.flush(Duration::from_secs(5));
}

fn demo_consumer(bootstrap: &str, rate: u32, stop: &AtomicBool) {
    let consumer: BaseConsumer = match ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", DEMO_GROUP)
        .set("auto.offset.reset", "earliest")
        .set("auto.commit.interval.ms", "1000")
        .create()
        .context("demo consumer")
        .and_then(|c: BaseConsumer| c.subscribe(&[DEMO_TOPIC]).map(|_| c).context("subscribe"))
    {
        Ok(c) => c,
        Err(e) => return tracing::error!("{e:#}"),
    };
    let started = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        // 30 s at half the produce rate, then 30 s at double: lag grows, then drains.
        let slow = (started.elapsed().as_secs() / 30) % 2 == 0;
        let consume_rate = if slow { f64::from(rate) / 2.0 } else { f64::from(rate) * 2.0 };
        if let Some(Err(e)) = consumer.poll(Duration::from_millis(100)) {
            tracing::warn!("demo consumer: {e}");
        }
        std::thread::sleep(Duration::from_secs_f64(1.0 / consume_rate));
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::UpArgs;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        up: UpArgs,
    }

    fn up(args: &[&str]) -> UpArgs {
        Cli::parse_from(std::iter::once("up").chain(args.iter().copied())).up
    }

    #[test]
    fn http_endpoints_listen_on_loopback_unless_asked() {
        let args = up(&[]);
        assert_eq!(args.exporter_address().to_string(), "127.0.0.1:8000");
        assert_eq!(args.broker_metrics_listener(), "http://127.0.0.1:9404");
        let args = up(&["--listen-all"]);
        assert_eq!(args.exporter_address().to_string(), "0.0.0.0:8000");
        assert_eq!(args.broker_metrics_listener(), "http://:9404");
        let args = up(&["--exporter-listen", "0.0.0.0:8001", "--broker-metrics", "http://:9405"]);
        assert_eq!(args.exporter_address().to_string(), "0.0.0.0:8001");
        assert_eq!(args.broker_metrics_listener(), "http://:9405");
    }
}
