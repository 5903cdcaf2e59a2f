//! `kafka-lab topics`: `kafka-topics.sh` (Apache Kafka 4.1's `TopicCommand`) with its options,
//! its output lines and its error lines ("Error while executing topic command : …" on stdout,
//! exit status 1).

use std::collections::BTreeSet;
use std::io::Write;

use anyhow::{anyhow, bail};
use kafka_lab_broker::kafka_uuid;
use kafka_protocol::error::ResponseError;
use regex::Regex;

use super::{invalid, ConnectArgs, Reported};
use crate::client::{AdminClient, BrokerError};
use crate::topics::{ConfigEntry, NewTopic, PartitionInfo, TopicMetadata};

/// Topics Kafka's `Topic.isInternal` names; `--exclude-internal` leaves them out.
const INTERNAL_TOPICS: [&str; 3] =
    ["__consumer_offsets", "__transaction_state", "__share_group_state"];

/// Arguments, named as `kafka-topics.sh` names them.
#[derive(Debug, Clone, clap::Args)]
#[command(
    group(clap::ArgGroup::new("action").required(true).multiple(false)
        .args(["list", "describe", "create", "alter", "delete"])),
    after_help = "Examples:\n  \
  kafka-lab topics --bootstrap-server localhost:9092 --create --topic orders --partitions 3 --replication-factor 1 --config retention.ms=604800000\n  \
  kafka-lab topics --bootstrap-server localhost:9092 --list\n  \
  kafka-lab topics --bootstrap-server localhost:9092 --describe --topic orders\n  \
  kafka-lab topics --bootstrap-server localhost:9092 --describe --under-replicated-partitions\n  \
  kafka-lab topics --bootstrap-server localhost:9092 --alter --topic orders --partitions 6\n  \
  kafka-lab topics --bootstrap-server localhost:9092 --delete --topic 'orders|payments'"
)]
pub struct TopicsArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// List all available topics.
    #[arg(long)]
    pub list: bool,
    /// List details for the given topics.
    #[arg(long)]
    pub describe: bool,
    /// Create a new topic.
    #[arg(long)]
    pub create: bool,
    /// Alter the number of partitions and replica assignment. (To alter topic configurations,
    /// use `kafka-lab configs` or kafka-configs.sh.)
    #[arg(long)]
    pub alter: bool,
    /// Delete a topic.
    #[arg(long)]
    pub delete: bool,
    /// The topic to create, alter, describe or delete. It also accepts a regular expression,
    /// except for --create (matched against the whole name; commas separate alternatives).
    /// Quote it and escape regular expression symbols with '\'; e.g. "test\.topic".
    #[arg(long, value_name = "topic")]
    pub topic: Option<String>,
    /// The topic id to describe.
    // A base64url id may start with `-` (1 in 64 do): still the value, never a flag.
    #[arg(long, value_name = "topic-id", allow_hyphen_values = true)]
    pub topic_id: Option<String>,
    /// A topic configuration override for the topic being created (repeatable), e.g.
    /// retention.ms=604800000. Only with --create.
    #[arg(long, value_name = "name=value")]
    pub config: Vec<String>,
    /// The number of partitions for the topic being created or altered. Without it, --create
    /// uses the broker's num.partitions. (Adding partitions to a topic with keyed messages
    /// changes which partition a key goes to.)
    #[arg(long, value_name = "# of partitions", allow_negative_numbers = true)]
    pub partitions: Option<i32>,
    /// The replication factor for each partition of the topic being created. Without it, the
    /// broker's default.replication.factor.
    #[arg(long, value_name = "replication factor", allow_negative_numbers = true)]
    pub replication_factor: Option<i32>,
    /// Manual partition-to-broker assignments for the topic being created or altered:
    /// `p0r1:p0r2,p1r1:p1r2,…` (broker ids; partitions separated by commas).
    #[arg(long, value_name = "broker_id_for_part1_replica1:broker_id_for_part1_replica2,…")]
    pub replica_assignment: Option<String>,
    /// With --describe, only show under-replicated partitions (fewer in-sync replicas than
    /// replicas).
    #[arg(long)]
    pub under_replicated_partitions: bool,
    /// With --describe, only show partitions whose leader is not available.
    #[arg(long)]
    pub unavailable_partitions: bool,
    /// With --describe, only show partitions whose ISR count is less than the configured
    /// minimum (min.insync.replicas), or that have no leader.
    #[arg(long)]
    pub under_min_isr_partitions: bool,
    /// With --describe, only show partitions whose ISR count equals the configured minimum.
    #[arg(long)]
    pub at_min_isr_partitions: bool,
    /// With --describe, only show topics that have overridden configs.
    #[arg(long)]
    pub topics_with_overrides: bool,
    /// With --alter, --delete or --describe: act only if the topic exists (no error otherwise).
    #[arg(long)]
    pub if_exists: bool,
    /// With --create: create only if the topic does not already exist (no error otherwise).
    #[arg(long)]
    pub if_not_exists: bool,
    /// Exclude internal topics when listing or describing topics. By default, the internal
    /// topics are included.
    #[arg(long)]
    pub exclude_internal: bool,
    /// The maximum number of partitions in one DescribeTopicPartitions response.
    #[arg(long, value_name = "maximum number of partitions per response")]
    pub partition_size_limit_per_response: Option<i32>,
}

