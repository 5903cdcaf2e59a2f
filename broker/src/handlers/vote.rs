//! Vote (key 52): a candidate, or a prospective one (KIP-996's pre-vote, v2), asks this voter
//! for its vote in the metadata quorum, as Kafka's `KafkaRaftClient.handleVoteRequest`. Needs
//! ClusterAction on the Cluster; another cluster's id is INCONSISTENT_CLUSTER_ID and a partition
//! other than `__cluster_metadata-0` INVALID_REQUEST, for the whole request; a stale epoch is
//! FENCED_LEADER_EPOCH and a candidate outside the voter set INCONSISTENT_VOTER_SET.

use kafka_protocol::messages::vote_response::{PartitionData, TopicData};
use kafka_protocol::messages::{BrokerId, VoteRequest, VoteResponse};

use super::RequestContext;
use crate::broker::Broker;
use crate::raft::client::{Request, Response};

pub fn handle(broker: &Broker, ctx: &RequestContext, request: VoteRequest) -> VoteResponse {
    let topics = request.topics.iter().map(|t| {
        (t.topic_name.0.as_str(), t.partitions.iter().map(|p| p.partition_index).collect())
    });
    if let Err(e) = super::check_raft_request(broker, ctx, request.cluster_id.as_ref(), topics) {
        return VoteResponse::default().with_error_code(e.code());
    }
    let topic = &request.topics[0];
    let asked = &topic.partitions[0];
    let vote = Request::Vote {
        candidate_epoch: asked.replica_epoch,
        candidate_id: asked.replica_id.0,
        last_offset_epoch: asked.last_offset_epoch,
        last_offset: asked.last_offset,
        pre_vote: asked.pre_vote,
    };
    let partition = match crate::raft::answer_voter_rpc(broker, asked.replica_id.0, vote) {
        Ok(Response::Vote { error, leader_epoch, leader_id, vote_granted }) => {
            PartitionData::default()
                .with_error_code(error.map_or(0, |e| e.code()))
                .with_leader_id(BrokerId(leader_id.unwrap_or(-1)))
                .with_leader_epoch(leader_epoch)
                .with_vote_granted(vote_granted)
        }
        Ok(other) => unreachable!("a vote is answered with a vote: {other:?}"),
        Err(e) => return VoteResponse::default().with_error_code(e.code()),
    };
    VoteResponse::default().with_topics(vec![TopicData::default()
        .with_topic_name(topic.topic_name.clone())
        .with_partitions(vec![partition.with_partition_index(asked.partition_index)])])
}
