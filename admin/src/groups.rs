//! Consumer groups: what Kafka's admin client calls for `kafka-consumer-groups.sh` — ListGroups
//! (on every broker), FindCoordinator, DescribeGroups, OffsetFetch, OffsetCommit (as
//! `alterConsumerGroupOffsets`: generation -1, no member id), DeleteGroups and OffsetDelete on
//! the group's coordinator, ListOffsets on each partition's leader, Metadata for the brokers and
//! the partitions.
//!
//! A [`GroupCluster`] routes each request to the broker Kafka's admin client would send it to,
//! so the same code serves a single kafka-lab-broker and a multi-node Apache Kafka cluster.

use std::collections::BTreeMap;

use bytes::Bytes;
use kafka_protocol::messages::{
    list_offsets_request, metadata_request, offset_commit_request, offset_delete_request,
    offset_fetch_request, BrokerId, ConsumerProtocolAssignment, DeleteGroupsRequest,
    DescribeGroupsRequest, FindCoordinatorRequest, GroupId, ListGroupsRequest, ListOffsetsRequest,
    MetadataRequest, OffsetCommitRequest, OffsetDeleteRequest, OffsetFetchRequest, TopicName,
};
use kafka_protocol::protocol::Decodable;

use crate::client::{check, s, AdminClient, AdminError, BrokerError};
use crate::properties::ClientProperties;

/// A topic and a partition index.
pub type TopicPartition = (String, i32);

/// A broker as Metadata and FindCoordinator name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The node id.
    pub id: i32,
    /// The advertised host.
    pub host: String,
    /// The advertised port.
    pub port: i32,
}

/// One group as ListGroups lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    /// The group id.
    pub group_id: String,
    /// The state in Kafka's spelling (`Stable`, `Empty`, …); `None` before ListGroups v4.
    pub state: Option<String>,
    /// The group type (`classic`, `consumer`); `None` before ListGroups v5.
    pub group_type: Option<String>,
}

/// One member of a group as DescribeGroups describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    /// The member id the coordinator gave it.
    pub member_id: String,
    /// The static member's `group.instance.id`, if any.
    pub group_instance_id: Option<String>,
    /// The member's `client.id`.
    pub client_id: String,
    /// The member's host as the coordinator saw it (`/127.0.0.1`).
    pub host: String,
    /// Its assigned partitions, decoded from the consumer protocol's assignment.
    pub assignment: Vec<TopicPartition>,
}

/// One group as DescribeGroups describes it, with the coordinator it was asked on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    /// The group id.
    pub group_id: String,
    /// The state in Kafka's spelling; `Dead` for a group that does not exist.
    pub state: String,
    /// The protocol type (`consumer` for consumers).
    pub protocol_type: String,
    /// The assignor chosen (`range`, `cooperative-sticky`, …); empty unless Stable.
    pub assignor: String,
    /// The members in the coordinator's order.
    pub members: Vec<MemberDescription>,
    /// The group's coordinator.
    pub coordinator: Node,
}

/// A committed offset as OffsetFetch returns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommittedOffset {
    /// The committed offset.
    pub offset: i64,
    /// The leader epoch committed with it, if any.
    pub leader_epoch: Option<i32>,
}

/// Which offset ListOffsets is asked for (Kafka's `OffsetSpec`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    /// The log start offset.
    Earliest,
    /// The log end offset (the high watermark).
    Latest,
    /// The first offset whose timestamp is at or after this many ms since the epoch.
    Timestamp(i64),
}

impl OffsetSpec {
    fn timestamp(self) -> i64 {
        match self {
            OffsetSpec::Earliest => -2,
            OffsetSpec::Latest => -1,
            OffsetSpec::Timestamp(ms) => ms,
        }
    }
}

/// One partition as Metadata tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLeader {
    /// The partition index.
    pub partition: i32,
    /// The leader's node id; `None` without a leader.
    pub leader: Option<i32>,
}

/// `Err` with the broker's answer, `Ok` with the value.
pub type Answer<T> = Result<T, BrokerError>;

/// Per partition, the broker's answer.
pub type PartitionAnswers = Vec<(TopicPartition, Answer<()>)>;

