//! Authorization with the semantics of Kafka's `StandardAuthorizer` (KRaft): ACLs live in the
//! metadata image (`AccessControlEntry` records), `super.users` bypass them, a DENY that matches
//! wins over any ALLOW, ALLOW ACLs for Read/Write/Delete/Alter imply Describe and AlterConfigs
//! implies DescribeConfigs, and `allow.everyone.if.no.acl.found` decides only for resources that
//! no ACL covers at all.
//!
//! Enforcement is on only when `authorizer.class.name` names the StandardAuthorizer, as in Kafka:
//! without it every request is allowed and the ACL APIs answer SECURITY_DISABLED.
//!
//! Handlers ask through [`Broker::authorize`] (logs and counts a denial) or
//! [`Broker::authorize_silently`] (for lists that just leave unauthorized entries out).

pub mod acl;
mod image;

#[cfg(test)]
mod tests;

use std::collections::BTreeSet;

pub use acl::{
    AclBinding, AclBindingFilter, AclOperation, AclPermissionType, PatternType, ResourceType,
    CLUSTER_NAME,
};
pub use image::{AclImage, Decision};

use kafka_protocol::error::ResponseError;

use crate::broker::Broker;
use crate::config::BrokerConfig;
use crate::error::ApiError;
use crate::handlers::RequestContext;
use crate::security::Principal;

/// The class name that turns ACL enforcement on (Kafka 4.x's only built-in authorizer).
pub const STANDARD_AUTHORIZER: &str = "org.apache.kafka.metadata.authorizer.StandardAuthorizer";

/// ZooKeeper mode's authorizer, removed in Kafka 4.0; named in the error that refuses it.
const ZK_ACL_AUTHORIZER: &str = "kafka.security.authorizer.AclAuthorizer";

/// The authorizer's configuration. The ACLs themselves are in the metadata image; its denials
/// are counted in `Broker::stats`.
#[derive(Debug, Default)]
pub struct Authorizer {
    enabled: bool,
    super_users: BTreeSet<String>,
    allow_everyone_if_no_acl_found: bool,
}

impl Authorizer {
    /// Reads `authorizer.class.name`, `super.users` and `allow.everyone.if.no.acl.found`.
    pub fn from_config(config: &BrokerConfig) -> Result<Self, String> {
        let enabled = match config.authorizer_class_name.trim() {
            "" => false,
            STANDARD_AUTHORIZER => true,
            ZK_ACL_AUTHORIZER => {
                return Err(format!(
                    "authorizer.class.name: {ZK_ACL_AUTHORIZER} was removed with ZooKeeper in \
                     Kafka 4.0; use {STANDARD_AUTHORIZER}"
                ))
            }
            other => {
                return Err(format!(
                    "authorizer.class.name: `{other}` is not available; the only authorizer is \
                     {STANDARD_AUTHORIZER} (leave it empty to allow every request)"
                ))
            }
        };
        let super_users = parse_super_users(&config.super_users)?;
        Ok(Authorizer {
            enabled,
            super_users,
            allow_everyone_if_no_acl_found: config.allow_everyone_if_no_acl_found,
        })
    }

    /// Whether ACLs are enforced.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Whether `principal` connecting from `host` may perform `operation` on the resource.
    pub fn authorize(
        &self,
        acls: &AclImage,
        principal: &Principal,
        host: &str,
        operation: AclOperation,
        resource_type: ResourceType,
        name: &str,
    ) -> bool {
        if !self.enabled {
            return true;
        }
        let principal = principal.to_string();
        if self.super_users.contains(&principal) {
            return true;
        }
        match acls.decide(&principal, host, operation, resource_type, name) {
            Decision::Allowed => true,
            Decision::Denied => false,
            Decision::NoAclFound => self.allow_everyone_if_no_acl_found,
        }
    }

    /// Kafka's `authorizeByResourceType`: whether `operation` is allowed on at least one
    /// resource of `resource_type` (InitProducerId's "Write on any topic").
    pub fn authorize_by_resource_type(
        &self,
        acls: &AclImage,
        principal: &Principal,
        host: &str,
        operation: AclOperation,
        resource_type: ResourceType,
    ) -> bool {
        // A made-up literal name first, as Kafka does: super users, wildcard ALLOWs and the
        // no-ACL rule decide without looking at names.
        if self.authorize(acls, principal, host, operation, resource_type, "hardcode") {
            return true;
        }
        acls.any_allowed_of_type(&principal.to_string(), host, operation, resource_type)
    }
}

