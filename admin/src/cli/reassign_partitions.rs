//! `kafka-lab reassign-partitions`: `kafka-reassign-partitions.sh` (Apache Kafka 4.1's
//! `ReassignPartitionsCommand`) for `--execute`, `--verify`, `--cancel` and `--list` with a
//! `--reassignment-json-file` in its format (`{"version":1,"partitions":[{"topic":…,
//! "partition":…,"replicas":[…],"log_dirs":[…]}]}`), its checks, messages and output lines.
//! Not here: `--generate`, throttles (`--throttle`; so `--verify` has none to
//! clear) and log directory moves (a `log_dirs` entry other than "any": each broker has one
//! log directory).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context};

use super::kafka_errors::kafka_message;
use super::ConnectArgs;
use crate::client::AdminClient;
use crate::reassignments::{ReassignmentResults, TopicPartition};

/// Arguments, named as `kafka-reassign-partitions.sh` names them.
#[derive(Debug, Clone, clap::Args)]
#[command(
    group(clap::ArgGroup::new("action").required(true).multiple(false)
        .args(["execute", "verify", "cancel", "list"])),
    after_help = "Examples:\n  \
  kafka-lab reassign-partitions --bootstrap-server localhost:9092 --reassignment-json-file move.json --execute\n  \
  kafka-lab reassign-partitions --bootstrap-server localhost:9092 --reassignment-json-file move.json --verify\n  \
  kafka-lab reassign-partitions --bootstrap-server localhost:9092 --list\n\n\
  move.json: {\"version\":1,\"partitions\":[{\"topic\":\"orders\",\"partition\":0,\"replicas\":[3,2]}]}"
)]
pub struct ReassignPartitionsArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Kick off the reassignment as specified by the --reassignment-json-file option.
    #[arg(long)]
    pub execute: bool,
    /// Verify if the reassignment completed as specified by the --reassignment-json-file
    /// option.
    #[arg(long)]
    pub verify: bool,
    /// Cancel an active reassignment (its partitions back to their replicas before it).
    #[arg(long)]
    pub cancel: bool,
    /// List all active partition reassignments.
    #[arg(long)]
    pub list: bool,
    /// The JSON file with the partition reassignment configuration. Required with --execute
    /// and --verify.
    #[arg(long, value_name = "manual assignment json file path")]
    pub reassignment_json_file: Option<PathBuf>,
    /// Execute this reassignment in addition to any other ongoing ones.
    #[arg(long)]
    pub additional: bool,
    /// Refuse, per partition, a reassignment that changes the partition's replication factor
    /// (KIP-860). Only with --execute.
    #[arg(long)]
    pub disallow_replication_factor_change: bool,
}

/// Kafka's message when --execute finds reassignments in progress.
const CANNOT_EXECUTE_BECAUSE_OF_EXISTING_MESSAGE: &str = "Cannot execute because there is an \
    existing partition assignment.  Use --additional to override this and create a new \
    partition assignment in addition to the existing one. The --additional flag can also be \
    used to change the throttle by resubmitting the current reassignment.";

/// Runs the command.
pub fn run(args: &ReassignPartitionsArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    if args.additional && !args.execute {
        bail!("Option \"[additional]\" can't be used with action \"[{}]\"", action(args));
    }
    if args.disallow_replication_factor_change && !args.execute {
        bail!(
            "Option \"[disallow-replication-factor-change]\" can't be used with action \"[{}]\"",
            action(args)
        );
    }
    let json = match (&args.reassignment_json_file, args.list) {
        (Some(_), true) => {
            bail!("Option \"[reassignment-json-file]\" can't be used with action \"[list]\"")
        }
        (Some(path), false) => {
            Some(std::fs::read_to_string(path).with_context(|| path.display().to_string())?)
        }
        (None, false) => bail!("Missing required argument \"[reassignment-json-file]\""),
        (None, true) => None,
    };
    let targets = json.as_deref().map(parse_reassignment_json).transpose()?;
    let mut client = args.connect.connect()?;
    match targets {
        None => list(&mut client, out),
        Some(targets) if args.execute => {
            let allow_rf_change = !args.disallow_replication_factor_change;
            execute(&mut client, &targets, args.additional, allow_rf_change, out)
        }
        Some(targets) if args.cancel => cancel(&mut client, &targets, out),
        Some(targets) => verify(&mut client, &targets, out),
    }
}

