//! Node-to-node connections over secured listeners, with three real broker processes
//! ([`support::cluster::Cluster`]): the inter-broker listener `INTERNAL` is SASL_SSL with
//! SCRAM-SHA-512, the controller listener SSL with `ssl.client.auth=required` (each node shows
//! its own certificate), clients use SASL_SSL too. Certificates come from `kafka_lab_tls`, as
//! `kafka-lab tls init` makes them; every node verifies the others' host names (127.0.0.1, a SAN
//! of the certificate).
//! - an RF=3, `min.insync.replicas=2` topic: a librdkafka acks=all producer's records are all
//!   acknowledged and read back, and every replica's checkpointed high watermark reaches the
//!   end, so the followers replicated over the secured link; the same over SASL_PLAINTEXT with
//!   SCRAM-SHA-256 between brokers and PLAIN to a SASL_PLAINTEXT controller listener;
//! - a broker with a wrong inter-broker password logs the authentication failure with the
//!   address, listener and mechanism (never the password), never joins an ISR as a follower,
//!   and the other two keep serving acks=all.
//!
//! The node's own checks at start (a SASL listener without a supported mechanism or
//! credentials, TLS without a truststore) are unit tests in `security::outbound`, and one is run
//! through the binary in tests/config_errors.rs.

// Drives real binaries from outside, on the OS's clock and threads: broker/clippy.toml's
// determinism rule is for the broker's own code, not for its tests.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kafka_lab_tls::{CertificateAuthority, CertificateRequest, KeyAlgorithm};
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};
use support::cluster::{Cluster, NodeSettings, Partitions};
use support::{eventually, free_port};

const TOPIC: &str = "secured";
const PARTITIONS: i32 = 3;
const KEYSTORE_PASSWORD: &str = "lab-pass";
const BROKER_PASSWORD: &str = "broker-secret";
const WRONG_PASSWORD: &str = "not-the-broker-secret";

/// One cluster at a time: three debug brokers per test on CI's two cores.
static ONE_CLUSTER_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A secured cluster, its certificates and each node's CLIENT port.
struct SecuredCluster {
    cluster: Cluster,
    certs: PathBuf,
    client_ports: BTreeMap<i32, u16>,
    _dir: tempfile::TempDir,
}

fn certificates(dir: &Path) {
    let (ca, _) =
        CertificateAuthority::load_or_create(dir, "test CA", KeyAlgorithm::EcP256, 30, false)
            .unwrap();
    // One certificate for every node, for the server and the client side alike.
    let request = CertificateRequest::localhost_broker(KeyAlgorithm::EcP256);
    ca.issue(dir, &request, KEYSTORE_PASSWORD, false).unwrap();
}

fn scram_jaas(mechanism: &str, password: &str) -> String {
    format!(
        "listener.name.internal.{mechanism}.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"broker\" password=\"{password}\";"
    )
}

impl SecuredCluster {
    /// INTERNAL on SASL_SSL with SCRAM-SHA-512, CONTROLLER on SSL with client certificates;
    /// node 3 authenticates to the other brokers with `node3_password`.
    fn sasl_ssl(node3_password: &str) -> SecuredCluster {
        let shared = [
            (
                "listener.security.protocol.map",
                "PLAINTEXT:PLAINTEXT,CONTROLLER:SSL,INTERNAL:SASL_SSL,CLIENT:SASL_SSL",
            ),
            ("sasl.mechanism.inter.broker.protocol", "SCRAM-SHA-512"),
            ("sasl.enabled.mechanisms", "SCRAM-SHA-512"),
            // Users from each node's own configuration: the metadata log carries only those
            // AlterUserScramCredentials adds at run time, so every node lists them.
            (
                "sasl.scram.users",
                "['SCRAM-SHA-512=[name=broker,password=broker-secret]', 'SCRAM-SHA-512=[name=alice,password=alice-secret]']",
            ),
            ("listener.name.controller.ssl.client.auth", "required"),
        ];
        SecuredCluster::start(&shared, &|id| {
            let password = if id == 3 { node3_password } else { BROKER_PASSWORD };
            vec![scram_jaas("scram-sha-512", password)]
        })
    }

    /// INTERNAL on SASL_PLAINTEXT with SCRAM-SHA-256, CONTROLLER on SASL_PLAINTEXT with PLAIN
    /// (the JAAS entry holds both sides: the controller's users and this node's credentials).
    fn sasl_plaintext() -> SecuredCluster {
        let shared = [
            (
                "listener.security.protocol.map",
                "PLAINTEXT:PLAINTEXT,CONTROLLER:SASL_PLAINTEXT,INTERNAL:SASL_PLAINTEXT,CLIENT:SASL_SSL",
            ),
            ("sasl.mechanism.inter.broker.protocol", "SCRAM-SHA-256"),
            ("sasl.mechanism.controller.protocol", "PLAIN"),
            (
                "sasl.scram.users",
                "['SCRAM-SHA-256=[name=broker,password=broker-secret]', 'SCRAM-SHA-512=[name=alice,password=alice-secret]']",
            ),
            (
                "listener.name.controller.plain.sasl.jaas.config",
                "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"broker\" password=\"broker-secret\" user_broker=\"broker-secret\";",
            ),
        ];
        SecuredCluster::start(&shared, &|_| vec![scram_jaas("scram-sha-256", BROKER_PASSWORD)])
    }

