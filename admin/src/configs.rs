//! Client quotas (DescribeClientQuotas, AlterClientQuotas), SCRAM credentials
//! (DescribeUserScramCredentials, AlterUserScramCredentials), and topic and broker configs
//! (DescribeConfigs with synonyms, IncrementalAlterConfigs). A SCRAM password is salted and
//! hashed here, as Kafka's admin client does: only the salt and the salted password cross the
//! wire.

use std::collections::BTreeMap;

use bytes::Bytes;
pub use kafka_lab_broker::security::credentials::ScramMechanism;
use kafka_lab_broker::security::credentials::{ScramCredential, MAX_SCRAM_ITERATIONS};
use kafka_protocol::messages::{
    alter_client_quotas_request, alter_user_scram_credentials_request,
    describe_client_quotas_request, describe_configs_request,
    describe_user_scram_credentials_request, incremental_alter_configs_request,
    AlterClientQuotasRequest, AlterUserScramCredentialsRequest, DescribeClientQuotasRequest,
    DescribeConfigsRequest, DescribeUserScramCredentialsRequest, IncrementalAlterConfigsRequest,
};

use crate::client::{check, s, AdminClient, AdminError, BrokerError};

/// A client-quota entity: `(entity type, name)` pairs, `user` before `client-id`; a `None`
/// name is the `<default>` entity of that type.
pub type QuotaEntity = Vec<(String, Option<String>)>;

/// How a DescribeClientQuotas filter component matches its entity type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntityMatch {
    /// The entity of this name.
    Exact(String),
    /// The `<default>` entity.
    Default,
    /// Any entity of the type, the default included.
    Any,
}

/// A SCRAM credential to create or replace.
#[derive(Debug, Clone)]
pub struct ScramUpsertion {
    /// The user.
    pub user: String,
    /// SCRAM-SHA-256 or SCRAM-SHA-512.
    pub mechanism: ScramMechanism,
    /// PBKDF2 iterations (Kafka accepts 4096 to 16384).
    pub iterations: i32,
    /// The password; it never leaves this process.
    pub password: String,
}

/// Quota values (`key → value`) per entity.
pub type DescribedQuotas = Vec<(QuotaEntity, BTreeMap<String, f64>)>;

/// Per user, the broker's answer to a credential change.
pub type ScramResults = Vec<(String, Result<(), BrokerError>)>;

/// Per user: their SCRAM mechanisms and iteration counts, or why they cannot be described
/// (RESOURCE_NOT_FOUND: the user has no SCRAM credential).
pub type DescribedScramUsers = Vec<(String, Result<Vec<(ScramMechanism, i32)>, BrokerError>)>;

/// Kafka's `ConfigResource.Type`: what a DescribeConfigs or IncrementalAlterConfigs resource is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigResourceType {
    /// A topic, named by the topic's name.
    Topic = 2,
    /// A broker, named by its node id; the empty name is the cluster-wide default.
    Broker = 4,
}

/// Kafka's `ConfigEntry.ConfigSource` name for a wire code, as kafka-configs.sh prints it.
pub fn config_source_name(code: i8) -> &'static str {
    match code {
        1 => "DYNAMIC_TOPIC_CONFIG",
        2 => "DYNAMIC_BROKER_CONFIG",
        3 => "DYNAMIC_DEFAULT_BROKER_CONFIG",
        4 => "STATIC_BROKER_CONFIG",
        5 => "DEFAULT_CONFIG",
        6 => "DYNAMIC_BROKER_LOGGER_CONFIG",
        7 => "CLIENT_METRICS_CONFIG",
        8 => "GROUP_CONFIG",
        _ => "UNKNOWN",
    }
}

/// `ConfigSource.DYNAMIC_TOPIC_CONFIG`.
pub const DYNAMIC_TOPIC_CONFIG: i8 = 1;
/// `ConfigSource.DYNAMIC_BROKER_CONFIG`.
pub const DYNAMIC_BROKER_CONFIG: i8 = 2;
/// `ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG`.
pub const DYNAMIC_DEFAULT_BROKER_CONFIG: i8 = 3;

/// One config of a resource with where its value comes from and the values it overrides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedConfig {
    /// The config's name.
    pub name: String,
    /// Its value; `None` when sensitive (or unset).
    pub value: Option<String>,
    /// Whether the broker hides the value.
    pub is_sensitive: bool,
    /// The `ConfigSource` code of the value.
    pub source: i8,
    /// `(source code, name, value)` of each synonym, the one in effect first.
    pub synonyms: Vec<(i8, String, Option<String>)>,
}

