//! `kafka-lab leader-election`: `kafka-leader-election.sh` (Apache Kafka 4.1's
//! `LeaderElectionCommand`) with its options, its checks and messages, and its output lines
//! ("Successfully completed leader election (PREFERRED) for partitions t-0, t-1", "Valid
//! replica already elected for partitions …", "Error completing leader election … for
//! partition: t-0: org.apache.kafka.common.errors.…Exception: …"; exit status 1 when any
//! partition failed). Partitions are listed in (topic, partition) order where Kafka's tool
//! prints a hash set's order.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};

use super::kafka_errors::java_exception;
use super::ConnectArgs;
use crate::client::BrokerError;
use crate::elections::ElectionType;

/// Arguments, named as `kafka-leader-election.sh` names them.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "Examples:\n  \
  kafka-lab leader-election --bootstrap-server localhost:9092 --election-type PREFERRED --all-topic-partitions\n  \
  kafka-lab leader-election --bootstrap-server localhost:9092 --election-type UNCLEAN --topic orders --partition 2\n  \
  kafka-lab leader-election --bootstrap-server localhost:9092 --election-type PREFERRED --path-to-json-file elect.json")]
pub struct LeaderElectionArgs {
    /// A hostname and port for the broker to connect to, in the form host:port. Multiple
    /// comma separated URLs can be given. REQUIRED.
    #[arg(long, value_name = "host:port")]
    pub bootstrap_server: Option<String>,
    /// Configuration properties files to pass to the admin client (security.protocol,
    /// sasl.*, ssl.*).
    #[arg(long = "admin.config", value_name = "config file")]
    pub admin_config: Option<PathBuf>,
    /// Type of election to attempt: "preferred" (only if the current leader is not the
    /// preferred replica) or "unclean" (only if the partition has no leader). REQUIRED.
    #[arg(long, value_name = "election type", value_parser = parse_election_type)]
    pub election_type: Option<ElectionType>,
    /// Name of topic for which to perform an election. Not allowed if --path-to-json-file or
    /// --all-topic-partitions is specified.
    #[arg(long, value_name = "topic name")]
    pub topic: Option<String>,
    /// Partition id for which to perform an election. REQUIRED if --topic is specified.
    #[arg(long, value_name = "partition id")]
    pub partition: Option<i32>,
    /// Perform election on all of the eligible topic partitions based on the type of election
    /// (see --election-type). Not allowed if --topic or --path-to-json-file is specified.
    #[arg(long)]
    pub all_topic_partitions: bool,
    /// The JSON file with the partitions for which leader elections should be performed:
    /// {"partitions": [{"topic": "foo", "partition": 1}, {"topic": "foobar", "partition": 2}]}.
    /// Not allowed if --all-topic-partitions or --topic is specified.
    #[arg(long, value_name = "Path to JSON file")]
    pub path_to_json_file: Option<PathBuf>,
}

/// joptsimple's `EnumConverter`: the constant's name, any case.
fn parse_election_type(value: &str) -> Result<ElectionType, String> {
    match value.to_ascii_uppercase().as_str() {
        "PREFERRED" => Ok(ElectionType::Preferred),
        "UNCLEAN" => Ok(ElectionType::Unclean),
        _ => Err(format!("Value [{value}] is not one of [PREFERRED, UNCLEAN]")),
    }
}

/// Runs the command.
pub fn run(args: &LeaderElectionArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let (bootstrap, election_type, partitions) = validate(args)?;
    let connect =
        ConnectArgs { bootstrap_server: bootstrap, command_config: args.admin_config.clone() };
    let mut client = connect.connect()?;
    let results = match client.elect_leaders(election_type, partitions.as_deref())? {
        Ok(results) => results,
        Err(e)
            if e.code
                == kafka_protocol::error::ResponseError::ClusterAuthorizationFailed.code() =>
        {
            writeln!(out, "Not authorized to perform leader election")?;
            bail!("Not authorized to perform leader election");
        }
        Err(e) => bail!("{}", java_exception(&e)),
    };
    let name = election_type.name();
    let mut succeeded = Vec::new();
    let mut noop = Vec::new();
    let mut failed: Vec<(String, &BrokerError)> = Vec::new();
    for ((topic, partition), outcome) in &results {
        let tp = format!("{topic}-{partition}");
        match outcome {
            Ok(()) => succeeded.push(tp),
            Err(e) if e.code == kafka_protocol::error::ResponseError::ElectionNotNeeded.code() => {
                noop.push(tp)
            }
            Err(e) => failed.push((tp, e)),
        }
    }
    if !succeeded.is_empty() {
        let list = succeeded.join(", ");
        writeln!(out, "Successfully completed leader election ({name}) for partitions {list}")?;
    }
    if !noop.is_empty() {
        writeln!(out, "Valid replica already elected for partitions {}", noop.join(", "))?;
    }
    if !failed.is_empty() {
        for (tp, e) in &failed {
            let error = java_exception(e);
            writeln!(
                out,
                "Error completing leader election ({name}) for partition: {tp}: {error}"
            )?;
        }
        bail!("{} replica(s) could not be elected", failed.len());
    }
    Ok(())
}

