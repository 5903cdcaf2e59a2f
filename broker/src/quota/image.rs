//! Client quota configuration as the metadata image holds it: quota values per entity
//! (`user`, `client-id`, or both, each named or `<default>`), Kafka's precedence between them,
//! and DescribeClientQuotas' filters.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// Kafka's entity type name for users.
pub const USER: &str = "user";
/// Kafka's entity type name for client ids.
pub const CLIENT_ID: &str = "client-id";
/// Kafka's entity type for IP connection-rate quotas (not supported here).
pub const IP: &str = "ip";

/// A quota key and which traffic it limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum QuotaType {
    /// `producer_byte_rate`: bytes of Produce requests per second.
    Produce,
    /// `consumer_byte_rate`: bytes of Fetch responses per second.
    Fetch,
    /// `request_percentage`: request handling time, in percent of one thread, per window.
    Request,
}

impl QuotaType {
    /// Every quota type, in a fixed order.
    pub const ALL: [QuotaType; 3] = [QuotaType::Produce, QuotaType::Fetch, QuotaType::Request];

    /// The quota's config key, as Kafka names it.
    pub fn key(self) -> &'static str {
        match self {
            QuotaType::Produce => "producer_byte_rate",
            QuotaType::Fetch => "consumer_byte_rate",
            QuotaType::Request => "request_percentage",
        }
    }

    /// The type for a config key.
    pub fn from_key(key: &str) -> Option<Self> {
        QuotaType::ALL.into_iter().find(|t| t.key() == key)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One component of an entity: a specific name, or the `<default>` entity.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum EntityName {
    /// `<default>`: applies to every name without a more specific quota.
    Default,
    /// A user principal name or client id.
    Name(String),
}

impl EntityName {
    /// Wire form: `None` is the default entity.
    pub fn from_wire(name: Option<&str>) -> Self {
        match name {
            None => EntityName::Default,
            Some(name) => EntityName::Name(name.to_owned()),
        }
    }

    /// Wire form: the default entity is `None`.
    pub fn to_wire(&self) -> Option<&str> {
        match self {
            EntityName::Default => None,
            EntityName::Name(name) => Some(name),
        }
    }
}

impl std::fmt::Display for EntityName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EntityName::Default => f.write_str("<default>"),
            EntityName::Name(name) => f.write_str(name),
        }
    }
}

/// A client quota entity: a user, a client id, or a user and a client id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ClientQuotaEntity {
    /// The `user` component, if any.
    pub user: Option<EntityName>,
    /// The `client-id` component, if any.
    #[serde(rename = "client-id")]
    pub client_id: Option<EntityName>,
}

impl ClientQuotaEntity {
    /// Builds an entity from wire `(entity_type, entity_name)` pairs, with Kafka's validation.
    pub fn from_wire<'a>(
        components: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
    ) -> Result<Self, ApiError> {
        let invalid = |m: String| ApiError::new(ResponseError::InvalidRequest, m);
        let mut entity = ClientQuotaEntity { user: None, client_id: None };
        let mut any = false;
        for (entity_type, name) in components {
            any = true;
            let slot = match entity_type {
                USER => &mut entity.user,
                CLIENT_ID => &mut entity.client_id,
                IP => {
                    return Err(invalid(
                        "ip quotas (connection_creation_rate) are not supported by this broker"
                            .into(),
                    ))
                }
                other => {
                    return Err(invalid(format!("Unhandled client quota entity type: {other}")))
                }
            };
            if slot.is_some() {
                return Err(invalid(format!("Duplicate {entity_type} in client quota entity")));
            }
            *slot = Some(EntityName::from_wire(name));
        }
        if !any {
            return Err(invalid("Invalid empty client quota entity".into()));
        }
        Ok(entity)
    }

    /// Wire `(entity_type, entity_name)` pairs, user first.
    pub fn to_wire(&self) -> Vec<(&'static str, Option<&str>)> {
        let mut out = Vec::new();
        if let Some(user) = &self.user {
            out.push((USER, user.to_wire()));
        }
        if let Some(client) = &self.client_id {
            out.push((CLIENT_ID, client.to_wire()));
        }
        out
    }
}

