//! Each checker on small hand-written histories: it flags the anomaly it names, and the lax
//! flush policy excuses exactly what a crash explains.

use super::check_all;
use crate::config::SimConfig;
use crate::history::{CommitOutcome, Event, ProduceOutcome};

fn produce(end_ms: u64, partition: i32, value: &str, offset: i64) -> Event {
    Event::Produce {
        start_ms: end_ms - 1,
        end_ms,
        client: "producer-0".into(),
        partition,
        value: value.into(),
        acks: -1,
        idempotent: false,
        outcome: ProduceOutcome::Ok { offset },
    }
}

fn poll(client: &str, end_ms: u64, fetch_offset: i64, hw: i64, records: &[(i64, &str)]) -> Event {
    Event::Poll {
        start_ms: end_ms - 1,
        end_ms,
        client: client.into(),
        node: 1,
        partition: 0,
        fetch_offset,
        high_watermark: hw,
        records: records.iter().map(|(o, v)| (*o, v.to_string())).collect(),
    }
}

fn started(time_ms: u64, incarnation: u32, leo: i64) -> Event {
    Event::BrokerStarted { time_ms, node_id: 1, incarnation, log_end_offsets: vec![leo] }
}

fn final_read(time_ms: u64) -> Event {
    Event::FinalRead { time_ms, complete: true }
}

/// The names of the checkers that failed.
fn failed(flush_interval_messages: u64, events: &[Event]) -> Vec<&'static str> {
    let config = SimConfig { flush_interval_messages, partitions: 1, ..SimConfig::default() };
    check_all(&config, events).into_iter().filter(|v| !v.ok).map(|v| v.name).collect()
}

#[test]
fn a_clean_history_passes_every_checker() {
    let events = [
        started(0, 0, 0),
        produce(10, 0, "a", 0),
        produce(20, 0, "b", 1),
        poll("consumer-0", 30, 0, 2, &[(0, "a"), (1, "b")]),
        poll("final-reader", 40, 0, 2, &[(0, "a"), (1, "b")]),
        final_read(40),
    ];
    assert_eq!(failed(1, &events), Vec::<&str>::new());
}

#[test]
fn a_write_lost_in_a_crash_fails_strict_and_is_excused_under_a_lax_policy() {
    let events = [
        started(0, 0, 0),
        produce(10, 0, "a", 0),
        produce(20, 0, "b", 1),
        started(30, 1, 1),
        poll("final-reader", 40, 0, 1, &[(0, "a")]),
        final_read(40),
    ];
    assert_eq!(failed(1, &events), vec!["lost-write"]);
    assert_eq!(failed(1000, &events), Vec::<&str>::new());
}

#[test]
fn a_lost_write_no_crash_explains_fails_under_a_lax_policy_too() {
    let events = [
        started(0, 0, 0),
        started(5, 1, 0),
        produce(10, 0, "a", 0),
        poll("final-reader", 40, 0, 0, &[]),
        final_read(40),
    ];
    assert_eq!(failed(1000, &events), vec!["lost-write"]);
}

#[test]
fn duplicates_inconsistent_offsets_skips_and_reordering_are_flagged() {
    let events = [
        started(0, 0, 0),
        produce(10, 0, "a", 0),
        poll("consumer-0", 20, 0, 3, &[(0, "x"), (2, "a")]),
        poll("consumer-0", 30, 3, 3, &[(1, "b")]),
        poll("consumer-1", 40, 0, 2, &[]),
        poll("final-reader", 50, 0, 3, &[(0, "a"), (1, "b"), (2, "a")]),
        final_read(50),
    ];
    let failures = failed(1, &events);
    for name in
        ["duplicate", "inconsistent-offsets", "poll-skip", "nonmonotonic-poll", "high-watermark"]
    {
        assert!(failures.contains(&name), "{name} not flagged: {failures:?}");
    }
    assert!(!failures.contains(&"lost-write"), "{failures:?}");
}