impl TopicsArgs {
    fn reports(&self) -> bool {
        self.under_replicated_partitions
            || self.unavailable_partitions
            || self.under_min_isr_partitions
            || self.at_min_isr_partitions
    }
}

/// Runs the command, writing what `kafka-topics.sh` prints to `out`. A failed action prints
/// Kafka's error line to `out` and returns [`Reported`].
pub fn run(args: &TopicsArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    check_args(args)?;
    match execute(args, out) {
        Ok(()) => Ok(()),
        Err(e) => {
            writeln!(out, "Error while executing topic command : {e:#}")?;
            Err(Reported.into())
        }
    }
}

/// The option combinations `TopicCommandOptions.checkArgs` refuses.
fn check_args(args: &TopicsArgs) -> anyhow::Result<()> {
    let action = [
        ("list", args.list),
        ("describe", args.describe),
        ("create", args.create),
        ("alter", args.alter),
        ("delete", args.delete),
    ]
    .into_iter()
    .find(|(_, given)| *given)
    .map(|(name, _)| name)
    .ok_or_else(|| {
        anyhow!(
            "Command must include exactly one action: --list, --describe, --create, --alter or --delete"
        )
    })?;
    if !args.list && !args.describe && args.topic.is_none() {
        bail!("Missing required argument \"[topic]\"");
    }
    let only = |option: &str, given: bool, allowed: &[&str]| {
        if given && !allowed.contains(&action) {
            Err(invalid(option, action))
        } else {
            Ok(())
        }
    };
    if args.alter && !args.config.is_empty() {
        return Err(invalid("config", "alter")
            .context("to alter topic configurations, use `kafka-lab configs` (kafka-configs.sh)"));
    }
    if args.alter && args.partitions.is_none() {
        bail!("Missing required argument \"[partitions]\"");
    }
    only("config", !args.config.is_empty(), &["create"])?;
    only("partitions", args.partitions.is_some(), &["alter", "create"])?;
    only("replication-factor", args.replication_factor.is_some(), &["create"])?;
    only("replica-assignment", args.replica_assignment.is_some(), &["alter", "create"])?;
    if args.create && args.replica_assignment.is_some() {
        if args.partitions.is_some() {
            return Err(invalid("replica-assignment", "partitions"));
        }
        if args.replication_factor.is_some() {
            return Err(invalid("replica-assignment", "replication-factor"));
        }
    }
    for (option, given) in [
        ("under-replicated-partitions", args.under_replicated_partitions),
        ("unavailable-partitions", args.unavailable_partitions),
        ("under-min-isr-partitions", args.under_min_isr_partitions),
        ("at-min-isr-partitions", args.at_min_isr_partitions),
    ] {
        only(option, given, &["describe"])?;
        if given && args.topics_with_overrides {
            return Err(invalid(option, "topics-with-overrides"));
        }
    }
    only("topics-with-overrides", args.topics_with_overrides, &["describe"])?;
    only("if-exists", args.if_exists, &["alter", "delete", "describe"])?;
    only("if-not-exists", args.if_not_exists, &["create"])?;
    only("exclude-internal", args.exclude_internal, &["list", "describe"])?;
    only("topic-id", args.topic_id.is_some(), &["describe"])?;
    if args.describe && args.if_exists && args.topic.is_none() && args.topic_id.is_none() {
        bail!("--topic or --topic-id is required to describe a topic");
    }
    Ok(())
}