/// What OffsetDelete answered: the group-level error, then each partition's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetDeleteResult {
    /// The top-level error code (0 for none).
    pub error: Answer<()>,
    /// Each partition's answer.
    pub partitions: PartitionAnswers,
}

/// Connections to a cluster: the bootstrap broker, then each broker a request must reach.
pub struct GroupCluster {
    bootstrap: AdminClient,
    props: ClientProperties,
    nodes: BTreeMap<i32, Node>,
    connections: BTreeMap<i32, AdminClient>,
}

/// `FindCoordinator`'s key type for groups.
const GROUP_KEY_TYPE: i8 = 0;

fn node_address(node: &Node) -> String {
    if node.host.contains(':') {
        format!("[{}]:{}", node.host, node.port)
    } else {
        format!("{}:{}", node.host, node.port)
    }
}

impl GroupCluster {
    /// Connects to the first reachable bootstrap server and reads the brokers.
    pub fn connect(bootstrap: &str, props: &ClientProperties) -> Result<Self, AdminError> {
        let client = AdminClient::connect(bootstrap, props)?;
        let mut cluster = GroupCluster {
            bootstrap: client,
            props: props.clone(),
            nodes: BTreeMap::new(),
            connections: BTreeMap::new(),
        };
        cluster.partitions(&[])?;
        Ok(cluster)
    }

    /// The connection to node `id`, opened on first use.
    fn node(&mut self, id: i32) -> Result<&mut AdminClient, AdminError> {
        if !self.connections.contains_key(&id) {
            let node = self.nodes.get(&id).cloned().ok_or_else(|| {
                AdminError::Connection(format!("broker {id} is not in the cluster's metadata"))
            })?;
            let client = AdminClient::connect(&node_address(&node), &self.props)?;
            self.connections.insert(id, client);
        }
        Ok(self.connections.get_mut(&id).expect("inserted above"))
    }

    /// The partitions of `topics` with their leaders (none when empty: then only the brokers
    /// are refreshed), refreshing the brokers; per topic, the broker's answer.
    pub fn partitions(
        &mut self,
        topics: &[String],
    ) -> Result<BTreeMap<String, Answer<Vec<PartitionLeader>>>, AdminError> {
        let wanted = Some(
            topics
                .iter()
                .map(|t| {
                    metadata_request::MetadataRequestTopic::default()
                        .with_name(Some(TopicName(s(t))))
                })
                .collect(),
        );
        let request =
            MetadataRequest::default().with_topics(wanted).with_allow_auto_topic_creation(false);
        let response = self.bootstrap.call(&request)?;
        self.nodes = response
            .brokers
            .iter()
            .map(|b| {
                let node = Node { id: b.node_id.0, host: b.host.to_string(), port: b.port };
                (b.node_id.0, node)
            })
            .collect();
        Ok(response
            .topics
            .iter()
            .filter_map(|t| {
                let name = t.name.as_ref()?.to_string();
                let answer = check(t.error_code, None).map(|()| {
                    let mut partitions: Vec<PartitionLeader> = t
                        .partitions
                        .iter()
                        .map(|p| PartitionLeader {
                            partition: p.partition_index,
                            leader: (p.leader_id.0 >= 0).then_some(p.leader_id.0),
                        })
                        .collect();
                    partitions.sort_by_key(|p| p.partition);
                    partitions
                });
                Some((name, answer))
            })
            .collect())
    }

