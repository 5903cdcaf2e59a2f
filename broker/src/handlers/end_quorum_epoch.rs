//! EndQuorumEpoch (key 54): the metadata quorum's leader resigns, naming its preferred
//! successors, as Kafka's `KafkaRaftClient.handleEndQuorumEpochRequest`: a preferred successor
//! stands soon, the best first. Needs
//! ClusterAction on the Cluster; the whole request is refused as Vote's is; a stale epoch is
//! FENCED_LEADER_EPOCH and a leader outside the voter set INCONSISTENT_VOTER_SET.

use kafka_protocol::messages::end_quorum_epoch_response::{PartitionData, TopicData};
use kafka_protocol::messages::{BrokerId, EndQuorumEpochRequest, EndQuorumEpochResponse};

use super::RequestContext;
use crate::broker::Broker;
use crate::raft::client::{Request, Response};

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: EndQuorumEpochRequest,
) -> EndQuorumEpochResponse {
    let topics = request.topics.iter().map(|t| {
        (t.topic_name.0.as_str(), t.partitions.iter().map(|p| p.partition_index).collect())
    });
    if let Err(e) = super::check_raft_request(broker, ctx, request.cluster_id.as_ref(), topics) {
        return EndQuorumEpochResponse::default().with_error_code(e.code());
    }
    let topic = &request.topics[0];
    let asked = &topic.partitions[0];
    // v1 names the successors with their directories, v0 by id.
    let preferred_successors = if asked.preferred_candidates.is_empty() {
        asked.preferred_successors.clone()
    } else {
        asked.preferred_candidates.iter().map(|c| c.candidate_id.0).collect()
    };
    let end = Request::EndQuorumEpoch {
        leader_epoch: asked.leader_epoch,
        leader_id: asked.leader_id.0,
        preferred_successors,
    };
    let partition = match crate::raft::answer_voter_rpc(broker, asked.leader_id.0, end) {
        Ok(Response::EndQuorumEpoch { error, leader_epoch, leader_id }) => PartitionData::default()
            .with_error_code(error.map_or(0, |e| e.code()))
            .with_leader_id(BrokerId(leader_id.unwrap_or(-1)))
            .with_leader_epoch(leader_epoch),
        Ok(other) => unreachable!("EndQuorumEpoch is answered in kind: {other:?}"),
        Err(e) => return EndQuorumEpochResponse::default().with_error_code(e.code()),
    };
    EndQuorumEpochResponse::default().with_topics(vec![TopicData::default()
        .with_topic_name(topic.topic_name.clone())
        .with_partitions(vec![partition.with_partition_index(asked.partition_index)])])
}
