//! `kafka-lab configs`: `kafka-configs.sh` for client quotas and SCRAM credentials of users
//! and clients, and for the configs of topics and brokers (DescribeConfigs,
//! IncrementalAlterConfigs), with its options, its validation messages and its output lines.

use std::io::Write;

use anyhow::{anyhow, bail};

use super::ConnectArgs;
use crate::client::AdminClient;
use crate::configs::{
    config_source_name, ConfigOp, ConfigResourceType, EntityMatch, QuotaEntity, ScramMechanism,
    ScramUpsertion, DYNAMIC_BROKER_CONFIG, DYNAMIC_DEFAULT_BROKER_CONFIG, DYNAMIC_TOPIC_CONFIG,
};

/// Arguments, named as `kafka-configs.sh` names them.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "Examples:\n  \
  kafka-lab configs --bootstrap-server localhost:9092 --alter --add-config 'SCRAM-SHA-256=[iterations=8192,password=alice-secret]' --entity-type users --entity-name alice\n  \
  kafka-lab configs --bootstrap-server localhost:9092 --alter --add-config 'producer_byte_rate=1048576' --entity-type users --entity-name alice\n  \
  kafka-lab configs --bootstrap-server localhost:9092 --alter --add-config 'consumer_byte_rate=2097152' --entity-type users --entity-default\n  \
  kafka-lab configs --bootstrap-server localhost:9092 --describe --entity-type users\n  \
  kafka-lab configs --bootstrap-server localhost:9092 --alter --delete-config 'producer_byte_rate,SCRAM-SHA-256' --entity-type users --entity-name alice\n  \
  kafka-lab configs --bootstrap-server localhost:9092 --alter --add-config 'retention.ms=60000,segment.bytes=1048576' --entity-type topics --entity-name orders\n  \
  kafka-lab configs --bootstrap-server localhost:9092 --describe --entity-type topics --entity-name orders\n  \
  kafka-lab configs --bootstrap-server localhost:9092 --alter --delete-config retention.ms --entity-type topics --entity-name orders\n  \
  kafka-lab configs --bootstrap-server localhost:9092 --describe --all --entity-type brokers --entity-name 1\n\n\
Topics and brokers: --describe shows the dynamic configs (set with --alter) with their synonyms;\n\
--all shows every config of a broker or topic. This broker reads its own configs from its YAML\n\
file, so --alter of brokers is refused by it (Apache Kafka accepts it).")]
pub struct ConfigsArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Change configs (with --add-config and/or --delete-config).
    #[arg(long, conflicts_with = "describe")]
    pub alter: bool,
    /// Show configs.
    #[arg(long)]
    pub describe: bool,
    /// `k1=v1,k2=[a,b]`. Users and clients: producer_byte_rate, consumer_byte_rate,
    /// request_percentage, SCRAM-SHA-256=[iterations=N,password=P], SCRAM-SHA-512=[...].
    /// Topics and brokers: any of their configs (`retention.ms=60000`); a list value goes in
    /// brackets (`leader.replication.throttled.replicas=[0:1,1:1]`).
    #[arg(long)]
    pub add_config: Option<String>,
    /// Comma-separated keys to remove (quota keys, SCRAM-SHA-256, SCRAM-SHA-512, topic or
    /// broker config names); a removed topic config falls back to the broker's default.
    #[arg(long)]
    pub delete_config: Option<String>,
    /// `users`, `clients`, `topics` or `brokers`; give users and clients together (users first)
    /// for a user + client-id entity.
    #[arg(long, required = true)]
    pub entity_type: Vec<String>,
    /// The entity's name, one per --entity-type in order.
    #[arg(long)]
    pub entity_name: Vec<String>,
    /// The `<default>` entity for the entity types without an --entity-name (for brokers: the
    /// cluster-wide dynamic defaults).
    #[arg(long)]
    pub entity_default: bool,
    /// With --describe of topics or brokers: every config, not only the dynamic ones.
    #[arg(long)]
    pub all: bool,
}

