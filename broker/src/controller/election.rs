//! Leader elections asked for (ElectLeaders) and the controller's own leader rebalance, after
//! Kafka's `ReplicationControlManager.electLeaders`/`electLeader` and
//! `maybeBalancePartitionLeaders`.
//!
//! A partition is *imbalanced* when its leader is not its preferred replica (the first of its
//! replicas; a leaderless partition is imbalanced too). A PREFERRED election moves the
//! leadership to the preferred replica when it is in the ISR and active (registered, unfenced,
//! not shutting down); an UNCLEAN election gives a leaderless partition a leader, from the ISR
//! if it can, else any active replica alone in the ISR (RECOVERING), whatever
//! `unclean.leader.election.enable` says: asking for it is the operator's decision.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::partition_change::{Election, PartitionChangeBuilder};
use super::{is_active, ControllerResult};
use crate::config::BrokerConfig;
use crate::error::ApiError;
use crate::metadata::{MetadataImage, MetadataRecord, PartitionImage, NO_LEADER};
use crate::topic_config;

/// Kafka's `MAX_ELECTIONS_PER_IMBALANCE`: the most preferred-leader elections one rebalance
/// run commits; with more imbalanced partitions the next run comes at once.
pub const MAX_ELECTIONS_PER_IMBALANCE: usize = 1_000;

/// The election an ElectLeaders request asks for (Kafka's `ElectionType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElectionType {
    /// 0: the preferred replica, if it is not the leader yet.
    Preferred,
    /// 1: any live replica, for a partition without a leader.
    Unclean,
}

impl ElectionType {
    /// The type of a request's `election_type` byte; INVALID_REQUEST for any other value, as
    /// Kafka's `ElectionType.valueOf` refuses it.
    pub fn from_code(code: i8) -> Result<Self, ApiError> {
        match code {
            0 => Ok(Self::Preferred),
            1 => Ok(Self::Unclean),
            other => Err(ApiError::new(
                ResponseError::InvalidRequest,
                format!("Unknown election type {other}"),
            )),
        }
    }
}

/// Kafka's `PartitionRegistration.hasPreferredLeader`: led by its first replica.
pub fn has_preferred_leader(partition: &PartitionImage) -> bool {
    partition.replicas.first().is_some_and(|r| *r == partition.leader)
}

/// Whether any partition is imbalanced (Kafka's `arePartitionLeadersImbalanced`).
pub fn are_partition_leaders_imbalanced(image: &MetadataImage) -> bool {
    image.topics().any(|t| t.partitions.values().any(|p| !has_preferred_leader(p)))
}

/// How many partitions are imbalanced (Kafka's `PreferredReplicaImbalanceCount`).
pub fn preferred_replica_imbalance_count(image: &MetadataImage) -> usize {
    image.topics().map(|t| t.partitions.values().filter(|p| !has_preferred_leader(p)).count()).sum()
}

