//! Topics: Metadata (listing, partitions, live brokers), DescribeTopicPartitions where the
//! broker has it (eligible leader replicas, KIP-966), DescribeConfigs of topics, CreateTopics,
//! CreatePartitions and DeleteTopics — what Kafka's admin client calls for `kafka-topics.sh`.

use kafka_protocol::messages::{
    create_partitions_request, create_topics_request, describe_configs_request,
    describe_topic_partitions_request, BrokerId, CreatePartitionsRequest, CreateTopicsRequest,
    DeleteTopicsRequest, DescribeConfigsRequest, DescribeTopicPartitionsRequest, MetadataRequest,
    TopicName,
};
use uuid::Uuid;

use crate::client::{check, s, AdminClient, AdminError, BrokerError};

/// How long the broker may take over a topic change (Kafka's admin client's default API
/// timeout is longer; a single node answers at once).
const TOPIC_CHANGE_TIMEOUT_MS: i32 = 30_000;

/// One partition as Metadata or DescribeTopicPartitions tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    /// The partition index.
    pub partition: i32,
    /// The leader's node id; `None` when the partition has no leader.
    pub leader: Option<i32>,
    /// The assigned replicas, preferred leader first.
    pub replicas: Vec<i32>,
    /// The in-sync replicas.
    pub isr: Vec<i32>,
    /// Eligible leader replicas (KIP-966); `None` when the broker was asked through Metadata,
    /// which does not carry them.
    pub elr: Option<Vec<i32>>,
    /// The last known eligible leader replicas; `None` as for `elr`.
    pub last_known_elr: Option<Vec<i32>>,
}

/// One topic with its partitions in partition order.
#[derive(Debug, Clone)]
pub struct TopicMetadata {
    /// The topic's name.
    pub name: String,
    /// The topic id (nil from brokers before topic ids).
    pub topic_id: Uuid,
    /// Whether the broker marks it internal (`__consumer_offsets`, `__transaction_state`).
    pub is_internal: bool,
    /// The partitions, sorted by index.
    pub partitions: Vec<PartitionInfo>,
}

/// Every topic and the live brokers, from one Metadata request.
#[derive(Debug, Clone)]
pub struct ClusterMetadata {
    /// The node ids of the brokers the cluster reports alive.
    pub brokers: Vec<i32>,
    /// The topics, sorted by name.
    pub topics: Vec<TopicMetadata>,
}

/// A topic to create.
#[derive(Debug, Clone, Default)]
pub struct NewTopic {
    /// The topic's name.
    pub name: String,
    /// The partition count; `None` for the broker's `num.partitions`.
    pub partitions: Option<i32>,
    /// The replication factor; `None` for the broker's `default.replication.factor`.
    pub replication_factor: Option<i16>,
    /// Explicit replicas per partition, partition 0 first (instead of the two above).
    pub replica_assignment: Vec<Vec<i32>>,
    /// Topic config overrides.
    pub configs: Vec<(String, String)>,
}

/// One topic config as DescribeConfigs returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    /// The config's name.
    pub name: String,
    /// Its value (`None` for sensitive values).
    pub value: Option<String>,
    /// Kafka's `ConfigSource` code (5 is DEFAULT_CONFIG).
    pub source: i8,
}

impl ConfigEntry {
    /// Kafka's `ConfigEntry.isDefault`: the value comes from the config's own default, not
    /// from the topic or the broker's configuration.
    pub fn is_default(&self) -> bool {
        self.source == DEFAULT_CONFIG_SOURCE
    }
}

/// Per topic (by name), what the broker answered for it.
pub type PerTopic<T> = Vec<(String, Result<T, BrokerError>)>;

/// `ConfigSource.DEFAULT_CONFIG`.
const DEFAULT_CONFIG_SOURCE: i8 = 5;
/// `ConfigResource.Type.TOPIC`.
const TOPIC_RESOURCE_TYPE: i8 = 2;

fn node_ids(ids: &[BrokerId]) -> Vec<i32> {
    ids.iter().map(|id| id.0).collect()
}

fn leader(id: BrokerId) -> Option<i32> {
    (id.0 >= 0).then_some(id.0)
}

