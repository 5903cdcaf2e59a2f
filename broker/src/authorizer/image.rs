//! The ACLs as the metadata image holds them, and StandardAuthorizer's decision over them.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::acl::{
    AclBinding, AclOperation, AclPermissionType, PatternType, ResourceType, WILDCARD,
};

/// Every ACL in the cluster, by the id its `AccessControlEntry` record gave it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AclImage {
    acls: BTreeMap<Uuid, AclBinding>,
}

/// The outcome of matching one request against the ACLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// An ALLOW ACL matched and no DENY did.
    Allowed,
    /// A DENY ACL matched, or ACLs exist for the resource but none allows.
    Denied,
    /// No ACL covers the resource at all: `allow.everyone.if.no.acl.found` decides.
    NoAclFound,
}

/// Operations an ALLOW ACL for them also allows Describe for (Kafka's `IMPLIES_DESCRIBE`).
const IMPLIES_DESCRIBE: &[AclOperation] = &[
    AclOperation::Describe,
    AclOperation::Read,
    AclOperation::Write,
    AclOperation::Delete,
    AclOperation::Alter,
];

/// Operations an ALLOW ACL for them also allows DescribeConfigs for.
const IMPLIES_DESCRIBE_CONFIGS: &[AclOperation] =
    &[AclOperation::DescribeConfigs, AclOperation::AlterConfigs];

impl AclImage {
    /// Adds an ACL (an `AccessControlEntry` record).
    pub fn apply_create(&mut self, id: Uuid, acl: AclBinding) {
        assert!(self.acls.insert(id, acl).is_none(), "ACL {id} created twice");
    }

    /// Removes an ACL (a `RemoveAccessControlEntry` record).
    pub fn apply_remove(&mut self, id: Uuid) {
        assert!(self.acls.remove(&id).is_some(), "removal of unknown ACL {id}");
    }

    /// The ACL with this id.
    pub fn get(&self, id: &Uuid) -> Option<&AclBinding> {
        self.acls.get(id)
    }

    /// Every ACL with its id, in id order.
    pub fn iter(&self) -> impl Iterator<Item = (&Uuid, &AclBinding)> {
        self.acls.iter()
    }

    /// How many ACLs there are.
    pub fn len(&self) -> usize {
        self.acls.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.acls.is_empty()
    }

    /// Whether an identical ACL already exists (creating it again is a no-op in Kafka).
    pub fn contains(&self, acl: &AclBinding) -> bool {
        self.acls.values().any(|a| a == acl)
    }

    /// StandardAuthorizer's matching (super users and the no-ACL rule aside): any matching
    /// DENY wins, then any matching ALLOW; implied operations only widen ALLOW ACLs.
    pub fn decide(
        &self,
        principal: &str,
        host: &str,
        operation: AclOperation,
        resource_type: ResourceType,
        name: &str,
    ) -> Decision {
        let mut resource_has_acls = false;
        let mut allowed = false;
        for acl in self.acls.values().filter(|acl| acl.covers(resource_type, name)) {
            resource_has_acls = true;
            match entry_result(acl, principal, host, operation) {
                Some(AclPermissionType::Deny) => return Decision::Denied,
                Some(_) => allowed = true,
                None => {}
            }
        }
        match (allowed, resource_has_acls) {
            (true, _) => Decision::Allowed,
            (false, true) => Decision::Denied,
            (false, false) => Decision::NoAclFound,
        }
    }

    /// Kafka's `Authorizer.authorizeByResourceType` default: whether some ALLOW ACL for
    /// `operation` on a resource of `resource_type` is not dominated by a DENY (a literal DENY of
    /// the same name, a prefixed DENY of a prefix of it, or a wildcard DENY). Only exact
    /// operations (or ALL) count here, not implied ones. The caller checks super users and the
    /// "hardcode" resource first, as Kafka does.
    pub fn any_allowed_of_type(
        &self,
        principal: &str,
        host: &str,
        operation: AclOperation,
        resource_type: ResourceType,
    ) -> bool {
        let mut deny_literal = Vec::new();
        let mut deny_prefixed = Vec::new();
        let mut allow = Vec::new();
        let mut wildcard_allow = false;
        for acl in self.acls.values().filter(|a| a.resource_type == resource_type) {
            if !matches_principal(acl, principal) || !matches_host(acl, host) {
                continue;
            }
            if acl.operation != operation && acl.operation != AclOperation::All {
                continue;
            }
            let wildcard =
                acl.pattern_type == PatternType::Literal && acl.resource_name == WILDCARD;
            match (acl.permission, acl.pattern_type) {
                (AclPermissionType::Deny, _) if wildcard => return false,
                (AclPermissionType::Deny, PatternType::Literal) => deny_literal.push(acl),
                (AclPermissionType::Deny, PatternType::Prefixed) => deny_prefixed.push(acl),
                (AclPermissionType::Allow, _) if wildcard => wildcard_allow = true,
                (AclPermissionType::Allow, _) => allow.push(acl),
                _ => {}
            }
        }
        if wildcard_allow {
            return true;
        }
        allow.iter().any(|a| {
            let literal_denied = a.pattern_type == PatternType::Literal
                && deny_literal.iter().any(|d| d.resource_name == a.resource_name);
            let prefix_denied =
                deny_prefixed.iter().any(|d| a.resource_name.starts_with(&d.resource_name));
            !literal_denied && !prefix_denied
        })
    }
}

fn matches_principal(acl: &AclBinding, principal: &str) -> bool {
    acl.principal == principal || acl.principal == "User:*"
}

fn matches_host(acl: &AclBinding, host: &str) -> bool {
    acl.host == WILDCARD || acl.host == host
}

/// Kafka's `StandardAuthorizerData.findResult`: the permission of an ACL that applies to this
/// principal, host and operation, or `None` when it does not apply.
fn entry_result(
    acl: &AclBinding,
    principal: &str,
    host: &str,
    operation: AclOperation,
) -> Option<AclPermissionType> {
    if !matches_principal(acl, principal) || !matches_host(acl, host) {
        return None;
    }
    if acl.operation != AclOperation::All {
        // A DENY for Read does not deny Describe: implication widens ALLOW ACLs only.
        let applies = if acl.permission == AclPermissionType::Allow {
            match operation {
                AclOperation::Describe => IMPLIES_DESCRIBE.contains(&acl.operation),
                AclOperation::DescribeConfigs => IMPLIES_DESCRIBE_CONFIGS.contains(&acl.operation),
                _ => acl.operation == operation,
            }
        } else {
            acl.operation == operation
        };
        if !applies {
            return None;
        }
    }
    Some(acl.permission)
}
