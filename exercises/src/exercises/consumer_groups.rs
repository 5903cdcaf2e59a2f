//! Exercise `consumer-groups` (course module 4): three members of group `clicks-app` share
//! topic `clicks` (6 partitions), rebalance as they join and leave, commit their offsets by
//! hand; once they stop, the lag shows in `kafka-lab consumer-groups --describe` and the offsets
//! are reset to the earliest.
//!
//! The checker reads what the group coordinator keeps: the group's records in
//! `__consumer_offsets` (Kafka's `GroupMetadataValue` per generation with its members and
//! assignments, `OffsetCommitValue` per commit, in the order the coordinator wrote them), so it
//! sees the history — three members at once, the rebalances, commits by members and the reset
//! of an empty group — and, through DescribeGroups, OffsetFetch and ListOffsets, the group now.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::Bytes;
use kafka_lab_admin::groups::{decode_assignment, OffsetSpec};
use kafka_lab_admin::topics::NewTopic;
use kafka_lab_broker::group::offsets_topic::{
    decode_group_value, decode_key, decode_offset_value, RecordKey,
};
use kafka_lab_broker::group::partitioner::partition_for;

use crate::client;
use crate::cluster_lab::ClusterLab;
use crate::member::Members;
use crate::{Phase, Report, Solution};

/// The topic the group reads.
pub const TOPIC: &str = "clicks";
/// Its partitions.
pub const PARTITIONS: usize = 6;
/// The group.
pub const GROUP: &str = "clicks-app";
/// Members the group must have had at once.
pub const MEMBERS: usize = 3;
/// Records the steps produce first.
pub const RECORDS: usize = 60;

const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// The command that runs member `n`.
pub fn member_command(lab: &ClusterLab, n: usize) -> String {
    format!(
        "kafka-lab lab consume {} --group {GROUP} --topic {TOPIC} --client-id member-{n}",
        lab.bootstrap_flag()
    )
}

/// The reset the exercise ends with.
pub fn reset_command(lab: &ClusterLab) -> String {
    format!(
        "kafka-lab consumer-groups {} --reset-offsets --group {GROUP} --topic {TOPIC} --to-earliest --execute",
        lab.bootstrap_flag()
    )
}

/// One generation of the group as the coordinator recorded it.
#[derive(Debug, Clone)]
struct Generation {
    generation: i32,
    /// (client id, partitions of `TOPIC`) per member.
    members: Vec<(String, Vec<i32>)>,
}

/// The group's history read from `__consumer_offsets`.
#[derive(Debug, Default)]
struct History {
    generations: Vec<Generation>,
    /// Partition → commits made while the group had members.
    member_commits: BTreeMap<i32, usize>,
    /// Partition → the offsets committed while the group was empty (an admin's commits, after
    /// some member commit on that partition). Kept when members commit again: re-reading
    /// after a reset is the point of one.
    reset_to: BTreeMap<i32, BTreeSet<i64>>,
}

fn history(lab: &ClusterLab) -> Result<History, String> {
    let access = lab.access();
    let mut admin = lab.admin().map_err(|e| format!("{e:#}"))?;
    let metadata = admin.cluster_metadata().map_err(|e| e.to_string())?;
    let Some(offsets) = metadata.topics.iter().find(|t| t.name == OFFSETS_TOPIC) else {
        return Ok(History::default());
    };
    let partition = partition_for(GROUP, offsets.partitions.len() as i32);
    let records = client::read_partitions(&access, OFFSETS_TOPIC, Some(partition))?;
    let mut history = History::default();
    let mut members_now = 0;
    for record in records {
        let Some(key) = record.key else { continue };
        let Ok(key) = decode_key(Bytes::from(key)) else { continue };
        match key {
            RecordKey::Group(group) if group == GROUP => {
                let Some(value) = record.value else {
                    // A tombstone: the group was deleted; its history starts again.
                    history = History::default();
                    members_now = 0;
                    continue;
                };
                let Ok(value) = decode_group_value(Bytes::from(value)) else { continue };
                members_now = value.members.len();
                if members_now > 0 {
                    let members = value
                        .members
                        .iter()
                        .map(|m| {
                            let mut ps: Vec<i32> = decode_assignment(&m.assignment)
                                .into_iter()
                                .filter(|(t, _)| t == TOPIC)
                                .map(|(_, p)| p)
                                .collect();
                            ps.sort_unstable();
                            (m.client_id.clone(), ps)
                        })
                        .collect();
                    history.generations.push(Generation { generation: value.generation, members });
                }
            }
            RecordKey::Offset(key) if key.group == GROUP && key.topic == TOPIC => {
                let Some(value) = record.value else { continue };
                let Ok(value) = decode_offset_value(Bytes::from(value)) else { continue };
                if members_now > 0 {
                    *history.member_commits.entry(key.partition).or_default() += 1;
                } else if history.member_commits.contains_key(&key.partition) {
                    history.reset_to.entry(key.partition).or_default().insert(value.offset);
                }
            }
            _ => {}
        }
    }
    Ok(history)
}

