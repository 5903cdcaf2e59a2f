//! Exercise `partitions` (course module 2): topic `orders` with 6 partitions, keyed records
//! (every key's records in one partition: `hash(key) % partitions`), and a 1-day retention set
//! with kafka-configs. The checker reads the topic's metadata and configs through the admin
//! client and reads every record back with librdkafka.

use std::collections::{BTreeMap, BTreeSet};

use kafka_lab_admin::configs::{ConfigOp, ConfigResourceType, DYNAMIC_TOPIC_CONFIG};
use kafka_lab_admin::topics::NewTopic;

use crate::client;
use crate::cluster_lab::ClusterLab;
use crate::{Phase, Report, Solution};

/// The topic of the exercise.
pub const TOPIC: &str = "orders";
/// Its partition count.
pub const PARTITIONS: usize = 6;
/// `retention.ms` the exercise sets: one day.
pub const RETENTION_MS: i64 = 86_400_000;
/// Distinct keys the topic must hold, and records in all.
pub const MIN_KEYS: usize = 5;
pub const MIN_RECORDS: usize = 20;

/// The kcat command that writes 30 records over 5 keys (`customer-1` … `customer-5`).
pub fn produce_command(lab: &ClusterLab) -> String {
    format!(
        "for i in $(seq 1 30); do echo \"customer-$((i % 5 + 1)):order-$i\"; done | kcat -b {} -P -t {TOPIC} -K: -X partitioner=murmur2_random",
        lab.bootstrap_servers
    )
}

fn create_command(lab: &ClusterLab) -> String {
    format!(
        "kafka-lab topics {} --create --topic {TOPIC} --partitions {PARTITIONS}",
        lab.bootstrap_flag()
    )
}

fn recreate(lab: &ClusterLab) -> String {
    format!(
        "delete it (kafka-lab topics {} --delete --topic {TOPIC}), create it again ({}) and produce again",
        lab.bootstrap_flag(),
        create_command(lab)
    )
}

/// The kafka-configs command that sets the retention.
pub fn retention_command(lab: &ClusterLab) -> String {
    format!(
        "kafka-lab configs {} --entity-type topics --entity-name {TOPIC} --alter --add-config retention.ms={RETENTION_MS}",
        lab.bootstrap_flag()
    )
}

fn key_text(key: &[u8]) -> String {
    String::from_utf8_lossy(key).into_owned()
}

pub fn check(lab: &ClusterLab) -> Report {
    let mut report = Report::default();
    let mut admin = match lab.admin() {
        Ok(admin) => admin,
        Err(e) => {
            report.fail_msg(format!("{e:#}"));
            return report;
        }
    };
    let metadata = match admin.cluster_metadata() {
        Ok(m) => m,
        Err(e) => {
            report.fail_msg(format!("Metadata failed on {}: {e}", lab.bootstrap_servers));
            return report;
        }
    };
    let Some(topic) = metadata.topics.iter().find(|t| t.name == TOPIC) else {
        report.fail(format!("topic {TOPIC} does not exist"), create_command(lab));
        return report;
    };
    let partitions = topic.partitions.len();
    if partitions == PARTITIONS {
        report.pass(format!("topic {TOPIC} has {PARTITIONS} partitions"));
    } else if partitions < PARTITIONS {
        report.fail(
            format!("topic {TOPIC} has {partitions} partitions, the exercise wants {PARTITIONS}"),
            format!(
                "kafka-lab topics {} --alter --topic {TOPIC} --partitions {PARTITIONS} (records already \
                 written stay where they are, so a key written before and after lands in two \
                 partitions: for a clean start {})",
                lab.bootstrap_flag(),
                recreate(lab)
            ),
        );
    } else {
        report.fail(
            format!(
                "topic {TOPIC} has {partitions} partitions, the exercise wants {PARTITIONS}; Kafka never removes partitions"
            ),
            recreate(lab),
        );
    }

    match client::read_topic(&lab.access(), TOPIC) {
        Err(e) => report.fail(format!("could not read topic {TOPIC} back: {e}"), lab.unreachable()),
        Ok(records) => check_keys(&mut report, lab, &records),
    }

    match admin.describe_topic_configs(&[TOPIC.to_string()]) {
        Ok(answers) => {
            let entry = answers
                .into_iter()
                .find(|(name, _)| name == TOPIC)
                .and_then(|(_, configs)| configs.ok())
                .and_then(|configs| configs.into_iter().find(|c| c.name == "retention.ms"));
            let wanted = RETENTION_MS.to_string();
            match entry {
                Some(c)
                    if c.source == DYNAMIC_TOPIC_CONFIG && c.value.as_deref() == Some(&wanted) =>
                {
                    report.pass(format!(
                        "topic {TOPIC} keeps records for retention.ms={wanted} (one day)"
                    ))
                }
                Some(c) if c.source == DYNAMIC_TOPIC_CONFIG => report.fail(
                    format!(
                        "topic {TOPIC} has retention.ms={}, the exercise sets {wanted} (one day)",
                        c.value.unwrap_or_default()
                    ),
                    retention_command(lab),
                ),
                other => report.fail(
                    format!(
                        "topic {TOPIC} has no retention.ms of its own (the broker's {} applies)",
                        other.and_then(|c| c.value).unwrap_or_else(|| "default".into())
                    ),
                    retention_command(lab),
                ),
            }
        }
        Err(e) => report.fail_msg(format!("DescribeConfigs for topic {TOPIC} failed: {e}")),
    }
    report
}

