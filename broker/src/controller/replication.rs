//! Partition leadership and ISRs as brokers come and go, and AlterPartition, after Kafka's
//! `ReplicationControlManager` (without ELR, reassignments or directory assignment).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_partition_request::BrokerState;
use kafka_protocol::messages::alter_partition_response::{
    PartitionData as PartitionResult, TopicData as TopicResult,
};
use kafka_protocol::messages::{AlterPartitionRequest, AlterPartitionResponse, BrokerId};
use uuid::Uuid;

use super::cluster_control::check_broker_epoch;
use super::partition_change::{Election, PartitionChangeBuilder, RECOVERED, RECOVERING};
use super::{is_active, ControllerResult};
use crate::config::BrokerConfig;
use crate::metadata::{
    BrokerRegistrationChangeRecord, MetadataImage, MetadataRecord, PartitionImage, PartitionRecord,
    TopicImage, NO_LEADER,
};
use crate::topic_config;

/// A new partition on `replicas` (placed first replica first): the ISR is its active replicas,
/// the first of them leads (Kafka's `buildPartitionRegistration`).
pub fn new_partition(
    image: &MetadataImage,
    topic_id: Uuid,
    partition_id: i32,
    replicas: Vec<i32>,
) -> PartitionRecord {
    let mut record = PartitionRecord::new(topic_id, partition_id, replicas);
    record.isr.retain(|r| is_active(image, *r));
    record.leader = record.isr.first().copied().unwrap_or(NO_LEADER);
    debug_assert_ne!(record.leader, NO_LEADER, "placement puts an active broker first");
    record
}

/// The election a topic's partitions use: unclean when `unclean.leader.election.enable` is set
/// on the topic or the broker.
fn election_for(config: &BrokerConfig, topic: &TopicImage) -> Election {
    if topic_config::unclean_leader_election_enable(config, &topic.configs) {
        Election::Unclean
    } else {
        Election::Online
    }
}

/// Kafka's `generateLeaderAndIsrUpdates`: for every partition `selected`, `broker_to_remove`
/// (if not [`NO_LEADER`]) leaves the ISR and may not lead; `broker_to_add` (if not
/// [`NO_LEADER`]) may lead although the image still shows it fenced. In topic and partition
/// order, one PartitionChangeRecord per partition that changes.
fn leader_and_isr_updates(
    image: &MetadataImage,
    config: &BrokerConfig,
    broker_to_remove: i32,
    broker_to_add: i32,
    selected: impl Fn(&PartitionImage) -> bool,
    records: &mut Vec<MetadataRecord>,
) {
    let acceptable = |r: i32| r != broker_to_remove && (r == broker_to_add || is_active(image, r));
    for topic in image.topics() {
        let election = election_for(config, topic);
        for (id, partition) in topic.partitions.iter().filter(|(_, p)| selected(p)) {
            let target_isr = partition.isr.iter().copied().filter(|r| *r != broker_to_remove);
            let change = PartitionChangeBuilder::new(partition, topic.topic_id, *id, &acceptable)
                .election(election)
                .target_isr(target_isr.collect())
                .build();
            records.extend(change.map(MetadataRecord::PartitionChange));
        }
    }
}

/// Fencing `broker_id`: out of every ISR it is in (leaders move), then the registration change
/// (`handleBrokerFenced`). Kafka 4.x (metadata.version ≥ 3.3-IV3) writes a
/// BrokerRegistrationChangeRecord, not the older FenceBrokerRecord.
pub fn handle_broker_fenced(
    image: &MetadataImage,
    config: &BrokerConfig,
    broker_id: i32,
) -> Vec<MetadataRecord> {
    let broker_epoch = image.brokers()[&broker_id].registration.broker_epoch;
    let mut records = Vec::new();
    remove_from_isrs(image, config, broker_id, &mut records);
    records.push(MetadataRecord::BrokerRegistrationChange(BrokerRegistrationChangeRecord {
        broker_id,
        broker_epoch,
        fenced: 1,
        in_controlled_shutdown: 0,
    }));
    records
}

