//! Exercise `replication` (course modules 2 and 10): topic `payments` on a 3-broker cluster
//! with replication factor 3 and `min.insync.replicas=2`; the learner stops brokers one after
//! another and brings them back. The checker verifies the state the cluster is in *now*:
//! leaders only on live brokers, ISRs of exactly the live replicas, the under-replicated count,
//! and what acks=all does — acknowledged while the ISR has 2, refused with NOT_ENOUGH_REPLICAS
//! below that (and acks=1 still taking writes) — and, once every broker is back, that a failover
//! happened (a leader epoch above 0).

use std::collections::BTreeSet;

use kafka_lab_admin::configs::{ConfigOp, ConfigResourceType};
use kafka_lab_admin::topics::NewTopic;
use kafka_protocol::messages::MetadataRequest;

use crate::client;
use crate::cluster_lab::ClusterLab;
use crate::{Phase, Report, Solution};

/// The topic of the exercise.
pub const TOPIC: &str = "payments";
pub const PARTITIONS: usize = 6;
/// Brokers in the cluster and replicas per partition.
pub const BROKERS: usize = 3;
/// The topic's `min.insync.replicas`.
pub const MIN_ISR: usize = 2;

/// One partition as Metadata tells it.
#[derive(Debug, Clone)]
struct Partition {
    index: i32,
    leader: Option<i32>,
    leader_epoch: i32,
    replicas: Vec<i32>,
    isr: Vec<i32>,
}

fn create_command(lab: &ClusterLab) -> String {
    format!(
        "kafka-lab topics {} --create --topic {TOPIC} --partitions {PARTITIONS} --replication-factor {BROKERS} --config min.insync.replicas={MIN_ISR}",
        lab.bootstrap_flag()
    )
}

fn min_isr_command(lab: &ClusterLab) -> String {
    format!(
        "kafka-lab configs {} --entity-type topics --entity-name {TOPIC} --alter --add-config min.insync.replicas={MIN_ISR}",
        lab.bootstrap_flag()
    )
}

fn ids(v: &[i32]) -> String {
    v.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}

/// The live brokers and the topic's partitions (`None`: no such topic).
fn describe(lab: &ClusterLab) -> anyhow::Result<(Vec<i32>, Option<Vec<Partition>>)> {
    let mut admin = lab.admin()?;
    let response = admin.call(&MetadataRequest::default().with_topics(None))?;
    let mut live: Vec<i32> = response.brokers.iter().map(|b| b.node_id.0).collect();
    live.sort_unstable();
    let topic = response
        .topics
        .iter()
        .find(|t| t.error_code == 0 && t.name.as_ref().is_some_and(|n| n.0.as_str() == TOPIC));
    let partitions = topic.map(|t| {
        let mut ps: Vec<Partition> = t
            .partitions
            .iter()
            .map(|p| Partition {
                index: p.partition_index,
                leader: (p.leader_id.0 >= 0).then_some(p.leader_id.0),
                leader_epoch: p.leader_epoch,
                replicas: p.replica_nodes.iter().map(|b| b.0).collect(),
                isr: p.isr_nodes.iter().map(|b| b.0).collect(),
            })
            .collect();
        ps.sort_by_key(|p| p.index);
        ps
    });
    Ok((live, partitions))
}

