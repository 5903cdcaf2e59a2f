//! A cluster of kafka-lab nodes in containers from our own image, on two Docker networks.
//!
//! Every node is combined (`process.roles=broker,controller`, one of three voters of the
//! metadata quorum) and sits on two networks: the **client network** (created by
//! testcontainers with the first container; the node's `CLIENT` listener is published on a
//! host port, and clients on the host reach it there) and the **cluster network** (created
//! here; the `INTERNAL` replication listener and the `CONTROLLER` listener, reached by the
//! network alias `node-N.cluster`, which only that network resolves). Cutting a node off the
//! cluster network leaves its clients connected: the zombie-leader case. The lag exporter runs
//! in its own container on the cluster network, its port published too.
//!
//! Faults go through the engine's API: `docker kill` (SIGKILL), `docker stop` (SIGTERM: a
//! controlled shutdown), `docker pause`, and disconnecting a node from the cluster network
//! (bollard, which testcontainers already uses).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use rdkafka::config::ClientConfig;
use testcontainers::bollard::models::{
    EndpointSettings, NetworkConnectRequest, NetworkCreateRequest, NetworkDisconnectRequest,
    RestartPolicy, RestartPolicyNameEnum,
};
use testcontainers::bollard::query_parameters::{
    EventsOptions, InspectContainerOptions, KillContainerOptions, StopContainerOptions,
};
use testcontainers::bollard::Docker;
use testcontainers::core::{AccessMode, ContainerPort, Mount};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

use crate::security::{ClusterSecurity, User, TLS_MOUNT};

/// The listener clients use, published on a host port.
const CLIENT_PORT: u16 = 9094;
/// Replication between the nodes, on the cluster network.
const INTERNAL_PORT: u16 = 9092;
/// The metadata quorum's listener, on the cluster network.
const CONTROLLER_PORT: u16 = 9093;
/// The node's Prometheus metrics.
const METRICS_PORT: u16 = 9404;
/// Where a node's image keeps its data (a volume mount point in `scripts/build-image`).
const DATA_MOUNT: &str = "/var/lib/kafka-lab";
/// The cluster id every node of a suite's cluster carries.
const CLUSTER_ID: &str = "Y2hhb3Mtc3VpdGVzLWNsdQ";

/// How to build the cluster.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    /// The image the nodes run (`scripts/build-image kafka-lab` builds `kafka-lab`).
    pub image: String,
    /// The lag exporter's image (`scripts/build-image kafka-lag-exporter`).
    pub exporter_image: String,
    /// How many nodes (every one a broker and a voter).
    pub nodes: i32,
    /// `broker.session.timeout.ms`: how long a silent broker keeps its leaderships.
    pub broker_session_timeout_ms: u64,
    /// Where the nodes' configs, data and logs go on the host.
    pub work_dir: PathBuf,
}

/// One node's container and where its files are on the host.
struct Node {
    container: ContainerAsync<GenericImage>,
    /// The host port of its `CLIENT` listener.
    client_port: u16,
    /// Its data directory on the host (`log.dirs` is `data/` under it).
    data_dir: PathBuf,
    /// Whether it is cut off the cluster network now.
    isolated: bool,
}

/// A running cluster of node containers, the exporter, and the cluster network.
pub struct ContainerCluster {
    docker: Docker,
    run_id: String,
    cluster_network: String,
    nodes: BTreeMap<i32, Node>,
    exporter: Option<(ContainerAsync<GenericImage>, u16)>,
    security: ClusterSecurity,
    /// When the cluster was started, Unix seconds: where the engine's events of the run begin.
    started_unix: u64,
}

/// `image` as testcontainers takes it: name and tag (`latest` when none is given).
fn image_parts(image: &str) -> (String, String) {
    match image.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name.to_owned(), tag.to_owned()),
        _ => (image.to_owned(), "latest".to_owned()),
    }
}

/// The node's alias on the cluster network.
fn peer_name(node_id: i32) -> String {
    format!("node-{node_id}.cluster")
}