fn partition_list(ps: &[i32]) -> String {
    ps.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}

pub fn check(lab: &ClusterLab) -> Report {
    let mut report = Report::default();
    let mut groups = match lab.groups() {
        Ok(g) => g,
        Err(e) => {
            report.fail_msg(format!("{e:#}"));
            return report;
        }
    };
    let topic_partitions = match groups.partitions(&[TOPIC.to_string()]) {
        Ok(t) => t.get(TOPIC).and_then(|a| a.as_ref().ok()).map_or(0, Vec::len),
        Err(e) => {
            report.fail_msg(format!("Metadata failed on {}: {e}", lab.bootstrap_servers));
            return report;
        }
    };
    let create = format!(
        "kafka-lab topics {} --create --topic {TOPIC} --partitions {PARTITIONS}",
        lab.bootstrap_flag()
    );
    if topic_partitions == 0 {
        report.fail(format!("topic {TOPIC} does not exist"), create);
        return report;
    }
    if !report.expect(
        topic_partitions == PARTITIONS,
        format!("topic {TOPIC} has {PARTITIONS} partitions"),
        format!("topic {TOPIC} has {topic_partitions} partitions, the exercise wants {PARTITIONS}"),
        format!(
            "delete it (kafka-lab topics {} --delete --topic {TOPIC}) and create it again: {create}",
            lab.bootstrap_flag()
        ),
    ) {
        return report;
    }
    let history = match history(lab) {
        Ok(h) => h,
        Err(e) => {
            report.fail_msg(format!(
                "could not read group {GROUP}'s records in {OFFSETS_TOPIC}: {e}"
            ));
            return report;
        }
    };
    if history.generations.is_empty() {
        report.fail(
            format!("group {GROUP} has never had a member on this cluster"),
            format!("start the first member: {}", member_command(lab, 1)),
        );
        return report;
    }

    // Three members at once, with the partitions shared out.
    let widest = history.generations.iter().max_by_key(|g| g.members.len()).unwrap();
    if widest.members.len() >= MEMBERS {
        let shares: Vec<String> =
            widest.members.iter().map(|(c, ps)| format!("{c} [{}]", partition_list(ps))).collect();
        report.pass(format!(
            "group {GROUP} had {} members at once (generation {}): {}",
            widest.members.len(),
            widest.generation,
            shares.join(", ")
        ));
    } else {
        report.fail(
            format!(
                "group {GROUP} never had {MEMBERS} members at once (at most {}, generation {})",
                widest.members.len(),
                widest.generation
            ),
            format!(
                "start member {} in another terminal while the others run: {}",
                widest.members.len() + 1,
                member_command(lab, widest.members.len() + 1)
            ),
        );
    }
    report.expect(
        history.generations.len() >= 2,
        format!(
            "the group rebalanced: {} generations with members (generations {}–{}), each join and leave a new one",
            history.generations.len(),
            history.generations[0].generation,
            history.generations.last().unwrap().generation
        ),
        "the group never rebalanced (one generation with members)",
        "start the members one after another, and stop one (Ctrl-C) while the others run: watch them print the partitions they get",
    );

    // Partitions without records have nothing to commit or reset.
    let all: Vec<(String, i32)> = (0..PARTITIONS as i32).map(|p| (TOPIC.to_string(), p)).collect();
    let earliest = groups.list_offsets(&all, OffsetSpec::Earliest).unwrap_or_default();
    let latest = groups.list_offsets(&all, OffsetSpec::Latest).unwrap_or_default();
    let start = |p: i32| earliest.get(&(TOPIC.to_string(), p)).copied().unwrap_or(0);
    let with_records: Vec<i32> = (0..PARTITIONS as i32)
        .filter(|p| latest.get(&(TOPIC.to_string(), *p)).copied().unwrap_or(0) > start(*p))
        .collect();
    let uncommitted: Vec<i32> =
        with_records.iter().copied().filter(|p| !history.member_commits.contains_key(p)).collect();
    let commits: usize = history.member_commits.values().sum();
    report.expect(
        uncommitted.is_empty() && !with_records.is_empty(),
        format!(
            "the members committed offsets on every partition with records ({}; {commits} commits)",
            partition_list(&with_records)
        ),
        format!(
            "no member ever committed an offset on partitions {} (partitions with records: {})",
            partition_list(&uncommitted),
            partition_list(&with_records)
        ),
        format!(
            "commit after processing (kafka-lab lab consume does it after every record); produce to {TOPIC} and run the members until they have read every partition"
        ),
    );

    // Now: the members stopped, the offsets back at the earliest.
    let not_reset: Vec<i32> = with_records
        .iter()
        .copied()
        .filter(|p| !history.reset_to.get(p).is_some_and(|offsets| offsets.contains(&start(*p))))
        .collect();
    if not_reset.is_empty() {
        report.pass(format!(
            "the offsets of {GROUP} were reset to the earliest on every partition with records while the group was empty"
        ));
    } else {
        let state = groups.describe_group(GROUP).ok().and_then(Result::ok);
        let active = state.as_ref().is_some_and(|g| !g.members.is_empty());
        if active {
            let g = state.unwrap();
            report.fail(
                format!(
                    "group {GROUP} still has {} members ({}): Kafka resets the offsets of an inactive group only",
                    g.members.len(),
                    g.state
                ),
                "stop every member (Ctrl-C in each terminal), then reset the offsets",
            );
        }
        report.fail(
            format!(
                "the offsets of partitions {} were not reset to the earliest after the members committed",
                partition_list(&not_reset)
            ),
            reset_command(lab),
        );
    }
    if let Ok(Ok(committed)) = groups.committed_offsets(GROUP) {
        let lag: i64 = all
            .iter()
            .map(|tp| {
                let end = latest.get(tp).copied().unwrap_or(0);
                end - committed.get(tp).map_or(start(tp.1), |c| c.offset)
            })
            .sum();
        report.pass(format!(
            "group {GROUP} lags {lag} records behind the log end now (LAG in kafka-lab consumer-groups {} --describe --group {GROUP})",
            lab.bootstrap_flag()
        ));
    }
    report
}

