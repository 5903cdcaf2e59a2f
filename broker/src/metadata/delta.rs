//! What a run of committed records changed, after Kafka's `MetadataDelta`/`TopicsDelta`: the
//! input of the publisher, which performs the local effects (opening and deleting logs,
//! reconfiguring them, updating credentials). A delta is built while the records are applied
//! to the image ([`MetadataDelta::replay`]), so the image and the delta never disagree.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use super::image::MetadataImage;
use super::records::{
    BrokerRegistrationChangeRecord, ConfigResource, MetadataRecord, PartitionChangeRecord,
    PartitionRecord, RegisterBrokerRecord,
};
use crate::quota::ClientQuotaEntity;
use crate::security::credentials::ScramImage;

/// A topic the delta removed: its name and the partitions it had when it was removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemovedTopic {
    /// The name it had (a later record of the same delta may give the name to a new topic).
    pub name: String,
    /// Its partitions at the removal.
    pub partitions: BTreeSet<i32>,
}

/// The changes a run of records made to a [`MetadataImage`]. Topics are keyed by id, so a topic
/// removed and created again under its name in one delta is a removal and a creation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataDelta {
    /// Topics created by the delta that still exist at its end.
    created_topics: BTreeSet<Uuid>,
    /// Topics removed by the delta, created within it or before.
    removed_topics: BTreeMap<Uuid, RemovedTopic>,
    /// Partitions created or changed (leader, epoch, replicas), of topics existing at the end.
    changed_partitions: BTreeMap<Uuid, BTreeSet<i32>>,
    /// Topics existing at the end whose config overrides changed.
    changed_topic_configs: BTreeSet<Uuid>,
    /// Broker-level dynamic configs set or removed.
    changed_broker_configs: BTreeSet<String>,
    /// SCRAM credentials set (`Some`) or deleted (`None`), the last change of each.
    scram: ScramImage,
    /// Client quota (entity, key) pairs set or removed.
    changed_client_quotas: BTreeSet<(ClientQuotaEntity, String)>,
    /// ACLs created or removed, by id.
    changed_acls: BTreeSet<Uuid>,
    /// The new first producer id not handed out, if the delta reserved a block.
    next_producer_id: Option<i64>,
    /// Brokers registered, fenced, unfenced or unregistered, by node id.
    changed_brokers: BTreeSet<i32>,
    /// Finalized features whose level changed.
    changed_features: BTreeSet<String>,
}

impl MetadataDelta {
    /// Notes what `record` changes in `image`, then applies it. `record` must fit the image
    /// ([`MetadataImage::check`]).
    pub fn replay(&mut self, image: &mut MetadataImage, record: &MetadataRecord) {
        match record {
            MetadataRecord::Topic { topic_id, .. } => {
                self.created_topics.insert(*topic_id);
            }
            MetadataRecord::Partition(PartitionRecord { topic_id, partition_id, .. })
            | MetadataRecord::PartitionChange(PartitionChangeRecord {
                topic_id,
                partition_id,
                ..
            }) => {
                self.changed_partitions.entry(*topic_id).or_default().insert(*partition_id);
            }
            MetadataRecord::RegisterBroker(RegisterBrokerRecord { broker_id, .. })
            | MetadataRecord::UnregisterBroker { broker_id, .. }
            | MetadataRecord::FenceBroker { id: broker_id, .. }
            | MetadataRecord::UnfenceBroker { id: broker_id, .. }
            | MetadataRecord::BrokerRegistrationChange(BrokerRegistrationChangeRecord {
                broker_id,
                ..
            }) => {
                self.changed_brokers.insert(*broker_id);
            }
            MetadataRecord::FeatureLevel { name, .. } => {
                self.changed_features.insert(name.clone());
            }
            MetadataRecord::NoOp => {}
            MetadataRecord::Config { resource: ConfigResource::Topic(topic), .. } => {
                if let Some(topic) = image.topic(topic) {
                    self.changed_topic_configs.insert(topic.topic_id);
                }
            }
            MetadataRecord::Config { resource: ConfigResource::Broker, name, .. } => {
                self.changed_broker_configs.insert(name.clone());
            }
            MetadataRecord::RemoveTopic { topic_id } => {
                if let Some(topic) = image.topic_by_id(topic_id) {
                    let removed = RemovedTopic {
                        name: topic.name.clone(),
                        partitions: topic.partitions.keys().copied().collect(),
                    };
                    self.removed_topics.insert(*topic_id, removed);
                }
                self.created_topics.remove(topic_id);
                self.changed_partitions.remove(topic_id);
                self.changed_topic_configs.remove(topic_id);
            }
            MetadataRecord::ProducerIds { next_producer_id, .. } => {
                self.next_producer_id = Some(*next_producer_id);
            }
            MetadataRecord::UserScramCredential { name, mechanism, credential } => {
                self.scram.apply(name, *mechanism, Some(credential.clone()))
            }
            MetadataRecord::RemoveUserScramCredential { name, mechanism } => {
                self.scram.apply(name, *mechanism, None)
            }
            MetadataRecord::ClientQuota { entity, key, .. } => {
                self.changed_client_quotas.insert((entity.clone(), key.clone()));
            }
            MetadataRecord::AccessControlEntry { id, .. }
            | MetadataRecord::RemoveAccessControlEntry { id } => {
                self.changed_acls.insert(*id);
            }
        }
        image.apply(record);
    }