/// Unfencing `broker_id`: the registration change, then leaders for the partitions without
/// one that it (or another live replica) can lead (`handleBrokerUnfenced`).
pub fn handle_broker_unfenced(
    image: &MetadataImage,
    config: &BrokerConfig,
    broker_id: i32,
    broker_epoch: i64,
) -> Vec<MetadataRecord> {
    let mut records =
        vec![MetadataRecord::BrokerRegistrationChange(BrokerRegistrationChangeRecord {
            broker_id,
            broker_epoch,
            fenced: -1,
            in_controlled_shutdown: 0,
        })];
    leader_and_isr_updates(
        image,
        config,
        NO_LEADER,
        broker_id,
        |p| p.leader == NO_LEADER,
        &mut records,
    );
    records
}

/// `broker_id` starts a controlled shutdown: marked so, then out of every ISR, its
/// leaderships moved (`handleBrokerInControlledShutdown`).
pub fn handle_broker_in_controlled_shutdown(
    image: &MetadataImage,
    config: &BrokerConfig,
    broker_id: i32,
    broker_epoch: i64,
) -> Vec<MetadataRecord> {
    let mut records = Vec::new();
    if !image.brokers().get(&broker_id).is_some_and(|b| b.in_controlled_shutdown) {
        records.push(MetadataRecord::BrokerRegistrationChange(BrokerRegistrationChangeRecord {
            broker_id,
            broker_epoch,
            fenced: 0,
            in_controlled_shutdown: 1,
        }));
    }
    remove_from_isrs(image, config, broker_id, &mut records);
    records
}

/// `broker_id` out of every ISR it is in, its leaderships moved to in-sync replicas (fencing
/// and controlled shutdown alike).
fn remove_from_isrs(
    image: &MetadataImage,
    config: &BrokerConfig,
    broker_id: i32,
    records: &mut Vec<MetadataRecord>,
) {
    leader_and_isr_updates(
        image,
        config,
        broker_id,
        NO_LEADER,
        |p| p.isr.contains(&broker_id),
        records,
    );
}

/// Whether `broker_id` leads any partition.
pub fn has_leaderships(image: &MetadataImage, broker_id: i32) -> bool {
    image.topics().any(|t| t.partitions.values().any(|p| p.leader == broker_id))
}

