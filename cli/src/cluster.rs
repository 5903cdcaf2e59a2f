//! `kafka-lab cluster`: a cluster of local processes for the course's replication and failover
//! tasks. `up` writes one `broker.yaml` per node (Kafka's property names; node 1 combined —
//! broker and the metadata quorum's controller —, the others brokers; or, with
//! `--controllers N`, nodes 1..N dedicated controllers forming the quorum and the brokers after
//! them, as Kafka's own multi-node examples lay them out), starts every node as a
//! `kafka-lab broker` process, runs the lag exporter against the cluster and stays in the
//! foreground until Ctrl-C; from another terminal in the same folder `status`, `stop`, `start`
//! and `kill` drive the nodes by hand. Everything lives under `--data-dir`
//! (`./kafka-lab-cluster`): `cluster.yaml` (the layout), and `node-N/` with the node's config,
//! data, log and pid file.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use kafka_lab_admin::client::AdminClient;
use kafka_lab_admin::properties::ClientProperties;
use kafka_lab_broker::cli as broker_cli;
use kafka_lab_exporter::config::{ExporterArgs, Settings};
use kafka_protocol::messages::MetadataRequest;

/// The cluster's layout file under the data directory.
const LAYOUT_FILE: &str = "cluster.yaml";

/// How long `stop` waits for a controlled shutdown before saying so.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// `kafka-lab cluster`: run a local cluster and fail its nodes over by hand.
#[derive(Debug, Clone, clap::Args)]
pub struct ClusterArgs {
    /// Where the cluster keeps its nodes' configs, data, logs and pid files.
    #[arg(long, global = true, env = "KAFKA_LAB_CLUSTER_DIR", default_value = "kafka-lab-cluster")]
    pub data_dir: PathBuf,

    #[command(subcommand)]
    pub command: ClusterCommand,
}

/// What to do with the cluster.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum ClusterCommand {
    /// Start every node (writing their configs on the first run) and the lag exporter; print
    /// the bootstrap list; stop every node on Ctrl-C.
    Up(UpArgs),
    /// Show each node: its process, whether the cluster lists it, and the partitions whose ISR
    /// is short of their replicas.
    Status,
    /// Stop a node with a controlled shutdown (SIGTERM): its leadership moves away first.
    Stop {
        /// The node's `node.id`.
        node_id: i32,
    },
    /// Start a stopped or killed node again, in the background.
    Start {
        /// The node's `node.id`.
        node_id: i32,
    },
    /// Kill a node at once (SIGKILL), as a crash or a pulled plug would.
    Kill {
        /// The node's `node.id`.
        node_id: i32,
    },
}

/// Arguments of `kafka-lab cluster up`.
#[derive(Debug, Clone, clap::Args)]
pub struct UpArgs {
    /// Number of brokers (without --controllers, node 1 is broker and controller, the rest
    /// brokers). Fixed on the first run: the layout is kept in cluster.yaml.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(i32).range(1..=9))]
    pub brokers: i32,

    /// Dedicated controllers (process.roles=controller), nodes 1..N, the metadata quorum's
    /// voters — 3 survives the loss of any one, as in production; the brokers are the nodes
    /// after them. 0: node 1 is the quorum's one voter and a broker too.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(i32).range(0..=5))]
    pub controllers: i32,

    /// Port of the first broker on 127.0.0.1; the next brokers follow it, then the controller
    /// listeners.
    #[arg(long, default_value_t = 9092)]
    pub base_port: u16,

    /// Node N serves its Prometheus metrics on 127.0.0.1 at this + N.
    #[arg(long, default_value_t = 9404)]
    pub metrics_base_port: u16,

    /// The lag exporter's address (`none` for no exporter).
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub exporter_listen: String,
}

/// One node as `up` laid it out.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Node {
    node_id: i32,
    port: u16,
    metrics_port: u16,
    /// The controller listener of a voter of the metadata quorum.
    controller_port: Option<u16>,
    /// Whether the node is a broker (a dedicated controller is not).
    #[serde(default = "is_broker_by_default")]
    broker: bool,
}

