//! `kafka-lab consumer-groups`: `kafka-consumer-groups.sh` (Apache Kafka 4.1's
//! `ConsumerGroupCommand`) with its options, its tables (column widths computed as Kafka
//! computes them, the leading empty line and trailing spaces included), its notices on stderr
//! ("Consumer group 'g' has no active members.") and its "Error: …" lines on stdout.
//!
//! One deliberate difference: where Kafka's tool prints an error and still exits 0, this one
//! exits 1 (after printing the same lines), so a script or a lab checker can tell.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use anyhow::{anyhow, bail};
use kafka_protocol::error::ResponseError;
use regex::Regex;

use super::kafka_errors::{java_exception, kafka_message};
use super::{invalid, ConnectArgs, Reported};
use crate::client::BrokerError;
use crate::groups::{CommittedOffset, GroupCluster, GroupDescription, OffsetSpec, TopicPartition};

/// Kafka's placeholder for a column without a value.
const MISSING: &str = "-";

/// The group states Kafka's tool accepts for `--list --state` (`GroupState` for consumer
/// groups), in Kafka's spelling.
const STATES: [&str; 7] = [
    "PreparingRebalance",
    "CompletingRebalance",
    "Stable",
    "Dead",
    "Empty",
    "Assigning",
    "Reconciling",
];

/// Arguments, named as `kafka-consumer-groups.sh` names them.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "Examples:\n  \
  kafka-lab consumer-groups --bootstrap-server localhost:9092 --list --state stable,empty\n  \
  kafka-lab consumer-groups --bootstrap-server localhost:9092 --describe --group orders-app\n  \
  kafka-lab consumer-groups --bootstrap-server localhost:9092 --describe --group orders-app --members --verbose\n  \
  kafka-lab consumer-groups --bootstrap-server localhost:9092 --describe --all-groups --state\n  \
  kafka-lab consumer-groups --bootstrap-server localhost:9092 --reset-offsets --group orders-app --topic orders --to-earliest --dry-run\n  \
  kafka-lab consumer-groups --bootstrap-server localhost:9092 --reset-offsets --group orders-app --topic orders:0,1 --shift-by -10 --execute\n  \
  kafka-lab consumer-groups --bootstrap-server localhost:9092 --reset-offsets --group orders-app --all-topics --to-datetime 2026-01-31T08:00:00.000 --execute\n  \
  kafka-lab consumer-groups --bootstrap-server localhost:9092 --delete-offsets --group orders-app --topic orders\n  \
  kafka-lab consumer-groups --bootstrap-server localhost:9092 --delete --group orders-app")]
pub struct ConsumerGroupsArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// List all consumer groups.
    #[arg(long)]
    pub list: bool,
    /// Describe consumer group and list offset lag (number of messages not yet processed)
    /// related to given group.
    #[arg(long)]
    pub describe: bool,
    /// Pass in groups to delete topic partition offsets and ownership information over the
    /// entire consumer group. For instance --group g1 --group g2
    #[arg(long)]
    pub delete: bool,
    /// Reset offsets of consumer group. Supports one consumer group at the time, and instances
    /// should be inactive. Has 2 execution options: --dry-run (the default) to plan which
    /// offsets to reset, and --execute to update the offsets; --export prints the plan as CSV.
    /// Choose one reset specification: --to-datetime, --by-duration, --to-earliest,
    /// --to-latest, --shift-by, --from-file, --to-current, --to-offset. To define the scope
    /// use --all-topics or --topic (--from-file brings its own).
    #[arg(long)]
    pub reset_offsets: bool,
    /// Delete offsets of consumer group. Supports one consumer group at the time, and multiple
    /// topics.
    #[arg(long)]
    pub delete_offsets: bool,
    /// The consumer group we wish to act on (repeatable).
    #[arg(long, value_name = "consumer group")]
    pub group: Vec<String>,
    /// Apply to all consumer groups.
    #[arg(long)]
    pub all_groups: bool,
    /// The topic whose consumer group information should be deleted or topic whose should be
    /// included in the reset offset process. In `reset-offsets` case, partitions can be
    /// specified using this format: `topic1:0,1,2`, where 0,1,2 are the partition to be
    /// included in the process. Reset-offsets also supports multiple topic inputs.
    #[arg(long, value_name = "topic")]
    pub topic: Vec<String>,
    /// Consider all topics assigned to a group in the `reset-offsets` process.
    #[arg(long)]
    pub all_topics: bool,
    /// Describe members of the group. Only with --describe.
    #[arg(long)]
    pub members: bool,
    /// Describe the group and list all topic partitions in the group along with their offset
    /// lag. This is the default sub-action of --describe.
    #[arg(long)]
    pub offsets: bool,
    /// Provide additional information, if any, when describing the group (with
    /// --offsets/--members/--state).
    #[arg(long)]
    pub verbose: bool,
    /// With --describe, includes the state of the group. With --list, displays the state of
    /// all groups, or lists only groups in the given states, e.g. --state stable,empty.
    #[arg(long, value_name = "states", num_args = 0..=1, default_missing_value = "")]
    pub state: Option<String>,
    /// With --list, displays the types of all the groups, or only groups of the given types,
    /// e.g. --type classic,consumer.
    #[arg(long = "type", value_name = "types", num_args = 0..=1, default_missing_value = "")]
    pub group_type: Option<String>,
    /// Only show results without executing changes on Consumer Groups (the default for
    /// --reset-offsets).
    #[arg(long)]
    pub dry_run: bool,
    /// Execute operation. Supported operations: reset-offsets.
    #[arg(long)]
    pub execute: bool,
    /// Export operation execution to a CSV format (topic,partition,offset; with the group
    /// first when more than one --group is given). Supported operations: reset-offsets.
    #[arg(long)]
    pub export: bool,
    /// Reset offsets to a specific offset.
    #[arg(long, value_name = "offset", allow_negative_numbers = true)]
    pub to_offset: Option<i64>,
    /// Reset offsets to offset from datetime. Format: 'YYYY-MM-DDTHH:mm:SS.sss' (UTC unless
    /// a zone such as Z or +02:00 follows).
    #[arg(long, value_name = "datetime")]
    pub to_datetime: Option<String>,
    /// Reset offsets to offset by duration from current timestamp. Format: 'PnDTnHnMnS'
    /// (ISO-8601, e.g. PT15M).
    #[arg(long, value_name = "duration")]
    pub by_duration: Option<String>,
    /// Reset offsets to earliest offset.
    #[arg(long)]
    pub to_earliest: bool,
    /// Reset offsets to latest offset.
    #[arg(long)]
    pub to_latest: bool,
    /// Reset offsets to current offset.
    #[arg(long)]
    pub to_current: bool,
    /// Reset offsets to values defined in CSV file: `topic,partition,offset` lines (one
    /// --group), or `group,topic,partition,offset` (what --export prints).
    #[arg(long, value_name = "path to CSV file")]
    pub from_file: Option<std::path::PathBuf>,
    /// Reset offsets shifting current offset by 'n', where 'n' can be positive or negative.
    #[arg(long, value_name = "number-of-offsets", allow_negative_numbers = true)]
    pub shift_by: Option<i64>,
    /// Accepted for kafka-consumer-groups.sh's command lines; each request here waits up to
    /// 30 s.
    #[arg(long, value_name = "timeout (ms)")]
    pub timeout: Option<u64>,
}

