//! `kafka-lab configs`: `kafka-configs.sh` for client quotas and SCRAM credentials of users
//! and clients, with its options and its output lines.

use std::io::Write;

use anyhow::{anyhow, bail};

use super::ConnectArgs;
use crate::client::AdminClient;
use crate::configs::{EntityMatch, QuotaEntity, ScramMechanism, ScramUpsertion};

/// Arguments, named as `kafka-configs.sh` names them.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "Examples:\n  \
  kafka-lab configs --bootstrap-server localhost:9092 --alter --add-config 'SCRAM-SHA-256=[iterations=8192,password=alice-secret]' --entity-type users --entity-name alice\n  \
  kafka-lab configs --bootstrap-server localhost:9092 --alter --add-config 'producer_byte_rate=1048576' --entity-type users --entity-name alice\n  \
  kafka-lab configs --bootstrap-server localhost:9092 --alter --add-config 'consumer_byte_rate=2097152' --entity-type users --entity-default\n  \
  kafka-lab configs --bootstrap-server localhost:9092 --describe --entity-type users\n  \
  kafka-lab configs --bootstrap-server localhost:9092 --alter --delete-config 'producer_byte_rate,SCRAM-SHA-256' --entity-type users --entity-name alice")]
pub struct ConfigsArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Change configs (with --add-config and/or --delete-config).
    #[arg(long, conflicts_with = "describe")]
    pub alter: bool,
    /// Show configs.
    #[arg(long)]
    pub describe: bool,
    /// `k1=v1,k2=[a=1,b=2]`: producer_byte_rate, consumer_byte_rate, request_percentage,
    /// SCRAM-SHA-256=[iterations=N,password=P], SCRAM-SHA-512=[...].
    #[arg(long)]
    pub add_config: Option<String>,
    /// Comma-separated keys to remove (quota keys, SCRAM-SHA-256, SCRAM-SHA-512).
    #[arg(long)]
    pub delete_config: Option<String>,
    /// `users` or `clients`; give both (users first) for a user + client-id entity.
    #[arg(long, required = true)]
    pub entity_type: Vec<String>,
    /// The entity's name, one per --entity-type in order.
    #[arg(long)]
    pub entity_name: Vec<String>,
    /// The `<default>` entity for the entity types without an --entity-name.
    #[arg(long)]
    pub entity_default: bool,
}

/// Runs the command, writing what `kafka-configs.sh` prints to `out`.
pub fn run(args: &ConfigsArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let entity = entity(args)?;
    if !args.alter && !args.describe {
        bail!("give --alter or --describe");
    }
    let mut client = args.connect.connect()?;
    if args.alter {
        alter(&mut client, args, &entity, out)
    } else {
        describe(&mut client, &entity, out)
    }
}

/// `(wire entity type, match)` per --entity-type, `user` first.
fn entity(args: &ConfigsArgs) -> anyhow::Result<Vec<(&'static str, EntityMatch)>> {
    let mut names = args.entity_name.iter();
    let mut out = Vec::new();
    for entity_type in &args.entity_type {
        let wire = match entity_type.as_str() {
            "users" => "user",
            "clients" => "client-id",
            other => bail!("--entity-type {other}: this tool handles users and clients"),
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
