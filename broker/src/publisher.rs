//! The one path from committed metadata to its local effects, after Kafka's
//! `BrokerMetadataPublisher` and `ReplicaManager.applyDelta`: [`MetadataPublisher::publish`]
//! takes a [`MetadataDelta`] and the image it produced and performs what this node must do —
//! deletes first, then the partitions this node leads, then config changes, then credentials.
//!
//! Architecture invariant: the code that proposes records (handlers, `Broker`'s topic
//! operations) never performs their effects; it commits them and the commit publishes the
//! delta. Start-up publishes the delta from the empty image to the replayed one through the
//! same function, so a node that only *receives* records (a restart today, a follower later)
//! ends in the same state as the node that wrote them.

use std::sync::RwLock;

use crate::broker::CONSUMER_OFFSETS_TOPIC;
use crate::config::BrokerConfig;
use crate::error::ApiError;
use crate::group::GroupCoordinator;
use crate::log::manager::PartitionKey;
use crate::metadata::{MetadataDelta, MetadataImage, TopicImage};
use crate::metrics::BrokerMetrics;
use crate::replica::fetcher::{FetchTarget, LeaderEndpoint};
use crate::replica::{LeaderAndIsr, ReplicaManager};
use crate::security::Credentials;
use crate::topic_config;

/// What the effects of metadata reach: narrow handles on the broker's parts.
pub struct MetadataPublisher<'a> {
    /// Broker defaults under the topic overrides (`topic_config::log_config`).
    pub config: &'a BrokerConfig,
    /// This node's partitions and, through them, their logs.
    pub replicas: &'a ReplicaManager,
    /// The live SASL credentials: the config file's, with the metadata's SCRAM changes over.
    pub credentials: &'a RwLock<Credentials>,
    /// Per-topic metrics, dropped with a deleted topic.
    pub metrics: &'a BrokerMetrics,
    /// The group coordinator: it loads the `__consumer_offsets` partitions this node comes to
    /// lead and resigns those it stops leading (`None` where a test has no coordinator).
    pub groups: Option<&'a GroupCoordinator>,
}

impl MetadataPublisher<'_> {
    /// Performs every local effect of `delta`, whose end state is `image`, in Kafka's order:
    /// removed topics' partitions are deleted first (so a topic re-created under the same name
    /// in the delta gets fresh logs), then the changed partitions this node leads are opened
    /// or created, or updated, at their leader and partition epochs with their assignment and
    /// ISR (`ReplicaManager::make_leader`; on one node every partition), then changed topic configs reach the logs, then SCRAM credentials the live
    /// credential store. Client quotas and ACLs have no local state beyond the image: the quota
    /// manager and the authorizer read them from it at each use.
    ///
    /// A deletion that fails is logged and left for the next start to finish (the directory
    /// names the removed topic id); a partition that cannot be opened stops the publication
    /// with its error.
    pub fn publish(
        &self,
        delta: &MetadataDelta,
        image: &MetadataImage,
        now_ms: i64,
    ) -> Result<(), ApiError> {
        for (topic_id, removed) in delta.removed_topics() {
            // As Kafka removes a deleted topic's BrokerTopicMetrics: a re-created topic starts
            // at 0.
            self.metrics.remove_topic(&removed.name);
            for partition in &removed.partitions {
                if let Err(e) = self.replicas.delete_partition(&removed.name, *partition, *topic_id)
                {
                    // The metadata already says the topic is gone; the next start finishes the
                    // deletion (the directory names the removed topic's id).
                    tracing::warn!(topic = removed.name, partition, error = %e, "could not remove partition directory");
                }
            }
        }
        // In name order, as the image lists topics, so logs open in the same order whatever
        // their ids.
        let mut changed: Vec<(&TopicImage, _)> = delta
            .changed_partitions()
            .iter()
            .map(|(id, partitions)| {
                (image.topic_by_id(id).expect("the delta's topics are in its image"), partitions)
            })
            .collect();
        changed.sort_by(|(a, _), (b, _)| a.name.cmp(&b.name));
        let local = self.replicas.local_replica_id();
        for (topic, partitions) in changed.clone() {
            let config = topic_config::log_config(self.config, &topic.configs);
            for partition in partitions {
                let state = &topic.partitions[partition];
                if state.leader != local {
                    continue;
                }
                // A partition this node already leads takes the new leader or partition epoch
                // (a committed ISR change, a new assignment) from here.
                self.replicas.make_leader(
                    &topic.name,
                    *partition,
                    topic.topic_id,
                    &LeaderAndIsr::from_image(state),
                    config.clone(),
                    now_ms,
                )?;
            }
        }
        self.publish_followers(delta, image, &changed, now_ms)?;
        self.elect_group_coordinators(image, &changed);
        for topic_id in delta.changed_topic_configs() {
            let topic = image.topic_by_id(topic_id).expect("the delta's topics are in its image");
            let config = topic_config::log_config(self.config, &topic.configs);
            for partition in topic.partitions.keys() {
                self.replicas.set_log_config(&topic.name, *partition, config.clone());
            }
        }
        if !delta.scram().is_empty() {
            // Credentials altered at run time override the config file's, as in Kafka 4.
            let mut credentials = self.credentials.write().expect("credentials lock poisoned");
            delta.scram().apply_to(&mut credentials);
        }
        Ok(())
    }
}