/// replica-divergence: a replica holding another record below the final high watermark (a
/// tail it should have truncated) fails; one that agrees, or differs only above the high
/// watermark, or whose log ends lower, passes.
#[test]
fn a_replica_keeping_a_record_the_leader_truncated_is_divergence() {
    let replica = |node_id: i32, records: &[(i64, &str)]| Event::ReplicaLog {
        node_id,
        partition: 0,
        log_end_offset: records.len() as i64,
        records: records.iter().map(|(o, v)| (*o, v.to_string())).collect(),
    };
    let history = |replicas: Vec<Event>| {
        let mut events = vec![
            started(0, 0, 0),
            poll("final-reader", 50, 0, 2, &[(0, "a"), (1, "b")]),
            final_read(50),
        ];
        events.extend(replicas);
        events
    };
    let agreeing = history(vec![
        replica(1, &[(0, "a"), (1, "b")]),
        replica(2, &[(0, "a")]),
        replica(3, &[(0, "a"), (1, "b"), (2, "above the high watermark")]),
    ]);
    assert!(!failed(1, &agreeing).contains(&"replica-divergence"));
    let diverged =
        history(vec![replica(1, &[(0, "a"), (1, "b")]), replica(3, &[(0, "a"), (1, "z")])]);
    assert!(failed(1, &diverged).contains(&"replica-divergence"), "{:?}", failed(1, &diverged));
}

#[test]
fn an_unfinished_final_read_fails_liveness() {
    let events = [started(0, 0, 0), Event::FinalRead { time_ms: 99, complete: false }];
    assert_eq!(failed(1, &events), vec!["liveness"]);
}

fn assigned(client: &str, member: &str, generation: i32, end_ms: u64, partitions: &[i32]) -> Event {
    Event::Assigned {
        start_ms: end_ms - 1,
        end_ms,
        client: client.into(),
        group: "g".into(),
        member_id: member.into(),
        generation,
        leader: "leader".into(),
        partitions: partitions.to_vec(),
    }
}

fn joined(client: &str, member: &str, generation: i32, end_ms: u64) -> Event {
    Event::GroupOp {
        start_ms: end_ms - 1,
        end_ms,
        client: client.into(),
        group: "g".into(),
        op: "join".into(),
        member_id: member.into(),
        generation,
        outcome: "ok".into(),
    }
}

fn commit(
    client: &str,
    generation: i32,
    end_ms: u64,
    offset: i64,
    outcome: CommitOutcome,
) -> Event {
    Event::Commit {
        start_ms: end_ms - 2,
        end_ms,
        client: client.into(),
        group: "g".into(),
        member_id: format!("{client}-m"),
        generation,
        partition: 0,
        offset,
        outcome,
    }
}

fn offset_fetch(client: &str, end_ms: u64, offset: i64) -> Event {
    Event::OffsetFetch {
        start_ms: end_ms - 1,
        end_ms,
        client: client.into(),
        group: "g".into(),
        partition: 0,
        offset,
    }
}

/// A clean group history: c1 owns partition 0 in generation 1 and commits; in generation 2 c2
/// takes over from the committed offset and c1's late commit is refused.
fn clean_group_history() -> Vec<Event> {
    vec![
        started(0, 0, 0),
        produce(5, 0, "a", 0),
        produce(6, 0, "b", 1),
        produce(7, 0, "c", 2),
        joined("c1", "c1-m", 1, 10),
        assigned("c1", "c1-m", 1, 11, &[0]),
        offset_fetch("c1", 12, -1),
        poll("c1", 20, 0, 3, &[(0, "a"), (1, "b")]),
        commit("c1", 1, 30, 2, CommitOutcome::Ok),
        joined("c2", "c2-m", 2, 40),
        joined("c1", "c1-m", 2, 40),
        assigned("c2", "c2-m", 2, 41, &[0]),
        assigned("c1", "c1-m", 2, 41, &[]),
        commit("c1", 1, 45, 3, CommitOutcome::Fail { error: "IllegalGeneration".into() }),
        offset_fetch("c2", 50, 2),
        poll("c2", 60, 2, 3, &[(2, "c")]),
        commit("c2", 2, 70, 3, CommitOutcome::Ok),
        poll("final-reader", 80, 0, 3, &[(0, "a"), (1, "b"), (2, "c")]),
        final_read(80),
    ]
}