    /// Nothing changed.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Topics created by the delta that still exist at its end.
    pub fn created_topics(&self) -> &BTreeSet<Uuid> {
        &self.created_topics
    }

    /// Topics removed by the delta, by id.
    pub fn removed_topics(&self) -> &BTreeMap<Uuid, RemovedTopic> {
        &self.removed_topics
    }

    /// Partitions created or changed, by topic id, of topics that exist at the end.
    pub fn changed_partitions(&self) -> &BTreeMap<Uuid, BTreeSet<i32>> {
        &self.changed_partitions
    }

    /// Topics that exist at the end whose config overrides changed.
    pub fn changed_topic_configs(&self) -> &BTreeSet<Uuid> {
        &self.changed_topic_configs
    }

    /// Broker-level dynamic configs set or removed.
    pub fn changed_broker_configs(&self) -> &BTreeSet<String> {
        &self.changed_broker_configs
    }

    /// SCRAM credentials set or deleted.
    pub fn scram(&self) -> &ScramImage {
        &self.scram
    }

    /// Client quota (entity, key) pairs set or removed.
    pub fn changed_client_quotas(&self) -> &BTreeSet<(ClientQuotaEntity, String)> {
        &self.changed_client_quotas
    }

    /// ACLs created or removed.
    pub fn changed_acls(&self) -> &BTreeSet<Uuid> {
        &self.changed_acls
    }

    /// Brokers registered, fenced, unfenced or unregistered.
    pub fn changed_brokers(&self) -> &BTreeSet<i32> {
        &self.changed_brokers
    }

    /// Finalized features whose level changed.
    pub fn changed_features(&self) -> &BTreeSet<String> {
        &self.changed_features
    }

    /// The first producer id not handed out, if the delta reserved producer ids.
    pub fn next_producer_id(&self) -> Option<i64> {
        self.next_producer_id
    }

