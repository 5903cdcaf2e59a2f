//! `kafka-lab acls`: manage ACLs the way Kafka's `kafka-acls.sh` does.

use std::collections::BTreeMap;
use std::io::Write;

use clap::ArgGroup;
use kafka_lab_broker::authorizer::{
    AclBinding, AclBindingFilter, AclOperation, AclPermissionType, PatternType, ResourceType,
    CLUSTER_NAME,
};

use super::ConnectArgs;
use crate::client::AdminClient;

/// Add, remove or list ACLs (the options of `kafka-acls.sh`).
#[derive(Debug, clap::Args)]
#[command(group(ArgGroup::new("action").required(true).args(["add", "remove", "list"])))]
pub struct AclsArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Add ACLs.
    #[arg(long)]
    pub add: bool,
    /// Remove ACLs.
    #[arg(long)]
    pub remove: bool,
    /// List ACLs (all of them, or those of the given resources).
    #[arg(long)]
    pub list: bool,
    /// A principal to allow, e.g. `User:alice` (repeatable).
    #[arg(long, value_name = "PRINCIPAL")]
    pub allow_principal: Vec<String>,
    /// A principal to deny (repeatable).
    #[arg(long, value_name = "PRINCIPAL")]
    pub deny_principal: Vec<String>,
    /// Hosts the allow principals are allowed from (default `*`).
    #[arg(long, value_name = "IP")]
    pub allow_host: Vec<String>,
    /// Hosts the deny principals are denied from (default `*`).
    #[arg(long, value_name = "IP")]
    pub deny_host: Vec<String>,
    /// Operations: Read, Write, Create, Delete, Alter, Describe, ClusterAction,
    /// DescribeConfigs, AlterConfigs, IdempotentWrite, All (default All; repeatable).
    #[arg(long, value_name = "OPERATION")]
    pub operation: Vec<String>,
    /// Topic resources; `*` is every topic (repeatable).
    #[arg(long, value_name = "TOPIC")]
    pub topic: Vec<String>,
    /// Consumer group resources (repeatable).
    #[arg(long, value_name = "GROUP")]
    pub group: Vec<String>,
    /// The Cluster resource.
    #[arg(long)]
    pub cluster: bool,
    /// Transactional id resources (repeatable).
    #[arg(long, value_name = "ID")]
    pub transactional_id: Vec<String>,
    /// literal or prefixed; for --list/--remove also any or match.
    #[arg(long, default_value = "literal", value_name = "TYPE")]
    pub resource_pattern_type: String,
    /// With --list: only ACLs of this principal (repeatable).
    #[arg(long, value_name = "PRINCIPAL")]
    pub principal: Vec<String>,
    /// Shortcut for producers: Write, Describe, Create on the topics (and Write, Describe on
    /// the transactional ids).
    #[arg(long)]
    pub producer: bool,
    /// With --producer: IdempotentWrite on the Cluster too.
    #[arg(long)]
    pub idempotent: bool,
    /// Shortcut for consumers: Read, Describe on the topics and Read on the groups.
    #[arg(long)]
    pub consumer: bool,
    /// Accepted for compatibility: this tool never asks for confirmation.
    #[arg(long)]
    pub force: bool,
}

/// Runs the command, writing what `kafka-acls.sh` prints to `out`.
pub fn run(args: &AclsArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let pattern = PatternType::parse(&args.resource_pattern_type).ok_or_else(|| {
        anyhow::anyhow!(
            "--resource-pattern-type `{}`: use literal, prefixed, any or match",
            args.resource_pattern_type
        )
    })?;
    let mut client = args.connect.connect()?;
    if args.add {
        add(args, pattern, &mut client, out)
    } else if args.remove {
        remove(args, pattern, &mut client, out)
    } else {
        list(args, pattern, &mut client, out)
    }
}

/// `(type, name)` of every resource option given.
fn resources(args: &AclsArgs) -> Vec<(ResourceType, String)> {
    let mut out: Vec<(ResourceType, String)> = Vec::new();
    out.extend(args.topic.iter().map(|t| (ResourceType::Topic, t.clone())));
    out.extend(args.group.iter().map(|g| (ResourceType::Group, g.clone())));
    out.extend(args.transactional_id.iter().map(|t| (ResourceType::TransactionalId, t.clone())));
    if args.cluster || (args.producer && args.idempotent) {
        out.push((ResourceType::Cluster, CLUSTER_NAME.into()));
    }
    out
}