fn execute(args: &TopicsArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut client = args.connect.connect()?;
    if args.create {
        create(&mut client, args, out)
    } else if args.alter {
        alter(&mut client, args)
    } else if args.list {
        let names = topics(&mut client, args)?.into_iter().map(|t| t.name).collect::<Vec<_>>();
        // kafka-topics.sh prints the joined names with println: an empty line when none.
        writeln!(out, "{}", names.join("\n"))?;
        Ok(())
    } else if args.describe {
        describe(&mut client, args, out)
    } else {
        delete(&mut client, args)
    }
}

/// A broker error as Kafka's admin client raises it: the broker's message, or the error's
/// default description when the broker gave none.
fn kafka_message(e: BrokerError) -> anyhow::Error {
    if !e.message.is_empty() {
        return anyhow!(e.message);
    }
    match ResponseError::try_from_code(e.code) {
        Some(error) => anyhow!("{error}"),
        None => anyhow!("error code {}", e.code),
    }
}

/// Kafka's `TopicFilter.IncludeList`: commas become alternatives, spaces and surrounding
/// quotes are dropped, and the expression must match the whole name.
fn include_list(raw: &str) -> anyhow::Result<Regex> {
    let regex = raw.trim().replace(',', "|").replace(' ', "");
    let regex = regex.trim_start_matches(['"', '\'']).trim_end_matches(['"', '\'']);
    Regex::new(&format!("^(?:{regex})$")).map_err(|_| anyhow!("{regex} is an invalid regex."))
}

/// `TopicService.getTopics`: every topic, sorted, filtered by --topic and --exclude-internal.
fn topics(client: &mut AdminClient, args: &TopicsArgs) -> anyhow::Result<Vec<TopicMetadata>> {
    filter_topics(client.cluster_metadata()?.topics, args)
}

/// The filter of [`topics`] on topics already fetched.
fn filter_topics(
    topics: Vec<TopicMetadata>,
    args: &TopicsArgs,
) -> anyhow::Result<Vec<TopicMetadata>> {
    let filter = args.topic.as_deref().map(include_list).transpose()?;
    Ok(topics
        .into_iter()
        // listTopics without listInternal drops what the broker marks internal.
        .filter(|t| !(args.exclude_internal && t.is_internal))
        .filter(|t| !(args.exclude_internal && INTERNAL_TOPICS.contains(&t.name.as_str())))
        .filter(|t| filter.as_ref().is_none_or(|f| f.is_match(&t.name)))
        .collect())
}

/// `ensureTopicExists`: a named topic matching nothing is an error unless --if-exists.
fn ensure_topic_exists(found: &[TopicMetadata], args: &TopicsArgs) -> anyhow::Result<()> {
    match &args.topic {
        Some(topic) if !topic.is_empty() && !args.if_exists && found.is_empty() => {
            bail!("Topic '{topic}' does not exist as expected")
        }
        _ => Ok(()),
    }
}

/// `a:b,c:d` → `[[a, b], [c, d]]`, every partition with as many replicas as the first.
fn parse_replica_assignment(text: &str) -> anyhow::Result<Vec<Vec<i32>>> {
    let mut out: Vec<Vec<i32>> = Vec::new();
    for (index, partition) in text.split(',').enumerate() {
        let replicas = partition
            .split(':')
            .map(|id| {
                id.trim().parse::<i32>().map_err(|_| anyhow!("For input string: \"{}\"", id.trim()))
            })
            .collect::<anyhow::Result<Vec<i32>>>()?;
        let mut seen = BTreeSet::new();
        let duplicates: BTreeSet<i32> =
            replicas.iter().copied().filter(|id| !seen.insert(*id)).collect();
        if !duplicates.is_empty() {
            let ids: Vec<String> = duplicates.iter().map(i32::to_string).collect();
            bail!("Partition replica lists may not contain duplicate entries: {}", ids.join(","));
        }
        if let Some(first) = out.first() {
            if first.len() != replicas.len() {
                bail!("Partition {index} has different replication factor: {replicas:?}");
            }
        }
        out.push(replicas);
    }
    Ok(out)
}