pub fn check(lab: &ClusterLab) -> Report {
    let mut report = Report::default();
    let (live, partitions) = match describe(lab) {
        Ok(found) => found,
        Err(e) => {
            report.fail_msg(format!("{e:#}"));
            return report;
        }
    };
    let Some(partitions) = partitions else {
        if live.len() < BROKERS {
            report.fail(
                format!(
                    "the cluster has {} live broker(s) ({}), the exercise needs {BROKERS}",
                    live.len(),
                    ids(&live)
                ),
                "start a 3-broker cluster: kafka-lab cluster up --brokers 3",
            );
        }
        report.fail(format!("topic {TOPIC} does not exist"), create_command(lab));
        return report;
    };
    let recreate = format!(
        "delete it (kafka-lab topics {} --delete --topic {TOPIC}) and create it again: {}",
        lab.bootstrap_flag(),
        create_command(lab)
    );
    let short: Vec<String> = partitions
        .iter()
        .filter(|p| p.replicas.len() != BROKERS)
        .map(|p| format!("{TOPIC}-{} has {}", p.index, p.replicas.len()))
        .collect();
    if !report.expect(
        short.is_empty() && partitions.len() == PARTITIONS,
        format!("topic {TOPIC} has {PARTITIONS} partitions, each with {BROKERS} replicas"),
        format!(
            "topic {TOPIC} should have {PARTITIONS} partitions of {BROKERS} replicas; it has {} partitions{}",
            partitions.len(),
            if short.is_empty() { String::new() } else { format!(" and {}", short.join(", ")) }
        ),
        &recreate,
    ) {
        return report;
    }

    let min_isr = lab.admin().ok().and_then(|mut admin| {
        let answers = admin.describe_topic_configs(&[TOPIC.to_string()]).ok()?;
        let (_, configs) = answers.into_iter().find(|(name, _)| name == TOPIC)?;
        configs.ok()?.into_iter().find(|c| c.name == "min.insync.replicas")?.value
    });
    let min_isr_ok = min_isr.as_deref() == Some(&MIN_ISR.to_string());
    report.expect(
        min_isr_ok,
        format!("topic {TOPIC} has min.insync.replicas={MIN_ISR}"),
        format!(
            "topic {TOPIC} has min.insync.replicas={}: with acks=all a write then needs only that many copies",
            min_isr.as_deref().unwrap_or("?")
        ),
        min_isr_command(lab),
    );

    // Which brokers hold replicas, and which of them are up now.
    let replicas: BTreeSet<i32> =
        partitions.iter().flat_map(|p| p.replicas.iter().copied()).collect();
    let down: Vec<i32> = replicas.iter().copied().filter(|b| !live.contains(b)).collect();
    let up = replicas.len() - down.len();
    report.pass(match down.len() {
        0 => format!("all {} brokers holding {TOPIC} are up ({})", replicas.len(), ids(&live)),
        _ => format!("{up} of {} brokers up: broker(s) {} down", replicas.len(), ids(&down)),
    });

    let mut consistent = true;
    for p in &partitions {
        let name = format!("{TOPIC}-{}", p.index);
        match p.leader {
            Some(leader) if live.contains(&leader) => {}
            Some(leader) => {
                consistent = false;
                report.fail(
                    format!("partition {name}'s leader is broker {leader}, which is down"),
                    "the controller moves it once the broker is fenced (broker.session.timeout.ms: 9 s in kafka-lab cluster); run the check again in a few seconds",
                );
                continue;
            }
            None => {
                consistent = false;
                report.fail(
                    format!(
                        "partition {name} has no leader (replicas {}, ISR {})",
                        ids(&p.replicas),
                        ids(&p.isr)
                    ),
                    format!("start its brokers again: kafka-lab cluster start {}", ids(&down)),
                );
                continue;
            }
        }
        let stale: Vec<i32> = p.isr.iter().copied().filter(|b| !live.contains(b)).collect();
        let catching_up: Vec<i32> =
            p.replicas.iter().copied().filter(|b| live.contains(b) && !p.isr.contains(b)).collect();
        if !stale.is_empty() {
            consistent = false;
            report.fail(
                format!("partition {name}'s ISR ({}) still lists broker(s) {}, which are down", ids(&p.isr), ids(&stale)),
                "the controller removes a broker from the ISR once it is fenced (a killed broker after broker.session.timeout.ms); run the check again in a few seconds",
            );
        } else if !catching_up.is_empty() {
            consistent = false;
            report.fail(
                format!(
                    "broker(s) {} are up but not yet in the ISR of {name} ({})",
                    ids(&catching_up),
                    ids(&p.isr)
                ),
                "a returning replica truncates and catches up from the leader first; run the check again in a few seconds",
            );
        }
    }
    if !consistent {
        return report;
    }
    let leaders: Vec<String> =
        partitions.iter().map(|p| format!("{}→{}", p.index, p.leader.unwrap())).collect();
    report.pass(format!(
        "every partition is led by a live broker and its ISR is exactly its live replicas (leaders {})",
        leaders.join(" ")
    ));
    let under = partitions.iter().filter(|p| p.isr.len() < p.replicas.len()).count();
    report.pass(format!(
        "{under} under-replicated partition(s), as kafka-lab topics {} --describe --under-replicated-partitions lists them",
        lab.bootstrap_flag()
    ));

    // What acks=all does now, on partition 0.
    let isr = partitions[0].isr.len();
    let access = lab.access();
    let all = client::produce_to(&access, TOPIC, 0, "all");
    if isr >= MIN_ISR {
        match all {
            Ok(()) => report.pass(format!(
                "acks=all is acknowledged: {isr} in-sync replicas ≥ min.insync.replicas={MIN_ISR}"
            )),
            Err(e) => report.fail(
                format!("acks=all to {TOPIC}-0 failed with {isr} in-sync replicas: {e}"),
                "check the brokers' logs (kafka-lab-cluster/node-N/broker.log)",
            ),
        }
    } else {
        match all {
            Err(e) if e.contains("NotEnoughReplicas") => report.pass(format!(
                "acks=all is refused with NOT_ENOUGH_REPLICAS: {isr} in-sync replica < min.insync.replicas={MIN_ISR}"
            )),
            Ok(()) => report.fail(
                format!("acks=all to {TOPIC}-0 was acknowledged with only {isr} in-sync replica"),
                format!("nothing acknowledged may rest on one copy: {}", min_isr_command(lab)),
            ),
            Err(e) => report.fail(
                format!("acks=all to {TOPIC}-0 failed, but not with NOT_ENOUGH_REPLICAS: {e}"),
                "check the leader's log",
            ),
        }
        match client::produce_to(&access, TOPIC, 0, "1") {
            Ok(()) => report.pass("acks=1 is still acknowledged: the leader alone has the record (lost if it dies now)"),
            Err(e) => report.fail(format!("acks=1 to {TOPIC}-0 failed: {e}"), "check the leader's log"),
        }
    }

    if down.is_empty() {
        let epoch = partitions.iter().map(|p| p.leader_epoch).max().unwrap_or(0);
        report.expect(
            epoch > 0,
            format!("leaders have moved: a leader epoch of {epoch} shows a failover happened"),
            format!("no partition of {TOPIC} has changed leader yet (every leader epoch is 0)"),
            "stop a broker (kafka-lab cluster stop 3), watch its leaderships move (kafka-lab topics --describe --topic payments), stop or kill a second one, then start both again",
        );
    }
    report
}