impl std::fmt::Display for ClientQuotaEntity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if let Some(user) = &self.user {
            parts.push(format!("user={user}"));
        }
        if let Some(client) = &self.client_id {
            parts.push(format!("client-id={client}"));
        }
        f.write_str(&parts.join(","))
    }
}

/// Validates a quota value for a key, as Kafka's controller does: known keys only, integral
/// byte rates, positive values.
pub fn validate_quota(key: &str, value: f64) -> Result<QuotaType, ApiError> {
    let invalid = |m: String| ApiError::new(ResponseError::InvalidRequest, m);
    let quota = QuotaType::from_key(key).ok_or_else(|| {
        invalid(format!(
            "Unknown quota key {key}; supported: producer_byte_rate, consumer_byte_rate, \
             request_percentage"
        ))
    })?;
    if !value.is_finite() || value <= 0.0 {
        return Err(invalid(format!("Quota {key} must be a positive number, got {value}")));
    }
    if quota != QuotaType::Request && value.fract() != 0.0 {
        return Err(invalid(format!("Quota {key} must be an integer, got {value}")));
    }
    if quota != QuotaType::Request && value > i64::MAX as f64 {
        return Err(invalid(format!("Quota {key} is too large for a LONG: {value}")));
    }
    Ok(quota)
}

/// A quota value, compared bit for bit so records and the image can be `Eq`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(transparent)]
pub struct QuotaValue(pub f64);

impl PartialEq for QuotaValue {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}

impl Eq for QuotaValue {}

/// Every configured client quota.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientQuotaImage {
    entities: BTreeMap<ClientQuotaEntity, BTreeMap<String, QuotaValue>>,
}

/// The sensor a request's usage is recorded in: Kafka's quota metric tags. Clients that share
/// a quota entity (all client ids of user `alice` under `/config/users/alice`) share a sensor.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MetricTags {
    /// The `user` tag (empty when the quota is not per user).
    pub user: String,
    /// The `client-id` tag (empty when the quota is not per client id).
    pub client_id: String,
}

impl ClientQuotaImage {
    /// Applies a `ClientQuota` metadata record.
    pub fn apply(&mut self, entity: &ClientQuotaEntity, key: &str, value: Option<QuotaValue>) {
        match value {
            Some(value) => {
                self.entities.entry(entity.clone()).or_default().insert(key.to_owned(), value);
            }
            None => {
                if let Some(values) = self.entities.get_mut(entity) {
                    values.remove(key);
                    if values.is_empty() {
                        self.entities.remove(entity);
                    }
                }
            }
        }
    }

