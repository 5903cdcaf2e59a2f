//! Group consumers: members of one classic consumer group, doing what the Java consumer does
//! with the classic protocol and eager rebalancing. FindCoordinator; JoinGroup, retried once
//! with the member id the broker hands out (KIP-394); SyncGroup, where the leader computes a
//! range assignment over the member list; OffsetFetch of every assigned partition; Fetch from
//! the committed offsets; OffsetCommit with generation and member id after every poll that
//! advanced; Heartbeat every third of the session timeout; LeaveGroup when told to leave.
//! REBALANCE_IN_PROGRESS commits (the revocation commit) and rejoins; ILLEGAL_GENERATION rejoins;
//! UNKNOWN_MEMBER_ID rejoins as a new member.
//!
//! The coordinator and the fetches use separate connections, as the Java client does. A
//! commit whose outcome is unknown (no answer) ends commits for that generation: its request
//! may still reach the broker later, and a later commit overtaken by it would move the
//! committed offset back without any fault of the broker's.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedTopic;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, FindCoordinatorRequest, GroupId,
    HeartbeatRequest, JoinGroupRequest, LeaveGroupRequest, OffsetCommitRequest, OffsetFetchRequest,
    SyncGroupRequest, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use kafka_protocol::ResponseError;

use super::connection::{Connection, RequestError};
use super::consumer::apply_fetch;
use super::producer::error_name;
use super::routing::Router;
use super::{ClientContext, Phase};
use crate::history::{now_ms, CommitOutcome, Event};
use crate::hosts::broker::TOPIC;

/// The consumer group every group consumer joins.
pub const GROUP: &str = "chaos-group";
/// The assignor the members offer (and the leader runs).
const PROTOCOL: &str = "range";

const FIND_COORDINATOR_VERSION: i16 = 3;
const JOIN_GROUP_VERSION: i16 = 9;
const SYNC_GROUP_VERSION: i16 = 5;
const HEARTBEAT_VERSION: i16 = 4;
const LEAVE_GROUP_VERSION: i16 = 5;
const OFFSET_COMMIT_VERSION: i16 = 8;
const OFFSET_FETCH_VERSION: i16 = 8;

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

fn topic() -> TopicName {
    TopicName(StrBytes::from_static_str(TOPIC))
}