/// The operations to grant or deny on one resource type.
fn operations(args: &AclsArgs, resource_type: ResourceType) -> anyhow::Result<Vec<AclOperation>> {
    use AclOperation::*;
    if args.producer || args.consumer {
        let mut ops = Vec::new();
        match resource_type {
            ResourceType::Topic if args.producer => ops.extend([Write, Describe, Create]),
            ResourceType::TransactionalId if args.producer => ops.extend([Write, Describe]),
            ResourceType::Cluster if args.producer && args.idempotent => ops.push(IdempotentWrite),
            _ => {}
        }
        match resource_type {
            ResourceType::Topic if args.consumer => ops.extend([Read, Describe]),
            ResourceType::Group if args.consumer => ops.push(Read),
            _ => {}
        }
        ops.dedup();
        return Ok(ops);
    }
    if args.operation.is_empty() {
        return Ok(vec![All]);
    }
    let mut ops = Vec::new();
    for name in &args.operation {
        let op = AclOperation::parse(name)
            .filter(|op| !matches!(op, Any))
            .ok_or_else(|| anyhow::anyhow!("--operation `{name}` is not a Kafka ACL operation"))?;
        anyhow::ensure!(
            op == All || resource_type.supported_operations().contains(&op),
            "ResourceType {} only supports operations {}",
            resource_type.camel_name(),
            resource_type
                .supported_operations()
                .iter()
                .map(|o| o.camel_name())
                .chain(["All"])
                .collect::<Vec<_>>()
                .join(", ")
        );
        ops.push(op);
    }
    Ok(ops)
}

/// `(principal, host, permission)` triples from the allow/deny options.
fn entries(args: &AclsArgs) -> Vec<(String, String, AclPermissionType)> {
    let hosts = |given: &[String]| {
        if given.is_empty() {
            vec!["*".to_owned()]
        } else {
            given.to_vec()
        }
    };
    let mut out = Vec::new();
    for (principals, host_args, permission) in [
        (&args.allow_principal, &args.allow_host, AclPermissionType::Allow),
        (&args.deny_principal, &args.deny_host, AclPermissionType::Deny),
    ] {
        for principal in principals {
            for host in hosts(host_args) {
                out.push((principal.clone(), host, permission));
            }
        }
    }
    out
}

fn bindings(args: &AclsArgs, pattern: PatternType) -> anyhow::Result<Vec<AclBinding>> {
    let mut acls = Vec::new();
    for (resource_type, name) in resources(args) {
        for operation in operations(args, resource_type)? {
            for (principal, host, permission) in entries(args) {
                let acl = AclBinding {
                    resource_type,
                    resource_name: name.clone(),
                    pattern_type: pattern,
                    principal,
                    host,
                    operation,
                    permission,
                };
                if !acls.contains(&acl) {
                    acls.push(acl);
                }
            }
        }
    }
    Ok(acls)
}

fn pattern_text(acl: &AclBinding) -> String {
    format!(
        "ResourcePattern(resourceType={}, name={}, patternType={})",
        acl.resource_type, acl.resource_name, acl.pattern_type
    )
}

fn entry_text(acl: &AclBinding) -> String {
    format!(
        "(principal={}, host={}, operation={}, permissionType={})",
        acl.principal, acl.host, acl.operation, acl.permission
    )
}

/// Prints ACLs grouped by resource pattern, as kafka-acls.sh does.
fn print_grouped(out: &mut dyn Write, heading: &str, acls: &[AclBinding]) -> anyhow::Result<()> {
    let mut by_pattern: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for acl in acls {
        by_pattern.entry(pattern_text(acl)).or_default().push(entry_text(acl));
    }
    for (pattern, entries) in by_pattern {
        writeln!(out, "{heading} `{pattern}`: ")?;
        for entry in entries {
            writeln!(out, " \t{entry} ")?;
        }
        writeln!(out)?;
    }
    Ok(())
}

