//! DescribeClientQuotas (key 48): the configured quotas of the entities matching a filter.
//! Each component matches one entity type exactly by name, the `<default>` entity, or any;
//! `strict` excludes entities with further entity types.

use std::collections::BTreeSet;
use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_client_quotas_response::{EntityData, EntryData, ValueData};
use kafka_protocol::messages::{DescribeClientQuotasRequest, DescribeClientQuotasResponse};

use super::{str_bytes, RequestContext};
use crate::authorizer::AclOperation;
use crate::broker::Broker;
use crate::error::ApiError;
use crate::quota::image::ComponentFilter;

pub(super) fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: DescribeClientQuotasRequest,
) -> DescribeClientQuotasResponse {
    let filter =
        broker.authorize_cluster_operation(ctx, AclOperation::DescribeConfigs).and_then(|()| {
            let mut types = BTreeSet::new();
            request
                .components
                .iter()
                .map(|c| {
                    if !types.insert(c.entity_type.as_str()) {
                        return Err(ApiError::new(
                            ResponseError::InvalidRequest,
                            format!(
                                "Entity type {} cannot appear more than once in the filter",
                                c.entity_type.as_str()
                            ),
                        ));
                    }
                    ComponentFilter::from_wire(&c.entity_type, c.match_type, c._match.as_deref())
                })
                .collect::<Result<Vec<_>, _>>()
        });
    let filter = match filter {
        Ok(filter) => filter,
        Err(e) => {
            return DescribeClientQuotasResponse::default()
                .with_error_code(e.code())
                .with_error_message(Some(str_bytes(e.message)))
                .with_entries(None)
        }
    };
    let entries = broker
        .metadata()
        .client_quotas()
        .describe(&filter, request.strict)
        .into_iter()
        .map(|(entity, values)| {
            EntryData::default()
                .with_entity(
                    entity
                        .to_wire()
                        .into_iter()
                        .map(|(t, name)| {
                            EntityData::default()
                                .with_entity_type(str_bytes(t))
                                .with_entity_name(name.map(str_bytes))
                        })
                        .collect(),
                )
                .with_values(
                    values
                        .into_iter()
                        .map(|(key, value)| {
                            ValueData::default().with_key(str_bytes(key)).with_value(value)
                        })
                        .collect(),
                )
        })
        .collect();
    DescribeClientQuotasResponse::default().with_entries(Some(entries))
}