/// `key=value` pairs of --config, as `parseTopicConfigsToBeAdded` splits them.
fn parse_configs(configs: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    let separator = Regex::new(r"\s*=\s*").expect("a valid regex");
    configs
        .iter()
        .map(|config| {
            let mut parts: Vec<&str> = separator.split(config).collect();
            // Java's String.split drops trailing empty strings.
            while parts.last() == Some(&"") {
                parts.pop();
            }
            match parts.as_slice() {
                [key, value] => Ok((key.trim().to_owned(), value.trim().to_owned())),
                _ => Err(anyhow!(
                    "requirement failed: Invalid topic config: all configs to be added must be in the format \"key=val\"."
                )),
            }
        })
        .collect()
}

fn create(client: &mut AdminClient, args: &TopicsArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let name = args.topic.clone().unwrap_or_default();
    let replica_assignment = match args.replica_assignment.as_deref() {
        Some(text) if !text.is_empty() => parse_replica_assignment(text)?,
        _ => Vec::new(),
    };
    let configs = parse_configs(&args.config)?;
    if name.contains('.') || name.contains('_') {
        writeln!(
            out,
            "WARNING: Due to limitations in metric names, topics with a period ('.') or underscore ('_') could collide. To avoid issues it is best to use either, but not both."
        )?;
    }
    if let Some(rf) = args.replication_factor {
        if !(1..=i16::MAX as i32).contains(&rf) {
            bail!("The replication factor must be between 1 and {} inclusive", i16::MAX);
        }
    }
    if args.partitions.is_some_and(|p| p < 1) {
        bail!("The partitions must be greater than 0");
    }
    let topic = NewTopic {
        name: name.clone(),
        partitions: args.partitions,
        replication_factor: args.replication_factor.map(|rf| rf as i16),
        replica_assignment,
        configs,
    };
    match client.create_topic(&topic)? {
        Ok(()) => writeln!(out, "Created topic {name}.")?,
        Err(e) if e.code == ResponseError::TopicAlreadyExists.code() && args.if_not_exists => {}
        Err(e) => return Err(kafka_message(e)),
    }
    Ok(())
}

fn alter(client: &mut AdminClient, args: &TopicsArgs) -> anyhow::Result<()> {
    let replica_assignment = match args.replica_assignment.as_deref() {
        Some(text) if !text.is_empty() => Some(parse_replica_assignment(text)?),
        _ => None,
    };
    let found = topics(client, args)?;
    ensure_topic_exists(&found, args)?;
    let count = args.partitions.expect("checked by check_args");
    for topic in &found {
        // The assignment lists every partition; the existing ones are skipped.
        let new_assignment = replica_assignment
            .as_ref()
            .map(|a| a.iter().skip(topic.partitions.len()).cloned().collect::<Vec<_>>());
        client
            .create_partitions(&topic.name, count, new_assignment.as_deref())?
            .map_err(kafka_message)?;
    }
    Ok(())
}

fn delete(client: &mut AdminClient, args: &TopicsArgs) -> anyhow::Result<()> {
    let found = topics(client, args)?;
    ensure_topic_exists(&found, args)?;
    if found.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = found.into_iter().map(|t| t.name).collect();
    for (_, result) in client.delete_topics(&names)? {
        result.map_err(kafka_message)?;
    }
    Ok(())
}

/// One partition with what the report options judge it by (`PartitionDescription`).
struct PartitionView<'a> {
    info: &'a PartitionInfo,
    min_isr: usize,
}

