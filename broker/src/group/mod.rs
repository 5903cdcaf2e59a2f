//! Consumer-group coordinator for Kafka's classic group protocol (JoinGroup/SyncGroup/Heartbeat/
//! LeaveGroup) plus offset storage, persisted to `__consumer_offsets` in Kafka's own record format.
//!
//! Concurrency: one `std::sync::Mutex` over all groups, never held across `.await`. Requests that
//! must wait (JoinGroup until the join phase completes, SyncGroup until the leader's assignment)
//! park a `oneshot::Sender` in the member and await the receiver after the lock is released.
//!
//! Timers: every member (and every MEMBER_ID_REQUIRED pending member) gets one spawned tokio task
//! that sleeps until its session deadline, re-reads the deadline under the lock and either sleeps
//! again (heartbeats only move the deadline; they spawn nothing) or expires the member. Every
//! rebalance spawns one task that completes the join phase at the initial-delay point and at the
//! rebalance timeout. Tasks hold a `Weak` to the coordinator and carry a token/sequence number so
//! a stale task is a no-op. All of this runs on `runtime` (tokio's clock), so turmoil controls it.

/// Builds a kafka-protocol message (they are `#[non_exhaustive]`, so struct literals are not
/// allowed outside the crate): default value, then the named fields assigned.
macro_rules! build {
    ($ty:ident { $($field:ident : $val:expr),* $(,)? }) => {{
        let mut v = $ty::default();
        $( v.$field = $val; )*
        v
    }};
}