/// Runs the command, writing what `kafka-consumer-groups.sh` prints on stdout to `out` (its
/// notices go to stderr, as Kafka's do). A failure prints Kafka's "Error: …" line to `out` and
/// returns [`Reported`].
pub fn run(args: &ConsumerGroupsArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    check_args(args)?;
    let states = args
        .state
        .as_deref()
        .filter(|s| args.list && !s.is_empty())
        .map(parse_states)
        .transpose()?;
    let types =
        args.group_type.as_deref().filter(|t| !t.is_empty()).map(parse_types).transpose()?;
    let scenario = reset_scenario(args)?;
    if args.reset_offsets && !args.dry_run && !args.execute {
        eprintln!(
            "WARN: No action will be performed as the --execute option is missing. In a future \
             major release, the default behavior of this command will be to prompt the user \
             before executing the reset rather than doing a dry run. You should add the \
             --dry-run option explicitly if you are scripting this command and want to keep \
             the current default behavior without prompting."
        );
    }
    let result = (|| {
        let props = args.connect.properties()?;
        let mut cluster = GroupCluster::connect(&args.connect.bootstrap_server, &props)?;
        if args.list {
            list(&mut cluster, args, states.as_deref(), types.as_deref(), out)
        } else if args.describe {
            describe(&mut cluster, args, out)
        } else if args.delete {
            delete(&mut cluster, args, out)
        } else if args.reset_offsets {
            reset(&mut cluster, args, scenario.expect("checked by reset_scenario"), out)
        } else {
            delete_offsets(&mut cluster, args, out)
        }
    })();
    match result {
        Ok(()) => Ok(()),
        Err(e) if e.is::<Reported>() => Err(e),
        Err(e) => {
            print_error(out, &format!("Executing consumer group command failed due to {e:#}"))?;
            Err(Reported.into())
        }
    }
}

/// Kafka's `printError`: an empty line, then `Error: …`, on stdout.
fn print_error(out: &mut dyn Write, message: &str) -> std::io::Result<()> {
    writeln!(out, "\nError: {message}")
}

/// The option checks of `ConsumerGroupCommandOptions.checkArgs` and `main`, before connecting.
fn check_args(args: &ConsumerGroupsArgs) -> anyhow::Result<()> {
    let actions = [args.list, args.describe, args.delete, args.reset_offsets, args.delete_offsets];
    if actions.iter().filter(|a| **a).count() != 1 {
        bail!(
            "Command must include exactly one action: --list, --describe, --delete, \
             --reset-offsets, --delete-offsets"
        );
    }
    let unavailable = |option: &str| {
        anyhow!("Option(s) [{option}] are unavailable given other options on the command line")
    };
    for (option, given) in
        [("members", args.members), ("verbose", args.verbose), ("offsets", args.offsets)]
    {
        if given && !args.describe {
            return Err(unavailable(option));
        }
    }
    if args.state.is_some() && !(args.describe || args.list) {
        return Err(unavailable("state"));
    }
    if args.group_type.is_some() && !args.list {
        return Err(unavailable("type"));
    }
    let scope = "[group], [all-groups]";
    let has_group = !args.group.is_empty() || args.all_groups;
    if args.describe {
        if !has_group {
            bail!("Option [describe] takes one of these options: {scope}");
        }
        let sub_actions = [args.members, args.offsets, args.state.is_some()];
        if sub_actions.iter().filter(|a| **a).count() > 1 {
            bail!("Option [describe] takes at most one of these options: [members], [offsets], [state]");
        }
        if args.state.as_deref().is_some_and(|s| !s.is_empty()) {
            bail!("Option [describe] does not take a value for [state]");
        }
    }
    if args.delete {
        if !has_group {
            bail!("Option [delete] takes one of these options: {scope}");
        }
        if !args.topic.is_empty() {
            bail!("The consumer does not support topic-specific offset deletion from a consumer group.");
        }
    }
    if args.delete_offsets && (args.group.is_empty() || args.topic.is_empty()) {
        bail!("Option [delete-offsets] takes the following options: [group], [topic]");
    }
    if args.reset_offsets {
        if args.dry_run && args.execute {
            bail!("Option [reset-offsets] only accepts one of [execute] and [dry-run]");
        }
        if !has_group {
            bail!("Option [reset-offsets] takes one of these options: {scope}");
        }
        let scenarios = scenarios(args);
        for (used, _) in scenarios.iter().filter(|(_, given)| *given) {
            if let Some((other, _)) = scenarios.iter().find(|(o, given)| *given && o != used) {
                return Err(invalid(used, other));
            }
        }
    }
    if !args.group.is_empty() {
        if args.all_groups {
            return Err(invalid("group", "all-groups"));
        }
        if args.list {
            return Err(invalid("group", "list"));
        }
    }
    if !args.topic.is_empty() {
        if args.list {
            return Err(invalid("topic", "list"));
        }
        if args.describe {
            return Err(invalid("topic", "describe"));
        }
    }
    if args.all_topics && !args.topic.is_empty() {
        return Err(invalid("all-topics", "topic"));
    }
    for (option, given) in [
        ("all-topics", args.all_topics),
        ("dry-run", args.dry_run),
        ("execute", args.execute),
        ("export", args.export),
    ] {
        if given && !args.reset_offsets {
            return Err(invalid(option, action_name(args)));
        }
    }
    Ok(())
}

fn action_name(args: &ConsumerGroupsArgs) -> &'static str {
    if args.list {
        "list"
    } else if args.describe {
        "describe"
    } else if args.delete {
        "delete"
    } else if args.reset_offsets {
        "reset-offsets"
    } else {
        "delete-offsets"
    }
}

fn scenarios(args: &ConsumerGroupsArgs) -> [(&'static str, bool); 8] {
    [
        ("to-offset", args.to_offset.is_some()),
        ("to-datetime", args.to_datetime.is_some()),
        ("by-duration", args.by_duration.is_some()),
        ("to-earliest", args.to_earliest),
        ("to-latest", args.to_latest),
        ("to-current", args.to_current),
        ("shift-by", args.shift_by.is_some()),
        ("from-file", args.from_file.is_some()),
    ]
}

/// How `--reset-offsets` computes the new offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    ToOffset(i64),
    /// A point in time, ms since the epoch (from --to-datetime or --by-duration).
    ToTimestamp(i64),
    ToEarliest,
    ToLatest,
    ToCurrent,
    ShiftBy(i64),
    /// The plan of a CSV file, per group.
    FromFile,
}