pub fn solve(lab: &ClusterLab, phase: Phase) -> anyhow::Result<Solution> {
    let mut solution = Solution::default();
    if phase == Phase::Files {
        return Ok(solution);
    }
    let mut admin = lab.admin()?;
    if !admin.cluster_metadata()?.topics.iter().any(|t| t.name == TOPIC) {
        let new = NewTopic {
            name: TOPIC.into(),
            partitions: Some(PARTITIONS as i32),
            ..Default::default()
        };
        admin.create_topic(&new)?.map_err(|e| anyhow::anyhow!("CreateTopics {TOPIC}: {e}"))?;
        solution.actions.push(format!("created topic {TOPIC} with {PARTITIONS} partitions"));
    }
    let mut groups = lab.groups()?;
    let partitions: Vec<(String, i32)> =
        (0..PARTITIONS as i32).map(|p| (TOPIC.to_string(), p)).collect();
    let total = |groups: &mut kafka_lab_admin::groups::GroupCluster| -> anyhow::Result<i64> {
        Ok(groups.list_offsets(&partitions, OffsetSpec::Latest)?.values().sum())
    };
    if total(&mut groups)? < RECORDS as i64 {
        // Keys over every partition, so each member has records to commit.
        let records: Vec<(String, String)> =
            (1..=RECORDS).map(|i| (format!("user-{}", i % 12), format!("click-{i}"))).collect();
        client::produce_keyed(&lab.access(), TOPIC, &records, "all", 2)
            .map_err(|e| anyhow::anyhow!("producing to {TOPIC}: {e}"))?;
        solution.actions.push(format!("produced {RECORDS} keyed records to {TOPIC}"));
    }
    let access = lab.access();
    let mut members = Members::start(&access, GROUP, TOPIC, "member", 0, Duration::ZERO);
    for n in 1..=MEMBERS {
        members.add(&access, GROUP, TOPIC, &format!("member-{n}"), Duration::ZERO);
        super::wait_for(&format!("member-{n} to join group {GROUP}"), || {
            let g = groups.describe_group(GROUP)?.map_err(anyhow::Error::msg)?;
            Ok(g.state == "Stable" && g.members.len() == n)
        })?;
    }
    super::wait_for("the members to commit every record", || {
        let committed = groups.committed_offsets(GROUP)?.map_err(anyhow::Error::msg)?;
        let ends = groups.list_offsets(&partitions, OffsetSpec::Latest)?;
        Ok(partitions.iter().all(|tp| {
            let end = ends.get(tp).copied().unwrap_or(0);
            end == 0 || committed.get(tp).is_some_and(|c| c.offset == end)
        }))
    })?;
    solution.actions.push(format!(
        "ran {MEMBERS} members of {GROUP} (one join, one rebalance at a time), each committing after every record"
    ));
    members.stop();
    super::wait_for(&format!("group {GROUP} to be empty"), || {
        let g = groups.describe_group(GROUP)?.map_err(anyhow::Error::msg)?;
        Ok(g.members.is_empty())
    })?;
    let earliest = groups.list_offsets(&partitions, OffsetSpec::Earliest)?;
    for (tp, answer) in groups.alter_offsets(GROUP, &earliest)?.map_err(anyhow::Error::msg)? {
        answer.map_err(|e| anyhow::anyhow!("resetting {}-{}: {e}", tp.0, tp.1))?;
    }
    solution.actions.push(reset_command(lab));
    Ok(solution)
}
