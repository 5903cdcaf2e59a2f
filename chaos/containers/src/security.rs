//! The suites' cluster runs secured, as the mission's broker does: certificates from
//! `kafka_lab_tls` (what `kafka-lab tls` makes), SASL_SSL with SCRAM-SHA-512 for clients and
//! between brokers, the controller listener on SSL with client certificates required, and
//! Kafka's StandardAuthorizer with ACLs for every user that is not a super user.
//!
//! | user | for | rights |
//! | --- | --- | --- |
//! | `broker` (SCRAM) and the nodes' certificate `CN=chaos-node,O=kafka-lab` | replication, the quorum | super user |
//! | `admin` | creating the topic and the ACLs | super user |
//! | `chaos-client` | the workload's producers, group member and final reader | ACLs: Write, Read, Describe on the topic; Read on its groups; IdempotentWrite on the Cluster |
//! | `lag-exporter` | the exporter | ACLs: Describe on the Cluster, every group and every topic |
//!
//! Passwords are drawn from the OS's CSPRNG per run; everything lives in the run's `tls/`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use kafka_lab_broker::authorizer::{
    AclBinding, AclOperation, AclPermissionType, PatternType, ResourceType,
};
use kafka_lab_broker::security::random::{OsRandom, SecureRandom};
use kafka_lab_tls::{
    CertificateAuthority, CertificateRequest, KeyAlgorithm, SubjectAltName, Usage,
};
use rdkafka::config::ClientConfig;

/// Where the containers see the run's `tls/`.
pub const TLS_MOUNT: &str = "/tls";
/// The SCRAM mechanism of every SASL listener.
const MECHANISM: &str = "SCRAM-SHA-512";
/// The workload's user.
pub const CLIENT_USER: &str = "chaos-client";
/// The exporter's user.
const EXPORTER_USER: &str = "lag-exporter";
/// The nodes' certificate common name.
const NODE_SUBJECT: &str = "chaos-node";
/// Their principal on the SSL controller listener: the certificate's subject as Kafka's
/// default `ssl.principal.mapping.rules` render it (`kafka_lab_tls` adds the organization).
const NODE_PRINCIPAL: &str = "User:CN=chaos-node,O=kafka-lab";

/// Who a librdkafka client of the cluster authenticates as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum User {
    /// `admin`, a super user.
    Admin,
    /// `chaos-client`, with the workload's ACLs.
    Client,
}

/// The run's certificates and credentials.
#[derive(Debug, Clone)]
pub struct ClusterSecurity {
    /// The run's `tls/` on the host.
    pub dir: PathBuf,
    keystore_password: String,
    passwords: BTreeMap<&'static str, String>,
}

