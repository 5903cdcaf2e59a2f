//! The in-memory metadata image: the state that replaying the metadata log produces.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::records::{
    BrokerRegistrationChangeRecord, ConfigResource, MetadataRecord, PartitionChangeRecord,
    PartitionRecord, RegisterBrokerRecord, NO_LEADER_CHANGE,
};
use crate::authorizer::AclImage;
use crate::quota::ClientQuotaImage;
use crate::security::credentials::ScramImage;

/// A partition as metadata knows it (Kafka's `PartitionRegistration`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionImage {
    /// Replica node ids, in preferred-leader order.
    pub replicas: Vec<i32>,
    /// The in-sync replicas.
    pub isr: Vec<i32>,
    /// Replicas being removed by a reassignment.
    pub removing_replicas: Vec<i32>,
    /// Replicas being added by a reassignment.
    pub adding_replicas: Vec<i32>,
    /// Node id of the leader, or -1.
    pub leader: i32,
    /// 1 while a leader chosen by unclean election recovers.
    pub leader_recovery_state: i8,
    /// Leader epoch; bumps on leader change.
    pub leader_epoch: i32,
    /// Bumps on every change of the partition.
    pub partition_epoch: i32,
}

impl PartitionImage {
    /// The partition a PartitionRecord creates.
    fn from_record(p: &PartitionRecord) -> Self {
        Self {
            replicas: p.replicas.clone(),
            isr: p.isr.clone(),
            removing_replicas: p.removing_replicas.clone(),
            adding_replicas: p.adding_replicas.clone(),
            leader: p.leader,
            leader_recovery_state: p.leader_recovery_state,
            leader_epoch: p.leader_epoch,
            partition_epoch: p.partition_epoch,
        }
    }

    /// Applies a PartitionChangeRecord as Kafka's `PartitionRegistration.merge` does: a new
    /// leader bumps the leader epoch, and every change bumps the partition epoch.
    pub(crate) fn merge(&mut self, c: &PartitionChangeRecord) {
        if let Some(isr) = &c.isr {
            self.isr = isr.clone();
        }
        if let Some(replicas) = &c.replicas {
            self.replicas = replicas.clone();
        }
        if let Some(removing) = &c.removing_replicas {
            self.removing_replicas = removing.clone();
        }
        if let Some(adding) = &c.adding_replicas {
            self.adding_replicas = adding.clone();
        }
        if c.leader != NO_LEADER_CHANGE {
            self.leader = c.leader;
            self.leader_epoch += 1;
        }
        if c.leader_recovery_state != -1 {
            self.leader_recovery_state = c.leader_recovery_state;
        }
        self.partition_epoch += 1;
    }
}

