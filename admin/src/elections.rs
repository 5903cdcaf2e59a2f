//! Leader elections: ElectLeaders (KIP-460) as Kafka's admin client's `electLeaders` sends
//! it, for `kafka-leader-election.sh`'s counterpart.

use std::collections::BTreeMap;

use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
use kafka_protocol::messages::{ElectLeadersRequest, TopicName};

use crate::client::{check, s, AdminClient, AdminError, BrokerError};

/// How long the controller may take over the elections (Kafka's admin client's default).
const ELECTION_TIMEOUT_MS: i32 = 30_000;

/// Kafka's `ElectionType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ElectionType {
    /// Move the leadership to the preferred replica (0).
    Preferred,
    /// Give a leaderless partition any live replica as leader, in sync or not (1).
    Unclean,
}

impl ElectionType {
    /// The wire value.
    pub fn code(self) -> i8 {
        match self {
            ElectionType::Preferred => 0,
            ElectionType::Unclean => 1,
        }
    }

    /// The enum constant's name, as Kafka's tools print it.
    pub fn name(self) -> &'static str {
        match self {
            ElectionType::Preferred => "PREFERRED",
            ElectionType::Unclean => "UNCLEAN",
        }
    }
}

/// What the broker answered: per (topic, partition), the election's outcome.
pub type ElectionResults = BTreeMap<(String, i32), Result<(), BrokerError>>;

impl AdminClient {
    /// ElectLeaders for `partitions`, or every partition when `None`. `Err(BrokerError)` is a
    /// request-wide refusal (CLUSTER_AUTHORIZATION_FAILED, …); otherwise each partition the
    /// broker answered for (with all partitions, those that needed no election are left out).
    pub fn elect_leaders(
        &mut self,
        election_type: ElectionType,
        partitions: Option<&[(String, i32)]>,
    ) -> Result<Result<ElectionResults, BrokerError>, AdminError> {
        // v1 brought the election type (KIP-460); v0 can only elect preferred leaders.
        let version = self.version::<ElectLeadersRequest>((1, 2))?;
        let topic_partitions = partitions.map(|partitions| {
            let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
            for (topic, partition) in partitions {
                by_topic.entry(topic).or_default().push(*partition);
            }
            by_topic
                .into_iter()
                .map(|(topic, partitions)| {
                    TopicPartitions::default()
                        .with_topic(TopicName(s(topic)))
                        .with_partitions(partitions)
                })
                .collect()
        });
        let request = ElectLeadersRequest::default()
            .with_election_type(election_type.code())
            .with_topic_partitions(topic_partitions)
            .with_timeout_ms(ELECTION_TIMEOUT_MS);
        let response = self.send(version, &request)?;
        if let Err(e) = check(response.error_code, None) {
            return Ok(Err(e));
        }
        let mut results = ElectionResults::new();
        for topic in &response.replica_election_results {
            for partition in &topic.partition_result {
                let outcome = check(partition.error_code, partition.error_message.as_ref());
                results.insert((topic.topic.0.to_string(), partition.partition_id), outcome);
            }
        }
        Ok(Ok(results))
    }
}