/// Layouts written before dedicated controllers had brokers only (node 1 combined).
fn is_broker_by_default() -> bool {
    true
}

impl Node {
    /// Its `process.roles`.
    fn roles(&self) -> &'static str {
        match (self.broker, self.controller_port.is_some()) {
            (true, true) => "broker,controller",
            (false, _) => "controller",
            (true, false) => "broker",
        }
    }
}

/// The cluster's layout, written by the first `up`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Layout {
    cluster_id: String,
    nodes: Vec<Node>,
}

impl Layout {
    fn bootstrap(&self) -> String {
        let brokers = self.nodes.iter().filter(|n| n.broker);
        brokers.map(|n| format!("127.0.0.1:{}", n.port)).collect::<Vec<_>>().join(",")
    }

    /// `controller.quorum.voters`.
    fn voters(&self) -> String {
        let voters = self.nodes.iter().filter_map(|n| Some((n.node_id, n.controller_port?)));
        voters.map(|(id, port)| format!("{id}@127.0.0.1:{port}")).collect::<Vec<_>>().join(",")
    }

    fn broker_count(&self) -> usize {
        self.nodes.iter().filter(|n| n.broker).count()
    }

    fn node(&self, node_id: i32) -> anyhow::Result<&Node> {
        let ids: Vec<i32> = self.nodes.iter().map(|n| n.node_id).collect();
        self.nodes
            .iter()
            .find(|n| n.node_id == node_id)
            .with_context(|| format!("the cluster has no node {node_id} (its nodes are {ids:?})"))
    }
}

/// Runs `kafka-lab cluster …`.
pub async fn run(args: ClusterArgs) -> anyhow::Result<()> {
    let dir = &args.data_dir;
    match &args.command {
        ClusterCommand::Up(up) => run_up(dir, up).await,
        ClusterCommand::Status => {
            let layout = read_layout(dir)?;
            print!("{}", status(dir, &layout));
            Ok(())
        }
        ClusterCommand::Stop { node_id } => {
            let layout = read_layout(dir)?;
            layout.node(*node_id)?;
            stop(dir, *node_id, "TERM")?;
            println!("node {node_id} stopped (controlled shutdown)");
            Ok(())
        }
        ClusterCommand::Kill { node_id } => {
            let layout = read_layout(dir)?;
            layout.node(*node_id)?;
            stop(dir, *node_id, "KILL")?;
            println!("node {node_id} killed (SIGKILL)");
            Ok(())
        }
        ClusterCommand::Start { node_id } => {
            let layout = read_layout(dir)?;
            let node = layout.node(*node_id)?;
            if running_pid(dir, *node_id).is_some() {
                bail!("node {node_id} is already running");
            }
            spawn_node(dir, node)?;
            println!(
                "node {node_id} started on 127.0.0.1:{} (log: {})",
                node.port,
                node_log(dir, *node_id).display()
            );
            Ok(())
        }
    }
}

fn node_dir(dir: &Path, node_id: i32) -> PathBuf {
    dir.join(format!("node-{node_id}"))
}

fn node_log(dir: &Path, node_id: i32) -> PathBuf {
    node_dir(dir, node_id).join("broker.log")
}

fn read_layout(dir: &Path) -> anyhow::Result<Layout> {
    let path = dir.join(LAYOUT_FILE);
    let text = fs::read_to_string(&path).with_context(|| {
        format!(
            "no cluster in {} (run `kafka-lab cluster up` first, in this folder)",
            dir.display()
        )
    })?;
    serde_yaml::from_str(&text)
        .with_context(|| format!("{} is not a cluster layout", path.display()))
}