/// Every key's records must sit in one partition; enough keys and records to show it.
fn check_keys(report: &mut Report, lab: &ClusterLab, records: &[client::ReadRecord]) {
    let mut by_key: BTreeMap<&[u8], BTreeMap<i32, usize>> = BTreeMap::new();
    let mut unkeyed = 0;
    for r in records {
        match &r.key {
            Some(key) => *by_key.entry(key).or_default().entry(r.partition).or_default() += 1,
            None => unkeyed += 1,
        }
    }
    let keyed = records.len() - unkeyed;
    if keyed < MIN_RECORDS || by_key.len() < MIN_KEYS {
        report.fail(
            format!(
                "topic {TOPIC} holds {keyed} keyed records with {} distinct keys; the exercise wants at least {MIN_RECORDS} records over {MIN_KEYS} keys",
                by_key.len()
            ),
            format!("produce keyed records: {}", produce_command(lab)),
        );
        return;
    }
    if unkeyed > 0 {
        report.pass(format!(
            "{unkeyed} records without a key ignored (the sticky partitioner spread them: no order between them)"
        ));
    }
    let mut all_in_one = true;
    for (key, partitions) in &by_key {
        if partitions.len() > 1 {
            all_in_one = false;
            let spread: Vec<String> =
                partitions.iter().map(|(p, n)| format!("{n} in partition {p}")).collect();
            report.fail(
                format!(
                    "the records of key {} are in {} partitions ({}), so their order is lost",
                    key_text(key),
                    partitions.len(),
                    spread.join(", ")
                ),
                format!(
                    "one key must always map to one partition (hash(key) % partitions): they were written \
                     with different partition counts, partitioners or explicit partitions; {}",
                    recreate(lab)
                ),
            );
        }
    }
    if all_in_one {
        let used: BTreeSet<i32> = by_key.values().flat_map(|p| p.keys().copied()).collect();
        let map: Vec<String> = by_key
            .iter()
            .map(|(k, p)| format!("{}→{}", key_text(k), p.keys().next().unwrap()))
            .collect();
        report.pass(format!(
            "each of the {} keys stays in one partition ({keyed} records over partitions {:?}): {}",
            by_key.len(),
            used,
            map.join(" ")
        ));
    }
}

pub fn solve(lab: &ClusterLab, phase: Phase) -> anyhow::Result<Solution> {
    let mut solution = Solution::default();
    if phase == Phase::Files {
        return Ok(solution);
    }
    let mut admin = lab.admin()?;
    let metadata = admin.cluster_metadata()?;
    let existing = metadata.topics.iter().find(|t| t.name == TOPIC);
    let spread = || {
        let records = client::read_topic(&lab.access(), TOPIC).unwrap_or_default();
        let mut seen: BTreeMap<Vec<u8>, i32> = BTreeMap::new();
        records.iter().any(|r| {
            r.key
                .as_ref()
                .is_some_and(|k| *seen.entry(k.clone()).or_insert(r.partition) != r.partition)
        })
    };
    if let Some(topic) = existing {
        if topic.partitions.len() != PARTITIONS || spread() {
            for (_, answer) in admin.delete_topics(&[TOPIC.to_string()])? {
                answer.map_err(|e| anyhow::anyhow!("DeleteTopics {TOPIC}: {e}"))?;
            }
            solution.actions.push(format!(
                "deleted topic {TOPIC} (wrong partition count or a key in several partitions)"
            ));
            super::wait_for("the topic's deletion", || {
                Ok(!admin.cluster_metadata()?.topics.iter().any(|t| t.name == TOPIC))
            })?;
        }
    }
    if !admin.cluster_metadata()?.topics.iter().any(|t| t.name == TOPIC) {
        let new = NewTopic {
            name: TOPIC.into(),
            partitions: Some(PARTITIONS as i32),
            ..Default::default()
        };
        admin.create_topic(&new)?.map_err(|e| anyhow::anyhow!("CreateTopics {TOPIC}: {e}"))?;
        solution.actions.push(create_command(lab));
    }
    let keyed = client::read_topic(&lab.access(), TOPIC)
        .map_err(anyhow::Error::msg)?
        .iter()
        .filter(|r| r.key.is_some())
        .count();
    if keyed < MIN_RECORDS {
        let records: Vec<(String, String)> =
            (1..=30).map(|i| (format!("customer-{}", i % 5 + 1), format!("order-{i}"))).collect();
        client::produce_keyed(&lab.access(), TOPIC, &records, "all", 2)
            .map_err(|e| anyhow::anyhow!("producing to {TOPIC}: {e}"))?;
        solution
            .actions
            .push(format!("produced 30 records over 5 keys to {TOPIC} (murmur2 partitioner)"));
    }
    let set = ConfigOp::Set("retention.ms".into(), RETENTION_MS.to_string());
    admin
        .incremental_alter_configs(ConfigResourceType::Topic, TOPIC, &[set])?
        .map_err(|e| anyhow::anyhow!("IncrementalAlterConfigs retention.ms: {e}"))?;
    solution.actions.push(retention_command(lab));
    Ok(solution)
}