/// The reset scenario of `--reset-offsets` (the datetime and duration parsed before
/// connecting); `None` for the other actions.
fn reset_scenario(args: &ConsumerGroupsArgs) -> anyhow::Result<Option<Scenario>> {
    if !args.reset_offsets {
        return Ok(None);
    }
    if !args.all_topics && args.topic.is_empty() && args.from_file.is_none() {
        bail!("One of the reset scopes should be defined: --all-topics, --topic.");
    }
    let scenario = if let Some(offset) = args.to_offset {
        Scenario::ToOffset(offset)
    } else if let Some(text) = &args.to_datetime {
        Scenario::ToTimestamp(parse_datetime(text)?)
    } else if let Some(text) = &args.by_duration {
        let duration_ms = parse_duration_ms(text)?;
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        Scenario::ToTimestamp(now_ms - duration_ms)
    } else if args.to_earliest {
        Scenario::ToEarliest
    } else if args.to_latest {
        Scenario::ToLatest
    } else if args.to_current {
        Scenario::ToCurrent
    } else if let Some(shift) = args.shift_by {
        Scenario::ShiftBy(shift)
    } else if args.from_file.is_some() {
        Scenario::FromFile
    } else {
        bail!(
            "Option '[reset-offsets]' requires one of the following scenarios: [to-offset, \
             to-datetime, by-duration, to-earliest, to-latest, to-current, shift-by, from-file]"
        );
    };
    Ok(Some(scenario))
}