/// Runs the command, writing what `kafka-configs.sh` prints to `out`.
pub fn run(args: &ConfigsArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    if args.alter == args.describe {
        bail!("Command must include exactly one action: --describe, --alter");
    }
    if let Some(resource) = resource_target(args)? {
        let mut client = args.connect.connect()?;
        return if args.alter {
            alter_resource(&mut client, args, &resource, out)
        } else {
            describe_resource(&mut client, args, &resource, out)
        };
    }
    if args.all {
        bail!("--all is for --describe of topics and brokers");
    }
    let entity = entity(args)?;
    let mut client = args.connect.connect()?;
    if args.alter {
        alter(&mut client, args, &entity, out)
    } else {
        describe(&mut client, &entity, out)
    }
}

/// A topic or broker the command is about; `name` `None` means every one (--describe without
/// --entity-name), the empty name the brokers' cluster-wide default (--entity-default).
#[derive(Debug)]
struct ResourceTarget {
    resource_type: ConfigResourceType,
    name: Option<String>,
}

/// The topic or broker named by the options, checked as kafka-configs.sh checks them; `None`
/// when the entity types are users and clients.
fn resource_target(args: &ConfigsArgs) -> anyhow::Result<Option<ResourceTarget>> {
    let resource_type = match args.entity_type.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["topics"] => ConfigResourceType::Topic,
        ["brokers"] => ConfigResourceType::Broker,
        ref types if types.iter().any(|t| *t == "topics" || *t == "brokers") => {
            bail!("Only 'users' and 'clients' entity types may be specified together")
        }
        _ => return Ok(None),
    };
    if args.entity_name.len() > 1 {
        bail!("Exactly one entity name must be specified for every entity type");
    }
    let name = args.entity_name.first().cloned();
    if name.is_some() && args.entity_default {
        bail!("Exactly one entity name must be specified for every entity type");
    }
    if let (ConfigResourceType::Broker, Some(id)) = (resource_type, &name) {
        if id.parse::<i32>().is_err() {
            bail!("The entity name for brokers must be a valid integer broker id, but it is: {id}");
        }
    }
    if resource_type == ConfigResourceType::Topic && args.entity_default {
        if args.describe {
            bail!("--entity-default must not be specified with --describe of topics");
        }
        bail!("An entity name must be specified with --alter of topics");
    }
    if args.alter {
        if name.is_none() && !args.entity_default {
            if resource_type == ConfigResourceType::Topic {
                bail!("An entity name must be specified with --alter of topics");
            }
            bail!("An entity-name or default entity must be specified with --alter of users, clients, brokers or ips");
        }
        if args.add_config.is_none() && args.delete_config.is_none() {
            bail!("At least one of --add-config, --add-config-file, or --delete-config must be specified with --alter");
        }
        if args.all {
            bail!("--all is for --describe");
        }
    }
    if let Some(topic) = name.as_deref().filter(|_| resource_type == ConfigResourceType::Topic) {
        validate_topic_name(topic)?;
    }
    let name = if args.entity_default { Some(String::new()) } else { name };
    Ok(Some(ResourceTarget { resource_type, name }))
}

/// Kafka's `Topic.validate`: what a topic name may be, with its messages.
fn validate_topic_name(topic: &str) -> anyhow::Result<()> {
    if topic.is_empty() {
        bail!("Topic name is illegal, it can't be empty");
    }
    if topic == "." || topic == ".." {
        bail!("Topic name cannot be \".\" or \"..\"");
    }
    if topic.len() > 249 {
        bail!("Topic name is illegal, it can't be longer than 249 characters, topic name: {topic}");
    }
    if !topic.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')) {
        bail!("Topic name \"{topic}\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'");
    }
    Ok(())
}