    /// Every consumer group on every broker (ListGroups; classic groups of other protocol
    /// types, such as Connect's, are left out as Kafka's `listConsumerGroups` leaves them),
    /// only those in `states` (Kafka's spelling, any case) when given, sorted by id.
    pub fn list_groups(&mut self, states: &[String]) -> Result<Vec<GroupListing>, AdminError> {
        let ids: Vec<i32> = self.nodes.keys().copied().collect();
        let mut groups = Vec::new();
        for id in ids {
            let client = self.node(id)?;
            let version = client.version::<ListGroupsRequest>((0, 5))?;
            let mut request = ListGroupsRequest::default();
            if version >= 4 {
                request.states_filter = states.iter().map(|state| s(state)).collect();
            }
            if version >= 5 {
                request.types_filter = vec![s("consumer"), s("classic")];
            }
            let response = client.send(version, &request)?;
            check(response.error_code, None).map_err(|e| AdminError::Protocol(e.to_string()))?;
            for g in response.groups {
                let protocol_type = g.protocol_type.to_string();
                if !(protocol_type.is_empty() || protocol_type == "consumer") {
                    continue;
                }
                let state = (version >= 4).then(|| g.group_state.to_string());
                if version < 4
                    && !states.is_empty()
                    && !state
                        .as_ref()
                        .is_some_and(|s| states.iter().any(|w| w.eq_ignore_ascii_case(s)))
                {
                    continue;
                }
                groups.push(GroupListing {
                    group_id: g.group_id.0.to_string(),
                    state,
                    group_type: (version >= 5).then(|| g.group_type.to_string()),
                });
            }
        }
        groups.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        groups.dedup_by(|a, b| a.group_id == b.group_id);
        Ok(groups)
    }

    /// The coordinator of `group` (FindCoordinator).
    pub fn coordinator(&mut self, group: &str) -> Result<Answer<Node>, AdminError> {
        let version = self.bootstrap.version::<FindCoordinatorRequest>((0, 6))?;
        let request = if version >= 4 {
            FindCoordinatorRequest::default()
                .with_key_type(GROUP_KEY_TYPE)
                .with_coordinator_keys(vec![s(group)])
        } else {
            FindCoordinatorRequest::default().with_key(s(group)).with_key_type(GROUP_KEY_TYPE)
        };
        let response = self.bootstrap.send(version, &request)?;
        if version >= 4 {
            let c = response.coordinators.first().ok_or_else(|| {
                AdminError::Protocol("FindCoordinator answered no coordinator".into())
            })?;
            return Ok(check(c.error_code, c.error_message.as_ref()).map(|()| Node {
                id: c.node_id.0,
                host: c.host.to_string(),
                port: c.port,
            }));
        }
        Ok(check(response.error_code, response.error_message.as_ref()).map(|()| Node {
            id: response.node_id.0,
            host: response.host.to_string(),
            port: response.port,
        }))
    }

    /// The connection to `group`'s coordinator, with the coordinator.
    fn coordinator_client(
        &mut self,
        group: &str,
    ) -> Result<Answer<(Node, &mut AdminClient)>, AdminError> {
        let node = match self.coordinator(group)? {
            Ok(node) => node,
            Err(e) => return Ok(Err(e)),
        };
        self.nodes.entry(node.id).or_insert_with(|| node.clone());
        let client = self.node(node.id)?;
        Ok(Ok((node, client)))
    }

    /// Describes `group` on its coordinator (DescribeGroups). A group that does not exist is
    /// `Dead`, as the classic coordinator describes it.
    pub fn describe_group(&mut self, group: &str) -> Result<Answer<GroupDescription>, AdminError> {
        let (node, client) = match self.coordinator_client(group)? {
            Ok(found) => found,
            Err(e) => return Ok(Err(e)),
        };
        let version = client.version::<DescribeGroupsRequest>((0, 6))?;
        let request = DescribeGroupsRequest::default().with_groups(vec![GroupId(s(group))]);
        let response = client.send(version, &request)?;
        let g = response
            .groups
            .into_iter()
            .next()
            .ok_or_else(|| AdminError::Protocol("DescribeGroups answered no group".into()))?;
        // v6 answers GROUP_ID_NOT_FOUND ("Group g not found.") where earlier versions answer
        // Dead. Its other GROUP_ID_NOT_FOUND ("Group g is not a classic group.", a KIP-848
        // group, which only ConsumerGroupDescribe describes) stays an error.
        let message = g.error_message.as_ref().map(|m| m.to_string()).unwrap_or_default();
        if g.error_code == kafka_protocol::error::ResponseError::GroupIdNotFound.code()
            && (message.is_empty() || message.ends_with(" not found."))
        {
            return Ok(Ok(GroupDescription {
                group_id: group.to_owned(),
                state: "Dead".into(),
                protocol_type: String::new(),
                assignor: String::new(),
                members: Vec::new(),
                coordinator: node,
            }));
        }
        if let Err(e) = check(g.error_code, g.error_message.as_ref()) {
            return Ok(Err(e));
        }
        let consumer = g.protocol_type.is_empty() || g.protocol_type.as_str() == "consumer";
        let members = g
            .members
            .iter()
            .map(|m| MemberDescription {
                member_id: m.member_id.to_string(),
                group_instance_id: m.group_instance_id.as_ref().map(|i| i.to_string()),
                client_id: m.client_id.to_string(),
                host: m.client_host.to_string(),
                assignment: if consumer { decode_assignment(&m.member_assignment) } else { vec![] },
            })
            .collect();
        Ok(Ok(GroupDescription {
            group_id: g.group_id.0.to_string(),
            state: g.group_state.to_string(),
            protocol_type: g.protocol_type.to_string(),
            assignor: g.protocol_data.to_string(),
            members,
            coordinator: node,
        }))
    }