    /// Starts the three nodes with INTERNAL as the inter-broker listener, `shared` properties
    /// and each node's `own`; every node has the certificates and a CLIENT listener (SASL_SSL).
    fn start(shared: &[(&str, &str)], own: &dyn Fn(i32) -> Vec<String>) -> SecuredCluster {
        let dir = tempfile::tempdir().unwrap();
        let certs = dir.path().join("tls");
        certificates(&certs);
        let keystore = certs.join("broker.p12").display().to_string();
        let truststore = certs.join("ca.crt").display().to_string();
        let ports: BTreeMap<i32, (u16, u16)> =
            [1, 2, 3].into_iter().map(|id| (id, (free_port(), free_port()))).collect();
        let mut all: Vec<(&str, &str)> = vec![
            ("inter.broker.listener.name", "INTERNAL"),
            ("ssl.keystore.location", &keystore),
            ("ssl.keystore.password", KEYSTORE_PASSWORD),
            ("ssl.truststore.location", &truststore),
            ("replica.high.watermark.checkpoint.interval.ms", "200"),
        ];
        all.extend_from_slice(shared);
        let node = |id: i32| {
            let (internal, client) = ports[&id];
            NodeSettings {
                listeners: Some(format!(
                    "INTERNAL://127.0.0.1:{internal},CLIENT://127.0.0.1:{client}"
                )),
                overrides: own(id),
            }
        };
        let cluster = Cluster::start_with_nodes(&all, &node);
        let client_ports = ports.iter().map(|(id, (_, client))| (*id, *client)).collect();
        SecuredCluster { cluster, certs, client_ports, _dir: dir }
    }

    /// A librdkafka client of the CLIENT listeners, as `alice` over SASL_SSL SCRAM-SHA-512.
    fn client(&self) -> ClientConfig {
        let bootstrap: Vec<String> =
            self.client_ports.values().map(|p| format!("127.0.0.1:{p}")).collect();
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", bootstrap.join(","))
            .set("security.protocol", "SASL_SSL")
            .set("sasl.mechanism", "SCRAM-SHA-512")
            .set("sasl.username", "alice")
            .set("sasl.password", "alice-secret")
            .set("ssl.ca.location", self.certs.join("ca.crt").display().to_string());
        config
    }

    /// Sends `count` records (acks=all) and returns how many were acknowledged and the
    /// delivery errors.
    fn produce(&self, prefix: &str, count: usize) -> (usize, Vec<String>) {
        let producer: ThreadedProducer<Deliveries> = self
            .client()
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("message.timeout.ms", "20000")
            .create_with_context(Deliveries::default())
            .expect("producer");
        for i in 0..count {
            let key = format!("{prefix}-{i}");
            let partition = (i % PARTITIONS as usize) as i32;
            producer
                .send(BaseRecord::to(TOPIC).key(&key).payload(&key).partition(partition))
                .expect("queued");
        }
        producer.flush(Duration::from_secs(25)).expect("flush");
        let deliveries = producer.context();
        let errors = deliveries.errors.lock().unwrap().clone();
        let acknowledged = *deliveries.acknowledged.lock().unwrap();
        (acknowledged, errors)
    }

    /// Every record of the topic, read from the leaders from the start to their high
    /// watermark, and the high watermark of each partition.
    fn read_all(&self) -> (BTreeSet<String>, BTreeMap<i32, i64>) {
        let consumer: BaseConsumer = self
            .client()
            .set("group.id", "secured-readers")
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        let mut ends = BTreeMap::new();
        let mut assignment = TopicPartitionList::new();
        for p in 0..PARTITIONS {
            let (_, high) =
                consumer.fetch_watermarks(TOPIC, p, Duration::from_secs(10)).expect("watermarks");
            ends.insert(p, high);
            assignment.add_partition_offset(TOPIC, p, Offset::Beginning).unwrap();
        }
        consumer.assign(&assignment).unwrap();
        let total: i64 = ends.values().sum();
        let mut values = BTreeSet::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while (values.len() as i64) < total {
            assert!(Instant::now() < deadline, "read {} of {total}", values.len());
            if let Some(message) = consumer.poll(Duration::from_millis(100)) {
                let message = message.expect("consume error");
                values.insert(String::from_utf8(message.payload().unwrap().to_vec()).unwrap());
            }
        }
        (values, ends)
    }

    fn partitions(&self) -> Partitions {
        self.cluster.partitions(TOPIC)
    }
}

/// Counts librdkafka's delivery reports.
#[derive(Default)]
struct Deliveries {
    acknowledged: Mutex<usize>,
    errors: Mutex<Vec<String>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => *self.acknowledged.lock().unwrap() += 1,
            Err((e, _)) => self.errors.lock().unwrap().push(e.to_string()),
        }
    }
}