#[test]
fn a_clean_group_history_passes_every_checker() {
    assert_eq!(failed(1, &clean_group_history()), Vec::<&str>::new());
}

#[test]
fn a_committed_offset_going_back_is_flagged_unless_a_reset_explains_it() {
    // An OffsetFetch answering less than an acknowledged commit (a lost commit).
    let mut events = clean_group_history();
    events[14] = offset_fetch("c2", 50, 1);
    events[15] = poll("c2", 60, 1, 3, &[(1, "b"), (2, "c")]);
    assert_eq!(failed(1, &events), vec!["committed-offset-regression"]);
    // No offset at all after a commit was acknowledged.
    let mut events = clean_group_history();
    events[14] = offset_fetch("c2", 50, -1);
    events[15] = poll("c2", 60, 0, 3, &[(0, "a"), (1, "b"), (2, "c")]);
    assert_eq!(failed(1, &events), vec!["committed-offset-regression"]);
    // An acknowledged commit lower than an earlier acknowledged one...
    let mut events = clean_group_history();
    events.insert(17, commit("c2", 2, 75, 1, CommitOutcome::Ok));
    assert_eq!(failed(1, &events), vec!["committed-offset-regression"]);
    // ...is an explicit reset when the member's position was reset first.
    events.insert(
        17,
        Event::Reset { time_ms: 72, client: "c2".into(), partition: 0, from: 3, to: 0 },
    );
    assert_eq!(failed(1, &events), Vec::<&str>::new());
}

#[test]
fn a_new_owner_resuming_beyond_the_committed_offset_is_a_poll_skip() {
    // The coordinator answers an offset nobody committed; c2 skips record 2.
    let mut events = clean_group_history();
    events[14] = offset_fetch("c2", 50, 3);
    events[15] = poll("c2", 60, 3, 3, &[]);
    assert_eq!(failed(1, &events), vec!["poll-skip"]);
}

#[test]
fn two_owners_in_one_generation_are_a_double_assignment() {
    let mut events = clean_group_history();
    events[12] = assigned("c1", "c1-m", 2, 41, &[0]);
    assert_eq!(failed(1, &events), vec!["double-assignment"]);
}

#[test]
fn a_commit_of_an_old_generation_acknowledged_after_a_new_one_formed_is_stale() {
    let mut events = clean_group_history();
    events[13] = commit("c1", 1, 45, 3, CommitOutcome::Ok);
    let failures = failed(1, &events);
    assert!(failures.contains(&"stale-generation-commit"), "{failures:?}");
}

#[test]
fn a_group_consumers_new_assignment_starts_a_new_poll_session() {
    // c1 reads offsets 0-1, loses and regains the partition, and rereads from the committed
    // offset 0: at-least-once redelivery, not a nonmonotonic poll.
    let events = [
        started(0, 0, 0),
        produce(5, 0, "a", 0),
        produce(6, 0, "b", 1),
        assigned("c1", "c1-m", 1, 11, &[0]),
        offset_fetch("c1", 12, -1),
        poll("c1", 20, 0, 2, &[(0, "a"), (1, "b")]),
        assigned("c1", "c1-m", 2, 31, &[0]),
        offset_fetch("c1", 32, -1),
        poll("c1", 40, 0, 2, &[(0, "a"), (1, "b")]),
        poll("final-reader", 80, 0, 2, &[(0, "a"), (1, "b")]),
        final_read(80),
    ];
    assert_eq!(failed(1, &events), Vec::<&str>::new());
    // Without the new assignment, the same reread is flagged.
    let mut events = events.to_vec();
    events.remove(6);
    assert_eq!(failed(1, &events), vec!["nonmonotonic-poll"]);
}