    /// Every quota value, by entity then key.
    pub fn iter(&self) -> impl Iterator<Item = (&ClientQuotaEntity, &str, QuotaValue)> + '_ {
        self.entities.iter().flat_map(|(entity, values)| {
            values.iter().map(move |(key, value)| (entity, key.as_str(), *value))
        })
    }

    /// The quota values of one entity.
    pub fn values(&self, entity: &ClientQuotaEntity) -> BTreeMap<String, f64> {
        self.entities
            .get(entity)
            .map(|v| v.iter().map(|(k, v)| (k.clone(), v.0)).collect())
            .unwrap_or_default()
    }

    /// Whether any quota is configured at all (the fast path skips quota work when not).
    pub fn is_empty(&self) -> bool {
        self.entities.is_empty()
    }

    /// The quota of type `quota` for a request from `user` with `client_id`, and the sensor
    /// it is measured in, following Kafka's precedence (most specific first):
    /// `/config/users/<user>/clients/<client-id>`, `/config/users/<user>/clients/<default>`,
    /// `/config/users/<user>`, `/config/users/<default>/clients/<client-id>`,
    /// `/config/users/<default>/clients/<default>`, `/config/users/<default>`,
    /// `/config/clients/<client-id>`, `/config/clients/<default>`.
    pub fn resolve(
        &self,
        quota: QuotaType,
        user: &str,
        client_id: &str,
    ) -> Option<(MetricTags, f64)> {
        use EntityName::{Default, Name};
        let (u, c) = (|| Some(Name(user.to_owned())), || Some(Name(client_id.to_owned())));
        // Which tags the sensor gets: (user tag, client-id tag).
        let candidates = [
            (u(), c(), (true, true)),
            (u(), Some(Default), (true, true)),
            (u(), None, (true, false)),
            (Some(Default), c(), (true, true)),
            (Some(Default), Some(Default), (true, true)),
            (Some(Default), None, (true, false)),
            (None, c(), (false, true)),
            (None, Some(Default), (false, true)),
        ];
        candidates.into_iter().find_map(|(user_name, client_name, (user_tag, client_tag))| {
            let entity = ClientQuotaEntity { user: user_name, client_id: client_name };
            let value = self.entities.get(&entity)?.get(quota.key())?;
            let tag = |on: bool, name: &str| if on { name.to_owned() } else { String::new() };
            let tags =
                MetricTags { user: tag(user_tag, user), client_id: tag(client_tag, client_id) };
            Some((tags, value.0))
        })
    }

    /// DescribeClientQuotas: the entities matching every component of the filter (and, when
    /// `strict`, having no other entity types), with their values.
    pub fn describe(
        &self,
        filter: &[ComponentFilter],
        strict: bool,
    ) -> Vec<(ClientQuotaEntity, BTreeMap<String, f64>)> {
        self.entities
            .iter()
            .filter(|(entity, _)| {
                let component = |t: &str| match t {
                    USER => entity.user.as_ref(),
                    _ => entity.client_id.as_ref(),
                };
                let matches =
                    filter.iter().all(|f| match (component(&f.entity_type), &f.matching) {
                        (None, _) => false,
                        (Some(_), Match::Any) => true,
                        (Some(name), Match::Default) => *name == EntityName::Default,
                        (Some(name), Match::Exact(wanted)) => {
                            *name == EntityName::Name(wanted.clone())
                        }
                    });
                let types = entity.user.is_some() as usize + entity.client_id.is_some() as usize;
                matches && (!strict || types == filter.len())
            })
            .map(|(entity, values)| {
                (entity.clone(), values.iter().map(|(k, v)| (k.clone(), v.0)).collect())
            })
            .collect()
    }
}

/// How a DescribeClientQuotas component matches an entity's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// `MATCH_TYPE_EXACT` (0): this name.
    Exact(String),
    /// `MATCH_TYPE_DEFAULT` (1): the `<default>` entity.
    Default,
    /// `MATCH_TYPE_SPECIFIED` (2): any name or the default, as long as the type is present.
    Any,
}

/// One component of a DescribeClientQuotas filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentFilter {
    /// `user` or `client-id`.
    pub entity_type: String,
    /// How the name must match.
    pub matching: Match,
}

impl ComponentFilter {
    /// Validates a wire component as Kafka does.
    pub fn from_wire(
        entity_type: &str,
        match_type: i8,
        name: Option<&str>,
    ) -> Result<Self, ApiError> {
        let invalid = |m: String| ApiError::new(ResponseError::InvalidRequest, m);
        if entity_type != USER && entity_type != CLIENT_ID {
            return Err(invalid(if entity_type == IP {
                "ip quotas are not supported by this broker".into()
            } else {
                format!("Custom entity type {entity_type} not supported")
            }));
        }
        let matching = match (match_type, name) {
            (0, Some(name)) => Match::Exact(name.to_owned()),
            (0, None) => {
                return Err(invalid(format!(
                    "Filter for {entity_type} with match type EXACT must name an entity"
                )))
            }
            (1, _) => Match::Default,
            (2, _) => Match::Any,
            (other, _) => {
                return Err(invalid(format!("Unknown match type {other} for {entity_type}")))
            }
        };
        Ok(ComponentFilter { entity_type: entity_type.to_owned(), matching })
    }
}