pub mod classic_group;
pub mod offsets_topic;
pub mod partitioner;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{
    DeleteGroupsRequest, DeleteGroupsResponse, DescribeGroupsRequest, DescribeGroupsResponse,
    GroupId, HeartbeatRequest, HeartbeatResponse, JoinGroupRequest, JoinGroupResponse,
    LeaveGroupRequest, LeaveGroupResponse, ListGroupsRequest, ListGroupsResponse,
    OffsetCommitRequest, OffsetCommitResponse, OffsetDeleteRequest, OffsetDeleteResponse,
    OffsetFetchRequest, OffsetFetchResponse, SyncGroupRequest, SyncGroupResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::clock::SharedClock;
use crate::runtime::{self, Instant};
use classic_group::{ClassicGroup, GroupState, JoinWaiter, Member, SyncWaiter};
use offsets_topic::{OffsetValue, RecordKey};

/// Kafka's `offset.metadata.max.bytes` default.
const MAX_OFFSET_METADATA: usize = 4096;

/// Durable storage for `__consumer_offsets` records. A commit is acknowledged only after
/// `append` returns `Ok`.
pub trait OffsetsLog: Send + Sync {
    /// Appends `(key, value)` records to `partition`; a `None` value is a tombstone.
    fn append(&self, partition: i32, records: Vec<(Bytes, Option<Bytes>)>) -> Result<(), String>;
}

/// What the coordinator needs to know about topics (to validate commits and resolve topic ids).
pub trait TopicLookup {
    /// Partition count of `topic`, `None` if it does not exist.
    fn partition_count(&self, topic: &str) -> Option<i32>;
    /// Name of the topic with this id.
    fn topic_name(&self, id: Uuid) -> Option<String>;
    /// Id of the named topic.
    fn topic_id(&self, name: &str) -> Option<Uuid>;
}

/// Coordinator settings, named after the Kafka broker configs.
#[derive(Debug, Clone)]
pub struct GroupConfig {
    /// `offsets.topic.num.partitions`.
    pub offsets_topic_num_partitions: i32,
    /// `group.min.session.timeout.ms`.
    pub group_min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms`.
    pub group_max_session_timeout_ms: i32,
    /// `group.initial.rebalance.delay.ms`.
    pub group_initial_rebalance_delay_ms: i32,
    /// `offsets.retention.minutes`: how long committed offsets outlive the group's last member
    /// (see [`GroupCoordinator::expire_offsets`]).
    pub offsets_retention_minutes: i64,
    /// `group.max.size`.
    pub group_max_size: i32,
}

impl Default for GroupConfig {
    fn default() -> Self {
        Self {
            offsets_topic_num_partitions: 50,
            group_min_session_timeout_ms: 6_000,
            group_max_session_timeout_ms: 1_800_000,
            group_initial_rebalance_delay_ms: 3_000,
            offsets_retention_minutes: 7 * 24 * 60,
            group_max_size: i32::MAX,
        }
    }
}

/// The group coordinator. Cloning shares the same state.
#[derive(Clone)]
pub struct GroupCoordinator {
    inner: Arc<Inner>,
}

struct Inner {
    clock: SharedClock,
    log: Arc<dyn OffsetsLog>,
    config: GroupConfig,
    /// Handed to timer tasks so they do not keep the coordinator alive.
    weak: Weak<Inner>,
    state: Mutex<State>,
}

struct State {
    groups: BTreeMap<String, ClassicGroup>,
    ids: Ids,
    /// `__consumer_offsets` partitions whose load failed (a corrupt batch): their groups are
    /// answered NOT_COORDINATOR, as Kafka's coordinator runtime answers a FAILED partition,
    /// and nothing is written there, so no older offset can stand in for a lost newer one.
    failed_partitions: BTreeSet<i32>,
    /// The `__consumer_offsets` partitions this node leads and has loaded: it coordinates their
    /// groups and no others (NOT_COORDINATOR), as Kafka's coordinator after `onElection`.
    owned_partitions: BTreeSet<i32>,
}

/// Deterministic counters.
struct Ids {
    next_member: u64,
    next_token: u64,
    next_join_seq: u64,
}

impl Ids {
    fn token(&mut self) -> u64 {
        self.next_token += 1;
        self.next_token
    }
    fn join_seq(&mut self) -> u64 {
        self.next_join_seq += 1;
        self.next_join_seq
    }
    fn member_id(&mut self, client_id: &str) -> String {
        self.next_member += 1;
        format!("{client_id}-{}", self.next_member)
    }
}

/// Either an immediate response or one to await once the lock is released.
enum Pending<T> {
    Done(T),
    Wait(oneshot::Receiver<T>),
}

/// The member-facing parameters of a JoinGroup.
struct JoinParams<'a> {
    version: i16,
    client_id: &'a str,
    client_host: &'a str,
    instance_id: Option<String>,
    protocol_type: String,
    protocols: Vec<(String, Bytes)>,
    session_timeout_ms: i32,
    rebalance_timeout_ms: i32,
}

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

fn code(e: ResponseError) -> i16 {
    e.code()
}

fn ms(v: i32) -> Duration {
    Duration::from_millis(v.max(0) as u64)
}

pub(crate) fn join_error(version: i16, error: ResponseError, member_id: &str) -> JoinGroupResponse {
    build!(JoinGroupResponse {
        error_code: code(error),
        generation_id: -1,
        // Non-nullable before v7, so an empty string there; null from v7 like Kafka.
        protocol_name: if version >= 7 { None } else { Some(StrBytes::new()) },
        leader: StrBytes::new(),
        member_id: sb(member_id)
    })
}

fn join_response(g: &ClassicGroup, member_id: &str, version: i16) -> JoinGroupResponse {
    let is_leader = g.leader_id.as_deref() == Some(member_id);
    let members = if is_leader {
        g.members_in_order()
            .into_iter()
            .map(|m| {
                build!(JoinGroupResponseMember {
                    member_id: sb(&m.member_id),
                    group_instance_id: if version >= 5 {
                        m.group_instance_id.as_deref().map(sb)
                    } else {
                        None
                    },
                    metadata: m.metadata_for(g.protocol_name.as_deref())
                })
            })
            .collect()
    } else {
        Vec::new()
    };
    build!(JoinGroupResponse {
        error_code: 0,
        generation_id: g.generation_id,
        protocol_type: if version >= 7 { g.protocol_type.as_deref().map(sb) } else { None },
        protocol_name: Some(sb(g.protocol_name.as_deref().unwrap_or(""))),
        leader: sb(g.leader_id.as_deref().unwrap_or("")),
        member_id: sb(member_id),
        members: members
    })
}

pub(crate) fn sync_response(
    g: Option<&ClassicGroup>,
    version: i16,
    error: Option<ResponseError>,
    assignment: Bytes,
) -> SyncGroupResponse {
    let (ptype, pname) = match (g, version >= 5 && error.is_none()) {
        (Some(g), true) => (g.protocol_type.as_deref().map(sb), g.protocol_name.as_deref().map(sb)),
        _ => (None, None),
    };
    build!(SyncGroupResponse {
        error_code: error.map(code).unwrap_or(0),
        protocol_type: ptype,
        protocol_name: pname,
        assignment: assignment
    })
}

fn heartbeat_response(error: Option<ResponseError>) -> HeartbeatResponse {
    build!(HeartbeatResponse { error_code: error.map(code).unwrap_or(0) })
}

impl GroupCoordinator {
    /// A coordinator with no groups; call [`GroupCoordinator::load`] to replay
    /// `__consumer_offsets` before serving requests.
    pub fn new(clock: SharedClock, offsets_log: Arc<dyn OffsetsLog>, config: GroupConfig) -> Self {
        // Member ids are `{client_id}-{n}`; seeding n from the (simulated) wall clock keeps ids
        // deterministic yet unlikely to collide with ids a previous broker incarnation handed out.
        let seed = clock.now_ms().max(0) as u64;
        let inner = Arc::new_cyclic(|weak| Inner {
            clock,
            log: offsets_log,
            config,
            weak: weak.clone(),
            state: Mutex::new(State {
                groups: BTreeMap::new(),
                ids: Ids { next_member: seed, next_token: 0, next_join_seq: 0 },
                failed_partitions: BTreeSet::new(),
                owned_partitions: BTreeSet::new(),
            }),
        });
        Self { inner }
    }

    /// JoinGroup (v0-9). Waits until the join phase of the rebalance completes.
    pub async fn join_group(
        &self,
        req: JoinGroupRequest,
        version: i16,
        client_id: &str,
        client_host: &str,
    ) -> JoinGroupResponse {
        let member_id = req.member_id.to_string();
        let pending = {
            let mut st = self.inner.lock();
            self.inner.join(&mut st, &req, version, client_id, client_host)
        };
        match pending {
            Pending::Done(r) => r,
            Pending::Wait(rx) => rx.await.unwrap_or_else(|_| {
                join_error(version, ResponseError::CoordinatorNotAvailable, &member_id)
            }),
        }
    }

    /// SyncGroup (v0-5). Followers wait for the leader's assignment.
    pub async fn sync_group(&self, req: SyncGroupRequest, version: i16) -> SyncGroupResponse {
        let pending = {
            let mut st = self.inner.lock();
            self.inner.sync(&mut st, &req, version)
        };
        match pending {
            Pending::Done(r) => r,
            Pending::Wait(rx) => rx.await.unwrap_or_else(|_| {
                sync_response(
                    None,
                    version,
                    Some(ResponseError::CoordinatorNotAvailable),
                    Bytes::new(),
                )
            }),
        }
    }

    /// Heartbeat (v0-4).
    pub fn heartbeat(&self, req: HeartbeatRequest, version: i16) -> HeartbeatResponse {
        let mut st = self.inner.lock();
        let instance_id =
            if version >= 3 { req.group_instance_id.as_deref().map(str::to_owned) } else { None };
        let error = self.inner.heartbeat(
            &mut st,
            req.group_id.0.as_str(),
            req.member_id.as_str(),
            instance_id.as_deref(),
            req.generation_id,
        );
        heartbeat_response(error)
    }

    /// LeaveGroup (v0-5): v0-2 name one member, v3+ a batch.
    pub fn leave_group(&self, req: LeaveGroupRequest, version: i16) -> LeaveGroupResponse {
        let mut st = self.inner.lock();
        self.inner.leave(&mut st, &req, version)
    }

    /// OffsetCommit (v2-9; topic ids honoured if present).
    pub fn offset_commit(
        &self,
        req: OffsetCommitRequest,
        version: i16,
        topics: &dyn TopicLookup,
    ) -> OffsetCommitResponse {
        let mut st = self.inner.lock();
        self.inner.commit(&mut st, &req, version, topics)
    }

    /// OffsetFetch: v1-7 single-group layout, v8+ batched `groups` layout; a null topic list means
    /// every committed partition of the group.
    pub fn offset_fetch(
        &self,
        req: OffsetFetchRequest,
        version: i16,
        topics: &dyn TopicLookup,
    ) -> OffsetFetchResponse {
        let st = self.inner.lock();
        if version <= 7 {
            if let Some(e) = self.inner.not_loaded(&st, req.group_id.0.as_str()) {
                return build!(OffsetFetchResponse { error_code: code(e) });
            }
            let wanted = req.topics.as_ref().map(|ts| {
                ts.iter()
                    .map(|t| (t.name.0.to_string(), Uuid::nil(), t.partition_indexes.clone()))
                    .collect::<Vec<_>>()
            });
            let result = fetch_group(&st, req.group_id.0.as_str(), wanted, version, topics);
            build!(OffsetFetchResponse {
                topics: result
                    .into_iter()
                    .map(|(name, _, parts)| build!(OffsetFetchResponseTopic {
                        name: TopicName(sb(&name)),
                        partitions: parts
                            .into_iter()
                            .map(|p| build!(OffsetFetchResponsePartition {
                                partition_index: p.0,
                                committed_offset: p.1,
                                committed_leader_epoch: p.2,
                                metadata: Some(sb(&p.3)),
                                error_code: p.4
                            }))
                            .collect()
                    }))
                    .collect()
            })
        } else {
            let groups = req
                .groups
                .iter()
                .map(|rg| {
                    if let Some(e) = self.inner.not_loaded(&st, rg.group_id.0.as_str()) {
                        return build!(OffsetFetchResponseGroup {
                            group_id: rg.group_id.clone(),
                            error_code: code(e)
                        });
                    }
                    let wanted = rg.topics.as_ref().map(|ts| {
                        ts.iter()
                            .map(|t| {
                                (t.name.0.to_string(), t.topic_id, t.partition_indexes.clone())
                            })
                            .collect::<Vec<_>>()
                    });
                    let result = fetch_group(&st, rg.group_id.0.as_str(), wanted, version, topics);
                    build!(OffsetFetchResponseGroup {
                        group_id: rg.group_id.clone(),
                        topics: result
                            .into_iter()
                            .map(|(name, id, parts)| build!(OffsetFetchResponseTopics {
                                name: TopicName(sb(&name)),
                                topic_id: if version >= 10 { id } else { Uuid::nil() },
                                partitions: parts
                                    .into_iter()
                                    .map(|p| build!(OffsetFetchResponsePartitions {
                                        partition_index: p.0,
                                        committed_offset: p.1,
                                        committed_leader_epoch: p.2,
                                        metadata: Some(sb(&p.3)),
                                        error_code: p.4
                                    }))
                                    .collect()
                            }))
                            .collect(),
                        error_code: 0
                    })
                })
                .collect();
            build!(OffsetFetchResponse { groups: groups })
        }
    }

    /// ListGroups (v0-5) with the v4 states filter and v5 types filter.
    pub fn list_groups(&self, req: ListGroupsRequest, version: i16) -> ListGroupsResponse {
        let st = self.inner.lock();
        let states: Vec<String> = if version >= 4 {
            req.states_filter.iter().map(|s| s.to_ascii_lowercase()).collect()
        } else {
            Vec::new()
        };
        let types: Vec<String> = if version >= 5 {
            req.types_filter.iter().map(|s| s.to_ascii_lowercase()).collect()
        } else {
            Vec::new()
        };
        // Every group here is a classic group.
        let type_ok = types.is_empty() || types.iter().any(|t| t == "classic");
        let groups = st
            .groups
            .values()
            .filter(|g| type_ok && g.state != GroupState::Dead)
            .filter(|g| {
                states.is_empty() || states.contains(&g.state.as_str().to_ascii_lowercase())
            })
            .map(|g| {
                build!(ListedGroup {
                    group_id: GroupId(sb(&g.group_id)),
                    protocol_type: sb(g.protocol_type.as_deref().unwrap_or("")),
                    group_state: if version >= 4 { sb(g.state.as_str()) } else { StrBytes::new() },
                    group_type: if version >= 5 { sb("classic") } else { StrBytes::new() }
                })
            })
            .collect();
        build!(ListGroupsResponse { groups: groups })
    }

    /// DescribeGroups (v0-6). Member metadata/assignment are only reported when Stable, as Kafka.
    pub fn describe_groups(
        &self,
        req: DescribeGroupsRequest,
        version: i16,
    ) -> DescribeGroupsResponse {
        let st = self.inner.lock();
        let groups = req
            .groups
            .iter()
            .map(|gid| match st.groups.get(gid.0.as_str()) {
                _ if self.inner.not_loaded(&st, gid.0.as_str()).is_some() => {
                    build!(DescribedGroup {
                        error_code: code(ResponseError::NotCoordinator),
                        group_id: gid.clone(),
                        authorized_operations: i32::MIN
                    })
                }
                None if version >= 6 => build!(DescribedGroup {
                    error_code: code(ResponseError::GroupIdNotFound),
                    error_message: Some(sb(&format!("Group {} not found.", gid.0.as_str()))),
                    group_id: gid.clone(),
                    group_state: sb(GroupState::Dead.as_str()),
                    authorized_operations: i32::MIN
                }),
                None => build!(DescribedGroup {
                    group_id: gid.clone(),
                    group_state: sb(GroupState::Dead.as_str()),
                    authorized_operations: i32::MIN
                }),
                Some(g) => {
                    let stable = g.state == GroupState::Stable;
                    build!(DescribedGroup {
                        group_id: gid.clone(),
                        group_state: sb(g.state.as_str()),
                        protocol_type: sb(g.protocol_type.as_deref().unwrap_or("")),
                        protocol_data: if stable {
                            sb(g.protocol_name.as_deref().unwrap_or(""))
                        } else {
                            StrBytes::new()
                        },
                        members: g
                            .members_in_order()
                            .into_iter()
                            .map(|m| build!(DescribedGroupMember {
                                member_id: sb(&m.member_id),
                                group_instance_id: if version >= 4 {
                                    m.group_instance_id.as_deref().map(sb)
                                } else {
                                    None
                                },
                                client_id: sb(&m.client_id),
                                client_host: sb(&m.client_host),
                                member_metadata: if stable {
                                    m.metadata_for(g.protocol_name.as_deref())
                                } else {
                                    Bytes::new()
                                },
                                member_assignment: if stable {
                                    m.assignment.clone()
                                } else {
                                    Bytes::new()
                                }
                            }))
                            .collect(),
                        authorized_operations: i32::MIN
                    })
                }
            })
            .collect();
        build!(DescribeGroupsResponse { groups: groups })
    }

    /// DeleteGroups (v0-2): only Empty groups; writes tombstones for the group and its offsets.
    pub fn delete_groups(&self, req: DeleteGroupsRequest, _version: i16) -> DeleteGroupsResponse {
        let mut st = self.inner.lock();
        let results = req
            .groups_names
            .iter()
            .map(|gid| {
                build!(DeletableGroupResult {
                    group_id: gid.clone(),
                    error_code: self
                        .inner
                        .delete_group(&mut st, gid.0.as_str())
                        .map(code)
                        .unwrap_or(0)
                })
            })
            .collect();
        build!(DeleteGroupsResponse { results: results })
    }

    /// OffsetDelete (v0): tombstones offsets of topics the group is not subscribed to.
    pub fn offset_delete(&self, req: OffsetDeleteRequest, _version: i16) -> OffsetDeleteResponse {
        let mut st = self.inner.lock();
        self.inner.offset_delete(&mut st, &req)
    }

    /// Kafka's offset expiry (`offsets.retention.minutes`, KIP-211 semantics); the broker calls
    /// it every `offsets.retention.check.interval.ms`, the coordinator runs no timer for it.
    ///
    /// An offset expires once it is `offsets.retention.minutes` old (or, for a version-1 value
    /// carrying an explicit expire timestamp, once that passes), measured from:
    /// - the time the group became Empty, for a group that had members and has none now;
    /// - its own commit timestamp, for a group that never had members (standalone commits);
    /// - its own commit timestamp, for a Stable "consumer" group, and only for topics no member
    ///   subscribes to.
    ///
    /// Offsets of any other group (members present, or a rebalance under way) never expire.
    /// Expired offsets get tombstones in `__consumer_offsets`; an Empty group left without
    /// offsets is removed (Kafka's Dead) and its GroupMetadata tombstoned. Returns how many
    /// offsets expired.
    pub fn expire_offsets(&self) -> usize {
        let mut st = self.inner.lock();
        self.inner.expire_offsets(&mut st)
    }

    /// Replays one `__consumer_offsets` partition: later records override earlier ones and a
    /// `None` value is a tombstone. Groups come back Empty (members rejoin), keeping their
    /// generation, protocol type and offsets.
    pub fn load(
        &self,
        partition: i32,
        records: impl IntoIterator<Item = (Option<Bytes>, Option<Bytes>)>,
    ) {
        let mut st = self.inner.lock();
        st.failed_partitions.remove(&partition);
        st.owned_partitions.insert(partition);
        let now_ms = self.inner.clock.now_ms();
        for (key, value) in records {
            let Some(key) = key else { continue };
            let key = match offsets_topic::decode_key(key) {
                Ok(k) => k,
                Err(e) => {
                    tracing::warn!(partition, error = %e, "skipping undecodable __consumer_offsets key");
                    continue;
                }
            };
            match (key, value) {
                (RecordKey::Offset(k), Some(v)) => match offsets_topic::decode_offset_value(v) {
                    Ok(v) => {
                        st.groups
                            .entry(k.group.clone())
                            .or_insert_with(|| ClassicGroup::new(k.group.clone(), now_ms))
                            .offsets
                            .insert((k.topic, k.partition), v);
                    }
                    Err(e) => tracing::warn!(partition, error = %e, "skipping bad offset value"),
                },
                (RecordKey::Offset(k), None) => {
                    if let Some(g) = st.groups.get_mut(&k.group) {
                        g.offsets.remove(&(k.topic, k.partition));
                        if g.offsets.is_empty() && g.generation_id == 0 && g.protocol_type.is_none()
                        {
                            st.groups.remove(&k.group);
                        }
                    }
                }
                (RecordKey::Group(id), Some(v)) => match offsets_topic::decode_group_value(v) {
                    Ok(v) => {
                        let g = st
                            .groups
                            .entry(id.clone())
                            .or_insert_with(|| ClassicGroup::new(id.clone(), now_ms));
                        g.protocol_type = (!v.protocol_type.is_empty()).then_some(v.protocol_type);
                        g.generation_id = v.generation;
                        g.protocol_name = None;
                        g.leader_id = None;
                        g.state = GroupState::Empty;
                        // Offset expiry counts from the moment the group became Empty. A record
                        // written with members means they were alive then, so the group is Empty
                        // from this load on; a record without members carries the time it became
                        // Empty (-1 before value version 2: expiry falls back to the offsets'
                        // commit timestamps, as Kafka).
                        g.state_timestamp =
                            if v.members.is_empty() { v.current_state_timestamp } else { now_ms };
                    }
                    Err(e) => tracing::warn!(partition, error = %e, "skipping bad group value"),
                },
                (RecordKey::Group(id), None) => {
                    if let Some(g) = st.groups.get_mut(&id) {
                        if g.offsets.is_empty() {
                            st.groups.remove(&id);
                        } else {
                            // Offsets outlive the group metadata (a simple-commit group).
                            g.protocol_type = None;
                            g.generation_id = 0;
                        }
                    }
                }
            }
        }
    }

    /// Marks a `__consumer_offsets` partition whose records could not be read (`why`, e.g. a
    /// corrupt batch): its groups answer NOT_COORDINATOR until a restart loads it, and every
    /// other partition's groups keep being served. Nothing of it is replayed, so no offset
    /// older than a lost one is served in its place.
    pub fn fail_partition(&self, partition: i32, why: &str) {
        tracing::error!(
            partition,
            error = why,
            "cannot load __consumer_offsets-{partition}: its groups answer NOT_COORDINATOR; \
             the other partitions' groups are served"
        );
        let mut st = self.inner.lock();
        st.groups.retain(|id, _| {
            partitioner::partition_for(id, self.inner.config.offsets_topic_num_partitions)
                != partition
        });
        st.owned_partitions.remove(&partition);
        st.failed_partitions.insert(partition);
    }

    /// This node stops coordinating the groups of `__consumer_offsets` partition `partition`
    /// (its leadership moved, or the node is shutting down; Kafka's `onResignation`): they are
    /// dropped from memory — their state is in the log, which the new leader loads — and
    /// answered NOT_COORDINATOR here from now on, so their members find the new coordinator.
    pub fn resign(&self, partition: i32) {
        let mut st = self.inner.lock();
        if !st.owned_partitions.remove(&partition) && !st.failed_partitions.remove(&partition) {
            return;
        }
        let before = st.groups.len();
        st.groups.retain(|id, _| {
            partitioner::partition_for(id, self.inner.config.offsets_topic_num_partitions)
                != partition
        });
        tracing::info!(
            partition,
            groups = before - st.groups.len(),
            "no longer the coordinator of __consumer_offsets-{partition}'s groups"
        );
    }

    /// Whether this node coordinates the groups of `__consumer_offsets` partition `partition`.
    pub fn owns(&self, partition: i32) -> bool {
        self.inner.lock().owned_partitions.contains(&partition)
    }

    /// `__consumer_offsets` partition of `group_id`, as Kafka computes it.
    pub fn partition_for(&self, group_id: &str) -> i32 {
        partitioner::partition_for(group_id, self.inner.config.offsets_topic_num_partitions)
    }

    /// Number of groups.
    pub fn group_count(&self) -> usize {
        self.inner.lock().groups.len()
    }

    /// Committed offsets held, over every group (Kafka's `NumOffsets`).
    pub fn offset_count(&self) -> usize {
        self.inner.lock().groups.values().map(|g| g.offsets.len()).sum()
    }

    /// Group count per state name.
    pub fn groups_by_state(&self) -> BTreeMap<String, usize> {
        let st = self.inner.lock();
        let mut out = BTreeMap::new();
        for g in st.groups.values() {
            *out.entry(g.state.as_str().to_owned()).or_default() += 1;
        }
        out
    }
}

/// The offsets of `g` that have expired at `now_ms` (see [`GroupCoordinator::expire_offsets`]).
fn expired_offsets(g: &ClassicGroup, now_ms: i64, retention_ms: i64) -> Vec<(String, i32)> {
    if !g.pending_members.is_empty() {
        // A consumer is between MEMBER_ID_REQUIRED and its rejoin: not Empty in spirit.
        return Vec::new();
    }
    // (measure from the time the group became Empty, topics that never expire here)
    let (since_empty, subscribed) = match (g.protocol_type.as_deref(), g.state) {
        // Never had members: standalone commits, each measured from its commit.
        (None, _) => (false, BTreeSet::new()),
        (Some(_), GroupState::Empty) => (true, BTreeSet::new()),
        (Some("consumer"), GroupState::Stable) => match g.subscribed_topics() {
            Some(topics) => (false, topics),
            None => return Vec::new(),
        },
        _ => return Vec::new(),
    };
    g.offsets
        .iter()
        .filter(|((topic, _), o)| {
            if subscribed.contains(topic) {
                return false;
            }
            if o.expire_timestamp >= 0 {
                // Value version 1 carried an explicit expiry time.
                return now_ms >= o.expire_timestamp;
            }
            let base = if since_empty && g.state_timestamp >= 0 {
                g.state_timestamp
            } else {
                o.commit_timestamp
            };
            now_ms.saturating_sub(base) >= retention_ms
        })
        .map(|(k, _)| k.clone())
        .collect()
}

type FetchedPartition = (i32, i64, i32, String, i16);

/// Offsets of one group; `wanted = None` means all committed partitions.
fn fetch_group(
    st: &State,
    group_id: &str,
    wanted: Option<Vec<(String, Uuid, Vec<i32>)>>,
    version: i16,
    topics: &dyn TopicLookup,
) -> Vec<(String, Uuid, Vec<FetchedPartition>)> {
    let group = st.groups.get(group_id);
    // Leader epoch exists on the wire from v5; older versions must carry the default.
    let epoch = |e: i32| if version >= 5 { e } else { -1 };
    match wanted {
        Some(list) => list
            .into_iter()
            .map(|(name, id, parts)| {
                let resolved = if name.is_empty() && !id.is_nil() {
                    topics.topic_name(id)
                } else {
                    Some(name.clone())
                };
                let parts = parts
                    .into_iter()
                    .map(|p| {
                        let Some(topic) = &resolved else {
                            return (p, -1, -1, String::new(), code(ResponseError::UnknownTopicId));
                        };
                        match group.and_then(|g| g.offsets.get(&(topic.clone(), p))) {
                            Some(o) => (p, o.offset, epoch(o.leader_epoch), o.metadata.clone(), 0),
                            None => (p, -1, -1, String::new(), 0),
                        }
                    })
                    .collect();
                (name, id, parts)
            })
            .collect(),
        None => {
            let mut out: Vec<(String, Uuid, Vec<FetchedPartition>)> = Vec::new();
            if let Some(g) = group {
                for ((topic, p), o) in &g.offsets {
                    let entry = (*p, o.offset, epoch(o.leader_epoch), o.metadata.clone(), 0);
                    match out.last_mut() {
                        Some((t, _, parts)) if t == topic => parts.push(entry),
                        _ => out.push((
                            topic.clone(),
                            topics.topic_id(topic).unwrap_or_default(),
                            vec![entry],
                        )),
                    }
                }
            }
            out
        }
    }
}

impl Inner {
    /// NOT_COORDINATOR for a group whose `__consumer_offsets` partition this node does not
    /// coordinate: another node leads it, or its load failed.
    fn not_loaded(&self, st: &State, group_id: &str) -> Option<ResponseError> {
        let partition =
            partitioner::partition_for(group_id, self.config.offsets_topic_num_partitions);
        (!st.owned_partitions.contains(&partition)).then_some(ResponseError::NotCoordinator)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent-enough state; keep serving.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    // ---------------------------------------------------------------- JoinGroup

    fn join(
        &self,
        st: &mut State,
        req: &JoinGroupRequest,
        version: i16,
        client_id: &str,
        client_host: &str,
    ) -> Pending<JoinGroupResponse> {
        let group_id = req.group_id.0.as_str();
        let member_id = req.member_id.as_str();
        let fail = |e| Pending::Done(join_error(version, e, member_id));
        if let Some(e) = self.not_loaded(st, group_id) {
            return fail(e);
        }
        if group_id.is_empty() {
            return fail(ResponseError::InvalidGroupId);
        }
        let cfg = &self.config;
        if req.session_timeout_ms < cfg.group_min_session_timeout_ms
            || req.session_timeout_ms > cfg.group_max_session_timeout_ms
        {
            return fail(ResponseError::InvalidSessionTimeout);
        }
        let params = JoinParams {
            version,
            client_id,
            client_host,
            instance_id: if version >= 5 {
                req.group_instance_id.as_deref().map(str::to_owned)
            } else {
                None
            },
            protocol_type: req.protocol_type.to_string(),
            protocols: req
                .protocols
                .iter()
                .map(|p| (p.name.to_string(), p.metadata.clone()))
                .collect(),
            session_timeout_ms: req.session_timeout_ms,
            // v0 has no rebalance timeout; Kafka uses the session timeout then.
            rebalance_timeout_ms: if version >= 1 {
                req.rebalance_timeout_ms
            } else {
                req.session_timeout_ms
            },
        };
        let State { groups, ids, .. } = st;
        if !groups.contains_key(group_id) {
            if !member_id.is_empty() {
                return fail(ResponseError::UnknownMemberId);
            }
            groups
                .insert(group_id.to_owned(), ClassicGroup::new(group_id.to_owned(), self.now_ms()));
        }
        let g = groups.get_mut(group_id).expect("just ensured");
        if member_id.is_empty() {
            self.join_unknown(ids, g, params)
        } else {
            self.join_known(ids, g, member_id, params)
        }
    }

    fn join_unknown(
        &self,
        ids: &mut Ids,
        g: &mut ClassicGroup,
        p: JoinParams<'_>,
    ) -> Pending<JoinGroupResponse> {
        let version = p.version;
        let fail = |e| Pending::Done(join_error(version, e, ""));
        if g.state == GroupState::Dead {
            return fail(ResponseError::CoordinatorNotAvailable);
        }
        if !g.supports_protocols(&p.protocol_type, &p.protocols) {
            return fail(ResponseError::InconsistentGroupProtocol);
        }
        let new_id = ids.member_id(p.client_id);
        if let Some(inst) = p.instance_id.clone() {
            let known = g.static_members.get(&inst).filter(|id| g.members.contains_key(*id));
            if let Some(old_id) = known.cloned() {
                return self.update_static_member_and_rebalance(ids, g, &old_id, new_id, p);
            }
        }
        if g.members.len() + g.pending_members.len() >= self.config.group_max_size.max(0) as usize {
            return fail(ResponseError::GroupMaxSizeReached);
        }
        if p.instance_id.is_none() && p.version >= 4 {
            // KIP-394: hand out the id first; the member must rejoin with it.
            let token = ids.token();
            let deadline = runtime::now() + ms(p.session_timeout_ms);
            g.pending_members.insert(new_id.clone(), (token, deadline));
            self.spawn_session_timer(&g.group_id, &new_id, token, deadline);
            return Pending::Done(join_error(p.version, ResponseError::MemberIdRequired, &new_id));
        }
        self.add_member_and_rebalance(ids, g, new_id, p)
    }

    fn replace_static_member(
        &self,
        ids: &mut Ids,
        g: &mut ClassicGroup,
        old_id: &str,
        new_id: &str,
    ) {
        let Some(mut m) = g.members.remove(old_id) else { return };
        if let Some(w) = m.join_waiter.take() {
            let _ = w.tx.send(join_error(w.version, ResponseError::FencedInstanceId, old_id));
        }
        if let Some(w) = m.sync_waiter.take() {
            let _ = w.tx.send(sync_response(
                None,
                w.version,
                Some(ResponseError::FencedInstanceId),
                Bytes::new(),
            ));
        }
        m.member_id = new_id.to_owned();
        m.token = ids.token();
        m.session_deadline = runtime::now() + ms(m.session_timeout_ms);
        self.spawn_session_timer(&g.group_id, new_id, m.token, m.session_deadline);
        if g.leader_id.as_deref() == Some(old_id) {
            g.leader_id = Some(new_id.to_owned());
        }
        if let Some(inst) = &m.group_instance_id {
            g.static_members.insert(inst.clone(), new_id.to_owned());
        }
        g.members.insert(new_id.to_owned(), m);
    }

    /// A known static member joined without a member id (it restarted): Kafka's
    /// `updateStaticMemberAndRebalance` (KIP-345). It takes over its slot, assignment included,
    /// under `new_id`, and the old incarnation is fenced. In a Stable group whose selected
    /// protocol stays the same nothing rebalances: the new member id is persisted and the member
    /// gets the current generation back. If it is the leader, JoinGroup v9+ tells it so with
    /// `skip_assignment` (KIP-814); older versions name the previous leader id, so the member
    /// acts as a follower and its SyncGroup returns the assignment it had. In
    /// CompletingRebalance the leader may be assigning to the old member id, so the group
    /// rebalances; in PreparingRebalance the member waits for the join phase like the others.
    fn update_static_member_and_rebalance(
        &self,
        ids: &mut Ids,
        g: &mut ClassicGroup,
        old_id: &str,
        new_id: String,
        p: JoinParams<'_>,
    ) -> Pending<JoinGroupResponse> {
        let version = p.version;
        let previous_leader = g.leader_id.clone();
        self.replace_static_member(ids, g, old_id, &new_id);
        if g.state != GroupState::Stable {
            let rx = self.update_member(g, &new_id, p);
            if g.state == GroupState::CompletingRebalance {
                self.prepare_rebalance(g);
            }
            self.maybe_complete_join(g);
            return Pending::Wait(rx);
        }
        let m = g.members.get_mut(&new_id).expect("just replaced");
        let previous = (
            std::mem::replace(&mut m.protocols, p.protocols.clone()),
            std::mem::replace(&mut m.session_timeout_ms, p.session_timeout_ms),
            std::mem::replace(&mut m.rebalance_timeout_ms, p.rebalance_timeout_ms),
        );
        m.session_deadline = runtime::now() + ms(p.session_timeout_ms);
        if g.select_protocol() != g.protocol_name {
            // Its new protocols change the group's choice: everyone must rejoin.
            let rx = self.update_member(g, &new_id, p);
            self.prepare_rebalance(g);
            self.maybe_complete_join(g);
            return Pending::Wait(rx);
        }
        tracing::info!(
            group = %g.group_id,
            member = %new_id,
            replaced = old_id,
            "static member rejoined a Stable group without changing its protocol; no rebalance"
        );
        if self.persist_group(g).is_err() {
            // The new member id is not durable: go back to the old incarnation, as Kafka does.
            let m = g.members.get_mut(&new_id).expect("just replaced");
            (m.protocols, m.session_timeout_ms, m.rebalance_timeout_ms) = previous;
            self.replace_static_member(ids, g, &new_id, old_id);
            return Pending::Done(build!(JoinGroupResponse {
                error_code: code(ResponseError::CoordinatorNotAvailable),
                generation_id: g.generation_id,
                protocol_type: if version >= 7 { g.protocol_type.as_deref().map(sb) } else { None },
                protocol_name: Some(sb(g.protocol_name.as_deref().unwrap_or(""))),
                leader: sb(previous_leader.as_deref().unwrap_or("")),
                member_id: StrBytes::new()
            }));
        }
        let mut response = join_response(g, &new_id, version);
        let is_leader = g.leader_id.as_deref() == Some(new_id.as_str());
        if version >= 9 {
            response.skip_assignment = is_leader;
        } else {
            // Naming the previous leader id keeps the restarted leader from assigning: a Stable
            // group would not hand its new assignment to the others.
            response.members.clear();
            response.leader = sb(previous_leader.as_deref().unwrap_or(""));
        }
        Pending::Done(response)
    }

    fn join_known(
        &self,
        ids: &mut Ids,
        g: &mut ClassicGroup,
        member_id: &str,
        p: JoinParams<'_>,
    ) -> Pending<JoinGroupResponse> {
        let version = p.version;
        let fail = |e| Pending::Done(join_error(version, e, member_id));
        if g.state == GroupState::Dead {
            return fail(ResponseError::CoordinatorNotAvailable);
        }
        if g.pending_members.remove(member_id).is_some() {
            if !g.supports_protocols(&p.protocol_type, &p.protocols) {
                return fail(ResponseError::InconsistentGroupProtocol);
            }
            return self.add_member_and_rebalance(ids, g, member_id.to_owned(), p);
        }
        if let Some(e) = Self::validate_existing_member(g, member_id, p.instance_id.as_deref()) {
            return fail(e);
        }
        let Some(m) = g.members.get(member_id) else {
            return fail(ResponseError::UnknownMemberId);
        };
        if !g.supports_protocols(&p.protocol_type, &p.protocols) {
            return fail(ResponseError::InconsistentGroupProtocol);
        }
        let same = m.same_protocols(&p.protocols);
        let is_leader = g.leader_id.as_deref() == Some(member_id);
        match g.state {
            GroupState::Empty | GroupState::Dead => fail(ResponseError::UnknownMemberId),
            GroupState::PreparingRebalance => {
                let rx = self.update_member(g, member_id, p);
                self.maybe_complete_join(g);
                Pending::Wait(rx)
            }
            GroupState::CompletingRebalance | GroupState::Stable
                if same && (g.state == GroupState::CompletingRebalance || !is_leader) =>
            {
                // Nothing changed for this member: answer with the current generation (a
                // follower that lost its JoinGroup response, or a rejoin in Stable).
                let m = g.members.get_mut(member_id).expect("checked");
                m.session_deadline = runtime::now() + ms(m.session_timeout_ms);
                Pending::Done(join_response(g, member_id, version))
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                let rx = self.update_member(g, member_id, p);
                self.prepare_rebalance(g);
                self.maybe_complete_join(g);
                Pending::Wait(rx)
            }
        }
    }

    /// Kafka's `validateExistingMember`: with a group instance id the instance decides — not
    /// known is UNKNOWN_MEMBER_ID, known under another member id is FENCED_INSTANCE_ID (a
    /// newer incarnation took over, so the client must stop instead of rejoining) —, without
    /// one the member id must be a member.
    fn validate_existing_member(
        g: &ClassicGroup,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> Option<ResponseError> {
        match instance_id {
            Some(inst) => match g.static_members.get(inst) {
                None => Some(ResponseError::UnknownMemberId),
                Some(known) if known != member_id => Some(ResponseError::FencedInstanceId),
                Some(_) => None,
            },
            None => (!g.members.contains_key(member_id)).then_some(ResponseError::UnknownMemberId),
        }
    }

    /// Records a known member's rejoin and parks its JoinGroup.
    fn update_member(
        &self,
        g: &mut ClassicGroup,
        member_id: &str,
        p: JoinParams<'_>,
    ) -> oneshot::Receiver<JoinGroupResponse> {
        let (tx, rx) = oneshot::channel();
        let m = g.members.get_mut(member_id).expect("caller checked");
        m.protocols = p.protocols;
        m.session_timeout_ms = p.session_timeout_ms;
        m.rebalance_timeout_ms = p.rebalance_timeout_ms;
        m.session_deadline = runtime::now() + ms(p.session_timeout_ms);
        if let Some(old) = m.join_waiter.replace(JoinWaiter { version: p.version, tx }) {
            // A duplicate JoinGroup supersedes the earlier one.
            let _ =
                old.tx.send(join_error(old.version, ResponseError::RebalanceInProgress, member_id));
        }
        rx
    }

    fn add_member_and_rebalance(
        &self,
        ids: &mut Ids,
        g: &mut ClassicGroup,
        member_id: String,
        p: JoinParams<'_>,
    ) -> Pending<JoinGroupResponse> {
        let (tx, rx) = oneshot::channel();
        let token = ids.token();
        let deadline = runtime::now() + ms(p.session_timeout_ms);
        if g.members.is_empty() {
            g.protocol_type = Some(p.protocol_type.clone());
        }
        if g.leader_id.is_none() {
            g.leader_id = Some(member_id.clone());
        }
        if let Some(inst) = &p.instance_id {
            g.static_members.insert(inst.clone(), member_id.clone());
        }
        g.members.insert(
            member_id.clone(),
            Member {
                member_id: member_id.clone(),
                group_instance_id: p.instance_id,
                client_id: p.client_id.to_owned(),
                client_host: p.client_host.to_owned(),
                rebalance_timeout_ms: p.rebalance_timeout_ms,
                session_timeout_ms: p.session_timeout_ms,
                protocols: p.protocols,
                assignment: Bytes::new(),
                join_waiter: Some(JoinWaiter { version: p.version, tx }),
                sync_waiter: None,
                session_deadline: deadline,
                token,
                join_seq: ids.join_seq(),
            },
        );
        self.spawn_session_timer(&g.group_id, &member_id, token, deadline);
        if g.state != GroupState::PreparingRebalance {
            self.prepare_rebalance(g);
        }
        self.maybe_complete_join(g);
        Pending::Wait(rx)
    }

    /// Moves the group to PreparingRebalance and arms the join-phase timer.
    fn prepare_rebalance(&self, g: &mut ClassicGroup) {
        if g.state == GroupState::CompletingRebalance {
            for m in g.members.values_mut() {
                m.assignment = Bytes::new();
                if let Some(w) = m.sync_waiter.take() {
                    let _ = w.tx.send(sync_response(
                        None,
                        w.version,
                        Some(ResponseError::RebalanceInProgress),
                        Bytes::new(),
                    ));
                }
            }
        }
        let now = runtime::now();
        let timeout = ms(g.rebalance_timeout_ms());
        // A brand-new group waits a little so that a burst of consumers lands in one generation.
        let delay = if g.state == GroupState::Empty {
            ms(self.config.group_initial_rebalance_delay_ms).min(timeout)
        } else {
            Duration::ZERO
        };
        g.rebalance_seq += 1;
        g.rebalance_earliest = Some(now + delay);
        g.transition(GroupState::PreparingRebalance, self.now_ms());
        self.spawn_rebalance_timer(&g.group_id, g.rebalance_seq, now + delay, now + timeout);
    }

    fn maybe_complete_join(&self, g: &mut ClassicGroup) {
        let ready = g.rebalance_earliest.is_none_or(|t| runtime::now() >= t);
        if g.state == GroupState::PreparingRebalance && ready && g.all_members_joined() {
            self.complete_join(g);
        }
    }

    /// Ends the join phase: drops dynamic members that did not rejoin, bumps the generation and
    /// answers every parked JoinGroup (the leader gets the member list).
    fn complete_join(&self, g: &mut ClassicGroup) {
        let gone: Vec<String> = g
            .members
            .values()
            .filter(|m| m.join_waiter.is_none() && m.group_instance_id.is_none())
            .map(|m| m.member_id.clone())
            .collect();
        for id in gone {
            self.remove_member_raw(g, &id, ResponseError::UnknownMemberId);
        }
        g.generation_id += 1;
        g.rebalance_earliest = None;
        let now_ms = self.now_ms();
        if g.members.is_empty() {
            g.protocol_name = None;
            g.leader_id = None;
            g.transition(GroupState::Empty, now_ms);
            // Failure is logged inside; the Empty marker is advisory (offsets are separate records).
            let _ = self.persist_group(g);
            return;
        }
        g.protocol_name = g.select_protocol();
        let leader_ok = g
            .leader_id
            .as_ref()
            .and_then(|l| g.members.get(l))
            .is_some_and(|m| m.join_waiter.is_some());
        if !leader_ok {
            g.leader_id = g
                .members_in_order()
                .into_iter()
                .find(|m| m.join_waiter.is_some())
                .map(|m| m.member_id.clone());
        }
        g.transition(GroupState::CompletingRebalance, now_ms);
        let waiting: Vec<String> = g
            .members
            .values()
            .filter(|m| m.join_waiter.is_some())
            .map(|m| m.member_id.clone())
            .collect();
        for id in waiting {
            let resp_version = g.members[&id].join_waiter.as_ref().map(|w| w.version).unwrap_or(0);
            let resp = join_response(g, &id, resp_version);
            let m = g.members.get_mut(&id).expect("listed");
            m.session_deadline = runtime::now() + ms(m.session_timeout_ms);
            if let Some(w) = m.join_waiter.take() {
                let _ = w.tx.send(resp);
            }
        }
    }

    /// Removes a member without touching the group state; parked requests get `error`.
    fn remove_member_raw(&self, g: &mut ClassicGroup, member_id: &str, error: ResponseError) {
        let Some(mut m) = g.members.remove(member_id) else { return };
        if let Some(inst) = &m.group_instance_id {
            if g.static_members.get(inst).map(String::as_str) == Some(member_id) {
                g.static_members.remove(inst);
            }
        }
        if let Some(w) = m.join_waiter.take() {
            let _ = w.tx.send(join_error(w.version, error, member_id));
        }
        if let Some(w) = m.sync_waiter.take() {
            let _ = w.tx.send(sync_response(None, w.version, Some(error), Bytes::new()));
        }
        if g.leader_id.as_deref() == Some(member_id) {
            g.leader_id = None;
        }
    }

    /// After members left or expired: rebalance the remaining ones.
    fn on_members_removed(&self, g: &mut ClassicGroup) {
        match g.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.prepare_rebalance(g);
                self.maybe_complete_join(g);
            }
            GroupState::PreparingRebalance => self.maybe_complete_join(g),
            GroupState::Empty | GroupState::Dead => {}
        }
    }

    fn persist_group(&self, g: &ClassicGroup) -> Result<(), String> {
        let key = offsets_topic::encode_group_key(&g.group_id);
        let value = offsets_topic::encode_group_value(&g.metadata_value());
        let partition =
            partitioner::partition_for(&g.group_id, self.config.offsets_topic_num_partitions);
        let res = self.log.append(partition, vec![(key, Some(value))]);
        if let Err(e) = &res {
            tracing::warn!(group = %g.group_id, error = %e, "failed to persist group metadata");
        }
        res
    }

    // ---------------------------------------------------------------- SyncGroup

    fn sync(
        &self,
        st: &mut State,
        req: &SyncGroupRequest,
        version: i16,
    ) -> Pending<SyncGroupResponse> {
        let fail = |e| Pending::Done(sync_response(None, version, Some(e), Bytes::new()));
        if let Some(e) = self.not_loaded(st, req.group_id.0.as_str()) {
            return fail(e);
        }
        let Some(g) = st.groups.get_mut(req.group_id.0.as_str()) else {
            return fail(ResponseError::UnknownMemberId);
        };
        if g.state == GroupState::Dead {
            return fail(ResponseError::CoordinatorNotAvailable);
        }
        let member_id = req.member_id.as_str();
        let instance_id = req.group_instance_id.as_deref().filter(|_| version >= 3);
        if let Some(e) = Self::validate_existing_member(g, member_id, instance_id) {
            return fail(e);
        }
        if !g.members.contains_key(member_id) {
            return fail(ResponseError::UnknownMemberId);
        }
        if req.generation_id != g.generation_id {
            return fail(ResponseError::IllegalGeneration);
        }
        if version >= 5 {
            let type_bad = req
                .protocol_type
                .as_ref()
                .is_some_and(|t| Some(t.as_str()) != g.protocol_type.as_deref());
            let name_bad = req
                .protocol_name
                .as_ref()
                .is_some_and(|n| Some(n.as_str()) != g.protocol_name.as_deref());
            if type_bad || name_bad {
                return fail(ResponseError::InconsistentGroupProtocol);
            }
        }
        match g.state {
            GroupState::Empty | GroupState::Dead => fail(ResponseError::UnknownMemberId),
            GroupState::PreparingRebalance => fail(ResponseError::RebalanceInProgress),
            GroupState::Stable => {
                let m = g.members.get_mut(member_id).expect("checked");
                m.session_deadline = runtime::now() + ms(m.session_timeout_ms);
                let a = m.assignment.clone();
                Pending::Done(sync_response(Some(g), version, None, a))
            }
            GroupState::CompletingRebalance => {
                let (tx, rx) = oneshot::channel();
                let m = g.members.get_mut(member_id).expect("checked");
                m.session_deadline = runtime::now() + ms(m.session_timeout_ms);
                if let Some(old) = m.sync_waiter.replace(SyncWaiter { version, tx }) {
                    let _ = old.tx.send(sync_response(
                        None,
                        old.version,
                        Some(ResponseError::RebalanceInProgress),
                        Bytes::new(),
                    ));
                }
                if g.leader_id.as_deref() == Some(member_id) {
                    self.complete_sync(g, req);
                }
                Pending::Wait(rx)
            }
        }
    }

    /// Applies the leader's assignment, persists the generation and releases every SyncGroup.
    fn complete_sync(&self, g: &mut ClassicGroup, req: &SyncGroupRequest) {
        let assignments: BTreeMap<&str, &Bytes> =
            req.assignments.iter().map(|a| (a.member_id.as_str(), &a.assignment)).collect();
        for m in g.members.values_mut() {
            m.assignment =
                assignments.get(m.member_id.as_str()).map(|b| (*b).clone()).unwrap_or_default();
        }
        // TEST-ONLY FAULT (chaos/tests/faults.rs must catch it): in every even generation the
        // last member gets the first member's assignment, so two members own those partitions.
        #[cfg(feature = "fault-double-assign")]
        if g.generation_id % 2 == 0 && g.members.len() >= 2 {
            let first = g.members.values().next().map(|m| m.assignment.clone());
            if let (Some(first), Some(last)) = (first, g.members.values_mut().last()) {
                last.assignment = first;
            }
        }
        g.transition(GroupState::Stable, self.now_ms());
        if self.persist_group(g).is_err() {
            // Not durable: nobody may act on this assignment; make everyone rejoin.
            for m in g.members.values_mut() {
                m.assignment = Bytes::new();
                if let Some(w) = m.sync_waiter.take() {
                    let _ = w.tx.send(sync_response(
                        None,
                        w.version,
                        Some(ResponseError::CoordinatorNotAvailable),
                        Bytes::new(),
                    ));
                }
            }
            g.transition(GroupState::CompletingRebalance, self.now_ms());
            self.prepare_rebalance(g);
            return;
        }
        let ids: Vec<String> = g.members.keys().cloned().collect();
        for id in ids {
            let (version, assignment) = {
                let m = &g.members[&id];
                (m.sync_waiter.as_ref().map(|w| w.version), m.assignment.clone())
            };
            let Some(version) = version else { continue };
            let resp = sync_response(Some(g), version, None, assignment);
            if let Some(w) = g.members.get_mut(&id).and_then(|m| m.sync_waiter.take()) {
                let _ = w.tx.send(resp);
            }
        }
    }

    // ---------------------------------------------------------------- Heartbeat / LeaveGroup

    fn heartbeat(
        &self,
        st: &mut State,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation_id: i32,
    ) -> Option<ResponseError> {
        if let Some(e) = self.not_loaded(st, group_id) {
            return Some(e);
        }
        let Some(g) = st.groups.get_mut(group_id) else {
            return Some(ResponseError::UnknownMemberId);
        };
        if g.state == GroupState::Dead {
            return Some(ResponseError::CoordinatorNotAvailable);
        }
        if let Some(e) = Self::validate_existing_member(g, member_id, instance_id) {
            return Some(e);
        }
        let Some(m) = g.members.get_mut(member_id) else {
            return Some(ResponseError::UnknownMemberId);
        };
        if generation_id != g.generation_id {
            return Some(ResponseError::IllegalGeneration);
        }
        m.session_deadline = runtime::now() + ms(m.session_timeout_ms);
        match g.state {
            GroupState::Empty | GroupState::Dead => Some(ResponseError::UnknownMemberId),
            // The signal for clients to rejoin.
            GroupState::PreparingRebalance => Some(ResponseError::RebalanceInProgress),
            GroupState::CompletingRebalance | GroupState::Stable => None,
        }
    }

    fn leave(&self, st: &mut State, req: &LeaveGroupRequest, version: i16) -> LeaveGroupResponse {
        let identities: Vec<(String, Option<String>)> = if version <= 2 {
            vec![(req.member_id.to_string(), None)]
        } else {
            req.members
                .iter()
                .map(|m| {
                    (m.member_id.to_string(), m.group_instance_id.as_deref().map(str::to_owned))
                })
                .collect()
        };
        let top = |e: ResponseError| build!(LeaveGroupResponse { error_code: code(e) });
        if let Some(e) = self.not_loaded(st, req.group_id.0.as_str()) {
            return top(e);
        }
        let Some(g) = st.groups.get_mut(req.group_id.0.as_str()) else {
            return top(ResponseError::UnknownMemberId);
        };
        if g.state == GroupState::Dead {
            return top(ResponseError::CoordinatorNotAvailable);
        }
        let mut results = Vec::new();
        let mut removed_any = false;
        for (member_id, inst) in identities {
            let err = match &inst {
                Some(i) => match g.static_members.get(i).cloned() {
                    None => Some(ResponseError::UnknownMemberId),
                    Some(mid) if !member_id.is_empty() && mid != member_id => {
                        Some(ResponseError::FencedInstanceId)
                    }
                    Some(mid) => {
                        self.remove_member_raw(g, &mid, ResponseError::UnknownMemberId);
                        removed_any = true;
                        None
                    }
                },
                None if g.pending_members.remove(&member_id).is_some() => {
                    removed_any = true;
                    None
                }
                None if g.members.contains_key(&member_id) => {
                    self.remove_member_raw(g, &member_id, ResponseError::UnknownMemberId);
                    removed_any = true;
                    None
                }
                None => Some(ResponseError::UnknownMemberId),
            };
            results.push(build!(MemberResponse {
                member_id: sb(&member_id),
                group_instance_id: inst.as_deref().map(sb),
                error_code: err.map(code).unwrap_or(0)
            }));
        }
        if removed_any {
            self.on_members_removed(g);
        }
        if version <= 2 {
            build!(LeaveGroupResponse { error_code: results[0].error_code })
        } else {
            build!(LeaveGroupResponse { members: results })
        }
    }

    // ---------------------------------------------------------------- Offsets

    fn validate_commit(
        g: &ClassicGroup,
        member_id: &str,
        instance_id: Option<&str>,
        generation_id: i32,
    ) -> Option<ResponseError> {
        if g.state == GroupState::Dead {
            return Some(ResponseError::CoordinatorNotAvailable);
        }
        // Manual assignment / admin commits: allowed while nobody is in the group.
        if generation_id < 0 && g.state == GroupState::Empty {
            return None;
        }
        if generation_id >= 0 || !member_id.is_empty() || instance_id.is_some() {
            if let Some(inst) = instance_id {
                match g.static_members.get(inst) {
                    Some(mid) if mid != member_id => return Some(ResponseError::FencedInstanceId),
                    _ => {}
                }
            }
            if !g.members.contains_key(member_id) {
                return Some(ResponseError::UnknownMemberId);
            }
            if generation_id != g.generation_id {
                return Some(ResponseError::IllegalGeneration);
            }
        } else if g.state != GroupState::Empty {
            return Some(ResponseError::UnknownMemberId);
        }
        // The member has its JoinGroup response but not yet its assignment (Kafka's rule; commits
        // during PreparingRebalance from the current generation are accepted).
        if g.state == GroupState::CompletingRebalance {
            return Some(ResponseError::RebalanceInProgress);
        }
        None
    }

    fn commit(
        &self,
        st: &mut State,
        req: &OffsetCommitRequest,
        version: i16,
        topics: &dyn TopicLookup,
    ) -> OffsetCommitResponse {
        let group_id = req.group_id.0.as_str();
        let member_id = req.member_id.as_str();
        let instance_id = if version >= 7 { req.group_instance_id.as_deref() } else { None };
        let generation = req.generation_id_or_member_epoch;
        let group_error = match st.groups.get(group_id) {
            _ if group_id.is_empty() => Some(ResponseError::InvalidGroupId),
            _ if self.not_loaded(st, group_id).is_some() => Some(ResponseError::NotCoordinator),
            None if generation < 0 => None,
            None if version >= 9 => Some(ResponseError::GroupIdNotFound),
            None => Some(ResponseError::IllegalGeneration),
            Some(g) => Self::validate_commit(g, member_id, instance_id, generation),
        };
        let now_ms = self.now_ms();
        // Per partition: (topic index, partition index, error or record).
        let mut results: Vec<Vec<(i32, i16)>> = Vec::new();
        let mut records = Vec::new();
        let mut to_apply = Vec::new();
        for (ti, t) in req.topics.iter().enumerate() {
            let name = if t.name.0.is_empty() && !t.topic_id.is_nil() {
                topics.topic_name(t.topic_id)
            } else {
                Some(t.name.0.to_string())
            };
            let mut parts = Vec::new();
            for p in &t.partitions {
                let err = if let Some(e) = group_error {
                    Some(e)
                } else {
                    match &name {
                        None => Some(ResponseError::UnknownTopicId),
                        Some(n)
                            if !topics.partition_count(n).is_some_and(|c| {
                                p.partition_index >= 0 && p.partition_index < c
                            }) =>
                        {
                            Some(ResponseError::UnknownTopicOrPartition)
                        }
                        Some(_)
                            if p.committed_metadata
                                .as_ref()
                                .is_some_and(|m| m.len() > MAX_OFFSET_METADATA) =>
                        {
                            Some(ResponseError::OffsetMetadataTooLarge)
                        }
                        Some(n) => {
                            let value = OffsetValue {
                                offset: p.committed_offset,
                                leader_epoch: if version >= 6 {
                                    p.committed_leader_epoch
                                } else {
                                    -1
                                },
                                metadata: p.committed_metadata.as_deref().unwrap_or("").to_owned(),
                                commit_timestamp: now_ms,
                                expire_timestamp: -1,
                            };
                            records.push((
                                offsets_topic::encode_offset_key(group_id, n, p.partition_index),
                                Some(offsets_topic::encode_offset_value(&value)),
                            ));
                            to_apply.push((ti, parts.len(), n.clone(), p.partition_index, value));
                            None
                        }
                    }
                };
                parts.push((p.partition_index, err.map(code).unwrap_or(0)));
            }
            results.push(parts);
        }
        if !records.is_empty() {
            let partition =
                partitioner::partition_for(group_id, self.config.offsets_topic_num_partitions);
            match self.log.append(partition, records) {
                Ok(()) => {
                    let g = st
                        .groups
                        .entry(group_id.to_owned())
                        .or_insert_with(|| ClassicGroup::new(group_id.to_owned(), now_ms));
                    if let Some(m) = g.members.get_mut(member_id) {
                        // A commit from a live member proves it is alive.
                        m.session_deadline = runtime::now() + ms(m.session_timeout_ms);
                    }
                    for (_, _, topic, partition, value) in to_apply {
                        g.offsets.insert((topic, partition), value);
                    }
                }
                Err(e) => {
                    tracing::warn!(group = group_id, error = %e, "offset commit not persisted");
                    for (ti, pi, ..) in to_apply {
                        results[ti][pi].1 = code(ResponseError::CoordinatorNotAvailable);
                    }
                }
            }
        }
        build!(OffsetCommitResponse {
            topics: req
                .topics
                .iter()
                .zip(results)
                .map(|(t, parts)| build!(OffsetCommitResponseTopic {
                    name: t.name.clone(),
                    topic_id: if version >= 10 { t.topic_id } else { Uuid::nil() },
                    partitions: parts
                        .into_iter()
                        .map(|(partition_index, error_code)| build!(
                            OffsetCommitResponsePartition {
                                partition_index: partition_index,
                                error_code: error_code
                            }
                        ))
                        .collect()
                }))
                .collect()
        })
    }

    fn expire_offsets(&self, st: &mut State) -> usize {
        let now_ms = self.now_ms();
        let retention_ms = self.config.offsets_retention_minutes.saturating_mul(60_000);
        let mut expired_total = 0;
        let mut dead = Vec::new();
        for g in st.groups.values_mut() {
            let expired = expired_offsets(g, now_ms, retention_ms);
            let remove_group = g.state == GroupState::Empty
                && g.members.is_empty()
                && g.pending_members.is_empty()
                && expired.len() == g.offsets.len();
            if expired.is_empty() && !remove_group {
                continue;
            }
            let group_id = g.group_id.as_str();
            let mut records: Vec<(Bytes, Option<Bytes>)> = expired
                .iter()
                .map(|(t, p)| (offsets_topic::encode_offset_key(group_id, t, *p), None))
                .collect();
            if remove_group {
                records.push((offsets_topic::encode_group_key(group_id), None));
            }
            let partition =
                partitioner::partition_for(group_id, self.config.offsets_topic_num_partitions);
            if let Err(e) = self.log.append(partition, records) {
                // Nothing changes in memory; the next pass tries again.
                tracing::warn!(group = group_id, error = %e, "offset expiry not persisted");
                continue;
            }
            for k in &expired {
                g.offsets.remove(k);
            }
            expired_total += expired.len();
            if remove_group {
                tracing::debug!(group = group_id, expired = expired.len(), "empty group removed");
                g.transition(GroupState::Dead, now_ms);
                dead.push(g.group_id.clone());
            } else {
                tracing::debug!(group = group_id, expired = expired.len(), "offsets expired");
            }
        }
        for id in dead {
            st.groups.remove(&id);
        }
        expired_total
    }

    fn delete_group(&self, st: &mut State, group_id: &str) -> Option<ResponseError> {
        if let Some(e) = self.not_loaded(st, group_id) {
            return Some(e);
        }
        let Some(g) = st.groups.get(group_id) else {
            return Some(ResponseError::GroupIdNotFound);
        };
        match g.state {
            GroupState::Dead => return Some(ResponseError::GroupIdNotFound),
            GroupState::Empty => {}
            _ => return Some(ResponseError::NonEmptyGroup),
        }
        let mut records: Vec<(Bytes, Option<Bytes>)> = g
            .offsets
            .keys()
            .map(|(t, p)| (offsets_topic::encode_offset_key(group_id, t, *p), None))
            .collect();
        records.push((offsets_topic::encode_group_key(group_id), None));
        let partition =
            partitioner::partition_for(group_id, self.config.offsets_topic_num_partitions);
        if let Err(e) = self.log.append(partition, records) {
            tracing::warn!(group = group_id, error = %e, "group deletion not persisted");
            return Some(ResponseError::CoordinatorNotAvailable);
        }
        st.groups.remove(group_id);
        None
    }

    fn offset_delete(&self, st: &mut State, req: &OffsetDeleteRequest) -> OffsetDeleteResponse {
        let group_id = req.group_id.0.as_str();
        let top = |e: ResponseError| build!(OffsetDeleteResponse { error_code: code(e) });
        if let Some(e) = self.not_loaded(st, group_id) {
            return top(e);
        }
        let Some(g) = st.groups.get_mut(group_id) else {
            return top(ResponseError::GroupIdNotFound);
        };
        // None = every topic counts as subscribed.
        let subscribed: Option<BTreeSet<String>> = match g.state {
            GroupState::Dead => return top(ResponseError::GroupIdNotFound),
            GroupState::Empty => Some(BTreeSet::new()),
            _ if g.protocol_type.as_deref() == Some("consumer") => g.subscribed_topics(),
            _ => return top(ResponseError::NonEmptyGroup),
        };
        let mut records = Vec::new();
        let mut removals = Vec::new();
        let topics: Vec<OffsetDeleteResponseTopic> = req
            .topics
            .iter()
            .map(|t| {
                let name = t.name.0.to_string();
                let is_subscribed = subscribed.as_ref().is_none_or(|s| s.contains(&name));
                build!(OffsetDeleteResponseTopic {
                    name: t.name.clone(),
                    partitions: t
                        .partitions
                        .iter()
                        .map(|p| {
                            let error_code = if is_subscribed {
                                code(ResponseError::GroupSubscribedToTopic)
                            } else {
                                if g.offsets.contains_key(&(name.clone(), p.partition_index)) {
                                    records.push((
                                        offsets_topic::encode_offset_key(
                                            group_id,
                                            &name,
                                            p.partition_index,
                                        ),
                                        None,
                                    ));
                                    removals.push((name.clone(), p.partition_index));
                                }
                                0
                            };
                            build!(OffsetDeleteResponsePartition {
                                partition_index: p.partition_index,
                                error_code: error_code
                            })
                        })
                        .collect()
                })
            })
            .collect();
        if !records.is_empty() {
            let partition =
                partitioner::partition_for(group_id, self.config.offsets_topic_num_partitions);
            if let Err(e) = self.log.append(partition, records) {
                tracing::warn!(group = group_id, error = %e, "offset deletion not persisted");
                return top(ResponseError::CoordinatorNotAvailable);
            }
            for k in removals {
                g.offsets.remove(&k);
            }
        }
        build!(OffsetDeleteResponse { topics: topics })
    }

    // ---------------------------------------------------------------- Timers

    fn spawn_session_timer(&self, group_id: &str, member_id: &str, token: u64, at: Instant) {
        let weak = self.weak.clone();
        let (group_id, member_id) = (group_id.to_owned(), member_id.to_owned());
        runtime::spawn(async move {
            let mut at = at;
            loop {
                runtime::sleep_until(at).await;
                let Some(inner) = weak.upgrade() else { return };
                match inner.on_session_timer(&group_id, &member_id, token) {
                    Some(next) => at = next,
                    None => return,
                }
            }
        });
    }

    /// Expires the member if its deadline passed; returns the next deadline to sleep until, or
    /// `None` when this timer is done.
    fn on_session_timer(&self, group_id: &str, member_id: &str, token: u64) -> Option<Instant> {
        let mut st = self.lock();
        let g = st.groups.get_mut(group_id)?;
        let now = runtime::now();
        if let Some(&(t, deadline)) = g.pending_members.get(member_id) {
            if t != token {
                return None;
            }
            if now < deadline {
                return Some(deadline);
            }
            g.pending_members.remove(member_id);
            tracing::debug!(group = group_id, member = member_id, "pending member never rejoined");
            self.maybe_complete_join(g);
            return None;
        }
        let m = g.members.get_mut(member_id)?;
        if m.token != token {
            return None;
        }
        let parked = m.join_waiter.as_ref().is_some_and(|w| !w.tx.is_closed())
            || m.sync_waiter.as_ref().is_some_and(|w| !w.tx.is_closed());
        if parked {
            // Its request is parked here, so it cannot heartbeat meanwhile; a request whose
            // connection went away (receiver dropped) does not keep the member alive.
            m.session_deadline = now + ms(m.session_timeout_ms);
            return Some(m.session_deadline);
        }
        if now < m.session_deadline {
            return Some(m.session_deadline);
        }
        tracing::info!(group = group_id, member = member_id, "member session expired");
        self.remove_member_raw(g, member_id, ResponseError::UnknownMemberId);
        self.on_members_removed(g);
        None
    }

    fn spawn_rebalance_timer(
        &self,
        group_id: &str,
        seq: u64,
        earliest: Instant,
        deadline: Instant,
    ) {
        let weak = self.weak.clone();
        let group_id = group_id.to_owned();
        runtime::spawn(async move {
            runtime::sleep_until(earliest).await;
            match weak.upgrade() {
                Some(inner) if inner.on_rebalance_timer(&group_id, seq, false) => {}
                _ => return,
            }
            runtime::sleep_until(deadline).await;
            if let Some(inner) = weak.upgrade() {
                inner.on_rebalance_timer(&group_id, seq, true);
            }
        });
    }

    /// Returns whether the rebalance `seq` is still waiting.
    fn on_rebalance_timer(&self, group_id: &str, seq: u64, force: bool) -> bool {
        let mut st = self.lock();
        let Some(g) = st.groups.get_mut(group_id) else { return false };
        if g.rebalance_seq != seq || g.state != GroupState::PreparingRebalance {
            return false;
        }
        if force {
            tracing::debug!(
                group = group_id,
                "rebalance timeout; completing join without stragglers"
            );
            self.complete_join(g);
        } else {
            self.maybe_complete_join(g);
        }
        g.state == GroupState::PreparingRebalance && g.rebalance_seq == seq
    }
}