    /// What replacing image `old` with `new` changed: the delta of a snapshot loaded over a
    /// running node's image (Kafka's `MetadataDelta` after `finishSnapshot`), so its effects
    /// are published by the same path as records'. Everything `old` had and `new` lacks is a
    /// removal.
    pub fn between(old: &MetadataImage, new: &MetadataImage) -> Self {
        let mut delta = Self::default();
        for topic in old.topics() {
            let same_topic = new.topic_by_id(&topic.topic_id).is_some_and(|t| t.name == topic.name);
            if !same_topic {
                let removed = RemovedTopic {
                    name: topic.name.clone(),
                    partitions: topic.partitions.keys().copied().collect(),
                };
                delta.removed_topics.insert(topic.topic_id, removed);
            }
        }
        for topic in new.topics() {
            let before = old.topic_by_id(&topic.topic_id).filter(|t| t.name == topic.name);
            let Some(before) = before else {
                delta.created_topics.insert(topic.topic_id);
                let partitions = topic.partitions.keys().copied().collect();
                delta.changed_partitions.insert(topic.topic_id, partitions);
                if !topic.configs.is_empty() {
                    delta.changed_topic_configs.insert(topic.topic_id);
                }
                continue;
            };
            let changed: BTreeSet<i32> = topic
                .partitions
                .iter()
                .filter(|(id, p)| before.partitions.get(id) != Some(p))
                .map(|(id, _)| *id)
                .collect();
            if !changed.is_empty() {
                delta.changed_partitions.insert(topic.topic_id, changed);
            }
            if topic.configs != before.configs {
                delta.changed_topic_configs.insert(topic.topic_id);
            }
        }
        delta.changed_broker_configs = changed_keys(old.broker_configs(), new.broker_configs());
        let old_scram: BTreeMap<_, _> = old.scram().iter().map(|(u, m, c)| ((u, m), c)).collect();
        let new_scram: BTreeMap<_, _> = new.scram().iter().map(|(u, m, c)| ((u, m), c)).collect();
        for (user, mechanism) in old_scram.keys().chain(new_scram.keys()) {
            let (before, after) = (
                old_scram.get(&(*user, *mechanism)).copied().flatten(),
                new_scram.get(&(*user, *mechanism)).copied().flatten(),
            );
            if before != after {
                delta.scram.apply(user, *mechanism, after.cloned());
            }
        }
        let quotas = |image: &MetadataImage| -> BTreeMap<(ClientQuotaEntity, String), u64> {
            image
                .client_quotas()
                .iter()
                .map(|(e, k, v)| ((e.clone(), k.to_owned()), v.0.to_bits()))
                .collect()
        };
        delta.changed_client_quotas = changed_keys(&quotas(old), &quotas(new));
        let acls = |image: &MetadataImage| -> BTreeMap<Uuid, _> {
            image.acls().iter().map(|(id, acl)| (*id, acl.clone())).collect()
        };
        delta.changed_acls = changed_keys(&acls(old), &acls(new));
        if old.next_producer_id() != new.next_producer_id() {
            delta.next_producer_id = Some(new.next_producer_id());
        }
        delta.changed_brokers = changed_keys(old.brokers(), new.brokers());
        delta.changed_features = changed_keys(old.features(), new.features());
        delta
    }
}

/// The keys whose values differ between `old` and `new`, or that only one has.
fn changed_keys<K: Ord + Clone, V: PartialEq>(
    old: &BTreeMap<K, V>,
    new: &BTreeMap<K, V>,
) -> BTreeSet<K> {
    old.keys().chain(new.keys()).filter(|k| old.get(*k) != new.get(*k)).cloned().collect()
}

