//! CreateAcls (key 30): adds ACLs to the metadata log. Needs Alter on the Cluster; without an
//! authorizer every creation answers SECURITY_DISABLED, as in Kafka.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::{CreateAclsRequest, CreateAclsResponse};

use super::{str_bytes, RequestContext};
use crate::authorizer::{AclBinding, AclOperation, AclPermissionType, PatternType, ResourceType};
use crate::broker::Broker;
use crate::metadata::MetadataRecord;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: CreateAclsRequest,
) -> CreateAclsResponse {
    let failed = |error: ResponseError, message: &str| {
        AclCreationResult::default()
            .with_error_code(error.code())
            .with_error_message(Some(str_bytes(message)))
    };
    let all_failed = |error: ResponseError, message: &str| {
        let results = request.creations.iter().map(|_| failed(error, message)).collect();
        CreateAclsResponse::default().with_results(results)
    };
    if let Err(e) = broker.authorize_cluster_operation(ctx, AclOperation::Alter) {
        return all_failed(e.error, &e.message);
    }
    if !broker.authorizer.is_enabled() {
        return all_failed(ResponseError::SecurityDisabled, "No Authorizer is configured.");
    }
    let parsed: Vec<Result<AclBinding, String>> = request
        .creations
        .iter()
        .map(|c| binding_from_wire(c).and_then(|acl| acl.validate().map(|()| acl)))
        .collect();
    let committed = broker.update_metadata(|image| {
        let mut records = Vec::new();
        let mut added: Vec<&AclBinding> = Vec::new();
        for acl in parsed.iter().flatten() {
            // Creating an ACL that exists is a no-op that succeeds, as in Kafka.
            if image.acls().contains(acl) || added.contains(&acl) {
                continue;
            }
            added.push(acl);
            records.push(MetadataRecord::AccessControlEntry {
                id: broker.random_uuid(),
                acl: acl.clone(),
            });
        }
        (records, ())
    });
    let results = parsed
        .iter()
        .map(|outcome| match (outcome, &committed) {
            (Err(why), _) => failed(ResponseError::InvalidRequest, why),
            (Ok(_), Err(e)) => failed(e.error, &e.message),
            (Ok(acl), Ok(())) => {
                tracing::info!(principal = %ctx.principal, %acl, "ACL created");
                AclCreationResult::default()
            }
        })
        .collect();
    CreateAclsResponse::default().with_results(results)
}

fn binding_from_wire(c: &AclCreation) -> Result<AclBinding, String> {
    Ok(AclBinding {
        resource_type: ResourceType::from_code(c.resource_type)
            .ok_or_else(|| format!("Invalid resourceType {}", c.resource_type))?,
        resource_name: c.resource_name.to_string(),
        pattern_type: PatternType::from_code(c.resource_pattern_type)
            .ok_or_else(|| format!("Invalid patternType {}", c.resource_pattern_type))?,
        principal: c.principal.to_string(),
        host: c.host.to_string(),
        operation: AclOperation::from_code(c.operation)
            .ok_or_else(|| format!("Invalid operation {}", c.operation))?,
        permission: AclPermissionType::from_code(c.permission_type)
            .ok_or_else(|| format!("Invalid permissionType {}", c.permission_type))?,
    })
}