fn action(args: &ReassignPartitionsArgs) -> &'static str {
    if args.verify {
        "verify"
    } else if args.cancel {
        "cancel"
    } else {
        "list"
    }
}

/// `TopicPartition.toString`.
fn tp((topic, partition): &TopicPartition) -> String {
    format!("{topic}-{partition}")
}

fn joined(list: &[i32]) -> String {
    list.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}

/// The reassignments in progress, or the broker's refusal as Kafka's admin client raises it.
fn ongoing(
    client: &mut AdminClient,
) -> anyhow::Result<BTreeMap<TopicPartition, crate::reassignments::OngoingReassignment>> {
    client.list_partition_reassignments()?.map_err(|e| anyhow!(kafka_message(&e)))
}

/// `--list`: `curReassignmentsToString`.
fn list(client: &mut AdminClient, out: &mut dyn Write) -> anyhow::Result<()> {
    let ongoing = ongoing(client)?;
    if ongoing.is_empty() {
        writeln!(out, "No partition reassignments found.")?;
        return Ok(());
    }
    writeln!(out, "Current partition reassignments:")?;
    for (part, r) in &ongoing {
        let adding = if r.adding.is_empty() {
            String::new()
        } else {
            format!(" adding: {}.", joined(&r.adding))
        };
        let removing = if r.removing.is_empty() {
            String::new()
        } else {
            format!(" removing: {}.", joined(&r.removing))
        };
        writeln!(out, "{}: replicas: {}.{adding}{removing}", tp(part), joined(&r.replicas))?;
    }
    Ok(())
}

/// Every partition's current replicas, from Metadata.
fn current_replicas(
    client: &mut AdminClient,
) -> anyhow::Result<BTreeMap<TopicPartition, Vec<i32>>> {
    let metadata = client.cluster_metadata()?;
    Ok(metadata
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| ((t.name.clone(), p.partition), p.replicas.clone()))
        })
        .collect())
}

/// `--execute`: `executeAssignment` without throttles or log directory moves.
fn execute(
    client: &mut AdminClient,
    targets: &BTreeMap<TopicPartition, Vec<i32>>,
    additional: bool,
    allow_replication_factor_change: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    if !additional && !ongoing(client)?.is_empty() {
        bail!(CANNOT_EXECUTE_BECAUSE_OF_EXISTING_MESSAGE);
    }
    let live: BTreeSet<i32> = client.cluster_metadata()?.brokers.into_iter().collect();
    if let Some(unknown) = targets.values().flatten().find(|b| !live.contains(b)) {
        bail!("Unknown broker id {unknown}");
    }
    let current = current_replicas(client)?;
    let rollback: BTreeMap<TopicPartition, Vec<i32>> =
        current.into_iter().filter(|(part, _)| targets.contains_key(part)).collect();
    writeln!(
        out,
        "Current partition replica assignment\n\n{}\n\nSave this to use as the \
         --reassignment-json-file option during rollback",
        format_as_reassignment_json(&rollback)
    )?;
    let requests = targets.iter().map(|(part, replicas)| (part.clone(), Some(replicas.clone())));
    let results = client
        .alter_partition_reassignments(&requests.collect(), allow_replication_factor_change)?
        .map_err(|e| anyhow!(kafka_message(&e)))?;
    let errors = partition_errors(&results);
    if !errors.is_empty() {
        bail!("Error reassigning partition(s):\n{}", errors.join("\n"));
    }
    let parts: Vec<String> = targets.keys().map(tp).collect();
    let plural = if parts.len() == 1 { "" } else { "s" };
    writeln!(out, "Successfully started partition reassignment{plural} for {}", parts.join(","))?;
    Ok(())
}

