//! DeleteAcls (key 31): removes every ACL each filter matches, in one metadata commit. Needs
//! Alter on the Cluster; without an authorizer every filter answers SECURITY_DISABLED.

use std::collections::BTreeSet;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl,
};
use kafka_protocol::messages::{DeleteAclsRequest, DeleteAclsResponse};

use super::describe_acls::filter_from_wire;
use super::{str_bytes, RequestContext};
use crate::authorizer::{AclBinding, AclOperation};
use crate::broker::Broker;
use crate::metadata::MetadataRecord;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: DeleteAclsRequest,
) -> DeleteAclsResponse {
    let failed = |error: ResponseError, message: &str| {
        DeleteAclsFilterResult::default()
            .with_error_code(error.code())
            .with_error_message(Some(str_bytes(message)))
    };
    let all_failed = |error: ResponseError, message: &str| {
        let results = request.filters.iter().map(|_| failed(error, message)).collect();
        DeleteAclsResponse::default().with_filter_results(results)
    };
    if let Err(e) = broker.authorize_cluster_operation(ctx, AclOperation::Alter) {
        return all_failed(e.error, &e.message);
    }
    if !broker.authorizer.is_enabled() {
        return all_failed(ResponseError::SecurityDisabled, "No Authorizer is configured.");
    }
    let filters: Vec<_> = request
        .filters
        .iter()
        .map(|f| {
            filter_from_wire(
                f.resource_type_filter,
                f.resource_name_filter.as_ref(),
                f.pattern_type_filter,
                f.principal_filter.as_ref(),
                f.host_filter.as_ref(),
                f.operation,
                f.permission_type,
            )
        })
        .collect();
    // Each filter reports every ACL it matches; an ACL two filters match is removed once.
    let outcome = broker.update_metadata(|image| {
        let mut removed = BTreeSet::new();
        let mut records = Vec::new();
        let matched: Vec<Vec<AclBinding>> = filters
            .iter()
            .map(|filter| {
                let Ok(filter) = filter else { return Vec::new() };
                image
                    .acls()
                    .iter()
                    .filter(|(_, acl)| filter.matches(acl))
                    .map(|(id, acl)| {
                        if removed.insert(*id) {
                            records.push(MetadataRecord::RemoveAccessControlEntry { id: *id });
                        }
                        acl.clone()
                    })
                    .collect()
            })
            .collect();
        (records, matched)
    });
    let matched = match outcome {
        Ok(matched) => matched,
        Err(e) => return all_failed(e.error, &e.message),
    };
    let results = filters
        .iter()
        .zip(matched)
        .map(|(filter, acls)| match filter {
            Err(why) => failed(ResponseError::InvalidRequest, why),
            Ok(_) => {
                let acls = acls
                    .into_iter()
                    .map(|acl| {
                        tracing::info!(principal = %ctx.principal, %acl, "ACL deleted");
                        DeleteAclsMatchingAcl::default()
                            .with_resource_type(acl.resource_type.code())
                            .with_resource_name(str_bytes(acl.resource_name))
                            .with_pattern_type(acl.pattern_type.code())
                            .with_principal(str_bytes(acl.principal))
                            .with_host(str_bytes(acl.host))
                            .with_operation(acl.operation.code())
                            .with_permission_type(acl.permission.code())
                    })
                    .collect();
                DeleteAclsFilterResult::default().with_matching_acls(acls)
            }
        })
        .collect();
    DeleteAclsResponse::default().with_filter_results(results)
}