pub fn solve(lab: &ClusterLab, phase: Phase) -> anyhow::Result<Solution> {
    let mut solution = Solution::default();
    if phase == Phase::Files {
        return Ok(solution);
    }
    let (_, partitions) = describe(lab)?;
    let mut admin = lab.admin()?;
    let wrong = partitions
        .as_ref()
        .is_some_and(|ps| ps.len() != PARTITIONS || ps.iter().any(|p| p.replicas.len() != BROKERS));
    if wrong {
        for (_, answer) in admin.delete_topics(&[TOPIC.to_string()])? {
            answer.map_err(|e| anyhow::anyhow!("DeleteTopics {TOPIC}: {e}"))?;
        }
        solution
            .actions
            .push(format!("deleted topic {TOPIC} (wrong partitions or replication factor)"));
        super::wait_for("the topic's deletion", || Ok(describe(lab)?.1.is_none()))?;
    }
    if partitions.is_none() || wrong {
        let new = NewTopic {
            name: TOPIC.into(),
            partitions: Some(PARTITIONS as i32),
            replication_factor: Some(BROKERS as i16),
            configs: vec![("min.insync.replicas".into(), MIN_ISR.to_string())],
            ..Default::default()
        };
        admin.create_topic(&new)?.map_err(|e| anyhow::anyhow!("CreateTopics {TOPIC}: {e}"))?;
        solution.actions.push(create_command(lab));
    } else {
        let set = ConfigOp::Set("min.insync.replicas".into(), MIN_ISR.to_string());
        admin
            .incremental_alter_configs(ConfigResourceType::Topic, TOPIC, &[set])?
            .map_err(|e| anyhow::anyhow!("IncrementalAlterConfigs min.insync.replicas: {e}"))?;
        solution.actions.push(min_isr_command(lab));
    }
    // Every partition led and fully replicated before writing.
    super::wait_for("every partition's ISR to fill", || {
        Ok(describe(lab)?.1.is_some_and(|ps| ps.iter().all(|p| p.isr.len() == BROKERS)))
    })?;
    let records: Vec<(String, String)> =
        (1..=30).map(|i| (format!("account-{}", i % 10), format!("payment-{i}"))).collect();
    client::produce_keyed(&lab.access(), TOPIC, &records, "all", 2)
        .map_err(|e| anyhow::anyhow!("producing to {TOPIC} with acks=all: {e}"))?;
    solution.actions.push(format!("produced 30 records to {TOPIC} with acks=all"));
    solution.actions.push(
        "the failover is yours: kafka-lab cluster stop 3, kafka-lab cluster kill 2, then start both again (the check passes at each stage)"
            .into(),
    );
    Ok(solution)
}