/// The node's `broker.yaml`: Kafka's property names, as `compose/cluster` writes them, with
/// the security of [`ClusterSecurity::node_properties`].
fn node_config(
    node_id: i32,
    nodes: i32,
    client_port: u16,
    session_timeout_ms: u64,
    security: &ClusterSecurity,
) -> String {
    let voters: Vec<String> =
        (1..=nodes).map(|id| format!("{id}@{}:{CONTROLLER_PORT}", peer_name(id))).collect();
    let peer = peer_name(node_id);
    format!(
        "# Node {node_id} of a chaos suite's cluster (written by kafka-lab chaos run).\n\
         node.id: {node_id}\n\
         process.roles: broker,controller\n\
         cluster.id: {CLUSTER_ID}\n\
         controller.quorum.voters: {voters}\n\
         controller.listener.names: CONTROLLER\n\
         listeners: INTERNAL://0.0.0.0:{INTERNAL_PORT},CONTROLLER://0.0.0.0:{CONTROLLER_PORT},CLIENT://0.0.0.0:{CLIENT_PORT}\n\
         advertised.listeners: INTERNAL://{peer}:{INTERNAL_PORT},CONTROLLER://{peer}:{CONTROLLER_PORT},CLIENT://127.0.0.1:{client_port}\n\
         inter.broker.listener.name: INTERNAL\n\
         log.dirs: {DATA_MOUNT}/data\n\
         default.replication.factor: 3\n\
         offsets.topic.replication.factor: 3\n\
         min.insync.replicas: 2\n\
         unclean.leader.election.enable: false\n\
         broker.heartbeat.interval.ms: {heartbeat}\n\
         broker.session.timeout.ms: {session_timeout_ms}\n\
         group.initial.rebalance.delay.ms: 0\n\
         prometheus.metrics.reporter.listener: http://:{METRICS_PORT}\n\
         {security}",
        voters = voters.join(","),
        security = security.node_properties(),
        heartbeat = (session_timeout_ms / 4).clamp(100, 2000),
    )
}

/// The exporter's config: every node's replication listener on the cluster network, polled
/// every 2 s so that a fault of a few seconds shows (a poll of a secured cluster with a node
/// going down takes more than a second), with a 2 s Kafka timeout (also its socket timeout: a
/// paused node's hung connection is dropped within a fault).
fn exporter_config(nodes: i32, security: &ClusterSecurity) -> String {
    let bootstrap: Vec<String> =
        (1..=nodes).map(|id| format!("{}:{INTERNAL_PORT}", peer_name(id))).collect();
    format!(
        "# The lag exporter of a chaos suite's cluster (written by kafka-lab chaos run).\n\
         listen: 0.0.0.0:8000\n\
         poll_interval: 2s\n\
         kafka_timeout: 2s\n\
         clusters:\n  - name: chaos\n    bootstrap_servers: {}\n{}",
        bootstrap.join(","),
        security.exporter_properties()
    )
}

/// The uid:gid owning `dir`: containers run as the user who owns the work directory, so the
/// files they write are that user's to read and delete.
fn owner_of(dir: &Path) -> anyhow::Result<String> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(dir).with_context(|| format!("reading {}", dir.display()))?;
    Ok(format!("{}:{}", meta.uid(), meta.gid()))
}

/// Whether a Docker engine answers, with why not.
pub async fn engine_available() -> Result<(), String> {
    let docker = testcontainers::core::client::docker_client_instance()
        .await
        .map_err(|e| format!("no Docker client: {e}"))?;
    docker.ping().await.map(|_| ()).map_err(|e| format!("the Docker engine does not answer: {e}"))
}