/// `topic-partition: message` of each partition the controller refused, in partition order.
fn partition_errors(results: &ReassignmentResults) -> Vec<String> {
    results
        .iter()
        .filter_map(|(part, outcome)| {
            outcome.as_ref().err().map(|e| format!("{}: {}", tp(part), kafka_message(e)))
        })
        .collect()
}

/// `--cancel`: `cancelAssignment` — the file's partitions with an active reassignment (as
/// Kafka picks them: no adding replicas, or some removing ones) go back.
fn cancel(
    client: &mut AdminClient,
    targets: &BTreeMap<TopicPartition, Vec<i32>>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let ongoing = ongoing(client)?;
    let active: BTreeMap<TopicPartition, Option<Vec<i32>>> = ongoing
        .iter()
        .filter(|(part, r)| {
            targets.contains_key(*part) && (r.adding.is_empty() || !r.removing.is_empty())
        })
        .map(|(part, _)| (part.clone(), None))
        .collect();
    if active.is_empty() {
        writeln!(out, "None of the specified partition reassignments are active.")?;
        return Ok(());
    }
    let plural = if active.len() == 1 { "" } else { "s" };
    let results = client
        .alter_partition_reassignments(&active, true)?
        .map_err(|e| anyhow!(kafka_message(&e)))?;
    let errors = partition_errors(&results);
    if !errors.is_empty() {
        let plural = if errors.len() == 1 { "" } else { "s" };
        bail!("Error cancelling partition reassignment{plural} for:\n{}", errors.join("\n"));
    }
    let parts: Vec<String> = active.keys().map(tp).collect();
    writeln!(
        out,
        "Successfully cancelled partition reassignment{plural} for: {}",
        parts.join(",")
    )?;
    Ok(())
}

/// `--verify`: `partitionReassignmentStatesToString`.
fn verify(
    client: &mut AdminClient,
    targets: &BTreeMap<TopicPartition, Vec<i32>>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let ongoing = ongoing(client)?;
    let current = current_replicas(client)?;
    writeln!(out, "Status of partition reassignment:")?;
    for (part, target) in targets {
        if ongoing.contains_key(part) {
            writeln!(out, "Reassignment of partition {} is still in progress.", tp(part))?;
            continue;
        }
        let Some(replicas) = current.get(part) else {
            bail!(
                "{}",
                kafka_message(&crate::BrokerError {
                    code: kafka_protocol::error::ResponseError::UnknownTopicOrPartition.code(),
                    message: String::new(),
                })
            );
        };
        if replicas == target {
            writeln!(out, "Reassignment of partition {} is completed.", tp(part))?;
        } else {
            writeln!(
                out,
                "There is no active reassignment of partition {}, but replica set is {} rather \
                 than {}.",
                tp(part),
                joined(replicas),
                joined(target)
            )?;
        }
    }
    Ok(())
}

/// `formatAsReassignmentJson`: compact, keys in Kafka's order, partitions sorted.
pub fn format_as_reassignment_json(parts: &BTreeMap<TopicPartition, Vec<i32>>) -> String {
    let partitions: Vec<String> = parts
        .iter()
        .map(|((topic, partition), replicas)| {
            let log_dirs = vec!["\"any\""; replicas.len()].join(",");
            format!(
                "{{\"topic\":{},\"partition\":{partition},\"replicas\":[{}],\"log_dirs\":[{log_dirs}]}}",
                serde_json::Value::String(topic.clone()),
                joined(replicas)
            )
        })
        .collect();
    format!("{{\"version\":1,\"partitions\":[{}]}}", partitions.join(","))
}