/// The high watermarks a node last checkpointed (`replication-offset-checkpoint`: a version
/// line, a count line, then `topic partition offset` lines).
fn checkpointed_high_watermarks(data_dir: &Path) -> BTreeMap<i32, i64> {
    let text =
        std::fs::read_to_string(data_dir.join("replication-offset-checkpoint")).unwrap_or_default();
    text.lines()
        .skip(2)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            match fields[..] {
                [topic, partition, offset] if topic == TOPIC => {
                    Some((partition.parse().ok()?, offset.parse().ok()?))
                }
                _ => None,
            }
        })
        .collect()
}

#[test]
fn a_sasl_ssl_cluster_replicates_over_its_secured_inter_broker_listener() {
    let _guard = ONE_CLUSTER_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    replicates_and_serves(&SecuredCluster::sasl_ssl(BROKER_PASSWORD));
}

#[test]
fn a_sasl_plaintext_cluster_reaches_its_controller_with_plain_and_replicates_with_scram() {
    let _guard = ONE_CLUSTER_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // Registration, heartbeats and the metadata log go over the SASL controller listener:
    // the cluster starting at all (three brokers registered) shows those work.
    replicates_and_serves(&SecuredCluster::sasl_plaintext());
}

/// Creates the RF=3 topic, produces 300 acks=all records, reads them back, and checks that
/// every replica's high watermark reaches the end with the ISR full.
fn replicates_and_serves(secured: &SecuredCluster) {
    // Created with the full ISR, which stays full only if every follower keeps fetching.
    secured.cluster.create_topic(TOPIC, PARTITIONS, 2);
    let (acknowledged, errors) = secured.produce("record", 300);
    assert_eq!((acknowledged, errors), (300, vec![]), "every acks=all record acknowledged");

    let (values, ends) = secured.read_all();
    let expected: BTreeSet<String> = (0..300).map(|i| format!("record-{i}")).collect();
    assert_eq!(values, expected, "every acknowledged record read back once");
    assert_eq!(ends.values().sum::<i64>(), 300, "high watermarks {ends:?}");

    // Each replica's own high watermark (a follower's comes from its fetches), as it
    // checkpoints it every 200 ms: at the end on all three nodes.
    for (id, node) in &secured.cluster.nodes {
        eventually(
            Duration::from_secs(10),
            &format!("node {id}'s high watermarks at {ends:?}"),
            || {
                let checkpointed = checkpointed_high_watermarks(&node.data_dir());
                (checkpointed == ends, checkpointed)
            },
        );
    }
    let partitions = secured.partitions();
    assert!(
        partitions.values().all(|(_, isr)| isr == &[1, 2, 3]),
        "every replica in sync: {partitions:?}"
    );
    for (id, node) in &secured.cluster.nodes {
        let log = node.log();
        assert!(!log.contains("authentication to"), "node {id} failed to authenticate:\n{log}");
        assert!(!log.contains(BROKER_PASSWORD), "node {id} logged the password");
    }
}

#[test]
fn a_broker_with_a_wrong_inter_broker_password_never_joins_an_isr_and_the_others_serve() {
    let _guard = ONE_CLUSTER_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let secured = SecuredCluster::sasl_ssl(WRONG_PASSWORD);
    secured.cluster.create_topic(TOPIC, PARTITIONS, 2);
    // Node 3 reaches the controller (SSL, no SASL) but cannot fetch: it falls out of every ISR
    // it does not lead after replica.lag.time.max.ms (3 s).
    let out_of_sync = |p: &Partitions| {
        p.values().all(|(leader, isr)| *leader == 3 || !isr.contains(&3)) && p.len() == 3
    };
    eventually(Duration::from_secs(15), "node 3 out of the ISRs it follows in", || {
        let p = secured.partitions();
        (out_of_sync(&p), p)
    });
    let (acknowledged, errors) = secured.produce("record", 60);
    assert_eq!((acknowledged, errors), (60, vec![]), "nodes 1 and 2 serve acks=all");
    let (values, _) = secured.read_all();
    assert_eq!(values.len(), 60);

    let log = secured.cluster.nodes[&3].log();
    let failure = log
        .lines()
        .find(|l| l.contains("cannot fetch from the leader: authentication to 127.0.0.1:"))
        .unwrap_or_else(|| panic!("no authentication failure logged:\n{log}"));
    assert!(
        failure.contains("listener INTERNAL (SASL_SSL), SASL mechanism SCRAM-SHA-512, user broker"),
        "{failure}"
    );
    assert!(!log.contains(WRONG_PASSWORD), "the password was logged");
    // Logged once per fetcher, not at each retry (every replica.fetch.backoff.ms).
    let repeats = log.lines().filter(|l| l.contains("cannot fetch from the leader")).count();
    let fetchers = log.lines().filter(|l| l.contains("replica fetcher started")).count();
    assert!(repeats <= fetchers, "{repeats} failure lines for {fetchers} fetchers:\n{log}");
    let p = secured.partitions();
    assert!(out_of_sync(&p), "node 3 rejoined an ISR: {p:?}");
    for id in [1, 2] {
        let log = secured.cluster.nodes[&id].log();
        assert!(!log.contains("authentication to"), "node {id}:\n{log}");
    }
}