impl ContainerCluster {
    /// Creates the networks and starts every node and the exporter; returns once every
    /// container runs (not once the cluster is formed: see [`crate::admin`]).
    pub async fn start(spec: &ClusterSpec) -> anyhow::Result<Self> {
        let docker = testcontainers::core::client::docker_client_instance()
            .await
            .context("connecting to the Docker engine")?;
        std::fs::create_dir_all(&spec.work_dir)
            .with_context(|| format!("creating {}", spec.work_dir.display()))?;
        let user = owner_of(&spec.work_dir)?;
        let security = ClusterSecurity::create(&spec.work_dir.join("tls"), spec.nodes, peer_name)?;
        // The CA's certificate and the nodes' keystore only: the CA's key stays on the host.
        let (ca, keystore) = (security.dir.join("ca.crt"), security.dir.join("node.p12"));
        // Unique per run: two suites (or a suite and a crashed one's leftovers) never share a
        // network or a container name.
        let run_id = format!("kafka-lab-chaos-{}-{}", std::process::id(), unique_suffix());
        let client_network = format!("{run_id}-clients");
        let cluster_network = format!("{run_id}-cluster");
        docker
            .create_network(NetworkCreateRequest {
                name: cluster_network.clone(),
                driver: Some("bridge".to_owned()),
                ..Default::default()
            })
            .await
            .with_context(|| format!("creating the network {cluster_network}"))?;
        let mut cluster = Self {
            docker,
            run_id: run_id.clone(),
            cluster_network,
            nodes: BTreeMap::new(),
            exporter: None,
            security,
            started_unix: unix_now(),
        };
        let (name, tag) = image_parts(&spec.image);
        for node_id in 1..=spec.nodes {
            let dir = spec.work_dir.join(format!("node-{node_id}"));
            std::fs::create_dir_all(dir.join("data"))?;
            let client_port = kafka_lab_testkit::process::free_port();
            let config = dir.join("broker.yaml");
            std::fs::write(
                &config,
                node_config(
                    node_id,
                    spec.nodes,
                    client_port,
                    spec.broker_session_timeout_ms,
                    &cluster.security,
                ),
            )?;
            let container = GenericImage::new(name.clone(), tag.clone())
                .with_cmd(["broker", "--config", "/etc/kafka-lab/broker.yaml"])
                .with_container_name(format!("{run_id}-node-{node_id}"))
                .with_network(client_network.clone())
                .with_mapped_port(client_port, ContainerPort::Tcp(CLIENT_PORT))
                .with_mount(
                    Mount::bind_mount(path_str(&config)?, "/etc/kafka-lab/broker.yaml")
                        .with_access_mode(AccessMode::ReadOnly),
                )
                .with_mount(Mount::bind_mount(path_str(&dir)?, DATA_MOUNT))
                .with_mount(read_only(&ca, &format!("{TLS_MOUNT}/ca.crt"))?)
                .with_mount(read_only(&keystore, &format!("{TLS_MOUNT}/node.p12"))?)
                .with_user(user.clone())
                .start()
                .await
                .with_context(|| {
                    format!("starting node {node_id} from the image {} (built by scripts/build-image kafka-lab?)", spec.image)
                })?;
            let node = Node { container, client_port, data_dir: dir, isolated: true };
            cluster.nodes.insert(node_id, node);
            // Until it is on the cluster network its peers cannot reach it, nor it them; the
            // nodes retry, as Kafka's do.
            cluster.connect(node_id).await?;
        }
        let exporter_dir = spec.work_dir.join("exporter");
        std::fs::create_dir_all(&exporter_dir)?;
        let exporter_yaml = exporter_dir.join("exporter.yaml");
        std::fs::write(&exporter_yaml, exporter_config(spec.nodes, &cluster.security))?;
        let exporter_port = kafka_lab_testkit::process::free_port();
        let (name, tag) = image_parts(&spec.exporter_image);
        let exporter = GenericImage::new(name, tag)
            .with_cmd(["--config", "/etc/kafka-lag-exporter/exporter.yaml"])
            .with_container_name(format!("{run_id}-exporter"))
            // As a deployment would run it (Kubernetes restarts a crashed pod): a crash is
            // counted (`exporter_restarts`) and reported, and the scrapes go on.
            .with_host_config_modifier(|host| {
                host.restart_policy = Some(RestartPolicy {
                    name: Some(RestartPolicyNameEnum::ON_FAILURE),
                    maximum_retry_count: Some(10),
                })
            })
            .with_network(cluster.cluster_network.clone())
            .with_mapped_port(exporter_port, ContainerPort::Tcp(8000))
            .with_mount(
                Mount::bind_mount(
                    path_str(&exporter_yaml)?,
                    "/etc/kafka-lag-exporter/exporter.yaml",
                )
                .with_access_mode(AccessMode::ReadOnly),
            )
            .with_mount(read_only(&ca, &format!("{TLS_MOUNT}/ca.crt"))?)
            .with_user(user)
            .start()
            .await
            .with_context(|| {
                format!(
                    "starting the lag exporter from the image {} (built by scripts/build-image \
                     kafka-lag-exporter?)",
                    spec.exporter_image
                )
            })?;
        cluster.exporter = Some((exporter, exporter_port));
        Ok(cluster)
    }

    /// A librdkafka client config for `user` on the cluster's client listeners.
    pub fn client_config(&self, user: User) -> ClientConfig {
        self.security.client_config(&self.bootstrap(), user)
    }

    /// The active controller (blocking).
    pub fn active_controller(&self) -> anyhow::Result<i32> {
        self.security.active_controller(&self.bootstrap())
    }

    /// Grants the workload's ACLs on `topic` and `groups`, and the exporter's (blocking).
    pub fn grant_acls(&self, topic: &str, groups: &[&str]) -> anyhow::Result<()> {
        self.security.grant_acls(&self.bootstrap(), topic, groups)
    }