/// One IncrementalAlterConfigs operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigOp {
    /// SET the config to the value.
    Set(String, String),
    /// DELETE the override, so the default applies again.
    Delete(String),
}

impl AdminClient {
    /// Every config of one resource (with synonyms), sorted by name.
    pub fn describe_resource_configs(
        &mut self,
        resource_type: ConfigResourceType,
        name: &str,
    ) -> Result<Result<Vec<DescribedConfig>, BrokerError>, AdminError> {
        let request = DescribeConfigsRequest::default()
            .with_resources(vec![describe_configs_request::DescribeConfigsResource::default()
                .with_resource_type(resource_type as i8)
                .with_resource_name(s(name))
                .with_configuration_keys(None)])
            .with_include_synonyms(true);
        let response = self.call(&request)?;
        let result = response
            .results
            .first()
            .ok_or_else(|| AdminError::Protocol("DescribeConfigs answered no resource".into()))?;
        if let Err(e) = check(result.error_code, result.error_message.as_ref()) {
            return Ok(Err(e));
        }
        let mut configs: Vec<DescribedConfig> = result
            .configs
            .iter()
            .map(|c| DescribedConfig {
                name: c.name.to_string(),
                value: c.value.as_ref().map(|v| v.to_string()),
                is_sensitive: c.is_sensitive,
                source: c.config_source,
                synonyms: c
                    .synonyms
                    .iter()
                    .map(|y| {
                        (y.source, y.name.to_string(), y.value.as_ref().map(|v| v.to_string()))
                    })
                    .collect(),
            })
            .collect();
        configs.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Ok(configs))
    }

    /// Applies `ops` to one resource's configs in one IncrementalAlterConfigs request.
    pub fn incremental_alter_configs(
        &mut self,
        resource_type: ConfigResourceType,
        name: &str,
        ops: &[ConfigOp],
    ) -> Result<Result<(), BrokerError>, AdminError> {
        let configs = ops
            .iter()
            .map(|op| {
                let c = incremental_alter_configs_request::AlterableConfig::default();
                match op {
                    // AlterConfigOp.OpType: SET is 0, DELETE is 1.
                    ConfigOp::Set(k, v) => {
                        c.with_name(s(k)).with_config_operation(0).with_value(Some(s(v)))
                    }
                    ConfigOp::Delete(k) => c.with_name(s(k)).with_config_operation(1),
                }
            })
            .collect();
        let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
            incremental_alter_configs_request::AlterConfigsResource::default()
                .with_resource_type(resource_type as i8)
                .with_resource_name(s(name))
                .with_configs(configs),
        ]);
        let response = self.call(&request)?;
        let r = response.responses.first().ok_or_else(|| {
            AdminError::Protocol("IncrementalAlterConfigs answered no resource".into())
        })?;
        Ok(check(r.error_code, r.error_message.as_ref()))
    }

    /// The quotas of the entities matching `components` (with `strict`, entities with further
    /// entity types are left out).
    pub fn describe_client_quotas(
        &mut self,
        components: &[(&str, EntityMatch)],
        strict: bool,
    ) -> Result<Result<DescribedQuotas, BrokerError>, AdminError> {
        let components = components
            .iter()
            .map(|(entity_type, matching)| {
                let c = describe_client_quotas_request::ComponentData::default()
                    .with_entity_type(s(entity_type));
                match matching {
                    EntityMatch::Exact(name) => c.with_match_type(0).with_match(Some(s(name))),
                    EntityMatch::Default => c.with_match_type(1),
                    EntityMatch::Any => c.with_match_type(2),
                }
            })
            .collect();
        let request =
            DescribeClientQuotasRequest::default().with_components(components).with_strict(strict);
        let response = self.call(&request)?;
        if let Err(e) = check(response.error_code, response.error_message.as_ref()) {
            return Ok(Err(e));
        }
        Ok(Ok(response
            .entries
            .unwrap_or_default()
            .into_iter()
            .map(|entry| {
                let entity = entry
                    .entity
                    .iter()
                    .map(|e| {
                        (e.entity_type.to_string(), e.entity_name.as_ref().map(|n| n.to_string()))
                    })
                    .collect();
                let values = entry.values.iter().map(|v| (v.key.to_string(), v.value)).collect();
                (entity, values)
            })
            .collect()))
    }

    /// Sets (`Some`) or removes (`None`) quota values of one entity.
    pub fn alter_client_quotas(
        &mut self,
        entity: &QuotaEntity,
        ops: &[(String, Option<f64>)],
        validate_only: bool,
    ) -> Result<Result<(), BrokerError>, AdminError> {
        let entity = entity
            .iter()
            .map(|(t, name)| {
                alter_client_quotas_request::EntityData::default()
                    .with_entity_type(s(t))
                    .with_entity_name(name.as_deref().map(s))
            })
            .collect();
        let ops = ops
            .iter()
            .map(|(key, value)| {
                let op = alter_client_quotas_request::OpData::default().with_key(s(key));
                match value {
                    Some(value) => op.with_value(*value),
                    None => op.with_remove(true),
                }
            })
            .collect();
        let request = AlterClientQuotasRequest::default()
            .with_entries(vec![alter_client_quotas_request::EntryData::default()
                .with_entity(entity)
                .with_ops(ops)])
            .with_validate_only(validate_only);
        let response = self.call(&request)?;
        let entry = response
            .entries
            .first()
            .ok_or_else(|| AdminError::Protocol("AlterClientQuotas answered no entry".into()))?;
        Ok(check(entry.error_code, entry.error_message.as_ref()))
    }

    /// The SCRAM credentials of `users`, or of every user with one (`None`).
    pub fn describe_user_scram_credentials(
        &mut self,
        users: Option<&[String]>,
    ) -> Result<Result<DescribedScramUsers, BrokerError>, AdminError> {
        let users = users.map(|users| {
            users
                .iter()
                .map(|u| {
                    describe_user_scram_credentials_request::UserName::default().with_name(s(u))
                })
                .collect()
        });
        let response =
            self.call(&DescribeUserScramCredentialsRequest::default().with_users(users))?;
        if let Err(e) = check(response.error_code, response.error_message.as_ref()) {
            return Ok(Err(e));
        }
        let mut out = Vec::new();
        for result in &response.results {
            let described = match check(result.error_code, result.error_message.as_ref()) {
                Err(e) => Err(e),
                Ok(()) => Ok(result
                    .credential_infos
                    .iter()
                    .map(|c| {
                        ScramMechanism::from_code(c.mechanism)
                            .map(|m| (m, c.iterations))
                            .ok_or_else(|| {
                                AdminError::Protocol(format!(
                                    "unknown SCRAM mechanism {}",
                                    c.mechanism
                                ))
                            })
                    })
                    .collect::<Result<Vec<_>, _>>()?),
            };
            out.push((result.user.to_string(), described));
        }
        Ok(Ok(out))
    }

    /// Creates or replaces and deletes SCRAM credentials; per user, the broker's answer.
    pub fn alter_user_scram_credentials(
        &mut self,
        upsertions: &[ScramUpsertion],
        deletions: &[(String, ScramMechanism)],
    ) -> Result<ScramResults, AdminError> {
        let mut wire_upsertions = Vec::new();
        for u in upsertions {
            let mut salt = [0u8; 32];
            openssl::rand::rand_bytes(&mut salt)
                .map_err(|e| AdminError::Protocol(format!("no random salt: {e}")))?;
            // The broker refuses counts outside its range whatever the salted password is; the
            // clamp keeps a mistyped count from hashing for hours first.
            let salted = ScramCredential::salted_password(
                u.mechanism,
                u.password.as_bytes(),
                &salt,
                u.iterations.clamp(1, MAX_SCRAM_ITERATIONS),
            );
            wire_upsertions.push(
                alter_user_scram_credentials_request::ScramCredentialUpsertion::default()
                    .with_name(s(&u.user))
                    .with_mechanism(u.mechanism.code())
                    .with_iterations(u.iterations)
                    .with_salt(Bytes::copy_from_slice(&salt))
                    .with_salted_password(Bytes::from(salted)),
            );
        }
        let wire_deletions = deletions
            .iter()
            .map(|(user, mechanism)| {
                alter_user_scram_credentials_request::ScramCredentialDeletion::default()
                    .with_name(s(user))
                    .with_mechanism(mechanism.code())
            })
            .collect();
        let request = AlterUserScramCredentialsRequest::default()
            .with_upsertions(wire_upsertions)
            .with_deletions(wire_deletions);
        let response = self.call(&request)?;
        Ok(response
            .results
            .iter()
            .map(|r| (r.user.to_string(), check(r.error_code, r.error_message.as_ref())))
            .collect())
    }
}