impl MetadataPublisher<'_> {
    /// Kafka's `onElection`/`onResignation` of the group coordinator, after the leaders and
    /// followers: each changed `__consumer_offsets` partition this node now leads is loaded
    /// (its groups served from here on), each it no longer leads is resigned (its groups
    /// answer NOT_COORDINATOR and their members find the new leader). A partition that cannot
    /// be read fails alone (`GroupCoordinator::fail_partition`).
    fn elect_group_coordinators(&self, image: &MetadataImage, changed: &ChangedPartitions<'_>) {
        let Some(groups) = self.groups else { return };
        let local = self.replicas.local_replica_id();
        let Some((topic, partitions)) =
            changed.iter().find(|(topic, _)| topic.name == CONSUMER_OFFSETS_TOPIC)
        else {
            return;
        };
        debug_assert!(image.topic(CONSUMER_OFFSETS_TOPIC).is_some());
        for partition in partitions.iter() {
            let leads = topic.partitions[partition].leader == local;
            match (leads, groups.owns(*partition)) {
                (true, false) => {
                    let Some(log) = self.replicas.partition(&topic.name, *partition) else {
                        continue;
                    };
                    match log.read_log(crate::internal_records::read_all) {
                        Ok(records) => {
                            groups.load(*partition, records.into_iter().map(|r| (r.key, r.value)))
                        }
                        Err(e) => groups.fail_partition(*partition, &e.to_string()),
                    }
                }
                (false, true) => groups.resign(*partition),
                _ => {}
            }
        }
    }
}

/// The partitions of a delta's changed topics, topics in name order.
type ChangedPartitions<'i> = [(&'i TopicImage, &'i std::collections::BTreeSet<i32>)];