impl AdminClient {
    /// Every topic (internal ones included) and the live brokers.
    pub fn cluster_metadata(&mut self) -> Result<ClusterMetadata, AdminError> {
        let request = MetadataRequest::default().with_topics(None);
        let response = self.call(&request)?;
        let mut topics: Vec<TopicMetadata> = response
            .topics
            .iter()
            // A topic that fails to describe (e.g. deleted meanwhile) is left out, as Kafka's
            // admin client leaves it out of listTopics.
            .filter(|t| t.error_code == 0)
            .filter_map(|t| {
                let name = t.name.as_ref()?.to_string();
                let mut partitions: Vec<PartitionInfo> = t
                    .partitions
                    .iter()
                    .map(|p| PartitionInfo {
                        partition: p.partition_index,
                        leader: leader(p.leader_id),
                        replicas: node_ids(&p.replica_nodes),
                        isr: node_ids(&p.isr_nodes),
                        elr: None,
                        last_known_elr: None,
                    })
                    .collect();
                partitions.sort_by_key(|p| p.partition);
                Some(TopicMetadata {
                    name,
                    topic_id: t.topic_id,
                    is_internal: t.is_internal,
                    partitions,
                })
            })
            .collect();
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        let brokers = response.brokers.iter().map(|b| b.node_id.0).collect();
        Ok(ClusterMetadata { brokers, topics })
    }

    /// Whether the broker speaks DescribeTopicPartitions (Kafka 3.8+), which adds eligible
    /// leader replicas to what Metadata tells.
    pub fn has_describe_topic_partitions(&self) -> bool {
        self.version::<DescribeTopicPartitionsRequest>((0, 0)).is_ok()
    }

    /// The partitions of `topics` through DescribeTopicPartitions, at most
    /// `partition_limit` per response (following the cursor), with their ELRs.
    pub fn describe_topic_partitions(
        &mut self,
        topics: &[String],
        partition_limit: i32,
    ) -> Result<PerTopic<TopicMetadata>, AdminError> {
        let mut out: PerTopic<TopicMetadata> = Vec::new();
        let mut cursor = None;
        loop {
            let request = DescribeTopicPartitionsRequest::default()
                .with_topics(
                    topics
                        .iter()
                        .map(|t| {
                            describe_topic_partitions_request::TopicRequest::default()
                                .with_name(TopicName(s(t)))
                        })
                        .collect(),
                )
                .with_response_partition_limit(partition_limit)
                .with_cursor(cursor.take());
            let response = self.send(0, &request)?;
            for t in &response.topics {
                let name = t.name.as_ref().map(|n| n.to_string()).unwrap_or_default();
                let partitions = t.partitions.iter().map(|p| PartitionInfo {
                    partition: p.partition_index,
                    leader: leader(p.leader_id),
                    replicas: node_ids(&p.replica_nodes),
                    isr: node_ids(&p.isr_nodes),
                    elr: p.eligible_leader_replicas.as_deref().map(node_ids),
                    last_known_elr: p.last_known_elr.as_deref().map(node_ids),
                });
                // A topic split over responses continues in the next one.
                match out.last_mut() {
                    Some((last, Ok(topic))) if *last == name => topic.partitions.extend(partitions),
                    _ => {
                        let described = check(t.error_code, None).map(|()| TopicMetadata {
                            name: name.clone(),
                            topic_id: t.topic_id,
                            is_internal: t.is_internal,
                            partitions: partitions.collect(),
                        });
                        out.push((name, described));
                    }
                }
            }
            match response.next_cursor {
                Some(next) => {
                    cursor = Some(
                        describe_topic_partitions_request::Cursor::default()
                            .with_topic_name(next.topic_name)
                            .with_partition_index(next.partition_index),
                    )
                }
                None => break,
            }
        }
        for (_, topic) in &mut out {
            if let Ok(topic) = topic {
                topic.partitions.sort_by_key(|p| p.partition);
            }
        }
        Ok(out)
    }

    /// The configs of each of `topics`, in the broker's order.
    pub fn describe_topic_configs(
        &mut self,
        topics: &[String],
    ) -> Result<PerTopic<Vec<ConfigEntry>>, AdminError> {
        let resources = topics
            .iter()
            .map(|t| {
                describe_configs_request::DescribeConfigsResource::default()
                    .with_resource_type(TOPIC_RESOURCE_TYPE)
                    .with_resource_name(s(t))
                    .with_configuration_keys(None)
            })
            .collect();
        let response = self.call(&DescribeConfigsRequest::default().with_resources(resources))?;
        Ok(response
            .results
            .iter()
            .map(|r| {
                let entries = check(r.error_code, r.error_message.as_ref()).map(|()| {
                    r.configs
                        .iter()
                        .map(|c| ConfigEntry {
                            name: c.name.to_string(),
                            value: c.value.as_ref().map(|v| v.to_string()),
                            source: c.config_source,
                        })
                        .collect()
                });
                (r.resource_name.to_string(), entries)
            })
            .collect())
    }