/// ElectLeaders at the controller (Kafka's `electLeaders`): with topic partitions, one result
/// per partition asked for, in request order; with none (`null`), every partition of every
/// topic, leaving out those whose election was not needed. One PartitionChangeRecord per
/// partition whose leader changes. The caller has authorized the request and answered an
/// empty list itself.
pub fn elect_leaders(
    image: &MetadataImage,
    request: &ElectLeadersRequest,
) -> Result<ControllerResult<ElectLeadersResponse>, ApiError> {
    let election_type = ElectionType::from_code(request.election_type)?;
    let mut records = Vec::new();
    let mut results = Vec::new();
    match &request.topic_partitions {
        None => {
            for topic in image.topics() {
                let mut result = ReplicaElectionResult::default()
                    .with_topic(TopicName(StrBytes::from_string(topic.name.clone())));
                for partition_id in topic.partitions.keys() {
                    let outcome = elect_leader(
                        image,
                        &topic.name,
                        *partition_id,
                        election_type,
                        &mut records,
                    );
                    // Elections across all partitions name only the partitions that needed one.
                    if outcome.as_ref().err().map(|e| e.error)
                        != Some(ResponseError::ElectionNotNeeded)
                    {
                        result.partition_result.push(partition_result(*partition_id, outcome));
                    }
                }
                results.push(result);
            }
        }
        Some(topics) => {
            for wanted in topics {
                let name = wanted.topic.0.to_string();
                let mut result = ReplicaElectionResult::default().with_topic(wanted.topic.clone());
                // A partition named twice is elected once and answered alike both times.
                let mut seen: BTreeMap<i32, Result<(), ApiError>> = BTreeMap::new();
                for partition_id in &wanted.partitions {
                    let outcome = seen
                        .entry(*partition_id)
                        .or_insert_with(|| {
                            elect_leader(image, &name, *partition_id, election_type, &mut records)
                        })
                        .clone();
                    result.partition_result.push(partition_result(*partition_id, outcome));
                }
                results.push(result);
            }
        }
    }
    let response = ElectLeadersResponse::default().with_replica_election_results(results);
    Ok(ControllerResult { records, response })
}

fn partition_result(partition_id: i32, outcome: Result<(), ApiError>) -> PartitionResult {
    let result = PartitionResult::default().with_partition_id(partition_id);
    match outcome {
        Ok(()) => result,
        Err(e) => result
            .with_error_code(e.code())
            .with_error_message((!e.message.is_empty()).then(|| StrBytes::from_string(e.message))),
    }
}

/// One partition's election (Kafka's `electLeader`): UNKNOWN_TOPIC_OR_PARTITION for a topic or
/// partition that does not exist; ELECTION_NOT_NEEDED when a PREFERRED election finds the
/// preferred replica leading, or an UNCLEAN one finds a leader; PREFERRED_LEADER_NOT_AVAILABLE
/// / ELIGIBLE_LEADERS_NOT_AVAILABLE when no record would change the leader. Kafka sends those
/// last three without a message, so clients show the error's own description.
pub fn elect_leader(
    image: &MetadataImage,
    topic_name: &str,
    partition_id: i32,
    election_type: ElectionType,
    records: &mut Vec<MetadataRecord>,
) -> Result<(), ApiError> {
    let Some(topic) = image.topic(topic_name) else {
        return Err(ApiError::new(
            ResponseError::UnknownTopicOrPartition,
            format!("No such topic as {topic_name}"),
        ));
    };
    let Some(partition) = topic.partitions.get(&partition_id) else {
        return Err(ApiError::new(
            ResponseError::UnknownTopicOrPartition,
            format!("No such partition as {topic_name}-{partition_id}"),
        ));
    };
    let not_needed = match election_type {
        ElectionType::Preferred => has_preferred_leader(partition),
        ElectionType::Unclean => partition.leader != NO_LEADER,
    };
    if not_needed {
        return Err(ApiError::new(ResponseError::ElectionNotNeeded, String::new()));
    }
    let election = match election_type {
        ElectionType::Preferred => Election::Preferred,
        ElectionType::Unclean => Election::Unclean,
    };
    let acceptable = |r: i32| is_active(image, r);
    let change = PartitionChangeBuilder::new(partition, topic.topic_id, partition_id, &acceptable)
        .election(election)
        .build();
    match change {
        Some(change) => {
            records.push(MetadataRecord::PartitionChange(change));
            Ok(())
        }
        None => Err(ApiError::new(
            match election_type {
                ElectionType::Preferred => ResponseError::PreferredLeaderNotAvailable,
                ElectionType::Unclean => ResponseError::EligibleLeadersNotAvailable,
            },
            String::new(),
        )),
    }
}