fn describe_resource(
    client: &mut AdminClient,
    args: &ConfigsArgs,
    target: &ResourceTarget,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let (plural, singular) = match target.resource_type {
        ConfigResourceType::Topic => ("topics", "topic"),
        ConfigResourceType::Broker => ("brokers", "broker"),
    };
    // Without --entity-name: every topic (internal ones included), or every broker and then the
    // cluster-wide default, as kafka-configs.sh lists them.
    let names = match &target.name {
        Some(name) => vec![name.clone()],
        None => {
            let metadata = client.cluster_metadata()?;
            match target.resource_type {
                ConfigResourceType::Topic => metadata.topics.into_iter().map(|t| t.name).collect(),
                ConfigResourceType::Broker => metadata
                    .brokers
                    .iter()
                    .map(|id| id.to_string())
                    .chain([String::new()])
                    .collect(),
            }
        }
    };
    for name in names {
        let dynamic_source = match (target.resource_type, name.is_empty()) {
            (ConfigResourceType::Topic, _) => DYNAMIC_TOPIC_CONFIG,
            (ConfigResourceType::Broker, true) => DYNAMIC_DEFAULT_BROKER_CONFIG,
            (ConfigResourceType::Broker, false) => DYNAMIC_BROKER_CONFIG,
        };
        if name.is_empty() {
            writeln!(out, "Default configs for {plural} in the cluster are:")?;
        } else {
            let which = if args.all { "All" } else { "Dynamic" };
            writeln!(out, "{which} configs for {singular} {name} are:")?;
        }
        let configs = client
            .describe_resource_configs(target.resource_type, &name)?
            .map_err(|e| anyhow!("describing the configs of {singular} {name}: {e}"))?;
        for config in configs.iter().filter(|c| args.all || c.source == dynamic_source) {
            let synonyms: Vec<String> = config
                .synonyms
                .iter()
                .map(|(source, name, value)| {
                    format!(
                        "{}:{name}={}",
                        config_source_name(*source),
                        value.as_deref().unwrap_or("null")
                    )
                })
                .collect();
            writeln!(
                out,
                "  {}={} sensitive={} synonyms={{{}}}",
                config.name,
                config.value.as_deref().unwrap_or("null"),
                config.is_sensitive,
                synonyms.join(", ")
            )?;
        }
    }
    Ok(())
}

/// `k=v,k2=[a,b]` as kafka-configs.sh reads --add-config for topics and brokers: brackets are
/// only grouping, so `[a,b]` is the value `a,b`.
fn parse_resource_configs(text: &str) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for config in split_configs(text) {
        let Some((key, value)) = config.split_once('=') else {
            bail!(
                "Invalid entity config: all configs to be added must be in the format \"key=val\"."
            );
        };
        let key = key.trim();
        if !key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')) {
            bail!("Invalid character found for config key: {key}");
        }
        out.push((key.to_owned(), value.replace(['[', ']'], "").trim().to_owned()));
    }
    Ok(out)
}

fn alter_resource(
    client: &mut AdminClient,
    args: &ConfigsArgs,
    target: &ResourceTarget,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let name = target.name.clone().unwrap_or_default();
    let (plural, singular, dynamic_source) = match (target.resource_type, name.is_empty()) {
        (ConfigResourceType::Topic, _) => ("topics", "topic", DYNAMIC_TOPIC_CONFIG),
        (ConfigResourceType::Broker, true) => ("brokers", "broker", DYNAMIC_DEFAULT_BROKER_CONFIG),
        (ConfigResourceType::Broker, false) => ("brokers", "broker", DYNAMIC_BROKER_CONFIG),
    };
    let added = parse_resource_configs(args.add_config.as_deref().unwrap_or(""))?;
    let deleted: Vec<String> = args
        .delete_config
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(|k| k.trim().to_owned())
        .filter(|k| !k.is_empty())
        .collect();
    // As kafka-configs.sh: deleting a config that has no dynamic value is a mistake, named
    // before anything changes.
    let what = if name.is_empty() {
        "the default broker".to_owned()
    } else {
        format!("{singular} {name}")
    };
    if !deleted.is_empty() {
        let current = client
            .describe_resource_configs(target.resource_type, &name)?
            .map_err(|e| anyhow!("describing the configs of {what}: {e}"))?;
        let invalid: Vec<&str> = deleted
            .iter()
            .filter(|k| !current.iter().any(|c| &c.name == *k && c.source == dynamic_source))
            .map(String::as_str)
            .collect();
        if !invalid.is_empty() {
            bail!("Invalid config(s): {}", invalid.join(","));
        }
    }
    let ops: Vec<ConfigOp> = added
        .into_iter()
        .map(|(k, v)| ConfigOp::Set(k, v))
        .chain(deleted.into_iter().map(ConfigOp::Delete))
        .collect();
    client
        .incremental_alter_configs(target.resource_type, &name, &ops)?
        .map_err(|e| anyhow!("the broker refused the config change for {what}: {e}"))?;
    if name.is_empty() {
        writeln!(out, "Completed updating default config for {plural} in the cluster.")?;
    } else {
        writeln!(out, "Completed updating config for {singular} {name}.")?;
    }
    Ok(())
}