#[test]
fn a_removed_group_starting_again_at_generation_one_is_a_new_group() {
    // Generation 1 (leader c1-m) formed, grew to 2; the broker restarted, removed the Empty
    // group (no offsets) and a new generation 1 (leader c2-n) formed under new member ids.
    let mut events = vec![
        started(0, 0, 0),
        joined("c1", "c1-m", 1, 10),
        assigned("c1", "c1-m", 1, 11, &[0]),
        joined("c1", "c1-m", 2, 20),
        assigned("c1", "c1-m", 2, 21, &[0]),
        started(30, 1, 0),
        joined("c2", "c2-n", 1, 40),
        Event::Assigned {
            start_ms: 40,
            end_ms: 41,
            client: "c2".into(),
            group: "g".into(),
            member_id: "c2-n".into(),
            generation: 1,
            leader: "c2-n".into(),
            partitions: vec![0],
        },
        offset_fetch("c2", 42, -1),
        Event::Commit {
            start_ms: 50,
            end_ms: 51,
            client: "c2".into(),
            group: "g".into(),
            member_id: "c2-n".into(),
            generation: 1,
            partition: 0,
            offset: 0,
            outcome: CommitOutcome::Ok,
        },
        poll("final-reader", 80, 0, 0, &[]),
        final_read(80),
    ];
    assert_eq!(failed(1, &events), Vec::<&str>::new());
    // The same commit from the old generation 1 member would be stale.
    if let Event::Commit { member_id, client, .. } = &mut events[9] {
        *member_id = "c1-m".into();
        *client = "c1".into();
    }
    assert_eq!(failed(1, &events), vec!["stale-generation-commit"]);
}

/// A node's sampled state: quorum `(state, epoch)`, and its replica of partition 0 as
/// `(role, leader epoch)`.
fn node_state(
    time_ms: u64,
    node_id: i32,
    incarnation: u32,
    quorum: (&str, i32),
    replica: (&str, i32),
) -> Event {
    use crate::history::{QuorumSample, ReplicaSample};
    Event::NodeState {
        time_ms,
        node_id,
        incarnation,
        quorum: QuorumSample {
            state: quorum.0.into(),
            leader_id: -1,
            epoch: quorum.1,
            high_watermark: 0,
            log_end_offset: 0,
            committed_epoch: -1,
        },
        replicas: vec![ReplicaSample {
            partition: 0,
            role: replica.0.into(),
            leader_id: -1,
            leader_epoch: replica.1,
            high_watermark: 0,
            log_end_offset: 0,
            isr: Vec::new(),
        }],
    }
}

#[test]
fn two_leaders_of_one_epoch_fail_one_leader_per_epoch() {
    let handover = [
        node_state(100, 1, 0, ("leader", 1), ("leader", 3)),
        node_state(100, 2, 0, ("follower", 1), ("follower", 3)),
        node_state(200, 1, 0, ("follower", 2), ("follower", 4)),
        node_state(200, 2, 0, ("leader", 2), ("leader", 4)),
        final_read(300),
    ];
    assert_eq!(failed(1, &handover), Vec::<&str>::new());
    // A partition's leader epoch won twice.
    let partition = [
        node_state(100, 1, 0, ("leader", 1), ("leader", 3)),
        node_state(200, 2, 0, ("follower", 1), ("leader", 3)),
        final_read(300),
    ];
    assert_eq!(failed(1, &partition), vec!["one-leader-per-epoch"]);
    // The quorum's epoch won twice.
    let quorum = [
        node_state(100, 1, 0, ("leader", 5), ("follower", 3)),
        node_state(100, 2, 0, ("leader", 5), ("follower", 3)),
        final_read(300),
    ];
    assert_eq!(failed(1, &quorum), vec!["one-leader-per-epoch"]);
}

#[test]
fn an_epoch_going_back_within_an_incarnation_fails_epoch_regression() {
    let restart = [
        node_state(100, 1, 0, ("follower", 4), ("follower", 6)),
        node_state(200, 1, 1, ("unattached", 0), ("follower", 6)),
        final_read(300),
    ];
    assert_eq!(failed(1, &restart), Vec::<&str>::new());
    let back = [
        node_state(100, 1, 0, ("follower", 4), ("follower", 6)),
        node_state(200, 1, 0, ("follower", 4), ("follower", 5)),
        final_read(300),
    ];
    assert_eq!(failed(1, &back), vec!["epoch-regression"]);
}

