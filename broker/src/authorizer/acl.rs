//! ACL bindings and filters with Kafka's enums, wire codes and names (`org.apache.kafka.common.
//! {resource,acl}`): what CreateAcls carries, what the metadata log stores, what DescribeAcls and
//! DeleteAcls match.

use serde::{Deserialize, Serialize};

/// The name every Cluster ACL must carry (Kafka's `CLUSTER_NAME`).
pub const CLUSTER_NAME: &str = "kafka-cluster";

/// The resource name and principal name that match everything in a LITERAL ACL.
pub const WILDCARD: &str = "*";

/// Normalises a name for parsing: `DescribeConfigs`, `DESCRIBE_CONFIGS` and `describe-configs`
/// are one operation, as `kafka-acls.sh` accepts them.
fn normalize(name: &str) -> String {
    name.chars().filter(|c| !matches!(c, '_' | '-')).flat_map(char::to_lowercase).collect()
}

macro_rules! kafka_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $code:literal, $wire:literal, $camel:literal;)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
        }

        impl $name {
            /// Every value, in wire-code order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The wire code.
            pub fn code(self) -> i8 {
                match self { $($name::$variant => $code,)* }
            }

            /// The value of a wire code; `None` for UNKNOWN and codes Kafka does not define.
            pub fn from_code(code: i8) -> Option<Self> {
                match code { $($code => Some($name::$variant),)* _ => None }
            }

            /// Kafka's `toString()`: `READ`, `DESCRIBE_CONFIGS`, `TRANSACTIONAL_ID`.
            pub fn kafka_name(self) -> &'static str {
                match self { $($name::$variant => $wire,)* }
            }

            /// The name `kafka-acls.sh` options take: `Read`, `DescribeConfigs`.
            pub fn camel_name(self) -> &'static str {
                match self { $($name::$variant => $camel,)* }
            }

            /// Parses either spelling, case-insensitively.
            pub fn parse(text: &str) -> Option<Self> {
                let wanted = normalize(text);
                Self::ALL.iter().copied().find(|v| normalize(v.kafka_name()) == wanted)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.kafka_name())
            }
        }
    };
}

kafka_enum!(
    /// Kafka's `ResourceType`.
    ResourceType {
        /// Matches every type (filters only).
        Any = 1, "ANY", "Any";
        Topic = 2, "TOPIC", "Topic";
        Group = 3, "GROUP", "Group";
        Cluster = 4, "CLUSTER", "Cluster";
        TransactionalId = 5, "TRANSACTIONAL_ID", "TransactionalId";
        DelegationToken = 6, "DELEGATION_TOKEN", "DelegationToken";
        User = 7, "USER", "User";
    }
);

kafka_enum!(
    /// Kafka's `PatternType`.
    PatternType {
        /// Any pattern type with exactly this name (filters only).
        Any = 1, "ANY", "Any";
        /// Every ACL that would apply to a resource of this name (filters only).
        Match = 2, "MATCH", "Match";
        /// The exact name, or `*` for every resource.
        Literal = 3, "LITERAL", "Literal";
        /// Every resource whose name starts with this name.
        Prefixed = 4, "PREFIXED", "Prefixed";
    }
);

kafka_enum!(
    /// Kafka's `AclOperation`.
    AclOperation {
        /// Matches every operation (filters only).
        Any = 1, "ANY", "Any";
        /// Every operation (in an ACL).
        All = 2, "ALL", "All";
        Read = 3, "READ", "Read";
        Write = 4, "WRITE", "Write";
        Create = 5, "CREATE", "Create";
        Delete = 6, "DELETE", "Delete";
        Alter = 7, "ALTER", "Alter";
        Describe = 8, "DESCRIBE", "Describe";
        ClusterAction = 9, "CLUSTER_ACTION", "ClusterAction";
        DescribeConfigs = 10, "DESCRIBE_CONFIGS", "DescribeConfigs";
        AlterConfigs = 11, "ALTER_CONFIGS", "AlterConfigs";
        IdempotentWrite = 12, "IDEMPOTENT_WRITE", "IdempotentWrite";
        CreateTokens = 13, "CREATE_TOKENS", "CreateTokens";
        DescribeTokens = 14, "DESCRIBE_TOKENS", "DescribeTokens";
        TwoPhaseCommit = 15, "TWO_PHASE_COMMIT", "TwoPhaseCommit";
    }
);

kafka_enum!(
    /// Kafka's `AclPermissionType`.
    AclPermissionType {
        /// Matches both (filters only).
        Any = 1, "ANY", "Any";
        Deny = 2, "DENY", "Deny";
        Allow = 3, "ALLOW", "Allow";
    }
);

impl ResourceType {
    /// The operations an ACL on this resource type can grant (Kafka's
    /// `AclEntry.supportedOperations`), which authorized-operations bit fields report.
    pub fn supported_operations(self) -> &'static [AclOperation] {
        use AclOperation::*;
        match self {
            ResourceType::Topic => {
                &[Read, Write, Create, Describe, Delete, Alter, DescribeConfigs, AlterConfigs]
            }
            ResourceType::Group => &[Read, Describe, Delete],
            ResourceType::Cluster => &[
                Create,
                ClusterAction,
                DescribeConfigs,
                AlterConfigs,
                IdempotentWrite,
                Alter,
                Describe,
            ],
            ResourceType::TransactionalId => &[Describe, Write, TwoPhaseCommit],
            ResourceType::DelegationToken => &[Describe],
            ResourceType::User => &[CreateTokens, DescribeTokens],
            ResourceType::Any => &[],
        }
    }
}

