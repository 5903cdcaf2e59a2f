//! `kafka-lab configs`: `kafka-configs.sh` for client quotas and SCRAM credentials, over
//! DescribeClientQuotas / AlterClientQuotas and DescribeUserScramCredentials /
//! AlterUserScramCredentials. The password of a SCRAM credential is salted and hashed here,
//! as Kafka's tool does; only the salted password crosses the wire.

use std::path::PathBuf;

use anyhow::{anyhow, bail};
use bytes::Bytes;
use kafka_protocol::messages::{
    alter_client_quotas_request, alter_user_scram_credentials_request,
    describe_client_quotas_request, describe_user_scram_credentials_request,
    AlterClientQuotasRequest, AlterUserScramCredentialsRequest, DescribeClientQuotasRequest,
    DescribeUserScramCredentialsRequest,
};
use kafka_protocol::protocol::StrBytes;

use crate::connection::Connection;
use crate::properties::ClientProperties;

/// Arguments, named as `kafka-configs.sh` names them.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "Examples:\n  \
  kafka-lab configs --bootstrap-server localhost:9092 --alter --add-config 'SCRAM-SHA-256=[iterations=8192,password=alice-secret]' --entity-type users --entity-name alice\n  \
  kafka-lab configs --bootstrap-server localhost:9092 --alter --add-config 'producer_byte_rate=1048576' --entity-type users --entity-name alice\n  \
  kafka-lab configs --bootstrap-server localhost:9092 --alter --add-config 'consumer_byte_rate=2097152' --entity-type users --entity-default\n  \
  kafka-lab configs --bootstrap-server localhost:9092 --describe --entity-type users\n  \
  kafka-lab configs --bootstrap-server localhost:9092 --alter --delete-config 'producer_byte_rate,SCRAM-SHA-256' --entity-type users --entity-name alice")]
pub struct ConfigsArgs {
    /// The broker(s) to connect to, `host:port[,host:port]`.
    #[arg(long)]
    pub bootstrap_server: String,
    /// Client properties file: security.protocol, ssl.ca.location / ssl.truststore.location
    /// (PEM), sasl.mechanism, sasl.jaas.config or sasl.username + sasl.password.
    #[arg(long)]
    pub command_config: Option<PathBuf>,
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

/// One component of the entity: `user` or `client-id`, named, default, or (describe) any.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Name {
    Named(String),
    Default,
    Any,
}

/// Runs the command; returns what to print.
pub fn run(args: &ConfigsArgs) -> anyhow::Result<String> {
    let properties = match &args.command_config {
        Some(path) => ClientProperties::load(path)?,
        None => ClientProperties::default(),
    };
    let entity = entity(args)?;
    let mut connection = Connection::connect(&args.bootstrap_server, &properties)?;
    if args.alter {
        alter(&mut connection, args, &entity)
    } else if args.describe {
        describe(&mut connection, &entity)
    } else {
        bail!("give --alter or --describe")
    }
}

fn entity(args: &ConfigsArgs) -> anyhow::Result<Vec<(&'static str, Name)>> {
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
        let name = match names.next() {
            Some(name) => Name::Named(name.clone()),
            None if args.entity_default => Name::Default,
            None => Name::Any,
        };
        out.push((wire, name));
    }
    if names.next().is_some() {
        bail!("more --entity-name than --entity-type");
    }
    out.sort_by_key(|(t, _)| *t != "user");
    Ok(out)
}

