//! The admin operations the reference solutions perform, one function each.
//!
//! They go over the wire through the shared admin client (`kafka_lab_admin`, the client behind
//! `kafka-lab acls` and `kafka-lab configs`). Until that crate is merged into this branch each
//! returns [`AdminError::NotMerged`]; the `// wire:` comments say which Kafka request each sends.

use std::path::PathBuf;

/// Where the admin connects: `--bootstrap-server` and `--command-config` as the Kafka tools
/// take them (the properties file uses Kafka's client keys: `security.protocol`,
/// `sasl.mechanism`, `sasl.jaas.config`, `ssl.truststore.location`).
#[derive(Debug, Clone)]
pub struct AdminTarget {
    pub bootstrap_server: String,
    pub command_config: PathBuf,
}

/// Why an admin operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(
        "admin client not merged yet: {operation} needs kafka_lab_admin (the client behind \
         `kafka-lab acls` / `kafka-lab configs`)"
    )]
    NotMerged { operation: &'static str },
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

/// Creates (or updates) a SCRAM credential, as
/// `kafka-configs --alter --add-config 'SCRAM-SHA-256=[iterations=8192,password=…]'
/// --entity-type users --entity-name alice`.
pub fn create_scram_user(
    target: &AdminTarget,
    user: &str,
    mechanism: &str,
    iterations: i32,
    password: &str,
) -> Result<(), AdminError> {
    // wire: AlterUserScramCredentials (key 51) v0, upsertions = [{ name: user, mechanism:
    // 1 = SCRAM-SHA-256 | 2 = SCRAM-SHA-512, iterations, salt: 32 random bytes, salted_password:
    // Hi(password, salt, iterations) }], deletions = []; the client salts, the password never
    // travels. Error per user in results[].error_code.
    let _ = (target, user, mechanism, iterations, password);
    Err(AdminError::NotMerged { operation: "AlterUserScramCredentials" })
}

/// Creates one ACL binding, as `kafka-acls --add`.
pub fn create_acl(target: &AdminTarget, binding: &AclBinding) -> Result<(), AdminError> {
    // wire: CreateAcls (key 30) v3, creations = [{ resource_type: 2 = TOPIC | 3 = GROUP,
    // resource_name, resource_pattern_type: 3 = LITERAL, principal: "User:alice", host: "*",
    // operation: 3 = READ | 4 = WRITE | …, permission_type: 2 = DENY | 3 = ALLOW }].
    let _ = (target, binding);
    Err(AdminError::NotMerged { operation: "CreateAcls" })
}

/// Deletes the bindings exactly matching `binding`, as `kafka-acls --remove`.
pub fn delete_acl(target: &AdminTarget, binding: &AclBinding) -> Result<(), AdminError> {
    // wire: DeleteAcls (key 31) v3, filters = [{ resource_type_filter, resource_name_filter,
    // pattern_type_filter: 3 = LITERAL, principal_filter, host_filter: "*", operation,
    // permission_type }], i.e. a filter that matches this one binding only.
    let _ = (target, binding);
    Err(AdminError::NotMerged { operation: "DeleteAcls" })
}

/// Sets a client quota of a user, as `kafka-configs --alter --add-config
/// 'producer_byte_rate=1048576' --entity-type users --entity-name alice`.
pub fn set_user_quota(
    target: &AdminTarget,
    user: &str,
    key: &str,
    value: f64,
) -> Result<(), AdminError> {
    // wire: AlterClientQuotas (key 49) v1, entries = [{ entity: [{ entity_type: "user",
    // entity_name: user }], ops: [{ key: "producer_byte_rate", value, remove: false }] }],
    // validate_only: false.
    let _ = (target, user, key, value);
    Err(AdminError::NotMerged { operation: "AlterClientQuotas" })
}