    /// Every committed offset of `group` (OffsetFetch for all partitions), sorted.
    pub fn committed_offsets(
        &mut self,
        group: &str,
    ) -> Result<Answer<BTreeMap<TopicPartition, CommittedOffset>>, AdminError> {
        let (_, client) = match self.coordinator_client(group)? {
            Ok(found) => found,
            Err(e) => return Ok(Err(e)),
        };
        let version = client.version::<OffsetFetchRequest>((1, 9))?;
        let mut request = OffsetFetchRequest::default();
        if version >= 8 {
            request.groups = vec![offset_fetch_request::OffsetFetchRequestGroup::default()
                .with_group_id(GroupId(s(group)))
                .with_topics(None)];
        } else if version >= 2 {
            request.group_id = GroupId(s(group));
            request.topics = None;
        } else {
            // v1 cannot ask for all partitions; v2 is in every broker this tool targets.
            return Err(AdminError::Unsupported(kafka_protocol::messages::ApiKey::OffsetFetch));
        }
        let response = client.send(version, &request)?;
        // v8+ answers per group, older versions at the top level, with the same partition
        // fields: one reading of them for both (the two are distinct generated types).
        macro_rules! committed {
            ($topics:expr) => {
                $topics
                    .iter()
                    .flat_map(|t| {
                        t.partitions.iter().map(|p| CommittedRow {
                            topic: t.name.0.to_string(),
                            partition: p.partition_index,
                            offset: p.committed_offset,
                            leader_epoch: p.committed_leader_epoch,
                            error_code: p.error_code,
                        })
                    })
                    .collect::<Vec<_>>()
            };
        }
        let (error_code, rows) = if version >= 8 {
            let g = response
                .groups
                .first()
                .ok_or_else(|| AdminError::Protocol("OffsetFetch answered no group".into()))?;
            (g.error_code, committed!(g.topics))
        } else {
            (response.error_code, committed!(response.topics))
        };
        if let Err(e) = check(error_code, None) {
            return Ok(Err(e));
        }
        let mut offsets = BTreeMap::new();
        for row in rows {
            // Kafka's admin client leaves out partitions without an offset and those in error.
            if row.error_code == 0 && row.offset >= 0 {
                let leader_epoch = (row.leader_epoch >= 0).then_some(row.leader_epoch);
                let offset = CommittedOffset { offset: row.offset, leader_epoch };
                offsets.insert((row.topic, row.partition), offset);
            }
        }
        Ok(Ok(offsets))
    }