/// `super.users`: `User:admin;User:ops`, semicolon-separated as in Kafka.
fn parse_super_users(text: &str) -> Result<BTreeSet<String>, String> {
    let mut users = BTreeSet::new();
    for entry in text.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        match entry.split_once(':') {
            Some((kind, name)) if !kind.is_empty() && !name.is_empty() => {
                users.insert(entry.to_owned());
            }
            _ => {
                return Err(format!(
                    "super.users: `{entry}` is not a principal (principalType:name, e.g. \
                     User:admin; separate several with `;`)"
                ))
            }
        }
    }
    Ok(users)
}

/// The address ACL hosts are compared with: the peer's IP without the port.
pub fn client_ip(peer: &str) -> String {
    match peer.parse::<std::net::SocketAddr>() {
        Ok(address) => address.ip().to_string(),
        Err(_) => peer.to_owned(),
    }
}

impl Broker {
    /// Whether the request's principal may perform `operation` on the resource. A denial is
    /// logged (principal, host, operation, resource, API; never credentials) and counted.
    pub fn authorize(
        &self,
        ctx: &RequestContext,
        operation: AclOperation,
        resource_type: ResourceType,
        name: &str,
    ) -> bool {
        self.check(ctx, operation, resource_type, Some(name), true)
    }

    /// As [`Broker::authorize`], without logging or counting a denial: for lists from which
    /// unauthorized entries are silently left out (Kafka's `logIfDenied = false`).
    pub fn authorize_silently(
        &self,
        ctx: &RequestContext,
        operation: AclOperation,
        resource_type: ResourceType,
        name: &str,
    ) -> bool {
        self.check(ctx, operation, resource_type, Some(name), false)
    }

    /// Kafka's `authorizeClusterOperation`: `operation` on the Cluster, or
    /// CLUSTER_AUTHORIZATION_FAILED (the whole request is refused).
    pub fn authorize_cluster_operation(
        &self,
        ctx: &RequestContext,
        operation: AclOperation,
    ) -> Result<(), ApiError> {
        if self.authorize(ctx, operation, ResourceType::Cluster, CLUSTER_NAME) {
            return Ok(());
        }
        Err(ApiError::new(
            ResponseError::ClusterAuthorizationFailed,
            format!("{operation} on the Cluster is required for {:?}", ctx.api_key),
        ))
    }

    /// Whether `operation` is allowed on some resource of `resource_type`.
    pub fn authorize_by_resource_type(
        &self,
        ctx: &RequestContext,
        operation: AclOperation,
        resource_type: ResourceType,
    ) -> bool {
        self.check(ctx, operation, resource_type, None, true)
    }

    /// Kafka's authorized-operations bit field (bit n set: operation code n allowed) for the
    /// operations `resource_type` supports.
    pub fn authorized_operations(
        &self,
        ctx: &RequestContext,
        resource_type: ResourceType,
        name: &str,
    ) -> i32 {
        resource_type
            .supported_operations()
            .iter()
            .filter(|op| self.authorize_silently(ctx, **op, resource_type, name))
            .fold(0, |bits, op| bits | 1 << op.code())
    }

    /// The one decision path: `name` is the resource, `None` any resource of the type.
    fn check(
        &self,
        ctx: &RequestContext,
        operation: AclOperation,
        resource_type: ResourceType,
        name: Option<&str>,
        log_denial: bool,
    ) -> bool {
        if !self.authorizer.is_enabled() {
            return true;
        }
        let image = self.metadata();
        let host = client_ip(&ctx.client_host);
        let (acls, principal) = (image.acls(), &ctx.principal);
        let allowed = match name {
            Some(name) => {
                self.authorizer.authorize(acls, principal, &host, operation, resource_type, name)
            }
            None => self.authorizer.authorize_by_resource_type(
                acls,
                principal,
                &host,
                operation,
                resource_type,
            ),
        };
        self.stats.record_authorization(allowed, self.clock.now_ms());
        if !allowed && log_denial {
            self.record_denial(ctx, &host, operation, resource_type, name.unwrap_or("<any>"));
        }
        allowed
    }

    fn record_denial(
        &self,
        ctx: &RequestContext,
        host: &str,
        operation: AclOperation,
        resource_type: ResourceType,
        name: &str,
    ) {
        self.stats.record_denial(operation, resource_type);
        tracing::info!(
            principal = %ctx.principal,
            host,
            operation = %operation,
            resource = format_args!("{resource_type}:{name}"),
            api = ?ctx.api_key,
            "authorization denied"
        );
    }
}