/// `(wire entity type, match)` per --entity-type, `user` first.
fn entity(args: &ConfigsArgs) -> anyhow::Result<Vec<(&'static str, EntityMatch)>> {
    let mut names = args.entity_name.iter();
    let mut out = Vec::new();
    for entity_type in &args.entity_type {
        let wire = match entity_type.as_str() {
            "users" => "user",
            "clients" => "client-id",
            other => bail!(
                "Invalid entity type {other}, the entity type must be one of users, clients, topics, brokers with a --bootstrap-server argument"
            ),
        };
        if out.iter().any(|(t, _)| *t == wire) {
            bail!("--entity-type {entity_type} given twice");
        }
        let matching = match names.next() {
            Some(name) => EntityMatch::Exact(name.clone()),
            None if args.entity_default => EntityMatch::Default,
            None => EntityMatch::Any,
        };
        out.push((wire, matching));
    }
    if names.next().is_some() {
        bail!("more --entity-name than --entity-type");
    }
    out.sort_by_key(|(t, _)| *t != "user");
    Ok(out)
}

/// `user-principal 'alice', client-id 'app'`, as kafka-configs.sh names entities.
fn entity_text(entity: &QuotaEntity) -> String {
    entity
        .iter()
        .map(|(t, name)| {
            let kind = if t == "user" { "user-principal" } else { t.as_str() };
            match name {
                Some(name) => format!("{kind} '{name}'"),
                None => format!("the default {kind}"),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn describe(
    client: &mut AdminClient,
    entity: &[(&'static str, EntityMatch)],
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let quotas = client
        .describe_client_quotas(entity, true)?
        .map_err(|e| anyhow!("DescribeClientQuotas failed: {e}"))?;
    for (entity, values) in quotas {
        let values: Vec<String> = values.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
        writeln!(out, "Quota configs for {} are {}", entity_text(&entity), values.join(","))?;
    }
    // SCRAM credentials belong to users alone.
    let users = match entity {
        [("user", EntityMatch::Exact(name))] => Some(vec![name.clone()]),
        [("user", EntityMatch::Any)] => None,
        _ => return Ok(()),
    };
    let described = client
        .describe_user_scram_credentials(users.as_deref())?
        .map_err(|e| anyhow!("DescribeUserScramCredentials failed: {e}"))?;
    for (user, credentials) in described {
        let credentials = match credentials {
            Ok(credentials) => credentials,
            // RESOURCE_NOT_FOUND: the user simply has no SCRAM credential.
            Err(e) if e.code == 91 => continue,
            Err(e) => bail!("describing SCRAM credentials of {user}: {e}"),
        };
        let infos: Vec<String> = credentials
            .iter()
            .map(|(mechanism, iterations)| format!("{}=iterations={iterations}", mechanism.name()))
            .collect();
        writeln!(
            out,
            "SCRAM credential configs for user-principal '{user}' are {}",
            infos.join(",")
        )?;
    }
    Ok(())
}

/// Splits `a=1,b=[x=1,y=2]` at the commas outside brackets.
fn split_configs(text: &str) -> Vec<String> {
    let (mut out, mut current, mut depth) = (Vec::new(), String::new(), 0);
    for c in text.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    out.push(current);
    out.into_iter().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect()
}

fn alter(
    client: &mut AdminClient,
    args: &ConfigsArgs,
    entity: &[(&'static str, EntityMatch)],
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let mut quota_entity: QuotaEntity = Vec::new();
    for (t, matching) in entity {
        let name = match matching {
            EntityMatch::Exact(name) => Some(name.clone()),
            EntityMatch::Default => None,
            EntityMatch::Any => {
                bail!("--alter needs --entity-name or --entity-default for every --entity-type")
            }
        };
        quota_entity.push((t.to_string(), name));
    }
    let scram_user = match quota_entity.as_slice() {
        [(t, Some(user))] if t == "user" => Some(user.clone()),
        _ => None,
    };
    let scram_user = |key: &str| {
        scram_user.clone().ok_or_else(|| {
            anyhow!("{key} belongs to one named user (--entity-type users --entity-name NAME)")
        })
    };
    let mut ops = Vec::new();
    let mut upsertions = Vec::new();
    let mut deletions = Vec::new();
    for config in split_configs(args.add_config.as_deref().unwrap_or("")) {
        let (key, value) = config
            .split_once('=')
            .ok_or_else(|| anyhow!("--add-config `{config}`: expected key=value"))?;
        if let Some(mechanism) = ScramMechanism::parse(key) {
            upsertions.push(scram_upsertion(scram_user(key)?, mechanism, value)?);
        } else {
            let value: f64 = value
                .parse()
                .map_err(|_| anyhow!("--add-config {key}: `{value}` is not a number"))?;
            ops.push((key.to_owned(), Some(value)));
        }
    }
    for key in split_configs(args.delete_config.as_deref().unwrap_or("")) {
        match ScramMechanism::parse(&key) {
            Some(mechanism) => deletions.push((scram_user(&key)?, mechanism)),
            None => ops.push((key, None)),
        }
    }
    if ops.is_empty() && upsertions.is_empty() && deletions.is_empty() {
        bail!("--alter needs --add-config or --delete-config");
    }
    if !ops.is_empty() {
        client.alter_client_quotas(&quota_entity, &ops, false)?.map_err(|e| {
            anyhow!("the broker refused the quota change for {}: {e}", entity_text(&quota_entity))
        })?;
    }
    if !upsertions.is_empty() || !deletions.is_empty() {
        for (user, result) in client.alter_user_scram_credentials(&upsertions, &deletions)? {
            result.map_err(|e| {
                anyhow!("the broker refused the SCRAM credential change for {user}: {e}")
            })?;
        }
    }
    writeln!(out, "Completed updating config for {}.", entity_text(&quota_entity))?;
    Ok(())
}

/// `[iterations=8192,password=secret]` (iterations default to 4096, as kafka-configs.sh's).
fn scram_upsertion(
    user: String,
    mechanism: ScramMechanism,
    value: &str,
) -> anyhow::Result<ScramUpsertion> {
    let key = mechanism.name();
    let body = value
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .ok_or_else(|| anyhow!("{key}: expected [iterations=N,password=P]"))?;
    let (mut iterations, mut password) = (4096, None);
    for field in body.split(',') {
        match field.split_once('=') {
            Some(("iterations", n)) => {
                iterations =
                    n.trim().parse().map_err(|_| anyhow!("{key}: iterations is not a number"))?
            }
            Some(("password", p)) => password = Some(p.to_owned()),
            _ => bail!("{key}: fields are iterations and password"),
        }
    }
    let password = password.ok_or_else(|| anyhow!("{key}: password is required"))?;
    Ok(ScramUpsertion { user, mechanism, iterations, password })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_split_outside_brackets() {
        assert_eq!(
            split_configs("producer_byte_rate=1024, SCRAM-SHA-256=[iterations=8192,password=a,b]"),
            ["producer_byte_rate=1024", "SCRAM-SHA-256=[iterations=8192,password=a,b]"]
        );
    }
}