/// Node `node_id`'s quorum sample at `time_ms`: `(state, epoch, high watermark, log end,
/// epoch of the record below the high watermark)`.
fn quorum_state(time_ms: u64, node_id: i32, q: (&str, i32, i64, i64, i32)) -> Event {
    let Event::NodeState { incarnation, replicas, .. } =
        node_state(time_ms, node_id, 0, (q.0, q.1), ("follower", 0))
    else {
        unreachable!()
    };
    Event::NodeState {
        time_ms,
        node_id,
        incarnation,
        quorum: crate::history::QuorumSample {
            state: q.0.into(),
            leader_id: -1,
            epoch: q.1,
            high_watermark: q.2,
            log_end_offset: q.3,
            committed_epoch: q.4,
        },
        replicas,
    }
}

/// The names of the checkers that failed on a three-node cluster.
fn failed_on_cluster(events: &[Event]) -> Vec<&'static str> {
    let config = SimConfig { partitions: 1, ..SimConfig::cluster(3) };
    check_all(&config, events).into_iter().filter(|v| !v.ok).map(|v| v.name).collect()
}

fn metadata_log(node_id: i32, leader: bool, end: i64, hw: i64, epochs: &[(i32, i64)]) -> Event {
    Event::MetadataLog {
        node_id,
        voter: true,
        leader,
        log_start_offset: 0,
        log_end_offset: end,
        high_watermark: hw,
        epochs: epochs.to_vec(),
    }
}

#[test]
fn a_leader_committing_alone_fails_majority_reached_high_watermark() {
    // Node 1 leads with high watermark 10: node 2 holds 10 as well, node 3 lags — a majority.
    let majority = [
        quorum_state(100, 1, ("leader", 2, 10, 12, 2)),
        quorum_state(100, 2, ("follower", 2, 10, 10, 2)),
        quorum_state(100, 3, ("follower", 2, 4, 4, 1)),
        final_read(200),
    ];
    assert_eq!(failed_on_cluster(&majority), Vec::<&str>::new());
    // A voter that is down is not counted against it.
    let others_down = [majority[0].clone(), final_read(200)];
    assert_eq!(failed_on_cluster(&others_down), Vec::<&str>::new());
    let alone = [
        quorum_state(100, 1, ("leader", 2, 12, 12, 2)),
        quorum_state(100, 2, ("follower", 2, 10, 10, 2)),
        quorum_state(100, 3, ("follower", 2, 4, 4, 1)),
        final_read(200),
    ];
    assert_eq!(failed_on_cluster(&alone), vec!["majority-reached-high-watermark"]);
}

#[test]
fn a_committed_record_the_final_leader_lacks_fails_committed_metadata() {
    // Node 1 committed up to 12 in epoch 2; after the run node 2 leads with the same prefix.
    let kept = [
        quorum_state(100, 1, ("leader", 2, 12, 12, 2)),
        final_read(200),
        metadata_log(1, false, 12, 12, &[(1, 0), (2, 8)]),
        metadata_log(2, true, 15, 15, &[(1, 0), (2, 8), (3, 12)]),
        metadata_log(3, false, 15, 15, &[(1, 0), (2, 8), (3, 12)]),
    ];
    assert_eq!(failed_on_cluster(&kept), Vec::<&str>::new());
    // Node 2's epoch 3 begins at 10: offsets 10 and 11 of epoch 2 were lost.
    let lost = [
        quorum_state(100, 1, ("leader", 2, 12, 12, 2)),
        final_read(200),
        metadata_log(2, true, 15, 15, &[(1, 0), (2, 8), (3, 10)]),
    ];
    assert_eq!(failed_on_cluster(&lost), vec!["committed-metadata"]);
    // A voter whose committed records differ from the leader's.
    let diverged = [
        final_read(200),
        metadata_log(2, true, 15, 15, &[(1, 0), (2, 8), (3, 12)]),
        metadata_log(3, false, 15, 14, &[(1, 0), (3, 8)]),
    ];
    assert_eq!(failed_on_cluster(&diverged), vec!["committed-metadata"]);
}
