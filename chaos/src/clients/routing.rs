//! Routing by metadata, as librdkafka does: a client learns each partition's leader from a
//! Metadata response, sends to that broker, and forgets the leader — refreshing the metadata
//! before the next request — when the answer says it moved (NOT_LEADER_OR_FOLLOWER and the
//! epoch errors) or the broker cannot be reached. One connection per broker address.

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{MetadataRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::connection::Connection;
use super::consumer::{fetch, PartitionFetch};
use super::ClientContext;
use crate::hosts::broker::TOPIC;

const METADATA_VERSION: i16 = 12;

/// The pause before asking again when no broker answered the metadata request.
const REFRESH_BACKOFF: Duration = Duration::from_millis(100);

/// The partition errors that mean the client's idea of the leader is stale.
pub const STALE_LEADER_ERRORS: [ResponseError; 5] = [
    ResponseError::NotLeaderOrFollower,
    ResponseError::FencedLeaderEpoch,
    ResponseError::UnknownLeaderEpoch,
    ResponseError::LeaderNotAvailable,
    ResponseError::UnknownTopicOrPartition,
];

/// Whether a partition error means the client's idea of the leader is stale.
pub fn is_stale_leader(code: i16) -> bool {
    STALE_LEADER_ERRORS.iter().any(|e| e.code() == code)
}

/// One client's connections and its view of the partitions' leaders.
pub struct Router {
    ctx: ClientContext,
    client_id: String,
    /// Leader address per partition of the topic under test, as the last metadata said.
    leaders: BTreeMap<i32, String>,
    connections: BTreeMap<String, Connection>,
    /// Which bootstrap address the next metadata request goes to (rotating past failures).
    next_bootstrap: usize,
}

impl Router {
    /// A router for client `client_id`, knowing no leader yet.
    pub fn new(ctx: ClientContext, client_id: String) -> Self {
        Self {
            ctx,
            client_id,
            leaders: BTreeMap::new(),
            connections: BTreeMap::new(),
            next_bootstrap: 0,
        }
    }

    /// The connection to `address`, opened on first use.
    pub fn connection(&mut self, address: &str) -> &mut Connection {
        let (client_id, deadline) = (self.client_id.clone(), self.ctx.request_timeout);
        self.connections
            .entry(address.to_owned())
            .or_insert_with(|| Connection::new(address.to_owned(), client_id, deadline))
    }

    /// A connection to some broker (for requests any broker answers: InitProducerId,
    /// FindCoordinator, Metadata), rotating over the bootstrap list.
    pub fn any(&mut self) -> &mut Connection {
        let address = self.ctx.brokers[self.next_bootstrap % self.ctx.brokers.len()].clone();
        self.connection(&address)
    }

    /// The next request to [`any`](Self::any) goes to another broker (this one failed).
    pub fn rotate(&mut self) {
        self.next_bootstrap = (self.next_bootstrap + 1) % self.ctx.brokers.len();
    }

    /// The leader's address for `partition`, asking for metadata if it is not known.
    pub async fn leader(&mut self, partition: i32) -> Option<String> {
        if !self.leaders.contains_key(&partition) {
            self.refresh().await;
        }
        self.leaders.get(&partition).cloned()
    }

    /// Forgets `partition`'s leader: the next request for it refreshes the metadata first.
    pub fn forget(&mut self, partition: i32) {
        self.leaders.remove(&partition);
    }

    /// Asks one broker for the topic's metadata and keeps each partition's leader; on no
    /// answer, the next refresh asks another broker after a pause.
    pub async fn refresh(&mut self) {
        let request = MetadataRequest::default()
            .with_topics(Some(vec![MetadataRequestTopic::default()
                .with_name(Some(TopicName(StrBytes::from_static_str(TOPIC))))]))
            .with_allow_auto_topic_creation(false);
        let answer = self.any().send(&request, METADATA_VERSION, true).await;
        let Ok(Some(response)) = answer else {
            self.rotate();
            tokio::time::sleep(REFRESH_BACKOFF).await;
            return;
        };
        let brokers: BTreeMap<i32, String> = response
            .brokers
            .iter()
            .map(|b| (b.node_id.0, format!("{}:{}", b.host, b.port)))
            .collect();
        self.leaders.clear();
        for topic in &response.topics {
            for p in &topic.partitions {
                if let Some(address) = brokers.get(&p.leader_id.0) {
                    self.leaders.insert(p.partition_index, address.clone());
                }
            }
        }
    }

    /// Fetches each (partition, offset) from its leader, one request per leader; a partition
    /// whose leader is unknown, unreachable or no longer leading is left out (and forgotten).
    /// `None` when no leader answered.
    pub async fn fetch(
        &mut self,
        positions: &[(i32, i64)],
        max_wait_ms: i32,
    ) -> Option<Vec<PartitionFetch>> {
        let mut by_leader: BTreeMap<String, Vec<(i32, i64)>> = BTreeMap::new();
        for &(partition, offset) in positions {
            if let Some(leader) = self.leader(partition).await {
                by_leader.entry(leader).or_default().push((partition, offset));
            }
        }
        let mut answered = None;
        for (leader, asked) in by_leader {
            match fetch(self.connection(&leader), &asked, max_wait_ms).await {
                Some(result) => {
                    for p in &result {
                        if is_stale_leader(p.error_code) {
                            self.forget(p.partition);
                        }
                    }
                    answered.get_or_insert_with(Vec::new).extend(result);
                }
                None => {
                    for (partition, _) in asked {
                        self.forget(partition);
                    }
                }
            }
        }
        answered
    }
}