/// The leader rebalance (Kafka's `maybeBalancePartitionLeaders`): a PREFERRED election for
/// every imbalanced partition, in topic and partition order, at most `max_elections` records.
/// The response says whether the limit was reached, so the next run should come at once.
///
/// Kafka 4.1's KRaft controller balances every imbalanced partition whose preferred replica
/// can lead; it does not apply `leader.imbalance.per.broker.percentage` (only the ZooKeeper
/// controller did), and neither does this one.
pub fn maybe_balance_partition_leaders(
    image: &MetadataImage,
    max_elections: usize,
) -> ControllerResult<bool> {
    let mut records = Vec::new();
    let acceptable = |r: i32| is_active(image, r);
    'topics: for topic in image.topics() {
        for (id, partition) in &topic.partitions {
            if records.len() >= max_elections {
                break 'topics;
            }
            if has_preferred_leader(partition) {
                continue;
            }
            let change = PartitionChangeBuilder::new(partition, topic.topic_id, *id, &acceptable)
                .election(Election::Preferred)
                .build();
            records.extend(change.map(MetadataRecord::PartitionChange));
        }
    }
    let reschedule_immediately = records.len() >= max_elections;
    ControllerResult { records, response: reschedule_immediately }
}

/// The periodic unclean election (Kafka's
/// `maybeTriggerUncleanLeaderElectionForLeaderlessPartitions`): every leaderless partition of a
/// topic whose `unclean.leader.election.enable` is on gets a live replica as leader, alone in
/// the ISR and RECOVERING, at most `max_elections` records; the response says whether the limit
/// was reached. Only this automatic path obeys the config: ElectLeaders' UNCLEAN does not.
pub fn maybe_elect_unclean_leaders(
    image: &MetadataImage,
    config: &BrokerConfig,
    max_elections: usize,
) -> ControllerResult<bool> {
    let mut records = Vec::new();
    let acceptable = |r: i32| is_active(image, r);
    'topics: for topic in image.topics() {
        if !topic_config::unclean_leader_election_enable(config, &topic.configs) {
            continue;
        }
        for (id, partition) in &topic.partitions {
            if records.len() >= max_elections {
                break 'topics;
            }
            if partition.leader != NO_LEADER {
                continue;
            }
            let change = PartitionChangeBuilder::new(partition, topic.topic_id, *id, &acceptable)
                .election(Election::Unclean)
                .build();
            records.extend(change.map(MetadataRecord::PartitionChange));
        }
    }
    let reschedule_immediately = records.len() >= max_elections;
    ControllerResult { records, response: reschedule_immediately }
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::elect_leaders_request::TopicPartitions;

    use super::*;
    use crate::controller::test_support::{applied, cluster, TOPIC_ID};
    use crate::metadata::{BrokerRegistrationChangeRecord, PartitionChangeRecord};

    fn change(partition: i32, edit: impl FnOnce(&mut PartitionChangeRecord)) -> MetadataRecord {
        let mut change = PartitionChangeRecord::new(TOPIC_ID, partition);
        edit(&mut change);
        MetadataRecord::PartitionChange(change)
    }

    fn fence(broker_id: i32) -> MetadataRecord {
        MetadataRecord::BrokerRegistrationChange(BrokerRegistrationChangeRecord {
            broker_id,
            broker_epoch: i64::from(broker_id) * 10,
            fenced: 1,
            in_controlled_shutdown: 0,
        })
    }

    fn request(election_type: i8, partitions: Option<&[(&str, &[i32])]>) -> ElectLeadersRequest {
        ElectLeadersRequest::default().with_election_type(election_type).with_topic_partitions(
            partitions.map(|topics| {
                topics
                    .iter()
                    .map(|(topic, partitions)| {
                        TopicPartitions::default()
                            .with_topic(TopicName(StrBytes::from_string((*topic).into())))
                            .with_partitions(partitions.to_vec())
                    })
                    .collect()
            }),
        )
    }

    /// `(topic, partition, error code)` of every result, in response order.
    fn outcomes(response: &ElectLeadersResponse) -> Vec<(String, i32, i16)> {
        response
            .replica_election_results
            .iter()
            .flat_map(|t| {
                t.partition_result
                    .iter()
                    .map(|p| (t.topic.0.to_string(), p.partition_id, p.error_code))
            })
            .collect()
    }

    /// Partition 0 led by its preferred replica; 1 led by 2 with 1 back in the ISR; 2 led by 3
    /// with 1 (its preferred) still out of the ISR; 3 offline with only 1 in its ISR.
    fn image() -> MetadataImage {
        let image = cluster(&[&[1, 2, 3], &[1, 2, 3], &[1, 3, 2], &[1, 2]]);
        applied(
            &image,
            &[
                change(1, |c| c.leader = 2),
                change(2, |c| {
                    c.leader = 3;
                    c.isr = Some(vec![2, 3]);
                }),
                change(3, |c| {
                    c.leader = NO_LEADER;
                    c.isr = Some(vec![1]);
                }),
            ],
        )
    }

    /// Each PREFERRED outcome with Kafka's error, one record for the one partition that moves.
    #[test]
    fn preferred_elections_answer_each_partition() {
        let unfenced = image();
        let asked: &[(&str, &[i32])] = &[("t", &[0, 1, 2, 3, 9]), ("nope", &[0])];
        let result = elect_leaders(&unfenced, &request(0, Some(asked))).unwrap();
        let none = 0;
        let code = |e: ResponseError| e.code();
        assert_eq!(
            outcomes(&result.response),
            vec![
                ("t".into(), 0, code(ResponseError::ElectionNotNeeded)),
                ("t".into(), 1, none),
                ("t".into(), 2, code(ResponseError::PreferredLeaderNotAvailable)),
                ("t".into(), 3, none),
                ("t".into(), 9, code(ResponseError::UnknownTopicOrPartition)),
                ("nope".into(), 0, code(ResponseError::UnknownTopicOrPartition)),
            ]
        );
        let after = applied(&unfenced, &result.records);
        let t = after.topic("t").unwrap();
        assert_eq!((t.partitions[&1].leader, t.partitions[&1].leader_epoch), (1, 2));
        assert_eq!(t.partitions[&3].leader, 1, "the offline partition's preferred replica");
        assert_eq!(t.partitions[&2].leader, 3, "1 is not in the ISR: 3 stays");

        // While broker 1 is fenced, its partitions stay as they are.
        let image = applied(&unfenced, &[fence(1)]);
        let fenced = elect_leaders(&image, &request(0, Some(&[("t", &[1])]))).unwrap();
        assert!(fenced.records.is_empty());
        let expected = vec![("t".into(), 1, code(ResponseError::PreferredLeaderNotAvailable))];
        assert_eq!(outcomes(&fenced.response), expected);
    }

    /// All partitions (`null`): those that need no election are left out of the answer.
    #[test]
    fn all_partitions_leave_out_those_that_need_no_election() {
        let result = elect_leaders(&image(), &request(0, None)).unwrap();
        let code = ResponseError::PreferredLeaderNotAvailable.code();
        assert_eq!(
            outcomes(&result.response),
            vec![("t".into(), 1, 0), ("t".into(), 2, code), ("t".into(), 3, 0)]
        );
        assert_eq!(result.records.len(), 2);
    }

    /// UNCLEAN: only leaderless partitions; an out-of-sync live replica leads alone,
    /// RECOVERING, whatever unclean.leader.election.enable says.
    #[test]
    fn unclean_elections_only_for_leaderless_partitions() {
        let image = image();
        let asked: &[(&str, &[i32])] = &[("t", &[1, 3])];
        let result = elect_leaders(&image, &request(1, Some(asked))).unwrap();
        let code = ResponseError::ElectionNotNeeded.code();
        assert_eq!(outcomes(&result.response), vec![("t".into(), 1, code), ("t".into(), 3, 0)]);
        let after = applied(&image, &result.records);
        let p3 = &after.topic("t").unwrap().partitions[&3];
        assert_eq!(p3.leader, 1, "its ISR member is alive: a clean choice first");

        // The ISR member fenced: 2 leads alone, RECOVERING.
        let fenced = applied(&image, &[fence(1)]);
        let result = elect_leaders(&fenced, &request(1, Some(asked))).unwrap();
        let after = applied(&fenced, &result.records);
        let p3 = &after.topic("t").unwrap().partitions[&3];
        assert_eq!((p3.leader, p3.isr.clone(), p3.leader_recovery_state), (2, vec![2], 1));

        // Nobody alive: ELIGIBLE_LEADERS_NOT_AVAILABLE.
        let dead = applied(&image, &[fence(1), fence(2)]);
        let result = elect_leaders(&dead, &request(1, Some(&[("t", &[3])]))).unwrap();
        let code = ResponseError::EligibleLeadersNotAvailable.code();
        assert_eq!(outcomes(&result.response), vec![("t".into(), 3, code)]);
        assert!(result.records.is_empty());
    }

    /// The periodic path elects only where the topic (or the broker default) allows it, and
    /// only leaderless partitions: partition 3, its one in-sync replica fenced, goes to 2 alone.
    #[test]
    fn the_periodic_unclean_election_obeys_the_topic_config() {
        let fenced = applied(&image(), &[fence(1)]);
        let off = BrokerConfig::default();
        assert!(maybe_elect_unclean_leaders(&fenced, &off, 1000).records.is_empty());
        let on = BrokerConfig { unclean_leader_election_enable: true, ..BrokerConfig::default() };
        let result = maybe_elect_unclean_leaders(&fenced, &on, 1000);
        assert_eq!(result.records.len(), 1, "{:?}", result.records);
        assert!(!result.response);
        let after = applied(&fenced, &result.records);
        let p3 = &after.topic("t").unwrap().partitions[&3];
        assert_eq!((p3.leader, p3.isr.clone(), p3.leader_recovery_state), (2, vec![2], 1));
        assert!(maybe_elect_unclean_leaders(&fenced, &on, 0).response, "the limit was reached");
    }

    #[test]
    fn an_unknown_election_type_is_an_invalid_request() {
        let error = elect_leaders(&image(), &request(2, None)).unwrap_err();
        assert_eq!(error.error, ResponseError::InvalidRequest);
    }

    /// The rebalance: every imbalanced partition whose preferred replica is in the ISR and
    /// active, no more than the limit; none once balanced.
    #[test]
    fn the_rebalance_moves_leaders_back_to_preferred_replicas() {
        let image = image();
        assert!(are_partition_leaders_imbalanced(&image));
        assert_eq!(preferred_replica_imbalance_count(&image), 3);
        let result = maybe_balance_partition_leaders(&image, MAX_ELECTIONS_PER_IMBALANCE);
        assert!(!result.response);
        let after = applied(&image, &result.records);
        let leaders: Vec<i32> =
            after.topic("t").unwrap().partitions.values().map(|p| p.leader).collect();
        assert_eq!(leaders, vec![1, 1, 3, 1], "partition 2's preferred replica is out of the ISR");
        assert_eq!(preferred_replica_imbalance_count(&after), 1);

        // 1 back in partition 2's ISR: balanced, and the next run has nothing to do.
        let caught_up = applied(&after, &[change(2, |c| c.isr = Some(vec![1, 2, 3]))]);
        let result = maybe_balance_partition_leaders(&caught_up, MAX_ELECTIONS_PER_IMBALANCE);
        let balanced = applied(&caught_up, &result.records);
        assert!(!are_partition_leaders_imbalanced(&balanced));
        assert!(maybe_balance_partition_leaders(&balanced, 10).records.is_empty());

        // The limit: one election, and a run again at once.
        let limited = maybe_balance_partition_leaders(&image, 1);
        assert_eq!((limited.records.len(), limited.response), (1, true));
    }
}
