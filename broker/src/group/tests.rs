//! Tests for the group coordinator: protocol flows under paused tokio time.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex as StdMutex;

use bytes::{BufMut, BytesMut};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::protocol::Encodable;

use super::*;
use crate::clock::TokioClock;

const NONE: i16 = 0;

fn e(err: ResponseError) -> i16 {
    err.code()
}

/// In-memory `OffsetsLog` that can be told to fail.
#[derive(Default)]
struct MemLog {
    records: StdMutex<Vec<(i32, Bytes, Option<Bytes>)>>,
    fail: AtomicBool,
}

impl OffsetsLog for MemLog {
    fn append(&self, partition: i32, records: Vec<(Bytes, Option<Bytes>)>) -> Result<(), String> {
        if self.fail.load(Ordering::SeqCst) {
            return Err("disk on fire".into());
        }
        let mut all = self.records.lock().unwrap();
        all.extend(records.into_iter().map(|(k, v)| (partition, k, v)));
        Ok(())
    }
}

impl MemLog {
    fn replay(&self) -> Vec<(Option<Bytes>, Option<Bytes>)> {
        self.records.lock().unwrap().iter().map(|(_, k, v)| (Some(k.clone()), v.clone())).collect()
    }
    fn len(&self) -> usize {
        self.records.lock().unwrap().len()
    }
}

struct Topics;

impl TopicLookup for Topics {
    fn partition_count(&self, topic: &str) -> Option<i32> {
        match topic {
            "t" => Some(3),
            "u" => Some(1),
            _ => None,
        }
    }
    fn topic_name(&self, id: Uuid) -> Option<String> {
        (id == Uuid::from_u128(7)).then(|| "t".to_owned())
    }
    fn topic_id(&self, name: &str) -> Option<Uuid> {
        (name == "t").then(|| Uuid::from_u128(7))
    }
}

/// A single node leads every `__consumer_offsets` partition: its coordinator loads them all.
fn own_every_partition(c: &GroupCoordinator) {
    for partition in 0..GroupConfig::default().offsets_topic_num_partitions {
        c.load(partition, std::iter::empty());
    }
}

fn coordinator() -> (GroupCoordinator, Arc<MemLog>) {
    let log = Arc::new(MemLog::default());
    let config = GroupConfig { group_initial_rebalance_delay_ms: 0, ..GroupConfig::default() };
    let c =
        GroupCoordinator::new(Arc::new(TokioClock::new(1_700_000_000_000)), log.clone(), config);
    own_every_partition(&c);
    (c, log)
}

/// A ConsumerProtocolSubscription v0 for `topics`.
fn sub(topics: &[&str]) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(0);
    b.put_i32(topics.len() as i32);
    for t in topics {
        b.put_i16(t.len() as i16);
        b.put_slice(t.as_bytes());
    }
    b.put_i32(-1);
    b.freeze()
}

fn join_req(group: &str, member: &str, protocols: &[&str]) -> JoinGroupRequest {
    build!(JoinGroupRequest {
        group_id: GroupId(sb(group)),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 30_000,
        member_id: sb(member),
        protocol_type: sb("consumer"),
        protocols: protocols
            .iter()
            .map(|p| build!(JoinGroupRequestProtocol { name: sb(p), metadata: sub(&["t"]) }))
            .collect(),
    })
}

fn encodes<T: Encodable>(m: &T, version: i16) {
    let mut b = BytesMut::new();
    m.encode(&mut b, version).unwrap_or_else(|err| panic!("encode v{version}: {err}"));
}

type JoinHandle = tokio::task::JoinHandle<JoinGroupResponse>;

fn spawn_join(c: &GroupCoordinator, req: JoinGroupRequest, version: i16) -> JoinHandle {
    let c = c.clone();
    runtime::spawn(async move { c.join_group(req, version, "client", "/127.0.0.1").await })
}

/// Obtains a member id through the MEMBER_ID_REQUIRED round trip.
async fn member_id(c: &GroupCoordinator, group: &str) -> String {
    let r = c.join_group(join_req(group, "", &["range"]), 5, "client", "/127.0.0.1").await;
    assert_eq!(r.error_code, e(ResponseError::MemberIdRequired));
    r.member_id.to_string()
}

fn sync_req(
    group: &str,
    generation: i32,
    member: &str,
    assignments: &[(&str, &str)],
) -> SyncGroupRequest {
    build!(SyncGroupRequest {
        group_id: GroupId(sb(group)),
        generation_id: generation,
        member_id: sb(member),
        assignments: assignments
            .iter()
            .map(|(m, a)| build!(SyncGroupRequestAssignment {
                member_id: sb(m),
                assignment: Bytes::copy_from_slice(a.as_bytes())
            }))
            .collect(),
    })
}

fn hb(c: &GroupCoordinator, group: &str, generation: i32, member: &str) -> i16 {
    let req = build!(HeartbeatRequest {
        group_id: GroupId(sb(group)),
        generation_id: generation,
        member_id: sb(member),
    });
    c.heartbeat(req, 4).error_code
}

fn state(c: &GroupCoordinator, group: &str) -> String {
    let req = build!(DescribeGroupsRequest { groups: vec![GroupId(sb(group))] });
    c.describe_groups(req, 5).groups[0].group_state.to_string()
}

/// A Stable group of `n` members; returns (member ids with the leader first, generation).
async fn stable_group(c: &GroupCoordinator, group: &str, n: usize) -> (Vec<String>, i32) {
    let mut ids = Vec::new();
    for _ in 0..n {
        ids.push(member_id(c, group).await);
    }
    let handles: Vec<JoinHandle> =
        ids.iter().map(|id| spawn_join(c, join_req(group, id, &["range"]), 5)).collect();
    let mut resps = Vec::new();
    for h in handles {
        resps.push(h.await.unwrap());
    }
    let generation = resps[0].generation_id;
    let leader = resps[0].leader.to_string();
    let mut sync_handles = Vec::new();
    for id in ids.iter().filter(|id| **id != leader) {
        let c = c.clone();
        let req = sync_req(group, generation, id, &[]);
        sync_handles.push(runtime::spawn(async move { c.sync_group(req, 5).await }));
    }
    let assignments: Vec<(&str, &str)> = ids.iter().map(|id| (id.as_str(), "a")).collect();
    let r = c.sync_group(sync_req(group, generation, &leader, &assignments), 5).await;
    assert_eq!(r.error_code, NONE);
    for h in sync_handles {
        assert_eq!(h.await.unwrap().error_code, NONE);
    }
    let mut ordered = vec![leader.clone()];
    ordered.extend(ids.into_iter().filter(|id| *id != leader));
    (ordered, generation)
}