    /// The bootstrap list for clients on the host.
    pub fn bootstrap(&self) -> String {
        let ports = self.nodes.values().map(|n| format!("127.0.0.1:{}", n.client_port));
        ports.collect::<Vec<_>>().join(",")
    }

    /// The node ids.
    pub fn node_ids(&self) -> Vec<i32> {
        self.nodes.keys().copied().collect()
    }

    /// The exporter's metrics port on the host.
    pub fn exporter_port(&self) -> Option<u16> {
        self.exporter.as_ref().map(|(_, port)| *port)
    }

    /// The exit codes of the exporter's crashes so far, from the engine's `die` events (139:
    /// SIGSEGV, 134: SIGABRT, as a shell reports 128 + the signal).
    pub async fn exporter_exit_codes(&self) -> anyhow::Result<Vec<String>> {
        use futures::StreamExt;
        let Some((exporter, _)) = &self.exporter else { return Ok(Vec::new()) };
        let filters = [
            ("container".to_owned(), vec![exporter.id().to_owned()]),
            ("event".to_owned(), vec!["die".to_owned()]),
        ];
        let options = EventsOptions {
            since: Some(self.started_unix.to_string()),
            until: Some((unix_now() + 1).to_string()),
            filters: Some(filters.into_iter().collect()),
        };
        let events: Vec<_> = self.docker.events(Some(options)).collect().await;
        let mut codes = Vec::new();
        for event in events {
            let event = event.context("the engine's events")?;
            let code =
                event.actor.and_then(|a| a.attributes).and_then(|a| a.get("exitCode").cloned());
            codes.push(code.unwrap_or_else(|| "?".to_owned()));
        }
        Ok(codes)
    }

    /// How many times Docker restarted the crashed exporter.
    pub async fn exporter_restarts(&self) -> anyhow::Result<i64> {
        let Some((exporter, _)) = &self.exporter else { return Ok(0) };
        let inspect = self
            .docker
            .inspect_container(exporter.id(), None::<InspectContainerOptions>)
            .await
            .context("docker inspect of the exporter")?;
        Ok(inspect.restart_count.unwrap_or(0))
    }

    /// Node `node_id`'s data directory on the host (its `log.dirs` is `data/` in it).
    pub fn data_dir(&self, node_id: i32) -> anyhow::Result<&Path> {
        Ok(&self.node(node_id)?.data_dir)
    }

    fn node(&self, node_id: i32) -> anyhow::Result<&Node> {
        self.nodes.get(&node_id).with_context(|| format!("the cluster has no node {node_id}"))
    }

    fn container_id(&self, node_id: i32) -> anyhow::Result<String> {
        Ok(self.node(node_id)?.container.id().to_owned())
    }

    /// `docker kill` (SIGKILL): the process dies at once, as in a crash.
    pub async fn kill(&self, node_id: i32) -> anyhow::Result<()> {
        let id = self.container_id(node_id)?;
        let options = KillContainerOptions { signal: "SIGKILL".to_owned() };
        self.docker.kill_container(&id, Some(options)).await.context("docker kill")?;
        Ok(())
    }

    /// `docker stop` (SIGTERM, SIGKILL after `grace`): a controlled shutdown.
    pub async fn stop(&self, node_id: i32, grace: Duration) -> anyhow::Result<()> {
        let id = self.container_id(node_id)?;
        let options = StopContainerOptions { signal: None, t: Some(grace.as_secs().max(1) as i32) };
        self.docker.stop_container(&id, Some(options)).await.context("docker stop")?;
        Ok(())
    }

    /// Starts a stopped or killed node again on its data (same ports, same networks).
    pub async fn start_node(&self, node_id: i32) -> anyhow::Result<()> {
        self.node(node_id)?.container.start().await.context("docker start")?;
        Ok(())
    }

    /// `docker pause`: every process of the node frozen, its connections open (a GC pause).
    pub async fn pause(&self, node_id: i32) -> anyhow::Result<()> {
        self.node(node_id)?.container.pause().await.context("docker pause")?;
        Ok(())
    }

    /// `docker unpause`.
    pub async fn unpause(&self, node_id: i32) -> anyhow::Result<()> {
        self.node(node_id)?.container.unpause().await.context("docker unpause")?;
        Ok(())
    }