impl MetadataPublisher<'_> {
    /// Kafka's `applyLocalFollowersDelta`, after the leaders: every changed partition this node
    /// is a replica of but does not lead becomes a follower (`ReplicaManager::make_follower`)
    /// and is fetched from its leader's endpoint on `inter.broker.listener.name`; one without
    /// a leader (-1), or whose leader has no such endpoint registered, is not fetched until the
    /// metadata names one. Partitions now led here, and removed topics' partitions, stop being
    /// fetched.
    fn publish_followers(
        &self,
        delta: &MetadataDelta,
        image: &MetadataImage,
        changed: &ChangedPartitions<'_>,
        now_ms: i64,
    ) -> Result<(), ApiError> {
        let local = self.replicas.local_replica_id();
        let fetchers = self.replicas.replica_fetchers();
        if let Some(me) = image.brokers().get(&local) {
            fetchers.set_broker_epoch(me.registration.broker_epoch);
        }
        let listener = self.config.inter_broker_listener_name();
        let mut stop: Vec<PartitionKey> = delta
            .removed_topics()
            .values()
            .flat_map(|removed| removed.partitions.iter().map(|p| (removed.name.clone(), *p)))
            .collect();
        let mut follow = Vec::new();
        for (topic, partitions) in changed {
            let config = topic_config::log_config(self.config, &topic.configs);
            for partition in partitions.iter() {
                let state = &topic.partitions[partition];
                let key = (topic.name.clone(), *partition);
                if state.leader == local || !state.replicas.contains(&local) {
                    // Led here, or no longer a replica here (reassigned away: deleted below).
                    stop.push(key);
                    continue;
                }
                self.replicas.make_follower(
                    &topic.name,
                    *partition,
                    topic.topic_id,
                    state.leader,
                    state.leader_epoch,
                    config.clone(),
                    now_ms,
                )?;
                let endpoint = image.brokers().get(&state.leader).and_then(|leader| {
                    let registration = &leader.registration;
                    let endpoint = registration.endpoints.iter().find(|e| e.name == listener)?;
                    Some(LeaderEndpoint {
                        leader_id: registration.broker_id,
                        host: endpoint.host.clone(),
                        port: endpoint.port,
                    })
                });
                match endpoint {
                    Some(leader) => follow.push((
                        key,
                        FetchTarget {
                            leader,
                            topic_id: topic.topic_id,
                            leader_epoch: state.leader_epoch,
                        },
                    )),
                    None => {
                        if state.leader >= 0 {
                            tracing::warn!(
                                topic = topic.name,
                                partition,
                                leader = state.leader,
                                "the leader has no endpoint on listener {listener}: not fetching until the metadata changes"
                            );
                        }
                        stop.push(key);
                    }
                }
            }
        }
        fetchers.remove_partitions(&stop);
        fetchers.add_partitions(follow);
        // A reassignment took this node out of the replicas: its copy stops (above) and is
        // deleted, as Kafka's `applyDelta` deletes the partitions no longer assigned here.
        for (topic, partitions) in changed {
            for partition in partitions.iter() {
                if topic.partitions[partition].replicas.contains(&local) {
                    continue;
                }
                if let Err(e) =
                    self.replicas.delete_partition(&topic.name, *partition, topic.topic_id)
                {
                    tracing::warn!(topic = topic.name, partition, error = %e, "could not delete a partition reassigned away");
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::{Arc, Mutex};

    use bytes::Bytes;
    use uuid::Uuid;

    use super::*;
    use crate::internal_records::encode_batch;
    use crate::log::LogManager;
    use crate::metadata::{ConfigResource, MetadataRecord, MetadataStore, PartitionRecord};
    use crate::security::credentials::{ScramCredential, ScramMechanism};
    use crate::storage::{MemoryStorage, Storage};

    const NOW: i64 = 1_000;

    /// A node's parts on `storage`, as `Broker::open` builds them.
    struct Node {
        config: BrokerConfig,
        logs: Arc<Mutex<LogManager>>,
        replicas: ReplicaManager,
        credentials: RwLock<Credentials>,
        metrics: BrokerMetrics,
    }

    impl Node {
        fn open(storage: &Arc<dyn Storage>) -> Self {
            let config = BrokerConfig::default();
            let logs = LogManager::open(storage.clone(), "/data".into()).unwrap();
            let logs = Arc::new(Mutex::new(logs));
            Node {
                replicas: ReplicaManager::new(config.node_id, logs.clone()),
                config,
                logs,
                credentials: RwLock::new(Credentials::default()),
                metrics: BrokerMetrics::new(&[]),
            }
        }

        fn publish(&self, delta: &MetadataDelta, image: &MetadataImage) {
            let publisher = MetadataPublisher {
                config: &self.config,
                replicas: &self.replicas,
                credentials: &self.credentials,
                metrics: &self.metrics,
                groups: None,
            };
            publisher.publish(delta, image, NOW).unwrap();
        }

        /// Every partition: name, the topic id in its directory, its retention and log end.
        fn partitions(&self) -> Vec<(String, i32, Option<Uuid>, i64, i64)> {
            let logs = self.logs.lock().unwrap();
            self.replicas
                .partitions()
                .iter()
                .map(|p| {
                    let id = logs.partition_topic_id(p.topic(), p.partition()).unwrap();
                    let retention_ms = p.read_log(|log| log.config().retention_ms);
                    (p.topic().to_owned(), p.partition(), id, retention_ms, p.log_end_offset())
                })
                .collect()
        }
    }

    fn topic(name: &str, id: u128) -> MetadataRecord {
        MetadataRecord::Topic { name: name.into(), topic_id: Uuid::from_u128(id) }
    }

    fn partition(id: u128, partition: i32) -> MetadataRecord {
        let replicas = vec![BrokerConfig::default().node_id];
        MetadataRecord::Partition(PartitionRecord::new(Uuid::from_u128(id), partition, replicas))
    }

    fn retention(topic: &str, ms: i64) -> MetadataRecord {
        MetadataRecord::Config {
            resource: ConfigResource::Topic(topic.into()),
            name: "retention.ms".into(),
            value: Some(ms.to_string()),
        }
    }

    use crate::metadata::delta::replay_checked as replay;

    fn append_one(node: &Node, topic: &str, partition: i32) {
        let target = node.replicas.partition(topic, partition).unwrap();
        let mut batch = encode_batch(&[(None, Some(Bytes::from_static(b"v")))], NOW);
        target.append_as_leader(&mut batch, NOW, true).unwrap();
    }

    #[test]
    fn a_delta_opens_deletes_and_reconfigures_the_logs_it_names() {
        let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
        let node = Node::open(&storage);
        let id = |n| Some(Uuid::from_u128(n));
        let mut image = MetadataImage::default();
        let created = [topic("t", 1), partition(1, 0), partition(1, 1), retention("t", 1234)];
        node.publish(&replay(&mut image, &created), &image);
        let t = |p, topic_id, retention_ms, end| ("t".to_owned(), p, topic_id, retention_ms, end);
        assert_eq!(node.partitions(), [t(0, id(1), 1234, 0), t(1, id(1), 1234, 0)]);
        append_one(&node, "t", 0);

        node.publish(&replay(&mut image, &[retention("t", 99)]), &image);
        assert_eq!(node.partitions(), [t(0, id(1), 99, 1), t(1, id(1), 99, 0)]);

        node.publish(&replay(&mut image, &[partition(1, 2)]), &image);
        assert_eq!(node.partitions()[2], t(2, id(1), 99, 0), "added with the topic's config");

        node.publish(
            &replay(&mut image, &[MetadataRecord::RemoveTopic { topic_id: Uuid::from_u128(1) }]),
            &image,
        );
        assert!(node.partitions().is_empty(), "the removed topic's partitions are gone");
        for p in 0..3 {
            assert!(!storage.exists(&Path::new("/data").join(format!("t-{p}"))), "t-{p}");
        }
    }

    #[test]
    fn a_topic_removed_and_created_again_in_one_delta_gets_fresh_logs() {
        let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
        let node = Node::open(&storage);
        let mut image = MetadataImage::default();
        node.publish(
            &replay(&mut image, &[topic("t", 1), partition(1, 0), partition(1, 1)]),
            &image,
        );
        append_one(&node, "t", 0);
        let again = [
            MetadataRecord::RemoveTopic { topic_id: Uuid::from_u128(1) },
            topic("t", 2),
            partition(2, 0),
        ];
        node.publish(&replay(&mut image, &again), &image);
        let default_retention = crate::log::LogConfig::default().retention_ms;
        let fresh = ("t".to_owned(), 0, Some(Uuid::from_u128(2)), default_retention, 0);
        assert_eq!(node.partitions(), [fresh], "deleted first, then created empty");
        assert!(!storage.exists(Path::new("/data/t-1")));
    }

    /// Kafka's follower branch: a partition led elsewhere is made a follower here and fetched
    /// from its leader's registered inter-broker endpoint; one whose leader has no endpoint is
    /// not fetched; one that comes to be led here stops being fetched.
    #[test]
    fn partitions_led_elsewhere_are_followed_from_the_leaders_endpoint() {
        use crate::metadata::{BrokerEndpoint, PartitionChangeRecord, RegisterBrokerRecord};
        use crate::replica::Role;
        let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
        let node = Node::open(&storage);
        let mut image = MetadataImage::default();
        let register = MetadataRecord::RegisterBroker(RegisterBrokerRecord {
            broker_id: 2,
            incarnation_id: Uuid::from_u128(2),
            broker_epoch: 7,
            endpoints: vec![BrokerEndpoint {
                name: "PLAINTEXT".into(),
                host: "b2".into(),
                port: 9093,
                security_protocol: 0,
            }],
            features: Vec::new(),
            rack: None,
            fenced: false,
            in_controlled_shutdown: false,
        });
        let led_by = |partition, replicas: Vec<i32>| {
            MetadataRecord::Partition(PartitionRecord::new(Uuid::from_u128(1), partition, replicas))
        };
        let records = [register, topic("t", 1), led_by(0, vec![2, 1]), led_by(1, vec![3, 1])];
        node.publish(&replay(&mut image, &records), &image);
        let role = |p| node.replicas.partition("t", p).unwrap().role();
        assert_eq!(role(0), Role::Follower { leader_id: 2, leader_epoch: 0 });
        assert_eq!(role(1), Role::Follower { leader_id: 3, leader_epoch: 0 });
        let fetched = || node.replicas.replica_fetchers().fetch_states();
        let states = fetched();
        assert_eq!(states.keys().cloned().collect::<Vec<_>>(), [("t".to_owned(), 0)]);
        assert_eq!(
            (states[&("t".to_owned(), 0)].leader_id, states[&("t".to_owned(), 0)].leader_epoch),
            (2, 0)
        );

        let mut change = PartitionChangeRecord::new(Uuid::from_u128(1), 0);
        change.leader = 1;
        node.publish(&replay(&mut image, &[MetadataRecord::PartitionChange(change)]), &image);
        assert!(fetched().is_empty(), "led here: not fetched");
    }

    #[test]
    fn credentials_follow_the_scram_records() {
        let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
        let node = Node::open(&storage);
        let mut image = MetadataImage::default();
        let mechanism = ScramMechanism::Sha256;
        let credential = ScramCredential::derive(mechanism, b"pw", &[1; 16], 4096);
        let set =
            MetadataRecord::UserScramCredential { name: "alice".into(), mechanism, credential };
        node.publish(&replay(&mut image, &[set]), &image);
        assert!(node.credentials.read().unwrap().scram("alice", mechanism).is_some());
        let remove = MetadataRecord::RemoveUserScramCredential { name: "alice".into(), mechanism };
        node.publish(&replay(&mut image, &[remove]), &image);
        assert!(node.credentials.read().unwrap().scram("alice", mechanism).is_none());
    }

    /// Start-up's path: the metadata log replayed from scratch and its delta published on a
    /// node with the same disk yields the partitions the run that wrote it had.
    #[test]
    fn replaying_the_log_through_the_publisher_yields_the_same_partitions() {
        let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
        let open_store = |node: &Node| {
            let points = node.logs.lock().unwrap().recovery_points().clone();
            MetadataStore::open(storage.clone(), Path::new("/data"), NOW, points, None).unwrap()
        };
        let first = Node::open(&storage);
        let mut store = open_store(&first);
        let batches = vec![
            vec![topic("t", 1), partition(1, 0), partition(1, 1), retention("t", 77)],
            vec![topic("u", 2), partition(2, 0)],
            vec![partition(1, 2)],
            vec![MetadataRecord::RemoveTopic { topic_id: Uuid::from_u128(2) }],
            vec![topic("u", 3), partition(3, 0), partition(3, 1)],
            vec![retention("t", 88)],
        ];
        for records in batches {
            let delta = store.commit(records, NOW).unwrap();
            first.publish(&delta, store.image());
        }
        append_one(&first, "t", 1);
        append_one(&first, "u", 0);
        let written = first.partitions();
        assert_eq!(written.len(), 5, "{written:?}");
        first.logs.lock().unwrap().shut_down_cleanly().unwrap();
        drop((store, first));

        let second = Node::open(&storage);
        let mut store = open_store(&second);
        let replayed = store.take_replayed();
        second.publish(&replayed, store.image());
        // u's first incarnation is among the removals; its name's directory, now topic 3's,
        // is left alone.
        assert!(replayed.removed_topics().contains_key(&Uuid::from_u128(2)));
        assert_eq!(second.partitions(), written);
    }
}