/// The layout of the first `up`, kept; or a new one for `args`.
fn layout_for(dir: &Path, args: &UpArgs) -> anyhow::Result<Layout> {
    if dir.join(LAYOUT_FILE).exists() {
        let layout = read_layout(dir)?;
        let controllers = layout.nodes.iter().filter(|n| !n.broker).count() as i32;
        if layout.broker_count() as i32 != args.brokers || controllers != args.controllers {
            eprintln!(
                "note: {} holds a cluster of {} brokers and {controllers} dedicated controllers; \
                 --brokers {} --controllers {} are ignored (move the folder aside for a new \
                 cluster)",
                dir.display(),
                layout.broker_count(),
                args.brokers,
                args.controllers
            );
        }
        return Ok(layout);
    }
    let (b, c) = (args.brokers as u16, args.controllers as u16);
    let controllers = (1..=c).map(|j| Node {
        node_id: i32::from(j),
        port: args.base_port + b + j - 1,
        metrics_port: args.metrics_base_port + j,
        controller_port: Some(args.base_port + b + j - 1),
        broker: false,
    });
    let brokers = (1..=b).map(|i| Node {
        node_id: i32::from(c + i),
        port: args.base_port + i - 1,
        metrics_port: args.metrics_base_port + c + i,
        // Without dedicated controllers, node 1 is the quorum's one voter.
        controller_port: (c == 0 && i == 1).then_some(args.base_port + b),
        broker: true,
    });
    let nodes = controllers.chain(brokers).collect();
    let mut id = [0u8; 16];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut id))
        .context("reading /dev/urandom for a cluster id")?;
    Ok(Layout { cluster_id: kafka_lab_broker::kafka_uuid::encode_bytes(&id), nodes })
}

/// Node `node`'s broker.yaml, with Kafka's property names.
fn node_config(dir: &Path, layout: &Layout, node: &Node) -> String {
    let data = node_dir(dir, node.node_id).join("data");
    let data =
        fs::canonicalize(node_dir(dir, node.node_id)).map(|d| d.join("data")).unwrap_or(data);
    let plaintext = format!("PLAINTEXT://127.0.0.1:{}", node.port);
    let listeners = match (node.broker, node.controller_port) {
        (true, Some(port)) => format!("{plaintext},CONTROLLER://127.0.0.1:{port}"),
        (false, Some(port)) => format!("CONTROLLER://127.0.0.1:{port}"),
        (_, None) => plaintext.clone(),
    };
    // A dedicated controller advertises no broker listener (Kafka refuses one).
    let advertised =
        if node.broker { format!("advertised.listeners: {plaintext}\n") } else { String::new() };
    let replication = layout.broker_count().min(3);
    format!(
        "# Written by `kafka-lab cluster up`: node {id} of a {n}-node cluster.\n\
         node.id: {id}\n\
         process.roles: {roles}\n\
         cluster.id: {cluster_id}\n\
         listeners: {listeners}\n\
         {advertised}\
         controller.listener.names: CONTROLLER\n\
         listener.security.protocol.map: PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n\
         controller.quorum.voters: {voters}\n\
         log.dirs: {data}\n\
         default.replication.factor: {replication}\n\
         offsets.topic.replication.factor: {replication}\n\
         min.insync.replicas: {min_isr}\n\
         group.initial.rebalance.delay.ms: 0\n\
         prometheus.metrics.reporter.listener: http://127.0.0.1:{metrics}\n",
        id = node.node_id,
        n = layout.nodes.len(),
        roles = node.roles(),
        cluster_id = layout.cluster_id,
        voters = layout.voters(),
        data = data.display(),
        min_isr = if replication >= 3 { 2 } else { 1 },
        metrics = node.metrics_port,
    )
}

/// Starts node `node` as a background `kafka-lab broker` process logging to its folder.
fn spawn_node(dir: &Path, node: &Node) -> anyhow::Result<std::process::Child> {
    let node_dir = node_dir(dir, node.node_id);
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(node_log(dir, node.node_id))
        .with_context(|| format!("cannot write {}", node_log(dir, node.node_id).display()))?;
    let exe = std::env::current_exe().context("finding the kafka-lab binary")?;
    let child = Command::new(exe)
        .arg("broker")
        .arg("--config")
        .arg(node_dir.join("broker.yaml"))
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .env("NO_COLOR", "1")
        .spawn()
        .context("starting a node")?;
    fs::write(node_dir.join("pid"), child.id().to_string())?;
    Ok(child)
}

