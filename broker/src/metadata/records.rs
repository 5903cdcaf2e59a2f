//! Metadata records: the only way cluster metadata changes.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::authorizer::AclBinding;
use crate::quota::{ClientQuotaEntity, QuotaValue};
use crate::security::credentials::{ScramCredential, ScramMechanism};

/// Which configurable entity a [`MetadataRecord::Config`] applies to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", content = "name")]
pub enum ConfigResource {
    /// A topic, by name.
    Topic(String),
    /// The broker's dynamic defaults.
    Broker,
}

/// One change to cluster metadata, as KRaft's metadata records are: the image is whatever
/// replaying these in order produces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum MetadataRecord {
    /// A topic came into being.
    Topic { name: String, topic_id: Uuid },
    /// A partition of an existing topic, with its leader.
    Partition { topic_id: Uuid, partition: i32, leader: i32, leader_epoch: i32, replicas: Vec<i32> },
    /// A config was set (`Some`) or removed (`None`).
    Config { resource: ConfigResource, name: String, value: Option<String> },
    /// A topic and its partitions and configs are gone.
    RemoveTopic { topic_id: Uuid },
    /// Producer ids below `next_producer_id` have been handed out.
    ProducerIds { next_producer_id: i64 },
    /// A SCRAM credential was created or replaced (Kafka's UserScramCredentialRecord): the
    /// salt, iteration count and RFC 5802 StoredKey/ServerKey, never a password.
    UserScramCredential { name: String, mechanism: ScramMechanism, credential: ScramCredential },
    /// A SCRAM credential was deleted (Kafka's RemoveUserScramCredentialRecord).
    RemoveUserScramCredential { name: String, mechanism: ScramMechanism },
    /// A client quota was set (`Some`) or removed (`None`) (Kafka's ClientQuotaRecord).
    ClientQuota { entity: ClientQuotaEntity, key: String, value: Option<QuotaValue> },
    /// An ACL was created (Kafka's AccessControlEntryRecord).
    AccessControlEntry { id: Uuid, acl: AclBinding },
    /// An ACL was deleted (Kafka's RemoveAccessControlEntryRecord).
    RemoveAccessControlEntry { id: Uuid },
}
