//! One classic-protocol consumer group: its members, generation and committed offsets.
//!
//! This module holds the state and pure helpers; the transitions that need timers, the offsets
//! log or response channels live in [`super::GroupCoordinator`].

use std::collections::{BTreeMap, BTreeSet};

use crate::runtime::Instant;
use bytes::{Buf, Bytes};
use kafka_protocol::messages::{JoinGroupResponse, SyncGroupResponse};
use tokio::sync::oneshot;

use super::offsets_topic::{GroupMetadataValue, MemberMetadataValue, OffsetValue};

/// Classic group states, named as Kafka reports them in ListGroups/DescribeGroups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum GroupState {
    /// No members; may still hold committed offsets.
    Empty,
    /// Waiting for members to (re)join.
    PreparingRebalance,
    /// Join done; waiting for the leader's assignment via SyncGroup.
    CompletingRebalance,
    /// Every member has its assignment.
    Stable,
    /// Being removed.
    Dead,
}

impl GroupState {
    /// Kafka's name for the state.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// A JoinGroup request parked until the rebalance's join phase completes.
pub(crate) struct JoinWaiter {
    pub version: i16,
    pub tx: oneshot::Sender<JoinGroupResponse>,
}

/// A SyncGroup request parked until the leader's assignment arrives.
pub(crate) struct SyncWaiter {
    pub version: i16,
    pub tx: oneshot::Sender<SyncGroupResponse>,
}

/// A member of the current (or forming) generation.
pub(crate) struct Member {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    /// (protocol name, metadata) in the member's order of preference.
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    pub join_waiter: Option<JoinWaiter>,
    pub sync_waiter: Option<SyncWaiter>,
    /// When the session expires unless the member heartbeats, joins or syncs.
    pub session_deadline: Instant,
    /// Identifies this incarnation so a stale session timer cannot expire a newer member.
    pub token: u64,
    /// Join order; the leader and member listings follow it.
    pub join_seq: u64,
}

impl Member {
    /// Metadata the member supplied for `protocol`.
    pub fn metadata_for(&self, protocol: Option<&str>) -> Bytes {
        protocol
            .and_then(|p| self.protocols.iter().find(|(n, _)| n == p))
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }

    /// Whether the member's protocols equal `protocols` (names and metadata, in order).
    pub fn same_protocols(&self, protocols: &[(String, Bytes)]) -> bool {
        self.protocols == protocols
    }
}

/// One committed offset.
pub(crate) type OffsetEntry = OffsetValue;

/// A classic group.
pub struct ClassicGroup {
    pub(crate) group_id: String,
    pub(crate) state: GroupState,
    /// Wall-clock time (ms) of the last state change; for an Empty group, when it became Empty
    /// (offset expiry counts from it). -1 when unknown (replayed from an old record version).
    pub(crate) state_timestamp: i64,
    pub(crate) protocol_type: Option<String>,
    pub(crate) protocol_name: Option<String>,
    pub(crate) generation_id: i32,
    pub(crate) leader_id: Option<String>,
    pub(crate) members: BTreeMap<String, Member>,
    /// group instance id -> member id of static members.
    pub(crate) static_members: BTreeMap<String, String>,
    /// Members told MEMBER_ID_REQUIRED that have not rejoined yet:
    /// member id -> (timer token, deadline to rejoin).
    pub(crate) pending_members: BTreeMap<String, (u64, Instant)>,
    /// (topic, partition) -> committed offset.
    pub(crate) offsets: BTreeMap<(String, i32), OffsetEntry>,
    /// Bumped on every rebalance so stale rebalance timers do nothing.
    pub(crate) rebalance_seq: u64,
    /// Join cannot complete before this (group.initial.rebalance.delay.ms for new groups).
    pub(crate) rebalance_earliest: Option<Instant>,
}

impl ClassicGroup {
    /// A new Empty group.
    pub fn new(group_id: String, now_ms: i64) -> Self {
        Self {
            group_id,
            state: GroupState::Empty,
            state_timestamp: now_ms,
            protocol_type: None,
            protocol_name: None,
            generation_id: 0,
            leader_id: None,
            members: BTreeMap::new(),
            static_members: BTreeMap::new(),
            pending_members: BTreeMap::new(),
            offsets: BTreeMap::new(),
            rebalance_seq: 0,
            rebalance_earliest: None,
        }
    }