    /// The offsets `spec` names for `partitions` (ListOffsets on each leader). A partition
    /// without a leader, unknown, or answered with an error is missing from the result.
    pub fn list_offsets(
        &mut self,
        partitions: &[TopicPartition],
        spec: OffsetSpec,
    ) -> Result<BTreeMap<TopicPartition, i64>, AdminError> {
        let mut topics: Vec<String> = partitions.iter().map(|(t, _)| t.clone()).collect();
        topics.sort();
        topics.dedup();
        if topics.is_empty() {
            return Ok(BTreeMap::new());
        }
        let layout = self.partitions(&topics)?;
        let mut by_leader: BTreeMap<i32, BTreeMap<String, Vec<i32>>> = BTreeMap::new();
        for (topic, partition) in partitions {
            let leader = layout
                .get(topic)
                .and_then(|a| a.as_ref().ok())
                .and_then(|ps| ps.iter().find(|p| p.partition == *partition))
                .and_then(|p| p.leader);
            if let Some(leader) = leader {
                by_leader
                    .entry(leader)
                    .or_default()
                    .entry(topic.clone())
                    .or_default()
                    .push(*partition);
            }
        }
        let mut out = BTreeMap::new();
        for (leader, topics) in by_leader {
            let client = self.node(leader)?;
            let version = client.version::<ListOffsetsRequest>((1, 9))?;
            let request = ListOffsetsRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_isolation_level(0)
                .with_topics(
                    topics
                        .iter()
                        .map(|(topic, ps)| {
                            list_offsets_request::ListOffsetsTopic::default()
                                .with_name(TopicName(s(topic)))
                                .with_partitions(
                                    ps.iter()
                                        .map(|&p| {
                                            list_offsets_request::ListOffsetsPartition::default()
                                                .with_partition_index(p)
                                                .with_current_leader_epoch(-1)
                                                .with_timestamp(spec.timestamp())
                                        })
                                        .collect(),
                                )
                        })
                        .collect(),
                );
            let response = client.send(version, &request)?;
            for t in &response.topics {
                for p in &t.partitions {
                    if p.error_code == 0 {
                        out.insert((t.name.0.to_string(), p.partition_index), p.offset);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Commits `offsets` for `group` as Kafka's `alterConsumerGroupOffsets` does (OffsetCommit
    /// with generation -1 and no member id: the coordinator accepts it only for an empty or
    /// unknown group); per partition, the broker's answer.
    pub fn alter_offsets(
        &mut self,
        group: &str,
        offsets: &BTreeMap<TopicPartition, i64>,
    ) -> Result<Answer<PartitionAnswers>, AdminError> {
        let (_, client) = match self.coordinator_client(group)? {
            Ok(found) => found,
            Err(e) => return Ok(Err(e)),
        };
        let version = client.version::<OffsetCommitRequest>((2, 9))?;
        let mut topics: BTreeMap<&str, Vec<offset_commit_request::OffsetCommitRequestPartition>> =
            BTreeMap::new();
        for ((topic, partition), offset) in offsets {
            topics.entry(topic).or_default().push(
                offset_commit_request::OffsetCommitRequestPartition::default()
                    .with_partition_index(*partition)
                    .with_committed_offset(*offset)
                    .with_committed_leader_epoch(-1)
                    .with_committed_metadata(Some(s(""))),
            );
        }
        let request = OffsetCommitRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_generation_id_or_member_epoch(-1)
            .with_member_id(s(""))
            .with_group_instance_id(None)
            .with_retention_time_ms(-1)
            .with_topics(
                topics
                    .into_iter()
                    .map(|(topic, partitions)| {
                        offset_commit_request::OffsetCommitRequestTopic::default()
                            .with_name(TopicName(s(topic)))
                            .with_partitions(partitions)
                    })
                    .collect(),
            );
        let response = client.send(version, &request)?;
        Ok(Ok(response
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions.iter().map(move |p| {
                    ((t.name.0.to_string(), p.partition_index), check(p.error_code, None))
                })
            })
            .collect()))
    }

    /// Deletes `group` on its coordinator (DeleteGroups); the broker's answer.
    pub fn delete_group(&mut self, group: &str) -> Result<Answer<()>, AdminError> {
        let (_, client) = match self.coordinator_client(group)? {
            Ok(found) => found,
            Err(e) => return Ok(Err(e)),
        };
        let version = client.version::<DeleteGroupsRequest>((0, 2))?;
        let request = DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s(group))]);
        let response = client.send(version, &request)?;
        let r = response
            .results
            .first()
            .ok_or_else(|| AdminError::Protocol("DeleteGroups answered no group".into()))?;
        Ok(check(r.error_code, None))
    }