/// Runs group consumer `name` until the chaos phase ends. `session_timeout_ms` is also its
/// rebalance timeout; it heartbeats every third of it.
pub async fn run(ctx: ClientContext, name: String, session_timeout_ms: u64) -> turmoil::Result {
    let mut m = Member::new(ctx.clone(), name.clone(), session_timeout_ms);
    while ctx.phase() == Phase::Chaos {
        let control = ctx.control(&name);
        if control.stalled {
            // A frozen process: no polls, no heartbeats, no commits.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        }
        if control.away {
            if !m.member_id.is_empty() {
                m.leave().await;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        }
        if m.generation < 0 {
            if !m.join().await {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            continue;
        }
        if m.positions.len() < m.assignment.len() && !m.fetch_offsets().await {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if m.positions.is_empty() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        } else {
            m.poll().await;
            if !m.commit().await {
                continue;
            }
        }
        if now_ms() >= m.last_heartbeat_ms + m.session_timeout_ms / 3 {
            m.heartbeat().await;
        }
    }
    Ok(())
}

/// One member's view of the group.
struct Member {
    ctx: ClientContext,
    name: String,
    session_timeout_ms: u64,
    coordinator: Connection,
    /// Fetches from each partition's leader; FindCoordinator to any broker.
    router: Router,
    /// Empty until the broker hands one out.
    member_id: String,
    /// -1 while not in a generation (joining).
    generation: i32,
    assignment: Vec<i32>,
    /// Next offset to read, per assigned partition whose committed offset is known.
    positions: BTreeMap<i32, i64>,
    /// The last commit acknowledged per partition in this generation.
    committed: BTreeMap<i32, i64>,
    /// A generation in which a commit got no answer: no more commits in it.
    blocked_generation: Option<i32>,
    last_heartbeat_ms: u64,
}

impl Member {
    fn new(ctx: ClientContext, name: String, session_timeout_ms: u64) -> Self {
        Self {
            coordinator: Connection::new(ctx.brokers[0].clone(), name.clone(), ctx.request_timeout),
            router: Router::new(ctx.clone(), name.clone()),
            ctx: ctx.clone(),
            name: name.clone(),
            session_timeout_ms,
            member_id: String::new(),
            generation: -1,
            assignment: Vec::new(),
            positions: BTreeMap::new(),
            committed: BTreeMap::new(),
            blocked_generation: None,
            last_heartbeat_ms: 0,
        }
    }

    /// Sends JoinGroup or SyncGroup, which wait for the rebalance: up to the rebalance timeout,
    /// plus the request timeout (the Java client's rule). A failed request is recorded as `op`'s
    /// outcome; `None` when there is no response to act on.
    async fn send_rebalance<R>(
        &mut self,
        request: &R,
        version: i16,
        start_ms: u64,
        op: &str,
        generation: i32,
    ) -> Option<R::Response>
    where
        R: Request + Encodable + HeaderVersion,
        R::Response: Decodable + HeaderVersion,
    {
        let deadline = Duration::from_millis(self.session_timeout_ms) + self.ctx.request_timeout;
        match self.coordinator.send_within(request, version, true, deadline).await {
            Ok(response) => response,
            Err(e) => {
                self.record_op(start_ms, op, generation, e.to_string());
                None
            }
        }
    }

    fn record_op(&self, start_ms: u64, op: &str, generation: i32, outcome: String) {
        self.ctx.history.push(Event::GroupOp {
            start_ms,
            end_ms: now_ms(),
            client: self.name.clone(),
            group: GROUP.to_owned(),
            op: op.to_owned(),
            member_id: self.member_id.clone(),
            generation,
            outcome,
        });
    }

    /// Leaves the current generation; with `forget_member`, the member id too (it is unknown to
    /// the coordinator, so the next JoinGroup starts as a new member).
    fn rejoin(&mut self, forget_member: bool) {
        self.generation = -1;
        self.assignment.clear();
        self.positions.clear();
        self.committed.clear();
        if forget_member {
            self.member_id.clear();
        }
    }

    /// Reacts to a group error code; returns whether the member is still in its generation.
    fn on_group_error(&mut self, error: Option<ResponseError>) -> bool {
        match error {
            None => true,
            Some(ResponseError::UnknownMemberId) => {
                self.rejoin(true);
                false
            }
            Some(
                ResponseError::RebalanceInProgress
                | ResponseError::IllegalGeneration
                | ResponseError::FencedInstanceId,
            ) => {
                self.rejoin(false);
                false
            }
            // The coordinator moved: find it again, then rejoin there (its member id stands).
            Some(
                ResponseError::NotCoordinator
                | ResponseError::CoordinatorNotAvailable
                | ResponseError::CoordinatorLoadInProgress,
            ) => {
                self.rejoin(false);
                false
            }
            // Other trouble: retry later in the same generation.
            Some(_) => true,
        }
    }

    /// FindCoordinator, then JoinGroup (with KIP-394's retry) and SyncGroup. Returns whether
    /// the member now has an assignment.
    async fn join(&mut self) -> bool {
        let start_ms = now_ms();
        let request = FindCoordinatorRequest::default().with_key(sb(GROUP)).with_key_type(0);
        match self.router.any().send(&request, FIND_COORDINATOR_VERSION, true).await {
            Ok(Some(r)) if r.error_code == 0 => {
                // The coordinator is the leader of the group's offsets partition: it moves.
                let address = format!("{}:{}", r.host, r.port);
                if self.coordinator.address() != address {
                    let (name, deadline) = (self.name.clone(), self.ctx.request_timeout);
                    self.coordinator = Connection::new(address, name, deadline);
                }
            }
            Ok(Some(r)) => {
                self.router.rotate();
                self.record_op(start_ms, "find-coordinator", -1, error_name(r.error_code));
                return false;
            }
            Ok(None) => return false,
            Err(e) => {
                self.router.rotate();
                self.record_op(start_ms, "find-coordinator", -1, e.to_string());
                return false;
            }
        }
        for _ in 0..2 {
            let start_ms = now_ms();
            let request = JoinGroupRequest::default()
                .with_group_id(GroupId(sb(GROUP)))
                .with_session_timeout_ms(self.session_timeout_ms as i32)
                .with_rebalance_timeout_ms(self.session_timeout_ms as i32)
                .with_member_id(sb(&self.member_id))
                .with_protocol_type(sb("consumer"))
                .with_protocols(vec![JoinGroupRequestProtocol::default()
                    .with_name(sb(PROTOCOL))
                    .with_metadata(subscription())]);
            let Some(response) =
                self.send_rebalance(&request, JOIN_GROUP_VERSION, start_ms, "join", -1).await
            else {
                return false;
            };
            let error = ResponseError::try_from_code(response.error_code);
            if error.is_none() || error == Some(ResponseError::MemberIdRequired) {
                self.member_id = response.member_id.to_string();
            }
            let outcome =
                error.map_or_else(|| "ok".to_owned(), |_| error_name(response.error_code));
            self.record_op(start_ms, "join", response.generation_id, outcome);
            match error {
                None => {}
                Some(ResponseError::MemberIdRequired) => continue,
                Some(ResponseError::UnknownMemberId) => {
                    self.member_id.clear();
                    return false;
                }
                Some(_) => return false,
            }
            let assignments = if response.leader.as_str() == self.member_id {
                range_assign(&response.members, self.ctx.partitions)
            } else {
                Vec::new()
            };
            return self.sync(response.generation_id, response.leader.as_str(), assignments).await;
        }
        false
    }

    async fn sync(
        &mut self,
        generation: i32,
        leader: &str,
        assignments: Vec<SyncGroupRequestAssignment>,
    ) -> bool {
        let start_ms = now_ms();
        let request = SyncGroupRequest::default()
            .with_group_id(GroupId(sb(GROUP)))
            .with_generation_id(generation)
            .with_member_id(sb(&self.member_id))
            .with_protocol_type(Some(sb("consumer")))
            .with_protocol_name(Some(sb(PROTOCOL)))
            .with_assignments(assignments);
        let Some(response) =
            self.send_rebalance(&request, SYNC_GROUP_VERSION, start_ms, "sync", generation).await
        else {
            return false;
        };
        if response.error_code != 0 {
            self.record_op(start_ms, "sync", generation, error_name(response.error_code));
            let error = ResponseError::try_from_code(response.error_code);
            self.on_group_error(error);
            return false;
        }
        self.rejoin(false);
        self.generation = generation;
        self.assignment = decode_assignment(response.assignment);
        self.last_heartbeat_ms = now_ms();
        self.ctx.history.push(Event::Assigned {
            start_ms,
            end_ms: now_ms(),
            client: self.name.clone(),
            group: GROUP.to_owned(),
            member_id: self.member_id.clone(),
            generation,
            leader: leader.to_owned(),
            partitions: self.assignment.clone(),
        });
        true
    }

    /// OffsetFetch of the assigned partitions whose position is not known yet; returns whether
    /// it got an answer. No committed offset means auto.offset.reset=earliest: offset 0 (the
    /// simulator never deletes records).
    async fn fetch_offsets(&mut self) -> bool {
        let wanted: Vec<i32> =
            self.assignment.iter().copied().filter(|p| !self.positions.contains_key(p)).collect();
        let start_ms = now_ms();
        let request =
            OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
                .with_group_id(GroupId(sb(GROUP)))
                .with_member_epoch(-1)
                .with_topics(Some(vec![OffsetFetchRequestTopics::default()
                    .with_name(topic())
                    .with_partition_indexes(wanted)]))]);
        let Ok(Some(response)) = self.coordinator.send(&request, OFFSET_FETCH_VERSION, true).await
        else {
            return false;
        };
        let Some(group) = response.groups.into_iter().next() else { return false };
        if group.error_code != 0 {
            return false;
        }
        for p in group.topics.into_iter().flat_map(|t| t.partitions) {
            if p.error_code != 0 || !self.assignment.contains(&p.partition_index) {
                continue;
            }
            self.ctx.history.push(Event::OffsetFetch {
                start_ms,
                end_ms: now_ms(),
                client: self.name.clone(),
                group: GROUP.to_owned(),
                partition: p.partition_index,
                offset: p.committed_offset,
            });
            self.positions.insert(p.partition_index, p.committed_offset.max(0));
        }
        true
    }

    /// Fetches the owned partitions whose position is known, recording every poll.
    async fn poll(&mut self) {
        let positions: Vec<(i32, i64)> = self.positions.iter().map(|(p, o)| (*p, *o)).collect();
        let start_ms = now_ms();
        let Some(result) = self.router.fetch(&positions, 100).await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            return;
        };
        for p in result {
            let Some(position) = self.positions.get_mut(&p.partition) else { continue };
            apply_fetch(&self.ctx, &self.name, start_ms, p, position);
        }
    }

    /// Commits every position that moved since its last acknowledged commit. Returns whether
    /// the member is still in its generation.
    async fn commit(&mut self) -> bool {
        if self.generation < 0 || self.blocked_generation == Some(self.generation) {
            return self.generation >= 0;
        }
        let changed: Vec<(i32, i64)> = self
            .positions
            .iter()
            .filter(|(p, o)| self.committed.get(p) != Some(o))
            .map(|(p, o)| (*p, *o))
            .collect();
        if changed.is_empty() {
            return true;
        }
        let generation = self.generation;
        let start_ms = now_ms();
        let request = OffsetCommitRequest::default()
            .with_group_id(GroupId(sb(GROUP)))
            .with_generation_id_or_member_epoch(generation)
            .with_member_id(sb(&self.member_id))
            .with_topics(vec![OffsetCommitRequestTopic::default()
                .with_name(topic())
                .with_partitions(
                    changed
                        .iter()
                        .map(|(p, o)| {
                            OffsetCommitRequestPartition::default()
                                .with_partition_index(*p)
                                .with_committed_offset(*o)
                                .with_committed_leader_epoch(-1)
                                .with_committed_metadata(Some(StrBytes::new()))
                        })
                        .collect(),
                )]);
        let result = self.coordinator.send(&request, OFFSET_COMMIT_VERSION, true).await;
        let mut codes: BTreeMap<i32, i16> = BTreeMap::new();
        let cluster = self.ctx.brokers.len() > 1;
        let outcome_of = |p: i32, codes: &BTreeMap<i32, i16>| match &result {
            Err(RequestError::Connect(e)) => CommitOutcome::Fail { error: format!("connect: {e}") },
            Err(e) => CommitOutcome::Info { error: e.to_string() },
            Ok(_) => match codes.get(&p) {
                Some(0) => CommitOutcome::Ok,
                // The coordinator appended the commit and then could not see it replicated:
                // it may still be committed (Kafka answers these after the append too).
                Some(code) if after_append(*code, cluster) => {
                    CommitOutcome::Info { error: error_name(*code) }
                }
                Some(code) => CommitOutcome::Fail { error: error_name(*code) },
                None => CommitOutcome::Info { error: "partition missing from the response".into() },
            },
        };
        if let Ok(Some(response)) = &result {
            for p in response.topics.iter().flat_map(|t| &t.partitions) {
                codes.insert(p.partition_index, p.error_code);
            }
        }
        let mut group_error = None;
        for (partition, offset) in &changed {
            let outcome = outcome_of(*partition, &codes);
            match &outcome {
                CommitOutcome::Ok => {
                    self.committed.insert(*partition, *offset);
                }
                CommitOutcome::Info { .. } => self.blocked_generation = Some(generation),
                CommitOutcome::Fail { .. } => {}
            }
            // Whatever it means for the commit, the error is the group's to act on (find
            // the coordinator again, rejoin).
            let code = codes.get(partition).copied().unwrap_or(0);
            group_error = group_error.or(ResponseError::try_from_code(code));
            self.ctx.history.push(Event::Commit {
                start_ms,
                end_ms: now_ms(),
                client: self.name.clone(),
                group: GROUP.to_owned(),
                member_id: self.member_id.clone(),
                generation,
                partition: *partition,
                offset: *offset,
                outcome,
            });
        }
        self.on_group_error(group_error)
    }

    /// One heartbeat. REBALANCE_IN_PROGRESS commits (eager revocation) before rejoining.
    async fn heartbeat(&mut self) {
        let start_ms = now_ms();
        let request = HeartbeatRequest::default()
            .with_group_id(GroupId(sb(GROUP)))
            .with_generation_id(self.generation)
            .with_member_id(sb(&self.member_id));
        self.last_heartbeat_ms = start_ms;
        let code = match self.coordinator.send(&request, HEARTBEAT_VERSION, true).await {
            Ok(Some(r)) => r.error_code,
            Ok(None) => return,
            Err(e) => {
                // Unknown: try again at the next interval, still in this generation — unless
                // the coordinator cannot be reached at all: then find it again.
                self.record_op(start_ms, "heartbeat", self.generation, e.to_string());
                if matches!(e, RequestError::Connect(_)) {
                    self.rejoin(false);
                }
                return;
            }
        };
        if code == 0 {
            return;
        }
        self.record_op(start_ms, "heartbeat", self.generation, error_name(code));
        let error = ResponseError::try_from_code(code);
        if error == Some(ResponseError::RebalanceInProgress) && !self.commit().await {
            return;
        }
        self.on_group_error(error);
    }

    /// Commits, then LeaveGroup; afterwards the client is a stranger to the group.
    async fn leave(&mut self) {
        if self.generation >= 0 {
            self.commit().await;
        }
        let start_ms = now_ms();
        let generation = self.generation;
        let request =
            LeaveGroupRequest::default().with_group_id(GroupId(sb(GROUP))).with_members(vec![
                MemberIdentity::default()
                    .with_member_id(sb(&self.member_id))
                    .with_reason(Some(sb("the fault schedule says leave"))),
            ]);
        let outcome = match self.coordinator.send(&request, LEAVE_GROUP_VERSION, true).await {
            Ok(Some(r)) => {
                let code = if r.error_code != 0 {
                    r.error_code
                } else {
                    r.members.first().map_or(0, |m| m.error_code)
                };
                if code == 0 {
                    "ok".to_owned()
                } else {
                    error_name(code)
                }
            }
            Ok(None) => "no response".to_owned(),
            Err(e) => e.to_string(),
        };
        self.record_op(start_ms, "leave", generation, outcome);
        self.rejoin(true);
    }
}

