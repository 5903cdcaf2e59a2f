//! The metadata records kafka-lab wrote before it used Kafka's binary form: one JSON object per
//! record value, read (never written) so that a data directory from an earlier version keeps
//! its topics, ACLs, users and quotas. The first byte tells the forms apart: `{` here, the
//! frame version 1 in Kafka's.

use serde::Deserialize;
use uuid::Uuid;

use super::{ConfigResource, MetadataRecord, PartitionRecord, NO_LEADER};
use crate::authorizer::AclBinding;
use crate::quota::{ClientQuotaEntity, QuotaValue};
use crate::security::credentials::{ScramCredential, ScramMechanism};

#[derive(Deserialize)]
#[serde(tag = "kind", content = "name")]
enum LegacyConfigResource {
    Topic(String),
    Broker,
}

#[derive(Deserialize)]
#[serde(tag = "type")]
enum LegacyRecord {
    Topic { name: String, topic_id: Uuid },
    Partition { topic_id: Uuid, partition: i32, leader: i32, leader_epoch: i32, replicas: Vec<i32> },
    Config { resource: LegacyConfigResource, name: String, value: Option<String> },
    RemoveTopic { topic_id: Uuid },
    ProducerIds { next_producer_id: i64 },
    UserScramCredential { name: String, mechanism: ScramMechanism, credential: ScramCredential },
    RemoveUserScramCredential { name: String, mechanism: ScramMechanism },
    ClientQuota { entity: ClientQuotaEntity, key: String, value: Option<QuotaValue> },
    AccessControlEntry { id: Uuid, acl: AclBinding },
    RemoveAccessControlEntry { id: Uuid },
}

/// The record a legacy JSON value held, in today's form: a partition's ISR is its replicas (a
/// single node led them all) and its partition epoch its leader epoch.
pub(super) fn decode(value: &[u8]) -> Result<MetadataRecord, String> {
    let legacy: LegacyRecord = serde_json::from_slice(value)
        .map_err(|e| format!("invalid record from an earlier kafka-lab (JSON): {e}"))?;
    Ok(match legacy {
        LegacyRecord::Topic { name, topic_id } => MetadataRecord::Topic { name, topic_id },
        LegacyRecord::Partition { topic_id, partition, leader, leader_epoch, replicas } => {
            MetadataRecord::Partition(PartitionRecord {
                partition_id: partition,
                topic_id,
                isr: if leader == NO_LEADER { Vec::new() } else { replicas.clone() },
                replicas,
                removing_replicas: Vec::new(),
                adding_replicas: Vec::new(),
                leader,
                leader_recovery_state: 0,
                leader_epoch,
                partition_epoch: leader_epoch,
            })
        }
        LegacyRecord::Config { resource, name, value } => {
            let resource = match resource {
                LegacyConfigResource::Topic(topic) => ConfigResource::Topic(topic),
                LegacyConfigResource::Broker => ConfigResource::Broker,
            };
            MetadataRecord::Config { resource, name, value }
        }
        LegacyRecord::RemoveTopic { topic_id } => MetadataRecord::RemoveTopic { topic_id },
        LegacyRecord::ProducerIds { next_producer_id } => {
            MetadataRecord::ProducerIds { broker_id: -1, broker_epoch: -1, next_producer_id }
        }
        LegacyRecord::UserScramCredential { name, mechanism, credential } => {
            MetadataRecord::UserScramCredential { name, mechanism, credential }
        }
        LegacyRecord::RemoveUserScramCredential { name, mechanism } => {
            MetadataRecord::RemoveUserScramCredential { name, mechanism }
        }
        LegacyRecord::ClientQuota { entity, key, value } => {
            MetadataRecord::ClientQuota { entity, key, value }
        }
        LegacyRecord::AccessControlEntry { id, acl } => {
            MetadataRecord::AccessControlEntry { id, acl }
        }
        LegacyRecord::RemoveAccessControlEntry { id } => {
            MetadataRecord::RemoveAccessControlEntry { id }
        }
    })
}