/// Replays `records` over `image`, checking each first as a commit does (for tests).
#[cfg(test)]
pub(crate) fn replay_checked(
    image: &mut MetadataImage,
    records: &[MetadataRecord],
) -> MetadataDelta {
    let mut delta = MetadataDelta::default();
    for record in records {
        image.check(record).unwrap();
        delta.replay(image, record);
    }
    delta
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::credentials::{ScramCredential, ScramMechanism};

    fn topic(name: &str, id: u128) -> MetadataRecord {
        MetadataRecord::Topic { name: name.into(), topic_id: Uuid::from_u128(id) }
    }

    fn partition(id: u128, partition: i32, leader_epoch: i32) -> MetadataRecord {
        let new = PartitionRecord::new(Uuid::from_u128(id), partition, vec![1]);
        MetadataRecord::Partition(PartitionRecord { leader_epoch, ..new })
    }

    fn config(topic: &str, name: &str, value: Option<&str>) -> MetadataRecord {
        MetadataRecord::Config {
            resource: ConfigResource::Topic(topic.into()),
            name: name.into(),
            value: value.map(Into::into),
        }
    }

    fn remove(id: u128) -> MetadataRecord {
        MetadataRecord::RemoveTopic { topic_id: Uuid::from_u128(id) }
    }

    use super::replay_checked as replay;

    fn ids(ids: &[u128]) -> BTreeSet<Uuid> {
        ids.iter().map(|id| Uuid::from_u128(*id)).collect()
    }

    fn parts(topic_id: u128, partitions: &[i32]) -> BTreeMap<Uuid, BTreeSet<i32>> {
        BTreeMap::from([(Uuid::from_u128(topic_id), partitions.iter().copied().collect())])
    }

    #[test]
    fn a_created_topic_is_a_creation_with_its_partitions_and_configs() {
        let mut image = MetadataImage::default();
        let delta = replay(
            &mut image,
            &[topic("t", 1), partition(1, 0, 0), partition(1, 1, 0), config("t", "a", Some("1"))],
        );
        assert_eq!(delta.created_topics(), &ids(&[1]));
        assert_eq!(delta.changed_partitions(), &parts(1, &[0, 1]));
        assert_eq!(delta.changed_topic_configs(), &ids(&[1]));
        assert!(delta.removed_topics().is_empty());
        assert_eq!(image.topic("t").unwrap().partitions.len(), 2);
    }

    #[test]
    fn a_removed_topic_is_named_with_the_partitions_it_had() {
        let mut image = MetadataImage::default();
        replay(&mut image, &[topic("t", 1), partition(1, 0, 0), partition(1, 1, 0)]);
        let delta = replay(&mut image, &[remove(1)]);
        let removed = RemovedTopic { name: "t".into(), partitions: BTreeSet::from([0, 1]) };
        assert_eq!(delta.removed_topics(), &BTreeMap::from([(Uuid::from_u128(1), removed)]));
        assert!(delta.created_topics().is_empty() && delta.changed_partitions().is_empty());
        assert!(image.topic("t").is_none());
    }

    #[test]
    fn a_config_change_names_only_the_topic_whose_configs_changed() {
        let mut image = MetadataImage::default();
        replay(&mut image, &[topic("t", 1), partition(1, 0, 0), topic("u", 2), partition(2, 0, 0)]);
        let delta =
            replay(&mut image, &[config("u", "retention.ms", Some("5")), config("u", "x", None)]);
        assert_eq!(delta.changed_topic_configs(), &ids(&[2]));
        assert!(delta.created_topics().is_empty() && delta.changed_partitions().is_empty());
        assert!(delta.removed_topics().is_empty());
    }

    #[test]
    fn added_partitions_are_the_only_changed_ones() {
        let mut image = MetadataImage::default();
        replay(&mut image, &[topic("t", 1), partition(1, 0, 0), partition(1, 1, 0)]);
        let delta = replay(&mut image, &[partition(1, 2, 0), partition(1, 3, 0)]);
        assert_eq!(delta.changed_partitions(), &parts(1, &[2, 3]));
        assert!(delta.created_topics().is_empty(), "the topic existed before");
    }

    #[test]
    fn a_topic_removed_then_created_again_in_one_delta_is_both() {
        let mut image = MetadataImage::default();
        replay(&mut image, &[topic("t", 1), partition(1, 0, 0), partition(1, 1, 0)]);
        let delta = replay(&mut image, &[remove(1), topic("t", 2), partition(2, 0, 0)]);
        assert_eq!(delta.removed_topics()[&Uuid::from_u128(1)].partitions, BTreeSet::from([0, 1]));
        assert_eq!(delta.created_topics(), &ids(&[2]));
        assert_eq!(delta.changed_partitions(), &parts(2, &[0]));
    }

    #[test]
    fn a_topic_created_then_removed_in_one_delta_is_only_a_removal() {
        // As start-up's replay of a log where a topic lived and died: its directories may
        // still be on disk, so the removal is kept; nothing is to be opened.
        let mut image = MetadataImage::default();
        let delta = replay(
            &mut image,
            &[topic("t", 1), partition(1, 0, 0), config("t", "a", Some("1")), remove(1)],
        );
        assert_eq!(delta.removed_topics()[&Uuid::from_u128(1)].partitions, BTreeSet::from([0]));
        assert!(delta.created_topics().is_empty());
        assert!(delta.changed_partitions().is_empty() && delta.changed_topic_configs().is_empty());
    }

    #[test]
    fn credentials_keep_the_last_change_of_each_user_and_mechanism() {
        let mut image = MetadataImage::default();
        let credential = ScramCredential::derive(ScramMechanism::Sha256, b"pw", &[1; 16], 4096);
        let set = MetadataRecord::UserScramCredential {
            name: "alice".into(),
            mechanism: ScramMechanism::Sha256,
            credential: credential.clone(),
        };
        let delete = MetadataRecord::RemoveUserScramCredential {
            name: "alice".into(),
            mechanism: ScramMechanism::Sha256,
        };
        let delta = replay(&mut image, &[set.clone(), delete]);
        let mut deleted = ScramImage::default();
        deleted.apply("alice", ScramMechanism::Sha256, None);
        assert_eq!(delta.scram(), &deleted);
        let delta = replay(&mut image, &[set]);
        assert_eq!(delta.scram(), image.scram(), "the image holds only alice's credential");
        assert!(!delta.is_empty());
        assert!(MetadataDelta::default().is_empty());
    }

    /// As Kafka's `PartitionRegistration.merge`: a new leader bumps the leader epoch, every
    /// change the partition epoch; an ISR change alone keeps the leader epoch.
    #[test]
    fn partition_changes_bump_the_epochs_as_kafka_does() {
        let mut image = MetadataImage::default();
        replay(&mut image, &[topic("t", 1), partition(1, 0, 0)]);
        let id = Uuid::from_u128(1);
        let shrink =
            PartitionChangeRecord { isr: Some(vec![]), ..PartitionChangeRecord::new(id, 0) };
        let elect = PartitionChangeRecord { leader: 2, ..PartitionChangeRecord::new(id, 0) };
        let delta = replay(
            &mut image,
            &[MetadataRecord::PartitionChange(shrink), MetadataRecord::PartitionChange(elect)],
        );
        assert_eq!(delta.changed_partitions()[&id], BTreeSet::from([0]));
        let p = &image.topic("t").unwrap().partitions[&0];
        assert_eq!((p.leader, p.leader_epoch, p.partition_epoch), (2, 1, 2));
        assert!(p.isr.is_empty());
        let unknown = MetadataRecord::PartitionChange(PartitionChangeRecord::new(id, 7));
        assert!(image.check(&unknown).unwrap_err().contains("unknown partition 7"));
    }

    #[test]
    fn brokers_register_fence_and_unfence_at_their_epoch() {
        let mut image = MetadataImage::default();
        let register = MetadataRecord::RegisterBroker(RegisterBrokerRecord {
            broker_id: 2,
            incarnation_id: Uuid::from_u128(5),
            broker_epoch: 10,
            endpoints: Vec::new(),
            features: Vec::new(),
            rack: None,
            fenced: true,
            in_controlled_shutdown: false,
        });
        let stale = MetadataRecord::UnfenceBroker { id: 2, epoch: 9 };
        assert!(image.check(&stale).unwrap_err().contains("unregistered broker 2"));
        let delta = replay(&mut image, &[register]);
        assert_eq!(delta.changed_brokers(), &BTreeSet::from([2]));
        assert!(image.brokers()[&2].fenced);
        assert!(image.check(&stale).unwrap_err().contains("at epoch 9, registered at epoch 10"));
        replay(&mut image, &[MetadataRecord::UnfenceBroker { id: 2, epoch: 10 }]);
        assert!(!image.brokers()[&2].fenced);
        let shutdown = BrokerRegistrationChangeRecord {
            broker_id: 2,
            broker_epoch: 10,
            fenced: 1,
            in_controlled_shutdown: 1,
        };
        replay(&mut image, &[MetadataRecord::BrokerRegistrationChange(shutdown)]);
        assert!(image.brokers()[&2].fenced && image.brokers()[&2].in_controlled_shutdown);
        replay(&mut image, &[MetadataRecord::UnregisterBroker { broker_id: 2, broker_epoch: 10 }]);
        assert!(image.brokers().is_empty());
    }
}