fn exact_filter(resource_type: ResourceType, name: &str, pattern: PatternType) -> AclBindingFilter {
    AclBindingFilter {
        resource_type,
        resource_name: Some(name.to_owned()),
        pattern_type: pattern,
        ..AclBindingFilter::any()
    }
}

fn add(
    args: &AclsArgs,
    pattern: PatternType,
    client: &mut AdminClient,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        matches!(pattern, PatternType::Literal | PatternType::Prefixed),
        "--add needs --resource-pattern-type literal or prefixed"
    );
    anyhow::ensure!(
        !args.allow_principal.is_empty() || !args.deny_principal.is_empty(),
        "--add needs --allow-principal or --deny-principal"
    );
    anyhow::ensure!(
        !resources(args).is_empty(),
        "--add needs --topic, --group, --cluster or --transactional-id"
    );
    anyhow::ensure!(
        !args.consumer || !args.group.is_empty(),
        "--consumer needs --group: consumers read through a group"
    );
    let acls = bindings(args, pattern)?;
    print_grouped(out, "Adding ACLs for resource", &acls)?;
    let results = client.create_acls(&acls)?;
    let failures: Vec<String> = acls
        .iter()
        .zip(&results)
        .filter_map(|(acl, r)| r.as_ref().err().map(|e| format!("{acl}: {e}")))
        .collect();
    anyhow::ensure!(failures.is_empty(), "ACLs not created:\n{}", failures.join("\n"));
    print_current(args, pattern, client, out)
}

fn print_current(
    args: &AclsArgs,
    pattern: PatternType,
    client: &mut AdminClient,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let mut seen = Vec::new();
    for (resource_type, name) in resources(args) {
        if seen.contains(&(resource_type, name.clone())) {
            continue;
        }
        seen.push((resource_type, name.clone()));
        let filter = exact_filter(resource_type, &name, pattern);
        let acls = client.describe_acls(&filter)?.map_err(|e| anyhow::anyhow!("{e}"))?;
        print_grouped(out, "Current ACLs for resource", &acls)?;
    }
    Ok(())
}

fn remove(
    args: &AclsArgs,
    pattern: PatternType,
    client: &mut AdminClient,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        !resources(args).is_empty(),
        "--remove needs --topic, --group, --cluster or --transactional-id"
    );
    let principals_given = !args.allow_principal.is_empty() || !args.deny_principal.is_empty();
    let filters: Vec<AclBindingFilter> = if principals_given {
        // Exactly the ACLs --add would have made.
        bindings(args, pattern)?
            .into_iter()
            .map(|acl| AclBindingFilter {
                resource_type: acl.resource_type,
                resource_name: Some(acl.resource_name),
                pattern_type: acl.pattern_type,
                principal: Some(acl.principal),
                host: Some(acl.host),
                operation: acl.operation,
                permission: acl.permission,
            })
            .collect()
    } else {
        // No principal: every ACL of the resources.
        resources(args).iter().map(|(rt, name)| exact_filter(*rt, name, pattern)).collect()
    };
    let results = client.delete_acls(&filters)?;
    let mut removed = Vec::new();
    for result in results {
        removed.extend(result.map_err(|e| anyhow::anyhow!("{e}"))?);
    }
    print_grouped(out, "Removing ACLs for resource", &removed)?;
    print_current(args, pattern, client, out)
}

fn list(
    args: &AclsArgs,
    pattern: PatternType,
    client: &mut AdminClient,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let principals: Vec<Option<String>> = if args.principal.is_empty() {
        vec![None]
    } else {
        args.principal.iter().cloned().map(Some).collect()
    };
    let filters: Vec<AclBindingFilter> = if resources(args).is_empty() {
        vec![AclBindingFilter::any()]
    } else {
        resources(args).iter().map(|(rt, name)| exact_filter(*rt, name, pattern)).collect()
    };
    let mut acls: Vec<AclBinding> = Vec::new();
    for filter in filters {
        for principal in &principals {
            let filter = AclBindingFilter { principal: principal.clone(), ..filter.clone() };
            for acl in client.describe_acls(&filter)?.map_err(|e| anyhow::anyhow!("{e}"))? {
                if !acls.contains(&acl) {
                    acls.push(acl);
                }
            }
        }
    }
    print_grouped(out, "Current ACLs for resource", &acls)
}