/// 16 random bytes from the OS, hex.
fn secret() -> String {
    let mut bytes = [0u8; 16];
    OsRandom.fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl ClusterSecurity {
    /// A CA and one node certificate (PKCS#12) for `nodes` nodes, in `dir`.
    pub fn create(
        dir: &Path,
        nodes: i32,
        peer_name: impl Fn(i32) -> String,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let (ca, _) = CertificateAuthority::load_or_create(
            dir,
            "kafka-lab chaos CA",
            KeyAlgorithm::EcP256,
            7,
            true,
        )
        .context("creating the CA")?;
        // One certificate every node presents, as a server and on its controller connections.
        let mut names: Vec<SubjectAltName> =
            (1..=nodes).map(|id| SubjectAltName::parse(&peer_name(id))).collect();
        names.push(SubjectAltName::parse("127.0.0.1"));
        names.push(SubjectAltName::parse("localhost"));
        let request = CertificateRequest {
            name: "node".into(),
            common_name: NODE_SUBJECT.into(),
            organizational_unit: None,
            subject_alt_names: names,
            usage: Usage::Server,
            key_algorithm: KeyAlgorithm::EcP256,
            valid_days: 7,
        };
        let keystore_password = secret();
        ca.issue(dir, &request, &keystore_password, true)
            .context("issuing the nodes' certificate")?;
        let passwords = ["broker", "admin", CLIENT_USER, EXPORTER_USER]
            .into_iter()
            .map(|user| (user, secret()))
            .collect();
        Ok(Self { dir: dir.to_owned(), keystore_password, passwords })
    }

    fn password(&self, user: &str) -> &str {
        &self.passwords[user]
    }

    /// The node config's security lines (YAML), for the listeners `INTERNAL` (SASL_SSL,
    /// inter-broker), `CONTROLLER` (SSL, client certificates required) and `CLIENT`
    /// (SASL_SSL).
    pub fn node_properties(&self) -> String {
        let users: Vec<String> = self
            .passwords
            .iter()
            .map(|(user, password)| format!("  - {MECHANISM}=[name={user},password={password}]"))
            .collect();
        format!(
            "listener.security.protocol.map: INTERNAL:SASL_SSL,CONTROLLER:SSL,CLIENT:SASL_SSL\n\
             sasl.enabled.mechanisms: {MECHANISM}\n\
             sasl.mechanism.inter.broker.protocol: {MECHANISM}\n\
             listener.name.internal.scram-sha-512.sasl.jaas.config: 'org.apache.kafka.common.security.scram.ScramLoginModule required username=\"broker\" password=\"{broker}\";'\n\
             # Every node lists the users: the metadata log carries only those added at run time.\n\
             sasl.scram.users:\n{users}\n\
             listener.name.controller.ssl.client.auth: required\n\
             ssl.keystore.type: PKCS12\n\
             ssl.keystore.location: {TLS_MOUNT}/node.p12\n\
             ssl.keystore.password: {keystore}\n\
             ssl.truststore.type: PEM\n\
             ssl.truststore.location: {TLS_MOUNT}/ca.crt\n\
             authorizer.class.name: org.apache.kafka.metadata.authorizer.StandardAuthorizer\n\
             super.users: User:broker;User:admin;{NODE_PRINCIPAL}\n",
            broker = self.password("broker"),
            users = users.join("\n"),
            keystore = self.keystore_password,
        )
    }

    /// The exporter's librdkafka properties (YAML, indented under its cluster).
    pub fn exporter_properties(&self) -> String {
        format!(
            "    properties:\n\
             \x20     security.protocol: SASL_SSL\n\
             \x20     sasl.mechanism: {MECHANISM}\n\
             \x20     sasl.username: {EXPORTER_USER}\n\
             \x20     sasl.password: {password}\n\
             \x20     ssl.ca.location: {TLS_MOUNT}/ca.crt\n",
            password = self.password(EXPORTER_USER)
        )
    }

    /// librdkafka's settings for `user` on the `CLIENT` listeners.
    pub fn client_config(&self, bootstrap: &str, user: User) -> ClientConfig {
        let name = match user {
            User::Admin => "admin",
            User::Client => CLIENT_USER,
        };
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", bootstrap)
            .set("security.protocol", "SASL_SSL")
            .set("sasl.mechanism", MECHANISM)
            .set("sasl.username", name)
            .set("sasl.password", self.password(name))
            .set("ssl.ca.location", self.dir.join("ca.crt").display().to_string());
        config
    }

    /// A `kafka_lab_admin` client (the admin APIs librdkafka does not wrap), as `admin`.
    fn admin_client(
        &self,
        bootstrap: &str,
    ) -> anyhow::Result<kafka_lab_admin::client::AdminClient> {
        let properties: BTreeMap<String, String> = [
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", MECHANISM),
            ("sasl.username", "admin"),
            ("sasl.password", self.password("admin")),
            ("ssl.truststore.location", &self.dir.join("ca.crt").display().to_string()),
            ("ssl.truststore.type", "PEM"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let properties = kafka_lab_admin::properties::ClientProperties::from_map(&properties)?;
        kafka_lab_admin::client::AdminClient::connect(bootstrap, &properties)
            .context("connecting the admin client")
    }

    /// The metadata quorum's leader — the active controller — as DescribeQuorum answers it
    /// (any broker forwards it to the leader), blocking.
    pub fn active_controller(&self, bootstrap: &str) -> anyhow::Result<i32> {
        use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
        use kafka_protocol::messages::{DescribeQuorumRequest, TopicName};
        use kafka_protocol::protocol::StrBytes;
        let mut admin = self.admin_client(bootstrap)?;
        let request = DescribeQuorumRequest::default().with_topics(vec![TopicData::default()
            .with_topic_name(TopicName(StrBytes::from_static_str("__cluster_metadata")))
            .with_partitions(vec![PartitionData::default()])]);
        let response = admin.call(&request).context("DescribeQuorum")?;
        let partition = response.topics.first().and_then(|t| t.partitions.first());
        match partition {
            Some(p) if response.error_code == 0 && p.error_code == 0 && p.leader_id.0 >= 0 => {
                Ok(p.leader_id.0)
            }
            _ => anyhow::bail!("DescribeQuorum named no leader: {response:?}"),
        }
    }

    /// Grants the workload's and the exporter's ACLs, as `admin` (blocking).
    pub fn grant_acls(&self, bootstrap: &str, topic: &str, groups: &[&str]) -> anyhow::Result<()> {
        let mut admin = self.admin_client(bootstrap)?;
        let allow = |principal: &str, resource_type, name: &str, operation| AclBinding {
            resource_type,
            resource_name: name.to_owned(),
            pattern_type: PatternType::Literal,
            principal: format!("User:{principal}"),
            host: "*".to_owned(),
            operation,
            permission: AclPermissionType::Allow,
        };
        let mut acls = vec![
            allow(CLIENT_USER, ResourceType::Topic, topic, AclOperation::Write),
            allow(CLIENT_USER, ResourceType::Topic, topic, AclOperation::Read),
            allow(CLIENT_USER, ResourceType::Topic, topic, AclOperation::Describe),
            allow(
                CLIENT_USER,
                ResourceType::Cluster,
                "kafka-cluster",
                AclOperation::IdempotentWrite,
            ),
            allow(EXPORTER_USER, ResourceType::Cluster, "kafka-cluster", AclOperation::Describe),
            allow(EXPORTER_USER, ResourceType::Group, "*", AclOperation::Describe),
            allow(EXPORTER_USER, ResourceType::Topic, "*", AclOperation::Describe),
        ];
        for group in groups {
            acls.push(allow(CLIENT_USER, ResourceType::Group, group, AclOperation::Read));
        }
        for (acl, result) in acls.iter().zip(admin.create_acls(&acls)?) {
            result.with_context(|| format!("creating the ACL {acl:?}"))?;
        }
        Ok(())
    }
}