/// `LeaderElectionCommandOptions.validate`, in its order and words, then the partitions:
/// `None` for all of them.
#[allow(clippy::type_complexity)]
fn validate(
    args: &LeaderElectionArgs,
) -> anyhow::Result<(String, ElectionType, Option<Vec<(String, i32)>>)> {
    let mut missing = Vec::new();
    if args.bootstrap_server.is_none() {
        missing.push("bootstrap-server");
    }
    if args.election_type.is_none() {
        missing.push("election-type");
    }
    if !missing.is_empty() {
        bail!("Missing required option(s): {}", missing.join(", "));
    }
    let chosen =
        [args.topic.is_some(), args.all_topic_partitions, args.path_to_json_file.is_some()];
    if chosen.iter().filter(|c| **c).count() != 1 {
        bail!(
            "One and only one of the following options is required: topic, \
             all-topic-partitions, path-to-json-file"
        );
    }
    if args.topic.is_some() && args.partition.is_none() {
        bail!("Missing required option(s): partition");
    }
    if args.topic.is_none() && args.partition.is_some() {
        bail!("Option partition is only allowed if topic is used");
    }
    let partitions = match (&args.topic, args.partition, &args.path_to_json_file) {
        (Some(topic), Some(partition), _) => Some(vec![(topic.clone(), partition)]),
        (_, _, Some(path)) => Some(parse_replica_election_data(path)?),
        _ => None,
    };
    let bootstrap = args.bootstrap_server.clone().expect("checked above");
    Ok((bootstrap, args.election_type.expect("checked above"), partitions))
}

/// The JSON file's partitions, as `parseReplicaElectionData` reads them.
fn parse_replica_election_data(path: &Path) -> anyhow::Result<Vec<(String, i32)>> {
    let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| anyhow!("{}: not JSON: {e}", path.display()))?;
    let Some(list) = json.get("partitions") else {
        bail!("Replica election data is missing \"partitions\" field");
    };
    let list = list.as_array().ok_or_else(|| anyhow!("Expected JSON array for \"partitions\""))?;
    let mut partitions = Vec::new();
    for entry in list {
        let topic = entry.get("topic").and_then(|t| t.as_str());
        let partition = entry.get("partition").and_then(|p| p.as_i64());
        let (Some(topic), Some(partition)) = (topic, partition) else {
            bail!("Each entry of \"partitions\" needs a \"topic\" string and a \"partition\" number: {entry}");
        };
        let partition = i32::try_from(partition)
            .map_err(|_| anyhow!("partition {partition} is out of range"))?;
        partitions.push((topic.to_owned(), partition));
    }
    let mut seen = BTreeSet::new();
    let duplicates: BTreeSet<String> = partitions
        .iter()
        .filter(|tp| !seen.insert((*tp).clone()))
        .map(|(t, p)| format!("{t}-{p}"))
        .collect();
    if !duplicates.is_empty() {
        let list: Vec<String> = duplicates.into_iter().collect();
        bail!("Replica election data contains duplicate partitions: [{}]", list.join(", "));
    }
    Ok(partitions)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(edit: impl FnOnce(&mut LeaderElectionArgs)) -> LeaderElectionArgs {
        let mut args = LeaderElectionArgs {
            bootstrap_server: Some("localhost:9092".into()),
            admin_config: None,
            election_type: Some(ElectionType::Preferred),
            topic: None,
            partition: None,
            all_topic_partitions: true,
            path_to_json_file: None,
        };
        edit(&mut args);
        args
    }

    fn error(args: LeaderElectionArgs) -> String {
        validate(&args).unwrap_err().to_string()
    }

    #[test]
    fn options_are_checked_as_kafkas_tool_checks_them() {
        assert!(validate(&args(|_| ())).unwrap().2.is_none());
        let missing = error(args(|a| {
            a.bootstrap_server = None;
            a.election_type = None;
        }));
        assert_eq!(missing, "Missing required option(s): bootstrap-server, election-type");
        let both = error(args(|a| a.topic = Some("t".into())));
        assert!(
            both.starts_with("One and only one of the following options is required"),
            "{both}"
        );
        let no_partition = error(args(|a| {
            a.all_topic_partitions = false;
            a.topic = Some("t".into());
        }));
        assert_eq!(no_partition, "Missing required option(s): partition");
        let stray = error(args(|a| a.partition = Some(1)));
        assert_eq!(stray, "Option partition is only allowed if topic is used");
        assert_eq!(parse_election_type("unclean"), Ok(ElectionType::Unclean));
        assert!(parse_election_type("random").is_err());
    }

    #[test]
    fn the_json_file_lists_partitions_once() {
        let dir = std::env::temp_dir().join(format!("leader-election-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("elect.json");
        let write = |text: &str| std::fs::write(&file, text).unwrap();
        write(
            r#"{"partitions": [{"topic": "a", "partition": 1}, {"topic": "b", "partition": 0}]}"#,
        );
        let read = parse_replica_election_data(&file).unwrap();
        assert_eq!(read, vec![("a".to_owned(), 1), ("b".to_owned(), 0)]);
        write(
            r#"{"partitions": [{"topic": "a", "partition": 1}, {"topic": "a", "partition": 1}]}"#,
        );
        let duplicate = parse_replica_election_data(&file).unwrap_err().to_string();
        assert_eq!(duplicate, "Replica election data contains duplicate partitions: [a-1]");
        write(r#"{"topics": []}"#);
        let missing = parse_replica_election_data(&file).unwrap_err().to_string();
        assert_eq!(missing, "Replica election data is missing \"partitions\" field");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