fn describe_entity(entity: &[(String, Option<String>)]) -> String {
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
    connection: &mut Connection,
    entity: &[(&'static str, Name)],
) -> anyhow::Result<String> {
    let components = entity
        .iter()
        .map(|(t, name)| {
            let c = describe_client_quotas_request::ComponentData::default()
                .with_entity_type(StrBytes::from_static_str(t));
            match name {
                Name::Named(n) => {
                    c.with_match_type(0).with_match(Some(StrBytes::from_string(n.clone())))
                }
                Name::Default => c.with_match_type(1),
                Name::Any => c.with_match_type(2),
            }
        })
        .collect();
    let response = connection.send(
        DescribeClientQuotasRequest::default().with_components(components).with_strict(true),
    )?;
    if response.error_code != 0 {
        bail!(
            "DescribeClientQuotas failed (error {}): {}",
            response.error_code,
            response.error_message.as_deref().unwrap_or("")
        );
    }
    let mut out = String::new();
    for entry in response.entries.unwrap_or_default() {
        let entity: Vec<(String, Option<String>)> = entry
            .entity
            .iter()
            .map(|e| (e.entity_type.to_string(), e.entity_name.as_ref().map(|n| n.to_string())))
            .collect();
        let values: Vec<String> =
            entry.values.iter().map(|v| format!("{}={:?}", v.key.as_str(), v.value)).collect();
        out.push_str(&format!(
            "Quota configs for {} are {}\n",
            describe_entity(&entity),
            values.join(",")
        ));
    }
    // SCRAM credentials belong to users alone.
    if let [("user", name)] = entity {
        let users = match name {
            Name::Named(n) => {
                Some(vec![describe_user_scram_credentials_request::UserName::default()
                    .with_name(StrBytes::from_string(n.clone()))])
            }
            Name::Any => None,
            Name::Default => return Ok(out),
        };
        let response =
            connection.send(DescribeUserScramCredentialsRequest::default().with_users(users))?;
        if response.error_code != 0 {
            bail!(
                "DescribeUserScramCredentials failed (error {}): {}",
                response.error_code,
                response.error_message.as_deref().unwrap_or("")
            );
        }
        for result in response.results {
            // RESOURCE_NOT_FOUND: the user simply has no SCRAM credential.
            if result.error_code == 91 {
                continue;
            }
            if result.error_code != 0 {
                bail!(
                    "describing SCRAM credentials of {}: {}",
                    result.user.as_str(),
                    result.error_message.as_deref().unwrap_or("")
                );
            }
            let infos: Vec<String> = result
                .credential_infos
                .iter()
                .map(|c| format!("{}=iterations={}", mechanism_name(c.mechanism), c.iterations))
                .collect();
            out.push_str(&format!(
                "SCRAM credential configs for user-principal '{}' are {}\n",
                result.user.as_str(),
                infos.join(",")
            ));
        }
    }
    Ok(out)
}

fn mechanism_name(code: i8) -> &'static str {
    match code {
        1 => "SCRAM-SHA-256",
        2 => "SCRAM-SHA-512",
        _ => "UNKNOWN",
    }
}

fn mechanism_code(name: &str) -> Option<i8> {
    match name {
        "SCRAM-SHA-256" => Some(1),
        "SCRAM-SHA-512" => Some(2),
        _ => None,
    }
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
    connection: &mut Connection,
    args: &ConfigsArgs,
    entity: &[(&'static str, Name)],
) -> anyhow::Result<String> {
    if entity.iter().any(|(_, n)| *n == Name::Any) {
        bail!("--alter needs --entity-name or --entity-default for every --entity-type");
    }
    let scram_user = match entity {
        [("user", Name::Named(user))] => Some(user.clone()),
        _ => None,
    };
    let mut ops = Vec::new();
    let mut upsertions = Vec::new();
    let mut deletions = Vec::new();
    for config in split_configs(args.add_config.as_deref().unwrap_or("")) {
        let (key, value) = config
            .split_once('=')
            .ok_or_else(|| anyhow!("--add-config `{config}`: expected key=value"))?;
        if let Some(mechanism) = mechanism_code(key) {
            let user = scram_user.clone().ok_or_else(|| {
                anyhow!("{key} can only be set for one named user (--entity-type users --entity-name NAME)")
            })?;
            upsertions.push(scram_upsertion(&user, key, mechanism, value)?);
        } else {
            let value: f64 = value
                .parse()
                .map_err(|_| anyhow!("--add-config {key}: `{value}` is not a number"))?;
            ops.push(
                alter_client_quotas_request::OpData::default()
                    .with_key(StrBytes::from_string(key.to_owned()))
                    .with_value(value),
            );
        }
    }
    for key in split_configs(args.delete_config.as_deref().unwrap_or("")) {
        if let Some(mechanism) = mechanism_code(&key) {
            let user =
                scram_user.clone().ok_or_else(|| anyhow!("{key} belongs to one named user"))?;
            deletions.push(
                alter_user_scram_credentials_request::ScramCredentialDeletion::default()
                    .with_name(StrBytes::from_string(user))
                    .with_mechanism(mechanism),
            );
        } else {
            ops.push(
                alter_client_quotas_request::OpData::default()
                    .with_key(StrBytes::from_string(key))
                    .with_remove(true),
            );
        }
    }
    if ops.is_empty() && upsertions.is_empty() && deletions.is_empty() {
        bail!("--alter needs --add-config or --delete-config");
    }
    if !ops.is_empty() {
        let entity_data = entity
            .iter()
            .map(|(t, name)| {
                alter_client_quotas_request::EntityData::default()
                    .with_entity_type(StrBytes::from_static_str(t))
                    .with_entity_name(match name {
                        Name::Named(n) => Some(StrBytes::from_string(n.clone())),
                        _ => None,
                    })
            })
            .collect();
        let response = connection.send(AlterClientQuotasRequest::default().with_entries(vec![
                alter_client_quotas_request::EntryData::default()
                    .with_entity(entity_data)
                    .with_ops(ops),
            ]))?;
        for entry in response.entries {
            if entry.error_code != 0 {
                bail!(
                    "the broker refused the quota change (error {}): {}",
                    entry.error_code,
                    entry.error_message.as_deref().unwrap_or("")
                );
            }
        }
    }
    if !upsertions.is_empty() || !deletions.is_empty() {
        let response = connection.send(
            AlterUserScramCredentialsRequest::default()
                .with_upsertions(upsertions)
                .with_deletions(deletions),
        )?;
        for result in response.results {
            if result.error_code != 0 {
                bail!(
                    "the broker refused the SCRAM credential change for {} (error {}): {}",
                    result.user.as_str(),
                    result.error_code,
                    result.error_message.as_deref().unwrap_or("")
                );
            }
        }
    }
    let described: Vec<(String, Option<String>)> = entity
        .iter()
        .map(|(t, n)| {
            (
                t.to_string(),
                match n {
                    Name::Named(n) => Some(n.clone()),
                    _ => None,
                },
            )
        })
        .collect();
    Ok(format!("Completed updating config for {}.\n", describe_entity(&described)))
}

/// `[iterations=8192,password=secret]` → an upsertion carrying a fresh salt and the salted
/// password (PBKDF2, RFC 5802 `Hi`), never the password.
fn scram_upsertion(
    user: &str,
    key: &str,
    mechanism: i8,
    value: &str,
) -> anyhow::Result<alter_user_scram_credentials_request::ScramCredentialUpsertion> {
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
    let digest = if mechanism == 1 {
        openssl::hash::MessageDigest::sha256()
    } else {
        openssl::hash::MessageDigest::sha512()
    };
    let mut salt = [0u8; 32];
    openssl::rand::rand_bytes(&mut salt)?;
    let mut salted = vec![0u8; digest.size()];
    let rounds = usize::try_from(iterations).unwrap_or(1).max(1);
    openssl::pkcs5::pbkdf2_hmac(password.as_bytes(), &salt, rounds, digest, &mut salted)?;
    Ok(alter_user_scram_credentials_request::ScramCredentialUpsertion::default()
        .with_name(StrBytes::from_string(user.to_owned()))
        .with_mechanism(mechanism)
        .with_iterations(iterations)
        .with_salt(Bytes::copy_from_slice(&salt))
        .with_salted_password(Bytes::from(salted)))
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