fn commit_req(
    group: &str,
    generation: i32,
    member: &str,
    parts: &[(&str, i32, i64)],
) -> OffsetCommitRequest {
    build!(OffsetCommitRequest {
        group_id: GroupId(sb(group)),
        generation_id_or_member_epoch: generation,
        member_id: sb(member),
        topics: parts
            .iter()
            .map(|(t, p, o)| build!(OffsetCommitRequestTopic {
                name: TopicName(sb(t)),
                partitions: vec![build!(OffsetCommitRequestPartition {
                    partition_index: *p,
                    committed_offset: *o,
                    committed_leader_epoch: 4,
                    committed_metadata: Some(sb("meta")),
                })],
            }))
            .collect(),
    })
}

fn commit_codes(r: &OffsetCommitResponse) -> Vec<i16> {
    r.topics.iter().flat_map(|t| t.partitions.iter().map(|p| p.error_code)).collect()
}

/// Offsets from a v7 (single-group) fetch of `group`; `None` = all partitions.
fn fetch_v7(
    c: &GroupCoordinator,
    group: &str,
    topics: Option<Vec<(&str, Vec<i32>)>>,
) -> Vec<(String, i32, i64, i32)> {
    let req = build!(OffsetFetchRequest {
        group_id: GroupId(sb(group)),
        topics: topics.map(|ts| {
            ts.into_iter()
                .map(|(t, ps)| {
                    build!(OffsetFetchRequestTopic {
                        name: TopicName(sb(t)),
                        partition_indexes: ps
                    })
                })
                .collect()
        }),
    });
    let r = c.offset_fetch(req, 7, &Topics);
    encodes(&r, 7);
    assert_eq!(r.error_code, NONE);
    r.topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(move |p| {
                assert_eq!(p.error_code, NONE);
                (
                    t.name.to_string(),
                    p.partition_index,
                    p.committed_offset,
                    p.committed_leader_epoch,
                )
            })
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn member_id_required_then_rejoin() {
    let (c, _) = coordinator();
    let r = c.join_group(join_req("g", "", &["range"]), 4, "client", "/h").await;
    assert_eq!(r.error_code, e(ResponseError::MemberIdRequired));
    assert!(r.member_id.starts_with("client-"));
    encodes(&r, 4);
    // Pending members are not members yet.
    assert_eq!(state(&c, "g"), "Empty");
    let id = r.member_id.to_string();
    let r = c.join_group(join_req("g", &id, &["range"]), 4, "client", "/h").await;
    assert_eq!(r.error_code, NONE);
    assert_eq!(r.member_id.as_str(), id);
    assert_eq!(r.leader.as_str(), id);
    assert_eq!(r.generation_id, 1);
    assert_eq!(r.members.len(), 1);
    assert_eq!(state(&c, "g"), "CompletingRebalance");
    // v3 has no MEMBER_ID_REQUIRED step: the member joins immediately.
    let r = c.join_group(join_req("g3", "", &["range"]), 3, "client", "/h").await;
    assert_eq!(r.error_code, NONE);
    assert_eq!(r.generation_id, 1);
    // An id the group never handed out.
    let r = c.join_group(join_req("g", "bogus", &["range"]), 5, "client", "/h").await;
    assert_eq!(r.error_code, e(ResponseError::UnknownMemberId));
}

#[tokio::test(start_paused = true)]
async fn join_validation_errors() {
    let (c, _) = coordinator();
    let mut req = join_req("g", "", &["range"]);
    req.session_timeout_ms = 10;
    assert_eq!(
        c.join_group(req, 5, "c", "/h").await.error_code,
        e(ResponseError::InvalidSessionTimeout)
    );
    stable_group(&c, "g", 1).await;
    let mut req = join_req("g", "", &["range"]);
    req.protocol_type = sb("connect");
    assert_eq!(
        c.join_group(req, 5, "c", "/h").await.error_code,
        e(ResponseError::InconsistentGroupProtocol)
    );
    let req = join_req("g", "", &["sticky"]);
    assert_eq!(
        c.join_group(req, 5, "c", "/h").await.error_code,
        e(ResponseError::InconsistentGroupProtocol)
    );
    let r = c.join_group(join_req("nope", "m-1", &["range"]), 5, "c", "/h").await;
    assert_eq!(r.error_code, e(ResponseError::UnknownMemberId));
    encodes(&r, 0);
    encodes(&r, 9);
}

#[tokio::test(start_paused = true)]
async fn three_members_one_generation_and_assignments() {
    let (c, log) = coordinator();
    let ids = [member_id(&c, "g").await, member_id(&c, "g").await, member_id(&c, "g").await];
    // Two members prefer range, one roundrobin: the vote picks range.
    let prefs: [&[&str]; 3] =
        [&["range", "roundrobin"], &["roundrobin", "range"], &["range", "roundrobin"]];
    let handles: Vec<JoinHandle> =
        ids.iter().zip(prefs).map(|(id, p)| spawn_join(&c, join_req("g", id, p), 7)).collect();
    let mut resps = Vec::new();
    for h in handles {
        resps.push(h.await.unwrap());
    }
    for r in &resps {
        assert_eq!(r.error_code, NONE);
        assert_eq!(r.generation_id, 1);
        assert_eq!(r.leader.as_str(), ids[0]);
        assert_eq!(r.protocol_name.as_deref(), Some("range"));
        assert_eq!(r.protocol_type.as_deref(), Some("consumer"));
        encodes(r, 7);
    }
    assert_eq!(resps[0].members.len(), 3);
    assert!(resps[1].members.is_empty() && resps[2].members.is_empty());

    // Followers wait for the leader's SyncGroup.
    let followers: Vec<_> = ids[1..]
        .iter()
        .map(|id| {
            let c = c.clone();
            let req = sync_req("g", 1, id, &[]);
            runtime::spawn(async move { c.sync_group(req, 5).await })
        })
        .collect();
    runtime::sleep(Duration::from_millis(10)).await;
    assert!(followers.iter().all(|h| !h.is_finished()));
    let log_before = log.len();
    let assignments = [(ids[0].as_str(), "a0"), (ids[1].as_str(), "a1"), (ids[2].as_str(), "a2")];
    let r = c.sync_group(sync_req("g", 1, &ids[0], &assignments), 5).await;
    assert_eq!((r.error_code, &r.assignment[..]), (NONE, &b"a0"[..]));
    assert_eq!(r.protocol_name.as_deref(), Some("range"));
    encodes(&r, 5);
    encodes(&r, 0);
    for (i, h) in followers.into_iter().enumerate() {
        let r = h.await.unwrap();
        assert_eq!(r.error_code, NONE);
        assert_eq!(&r.assignment[..], format!("a{}", i + 1).as_bytes());
    }
    assert_eq!(state(&c, "g"), "Stable");
    // The generation was persisted as a GroupMetadata record.
    assert_eq!(log.len(), log_before + 1);
    let (_, k, v) = log.records.lock().unwrap().last().cloned().unwrap();
    assert_eq!(offsets_topic::decode_key(k).unwrap(), RecordKey::Group("g".into()));
    let gm = offsets_topic::decode_group_value(v.unwrap()).unwrap();
    assert_eq!((gm.generation, gm.protocol.as_deref(), gm.members.len()), (1, Some("range"), 3));
    assert_eq!(&gm.members[2].assignment[..], b"a2");
    // Errors after the fact.
    let r = c.sync_group(sync_req("g", 0, &ids[1], &[]), 5).await;
    assert_eq!(r.error_code, e(ResponseError::IllegalGeneration));
    let r = c.sync_group(sync_req("g", 1, "who", &[]), 5).await;
    assert_eq!(r.error_code, e(ResponseError::UnknownMemberId));
    let mut req = sync_req("g", 1, &ids[1], &[]);
    req.protocol_name = Some(sb("roundrobin"));
    assert_eq!(c.sync_group(req, 5).await.error_code, e(ResponseError::InconsistentGroupProtocol));
    // Stable: a follower's repeated SyncGroup gets its assignment straight away.
    let r = c.sync_group(sync_req("g", 1, &ids[2], &[]), 5).await;
    assert_eq!(&r.assignment[..], b"a2");
}

#[tokio::test(start_paused = true)]
async fn heartbeat_signals_rebalance_when_member_joins() {
    let (c, _) = coordinator();
    let (ids, generation) = stable_group(&c, "g", 1).await;
    assert_eq!(hb(&c, "g", generation, &ids[0]), NONE);
    assert_eq!(hb(&c, "g", generation + 5, &ids[0]), e(ResponseError::IllegalGeneration));
    assert_eq!(hb(&c, "g", generation, "ghost"), e(ResponseError::UnknownMemberId));
    let newcomer = member_id(&c, "g").await;
    let h = spawn_join(&c, join_req("g", &newcomer, &["range"]), 5);
    runtime::sleep(Duration::from_millis(10)).await;
    assert_eq!(state(&c, "g"), "PreparingRebalance");
    assert_eq!(hb(&c, "g", generation, &ids[0]), e(ResponseError::RebalanceInProgress));
    // Commits from the current generation are still accepted while preparing (Kafka's rule).
    let r = c.offset_commit(commit_req("g", generation, &ids[0], &[("t", 0, 5)]), 8, &Topics);
    assert_eq!(commit_codes(&r), vec![NONE]);
    let r = c.join_group(join_req("g", &ids[0], &["range"]), 5, "client", "/h").await;
    assert_eq!(r.generation_id, generation + 1);
    assert_eq!(r.leader.as_str(), ids[0], "the existing leader stays leader");
    assert_eq!(r.members.len(), 2);
    assert_eq!(h.await.unwrap().generation_id, generation + 1);
    // CompletingRebalance: heartbeats are fine, commits must wait for the assignment.
    assert_eq!(hb(&c, "g", generation + 1, &newcomer), NONE);
    let r = c.offset_commit(commit_req("g", generation + 1, &newcomer, &[("t", 0, 6)]), 8, &Topics);
    assert_eq!(commit_codes(&r), vec![e(ResponseError::RebalanceInProgress)]);
}

#[tokio::test(start_paused = true)]
async fn leave_triggers_rebalance_and_empties_group() {
    let (c, log) = coordinator();
    let (ids, generation) = stable_group(&c, "g", 2).await;
    let req = build!(LeaveGroupRequest {
        group_id: GroupId(sb("g")),
        members: vec![
            build!(MemberIdentity { member_id: sb(&ids[1]) }),
            build!(MemberIdentity { member_id: sb("ghost") }),
        ],
    });
    let r = c.leave_group(req, 5);
    encodes(&r, 5);
    assert_eq!(r.error_code, NONE);
    assert_eq!(
        r.members.iter().map(|m| m.error_code).collect::<Vec<_>>(),
        vec![NONE, e(ResponseError::UnknownMemberId)]
    );
    assert_eq!(state(&c, "g"), "PreparingRebalance");
    assert_eq!(hb(&c, "g", generation, &ids[0]), e(ResponseError::RebalanceInProgress));
    let r = c.join_group(join_req("g", &ids[0], &["range"]), 5, "client", "/h").await;
    assert_eq!((r.generation_id, r.members.len()), (generation + 1, 1));
    // v0 layout: single member id, top-level error.
    let req = build!(LeaveGroupRequest { group_id: GroupId(sb("g")), member_id: sb(&ids[0]) });
    let r = c.leave_group(req, 0);
    encodes(&r, 0);
    assert_eq!(r.error_code, NONE);
    assert_eq!(state(&c, "g"), "Empty");
    let (_, _, v) = log.records.lock().unwrap().last().cloned().unwrap();
    let gm = offsets_topic::decode_group_value(v.unwrap()).unwrap();
    assert_eq!((gm.generation, gm.members.len(), gm.leader), (generation + 2, 0, None));
    let req = build!(LeaveGroupRequest { group_id: GroupId(sb("g")), member_id: sb(&ids[0]) });
    assert_eq!(c.leave_group(req, 1).error_code, e(ResponseError::UnknownMemberId));
}

#[tokio::test(start_paused = true)]
async fn session_timeout_expires_silent_member() {
    let (c, _) = coordinator();
    let (ids, generation) = stable_group(&c, "g", 2).await;
    // ids[0] heartbeats every 3s; ids[1] stays silent past its 10s session timeout.
    for _ in 0..3 {
        runtime::sleep(Duration::from_secs(3)).await;
        let code = hb(&c, "g", generation, &ids[0]);
        assert_eq!(code, NONE);
    }
    assert_eq!(hb(&c, "g", generation, &ids[1]), NONE, "9s in, still alive");
    runtime::sleep(Duration::from_secs(1)).await;
    assert_eq!(hb(&c, "g", generation, &ids[0]), NONE, "ids[1] just heartbeated");
    runtime::sleep(Duration::from_secs(5)).await;
    assert_eq!(hb(&c, "g", generation, &ids[0]), NONE);
    // 20s: ids[1]'s deadline (19s) has passed; ids[0]'s is 25s.
    runtime::sleep(Duration::from_secs(5)).await;
    assert_eq!(hb(&c, "g", generation, &ids[0]), e(ResponseError::RebalanceInProgress));
    assert_eq!(hb(&c, "g", generation, &ids[1]), e(ResponseError::UnknownMemberId));
    let r = c.join_group(join_req("g", &ids[0], &["range"]), 5, "client", "/h").await;
    assert_eq!((r.generation_id, r.members.len()), (generation + 1, 1));

    // A MEMBER_ID_REQUIRED member that never comes back is forgotten after its session timeout.
    let pending = member_id(&c, "g2").await;
    runtime::sleep(Duration::from_secs(11)).await;
    let r = c.join_group(join_req("g2", &pending, &["range"]), 5, "client", "/h").await;
    assert_eq!(r.error_code, e(ResponseError::UnknownMemberId));
}

#[tokio::test(start_paused = true)]
async fn rebalance_timeout_drops_members_that_do_not_rejoin() {
    let (c, _) = coordinator();
    let (ids, generation) = stable_group(&c, "g", 2).await;
    let leader = ids[0].clone();
    // A follower rejoining with unchanged metadata would just get the current generation back;
    // new metadata forces a rebalance.
    let h = spawn_join(&c, join_req("g", &ids[1], &["range", "roundrobin"]), 5);
    // The leader keeps heartbeating (so its session stays alive) but never rejoins.
    for _ in 0..12 {
        runtime::sleep(Duration::from_secs(3)).await;
        if h.is_finished() {
            break;
        }
        hb(&c, "g", generation, &leader);
    }
    let r = h.await.unwrap();
    assert_eq!(r.generation_id, generation + 1);
    assert_eq!(r.leader.as_str(), ids[1], "a member that rejoined becomes leader");
    assert_eq!(r.members.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn offset_commit_and_fetch_both_layouts() {
    let (c, _) = coordinator();
    let (ids, generation) = stable_group(&c, "g", 1).await;
    let req = commit_req(
        "g",
        generation,
        &ids[0],
        &[("t", 0, 10), ("t", 2, 30), ("u", 0, 5), ("nope", 0, 1), ("t", 3, 1)],
    );
    let r = c.offset_commit(req, 8, &Topics);
    encodes(&r, 8);
    assert_eq!(
        commit_codes(&r),
        vec![
            NONE,
            NONE,
            NONE,
            e(ResponseError::UnknownTopicOrPartition),
            e(ResponseError::UnknownTopicOrPartition)
        ]
    );
    let mut req = commit_req("g", generation, &ids[0], &[("t", 1, 1)]);
    req.topics[0].partitions[0].committed_metadata = Some(sb(&"x".repeat(4097)));
    assert_eq!(
        commit_codes(&c.offset_commit(req, 8, &Topics)),
        vec![e(ResponseError::OffsetMetadataTooLarge)]
    );

    assert_eq!(
        fetch_v7(&c, "g", Some(vec![("t", vec![0, 1, 2])])),
        vec![("t".into(), 0, 10, 4), ("t".into(), 1, -1, -1), ("t".into(), 2, 30, 4)]
    );
    assert_eq!(
        fetch_v7(&c, "g", None),
        vec![("t".into(), 0, 10, 4), ("t".into(), 2, 30, 4), ("u".into(), 0, 5, 4)]
    );
    // Unknown group: -1 offsets, and no topics for the all-partitions form.
    assert_eq!(fetch_v7(&c, "other", Some(vec![("t", vec![0])])), vec![("t".into(), 0, -1, -1)]);
    assert!(fetch_v7(&c, "other", None).is_empty());

    // v8+: batched groups.
    let req = build!(OffsetFetchRequest {
        groups: vec![
            build!(OffsetFetchRequestGroup {
                group_id: GroupId(sb("g")),
                topics: Some(vec![build!(OffsetFetchRequestTopics {
                    name: TopicName(sb("t")),
                    partition_indexes: vec![2],
                })]),
            }),
            build!(OffsetFetchRequestGroup { group_id: GroupId(sb("g")), topics: None }),
            build!(OffsetFetchRequestGroup { group_id: GroupId(sb("missing")), topics: None }),
        ],
        require_stable: true,
    });
    let r = c.offset_fetch(req, 9, &Topics);
    encodes(&r, 9);
    assert_eq!(r.groups.len(), 3);
    let p = &r.groups[0].topics[0].partitions[0];
    assert_eq!((p.partition_index, p.committed_offset, p.committed_leader_epoch), (2, 30, 4));
    assert_eq!(p.metadata.as_deref(), Some("meta"));
    assert_eq!(r.groups[1].topics.iter().map(|t| t.partitions.len()).sum::<usize>(), 3);
    assert!(r.groups[2].topics.is_empty());
    // Older layouts encode too (leader epoch only exists from v5).
    let req = build!(OffsetFetchRequest { group_id: GroupId(sb("g")), topics: None });
    let r = c.offset_fetch(req, 1, &Topics);
    encodes(&r, 1);
    assert_eq!(r.topics[0].partitions[0].committed_leader_epoch, -1);
}

#[tokio::test(start_paused = true)]
async fn commit_generation_and_member_checks() {
    let (c, _) = coordinator();
    let (ids, generation) = stable_group(&c, "g", 1).await;
    let r = c.offset_commit(commit_req("g", generation - 1, &ids[0], &[("t", 0, 1)]), 8, &Topics);
    assert_eq!(commit_codes(&r), vec![e(ResponseError::IllegalGeneration)]);
    let r = c.offset_commit(commit_req("g", generation, "ghost", &[("t", 0, 1)]), 8, &Topics);
    assert_eq!(commit_codes(&r), vec![e(ResponseError::UnknownMemberId)]);
    // A simple (manual-assignment) commit is refused while the group has members...
    let r = c.offset_commit(commit_req("g", -1, "", &[("t", 0, 1)]), 8, &Topics);
    assert_eq!(commit_codes(&r), vec![e(ResponseError::UnknownMemberId)]);
    assert_eq!(fetch_v7(&c, "g", Some(vec![("t", vec![0])])), vec![("t".into(), 0, -1, -1)]);
    // ...and creates an Empty group with just offsets when there is none.
    let r = c.offset_commit(commit_req("manual", -1, "", &[("t", 1, 9)]), 2, &Topics);
    encodes(&r, 2);
    assert_eq!(commit_codes(&r), vec![NONE]);
    assert_eq!(state(&c, "manual"), "Empty");
    assert_eq!(fetch_v7(&c, "manual", None), vec![("t".into(), 1, 9, -1)]);
    // Unknown group with a generation: ILLEGAL_GENERATION before v9, GROUP_ID_NOT_FOUND from v9.
    let r = c.offset_commit(commit_req("x", 3, "m", &[("t", 0, 1)]), 8, &Topics);
    assert_eq!(commit_codes(&r), vec![e(ResponseError::IllegalGeneration)]);
    let r = c.offset_commit(commit_req("x", 3, "m", &[("t", 0, 1)]), 9, &Topics);
    assert_eq!(commit_codes(&r), vec![e(ResponseError::GroupIdNotFound)]);
}

#[tokio::test(start_paused = true)]
async fn commits_are_persisted_and_reloaded() {
    let (c, log) = coordinator();
    let (ids, generation) = stable_group(&c, "g", 1).await;
    let r = c.offset_commit(
        commit_req("g", generation, &ids[0], &[("t", 0, 10), ("t", 1, 11)]),
        8,
        &Topics,
    );
    assert_eq!(commit_codes(&r), vec![NONE, NONE]);
    let r = c.offset_commit(commit_req("g", generation, &ids[0], &[("t", 0, 12)]), 8, &Topics);
    assert_eq!(commit_codes(&r), vec![NONE]);
    // Records go to the group's partition, in Kafka's format.
    let records = log.records.lock().unwrap().clone();
    assert!(records.iter().all(|(p, ..)| *p == c.partition_for("g")));
    let (_, k, v) = records.last().cloned().unwrap();
    assert_eq!(
        offsets_topic::decode_key(k).unwrap(),
        RecordKey::Offset(offsets_topic::OffsetKey {
            group: "g".into(),
            topic: "t".into(),
            partition: 0
        })
    );
    let v = offsets_topic::decode_offset_value(v.unwrap()).unwrap();
    assert_eq!((v.offset, v.leader_epoch, v.metadata.as_str()), (12, 4, "meta"));

    // A failed append is not acknowledged and not visible.
    log.fail.store(true, Ordering::SeqCst);
    let r = c.offset_commit(commit_req("g", generation, &ids[0], &[("t", 0, 99)]), 8, &Topics);
    assert_eq!(commit_codes(&r), vec![e(ResponseError::CoordinatorNotAvailable)]);
    log.fail.store(false, Ordering::SeqCst);
    assert_eq!(fetch_v7(&c, "g", Some(vec![("t", vec![0])])), vec![("t".into(), 0, 12, 4)]);

    let (c2, _) = coordinator();
    c2.load(c.partition_for("g"), log.replay());
    assert_eq!(fetch_v7(&c2, "g", None), vec![("t".into(), 0, 12, 4), ("t".into(), 1, 11, 4)]);
    assert_eq!(state(&c2, "g"), "Empty");
    // The generation survives; the first rebalance after the restart moves past it.
    let id = member_id(&c2, "g").await;
    let r = c2.join_group(join_req("g", &id, &["range"]), 5, "client", "/h").await;
    assert_eq!(r.generation_id, generation + 1);
}

#[tokio::test(start_paused = true)]
async fn delete_groups_checks_state_and_writes_tombstones() {
    let (c, log) = coordinator();
    stable_group(&c, "busy", 1).await;
    let r = c.offset_commit(commit_req("idle", -1, "", &[("t", 0, 1), ("u", 0, 2)]), 8, &Topics);
    assert_eq!(commit_codes(&r), vec![NONE, NONE]);
    let req = build!(DeleteGroupsRequest {
        groups_names: vec![GroupId(sb("busy")), GroupId(sb("idle")), GroupId(sb("ghost"))],
    });
    let r = c.delete_groups(req, 2);
    encodes(&r, 2);
    assert_eq!(
        r.results.iter().map(|g| g.error_code).collect::<Vec<_>>(),
        vec![e(ResponseError::NonEmptyGroup), NONE, e(ResponseError::GroupIdNotFound)]
    );
    assert!(fetch_v7(&c, "idle", None).is_empty());
    let tail: Vec<_> =
        log.records.lock().unwrap().iter().rev().take(3).map(|(_, _, v)| v.is_none()).collect();
    assert_eq!(tail, vec![true, true, true]);
    let (c2, _) = coordinator();
    c2.load(0, log.replay());
    assert_eq!(c2.group_count(), 1, "only the busy group survives a replay");
    assert!(fetch_v7(&c2, "idle", None).is_empty());
}

#[tokio::test(start_paused = true)]
async fn list_and_describe_groups() {
    let (c, _) = coordinator();
    let (ids, _) = stable_group(&c, "s", 2).await;
    c.offset_commit(commit_req("e", -1, "", &[("t", 0, 1)]), 8, &Topics);
    let list = |states: &[&str], types: &[&str], v: i16| {
        let req = build!(ListGroupsRequest {
            states_filter: states.iter().map(|s| sb(s)).collect(),
            types_filter: types.iter().map(|s| sb(s)).collect(),
        });
        let r = c.list_groups(req, v);
        encodes(&r, v);
        r.groups
            .iter()
            .map(|g| (g.group_id.to_string(), g.group_state.to_string()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        list(&[], &[], 5),
        vec![("e".into(), "Empty".into()), ("s".into(), "Stable".into())]
    );
    assert_eq!(list(&["stable"], &[], 4), vec![("s".into(), "Stable".into())]);
    assert!(list(&[], &["consumer"], 5).is_empty());
    assert_eq!(list(&[], &["Classic"], 5).len(), 2);
    assert_eq!(list(&[], &[], 0), vec![("e".into(), String::new()), ("s".into(), String::new())]);
    assert_eq!(c.groups_by_state(), BTreeMap::from([("Empty".into(), 1), ("Stable".into(), 1)]));

    let req =
        build!(DescribeGroupsRequest { groups: vec![GroupId(sb("s")), GroupId(sb("ghost"))] });
    let r = c.describe_groups(req.clone(), 5);
    encodes(&r, 5);
    let s = &r.groups[0];
    assert_eq!(
        (s.group_state.as_str(), s.protocol_type.as_str(), s.protocol_data.as_str()),
        ("Stable", "consumer", "range")
    );
    assert_eq!(s.members.iter().map(|m| m.member_id.to_string()).collect::<Vec<_>>(), ids);
    assert_eq!(&s.members[0].member_assignment[..], b"a");
    assert_eq!(s.members[0].client_host.as_str(), "/127.0.0.1");
    assert_eq!((r.groups[1].error_code, r.groups[1].group_state.as_str()), (NONE, "Dead"));
    let r = c.describe_groups(req, 6);
    encodes(&r, 6);
    assert_eq!(r.groups[1].error_code, e(ResponseError::GroupIdNotFound));
}

#[tokio::test(start_paused = true)]
async fn offset_delete_respects_subscriptions() {
    let (c, log) = coordinator();
    let (ids, generation) = stable_group(&c, "g", 1).await;
    let r = c.offset_commit(
        commit_req("g", generation, &ids[0], &[("t", 0, 1), ("u", 0, 2)]),
        8,
        &Topics,
    );
    assert_eq!(commit_codes(&r), vec![NONE, NONE]);
    let req = build!(OffsetDeleteRequest {
        group_id: GroupId(sb("g")),
        topics: ["t", "u"]
            .iter()
            .map(|t| build!(OffsetDeleteRequestTopic {
                name: TopicName(sb(t)),
                partitions: vec![build!(OffsetDeleteRequestPartition { partition_index: 0 })],
            }))
            .collect(),
    });
    let before = log.len();
    let r = c.offset_delete(req.clone(), 0);
    encodes(&r, 0);
    assert_eq!(r.error_code, NONE);
    // The member subscribes to "t" only.
    let codes: Vec<i16> = r.topics.iter().map(|t| t.partitions[0].error_code).collect();
    assert_eq!(codes, vec![e(ResponseError::GroupSubscribedToTopic), NONE]);
    assert_eq!(log.len(), before + 1);
    assert_eq!(fetch_v7(&c, "g", None), vec![("t".into(), 0, 1, 4)]);
    let mut missing = req;
    missing.group_id = GroupId(sb("ghost"));
    assert_eq!(c.offset_delete(missing, 0).error_code, e(ResponseError::GroupIdNotFound));
}

#[tokio::test(start_paused = true)]
async fn static_member_keeps_its_slot() {
    let (c, _) = coordinator();
    let mut req = join_req("g", "", &["range"]);
    req.group_instance_id = Some(sb("i-1"));
    // Static members skip MEMBER_ID_REQUIRED.
    let r = c.join_group(req.clone(), 5, "client", "/h").await;
    assert_eq!((r.error_code, r.generation_id), (NONE, 1));
    let first = r.member_id.to_string();
    let r = c.sync_group(sync_req("g", 1, &first, &[(first.as_str(), "a")]), 5).await;
    assert_eq!(r.error_code, NONE);
    // The same instance restarts: it gets a new member id in the same slot and the old id is fenced.
    let r = c.join_group(req, 5, "client", "/h").await;
    assert_eq!(r.error_code, NONE);
    assert_ne!(r.member_id.as_str(), first);
    assert_eq!(hb(&c, "g", r.generation_id, &first), e(ResponseError::UnknownMemberId));
}

fn static_join_req(group: &str, instance: &str) -> JoinGroupRequest {
    let mut req = join_req(group, "", &["range"]);
    req.group_instance_id = Some(sb(instance));
    req
}

/// A coordinator whose new groups wait 100 ms for more members (static members skip
/// MEMBER_ID_REQUIRED, so nothing else holds the first join phase open for the second).
fn delayed_coordinator() -> (GroupCoordinator, Arc<MemLog>) {
    let log = Arc::new(MemLog::default());
    let config = GroupConfig { group_initial_rebalance_delay_ms: 100, ..GroupConfig::default() };
    let c =
        GroupCoordinator::new(Arc::new(TokioClock::new(1_700_000_000_000)), log.clone(), config);
    own_every_partition(&c);
    (c, log)
}

/// A Stable group of static members `i-1` (the leader) and `i-2`, assigned `a1` and `a2`;
/// returns ([leader id, follower id], generation).
async fn static_pair(c: &GroupCoordinator, group: &str) -> ([String; 2], i32) {
    let first = spawn_join(c, static_join_req(group, "i-1"), 5);
    tokio::task::yield_now().await;
    let second = spawn_join(c, static_join_req(group, "i-2"), 5);
    let (first, second) = (first.await.unwrap(), second.await.unwrap());
    assert_eq!((first.error_code, second.error_code), (NONE, NONE));
    let ids = [first.member_id.to_string(), second.member_id.to_string()];
    assert_eq!(first.leader.as_str(), ids[0]);
    let generation = first.generation_id;
    let follower = {
        let c = c.clone();
        let req = sync_req(group, generation, &ids[1], &[]);
        runtime::spawn(async move { c.sync_group(req, 5).await })
    };
    let assignments = [(ids[0].as_str(), "a1"), (ids[1].as_str(), "a2")];
    let r = c.sync_group(sync_req(group, generation, &ids[0], &assignments), 5).await;
    assert_eq!(r.error_code, NONE);
    assert_eq!(&follower.await.unwrap().assignment[..], b"a2");
    (ids, generation)
}

/// The member ids in the latest GroupMetadata record of `group`.
fn persisted_members(log: &MemLog, group: &str) -> Vec<String> {
    let all = log.records.lock().unwrap().clone();
    let value = all
        .iter()
        .rev()
        .find_map(|(_, k, v)| match offsets_topic::decode_key(k.clone()).unwrap() {
            RecordKey::Group(g) if g == group => v.clone(),
            _ => None,
        })
        .expect("a GroupMetadata record");
    let value = offsets_topic::decode_group_value(value).unwrap();
    value.members.into_iter().map(|m| m.member_id).collect()
}

#[tokio::test(start_paused = true)]
async fn restarted_static_leader_rejoins_without_a_rebalance() {
    let (c, log) = delayed_coordinator();
    let ([leader, follower], generation) = static_pair(&c, "g").await;

    // The leader restarts (JoinGroup v5, as librdkafka sends): answered at once, same
    // generation, naming the previous leader id so that it does not run the assignor.
    let r = c.join_group(static_join_req("g", "i-1"), 5, "client", "/h").await;
    encodes(&r, 5);
    let restarted = r.member_id.to_string();
    assert_eq!((r.error_code, r.generation_id), (NONE, generation));
    assert_ne!(restarted, leader);
    assert_eq!(r.leader.as_str(), leader);
    assert!(r.members.is_empty());
    assert_eq!(state(&c, "g"), "Stable");
    // The other member sees no rebalance; the old incarnation is fenced: told so when it
    // names its instance (so that it stops rather than rejoin and take the slot back).
    assert_eq!(hb(&c, "g", generation, &follower), NONE);
    assert_eq!(hb(&c, "g", generation, &leader), e(ResponseError::UnknownMemberId));
    let req = build!(HeartbeatRequest {
        group_id: GroupId(sb("g")),
        generation_id: generation,
        member_id: sb(&leader),
        group_instance_id: Some(sb("i-1")),
    });
    assert_eq!(c.heartbeat(req, 4).error_code, e(ResponseError::FencedInstanceId));
    let mut req = sync_req("g", generation, &leader, &[]);
    req.group_instance_id = Some(sb("i-1"));
    assert_eq!(c.sync_group(req, 5).await.error_code, e(ResponseError::FencedInstanceId));
    let mut req = static_join_req("g", "i-1");
    req.member_id = sb(&leader);
    let r = c.join_group(req, 5, "client", "/h").await;
    assert_eq!(r.error_code, e(ResponseError::FencedInstanceId));
    assert_eq!(state(&c, "g"), "Stable");
    // Its SyncGroup returns the assignment it had, and the new member id is persisted.
    let r = c.sync_group(sync_req("g", generation, &restarted, &[]), 5).await;
    assert_eq!((r.error_code, &r.assignment[..]), (NONE, &b"a1"[..]));
    assert_eq!(persisted_members(&log, "g"), vec![restarted.clone(), follower.clone()]);

    // JoinGroup v9 (KIP-814): the leader is told it leads, with the members, and to skip the
    // assignment.
    let r = c.join_group(static_join_req("g", "i-1"), 9, "client", "/h").await;
    encodes(&r, 9);
    let again = r.member_id.to_string();
    assert_eq!((r.error_code, r.generation_id, r.skip_assignment), (NONE, generation, true));
    assert_eq!(r.leader.as_str(), again);
    let listed: Vec<String> = r.members.iter().map(|m| m.member_id.to_string()).collect();
    assert_eq!(listed, vec![again.clone(), follower.clone()]);
    assert_eq!(hb(&c, "g", generation, &follower), NONE);
    assert_eq!(state(&c, "g"), "Stable");

    // A restarted follower on v9 is not told to skip anything and gets no member list.
    let r = c.join_group(static_join_req("g", "i-2"), 9, "client", "/h").await;
    assert_eq!((r.error_code, r.generation_id, r.skip_assignment), (NONE, generation, false));
    assert_eq!(r.leader.as_str(), again);
    assert!(r.members.is_empty());
    assert_eq!(hb(&c, "g", generation, &again), NONE);
}

#[tokio::test(start_paused = true)]
async fn restarted_static_member_whose_id_cannot_be_persisted_keeps_the_old_one() {
    let (c, log) = delayed_coordinator();
    let ([leader, follower], generation) = static_pair(&c, "g").await;
    log.fail.store(true, Ordering::SeqCst);
    let r = c.join_group(static_join_req("g", "i-1"), 5, "client", "/h").await;
    assert_eq!(r.error_code, e(ResponseError::CoordinatorNotAvailable));
    assert_eq!(r.member_id.as_str(), "");
    // Nothing changed: the old incarnation is still the member and the group is Stable.
    assert_eq!(hb(&c, "g", generation, &leader), NONE);
    assert_eq!(hb(&c, "g", generation, &follower), NONE);
    assert_eq!(state(&c, "g"), "Stable");
}

#[tokio::test(start_paused = true)]
async fn static_member_restarting_while_the_leader_assigns_rebalances() {
    let (c, _) = delayed_coordinator();
    let first = spawn_join(&c, static_join_req("g", "i-1"), 5);
    tokio::task::yield_now().await;
    let second = spawn_join(&c, static_join_req("g", "i-2"), 5);
    let (first, second) = (first.await.unwrap(), second.await.unwrap());
    assert_eq!(state(&c, "g"), "CompletingRebalance");
    // The leader may be assigning to the old member id: the group must rebalance, and the
    // next generation has the new id in the old one's place.
    let restarted = spawn_join(&c, static_join_req("g", "i-2"), 5);
    tokio::task::yield_now().await;
    assert_eq!(state(&c, "g"), "PreparingRebalance");
    let leader = first.member_id.to_string();
    let again = c.join_group(join_req("g", &leader, &["range"]), 5, "client", "/h").await;
    let restarted = restarted.await.unwrap();
    assert_eq!(again.generation_id, first.generation_id + 1);
    assert_eq!(restarted.generation_id, first.generation_id + 1);
    let listed: Vec<String> = again.members.iter().map(|m| m.member_id.to_string()).collect();
    assert_eq!(listed, vec![leader, restarted.member_id.to_string()]);
    assert_ne!(restarted.member_id, second.member_id);
}

// ---------------------------------------------------------------- Offset expiry (KIP-211)

const MINUTE: Duration = Duration::from_secs(60);
const DAY: Duration = Duration::from_secs(24 * 3600);
/// The default `offsets.retention.minutes`.
const RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// A coordinator whose wall clock reads `epoch_ms` now (a restart continuing another's time).
fn coordinator_at(epoch_ms: i64) -> (GroupCoordinator, Arc<MemLog>) {
    let log = Arc::new(MemLog::default());
    let config = GroupConfig { group_initial_rebalance_delay_ms: 0, ..GroupConfig::default() };
    let c = GroupCoordinator::new(Arc::new(TokioClock::new(epoch_ms)), log.clone(), config);
    own_every_partition(&c);
    (c, log)
}

/// A Stable one-member group whose member has a 30-minute session; returns (member, generation).
async fn long_lived_member(c: &GroupCoordinator, group: &str) -> (String, i32) {
    let id = member_id(c, group).await;
    let mut req = join_req(group, &id, &["range"]);
    req.session_timeout_ms = 1_800_000;
    let r = c.join_group(req, 5, "client", "/h").await;
    assert_eq!(r.error_code, NONE);
    let generation = r.generation_id;
    let r = c.sync_group(sync_req(group, generation, &id, &[(&id, "a")]), 5).await;
    assert_eq!(r.error_code, NONE);
    assert_eq!(state(c, group), "Stable");
    (id, generation)
}

/// Lets `total` pass while the member heartbeats every 20 minutes.
async fn keep_alive(c: &GroupCoordinator, group: &str, generation: i32, id: &str, total: Duration) {
    keep_all_alive(c, &[(group, generation, id)], total).await;
}

/// Lets `total` pass while every (group, generation, member) heartbeats every 20 minutes.
async fn keep_all_alive(c: &GroupCoordinator, members: &[(&str, i32, &str)], total: Duration) {
    let mut left = total;
    while !left.is_zero() {
        let step = left.min(20 * MINUTE);
        runtime::sleep(step).await;
        for (group, generation, id) in members {
            assert_eq!(hb(c, group, *generation, id), NONE);
        }
        left -= step;
    }
}

fn leave(c: &GroupCoordinator, group: &str, id: &str) {
    let req = build!(LeaveGroupRequest { group_id: GroupId(sb(group)), member_id: sb(id) });
    assert_eq!(c.leave_group(req, 0).error_code, NONE);
    assert_eq!(state(c, group), "Empty");
}

fn listed(c: &GroupCoordinator) -> Vec<String> {
    let r = c.list_groups(ListGroupsRequest::default(), 4);
    r.groups.iter().map(|g| g.group_id.to_string()).collect()
}

/// A record as (group, topic/partition or None for a GroupMetadata key, is tombstone).
type RecordSummary = (String, Option<(String, i32)>, bool);

/// The last `n` records of `log`.
fn tail(log: &MemLog, n: usize) -> Vec<RecordSummary> {
    let all = log.records.lock().unwrap().clone();
    all[all.len() - n..]
        .iter()
        .map(|(_, k, v)| match offsets_topic::decode_key(k.clone()).unwrap() {
            RecordKey::Offset(o) => (o.group, Some((o.topic, o.partition)), v.is_none()),
            RecordKey::Group(g) => (g, None, v.is_none()),
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn empty_group_offsets_expire_retention_after_it_emptied() {
    let (c, log) = coordinator();
    let (id, generation) = long_lived_member(&c, "g").await;
    let r = c.offset_commit(
        commit_req("g", generation, &id, &[("t", 0, 10), ("t", 1, 11)]),
        8,
        &Topics,
    );
    assert_eq!(commit_codes(&r), vec![NONE, NONE]);
    // The group stays alive two days after the commit, then empties.
    keep_alive(&c, "g", generation, &id, 2 * DAY).await;
    leave(&c, "g", &id);
    // Nine days after the commits but a minute short of seven since the group emptied.
    runtime::sleep(RETENTION - MINUTE).await;
    assert_eq!(c.expire_offsets(), 0);
    assert_eq!(fetch_v7(&c, "g", None).len(), 2);
    runtime::sleep(MINUTE).await;
    // An unpersisted expiry changes nothing.
    log.fail.store(true, Ordering::SeqCst);
    assert_eq!(c.expire_offsets(), 0);
    assert_eq!(fetch_v7(&c, "g", None).len(), 2);
    log.fail.store(false, Ordering::SeqCst);
    let before = log.len();
    assert_eq!(c.expire_offsets(), 2);
    assert!(fetch_v7(&c, "g", None).is_empty());
    assert_eq!(state(&c, "g"), "Dead");
    assert_eq!(c.group_count(), 0);
    assert_eq!(log.len(), before + 3);
    assert_eq!(
        tail(&log, 3),
        vec![
            ("g".into(), Some(("t".into(), 0)), true),
            ("g".into(), Some(("t".into(), 1)), true),
            ("g".into(), None, true),
        ]
    );
    assert!(log.records.lock().unwrap().iter().all(|(p, ..)| *p == c.partition_for("g")));
    assert_eq!(c.expire_offsets(), 0, "nothing left to expire");
    assert_eq!(log.len(), before + 3);
    // A replay of the log neither serves the offsets nor resurrects the group.
    let (c2, _) = coordinator();
    c2.load(c.partition_for("g"), log.replay());
    assert_eq!(c2.group_count(), 0);
    assert!(fetch_v7(&c2, "g", None).is_empty());
    assert!(listed(&c2).is_empty());
}

#[tokio::test(start_paused = true)]
async fn group_with_members_keeps_offsets_however_old() {
    let (c, log) = coordinator();
    let (id, generation) = long_lived_member(&c, "g").await;
    let r = c.offset_commit(commit_req("g", generation, &id, &[("t", 0, 10)]), 8, &Topics);
    assert_eq!(commit_codes(&r), vec![NONE]);
    let before = log.len();
    for _ in 0..10 {
        keep_alive(&c, "g", generation, &id, DAY).await;
        assert_eq!(c.expire_offsets(), 0);
    }
    assert_eq!(fetch_v7(&c, "g", None), vec![("t".into(), 0, 10, 4)]);
    assert_eq!(log.len(), before, "no tombstones");
    assert_eq!(listed(&c), vec!["g".to_owned()]);
}

#[tokio::test(start_paused = true)]
async fn stable_consumer_group_expires_offsets_of_unsubscribed_topics() {
    let (c, log) = coordinator();
    // The member subscribes to "t" only.
    let (id, generation) = long_lived_member(&c, "g").await;
    let r = c.offset_commit(
        commit_req("g", generation, &id, &[("t", 0, 10), ("u", 0, 20)]),
        8,
        &Topics,
    );
    assert_eq!(commit_codes(&r), vec![NONE, NONE]);
    keep_alive(&c, "g", generation, &id, RETENTION - MINUTE).await;
    assert_eq!(c.expire_offsets(), 0);
    keep_alive(&c, "g", generation, &id, MINUTE).await;
    assert_eq!(c.expire_offsets(), 1);
    assert_eq!(tail(&log, 1), vec![("g".into(), Some(("u".into(), 0)), true)]);
    assert_eq!(fetch_v7(&c, "g", None), vec![("t".into(), 0, 10, 4)]);
    assert_eq!(state(&c, "g"), "Stable");
}

#[tokio::test(start_paused = true)]
async fn standalone_commits_expire_by_their_commit_timestamp() {
    let (c, log) = coordinator();
    stable_group(&c, "s", 1).await;
    let r = c.offset_commit(commit_req("solo", -1, "", &[("t", 0, 1)]), 8, &Topics);
    assert_eq!(commit_codes(&r), vec![NONE]);
    runtime::sleep(3 * DAY).await;
    let r = c.offset_commit(commit_req("solo", -1, "", &[("t", 1, 2)]), 8, &Topics);
    assert_eq!(commit_codes(&r), vec![NONE]);
    runtime::sleep(RETENTION - 3 * DAY - MINUTE).await;
    assert_eq!(c.expire_offsets(), 0);
    runtime::sleep(MINUTE).await;
    // Only the first commit is old enough; the group lives on with the second.
    assert_eq!(c.expire_offsets(), 1);
    assert_eq!(fetch_v7(&c, "solo", None), vec![("t".into(), 1, 2, 4)]);
    assert_eq!(tail(&log, 1), vec![("solo".into(), Some(("t".into(), 0)), true)]);
    assert!(listed(&c).contains(&"solo".to_owned()));
    runtime::sleep(3 * DAY - MINUTE).await;
    assert_eq!(c.expire_offsets(), 0);
    runtime::sleep(MINUTE).await;
    assert_eq!(c.expire_offsets(), 1);
    assert_eq!(
        tail(&log, 2),
        vec![("solo".into(), Some(("t".into(), 1)), true), ("solo".into(), None, true)]
    );
    // ListGroups no longer lists it; the (long expired) member-less "s" is gone as well.
    assert!(!listed(&c).contains(&"solo".to_owned()));
    assert_eq!(c.group_count(), 0);
    let (c2, _) = coordinator();
    c2.load(0, log.replay());
    assert!(fetch_v7(&c2, "solo", None).is_empty());
    assert!(!listed(&c2).contains(&"solo".to_owned()));
}

#[tokio::test(start_paused = true)]
async fn expiry_timing_survives_a_restart() {
    let (c, log) = coordinator();
    let (gone, gone_gen) = long_lived_member(&c, "gone").await;
    let (live, live_gen) = long_lived_member(&c, "live").await;
    for (g, id, generation) in [("gone", &gone, gone_gen), ("live", &live, live_gen)] {
        let r = c.offset_commit(commit_req(g, generation, id, &[("t", 0, 5)]), 8, &Topics);
        assert_eq!(commit_codes(&r), vec![NONE]);
    }
    let t0 = c.inner.clock.now_ms();
    // "gone" empties an hour in; "live" still has its member when the broker stops at one day.
    keep_all_alive(&c, &[("gone", gone_gen, &gone), ("live", live_gen, &live)], 60 * MINUTE).await;
    leave(&c, "gone", &gone);
    keep_alive(&c, "live", live_gen, &live, DAY - 60 * MINUTE).await;
    let (c2, log2) = coordinator_at(c.inner.clock.now_ms());
    c2.load(0, log.replay());
    assert_eq!(c2.inner.clock.now_ms() - t0, DAY.as_millis() as i64);
    // "gone" has been Empty since t0 + 1h (from its GroupMetadata record).
    runtime::sleep(RETENTION + 60 * MINUTE - DAY - MINUTE).await;
    assert_eq!(c2.expire_offsets(), 0);
    runtime::sleep(MINUTE).await;
    assert_eq!(c2.expire_offsets(), 1);
    assert!(fetch_v7(&c2, "gone", None).is_empty());
    assert_eq!(tail(&log2, 2).last().unwrap(), &("gone".into(), None, true));
    // "live" had a member when its last record was written: Empty only from the restart on.
    assert_eq!(fetch_v7(&c2, "live", None), vec![("t".into(), 0, 5, 4)]);
    runtime::sleep(DAY - 60 * MINUTE - MINUTE).await;
    assert_eq!(c2.expire_offsets(), 0);
    runtime::sleep(MINUTE).await;
    assert_eq!(c2.expire_offsets(), 1);
    assert_eq!(c2.group_count(), 0);
}