/// A registered broker as metadata knows it (Kafka's `BrokerRegistration`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerImage {
    /// The registration.
    pub registration: RegisterBrokerRecord,
    /// Fenced: not given leadership, not in ISRs.
    pub fenced: bool,
    /// In controlled shutdown.
    pub in_controlled_shutdown: bool,
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
    /// Registered brokers by node id.
    brokers: BTreeMap<i32, BrokerImage>,
    /// Finalized feature levels (`metadata.version`, …).
    features: BTreeMap<String, i16>,
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
            MetadataRecord::Partition(p) if !known(&p.topic_id) => {
                let (partition, topic_id) = (p.partition_id, p.topic_id);
                return Err(format!("partition {partition} of unknown topic id {topic_id}"));
            }
            MetadataRecord::PartitionChange(c) => {
                let (partition, topic_id) = (c.partition_id, c.topic_id);
                let exists = self
                    .topic_by_id(&topic_id)
                    .is_some_and(|t| t.partitions.contains_key(&partition));
                if !exists {
                    return Err(format!(
                        "change of unknown partition {partition} of topic id {topic_id}"
                    ));
                }
            }
            MetadataRecord::FenceBroker { id, epoch }
            | MetadataRecord::UnfenceBroker { id, epoch }
            | MetadataRecord::UnregisterBroker { broker_id: id, broker_epoch: epoch }
            | MetadataRecord::BrokerRegistrationChange(BrokerRegistrationChangeRecord {
                broker_id: id,
                broker_epoch: epoch,
                ..
            }) => match self.brokers.get(id) {
                None => return Err(format!("change of unregistered broker {id}")),
                Some(b) if b.registration.broker_epoch != *epoch => {
                    let registered = b.registration.broker_epoch;
                    return Err(format!(
                        "change of broker {id} at epoch {epoch}, registered at epoch {registered}"
                    ));
                }
                Some(_) => {}
            },
            MetadataRecord::Config { resource: ConfigResource::Topic(topic), name, .. }
                if !self.topics.contains_key(topic) =>
            {
                return Err(format!("config `{name}` of unknown topic `{topic}`"));
            }
            MetadataRecord::RemoveTopic { topic_id } if !known(topic_id) => {
                return Err(format!("removal of unknown topic id {topic_id}"));
            }
            MetadataRecord::ProducerIds { next_producer_id, .. }
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
            MetadataRecord::Partition(p) => {
                let name = &self.names_by_id[&p.topic_id];
                let topic = self.topics.get_mut(name).expect("partition of a known topic");
                topic.partitions.insert(p.partition_id, PartitionImage::from_record(p));
            }
            MetadataRecord::PartitionChange(c) => {
                let name = &self.names_by_id[&c.topic_id];
                let topic = self.topics.get_mut(name).expect("change of a known topic");
                let partition =
                    topic.partitions.get_mut(&c.partition_id).expect("change of a known partition");
                partition.merge(c);
            }
            MetadataRecord::RegisterBroker(r) => {
                let broker = BrokerImage {
                    registration: r.clone(),
                    fenced: r.fenced,
                    in_controlled_shutdown: r.in_controlled_shutdown,
                };
                self.brokers.insert(r.broker_id, broker);
            }
            MetadataRecord::UnregisterBroker { broker_id, .. } => {
                self.brokers.remove(broker_id);
            }
            MetadataRecord::FenceBroker { id, .. } => self.broker_mut(*id).fenced = true,
            MetadataRecord::UnfenceBroker { id, .. } => self.broker_mut(*id).fenced = false,
            MetadataRecord::BrokerRegistrationChange(c) => {
                let broker = self.broker_mut(c.broker_id);
                match c.fenced {
                    1 => broker.fenced = true,
                    -1 => broker.fenced = false,
                    _ => {}
                }
                if c.in_controlled_shutdown == 1 {
                    broker.in_controlled_shutdown = true;
                }
            }
            MetadataRecord::FeatureLevel { name, feature_level } => {
                self.features.insert(name.clone(), *feature_level);
            }
            MetadataRecord::NoOp => {}
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
            MetadataRecord::ProducerIds { next_producer_id, .. } => {
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

    /// Records that rebuild this image from the empty one when applied in order: the contents
    /// of a metadata snapshot (KIP-630), as Kafka's `MetadataImage.write` emits them. A SCRAM
    /// deletion is kept as one, so a deleted config-file user stays deleted.
    pub fn snapshot_records(&self) -> Vec<MetadataRecord> {
        // Destructured so that a field added to the image fails to compile until it is here.
        let Self {
            topics,
            names_by_id: _,
            brokers,
            features,
            broker_configs,
            next_producer_id,
            scram,
            client_quotas,
            acls,
        } = self;
        let mut out = Vec::new();
        for (name, level) in features {
            out.push(MetadataRecord::FeatureLevel { name: name.clone(), feature_level: *level });
        }
        for broker in brokers.values() {
            // The registration as the broker made it, then what changed since, so the image
            // rebuilt is this one field for field.
            let registration = &broker.registration;
            out.push(MetadataRecord::RegisterBroker(registration.clone()));
            let fenced = match (registration.fenced, broker.fenced) {
                (false, true) => 1,
                (true, false) => -1,
                _ => 0,
            };
            let shutdown = broker.in_controlled_shutdown && !registration.in_controlled_shutdown;
            if fenced != 0 || shutdown {
                out.push(MetadataRecord::BrokerRegistrationChange(
                    BrokerRegistrationChangeRecord {
                        broker_id: registration.broker_id,
                        broker_epoch: registration.broker_epoch,
                        fenced,
                        in_controlled_shutdown: i8::from(shutdown),
                    },
                ));
            }
        }
        for (name, value) in broker_configs {
            out.push(MetadataRecord::Config {
                resource: ConfigResource::Broker,
                name: name.clone(),
                value: Some(value.clone()),
            });
        }
        for topic in topics.values() {
            out.push(MetadataRecord::Topic { name: topic.name.clone(), topic_id: topic.topic_id });
            for (&partition_id, p) in &topic.partitions {
                out.push(MetadataRecord::Partition(PartitionRecord {
                    partition_id,
                    topic_id: topic.topic_id,
                    replicas: p.replicas.clone(),
                    isr: p.isr.clone(),
                    removing_replicas: p.removing_replicas.clone(),
                    adding_replicas: p.adding_replicas.clone(),
                    leader: p.leader,
                    leader_recovery_state: p.leader_recovery_state,
                    leader_epoch: p.leader_epoch,
                    partition_epoch: p.partition_epoch,
                }));
            }
            for (name, value) in &topic.configs {
                out.push(MetadataRecord::Config {
                    resource: ConfigResource::Topic(topic.name.clone()),
                    name: name.clone(),
                    value: Some(value.clone()),
                });
            }
        }
        if *next_producer_id > 0 {
            out.push(MetadataRecord::ProducerIds {
                broker_id: -1,
                broker_epoch: -1,
                next_producer_id: *next_producer_id,
            });
        }
        for (name, mechanism, change) in scram.iter() {
            out.push(match change {
                Some(credential) => MetadataRecord::UserScramCredential {
                    name: name.to_owned(),
                    mechanism,
                    credential: credential.clone(),
                },
                None => {
                    MetadataRecord::RemoveUserScramCredential { name: name.to_owned(), mechanism }
                }
            });
        }
        for (entity, key, value) in client_quotas.iter() {
            out.push(MetadataRecord::ClientQuota {
                entity: entity.clone(),
                key: key.to_owned(),
                value: Some(value),
            });
        }
        for (id, acl) in acls.iter() {
            out.push(MetadataRecord::AccessControlEntry { id: *id, acl: acl.clone() });
        }
        out
    }

    fn broker_mut(&mut self, id: i32) -> &mut BrokerImage {
        self.brokers.get_mut(&id).expect("change of a registered broker")
    }

    /// Registered brokers by node id.
    pub fn brokers(&self) -> &BTreeMap<i32, BrokerImage> {
        &self.brokers
    }

    /// Finalized feature levels.
    pub fn features(&self) -> &BTreeMap<String, i16> {
        &self.features
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