impl PartitionView<'_> {
    fn is_under_replicated(&self) -> bool {
        self.info.isr.len() < self.info.replicas.len()
    }

    fn is_under_min_isr(&self) -> bool {
        self.info.leader.is_none() || self.info.isr.len() < self.min_isr
    }

    fn is_at_min_isr(&self) -> bool {
        self.info.isr.len() == self.min_isr
    }

    fn is_unavailable(&self, live_brokers: &BTreeSet<i32>) -> bool {
        self.info.leader.is_none_or(|leader| !live_brokers.contains(&leader))
    }
}

fn ids(ids: &[i32]) -> String {
    ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}

fn elr_text(ids_or_none: &Option<Vec<i32>>) -> String {
    match ids_or_none {
        Some(list) => ids(list),
        // Described through Metadata, which does not carry ELRs: Kafka prints N/A.
        None => "N/A".to_owned(),
    }
}

/// The partition line: `\tTopic: T\tPartition: 0\tLeader: 1\tReplicas: 1\tIsr: 1\tElr: \tLastKnownElr: `.
fn partition_line(topic: &str, p: &PartitionInfo) -> String {
    let leader = p.leader.map_or_else(|| "none".to_owned(), |l| l.to_string());
    format!(
        "\tTopic: {topic}\tPartition: {}\tLeader: {leader}\tReplicas: {}\tIsr: {}\tElr: {}\tLastKnownElr: {}",
        p.partition,
        ids(&p.replicas),
        ids(&p.isr),
        elr_text(&p.elr),
        elr_text(&p.last_known_elr)
    )
}

/// The topic line: `Topic: T\tTopicId: …\tPartitionCount: N\tReplicationFactor: R\tConfigs: k=v,…`,
/// with only the configs not at their default.
fn topic_line(topic: &TopicMetadata, configs: &[ConfigEntry]) -> String {
    let overrides: Vec<String> = configs
        .iter()
        .filter(|c| !c.is_default())
        .map(|c| format!("{}={}", c.name, c.value.as_deref().unwrap_or("null")))
        .collect();
    let mut line = format!("Topic: {}", topic.name);
    if !topic.topic_id.is_nil() {
        line.push_str(&format!("\tTopicId: {}", kafka_uuid::encode(topic.topic_id)));
    }
    // Kafka takes the replication factor from the first partition.
    let replication_factor = topic.partitions.first().map_or(0, |p| p.replicas.len());
    line.push_str(&format!(
        "\tPartitionCount: {}\tReplicationFactor: {replication_factor}\tConfigs: {}",
        topic.partitions.len(),
        overrides.join(",")
    ));
    line
}