/// The index of a quota type in per-type arrays.
pub(crate) fn type_index(quota: QuotaType) -> usize {
    quota.index()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entity(user: Option<Option<&str>>, client: Option<Option<&str>>) -> ClientQuotaEntity {
        ClientQuotaEntity {
            user: user.map(EntityName::from_wire),
            client_id: client.map(EntityName::from_wire),
        }
    }

    #[test]
    fn precedence_follows_kafka_from_most_to_least_specific() {
        let levels = [
            (entity(Some(Some("alice")), Some(Some("app"))), 1.0, ("alice", "app")),
            (entity(Some(Some("alice")), Some(None)), 2.0, ("alice", "app")),
            (entity(Some(Some("alice")), None), 3.0, ("alice", "")),
            (entity(Some(None), Some(Some("app"))), 4.0, ("alice", "app")),
            (entity(Some(None), Some(None)), 5.0, ("alice", "app")),
            (entity(Some(None), None), 6.0, ("alice", "")),
            (entity(None, Some(Some("app"))), 7.0, ("", "app")),
            (entity(None, Some(None)), 8.0, ("", "app")),
        ];
        let mut image = ClientQuotaImage::default();
        for (e, v, _) in &levels {
            image.apply(e, "producer_byte_rate", Some(QuotaValue(*v)));
        }
        // Remove the most specific level one at a time: the next one takes over.
        for (e, v, (user, client)) in &levels {
            let (tags, value) = image.resolve(QuotaType::Produce, "alice", "app").unwrap();
            assert_eq!(value, *v, "{e}");
            assert_eq!((tags.user.as_str(), tags.client_id.as_str()), (*user, *client), "{e}");
            assert!(image.resolve(QuotaType::Fetch, "alice", "app").is_none());
            image.apply(e, "producer_byte_rate", None);
        }
        assert!(image.resolve(QuotaType::Produce, "alice", "app").is_none());
        assert!(image.is_empty());
    }

    #[test]
    fn other_users_and_clients_fall_through_to_defaults_only() {
        let mut image = ClientQuotaImage::default();
        image.apply(
            &entity(Some(Some("alice")), None),
            "producer_byte_rate",
            Some(QuotaValue(100.0)),
        );
        assert!(image.resolve(QuotaType::Produce, "bob", "app").is_none());
        image.apply(&entity(None, Some(None)), "producer_byte_rate", Some(QuotaValue(50.0)));
        assert_eq!(image.resolve(QuotaType::Produce, "bob", "x").unwrap().1, 50.0);
        assert_eq!(image.resolve(QuotaType::Produce, "alice", "x").unwrap().1, 100.0);
    }

    #[test]
    fn describe_filters_match_exact_default_any_and_strict() {
        let mut image = ClientQuotaImage::default();
        let alice = entity(Some(Some("alice")), None);
        let alice_app = entity(Some(Some("alice")), Some(Some("app")));
        let default_user = entity(Some(None), None);
        let app = entity(None, Some(Some("app")));
        for e in [&alice, &alice_app, &default_user, &app] {
            image.apply(e, "consumer_byte_rate", Some(QuotaValue(10.0)));
        }
        let f = |t: &str, m: Match| ComponentFilter { entity_type: t.into(), matching: m };
        let names = |found: Vec<(ClientQuotaEntity, BTreeMap<String, f64>)>| {
            found.into_iter().map(|(e, _)| e.to_string()).collect::<Vec<_>>()
        };
        assert_eq!(
            names(image.describe(&[f(USER, Match::Exact("alice".into()))], false)),
            ["user=alice", "user=alice,client-id=app"]
        );
        assert_eq!(
            names(image.describe(&[f(USER, Match::Exact("alice".into()))], true)),
            ["user=alice"]
        );
        assert_eq!(names(image.describe(&[f(USER, Match::Default)], false)), ["user=<default>"]);
        assert_eq!(names(image.describe(&[f(CLIENT_ID, Match::Any)], true)), ["client-id=app"]);
        assert_eq!(image.describe(&[], false).len(), 4);
        assert!(image.describe(&[], true).is_empty());
    }

    #[test]
    fn invalid_entities_filters_and_values_are_refused() {
        assert!(ClientQuotaEntity::from_wire([]).is_err());
        assert!(ClientQuotaEntity::from_wire([(USER, Some("a")), (USER, Some("b"))]).is_err());
        assert!(ClientQuotaEntity::from_wire([("group", Some("a"))]).is_err());
        assert!(ComponentFilter::from_wire(USER, 0, None).is_err());
        assert!(ComponentFilter::from_wire(USER, 3, None).is_err());
        assert!(validate_quota("producer_byte_rate", -1.0).is_err());
        assert!(validate_quota("producer_byte_rate", 1.5).is_err());
        assert!(validate_quota("bogus", 1.0).is_err());
        assert_eq!(validate_quota("request_percentage", 12.5).unwrap(), QuotaType::Request);
    }
}