/// Kafka's `Utils.getDateTime`: `yyyy-MM-ddTHH:mm:ss.SSS`, then `Z`, `±HH`, `±HHmm` or
/// `±HH:mm`; UTC without a zone. Milliseconds since the epoch.
fn parse_datetime(text: &str) -> anyhow::Result<i64> {
    let unparseable = || anyhow!("Unparseable date: \"{text}\"");
    if !text.contains('T') {
        bail!("Error parsing timestamp. It does not contain a 'T' according to ISO8601 format");
    }
    let pattern = Regex::new(
        r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{3})(Z|[+-]\d{2}(?::?\d{2})?)?$",
    )
    .expect("a valid regex");
    let c = pattern.captures(text).ok_or_else(unparseable)?;
    let n = |i: usize| c[i].parse::<i64>().expect("digits");
    let (year, month, day, hour, minute, second, ms) = (n(1), n(2), n(3), n(4), n(5), n(6), n(7));
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => return Err(unparseable()),
    };
    if day < 1 || day > days_in_month || hour > 23 || minute > 59 || second > 59 {
        return Err(unparseable());
    }
    let offset_minutes = match c.get(8).map(|m| m.as_str()) {
        None | Some("Z") => 0,
        Some(zone) => {
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            let digits: String = zone[1..].chars().filter(|c| c.is_ascii_digit()).collect();
            let hours: i64 = digits[..2].parse().expect("digits");
            let minutes: i64 =
                if digits.len() > 2 { digits[2..].parse().expect("digits") } else { 0 };
            if hours > 23 || minutes > 59 {
                return Err(unparseable());
            }
            sign * (hours * 60 + minutes)
        }
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    Ok(seconds * 1000 + ms)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Java's `Duration.parse` (`[-]PnDTnHnMn.nS`, any case), in milliseconds.
fn parse_duration_ms(text: &str) -> anyhow::Result<i64> {
    let pattern = Regex::new(
        r"(?i)^([-+]?)P(?:([-+]?\d+)D)?(T(?:([-+]?\d+)H)?(?:([-+]?\d+)M)?(?:([-+]?\d+)(?:[.,](\d{0,9}))?S)?)?$",
    )
    .expect("a valid regex");
    let error = || anyhow!("Text cannot be parsed to a Duration");
    let c = pattern.captures(text).ok_or_else(error)?;
    // "PT" alone, or "P" alone, is not a duration.
    let any = [2, 4, 5, 6].iter().any(|&i| c.get(i).is_some());
    if !any || c.get(3).is_some_and(|t| t.as_str().eq_ignore_ascii_case("T")) {
        return Err(error());
    }
    let number = |i: usize| -> anyhow::Result<i64> {
        c.get(i).map_or(Ok(0), |m| m.as_str().parse::<i64>().map_err(|_| error()))
    };
    let seconds = number(6)?;
    let fraction_ms = c.get(7).map_or(0, |m| {
        let digits = format!("{:0<3}", m.as_str());
        digits[..3].parse::<i64>().unwrap_or(0)
    });
    let fraction_ms = if c.get(6).is_some_and(|m| m.as_str().starts_with('-')) {
        -fraction_ms
    } else {
        fraction_ms
    };
    let ms = number(2)?
        .checked_mul(86_400_000)
        .and_then(|d| number(4).ok()?.checked_mul(3_600_000)?.checked_add(d))
        .and_then(|d| number(5).ok()?.checked_mul(60_000)?.checked_add(d))
        .and_then(|d| seconds.checked_mul(1000)?.checked_add(d))
        .and_then(|d| d.checked_add(fraction_ms))
        .ok_or_else(error)?;
    Ok(if &c[1] == "-" { -ms } else { ms })
}

/// `--list --state a,b`: Kafka's state names, any case.
fn parse_states(input: &str) -> anyhow::Result<Vec<String>> {
    input
        .split(',')
        .map(|s| {
            STATES.iter().find(|known| known.eq_ignore_ascii_case(s.trim())).map(|s| s.to_string())
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| {
            anyhow!("Invalid state list '{input}'. Valid states are: {}", STATES.join(", "))
        })
}

/// `--list --type a,b`: `classic` and `consumer`, any case.
fn parse_types(input: &str) -> anyhow::Result<Vec<String>> {
    input
        .split(',')
        .map(|t| {
            let t = t.trim().to_ascii_lowercase();
            (t == "classic" || t == "consumer").then_some(t)
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| anyhow!("Invalid types list '{input}'. Valid types are: Classic, Consumer"))
}

/// `TopicPartition.toString`: `orders-0`.
fn tp_name((topic, partition): &TopicPartition) -> String {
    format!("{topic}-{partition}")
}

/// The groups an action applies to: `--all-groups` lists them, otherwise the `--group`s.
fn selected_groups(
    cluster: &mut GroupCluster,
    args: &ConsumerGroupsArgs,
) -> anyhow::Result<Vec<String>> {
    if args.all_groups {
        return Ok(cluster.list_groups(&[])?.into_iter().map(|g| g.group_id).collect());
    }
    let unique: BTreeSet<&String> = args.group.iter().collect();
    Ok(unique.into_iter().cloned().collect())
}

fn list(
    cluster: &mut GroupCluster,
    args: &ConsumerGroupsArgs,
    states: Option<&[String]>,
    types: Option<&[String]>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let groups = cluster.list_groups(states.unwrap_or(&[]))?;
    let groups: Vec<_> = groups
        .into_iter()
        .filter(|g| {
            types.is_none_or(|types| {
                g.group_type
                    .as_deref()
                    .is_some_and(|t| types.iter().any(|w| w.eq_ignore_ascii_case(t)))
            })
        })
        .collect();
    let (with_type, with_state) = (args.group_type.is_some(), args.state.is_some());
    if !with_type && !with_state {
        for g in &groups {
            writeln!(out, "{}", g.group_id)?;
        }
        return Ok(());
    }
    let width = groups.iter().map(|g| g.group_id.len().max(15)).max().unwrap_or(15) + 10;
    let line = |id: &str, group_type: &str, state: &str| {
        let mut line = format!("{id:<width$}");
        if with_type {
            line.push_str(&format!(" {group_type:<20}"));
        }
        if with_state {
            line.push_str(&format!(" {state:<20}"));
        }
        line
    };
    writeln!(out, "{}", line("GROUP", "TYPE", "STATE"))?;
    for g in &groups {
        let group_type = match g.group_type.as_deref() {
            Some("classic") => "Classic",
            Some("consumer") => "Consumer",
            _ => "Unknown",
        };
        writeln!(
            out,
            "{}",
            line(&g.group_id, group_type, g.state.as_deref().unwrap_or("Unknown"))
        )?;
    }
    Ok(())
}

/// Kafka's `shouldPrintMemberState`: the notice for the group's state (stderr, or an error on
/// stdout for a group that does not exist); whether there is anything to print.
fn should_print(
    out: &mut dyn Write,
    group: &str,
    state: &str,
    rows: usize,
) -> anyhow::Result<bool> {
    match state {
        "Dead" => print_error(out, &format!("Consumer group '{group}' does not exist."))?,
        "Empty" => eprintln!("\nConsumer group '{group}' has no active members."),
        "PreparingRebalance" | "CompletingRebalance" | "Assigning" | "Reconciling" => {
            eprintln!("\nWarning: Consumer group '{group}' is rebalancing.")
        }
        "Stable" => {}
        other => bail!("Expected a valid consumer group state, but found '{other}'."),
    }
    Ok(state != "Dead" && rows > 0)
}

/// Describes `group`, failing the command as Kafka's tool fails it on a broker error.
fn describe_one(cluster: &mut GroupCluster, group: &str) -> anyhow::Result<GroupDescription> {
    cluster.describe_group(group)?.map_err(|e| anyhow!(kafka_message(&e)))
}

fn committed(
    cluster: &mut GroupCluster,
    group: &str,
) -> anyhow::Result<BTreeMap<TopicPartition, CommittedOffset>> {
    cluster.committed_offsets(group)?.map_err(|e| anyhow!(kafka_message(&e)))
}

fn describe(
    cluster: &mut GroupCluster,
    args: &ConsumerGroupsArgs,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let mut groups = selected_groups(cluster, args)?;
    groups.sort();
    let mut missing = false;
    for group in &groups {
        let description = describe_one(cluster, group)?;
        missing |= description.state == "Dead";
        if args.members {
            print_members(out, &description, args.verbose)?;
        } else if args.state.is_some() {
            print_state(out, &description, args.verbose)?;
        } else {
            let rows = offset_rows(cluster, &description)?;
            print_offsets(out, &description, &rows, args.verbose)?;
        }
    }
    // "Error: Consumer group 'g' does not exist." was printed for it.
    if missing {
        return Err(Reported.into());
    }
    Ok(())
}

/// One row of the offsets view (Kafka's `PartitionAssignmentState`).
struct OffsetRow {
    topic: Option<String>,
    partition: Option<i32>,
    leader_epoch: Option<i32>,
    offset: Option<i64>,
    log_end_offset: Option<i64>,
    consumer_id: String,
    host: String,
    client_id: String,
}

impl OffsetRow {
    fn lag(&self) -> Option<i64> {
        Some(self.log_end_offset? - self.offset.filter(|o| *o != -1)?)
    }
}

/// Kafka's `collectGroupsOffsets`: members with partitions, most partitions first, each with its
/// partitions in order; then the partitions with a committed offset that no member holds.
fn offset_rows(
    cluster: &mut GroupCluster,
    group: &GroupDescription,
) -> anyhow::Result<Vec<OffsetRow>> {
    let committed = committed(cluster, &group.group_id)?;
    let mut members: Vec<_> = group.members.iter().filter(|m| !m.assignment.is_empty()).collect();
    members.sort_by_key(|m| std::cmp::Reverse(m.assignment.len()));
    let mut all: Vec<TopicPartition> = committed.keys().cloned().collect();
    for m in &members {
        all.extend(m.assignment.iter().cloned());
    }
    all.sort();
    all.dedup();
    let log_end_offsets = cluster.list_offsets(&all, OffsetSpec::Latest)?;
    let row = |tp: &TopicPartition, consumer_id: &str, host: &str, client_id: &str| {
        let c = committed.get(tp);
        OffsetRow {
            topic: Some(tp.0.clone()),
            partition: Some(tp.1),
            leader_epoch: c.and_then(|c| c.leader_epoch),
            offset: c.map(|c| c.offset),
            log_end_offset: log_end_offsets.get(tp).copied(),
            consumer_id: consumer_id.to_owned(),
            host: host.to_owned(),
            client_id: client_id.to_owned(),
        }
    };
    let mut rows = Vec::new();
    let mut assigned = BTreeSet::new();
    for m in members {
        let mut partitions = m.assignment.clone();
        partitions.sort();
        for tp in &partitions {
            assigned.insert(tp.clone());
            rows.push(row(tp, &m.member_id, &m.host, &m.client_id));
        }
    }
    for tp in committed.keys().filter(|tp| !assigned.contains(*tp)) {
        rows.push(row(tp, MISSING, MISSING, MISSING));
    }
    Ok(rows)
}

fn print_offsets(
    out: &mut dyn Write,
    group: &GroupDescription,
    rows: &[OffsetRow],
    verbose: bool,
) -> anyhow::Result<()> {
    if !should_print(out, &group.group_id, &group.state, rows.len())? {
        return Ok(());
    }
    let width = |f: &dyn Fn(&OffsetRow) -> usize, header_min: usize| {
        rows.iter().map(f).max().unwrap_or(0).max(header_min)
    };
    let g = group.group_id.len().max(15);
    let t = width(&|r| r.topic.as_deref().unwrap_or(MISSING).len(), 15);
    let c = width(&|r| r.consumer_id.len(), 15);
    let h = width(&|r| r.host.len(), 15);
    let line = |cells: [&str; 10]| {
        let [group, topic, partition, epoch, offset, end, lag, consumer, host, client] = cells;
        let mut line = format!("{group:<g$} {topic:<t$} {partition:<10} ");
        if verbose {
            line.push_str(&format!("{epoch:<15} "));
        }
        line.push_str(&format!(
            "{offset:<15} {end:<15} {lag:<15} {consumer:<c$} {host:<h$} {client}"
        ));
        line
    };
    write!(
        out,
        "\n{}",
        line([
            "GROUP",
            "TOPIC",
            "PARTITION",
            "LEADER-EPOCH",
            "CURRENT-OFFSET",
            "LOG-END-OFFSET",
            "LAG",
            "CONSUMER-ID",
            "HOST",
            "CLIENT-ID"
        ])
    )?;
    let text = |v: Option<String>| v.unwrap_or_else(|| MISSING.to_owned());
    for r in rows {
        let cells = [
            group.group_id.clone(),
            text(r.topic.clone()),
            text(r.partition.map(|p| p.to_string())),
            text(r.leader_epoch.map(|e| e.to_string())),
            text(r.offset.map(|o| o.to_string())),
            text(r.log_end_offset.map(|o| o.to_string())),
            text(r.lag().map(|l| l.to_string())),
            r.consumer_id.clone(),
            r.host.clone(),
            r.client_id.clone(),
        ];
        let cells: Vec<&str> = cells.iter().map(String::as_str).collect();
        write!(out, "\n{}", line(cells.try_into().expect("ten cells")))?;
    }
    writeln!(out)?;
    Ok(())
}

/// `topic:0,1;other:2`, topics and partitions in order (Kafka's `getAssignmentString`).
fn assignment_string(assignment: &[TopicPartition]) -> String {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (topic, partition) in assignment {
        by_topic.entry(topic).or_default().push(*partition);
    }
    by_topic
        .into_iter()
        .map(|(topic, mut partitions)| {
            partitions.sort();
            let list: Vec<String> = partitions.iter().map(i32::to_string).collect();
            format!("{topic}:{}", list.join(","))
        })
        .collect::<Vec<_>>()
        .join(";")
}

fn print_members(
    out: &mut dyn Write,
    group: &GroupDescription,
    verbose: bool,
) -> anyhow::Result<()> {
    let members = &group.members;
    let (mut g, mut c, mut i, mut h, mut cl, mut cur) = (15, 15, 17, 15, 15, 20);
    let mut with_instance_id = false;
    // Kafka prints the header even when the group has no members or does not exist.
    if should_print(out, &group.group_id, &group.state, members.len())? {
        for m in members {
            g = g.max(group.group_id.len());
            c = c.max(m.member_id.len());
            i = i.max(m.group_instance_id.as_deref().unwrap_or("").len());
            h = h.max(m.host.len());
            cl = cl.max(m.client_id.len());
            with_instance_id |= m.group_instance_id.as_deref().is_some_and(|id| !id.is_empty());
            let current = if m.assignment.is_empty() {
                MISSING.to_owned()
            } else {
                assignment_string(&m.assignment)
            };
            cur = cur.max(current.len());
        }
    }
    // A classic group has no target assignment: its column is "-" at the minimum width.
    let target = 20;
    let line = |id: &str, instance: &str, host: &str, client: &str, count: &str| {
        if with_instance_id {
            format!(
                "{:<g$} {id:<c$} {instance:<i$} {host:<h$} {client:<cl$} {count:<15} ",
                group.group_id
            )
        } else {
            format!("{:<g$} {id:<c$} {host:<h$} {client:<cl$} {count:<15} ", group.group_id)
        }
    };
    let header = if with_instance_id {
        format!(
            "{:<g$} {:<c$} {:<i$} {:<h$} {:<cl$} {:<15} ",
            "GROUP", "CONSUMER-ID", "GROUP-INSTANCE-ID", "HOST", "CLIENT-ID", "#PARTITIONS"
        )
    } else {
        format!(
            "{:<g$} {:<c$} {:<h$} {:<cl$} {:<15} ",
            "GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS"
        )
    };
    write!(out, "\n{header}")?;
    if verbose {
        write!(
            out,
            "{:<15} {:<cur$} {:<15} {:<target$}",
            "CURRENT-EPOCH", "CURRENT-ASSIGNMENT", "TARGET-EPOCH", "TARGET-ASSIGNMENT"
        )?;
    }
    writeln!(out)?;
    for m in members {
        let count = m.assignment.len().to_string();
        write!(
            out,
            "{}",
            line(
                &m.member_id,
                m.group_instance_id.as_deref().unwrap_or(""),
                &m.host,
                &m.client_id,
                &count
            )
        )?;
        if verbose {
            let current = if m.assignment.is_empty() {
                MISSING.to_owned()
            } else {
                assignment_string(&m.assignment)
            };
            // Classic members have no member epoch and no target assignment.
            write!(out, "{MISSING:<15} {current:<cur$} {MISSING:<15} {MISSING:<target$}")?;
        }
        writeln!(out)?;
    }
    Ok(())
}

fn print_state(out: &mut dyn Write, group: &GroupDescription, verbose: bool) -> anyhow::Result<()> {
    if !should_print(out, &group.group_id, &group.state, 1)? {
        return Ok(());
    }
    let node = &group.coordinator;
    let coordinator = format!("{}:{}  ({})", node.host, node.port, node.id);
    let k = coordinator.len().max(25);
    let g = group.group_id.len().max(15);
    let strategy = if group.assignor.is_empty() { MISSING } else { group.assignor.as_str() };
    let members = group.members.len().to_string();
    if verbose {
        let line = |cells: [&str; 7]| {
            let [a, b, c, d, e, f, n] = cells;
            format!("\n{a:<g$} {b:<k$} {c:<20} {d:<20} {e:<15} {f:<25} {n}")
        };
        write!(
            out,
            "{}",
            line([
                "GROUP",
                "COORDINATOR (ID)",
                "ASSIGNMENT-STRATEGY",
                "STATE",
                "GROUP-EPOCH",
                "TARGET-ASSIGNMENT-EPOCH",
                "#MEMBERS"
            ])
        )?;
        // Classic groups have no group epoch or target assignment epoch.
        write!(
            out,
            "{}",
            line([
                &group.group_id,
                &coordinator,
                strategy,
                &group.state,
                MISSING,
                MISSING,
                &members
            ])
        )?;
    } else {
        let line = |cells: [&str; 5]| {
            let [a, b, c, d, n] = cells;
            format!("\n{a:<g$} {b:<k$} {c:<20} {d:<20} {n}")
        };
        write!(
            out,
            "{}",
            line(["GROUP", "COORDINATOR (ID)", "ASSIGNMENT-STRATEGY", "STATE", "#MEMBERS"])
        )?;
        write!(out, "{}", line([&group.group_id, &coordinator, strategy, &group.state, &members]))?;
    }
    writeln!(out)?;
    Ok(())
}

fn delete(
    cluster: &mut GroupCluster,
    args: &ConsumerGroupsArgs,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let groups = selected_groups(cluster, args)?;
    let mut deleted = Vec::new();
    let mut failed = Vec::new();
    for group in groups {
        match cluster.delete_group(&group)? {
            Ok(()) => deleted.push(group),
            Err(e) => failed.push((group, e)),
        }
    }
    let quoted =
        |groups: &[String]| groups.iter().map(|g| format!("'{g}'")).collect::<Vec<_>>().join(", ");
    if failed.is_empty() {
        writeln!(
            out,
            "Deletion of requested consumer groups ({}) was successful.",
            quoted(&deleted)
        )?;
        return Ok(());
    }
    print_error(out, "Deletion of some consumer groups failed:")?;
    for (group, e) in &failed {
        writeln!(out, "* Group '{group}' could not be deleted due to: {}", java_exception(e))?;
    }
    if !deleted.is_empty() {
        writeln!(out, "\nThese consumer groups were deleted successfully: {}", quoted(&deleted))?;
    }
    Err(Reported.into())
}

/// `topic:0,1` → its partitions; `topic` → `None` (all of its partitions).
fn parse_topic_arg(arg: &str) -> anyhow::Result<(String, Option<Vec<i32>>)> {
    if !arg.contains(':') {
        return Ok((arg.to_owned(), None));
    }
    let parts: Vec<&str> = arg.split(':').collect();
    // Java's String.split drops trailing empty strings: "t:" is one part.
    let parts: Vec<&str> = match parts.as_slice() {
        [topic, ""] => vec![topic],
        _ => parts,
    };
    let [topic, partitions] = parts.as_slice() else {
        bail!("Invalid topic arg '{arg}', expected topic name and partitions");
    };
    let partitions = partitions
        .split(',')
        .map(|p| {
            p.parse::<i32>()
                .map_err(|_| anyhow!("Invalid partition '{p}' specified in topic arg '{arg}''"))
        })
        .collect::<anyhow::Result<Vec<i32>>>()?;
    Ok((topic.to_string(), Some(partitions)))
}

/// The partitions `--topic` names, as `parseTopicPartitionsToReset` resolves them (a topic
/// without partitions means all of them; an unknown topic fails the command).
fn topic_partitions(
    cluster: &mut GroupCluster,
    topics: &[String],
) -> anyhow::Result<Vec<TopicPartition>> {
    let mut out = Vec::new();
    let mut whole = Vec::new();
    for arg in topics {
        match parse_topic_arg(arg)? {
            (topic, Some(partitions)) => {
                out.extend(partitions.into_iter().map(|p| (topic.clone(), p)))
            }
            (topic, None) => whole.push(topic),
        }
    }
    if !whole.is_empty() {
        for (_, answer) in cluster.partitions(&whole)? {
            if let Err(e) = answer {
                bail!(kafka_message(&e));
            }
        }
        for (topic, answer) in cluster.partitions(&whole)? {
            let partitions = answer.map_err(|e| anyhow!(kafka_message(&e)))?;
            out.extend(partitions.into_iter().map(|p| (topic.clone(), p.partition)));
        }
    }
    Ok(out)
}

/// `checkAllTopicPartitionsValid`: every partition exists and has a leader.
fn check_partitions_valid(
    cluster: &mut GroupCluster,
    partitions: &[TopicPartition],
) -> anyhow::Result<()> {
    let mut topics: Vec<String> = partitions.iter().map(|(t, _)| t.clone()).collect();
    topics.sort();
    topics.dedup();
    if topics.is_empty() {
        return Ok(());
    }
    let layout = cluster.partitions(&topics)?;
    let leader = |(topic, partition): &TopicPartition| {
        layout
            .get(topic)
            .and_then(|a| a.as_ref().ok())
            .and_then(|ps| ps.iter().find(|p| p.partition == *partition))
            .map(|p| p.leader)
    };
    let names = |wanted: &dyn Fn(&TopicPartition) -> bool| {
        partitions.iter().filter(|tp| wanted(tp)).map(tp_name).collect::<Vec<_>>().join(",")
    };
    let missing = names(&|tp| leader(tp).is_none());
    if !missing.is_empty() {
        bail!("The partitions \"{missing}\" do not exist");
    }
    let leaderless = names(&|tp| leader(tp) == Some(None));
    if !leaderless.is_empty() {
        bail!("The partitions \"{leaderless}\" have no leader");
    }
    Ok(())
}

/// `checkOffsetsRange`: a requested offset beyond the log end or before the log start is
/// moved to it, with Kafka's warning.
fn clamp_offsets(
    cluster: &mut GroupCluster,
    requested: BTreeMap<TopicPartition, i64>,
) -> anyhow::Result<BTreeMap<TopicPartition, i64>> {
    let partitions: Vec<TopicPartition> = requested.keys().cloned().collect();
    let starts = cluster.list_offsets(&partitions, OffsetSpec::Earliest)?;
    let ends = cluster.list_offsets(&partitions, OffsetSpec::Latest)?;
    Ok(requested
        .into_iter()
        .map(|(tp, offset)| {
            let new = match (starts.get(&tp), ends.get(&tp)) {
                (_, Some(&end)) if offset > end => {
                    eprintln!(
                        "WARN New offset ({offset}) is higher than latest offset for topic partition {}. Value will be set to {end}",
                        tp_name(&tp)
                    );
                    end
                }
                (Some(&start), _) if offset < start => {
                    eprintln!(
                        "WARN New offset ({offset}) is lower than earliest offset for topic partition {}. Value will be set to {start}",
                        tp_name(&tp)
                    );
                    start
                }
                _ => offset,
            };
            (tp, new)
        })
        .collect())
}

/// A reset plan as `--export` writes it (`parseResetPlan`): `topic,partition,offset` lines
/// when exactly one --group is given and the first line reads so, otherwise
/// `group,topic,partition,offset`.
fn parse_reset_plan(
    text: &str,
    groups: &[String],
) -> anyhow::Result<BTreeMap<String, BTreeMap<TopicPartition, i64>>> {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let no_group = |line: &str| -> Option<(String, i32, i64)> {
        let [topic, partition, offset] = line.split(',').collect::<Vec<_>>()[..] else {
            return None;
        };
        Some((topic.to_owned(), partition.trim().parse().ok()?, offset.trim().parse().ok()?))
    };
    let mut plans: BTreeMap<String, BTreeMap<TopicPartition, i64>> = BTreeMap::new();
    if groups.len() == 1 && lines.first().is_some_and(|l| no_group(l).is_some()) {
        for line in &lines {
            let (topic, partition, offset) =
                no_group(line).ok_or_else(|| anyhow!("Invalid reset plan line: {line}"))?;
            plans.entry(groups[0].clone()).or_default().insert((topic, partition), offset);
        }
        return Ok(plans);
    }
    for line in &lines {
        let (group, rest) =
            line.split_once(',').ok_or_else(|| anyhow!("Invalid reset plan line: {line}"))?;
        let (topic, partition, offset) =
            no_group(rest).ok_or_else(|| anyhow!("Invalid reset plan line: {line}"))?;
        plans.entry(group.to_owned()).or_default().insert((topic, partition), offset);
    }
    Ok(plans)
}

/// The new offsets of an inactive group (`prepareOffsetsToReset`).
fn prepare_offsets(
    cluster: &mut GroupCluster,
    args: &ConsumerGroupsArgs,
    group: &str,
    scenario: Scenario,
    out: &mut dyn Write,
) -> anyhow::Result<BTreeMap<TopicPartition, i64>> {
    let partitions: Vec<TopicPartition> = if args.all_topics {
        committed(cluster, group)?.into_keys().collect()
    } else if args.topic.is_empty() {
        Vec::new()
    } else {
        topic_partitions(cluster, &args.topic)?
    };
    check_partitions_valid(cluster, &partitions)?;
    let from_log = |cluster: &mut GroupCluster, spec: OffsetSpec, what: &str| {
        let offsets = cluster.list_offsets(&partitions, spec)?;
        partitions
            .iter()
            .map(|tp| match offsets.get(tp) {
                Some(&offset) => Ok((tp.clone(), offset)),
                None => {
                    Err(anyhow!("Error getting {what} offset of topic partition: {}", tp_name(tp)))
                }
            })
            .collect::<anyhow::Result<BTreeMap<_, _>>>()
    };
    match scenario {
        Scenario::ToOffset(offset) => {
            clamp_offsets(cluster, partitions.iter().map(|tp| (tp.clone(), offset)).collect())
        }
        Scenario::ToEarliest => from_log(cluster, OffsetSpec::Earliest, "starting"),
        Scenario::ToLatest => from_log(cluster, OffsetSpec::Latest, "ending"),
        Scenario::ShiftBy(shift) => {
            let current = committed(cluster, group)?;
            let requested = partitions
                .iter()
                .map(|tp| match current.get(tp) {
                    Some(c) => Ok((tp.clone(), c.offset.saturating_add(shift))),
                    None => Err(anyhow!(
                        "Cannot shift offset for partition {} since there is no current committed offset",
                        tp_name(tp)
                    )),
                })
                .collect::<anyhow::Result<BTreeMap<_, _>>>()?;
            clamp_offsets(cluster, requested)
        }
        Scenario::ToTimestamp(timestamp) => {
            let found = cluster.list_offsets(&partitions, OffsetSpec::Timestamp(timestamp))?;
            let mut offsets = BTreeMap::new();
            let mut fall_back = Vec::new();
            for tp in &partitions {
                match found.get(tp) {
                    Some(&offset) if offset != -1 => {
                        offsets.insert(tp.clone(), offset);
                    }
                    Some(_) => fall_back.push(tp.clone()),
                    None => bail!(
                        "Error getting offset by timestamp of topic partition: {}",
                        tp_name(tp)
                    ),
                }
            }
            for (topic, partition) in &fall_back {
                writeln!(
                    out,
                    "\nWarn: Partition {partition} from topic {topic} is empty. Falling back to latest known offset."
                )?;
            }
            let ends = cluster.list_offsets(&fall_back, OffsetSpec::Latest)?;
            for tp in fall_back {
                let end = ends.get(&tp).copied().ok_or_else(|| {
                    anyhow!(
                        "Error getting offset by timestamp of topic partition: {}",
                        tp_name(&tp)
                    )
                })?;
                offsets.insert(tp, end);
            }
            Ok(offsets)
        }
        Scenario::FromFile => {
            let path = args.from_file.as_deref().expect("FromFile has a file");
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow!("cannot read {}: {e}", path.display()))?;
            let plans = parse_reset_plan(&text, &args.group)?;
            match plans.get(group) {
                Some(plan) => clamp_offsets(cluster, plan.clone()),
                None => {
                    print_error(out, &format!("No reset plan for group {group} found"))?;
                    Ok(BTreeMap::new())
                }
            }
        }
        Scenario::ToCurrent => {
            let current = committed(cluster, group)?;
            let without: Vec<TopicPartition> =
                partitions.iter().filter(|tp| !current.contains_key(*tp)).cloned().collect();
            let ends = cluster.list_offsets(&without, OffsetSpec::Latest)?;
            partitions
                .iter()
                .map(|tp| match current.get(tp) {
                    Some(c) => Ok((tp.clone(), c.offset)),
                    None => ends.get(tp).map(|&end| (tp.clone(), end)).ok_or_else(|| {
                        anyhow!("Error getting ending offset of topic partition: {}", tp_name(tp))
                    }),
                })
                .collect()
        }
    }
}

fn reset(
    cluster: &mut GroupCluster,
    args: &ConsumerGroupsArgs,
    scenario: Scenario,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let groups = selected_groups(cluster, args)?;
    let mut plans: BTreeMap<String, BTreeMap<TopicPartition, i64>> = BTreeMap::new();
    let mut refused = false;
    for group in groups {
        let state = describe_one(cluster, &group)?.state;
        if state != "Empty" && state != "Dead" {
            print_error(
                out,
                &format!(
                    "Assignments can only be reset if the group '{group}' is inactive, but the current state is {state}."
                ),
            )?;
            refused = true;
            plans.insert(group, BTreeMap::new());
            continue;
        }
        let offsets = prepare_offsets(cluster, args, &group, scenario, out)?;
        if args.execute {
            let answers =
                cluster.alter_offsets(&group, &offsets)?.map_err(|e| anyhow!(kafka_message(&e)))?;
            if let Some((_, Err(e))) = answers.iter().find(|(_, a)| a.is_err()) {
                bail!(kafka_message(e));
            }
        }
        plans.insert(group, offsets);
    }
    if args.export {
        let with_group = args.group.len() != 1;
        let mut csv = String::new();
        for (group, offsets) in &plans {
            for ((topic, partition), offset) in offsets {
                if with_group {
                    csv.push_str(&format!("{group},"));
                }
                csv.push_str(&format!("{topic},{partition},{offset}\n"));
            }
        }
        writeln!(out, "{csv}")?;
    } else {
        print_offsets_to_reset(out, &plans)?;
    }
    if refused {
        return Err(Reported.into());
    }
    Ok(())
}

/// `printOffsetsToReset`: GROUP TOPIC PARTITION NEW-OFFSET, the header only when some group was
/// considered (even if it was refused).
fn print_offsets_to_reset(
    out: &mut dyn Write,
    plans: &BTreeMap<String, BTreeMap<TopicPartition, i64>>,
) -> anyhow::Result<()> {
    let g = plans.keys().map(String::len).max().unwrap_or(0).max(15);
    let t = plans.values().flat_map(|p| p.keys()).map(|(t, _)| t.len()).max().unwrap_or(0).max(15);
    if !plans.is_empty() {
        write!(out, "\n{:<g$} {:<t$} {:<10} NEW-OFFSET", "GROUP", "TOPIC", "PARTITION")?;
    }
    for (group, offsets) in plans {
        for ((topic, partition), offset) in offsets {
            write!(out, "\n{group:<g$} {topic:<t$} {partition:<10} {offset}")?;
        }
    }
    writeln!(out)?;
    Ok(())
}

fn delete_offsets(
    cluster: &mut GroupCluster,
    args: &ConsumerGroupsArgs,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let group = &args.group[0];
    let mut partitions: BTreeSet<TopicPartition> = BTreeSet::new();
    let mut whole = Vec::new();
    for arg in &args.topic {
        match parse_topic_arg(arg)? {
            (topic, Some(ps)) => partitions.extend(ps.into_iter().map(|p| (topic.clone(), p))),
            (topic, None) => whole.push(topic),
        }
    }
    // A topic that does not describe is reported as one row with partition "-".
    let mut failed_topics: Vec<(String, BrokerError)> = Vec::new();
    if !whole.is_empty() {
        for (topic, answer) in cluster.partitions(&whole)? {
            match answer {
                Ok(ps) => partitions.extend(ps.into_iter().map(|p| (topic.clone(), p.partition))),
                Err(e) => failed_topics.push((topic, e)),
            }
        }
    }
    let partitions: Vec<TopicPartition> = partitions.into_iter().collect();
    let result = cluster.delete_offsets(group, &partitions)?;
    // The first error, group-level or of a partition, decides the headline as the admin
    // client's `all()` does.
    let first = result
        .error
        .clone()
        .err()
        .or_else(|| result.partitions.iter().find_map(|(_, a)| a.clone().err()));
    let code = first.as_ref().map(|e| ResponseError::try_from_code(e.code));
    match code {
        None => writeln!(out, "Request succeeded for deleting offsets from group {group}.")?,
        Some(Some(
            ResponseError::InvalidGroupId
            | ResponseError::GroupIdNotFound
            | ResponseError::GroupAuthorizationFailed
            | ResponseError::NonEmptyGroup,
        )) => print_error(out, &first.as_ref().map(kafka_message).unwrap_or_default())?,
        Some(Some(
            ResponseError::GroupSubscribedToTopic
            | ResponseError::TopicAuthorizationFailed
            | ResponseError::UnknownTopicOrPartition,
        )) => {
            print_error(out, "Encountered some partition-level error, see the follow-up details.")?
        }
        Some(_) => {
            let name = first.as_ref().map(|e| match ResponseError::try_from_code(e.code) {
                Some(error) => format!("{error:?}"),
                None => format!("error code {}", e.code),
            });
            print_error(
                out,
                &format!("Encountered some unknown error: {}", name.unwrap_or_default()),
            )?
        }
    }
    let mut rows: Vec<(String, String, String)> = result
        .partitions
        .iter()
        .map(|((topic, partition), answer)| {
            let status = match answer {
                Ok(()) => "Successful".to_owned(),
                Err(e) => format!("Error: {}", java_exception(e)),
            };
            (topic.clone(), partition.to_string(), status)
        })
        .collect();
    rows.extend(failed_topics.iter().map(|(topic, e)| {
        (topic.clone(), MISSING.to_owned(), format!("Error: {}", java_exception(e)))
    }));
    // Kafka sorts by topic and partition concatenated as text.
    rows.sort_by(|a, b| format!("{}{}", a.0, a.1).cmp(&format!("{}{}", b.0, b.1)));
    let t = rows.iter().map(|r| r.0.len()).max().unwrap_or(0).max(15);
    write!(out, "\n{:<t$} {:<10} {:<15}", "TOPIC", "PARTITION", "STATUS")?;
    for (topic, partition, status) in &rows {
        write!(out, "\n{topic:<t$} {partition:<10} {status:<15}")?;
    }
    writeln!(out)?;
    if first.is_some() || !failed_topics.is_empty() {
        return Err(Reported.into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_parse_as_kafkas_get_date_time() {
        assert_eq!(parse_datetime("1970-01-01T00:00:00.000").unwrap(), 0);
        assert_eq!(parse_datetime("2026-12-02T12:30:00.250Z").unwrap(), 1_796_214_600_250);
        assert_eq!(parse_datetime("2026-12-02T14:30:00.250+02:00").unwrap(), 1_796_214_600_250);
        assert_eq!(parse_datetime("2026-12-02T10:30:00.250-0200").unwrap(), 1_796_214_600_250);
        assert_eq!(parse_datetime("2024-02-29T00:00:00.000+01").unwrap(), 1_709_161_200_000);
        for bad in ["2026-12-02T12:30:00", "2026-02-30T00:00:00.000", "2026-12-02 12:30:00.000"] {
            assert!(parse_datetime(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_parse_as_javas_duration() {
        assert_eq!(parse_duration_ms("PT15M").unwrap(), 900_000);
        assert_eq!(parse_duration_ms("P1DT2H3M4.5S").unwrap(), 93_784_500);
        assert_eq!(parse_duration_ms("pt1h").unwrap(), 3_600_000);
        assert_eq!(parse_duration_ms("-PT1S").unwrap(), -1000);
        for bad in ["P", "PT", "15M", "P1H", "PT1.5M"] {
            assert_eq!(
                parse_duration_ms(bad).unwrap_err().to_string(),
                "Text cannot be parsed to a Duration",
                "{bad}"
            );
        }
    }

    #[test]
    fn topic_args_and_states_parse_as_kafka_does() {
        assert_eq!(parse_topic_arg("orders").unwrap(), ("orders".into(), None));
        assert_eq!(parse_topic_arg("orders:0,2").unwrap(), ("orders".into(), Some(vec![0, 2])));
        assert_eq!(
            parse_topic_arg("orders:").unwrap_err().to_string(),
            "Invalid topic arg 'orders:', expected topic name and partitions"
        );
        assert_eq!(
            parse_topic_arg("orders:x").unwrap_err().to_string(),
            "Invalid partition 'x' specified in topic arg 'orders:x''"
        );
        assert_eq!(parse_states("stable, EMPTY").unwrap(), ["Stable", "Empty"]);
        assert!(parse_states("idle").unwrap_err().to_string().starts_with(
            "Invalid state list 'idle'. Valid states are: PreparingRebalance, CompletingRebalance"
        ));
    }

    #[test]
    fn reset_plans_read_what_export_writes() {
        let one = parse_reset_plan("orders,0,5\norders,1,7\n", &["g".into()]).unwrap();
        assert_eq!(one["g"], [(("orders".to_owned(), 0), 5), (("orders".to_owned(), 1), 7)].into());
        let many = parse_reset_plan("g,orders,0,5\nh,orders,1,7\n", &[]).unwrap();
        assert_eq!(many.keys().collect::<Vec<_>>(), ["g", "h"]);
        assert_eq!(many["h"], [(("orders".to_owned(), 1), 7)].into());
        assert!(parse_reset_plan("g,orders,x,5\n", &[]).is_err());
    }

    #[test]
    fn assignments_print_as_kafkas_assignment_string() {
        let a = [("orders".to_owned(), 2), ("logs".to_owned(), 0), ("orders".to_owned(), 0)];
        assert_eq!(assignment_string(&a), "logs:0;orders:0,2");
    }

    #[test]
    fn broker_errors_print_as_java_exceptions() {
        let e = BrokerError { code: ResponseError::NonEmptyGroup.code(), message: String::new() };
        assert_eq!(
            java_exception(&e),
            "org.apache.kafka.common.errors.GroupNotEmptyException: The group is not empty."
        );
        let e = BrokerError { code: ResponseError::GroupIdNotFound.code(), message: String::new() };
        assert_eq!(
            java_exception(&e),
            "org.apache.kafka.common.errors.GroupIdNotFoundException: The group id does not exist."
        );
    }
}