    /// Deletes `group`'s committed offsets of `partitions` (OffsetDelete).
    pub fn delete_offsets(
        &mut self,
        group: &str,
        partitions: &[TopicPartition],
    ) -> Result<OffsetDeleteResult, AdminError> {
        let (_, client) = match self.coordinator_client(group)? {
            Ok(found) => found,
            Err(e) => {
                let partitions = partitions.iter().map(|tp| (tp.clone(), Err(e.clone()))).collect();
                return Ok(OffsetDeleteResult { error: Err(e), partitions });
            }
        };
        let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for (topic, partition) in partitions {
            topics.entry(topic).or_default().push(*partition);
        }
        let request = OffsetDeleteRequest::default().with_group_id(GroupId(s(group))).with_topics(
            topics
                .into_iter()
                .map(|(topic, ps)| {
                    offset_delete_request::OffsetDeleteRequestTopic::default()
                        .with_name(TopicName(s(topic)))
                        .with_partitions(
                            ps.into_iter()
                                .map(|p| {
                                    offset_delete_request::OffsetDeleteRequestPartition::default()
                                        .with_partition_index(p)
                                })
                                .collect(),
                        )
                })
                .collect(),
        );
        let response = client.send(0, &request)?;
        let error = check(response.error_code, None);
        let answered: BTreeMap<TopicPartition, Answer<()>> = response
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions.iter().map(move |p| {
                    ((t.name.0.to_string(), p.partition_index), check(p.error_code, None))
                })
            })
            .collect();
        // A group-level error fails every partition with it, as the admin client's futures do.
        let partitions = partitions
            .iter()
            .map(|tp| {
                let answer = match &error {
                    Err(e) => Err(e.clone()),
                    Ok(()) => answered.get(tp).cloned().unwrap_or(Ok(())),
                };
                (tp.clone(), answer)
            })
            .collect();
        Ok(OffsetDeleteResult { error, partitions })
    }
}

/// The partitions of a consumer protocol assignment (any version); none if it does not decode,
/// as Kafka's admin client shows a member whose assignment it cannot read.
pub fn decode_assignment(bytes: &Bytes) -> Vec<TopicPartition> {
    if bytes.len() < 2 {
        return Vec::new();
    }
    let mut buf = bytes.clone();
    let version = bytes::Buf::get_i16(&mut buf);
    // Versions above 3 decode as 3, as the consumer protocol's forward compatibility requires.
    let version = version.clamp(0, 3);
    match ConsumerProtocolAssignment::decode(&mut buf, version) {
        Ok(assignment) => {
            let mut partitions: Vec<TopicPartition> = assignment
                .assigned_partitions
                .iter()
                .flat_map(|t| t.partitions.iter().map(|&p| (t.topic.0.to_string(), p)))
                .collect();
            partitions.sort();
            partitions
        }
        Err(_) => Vec::new(),
    }
}

/// One partition of an OffsetFetch response, whichever version answered.
struct CommittedRow {
    topic: String,
    partition: i32,
    offset: i64,
    leader_epoch: i32,
    error_code: i16,
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedTopic;
    use kafka_protocol::protocol::Encodable;

    #[test]
    fn assignments_decode_at_every_version() {
        for version in 0..=3i16 {
            let assignment = ConsumerProtocolAssignment::default().with_assigned_partitions(vec![
                AssignedTopic::default()
                    .with_topic(TopicName(s("orders")))
                    .with_partitions(vec![2, 0]),
                AssignedTopic::default().with_topic(TopicName(s("logs"))).with_partitions(vec![1]),
            ]);
            let mut buf = bytes::BytesMut::new();
            bytes::BufMut::put_i16(&mut buf, version);
            assignment.encode(&mut buf, version).unwrap();
            assert_eq!(
                decode_assignment(&buf.freeze()),
                [("logs".to_owned(), 1), ("orders".to_owned(), 0), ("orders".to_owned(), 2)]
            );
        }
        assert!(decode_assignment(&Bytes::new()).is_empty());
        assert!(decode_assignment(&Bytes::from_static(&[0, 1, 0])).is_empty());
    }
}