/// `parsePartitionReassignmentData` and `parseExecuteAssignmentArgs`' checks.
pub fn parse_reassignment_json(text: &str) -> anyhow::Result<BTreeMap<TopicPartition, Vec<i32>>> {
    let json: serde_json::Value = serde_json::from_str(text).map_err(|e| anyhow!("{e}"))?;
    let version = json.get("version").map(|v| v.as_i64()).unwrap_or(Some(1));
    if version != Some(1) {
        bail!("Not supported version field value {}", json["version"]);
    }
    let entries = json.get("partitions").and_then(|p| p.as_array()).cloned().unwrap_or_default();
    let mut list: Vec<(TopicPartition, Vec<i32>)> = Vec::new();
    for entry in &entries {
        let topic = entry.get("topic").and_then(|t| t.as_str());
        let partition = entry.get("partition").and_then(|p| p.as_i64());
        let replicas: Option<Vec<i64>> = entry
            .get("replicas")
            .and_then(|r| r.as_array())
            .map(|r| r.iter().filter_map(|b| b.as_i64()).collect());
        let (Some(topic), Some(partition), Some(replicas)) = (topic, partition, replicas) else {
            bail!("Each partition needs a \"topic\", a \"partition\" and \"replicas\": {entry}");
        };
        let replicas: Vec<i32> = replicas.iter().map(|r| *r as i32).collect();
        let part = (topic.to_owned(), partition as i32);
        if let Some(dirs) = entry.get("log_dirs").and_then(|d| d.as_array()) {
            if dirs.len() != replicas.len() {
                bail!(
                    "Size of replicas list {replicas:?} is different from size of log dirs list \
                     {dirs:?} for partition {}",
                    tp(&part)
                );
            }
            if dirs.iter().any(|d| d.as_str() != Some("any")) {
                bail!(
                    "Moving replicas between log directories is not supported: each broker has \
                     one log directory (use \"any\" in log_dirs)"
                );
            }
        }
        list.push((part, replicas));
    }
    if list.is_empty() {
        bail!("Partition reassignment list cannot be empty");
    }
    if list.iter().any(|(_, replicas)| replicas.is_empty()) {
        bail!("Partition replica list cannot be empty");
    }
    let mut seen = BTreeSet::new();
    let duplicates: BTreeSet<String> =
        list.iter().filter(|(part, _)| !seen.insert(part.clone())).map(|(p, _)| tp(p)).collect();
    if !duplicates.is_empty() {
        let joined: Vec<String> = duplicates.into_iter().collect();
        bail!("Partition reassignment contains duplicate topic partitions: {}", joined.join(","));
    }
    let repeated: Vec<String> = list
        .iter()
        .filter_map(|(part, replicas)| {
            let mut seen = BTreeSet::new();
            let twice: BTreeSet<i32> =
                replicas.iter().copied().filter(|r| !seen.insert(*r)).collect();
            (!twice.is_empty()).then(|| {
                let ids: Vec<i32> = twice.into_iter().collect();
                format!("{} contains multiple entries for {}", tp(part), joined(&ids))
            })
        })
        .collect();
    if !repeated.is_empty() {
        bail!("Partition replica lists may not contain duplicate entries: {}", repeated.join(". "));
    }
    Ok(list.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_file_is_read_and_written_in_kafkas_format() {
        let parts = parse_reassignment_json(
            r#"{"version":1,"partitions":[{"topic":"t","partition":1,"replicas":[3,2],"log_dirs":["any","any"]},{"topic":"t","partition":0,"replicas":[1]}]}"#,
        )
        .unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(
            format_as_reassignment_json(&parts),
            r#"{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1],"log_dirs":["any"]},{"topic":"t","partition":1,"replicas":[3,2],"log_dirs":["any","any"]}]}"#
        );
        let error = |text: &str| parse_reassignment_json(text).unwrap_err().to_string();
        assert_eq!(
            error(r#"{"version":1,"partitions":[]}"#),
            "Partition reassignment list cannot be empty"
        );
        assert_eq!(
            error(r#"{"partitions":[{"topic":"t","partition":0,"replicas":[]}]}"#),
            "Partition replica list cannot be empty"
        );
        assert_eq!(
            error(
                r#"{"partitions":[{"topic":"t","partition":0,"replicas":[1]},{"topic":"t","partition":0,"replicas":[2]}]}"#
            ),
            "Partition reassignment contains duplicate topic partitions: t-0"
        );
        assert_eq!(
            error(r#"{"partitions":[{"topic":"t","partition":0,"replicas":[1,1]}]}"#),
            "Partition replica lists may not contain duplicate entries: t-0 contains multiple entries for 1"
        );
        assert_eq!(
            error(r#"{"version":2,"partitions":[]}"#),
            "Not supported version field value 2"
        );
    }
}
