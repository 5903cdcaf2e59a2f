//! Metadata records: the only way cluster metadata changes. These are Kafka's own record types
//! with Kafka's fields (`metadata/src/main/resources/common/metadata/*.json` in Kafka's sources),
//! stored in Kafka's binary encoding (`codec.rs`): the metadata log is a wire format between
//! nodes, so its schemas are stable and versioned, not the serde form of internal types. Fields
//! that Kafka encodes as codes (ACL types, SCRAM mechanisms, quota entities) are typed here;
//! the codec maps them.

mod codec;
mod legacy_json;

use uuid::Uuid;

pub use codec::{decode, encode};

use crate::authorizer::AclBinding;
use crate::quota::{ClientQuotaEntity, QuotaValue};
use crate::security::credentials::{ScramCredential, ScramMechanism};

/// Which configurable entity a [`MetadataRecord::Config`] applies to (Kafka's
/// `ConfigResource.Type` and resource name).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum ConfigResource {
    /// A topic, by name (type 2).
    Topic(String),
    /// The brokers' cluster-wide dynamic defaults (type 4 with the empty name).
    Broker,
}

/// `Leader` of a [`PartitionRecord`] with no leader.
pub const NO_LEADER: i32 = -1;
/// `Leader` of a [`PartitionChangeRecord`] that leaves the leader as it was.
pub const NO_LEADER_CHANGE: i32 = -2;

/// Kafka's PartitionRecord (api key 3): a partition as the controller created it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionRecord {
    /// The partition's index.
    pub partition_id: i32,
    /// Its topic.
    pub topic_id: Uuid,
    /// Replica node ids, in preferred-leader order.
    pub replicas: Vec<i32>,
    /// The in-sync replicas.
    pub isr: Vec<i32>,
    /// Replicas being removed by a reassignment.
    pub removing_replicas: Vec<i32>,
    /// Replicas being added by a reassignment.
    pub adding_replicas: Vec<i32>,
    /// The leader, or [`NO_LEADER`].
    pub leader: i32,
    /// 1 while a leader chosen by unclean election recovers, 0 otherwise.
    pub leader_recovery_state: i8,
    /// Bumped on each leader change.
    pub leader_epoch: i32,
    /// Bumped on every change of the partition (AlterPartition's compare-and-set).
    pub partition_epoch: i32,
}

impl PartitionRecord {
    /// A new partition as the controller creates it: every replica in sync, the first leading,
    /// both epochs 0.
    pub fn new(topic_id: Uuid, partition_id: i32, replicas: Vec<i32>) -> Self {
        Self {
            partition_id,
            topic_id,
            leader: replicas.first().copied().unwrap_or(NO_LEADER),
            isr: replicas.clone(),
            replicas,
            removing_replicas: Vec::new(),
            adding_replicas: Vec::new(),
            leader_recovery_state: 0,
            leader_epoch: 0,
            partition_epoch: 0,
        }
    }
}

/// Kafka's PartitionChangeRecord (api key 5): what changed in a partition; `None` (or
/// [`NO_LEADER_CHANGE`], or -1 for the recovery state) is "unchanged".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionChangeRecord {
    /// The partition's index.
    pub partition_id: i32,
    /// Its topic.
    pub topic_id: Uuid,
    /// The new ISR.
    pub isr: Option<Vec<i32>>,
    /// The new leader, [`NO_LEADER`] for none, [`NO_LEADER_CHANGE`] if unchanged.
    pub leader: i32,
    /// The new replicas.
    pub replicas: Option<Vec<i32>>,
    /// The new replicas being removed.
    pub removing_replicas: Option<Vec<i32>>,
    /// The new replicas being added.
    pub adding_replicas: Option<Vec<i32>>,
    /// The new leader recovery state, -1 if unchanged.
    pub leader_recovery_state: i8,
}

impl PartitionChangeRecord {
    /// A change of nothing yet, for the fields to be set on.
    pub fn new(topic_id: Uuid, partition_id: i32) -> Self {
        Self {
            partition_id,
            topic_id,
            isr: None,
            leader: NO_LEADER_CHANGE,
            replicas: None,
            removing_replicas: None,
            adding_replicas: None,
            leader_recovery_state: -1,
        }
    }
}

/// A listener a broker registered (RegisterBrokerRecord's BrokerEndpoint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerEndpoint {
    /// The listener name.
    pub name: String,
    /// The advertised host.
    pub host: String,
    /// The advertised port.
    pub port: u16,
    /// Kafka's SecurityProtocol id (0 PLAINTEXT, 1 SSL, 2 SASL_PLAINTEXT, 3 SASL_SSL).
    pub security_protocol: i16,
}

/// A feature range a broker supports (RegisterBrokerRecord's BrokerFeature).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerFeature {
    /// The feature name (`metadata.version`, `kraft.version`, …).
    pub name: String,
    /// The lowest supported level.
    pub min_supported_version: i16,
    /// The highest supported level.
    pub max_supported_version: i16,
}

