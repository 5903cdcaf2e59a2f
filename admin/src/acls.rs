//! CreateAcls, DescribeAcls and DeleteAcls with the broker's ACL types.

use kafka_lab_broker::authorizer::{
    AclBinding, AclBindingFilter, AclOperation, AclPermissionType, PatternType, ResourceType,
};
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::{CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest};
use kafka_protocol::protocol::StrBytes;

use crate::client::{check, s, AdminClient, AdminError, BrokerError};

/// Versions of the ACL APIs this client speaks (v0 lacks pattern types).
const ACL_VERSIONS: (i16, i16) = (1, 3);

fn decode(
    rt: i8,
    name: &StrBytes,
    pattern: i8,
    principal: &StrBytes,
    host: &StrBytes,
    op: i8,
    permission: i8,
) -> Result<AclBinding, AdminError> {
    let bad = |what: &str, code: i8| AdminError::Protocol(format!("unknown {what} code {code}"));
    Ok(AclBinding {
        resource_type: ResourceType::from_code(rt).ok_or_else(|| bad("resource type", rt))?,
        resource_name: name.to_string(),
        pattern_type: PatternType::from_code(pattern)
            .ok_or_else(|| bad("pattern type", pattern))?,
        principal: principal.to_string(),
        host: host.to_string(),
        operation: AclOperation::from_code(op).ok_or_else(|| bad("operation", op))?,
        permission: AclPermissionType::from_code(permission)
            .ok_or_else(|| bad("permission", permission))?,
    })
}

impl AdminClient {
    /// Creates ACLs; one result per ACL, in order.
    pub fn create_acls(
        &mut self,
        acls: &[AclBinding],
    ) -> Result<Vec<Result<(), BrokerError>>, AdminError> {
        let version = self.version::<CreateAclsRequest>(ACL_VERSIONS)?;
        let creations = acls
            .iter()
            .map(|a| {
                AclCreation::default()
                    .with_resource_type(a.resource_type.code())
                    .with_resource_name(s(&a.resource_name))
                    .with_resource_pattern_type(a.pattern_type.code())
                    .with_principal(s(&a.principal))
                    .with_host(s(&a.host))
                    .with_operation(a.operation.code())
                    .with_permission_type(a.permission.code())
            })
            .collect();
        let response =
            self.send(version, &CreateAclsRequest::default().with_creations(creations))?;
        Ok(response.results.iter().map(|r| check(r.error_code, r.error_message.as_ref())).collect())
    }

    /// The ACLs matching `filter`.
    pub fn describe_acls(
        &mut self,
        filter: &AclBindingFilter,
    ) -> Result<Result<Vec<AclBinding>, BrokerError>, AdminError> {
        let version = self.version::<DescribeAclsRequest>(ACL_VERSIONS)?;
        let request = DescribeAclsRequest::default()
            .with_resource_type_filter(filter.resource_type.code())
            .with_resource_name_filter(filter.resource_name.as_deref().map(s))
            .with_pattern_type_filter(filter.pattern_type.code())
            .with_principal_filter(filter.principal.as_deref().map(s))
            .with_host_filter(filter.host.as_deref().map(s))
            .with_operation(filter.operation.code())
            .with_permission_type(filter.permission.code());
        let response = self.send(version, &request)?;
        if let Err(e) = check(response.error_code, response.error_message.as_ref()) {
            return Ok(Err(e));
        }
        let mut acls = Vec::new();
        for r in &response.resources {
            for a in &r.acls {
                acls.push(decode(
                    r.resource_type,
                    &r.resource_name,
                    r.pattern_type,
                    &a.principal,
                    &a.host,
                    a.operation,
                    a.permission_type,
                )?);
            }
        }
        Ok(Ok(acls))
    }

    /// Deletes the ACLs each filter matches; per filter, the ACLs it deleted.
    pub fn delete_acls(
        &mut self,
        filters: &[AclBindingFilter],
    ) -> Result<Vec<Result<Vec<AclBinding>, BrokerError>>, AdminError> {
        let version = self.version::<DeleteAclsRequest>(ACL_VERSIONS)?;
        let wire = filters
            .iter()
            .map(|f| {
                DeleteAclsFilter::default()
                    .with_resource_type_filter(f.resource_type.code())
                    .with_resource_name_filter(f.resource_name.as_deref().map(s))
                    .with_pattern_type_filter(f.pattern_type.code())
                    .with_principal_filter(f.principal.as_deref().map(s))
                    .with_host_filter(f.host.as_deref().map(s))
                    .with_operation(f.operation.code())
                    .with_permission_type(f.permission.code())
            })
            .collect();
        let response = self.send(version, &DeleteAclsRequest::default().with_filters(wire))?;
        let mut out = Vec::new();
        for result in &response.filter_results {
            if let Err(e) = check(result.error_code, result.error_message.as_ref()) {
                out.push(Err(e));
                continue;
            }
            let mut deleted = Vec::new();
            for m in &result.matching_acls {
                deleted.push(decode(
                    m.resource_type,
                    &m.resource_name,
                    m.pattern_type,
                    &m.principal,
                    &m.host,
                    m.operation,
                    m.permission_type,
                )?);
            }
            out.push(Ok(deleted));
        }
        Ok(out)
    }
}