/// AlterPartition (v2+, topics by id) from a partition leader, checked in the order of Kafka's
/// `ReplicationControlManager.alterPartition`: the broker epoch (STALE_BROKER_EPOCH for the
/// whole request), then per partition: UNKNOWN_TOPIC_ID, UNKNOWN_TOPIC_OR_PARTITION,
/// NOT_CONTROLLER (epochs ahead of this controller's), FENCED_LEADER_EPOCH, INVALID_REQUEST
/// (not from the leader — Kafka's code, not NOT_LEADER_OR_FOLLOWER), INVALID_UPDATE_VERSION
/// (the partition epoch's compare-and-set), INVALID_REQUEST (an ISR with non-replicas or
/// duplicates, without the leader, more than the leader while RECOVERING, or RECOVERED going
/// back to RECOVERING), INELIGIBLE_REPLICA (a new member not registered, shutting down, fenced
/// or at another broker epoch). Each accepted partition is one PartitionChangeRecord; the
/// answer is the partition as it will be (NEW_LEADER_ELECTED if the change moved the
/// leadership, as Kafka answers).
pub fn alter_partition(
    image: &MetadataImage,
    config: &BrokerConfig,
    request: &AlterPartitionRequest,
) -> ControllerResult<AlterPartitionResponse> {
    let broker_id = request.broker_id.0;
    if let Err(e) = check_broker_epoch(image, broker_id, request.broker_epoch) {
        tracing::info!(broker_id, error = %e.message, "refusing AlterPartition");
        let response = AlterPartitionResponse::default().with_error_code(e.code());
        return ControllerResult { records: Vec::new(), response };
    }
    let mut records = Vec::new();
    let mut topics = Vec::new();
    for wanted in &request.topics {
        let mut result = TopicResult::default().with_topic_id(wanted.topic_id);
        let Some(topic) = image.topic_by_id(&wanted.topic_id) else {
            let topic_id = wanted.topic_id;
            tracing::info!(%topic_id, "refusing AlterPartition of an unknown topic id");
            result.partitions = wanted
                .partitions
                .iter()
                .map(|p| {
                    PartitionResult::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(ResponseError::UnknownTopicId.code())
                })
                .collect();
            topics.push(result);
            continue;
        };
        for data in &wanted.partitions {
            let index = data.partition_index;
            let failed = |error: ResponseError| {
                PartitionResult::default().with_partition_index(index).with_error_code(error.code())
            };
            // v2 names the new ISR by id alone, v3 with each member's broker epoch; -1 skips
            // the epoch check, as Kafka converts v2.
            let new_isr: Vec<BrokerState> = if data.new_isr_with_epochs.is_empty() {
                data.new_isr
                    .iter()
                    .map(|id| BrokerState::default().with_broker_id(*id).with_broker_epoch(-1))
                    .collect()
            } else {
                data.new_isr_with_epochs.clone()
            };
            let Some(partition) = topic.partitions.get(&index) else {
                result.partitions.push(failed(ResponseError::UnknownTopicOrPartition));
                continue;
            };
            if let Err((error, why)) =
                validate_alter_partition(image, broker_id, partition, data, &new_isr)
            {
                tracing::info!(
                    broker_id,
                    topic = topic.name,
                    partition = index,
                    error = ?error,
                    "refusing AlterPartition: {why}"
                );
                result.partitions.push(failed(error));
                continue;
            }
            let acceptable = |r: i32| is_active(image, r);
            let change = PartitionChangeBuilder::new(partition, topic.topic_id, index, &acceptable)
                .election(election_for(config, topic))
                .target_isr(new_isr.iter().map(|b| b.broker_id.0).collect())
                .target_leader_recovery_state(data.leader_recovery_state)
                .build();
            let mut after = partition.clone();
            if let Some(change) = change {
                let leader_changed = change.leader != crate::metadata::NO_LEADER_CHANGE
                    && change.leader != broker_id;
                after.merge(&change);
                records.push(MetadataRecord::PartitionChange(change));
                if leader_changed {
                    // Kafka's answer when the change also moved the leadership: the record
                    // stands, and the old leader must learn the new metadata first.
                    result.partitions.push(failed(ResponseError::NewLeaderElected));
                    continue;
                }
            }
            result.partitions.push(
                PartitionResult::default()
                    .with_partition_index(index)
                    .with_leader_id(BrokerId(after.leader))
                    .with_isr(after.isr.iter().copied().map(BrokerId).collect())
                    .with_leader_recovery_state(after.leader_recovery_state)
                    .with_leader_epoch(after.leader_epoch)
                    .with_partition_epoch(after.partition_epoch),
            );
        }
        topics.push(result);
    }
    ControllerResult { records, response: AlterPartitionResponse::default().with_topics(topics) }
}

