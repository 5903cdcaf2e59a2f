//! The in-memory metadata image: the state that replaying the metadata log produces.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::records::{ConfigResource, MetadataRecord};
use crate::authorizer::AclImage;
use crate::quota::ClientQuotaImage;
use crate::security::credentials::ScramImage;

/// A partition as metadata knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionImage {
    /// Node id of the leader.
    pub leader: i32,
    /// Leader epoch; bumps on leader change.
    pub leader_epoch: i32,
    /// Replica node ids.
    pub replicas: Vec<i32>,
}

/// A topic as metadata knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicImage {
    /// Topic name.
    pub name: String,
    /// Topic id (KIP-516).
    pub topic_id: Uuid,
    /// Partitions by index.
    pub partitions: BTreeMap<i32, PartitionImage>,
    /// Topic-level config overrides.
    pub configs: BTreeMap<String, String>,
}

/// Everything the cluster knows: topics, configs, producer ids, SCRAM credentials, client
/// quotas and ACLs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataImage {
    topics: BTreeMap<String, TopicImage>,
    names_by_id: BTreeMap<Uuid, String>,
    broker_configs: BTreeMap<String, String>,
    next_producer_id: i64,
    /// SCRAM credentials changed through AlterUserScramCredentials.
    scram: ScramImage,
    /// Client quotas set through AlterClientQuotas.
    client_quotas: ClientQuotaImage,
    /// ACLs created through CreateAcls, by id.
    acls: AclImage,
}

impl MetadataImage {
    /// Why `record` does not fit this image, if it does not: the conditions [`apply`] asserts.
    /// Replaying a metadata log checks each record first, so a log that is inconsistent (hand
    /// edited, or written by a buggy broker) is refused with a reason instead of panicking.
    ///
    /// [`apply`]: MetadataImage::apply
    pub fn check(&self, record: &MetadataRecord) -> Result<(), String> {
        let known = |id: &Uuid| self.names_by_id.contains_key(id);
        match record {
            MetadataRecord::Topic { name, topic_id } => {
                if self.topics.contains_key(name) {
                    return Err(format!("topic `{name}` is created twice"));
                }
                if let Some(other) = self.names_by_id.get(topic_id) {
                    return Err(format!("topic id {topic_id} of `{name}` already names `{other}`"));
                }
            }
            MetadataRecord::Partition { topic_id, partition, .. } if !known(topic_id) => {
                return Err(format!("partition {partition} of unknown topic id {topic_id}"));
            }
            MetadataRecord::Config { resource: ConfigResource::Topic(topic), name, .. }
                if !self.topics.contains_key(topic) =>
            {
                return Err(format!("config `{name}` of unknown topic `{topic}`"));
            }
            MetadataRecord::RemoveTopic { topic_id } if !known(topic_id) => {
                return Err(format!("removal of unknown topic id {topic_id}"));
            }
            MetadataRecord::ProducerIds { next_producer_id }
                if *next_producer_id < self.next_producer_id =>
            {
                return Err(format!(
                    "next producer id {next_producer_id} is below {}, already handed out",
                    self.next_producer_id
                ));
            }
            MetadataRecord::AccessControlEntry { id, .. } if self.acls.get(id).is_some() => {
                return Err(format!("ACL {id} is created twice"));
            }
            MetadataRecord::RemoveAccessControlEntry { id } if self.acls.get(id).is_none() => {
                return Err(format!("removal of unknown ACL {id}"));
            }
            _ => {}
        }
        Ok(())
    }

    /// Applies one record. Records are validated before they are written, so a record that
    /// does not fit the image is a bug in the writer.
    pub fn apply(&mut self, record: &MetadataRecord) {
        match record {
            MetadataRecord::Topic { name, topic_id } => {
                assert!(!self.topics.contains_key(name), "topic {name} created twice");
                self.names_by_id.insert(*topic_id, name.clone());
                self.topics.insert(
                    name.clone(),
                    TopicImage {
                        name: name.clone(),
                        topic_id: *topic_id,
                        partitions: BTreeMap::new(),
                        configs: BTreeMap::new(),
                    },
                );
            }
            MetadataRecord::Partition { topic_id, partition, leader, leader_epoch, replicas } => {
                let name = &self.names_by_id[topic_id];
                let topic = self.topics.get_mut(name).expect("partition of a known topic");
                topic.partitions.insert(
                    *partition,
                    PartitionImage {
                        leader: *leader,
                        leader_epoch: *leader_epoch,
                        replicas: replicas.clone(),
                    },
                );
            }
            MetadataRecord::Config { resource, name, value } => {
                let configs = match resource {
                    ConfigResource::Topic(topic) => {
                        &mut self.topics.get_mut(topic).expect("config of a known topic").configs
                    }
                    ConfigResource::Broker => &mut self.broker_configs,
                };
                match value {
                    Some(value) => configs.insert(name.clone(), value.clone()),
                    None => configs.remove(name),
                };
            }
            MetadataRecord::RemoveTopic { topic_id } => {
                let name = self.names_by_id.remove(topic_id).expect("removal of a known topic");
                self.topics.remove(&name);
            }
            MetadataRecord::ProducerIds { next_producer_id } => {
                assert!(*next_producer_id >= self.next_producer_id, "producer ids go backwards");
                self.next_producer_id = *next_producer_id;
            }
            MetadataRecord::UserScramCredential { name, mechanism, credential } => {
                self.scram.apply(name, *mechanism, Some(credential.clone()))
            }
            MetadataRecord::RemoveUserScramCredential { name, mechanism } => {
                self.scram.apply(name, *mechanism, None)
            }
            MetadataRecord::ClientQuota { entity, key, value } => {
                self.client_quotas.apply(entity, key, *value)
            }
            MetadataRecord::AccessControlEntry { id, acl } => {
                self.acls.apply_create(*id, acl.clone())
            }
            MetadataRecord::RemoveAccessControlEntry { id } => self.acls.apply_remove(*id),
        }
    }

    /// A topic by name.
    pub fn topic(&self, name: &str) -> Option<&TopicImage> {
        self.topics.get(name)
    }

    /// A topic by id.
    pub fn topic_by_id(&self, id: &Uuid) -> Option<&TopicImage> {
        self.names_by_id.get(id).and_then(|name| self.topics.get(name))
    }

    /// All topics, in name order.
    pub fn topics(&self) -> impl Iterator<Item = &TopicImage> {
        self.topics.values()
    }

    /// Broker-level dynamic configs.
    pub fn broker_configs(&self) -> &BTreeMap<String, String> {
        &self.broker_configs
    }

    /// The first producer id not yet handed out.
    pub fn next_producer_id(&self) -> i64 {
        self.next_producer_id
    }

    /// SCRAM credentials changed at run time (applied over the config file's on start).
    pub fn scram(&self) -> &ScramImage {
        &self.scram
    }

    /// Configured client quotas.
    pub fn client_quotas(&self) -> &ClientQuotaImage {
        &self.client_quotas
    }

    /// Every ACL.
    pub fn acls(&self) -> &AclImage {
        &self.acls
    }
}
