//! AlterClientQuotas (key 49): set or remove quota values of user / client-id entities,
//! persisted as `ClientQuota` metadata records. Every entry is validated (entity types, known
//! keys, positive and, for byte rates, integral values) and answered on its own.

use std::collections::BTreeSet;
use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_client_quotas_request::EntryData;
use kafka_protocol::messages::alter_client_quotas_response::{self, EntityData};
use kafka_protocol::messages::{AlterClientQuotasRequest, AlterClientQuotasResponse};

use super::{str_bytes, RequestContext};
use crate::authorizer::AclOperation;
use crate::broker::Broker;
use crate::error::ApiError;
use crate::metadata::MetadataRecord;
use crate::quota::image::validate_quota;
use crate::quota::{ClientQuotaEntity, QuotaValue};

pub(super) fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: AlterClientQuotasRequest,
) -> AlterClientQuotasResponse {
    // A denial answers every entry with CLUSTER_AUTHORIZATION_FAILED, as Kafka's error response.
    let authorized = broker.authorize_cluster_operation(ctx, AclOperation::AlterConfigs);
    let outcomes: Vec<Result<Vec<MetadataRecord>, ApiError>> = request
        .entries
        .iter()
        .map(|entry| authorized.clone().and_then(|()| records(entry)))
        .collect();
    let committed = if request.validate_only {
        Ok(())
    } else {
        let all = outcomes.iter().filter_map(|o| o.as_ref().ok()).flatten().cloned().collect();
        broker.commit_metadata(all)
    };
    let entries = request
        .entries
        .iter()
        .zip(outcomes)
        .map(|(entry, outcome)| {
            let response = alter_client_quotas_response::EntryData::default().with_entity(
                entry
                    .entity
                    .iter()
                    .map(|e| {
                        EntityData::default()
                            .with_entity_type(e.entity_type.clone())
                            .with_entity_name(e.entity_name.clone())
                    })
                    .collect(),
            );
            match outcome.and_then(|records| committed.clone().map(|()| records)) {
                Ok(records) => {
                    if !request.validate_only {
                        for record in &records {
                            if let MetadataRecord::ClientQuota { entity, key, value } = record {
                                tracing::info!(%entity, key, value = ?value.map(|v| v.0), "client quota altered");
                            }
                        }
                    }
                    response
                }
                Err(e) => response
                    .with_error_code(e.code())
                    .with_error_message(Some(str_bytes(e.message))),
            }
        })
        .collect();
    AlterClientQuotasResponse::default().with_entries(entries)
}

/// The metadata records of one entry, or why the entry is refused.
fn records(entry: &EntryData) -> Result<Vec<MetadataRecord>, ApiError> {
    let entity = ClientQuotaEntity::from_wire(
        entry.entity.iter().map(|e| (e.entity_type.as_str(), e.entity_name.as_deref())),
    )?;
    let mut keys = BTreeSet::new();
    entry
        .ops
        .iter()
        .map(|op| {
            if !keys.insert(op.key.as_str()) {
                return Err(ApiError::new(
                    ResponseError::InvalidRequest,
                    format!("Duplicate quota key {} for {entity}", op.key.as_str()),
                ));
            }
            let value = if op.remove {
                validate_quota(&op.key, 1.0)?;
                None
            } else {
                validate_quota(&op.key, op.value)?;
                Some(QuotaValue(op.value))
            };
            Ok(MetadataRecord::ClientQuota {
                entity: entity.clone(),
                key: op.key.to_string(),
                value,
            })
        })
        .collect()
}