fn describe(
    client: &mut AdminClient,
    args: &TopicsArgs,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let metadata = client.cluster_metadata()?;
    let live_brokers: BTreeSet<i32> = metadata.brokers.iter().copied().collect();
    let mut described = match args.topic_id.as_deref().map(kafka_uuid::decode) {
        Some(None) => bail!("Invalid topic id '{}'", args.topic_id.as_deref().unwrap_or("")),
        // A zero topic id means "use --topic", as in Kafka.
        Some(Some(id)) if !id.is_nil() => {
            let found: Vec<TopicMetadata> = metadata
                .topics
                .into_iter()
                .filter(|t| t.topic_id == id)
                .filter(|t| !(args.exclude_internal && t.is_internal))
                .collect();
            if found.is_empty() && !args.if_exists {
                bail!("TopicId '{}' does not exist as expected", kafka_uuid::encode(id));
            }
            found
        }
        _ => {
            let found = filter_topics(metadata.topics, args)?;
            ensure_topic_exists(&found, args)?;
            found
        }
    };
    if described.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = described.iter().map(|t| t.name.clone()).collect();
    if client.has_describe_topic_partitions() {
        let limit = args.partition_size_limit_per_response.unwrap_or(2000);
        described = client
            .describe_topic_partitions(&names, limit)?
            .into_iter()
            .map(|(_, topic)| topic.map_err(kafka_message))
            .collect::<anyhow::Result<Vec<_>>>()?;
        described.sort_by(|a, b| a.name.cmp(&b.name));
    }
    let mut configs = client.describe_topic_configs(&names)?.into_iter();
    let show_topic_lines = !args.reports();
    for topic in &described {
        let entries = match configs.find(|(name, _)| *name == topic.name) {
            Some((_, entries)) => entries.map_err(kafka_message)?,
            None => bail!("DescribeConfigs did not answer for topic {}", topic.name),
        };
        if show_topic_lines
            && !topic.partitions.is_empty()
            && (!args.topics_with_overrides || entries.iter().any(|c| !c.is_default()))
        {
            writeln!(out, "{}", topic_line(topic, &entries))?;
        }
        if args.topics_with_overrides {
            continue;
        }
        let min_isr = entries
            .iter()
            .find(|c| c.name == "min.insync.replicas")
            .and_then(|c| c.value.as_deref()?.parse().ok())
            .unwrap_or(1);
        for info in &topic.partitions {
            let view = PartitionView { info, min_isr };
            let shown = show_topic_lines
                || (args.under_replicated_partitions && view.is_under_replicated())
                || (args.unavailable_partitions && view.is_unavailable(&live_brokers))
                || (args.under_min_isr_partitions && view.is_under_min_isr())
                || (args.at_min_isr_partitions && view.is_at_min_isr());
            if shown {
                writeln!(out, "{}", partition_line(&topic.name, info))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partition(leader: Option<i32>, replicas: &[i32], isr: &[i32]) -> PartitionInfo {
        PartitionInfo {
            partition: 0,
            leader,
            replicas: replicas.to_vec(),
            isr: isr.to_vec(),
            elr: Some(Vec::new()),
            last_known_elr: Some(Vec::new()),
        }
    }

    #[test]
    fn report_filters_follow_kafkas_definitions() {
        let live: BTreeSet<i32> = [1, 2].into();
        let shrunk = partition(Some(1), &[1, 2, 3], &[1, 2]);
        let view = PartitionView { info: &shrunk, min_isr: 2 };
        assert!(view.is_under_replicated());
        assert!(!view.is_under_min_isr());
        assert!(view.is_at_min_isr());
        assert!(!view.is_unavailable(&live));

        let leaderless = partition(None, &[1, 2, 3], &[]);
        let view = PartitionView { info: &leaderless, min_isr: 1 };
        assert!(view.is_under_min_isr() && view.is_unavailable(&live));

        let dead_leader = partition(Some(3), &[3], &[3]);
        let view = PartitionView { info: &dead_leader, min_isr: 1 };
        assert!(view.is_unavailable(&live) && !view.is_under_replicated());
    }

    #[test]
    fn partition_line_has_kafkas_columns() {
        let p = partition(Some(1), &[1, 2], &[1]);
        assert_eq!(
            partition_line("orders", &p),
            "\tTopic: orders\tPartition: 0\tLeader: 1\tReplicas: 1,2\tIsr: 1\tElr: \tLastKnownElr: "
        );
        let p = PartitionInfo { leader: None, elr: None, last_known_elr: None, ..p };
        assert_eq!(
            partition_line("orders", &p),
            "\tTopic: orders\tPartition: 0\tLeader: none\tReplicas: 1,2\tIsr: 1\tElr: N/A\tLastKnownElr: N/A"
        );
    }

    #[test]
    fn topic_filter_matches_whole_names_and_commas() {
        let f = include_list("\"orders,logs\\..*\"").unwrap();
        assert!(f.is_match("orders") && f.is_match("logs.app"));
        assert!(!f.is_match("orders2") && !f.is_match("logsXapp"));
    }

    #[test]
    fn configs_and_assignments_parse_as_kafka_does() {
        assert_eq!(
            parse_configs(&["retention.ms = 1000".into()]).unwrap(),
            [("retention.ms".to_owned(), "1000".to_owned())]
        );
        assert!(parse_configs(&["a=b=c".into()]).is_err());
        assert!(parse_configs(&["a=".into()]).is_err());
        assert_eq!(parse_replica_assignment("1:2,2:3").unwrap(), [vec![1, 2], vec![2, 3]]);
        assert!(parse_replica_assignment("1:1").unwrap_err().to_string().contains("duplicate"));
        assert!(parse_replica_assignment("1:2,3").is_err());
    }
}