/// Kafka's RegisterBrokerRecord (api key 0): a broker registered at an epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterBrokerRecord {
    /// The broker's `node.id`.
    pub broker_id: i32,
    /// Unique per process start: tells a restart from a duplicate `node.id`.
    pub incarnation_id: Uuid,
    /// The epoch the controller gave this registration.
    pub broker_epoch: i64,
    /// Its advertised listeners.
    pub endpoints: Vec<BrokerEndpoint>,
    /// The features it supports.
    pub features: Vec<BrokerFeature>,
    /// `broker.rack`.
    pub rack: Option<String>,
    /// Registered fenced (until caught up with the metadata log).
    pub fenced: bool,
    /// In controlled shutdown.
    pub in_controlled_shutdown: bool,
}

/// Kafka's BrokerRegistrationChangeRecord (api key 17): a broker fenced, unfenced or entering
/// controlled shutdown. `fenced` is -1 unfenced, 0 unchanged, 1 fenced; `in_controlled_shutdown`
/// 0 unchanged, 1 entering it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerRegistrationChangeRecord {
    /// The broker's `node.id`.
    pub broker_id: i32,
    /// The registration's epoch.
    pub broker_epoch: i64,
    /// -1 unfenced, 0 unchanged, 1 fenced.
    pub fenced: i8,
    /// 0 unchanged, 1 in controlled shutdown.
    pub in_controlled_shutdown: i8,
}

/// One change to cluster metadata, as KRaft's metadata records are: the image is whatever
/// replaying these in order produces. Each variant is the Kafka record of the same name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataRecord {
    /// RegisterBrokerRecord (0).
    RegisterBroker(RegisterBrokerRecord),
    /// UnregisterBrokerRecord (1).
    UnregisterBroker { broker_id: i32, broker_epoch: i64 },
    /// TopicRecord (2): a topic came into being.
    Topic { name: String, topic_id: Uuid },
    /// PartitionRecord (3): a partition of an existing topic.
    Partition(PartitionRecord),
    /// ConfigRecord (4): a config was set (`Some`) or removed (`None`).
    Config { resource: ConfigResource, name: String, value: Option<String> },
    /// PartitionChangeRecord (5).
    PartitionChange(PartitionChangeRecord),
    /// FenceBrokerRecord (7).
    FenceBroker { id: i32, epoch: i64 },
    /// UnfenceBrokerRecord (8).
    UnfenceBroker { id: i32, epoch: i64 },
    /// RemoveTopicRecord (9): a topic and its partitions and configs are gone.
    RemoveTopic { topic_id: Uuid },
    /// UserScramCredentialRecord (11): a SCRAM credential created or replaced — the salt,
    /// iteration count and RFC 5802 StoredKey/ServerKey, never a password.
    UserScramCredential { name: String, mechanism: ScramMechanism, credential: ScramCredential },
    /// FeatureLevelRecord (12): a finalized feature level (`metadata.version`, …).
    FeatureLevel { name: String, feature_level: i16 },
    /// ClientQuotaRecord (14): a client quota set (`Some`) or removed (`None`).
    ClientQuota { entity: ClientQuotaEntity, key: String, value: Option<QuotaValue> },
    /// ProducerIdsRecord (15): producer ids below `next_producer_id` have been handed out, the
    /// last block to `broker_id`.
    ProducerIds { broker_id: i32, broker_epoch: i64, next_producer_id: i64 },
    /// BrokerRegistrationChangeRecord (17).
    BrokerRegistrationChange(BrokerRegistrationChangeRecord),
    /// AccessControlEntryRecord (18): an ACL was created.
    AccessControlEntry { id: Uuid, acl: AclBinding },
    /// RemoveAccessControlEntryRecord (19): an ACL was deleted.
    RemoveAccessControlEntry { id: Uuid },
    /// NoOpRecord (20): the controller's heartbeat into the log; changes nothing.
    NoOp,
    /// RemoveUserScramCredentialRecord (22): a SCRAM credential was deleted.
    RemoveUserScramCredential { name: String, mechanism: ScramMechanism },
}

impl MetadataRecord {
    /// Kafka's record type (`apiKey`) and the version this broker writes it at.
    pub fn api_key_and_version(&self) -> (i16, i16) {
        match self {
            MetadataRecord::RegisterBroker(_) => (0, 1),
            MetadataRecord::UnregisterBroker { .. } => (1, 0),
            MetadataRecord::Topic { .. } => (2, 0),
            MetadataRecord::Partition(_) => (3, 0),
            MetadataRecord::Config { .. } => (4, 0),
            MetadataRecord::PartitionChange(_) => (5, 0),
            MetadataRecord::FenceBroker { .. } => (7, 0),
            MetadataRecord::UnfenceBroker { .. } => (8, 0),
            MetadataRecord::RemoveTopic { .. } => (9, 0),
            MetadataRecord::UserScramCredential { .. } => (11, 0),
            MetadataRecord::FeatureLevel { .. } => (12, 0),
            MetadataRecord::ClientQuota { .. } => (14, 0),
            MetadataRecord::ProducerIds { .. } => (15, 0),
            MetadataRecord::BrokerRegistrationChange(_) => (17, 1),
            MetadataRecord::AccessControlEntry { .. } => (18, 0),
            MetadataRecord::RemoveAccessControlEntry { .. } => (19, 0),
            MetadataRecord::NoOp => (20, 0),
            MetadataRecord::RemoveUserScramCredential { .. } => (22, 0),
        }
    }
}