/// The pid of node `node_id`'s process, if it runs (not a zombie).
fn running_pid(dir: &Path, node_id: i32) -> Option<u32> {
    let pid: u32 =
        fs::read_to_string(node_dir(dir, node_id).join("pid")).ok()?.trim().parse().ok()?;
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state …`: a zombie (Z) or dead (X) process has exited.
    let state = stat.rsplit_once(')')?.1.split_whitespace().next()?;
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let ours = String::from_utf8_lossy(&cmdline).contains(&format!("node-{node_id}"));
    (ours && !matches!(state, "Z" | "X")).then_some(pid)
}

/// Sends `signal` (TERM or KILL) to node `node_id` and waits for it to exit.
fn stop(dir: &Path, node_id: i32, signal: &str) -> anyhow::Result<()> {
    let Some(pid) = running_pid(dir, node_id) else { bail!("node {node_id} is not running") };
    let status = Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).status()?;
    anyhow::ensure!(status.success(), "kill -{signal} {pid} failed");
    let deadline = Instant::now() + STOP_TIMEOUT;
    while running_pid(dir, node_id).is_some() {
        anyhow::ensure!(
            Instant::now() < deadline,
            "node {node_id} (pid {pid}) has not exited within {} s; `kafka-lab cluster kill {node_id}` ends it",
            STOP_TIMEOUT.as_secs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// The status table: per node its process and whether the cluster lists it, then the
/// partitions whose ISR is smaller than their replicas.
fn status(dir: &Path, layout: &Layout) -> String {
    let live: Vec<String> = layout
        .nodes
        .iter()
        .filter(|n| n.broker && running_pid(dir, n.node_id).is_some())
        .map(|n| format!("127.0.0.1:{}", n.port))
        .collect();
    let metadata = live.iter().find_map(|address| {
        let mut client = AdminClient::connect(address, &ClientProperties::plaintext()).ok()?;
        client.call(&MetadataRequest::default().with_topics(None)).ok()
    });
    let listed: Vec<i32> =
        metadata.iter().flat_map(|m| m.brokers.iter().map(|b| b.node_id.0)).collect();
    let mut out =
        String::from("NODE  ROLE               ADDRESS           PROCESS    IN CLUSTER\n");
    for node in &layout.nodes {
        let role = node.roles();
        let running = running_pid(dir, node.node_id);
        let process = match running {
            Some(pid) => format!("pid {pid}"),
            None => "stopped".into(),
        };
        let listed = if !node.broker {
            // A dedicated controller is no broker: it is in the cluster as a voter.
            if running.is_some() {
                "voter"
            } else {
                "no"
            }
        } else if metadata.is_none() {
            "unknown"
        } else if listed.contains(&node.node_id) {
            "yes"
        } else {
            "no (fenced)"
        };
        out.push_str(&format!(
            "{:<5} {role:<18} 127.0.0.1:{:<7} {process:<10} {listed}\n",
            node.node_id, node.port
        ));
    }
    let Some(metadata) = metadata else {
        out.push_str("\nno node answers: the cluster is down\n");
        return out;
    };
    let mut short: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for topic in &metadata.topics {
        let name = topic.name.as_ref().map(|n| n.0.to_string()).unwrap_or_default();
        for p in &topic.partitions {
            if p.isr_nodes.len() < p.replica_nodes.len() {
                let ids = |v: &[kafka_protocol::messages::BrokerId]| {
                    v.iter().map(|b| b.0.to_string()).collect::<Vec<_>>().join(",")
                };
                short.entry(name.clone()).or_default().push(format!(
                    "  {name}-{}  leader {}  replicas {}  isr {}",
                    p.partition_index,
                    p.leader_id.0,
                    ids(&p.replica_nodes),
                    ids(&p.isr_nodes)
                ));
            }
        }
    }
    let count: usize = short.values().map(Vec::len).sum();
    out.push_str(&format!("\nunder-replicated partitions: {count}\n"));
    for line in short.values().flatten() {
        out.push_str(line);
        out.push('\n');
    }
    out
}

async fn run_up(dir: &Path, args: &UpArgs) -> anyhow::Result<()> {
    let layout = layout_for(dir, args)?;
    for node in &layout.nodes {
        fs::create_dir_all(node_dir(dir, node.node_id))
            .with_context(|| format!("cannot create {}", node_dir(dir, node.node_id).display()))?;
    }
    fs::write(dir.join(LAYOUT_FILE), serde_yaml::to_string(&layout)?)?;
    let mut children = Vec::new();
    for node in &layout.nodes {
        fs::write(
            node_dir(dir, node.node_id).join("broker.yaml"),
            node_config(dir, &layout, node),
        )?;
        if running_pid(dir, node.node_id).is_some() {
            println!("node {} is already running", node.node_id);
            continue;
        }
        children.push((node.node_id, spawn_node(dir, node)?));
    }
    let bootstrap = layout.bootstrap();
    let formed = wait_for_cluster(dir, &layout, &mut children);
    // Reap the nodes this process started when they exit (a `kill` from another terminal),
    // so their pids do not linger as zombies.
    for (_, mut child) in children {
        std::thread::spawn(move || child.wait());
    }
    formed?;
    let exporter = match args.exporter_listen.as_str() {
        "none" => None,
        listen => {
            let listen: SocketAddr =
                listen.parse().with_context(|| format!("--exporter-listen {listen}"))?;
            let settings = Settings::load(&ExporterArgs {
                bootstrap_servers: Some(bootstrap.clone()),
                cluster_name: "kafka-lab-cluster".into(),
                listen: Some(listen),
                poll_interval: Some(Duration::from_secs(5)),
                ..Default::default()
            })?;
            Some(kafka_lab_exporter::app::start(settings).await?)
        }
    };
    println!(
        "\nkafka-lab cluster is up: {} nodes (Ctrl-C stops them all)\n\n  bootstrap servers    {bootstrap}\n  data, configs, logs  {}/node-N/\n{}{}\n  from another terminal, in this folder:\n    kafka-lab cluster status\n    kafka-lab cluster stop 2     controlled shutdown\n    kafka-lab cluster kill 2     SIGKILL, a crash\n    kafka-lab cluster start 2\n    kafka-lab topics --bootstrap-server {bootstrap} --create --topic orders --partitions 6 --replication-factor 3\n",
        layout.nodes.len(),
        dir.display(),
        layout
            .nodes
            .iter()
            .map(|n| format!("  node {} metrics       http://127.0.0.1:{}/metrics\n", n.node_id, n.metrics_port))
            .collect::<String>(),
        exporter.as_ref().map_or(String::new(), |e| format!("  lag exporter         http://{}/\n", e.addr)),
    );
    broker_cli::shutdown_signal().await;
    // Not `println!`: with stdout gone (a closed pipe), the nodes must still be stopped.
    let _ = writeln!(std::io::stdout(), "stopping every node");
    for node in layout.nodes.iter().rev() {
        if running_pid(dir, node.node_id).is_some() {
            if let Err(e) = stop(dir, node.node_id, "TERM") {
                eprintln!("{e:#}");
            }
        }
    }
    Ok(())
}

/// Waits until every node is listed by the cluster, naming a node this process started that
/// exited meanwhile (its own handle says so: right after the spawn, the pid file names a
/// process still starting, whose command line is not the node's yet).
fn wait_for_cluster(
    dir: &Path,
    layout: &Layout,
    children: &mut [(i32, std::process::Child)],
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        for (node_id, child) in children.iter_mut() {
            if child.try_wait()?.is_some() {
                let node = layout.node(*node_id)?;
                let log = fs::read_to_string(node_log(dir, node.node_id)).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(5).collect();
                bail!(
                    "node {} exited during start-up; the end of {}:\n{}",
                    node.node_id,
                    node_log(dir, node.node_id).display(),
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
        }
        let text = status(dir, layout);
        if !text.contains("unknown") && !text.contains("no (fenced)") {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "the cluster did not form within 60 s:\n{text}");
        std::thread::sleep(Duration::from_millis(200));
    }
}
