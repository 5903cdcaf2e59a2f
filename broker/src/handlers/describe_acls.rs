//! DescribeAcls (key 29): the ACLs a filter matches, grouped by resource pattern. Needs Describe
//! on the Cluster; without an authorizer the answer is SECURITY_DISABLED, as in Kafka.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::{DescribeAclsRequest, DescribeAclsResponse};
use kafka_protocol::protocol::StrBytes;

use super::{str_bytes, RequestContext};
use crate::authorizer::{
    AclBindingFilter, AclOperation, AclPermissionType, PatternType, ResourceType,
};
use crate::broker::Broker;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: DescribeAclsRequest,
) -> DescribeAclsResponse {
    let failed = |error: ResponseError, message: String| {
        DescribeAclsResponse::default()
            .with_error_code(error.code())
            .with_error_message(Some(str_bytes(message)))
    };
    if let Err(e) = broker.authorize_cluster_operation(ctx, AclOperation::Describe) {
        return failed(e.error, e.message);
    }
    if !broker.authorizer.is_enabled() {
        return failed(ResponseError::SecurityDisabled, "No Authorizer is configured.".into());
    }
    let filter = match filter_from_wire(
        request.resource_type_filter,
        request.resource_name_filter.as_ref(),
        request.pattern_type_filter,
        request.principal_filter.as_ref(),
        request.host_filter.as_ref(),
        request.operation,
        request.permission_type,
    ) {
        Ok(filter) => filter,
        Err(why) => return failed(ResponseError::InvalidRequest, why),
    };
    let image = broker.metadata();
    let mut by_pattern: BTreeMap<(ResourceType, String, PatternType), Vec<AclDescription>> =
        BTreeMap::new();
    for (_, acl) in image.acls().iter().filter(|(_, acl)| filter.matches(acl)) {
        by_pattern
            .entry((acl.resource_type, acl.resource_name.clone(), acl.pattern_type))
            .or_default()
            .push(
                AclDescription::default()
                    .with_principal(str_bytes(acl.principal.clone()))
                    .with_host(str_bytes(acl.host.clone()))
                    .with_operation(acl.operation.code())
                    .with_permission_type(acl.permission.code()),
            );
    }
    let resources = by_pattern
        .into_iter()
        .map(|((resource_type, name, pattern_type), acls)| {
            DescribeAclsResource::default()
                .with_resource_type(resource_type.code())
                .with_resource_name(str_bytes(name))
                .with_pattern_type(pattern_type.code())
                .with_acls(acls)
        })
        .collect();
    DescribeAclsResponse::default().with_resources(resources)
}

/// A DescribeAcls/DeleteAcls filter from its wire fields; UNKNOWN or undefined codes are
/// INVALID_REQUEST, as in Kafka.
pub(crate) fn filter_from_wire(
    resource_type: i8,
    name: Option<&StrBytes>,
    pattern_type: i8,
    principal: Option<&StrBytes>,
    host: Option<&StrBytes>,
    operation: i8,
    permission: i8,
) -> Result<AclBindingFilter, String> {
    Ok(AclBindingFilter {
        resource_type: ResourceType::from_code(resource_type)
            .ok_or_else(|| format!("Invalid resourceType filter {resource_type}"))?,
        resource_name: name.map(|n| n.to_string()),
        pattern_type: PatternType::from_code(pattern_type)
            .ok_or_else(|| format!("Invalid patternType filter {pattern_type}"))?,
        principal: principal.map(|p| p.to_string()),
        host: host.map(|h| h.to_string()),
        operation: AclOperation::from_code(operation)
            .ok_or_else(|| format!("Invalid operation filter {operation}"))?,
        permission: AclPermissionType::from_code(permission)
            .ok_or_else(|| format!("Invalid permissionType filter {permission}"))?,
    })
}