    /// Cuts the node off the cluster network: its peers and controllers lose it, its clients
    /// do not.
    pub async fn isolate(&mut self, node_id: i32) -> anyhow::Result<()> {
        let id = self.container_id(node_id)?;
        let request = NetworkDisconnectRequest { container: id, force: Some(true) };
        self.docker
            .disconnect_network(&self.cluster_network, request)
            .await
            .context("disconnecting from the cluster network")?;
        self.nodes.get_mut(&node_id).expect("checked above").isolated = true;
        Ok(())
    }

    /// Puts the node back on the cluster network under its alias.
    pub async fn connect(&mut self, node_id: i32) -> anyhow::Result<()> {
        let node = self.node(node_id)?;
        if !node.isolated {
            return Ok(());
        }
        let request = NetworkConnectRequest {
            container: node.container.id().to_owned(),
            endpoint_config: Some(EndpointSettings {
                aliases: Some(vec![peer_name(node_id)]),
                ..Default::default()
            }),
        };
        self.docker
            .connect_network(&self.cluster_network, request)
            .await
            .context("connecting to the cluster network")?;
        self.nodes.get_mut(&node_id).expect("checked above").isolated = false;
        Ok(())
    }

    /// Every container's output so far, by file name (`node-1.log`, …, `exporter.log`).
    pub async fn logs(&self) -> Vec<(String, Vec<u8>)> {
        let mut logs = Vec::new();
        let containers = self
            .nodes
            .iter()
            .map(|(id, n)| (format!("node-{id}.log"), &n.container))
            .chain(self.exporter.iter().map(|(c, _)| ("exporter.log".to_owned(), c)));
        for (file, container) in containers {
            let mut text = container.stdout_to_vec().await.unwrap_or_default();
            text.extend(container.stderr_to_vec().await.unwrap_or_default());
            logs.push((file, text));
        }
        logs
    }

    /// Removes every container and the cluster network.
    pub async fn remove(mut self) -> anyhow::Result<()> {
        if let Some((exporter, _)) = self.exporter.take() {
            exporter.rm().await.context("removing the exporter")?;
        }
        for (_, node) in std::mem::take(&mut self.nodes) {
            node.container.rm().await.context("removing a node")?;
        }
        self.docker
            .remove_network(&self.cluster_network)
            .await
            .with_context(|| format!("removing the network {}", self.cluster_network))?;
        self.cluster_network.clear();
        Ok(())
    }
}

impl Drop for ContainerCluster {
    /// A run that failed half-way: testcontainers removes the containers (and the client
    /// network with its last one) when they drop, after this; the cluster network is ours.
    fn drop(&mut self) {
        if !self.cluster_network.is_empty() {
            let (exporter, nodes) = (self.exporter.take(), std::mem::take(&mut self.nodes));
            drop(exporter);
            drop(nodes);
            let status = std::process::Command::new("docker")
                .args(["network", "rm", &self.cluster_network])
                .output();
            if !status.is_ok_and(|o| o.status.success()) {
                eprintln!(
                    "could not remove the Docker network {} of {}: `docker network rm` it",
                    self.cluster_network, self.run_id
                );
            }
        }
    }
}

/// A read-only bind mount of the host's `path` at `target`.
fn read_only(path: &Path, target: &str) -> anyhow::Result<Mount> {
    Ok(Mount::bind_mount(path_str(path)?, target).with_access_mode(AccessMode::ReadOnly))
}

fn path_str(path: &Path) -> anyhow::Result<String> {
    let absolute = std::path::absolute(path)?;
    match absolute.to_str() {
        Some(s) => Ok(s.to_owned()),
        None => bail!("{} is not UTF-8, which a Docker mount needs", path.display()),
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A few characters that differ between two runs of one process.
fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static RUNS: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{:x}{}", nanos % 0x10000, RUNS.fetch_add(1, Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names_split_into_name_and_tag() {
        assert_eq!(image_parts("kafka-lab"), ("kafka-lab".into(), "latest".into()));
        assert_eq!(image_parts("kafka-lab:test"), ("kafka-lab".into(), "test".into()));
        assert_eq!(
            image_parts("localhost:5000/kafka-lab"),
            ("localhost:5000/kafka-lab".into(), "latest".into())
        );
    }

    /// The config a node gets is one the broker accepts: parsed by the broker's own loader.
    #[test]
    fn node_configs_are_valid_broker_configs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("broker.yaml");
        let security = ClusterSecurity::create(&dir.path().join("tls"), 3, peer_name).unwrap();
        std::fs::write(&path, node_config(2, 3, 23456, 6000, &security)).unwrap();
        let config = kafka_lab_broker::config::BrokerConfig::load(Some(&path), &[])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.node_id, 2);
    }
}