/// One ACL: who may (or may not) do what to which resources, from which host.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AclBinding {
    /// The kind of resource.
    pub resource_type: ResourceType,
    /// The resource name, `*`, or a prefix.
    pub resource_name: String,
    /// LITERAL or PREFIXED.
    pub pattern_type: PatternType,
    /// `User:alice`, or `User:*` for every user.
    pub principal: String,
    /// A client IP address, or `*`.
    pub host: String,
    /// The operation granted or denied.
    pub operation: AclOperation,
    /// ALLOW or DENY.
    pub permission: AclPermissionType,
}

impl AclBinding {
    /// Kafka's checks of a new ACL (`AclControlManager.validateNewAcl` and CreateAcls'):
    /// concrete enums, a non-empty name, `kafka-cluster` for Cluster, a `Type:name` principal.
    pub fn validate(&self) -> Result<(), String> {
        if matches!(self.resource_type, ResourceType::Any) {
            return Err("Invalid resourceType ANY".into());
        }
        if !matches!(self.pattern_type, PatternType::Literal | PatternType::Prefixed) {
            return Err(format!("Invalid patternType {}", self.pattern_type));
        }
        if matches!(self.operation, AclOperation::Any) {
            return Err("Invalid operation ANY".into());
        }
        if matches!(self.permission, AclPermissionType::Any) {
            return Err("Invalid permissionType ANY".into());
        }
        if self.resource_name.is_empty() {
            return Err("Resource name should not be empty".into());
        }
        if self.resource_type == ResourceType::Cluster && self.resource_name != CLUSTER_NAME {
            return Err(format!("The only valid name for the CLUSTER resource is {CLUSTER_NAME}"));
        }
        match self.principal.split_once(':') {
            Some((kind, _)) if !kind.is_empty() => {}
            _ => {
                return Err(format!(
                    "Invalid principal `{}`: expected principalType:name, e.g. User:alice",
                    self.principal
                ))
            }
        }
        if self.host.is_empty() {
            return Err("Invalid host: empty (use * for every host)".into());
        }
        Ok(())
    }

    /// Whether this ACL's resource pattern covers the resource `name` of `resource_type`.
    pub fn covers(&self, resource_type: ResourceType, name: &str) -> bool {
        self.resource_type == resource_type
            && match self.pattern_type {
                PatternType::Literal => {
                    self.resource_name == name || self.resource_name == WILDCARD
                }
                PatternType::Prefixed => name.starts_with(&self.resource_name),
                PatternType::Any | PatternType::Match => false,
            }
    }
}

impl std::fmt::Display for AclBinding {
    /// Kafka's `AclBinding.toString()`, which `kafka-acls.sh` prints.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "(pattern=ResourcePattern(resourceType={}, name={}, patternType={}), \
             entry=(principal={}, host={}, operation={}, permissionType={}))",
            self.resource_type,
            self.resource_name,
            self.pattern_type,
            self.principal,
            self.host,
            self.operation,
            self.permission
        )
    }
}

/// What DescribeAcls and DeleteAcls match: `None`/ANY fields match everything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclBindingFilter {
    /// ANY or one type.
    pub resource_type: ResourceType,
    /// `None` matches every name.
    pub resource_name: Option<String>,
    /// ANY, MATCH, LITERAL or PREFIXED.
    pub pattern_type: PatternType,
    /// `None` matches every principal (exact comparison otherwise).
    pub principal: Option<String>,
    /// `None` matches every host (exact comparison otherwise).
    pub host: Option<String>,
    /// ANY or one operation.
    pub operation: AclOperation,
    /// ANY, ALLOW or DENY.
    pub permission: AclPermissionType,
}

impl AclBindingFilter {
    /// The filter matching every ACL.
    pub fn any() -> Self {
        AclBindingFilter {
            resource_type: ResourceType::Any,
            resource_name: None,
            pattern_type: PatternType::Any,
            principal: None,
            host: None,
            operation: AclOperation::Any,
            permission: AclPermissionType::Any,
        }
    }

    /// The filter matching exactly `acl` (Kafka's `AclBinding.toFilter`).
    pub fn exact(acl: &AclBinding) -> Self {
        AclBindingFilter {
            resource_type: acl.resource_type,
            resource_name: Some(acl.resource_name.clone()),
            pattern_type: acl.pattern_type,
            principal: Some(acl.principal.clone()),
            host: Some(acl.host.clone()),
            operation: acl.operation,
            permission: acl.permission,
        }
    }

    /// Kafka's `ResourcePatternFilter.matches` and `AccessControlEntryFilter.matches`.
    pub fn matches(&self, acl: &AclBinding) -> bool {
        self.matches_pattern(acl) && self.matches_entry(acl)
    }

    fn matches_pattern(&self, acl: &AclBinding) -> bool {
        if self.resource_type != ResourceType::Any && self.resource_type != acl.resource_type {
            return false;
        }
        if !matches!(self.pattern_type, PatternType::Any | PatternType::Match)
            && self.pattern_type != acl.pattern_type
        {
            return false;
        }
        let Some(name) = &self.resource_name else { return true };
        if self.pattern_type == PatternType::Any || self.pattern_type == acl.pattern_type {
            return *name == acl.resource_name;
        }
        // MATCH: every ACL that applies to a resource called `name`.
        acl.covers(acl.resource_type, name)
    }

    fn matches_entry(&self, acl: &AclBinding) -> bool {
        self.principal.as_ref().is_none_or(|p| *p == acl.principal)
            && self.host.as_ref().is_none_or(|h| *h == acl.host)
            && (self.operation == AclOperation::Any || self.operation == acl.operation)
            && (self.permission == AclPermissionType::Any || self.permission == acl.permission)
    }
}