/// A `ConsumerProtocolSubscription` (version 0) to the topic under test, with its version
/// prefix as the consumer protocol frames it.
fn subscription() -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_i16(0);
    ConsumerProtocolSubscription::default()
        .with_topics(vec![StrBytes::from_static_str(TOPIC)])
        .encode(&mut buf, 0)
        .expect("a subscription encodes");
    buf.freeze()
}

/// Kafka's RangeAssignor for one topic: members sorted by member id, each gets a contiguous
/// range, the first `partitions % members` one partition more.
fn range_assign(
    members: &[JoinGroupResponseMember],
    partitions: i32,
) -> Vec<SyncGroupRequestAssignment> {
    let mut ids: Vec<&str> = members.iter().map(|m| m.member_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    let count = ids.len().max(1) as i32;
    let (per, extra) = (partitions / count, partitions % count);
    ids.iter()
        .enumerate()
        .map(|(i, id)| {
            let i = i as i32;
            let first = i * per + i.min(extra);
            let owned: Vec<i32> = (first..first + per + i32::from(i < extra)).collect();
            let mut buf = BytesMut::new();
            buf.put_i16(0);
            ConsumerProtocolAssignment::default()
                .with_assigned_partitions(vec![AssignedTopic::default()
                    .with_topic(topic())
                    .with_partitions(owned)])
                .encode(&mut buf, 0)
                .expect("an assignment encodes");
            SyncGroupRequestAssignment::default()
                .with_member_id(sb(id))
                .with_assignment(buf.freeze())
        })
        .collect()
}

/// The partitions of the topic under test in a `ConsumerProtocolAssignment`; an empty or
/// undecodable assignment owns nothing.
fn decode_assignment(mut bytes: Bytes) -> Vec<i32> {
    if bytes.remaining() < 2 {
        return Vec::new();
    }
    let version = bytes.get_i16();
    let Ok(assignment) = ConsumerProtocolAssignment::decode(&mut bytes, version) else {
        return Vec::new();
    };
    let mut partitions: Vec<i32> = assignment
        .assigned_partitions
        .into_iter()
        .filter(|t| t.topic.0.as_str() == TOPIC)
        .flat_map(|t| t.partitions)
        .collect();
    partitions.sort_unstable();
    partitions.dedup();
    partitions
}

/// Whether an OffsetCommit error may come after the commit was appended, so that it may still
/// be committed: a timeout waiting for the ISR anywhere; in a cluster also NOT_COORDINATOR (the
/// offsets partition's leadership moved while waiting) and COORDINATOR_NOT_AVAILABLE (its ISR
/// shrank) — on one node those come before any append.
fn after_append(code: i16, cluster: bool) -> bool {
    code == ResponseError::RequestTimedOut.code()
        || (cluster
            && (code == ResponseError::NotCoordinator.code()
                || code == ResponseError::CoordinatorNotAvailable.code()))
}