/// Kafka's `validateAlterPartitionData`, in its order; the error and why.
fn validate_alter_partition(
    image: &MetadataImage,
    broker_id: i32,
    partition: &PartitionImage,
    data: &kafka_protocol::messages::alter_partition_request::PartitionData,
    new_isr: &[BrokerState],
) -> Result<(), (ResponseError, String)> {
    let refuse = |error, why: String| Err((error, why));
    if data.leader_epoch > partition.leader_epoch
        || data.partition_epoch > partition.partition_epoch
    {
        // The leader knows newer epochs than this controller: it is likely not the active one.
        return refuse(
            ResponseError::NotController,
            format!(
                "leader epoch {} / partition epoch {} are ahead of this controller's {} / {}",
                data.leader_epoch,
                data.partition_epoch,
                partition.leader_epoch,
                partition.partition_epoch
            ),
        );
    }
    if data.leader_epoch < partition.leader_epoch {
        return refuse(
            ResponseError::FencedLeaderEpoch,
            format!(
                "the current leader epoch is {}, not {}",
                partition.leader_epoch, data.leader_epoch
            ),
        );
    }
    if broker_id != partition.leader {
        return refuse(
            ResponseError::InvalidRequest,
            format!("the current leader is {}", partition.leader),
        );
    }
    if data.partition_epoch < partition.partition_epoch {
        return refuse(
            ResponseError::InvalidUpdateVersion,
            format!(
                "the current partition epoch is {}, not {}",
                partition.partition_epoch, data.partition_epoch
            ),
        );
    }
    let ids: Vec<i32> = new_isr.iter().map(|b| b.broker_id.0).collect();
    let mut distinct = ids.clone();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() != ids.len() || !ids.iter().all(|r| partition.replicas.contains(r)) {
        return refuse(ResponseError::InvalidRequest, format!("invalid ISR {ids:?}"));
    }
    if !ids.contains(&partition.leader) {
        return refuse(
            ResponseError::InvalidRequest,
            format!("the ISR {ids:?} does not include the leader itself"),
        );
    }
    if data.leader_recovery_state == RECOVERING && ids.len() > 1 {
        return refuse(
            ResponseError::InvalidRequest,
            format!(
                "the ISR {ids:?} has more than the leader while it recovers from an unclean \
                 election"
            ),
        );
    }
    if partition.leader_recovery_state == RECOVERED && data.leader_recovery_state == RECOVERING {
        return refuse(
            ResponseError::InvalidRequest,
            "the leader recovery state cannot change from RECOVERED to RECOVERING".into(),
        );
    }
    let ineligible: Vec<String> = new_isr
        .iter()
        .filter_map(|b| {
            let id = b.broker_id.0;
            let why = match image.brokers().get(&id) {
                None => "not registered".to_owned(),
                Some(r) if r.in_controlled_shutdown => "shutting down".to_owned(),
                Some(r) if r.fenced => "fenced".to_owned(),
                Some(r)
                    if b.broker_epoch != -1 && r.registration.broker_epoch != b.broker_epoch =>
                {
                    format!(
                        "broker epoch mismatch: requested={} VS expected={}",
                        b.broker_epoch, r.registration.broker_epoch
                    )
                }
                Some(_) => return None,
            };
            Some(format!("{id} ({why})"))
        })
        .collect();
    if !ineligible.is_empty() {
        return refuse(
            ResponseError::IneligibleReplica,
            format!("ineligible replicas in the new ISR: {}", ineligible.join(", ")),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::alter_partition_request::{PartitionData, TopicData};

    use super::*;
    use crate::controller::test_support::{applied, cluster, TOPIC_ID};

    fn partition_of(image: &MetadataImage, index: i32) -> PartitionImage {
        image.topic("t").unwrap().partitions[&index].clone()
    }

    /// Fencing broker 1: it leaves every ISR, partitions it led get the next live ISR member
    /// (leader epoch +1), the one it followed keeps its leader; the registration change comes
    /// last, as Kafka's BrokerRegistrationChangeRecord.
    #[test]
    fn fencing_moves_leaders_and_shrinks_isrs() {
        let image = cluster(&[&[1, 2, 3], &[2, 1, 3], &[1]]);
        let records = handle_broker_fenced(&image, &BrokerConfig::default(), 1);
        assert!(matches!(
            records.last(),
            Some(MetadataRecord::BrokerRegistrationChange(BrokerRegistrationChangeRecord {
                broker_id: 1,
                broker_epoch: 10,
                fenced: 1,
                ..
            }))
        ));
        let after = applied(&image, &records);
        assert!(after.brokers()[&1].fenced);
        let p0 = partition_of(&after, 0);
        assert_eq!(
            (p0.leader, p0.isr.clone(), p0.leader_epoch, p0.partition_epoch),
            (2, vec![2, 3], 1, 1)
        );
        let p1 = partition_of(&after, 1);
        assert_eq!((p1.leader, p1.isr.clone(), p1.leader_epoch), (2, vec![2, 3], 0));
        // Its only replica: offline, the ISR keeps it.
        let p2 = partition_of(&after, 2);
        assert_eq!((p2.leader, p2.isr.clone(), p2.leader_epoch), (NO_LEADER, vec![1], 1));

        // Unfenced again: it leads the offline partition it is in sync for, and only that.
        let records = handle_broker_unfenced(&after, &BrokerConfig::default(), 1, 10);
        let back = applied(&after, &records);
        assert!(!back.brokers()[&1].fenced);
        assert_eq!(partition_of(&back, 2).leader, 1);
        assert_eq!(partition_of(&back, 2).leader_epoch, 2);
        assert_eq!(partition_of(&back, 0), partition_of(&after, 0), "no preferred election");
    }

    /// unclean.leader.election.enable: when the last ISR member is fenced, a live replica
    /// outside the ISR leads, RECOVERING; without it the partition stays offline.
    #[test]
    fn unclean_election_lets_an_out_of_sync_replica_lead() {
        let mut image = cluster(&[&[1, 2]]);
        image = applied(&image, &[change(|c| c.isr = Some(vec![1]))]);
        let clean = applied(&image, &handle_broker_fenced(&image, &BrokerConfig::default(), 1));
        assert_eq!(partition_of(&clean, 0).leader, NO_LEADER);
        let config = BrokerConfig { unclean_leader_election_enable: true, ..Default::default() };
        let unclean = applied(&image, &handle_broker_fenced(&image, &config, 1));
        let p = partition_of(&unclean, 0);
        assert_eq!((p.leader, p.isr, p.leader_recovery_state), (2, vec![2], RECOVERING));
        // The topic config overrides the broker's.
        let topic_config = MetadataRecord::Config {
            resource: crate::metadata::ConfigResource::Topic("t".into()),
            name: "unclean.leader.election.enable".into(),
            value: Some("true".into()),
        };
        let image = applied(&image, &[topic_config]);
        let unclean = applied(&image, &handle_broker_fenced(&image, &BrokerConfig::default(), 1));
        assert_eq!(partition_of(&unclean, 0).leader, 2);
    }

    /// Controlled shutdown: marked, its leaderships moved, out of the ISRs.
    #[test]
    fn controlled_shutdown_moves_leaderships() {
        let image = cluster(&[&[3, 1]]);
        let records = handle_broker_in_controlled_shutdown(&image, &BrokerConfig::default(), 3, 30);
        let after = applied(&image, &records);
        assert!(after.brokers()[&3].in_controlled_shutdown && !after.brokers()[&3].fenced);
        let p = partition_of(&after, 0);
        assert_eq!((p.leader, p.isr), (1, vec![1]));
        assert!(!has_leaderships(&after, 3));
    }

    fn request(
        image: &MetadataImage,
        broker_epoch: i64,
        isr: &[(i32, i64)],
        edit: impl FnOnce(PartitionData) -> PartitionData,
    ) -> AlterPartitionRequest {
        let p = partition_of(image, 0);
        let data = PartitionData::default()
            .with_partition_index(0)
            .with_leader_epoch(p.leader_epoch)
            .with_partition_epoch(p.partition_epoch)
            .with_new_isr_with_epochs(
                isr.iter()
                    .map(|(id, epoch)| {
                        BrokerState::default()
                            .with_broker_id(BrokerId(*id))
                            .with_broker_epoch(*epoch)
                    })
                    .collect(),
            );
        AlterPartitionRequest::default()
            .with_broker_id(BrokerId(1))
            .with_broker_epoch(broker_epoch)
            .with_topics(vec![TopicData::default()
                .with_topic_id(TOPIC_ID)
                .with_partitions(vec![edit(data)])])
    }

    fn partition_error(result: &ControllerResult<AlterPartitionResponse>) -> i16 {
        result.response.topics[0].partitions[0].error_code
    }

    /// The leader shrinks the ISR: one PartitionChangeRecord, the answer is the partition after
    /// it (partition epoch +1, same leader epoch).
    #[test]
    fn alter_partition_commits_the_new_isr() {
        let image = cluster(&[&[1, 2, 3]]);
        let result = alter_partition(
            &image,
            &BrokerConfig::default(),
            &request(&image, 10, &[(1, 10), (3, 30)], |d| d),
        );
        assert_eq!(result.records.len(), 1);
        let p = &result.response.topics[0].partitions[0];
        assert_eq!(p.error_code, 0);
        let isr: Vec<i32> = p.isr.iter().map(|b| b.0).collect();
        assert_eq!((p.leader_id.0, isr, p.leader_epoch, p.partition_epoch), (1, vec![1, 3], 0, 1));
        let after = applied(&image, &result.records);
        assert_eq!(partition_of(&after, 0).isr, vec![1, 3]);
    }

    /// A PartitionChangeRecord of partition 0 of `t`, edited.
    fn change(edit: impl FnOnce(&mut crate::metadata::PartitionChangeRecord)) -> MetadataRecord {
        let mut change = crate::metadata::PartitionChangeRecord::new(TOPIC_ID, 0);
        edit(&mut change);
        MetadataRecord::PartitionChange(change)
    }

    /// Every refusal, in Kafka's order, and none writes a record.
    #[test]
    fn alter_partition_refuses_with_kafkas_errors() {
        let image = cluster(&[&[1, 2, 3]]);
        let config = BrokerConfig::default();
        let all = [(1, 10), (2, 20), (3, 30)];
        let stale = alter_partition(&image, &config, &request(&image, 11, &all, |d| d));
        assert_eq!(stale.response.error_code, ResponseError::StaleBrokerEpoch.code());
        assert!(stale.records.is_empty());

        let mut unknown = request(&image, 10, &all, |d| d);
        unknown.topics[0].topic_id = Uuid::from_u128(99);
        let result = alter_partition(&image, &config, &unknown);
        assert_eq!(partition_error(&result), ResponseError::UnknownTopicId.code());

        // The ISR moved on since the leader last heard: its partition epoch is behind.
        let shrunk = applied(&image, &[change(|c| c.isr = Some(vec![1, 2]))]);
        let led_by_2 = applied(&image, &[change(|c| c.leader = 2)]);
        let fenced_3 = applied(
            &image,
            &[MetadataRecord::BrokerRegistrationChange(BrokerRegistrationChangeRecord {
                broker_id: 3,
                broker_epoch: 30,
                fenced: 1,
                in_controlled_shutdown: 0,
            })],
        );
        let stopping_3 = applied(
            &image,
            &[MetadataRecord::BrokerRegistrationChange(BrokerRegistrationChangeRecord {
                broker_id: 3,
                broker_epoch: 30,
                fenced: 0,
                in_controlled_shutdown: 1,
            })],
        );
        let recovering = |d: PartitionData| d.with_leader_recovery_state(RECOVERING);
        let cases: Vec<(ResponseError, &MetadataImage, AlterPartitionRequest)> = vec![
            (
                ResponseError::UnknownTopicOrPartition,
                &image,
                request(&image, 10, &all, |d| d.with_partition_index(5)),
            ),
            (
                ResponseError::NotController,
                &image,
                request(&image, 10, &all, |d| d.with_leader_epoch(3)),
            ),
            (
                ResponseError::NotController,
                &image,
                request(&image, 10, &all, |d| d.with_partition_epoch(3)),
            ),
            // A leader epoch behind: FENCED_LEADER_EPOCH, checked before who leads.
            (ResponseError::FencedLeaderEpoch, &led_by_2, request(&image, 10, &all, |d| d)),
            // Not the leader, at the current epochs: INVALID_REQUEST, Kafka's answer.
            (ResponseError::InvalidRequest, &led_by_2, request(&led_by_2, 10, &all, |d| d)),
            (ResponseError::InvalidUpdateVersion, &shrunk, request(&image, 10, &all, |d| d)),
            (
                ResponseError::InvalidRequest,
                &image,
                request(&image, 10, &[(2, 20), (3, 30)], |d| d),
            ),
            (
                ResponseError::InvalidRequest,
                &image,
                request(&image, 10, &[(1, 10), (4, 40)], |d| d),
            ),
            (
                ResponseError::InvalidRequest,
                &image,
                request(&image, 10, &[(1, 10), (1, 10)], |d| d),
            ),
            (
                ResponseError::InvalidRequest,
                &image,
                request(&image, 10, &[(1, 10), (2, 20)], recovering),
            ),
            (ResponseError::InvalidRequest, &image, request(&image, 10, &[(1, 10)], recovering)),
            (
                ResponseError::IneligibleReplica,
                &image,
                request(&image, 10, &[(1, 10), (2, 21)], |d| d),
            ),
            (ResponseError::IneligibleReplica, &fenced_3, request(&image, 10, &all, |d| d)),
            (ResponseError::IneligibleReplica, &stopping_3, request(&image, 10, &all, |d| d)),
        ];
        for (expected, target, req) in cases {
            let result = alter_partition(target, &config, &req);
            assert_eq!(partition_error(&result), expected.code(), "{expected:?}: {req:?}");
            assert!(result.records.is_empty(), "{expected:?}");
        }
    }
}
