//! The admin operations the reference solutions perform, one function each, over the wire
//! through the shared admin client (`kafka_lab_admin`, the client behind `kafka-lab acls` and
//! `kafka-lab configs`).

use std::path::PathBuf;

use anyhow::{anyhow, Context};
use kafka_lab_admin::configs::{ScramMechanism, ScramUpsertion};
use kafka_lab_admin::{AdminClient, ClientProperties};
use kafka_lab_broker::authorizer as broker_acl;

use crate::lab::User;

/// Where the admin connects: `--bootstrap-server` and `--command-config` as the Kafka tools
/// take them (the properties file uses Kafka's client keys: `security.protocol`,
/// `sasl.mechanism`, `sasl.jaas.config`, `ssl.truststore.location`).
#[derive(Debug, Clone)]
pub struct AdminTarget {
    pub bootstrap_server: String,
    pub command_config: PathBuf,
}

impl AdminTarget {
    fn connect(&self) -> anyhow::Result<AdminClient> {
        let props = ClientProperties::load(&self.command_config)?;
        AdminClient::connect(&self.bootstrap_server, &props)
            .with_context(|| format!("connecting to {} as admin", self.bootstrap_server))
    }
}

/// Kafka's ACL resource types the lab uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceType {
    Topic,
    Group,
}

/// ALLOW or DENY.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    Allow,
    Deny,
}

/// One ACL binding with a LITERAL resource pattern and host `*`, as
/// `kafka-acls --add --allow-principal User:alice --operation Read --topic orders` creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclBinding {
    pub resource_type: ResourceType,
    pub resource_name: String,
    /// `User:alice`.
    pub principal: String,
    /// Kafka's operation name: `Read`, `Write`, `Describe`, `All`, ….
    pub operation: String,
    pub permission: Permission,
}

impl AclBinding {
    /// An ALLOW binding for `principal`.
    pub fn allow(resource_type: ResourceType, name: &str, principal: &str, op: &str) -> Self {
        AclBinding {
            resource_type,
            resource_name: name.into(),
            principal: principal.into(),
            operation: op.into(),
            permission: Permission::Allow,
        }
    }

    /// A DENY binding for `principal`.
    pub fn deny(resource_type: ResourceType, name: &str, principal: &str, op: &str) -> Self {
        AclBinding {
            permission: Permission::Deny,
            ..Self::allow(resource_type, name, principal, op)
        }
    }
}

impl std::fmt::Display for AclBinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} {} on {} {}",
            match self.permission {
                Permission::Allow => "ALLOW",
                Permission::Deny => "DENY",
            },
            self.principal,
            self.operation,
            match self.resource_type {
                ResourceType::Topic => "topic",
                ResourceType::Group => "group",
            },
            self.resource_name
        )
    }
}

impl AclBinding {
    /// The broker's binding: LITERAL pattern, host `*`.
    fn to_broker(&self) -> anyhow::Result<broker_acl::AclBinding> {
        Ok(broker_acl::AclBinding {
            resource_type: match self.resource_type {
                ResourceType::Topic => broker_acl::ResourceType::Topic,
                ResourceType::Group => broker_acl::ResourceType::Group,
            },
            resource_name: self.resource_name.clone(),
            pattern_type: broker_acl::PatternType::Literal,
            principal: self.principal.clone(),
            host: "*".into(),
            operation: broker_acl::AclOperation::parse(&self.operation)
                .ok_or_else(|| anyhow!("unknown ACL operation {}", self.operation))?,
            permission: match self.permission {
                Permission::Allow => broker_acl::AclPermissionType::Allow,
                Permission::Deny => broker_acl::AclPermissionType::Deny,
            },
        })
    }
}

/// Creates (or updates) the SCRAM credentials of `users` in one request on one connection,
/// as `kafka-configs --alter --add-config 'SCRAM-SHA-256=[iterations=8192,password=…]'
/// --entity-type users --entity-name alice` does per user (AlterUserScramCredentials; passwords
/// are salted here and never travel).
pub fn create_scram_users(
    target: &AdminTarget,
    users: &[User],
    iterations: i32,
) -> anyhow::Result<()> {
    let upsertions = users
        .iter()
        .map(|u| {
            let mechanism = ScramMechanism::parse(&u.mechanism)
                .ok_or_else(|| anyhow!("unknown SCRAM mechanism {}", u.mechanism))?;
            Ok(ScramUpsertion {
                user: u.name.clone(),
                mechanism,
                iterations,
                password: u.password.clone(),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    for (name, result) in target.connect()?.alter_user_scram_credentials(&upsertions, &[])? {
        result.map_err(|e| anyhow!("AlterUserScramCredentials for {name}: {e}"))?;
    }
    Ok(())
}

/// Creates ACL bindings in one request on one connection, as `kafka-acls --add` (CreateAcls;
/// an existing binding is kept).
pub fn create_acls(target: &AdminTarget, bindings: &[AclBinding]) -> anyhow::Result<()> {
    let wire = bindings.iter().map(AclBinding::to_broker).collect::<anyhow::Result<Vec<_>>>()?;
    for (binding, result) in bindings.iter().zip(target.connect()?.create_acls(&wire)?) {
        result.map_err(|e| anyhow!("CreateAcls {binding}: {e}"))?;
    }
    Ok(())
}

/// Deletes the bindings exactly matching `binding`, as `kafka-acls --remove` (DeleteAcls).
pub fn delete_acl(target: &AdminTarget, binding: &AclBinding) -> anyhow::Result<()> {
    let filter = broker_acl::AclBindingFilter::exact(&binding.to_broker()?);
    for result in target.connect()?.delete_acls(&[filter])? {
        result.map_err(|e| anyhow!("DeleteAcls {binding}: {e}"))?;
    }
    Ok(())
}

/// Sets a client quota of a user, as `kafka-configs --alter --add-config
/// 'producer_byte_rate=1048576' --entity-type users --entity-name alice` (AlterClientQuotas).
pub fn set_user_quota(
    target: &AdminTarget,
    user: &str,
    key: &str,
    value: f64,
) -> anyhow::Result<()> {
    let entity = vec![("user".to_string(), Some(user.to_string()))];
    target
        .connect()?
        .alter_client_quotas(&entity, &[(key.to_string(), Some(value))], false)?
        .map_err(|e| anyhow!("AlterClientQuotas {key}={value} for user {user}: {e}"))
}