    /// Current state.
    pub fn state(&self) -> GroupState {
        self.state
    }

    pub(crate) fn transition(&mut self, state: GroupState, now_ms: i64) {
        self.state = state;
        self.state_timestamp = now_ms;
    }

    /// Members in join order.
    pub(crate) fn members_in_order(&self) -> Vec<&Member> {
        let mut v: Vec<&Member> = self.members.values().collect();
        v.sort_by_key(|m| m.join_seq);
        v
    }

    /// Protocols every current member supports.
    fn candidate_protocols(&self) -> BTreeSet<String> {
        let mut iter = self.members.values();
        let Some(first) = iter.next() else { return BTreeSet::new() };
        let mut set: BTreeSet<String> = first.protocols.iter().map(|(n, _)| n.clone()).collect();
        for m in iter {
            set.retain(|p| m.protocols.iter().any(|(n, _)| n == p));
        }
        set
    }

    /// Whether a member with these protocols could join: protocol type must match and at least
    /// one protocol must be supported by every existing member.
    pub(crate) fn supports_protocols(
        &self,
        protocol_type: &str,
        protocols: &[(String, Bytes)],
    ) -> bool {
        if self.members.is_empty() {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        if self.protocol_type.as_deref() != Some(protocol_type) {
            return false;
        }
        let candidates = self.candidate_protocols();
        protocols.iter().any(|(n, _)| candidates.contains(n))
    }

    /// Kafka's vote: each member votes for its most preferred protocol that every member supports;
    /// the most votes wins (ties go to the lexicographically smallest name, for determinism).
    pub(crate) fn select_protocol(&self) -> Option<String> {
        let candidates = self.candidate_protocols();
        let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
        for m in self.members.values() {
            if let Some((n, _)) = m.protocols.iter().find(|(n, _)| candidates.contains(n)) {
                *votes.entry(n.as_str()).or_default() += 1;
            }
        }
        let max = votes.values().copied().max()?;
        votes.into_iter().find(|(_, c)| *c == max).map(|(n, _)| n.to_owned())
    }

    /// Every member has a parked JoinGroup and no MEMBER_ID_REQUIRED member is outstanding.
    pub(crate) fn all_members_joined(&self) -> bool {
        self.pending_members.is_empty() && self.members.values().all(|m| m.join_waiter.is_some())
    }

    /// Max rebalance timeout of the members; bounds how long the join phase waits.
    pub(crate) fn rebalance_timeout_ms(&self) -> i32 {
        self.members.values().map(|m| m.rebalance_timeout_ms).max().unwrap_or(0)
    }

    /// Topics the members subscribe to, if every member's metadata parses as a consumer
    /// subscription; `None` means unknown (treat as subscribed to everything).
    pub(crate) fn subscribed_topics(&self) -> Option<BTreeSet<String>> {
        if self.protocol_type.as_deref() != Some("consumer") {
            return None;
        }
        let mut topics = BTreeSet::new();
        for m in self.members.values() {
            let meta = m.metadata_for(self.protocol_name.as_deref());
            topics.extend(parse_subscription_topics(meta)?);
        }
        Some(topics)
    }

    /// The GroupMetadata record for the current generation.
    pub(crate) fn metadata_value(&self) -> GroupMetadataValue {
        GroupMetadataValue {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation: self.generation_id,
            protocol: self.protocol_name.clone(),
            leader: self.leader_id.clone(),
            current_state_timestamp: self.state_timestamp,
            members: self
                .members_in_order()
                .into_iter()
                .map(|m| MemberMetadataValue {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout: m.rebalance_timeout_ms,
                    session_timeout: m.session_timeout_ms,
                    subscription: m.metadata_for(self.protocol_name.as_deref()),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        }
    }
}

/// Reads the topic list of a `ConsumerProtocolSubscription` (every version starts with
/// int16 version, then an array of strings).
pub(crate) fn parse_subscription_topics(mut b: Bytes) -> Option<Vec<String>> {
    if b.remaining() < 6 {
        return None;
    }
    let _version = b.get_i16();
    let n = b.get_i32();
    let mut topics = Vec::new();
    for _ in 0..n.max(0) {
        if b.remaining() < 2 {
            return None;
        }
        let len = b.get_i16();
        if len < 0 || b.remaining() < len as usize {
            return None;
        }
        topics.push(String::from_utf8(b.split_to(len as usize).to_vec()).ok()?);
    }
    Some(topics)
}
