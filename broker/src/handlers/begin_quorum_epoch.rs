//! BeginQuorumEpoch (key 53): a newly elected leader of the metadata quorum tells this voter,
//! as Kafka's `KafkaRaftClient.handleBeginQuorumEpochRequest`: the voter follows it. Needs
//! ClusterAction on the Cluster; the whole request is refused as Vote's is; a stale epoch is
//! FENCED_LEADER_EPOCH and a leader outside the voter set INCONSISTENT_VOTER_SET.

use kafka_protocol::messages::begin_quorum_epoch_response::{PartitionData, TopicData};
use kafka_protocol::messages::{BeginQuorumEpochRequest, BeginQuorumEpochResponse, BrokerId};

use super::RequestContext;
use crate::broker::Broker;
use crate::raft::client::{Request, Response};

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: BeginQuorumEpochRequest,
) -> BeginQuorumEpochResponse {
    let topics = request.topics.iter().map(|t| {
        (t.topic_name.0.as_str(), t.partitions.iter().map(|p| p.partition_index).collect())
    });
    if let Err(e) = super::check_raft_request(broker, ctx, request.cluster_id.as_ref(), topics) {
        return BeginQuorumEpochResponse::default().with_error_code(e.code());
    }
    let topic = &request.topics[0];
    let asked = &topic.partitions[0];
    let begin = Request::BeginQuorumEpoch {
        leader_epoch: asked.leader_epoch,
        leader_id: asked.leader_id.0,
    };
    let partition = match crate::raft::answer_voter_rpc(broker, asked.leader_id.0, begin) {
        Ok(Response::BeginQuorumEpoch { error, leader_epoch, leader_id }) => {
            PartitionData::default()
                .with_error_code(error.map_or(0, |e| e.code()))
                .with_leader_id(BrokerId(leader_id.unwrap_or(-1)))
                .with_leader_epoch(leader_epoch)
        }
        Ok(other) => unreachable!("BeginQuorumEpoch is answered in kind: {other:?}"),
        Err(e) => return BeginQuorumEpochResponse::default().with_error_code(e.code()),
    };
    BeginQuorumEpochResponse::default().with_topics(vec![TopicData::default()
        .with_topic_name(topic.topic_name.clone())
        .with_partitions(vec![partition.with_partition_index(asked.partition_index)])])
}