    /// Creates one topic; the broker's answer for it.
    pub fn create_topic(
        &mut self,
        topic: &NewTopic,
    ) -> Result<Result<(), BrokerError>, AdminError> {
        let assignments = topic
            .replica_assignment
            .iter()
            .enumerate()
            .map(|(index, replicas)| {
                create_topics_request::CreatableReplicaAssignment::default()
                    .with_partition_index(index as i32)
                    .with_broker_ids(replicas.iter().map(|&id| BrokerId(id)).collect())
            })
            .collect();
        let configs = topic
            .configs
            .iter()
            .map(|(name, value)| {
                create_topics_request::CreatableTopicConfig::default()
                    .with_name(s(name))
                    .with_value(Some(s(value)))
            })
            .collect();
        let creatable = create_topics_request::CreatableTopic::default()
            .with_name(TopicName(s(&topic.name)))
            .with_num_partitions(topic.partitions.unwrap_or(-1))
            .with_replication_factor(topic.replication_factor.unwrap_or(-1))
            .with_assignments(assignments)
            .with_configs(configs);
        let request = CreateTopicsRequest::default()
            .with_topics(vec![creatable])
            .with_timeout_ms(TOPIC_CHANGE_TIMEOUT_MS);
        let response = self.call(&request)?;
        let result = response
            .topics
            .first()
            .ok_or_else(|| AdminError::Protocol("CreateTopics answered no topic".into()))?;
        Ok(check(result.error_code, result.error_message.as_ref()))
    }

    /// Grows `topic` to `count` partitions, the new ones on `assignments` if given; the
    /// broker's answer.
    pub fn create_partitions(
        &mut self,
        topic: &str,
        count: i32,
        assignments: Option<&[Vec<i32>]>,
    ) -> Result<Result<(), BrokerError>, AdminError> {
        let assignments = assignments.map(|a| {
            a.iter()
                .map(|replicas| {
                    create_partitions_request::CreatePartitionsAssignment::default()
                        .with_broker_ids(replicas.iter().map(|&id| BrokerId(id)).collect())
                })
                .collect()
        });
        let request = CreatePartitionsRequest::default()
            .with_topics(vec![create_partitions_request::CreatePartitionsTopic::default()
                .with_name(TopicName(s(topic)))
                .with_count(count)
                .with_assignments(assignments)])
            .with_timeout_ms(TOPIC_CHANGE_TIMEOUT_MS);
        let response = self.call(&request)?;
        let result = response
            .results
            .first()
            .ok_or_else(|| AdminError::Protocol("CreatePartitions answered no topic".into()))?;
        Ok(check(result.error_code, result.error_message.as_ref()))
    }

    /// Deletes `topics` by name; per topic, the broker's answer.
    pub fn delete_topics(&mut self, topics: &[String]) -> Result<PerTopic<()>, AdminError> {
        let names: Vec<TopicName> = topics.iter().map(|t| TopicName(s(t))).collect();
        let version = self.version::<DeleteTopicsRequest>((1, 6))?;
        let mut request = DeleteTopicsRequest::default().with_timeout_ms(TOPIC_CHANGE_TIMEOUT_MS);
        // v6 names topics in `topics` (by name or id); earlier versions in `topic_names`.
        if version >= 6 {
            request.topics = names
                .into_iter()
                .map(|n| {
                    kafka_protocol::messages::delete_topics_request::DeleteTopicState::default()
                        .with_name(Some(n))
                })
                .collect();
        } else {
            request.topic_names = names;
        }
        let response = self.send(version, &request)?;
        Ok(response
            .responses
            .iter()
            .map(|r| {
                let name = r.name.as_ref().map(|n| n.to_string()).unwrap_or_default();
                (name, check(r.error_code, r.error_message.as_ref()))
            })
            .collect())
    }
}
