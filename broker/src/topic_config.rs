//! Topic-level configs: which Kafka topic properties this broker honours, their broker-level
//! defaults, validation, and how they become a [`LogConfig`].

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;

use crate::broker::ApiError;
use crate::config::BrokerConfig;
use crate::log::LogConfig;

/// Where a described config value comes from (DescribeConfigs `config_source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    /// Set on the topic (DYNAMIC_TOPIC_CONFIG).
    Topic = 1,
    /// From the broker's configuration file (STATIC_BROKER_CONFIG).
    StaticBroker = 4,
    /// Kafka's default (DEFAULT_CONFIG).
    Default = 5,
}

/// One effective topic config.
#[derive(Debug, Clone)]
pub struct ConfigEntry {
    /// Kafka property name.
    pub name: &'static str,
    /// Effective value.
    pub value: String,
    /// Where the value comes from.
    pub source: ConfigSource,
}

/// The topic properties this broker implements, with the broker property that supplies the
/// default. Anything else is rejected with INVALID_CONFIG rather than silently ignored.
const TOPIC_CONFIGS: &[&str] = &[
    "cleanup.policy",
    "flush.messages",
    "flush.ms",
    "index.interval.bytes",
    "max.message.bytes",
    "retention.bytes",
    "retention.ms",
    "segment.bytes",
    "segment.ms",
];

fn broker_default(config: &BrokerConfig, name: &str) -> (String, ConfigSource) {
    let d = BrokerConfig::default();
    let (value, default) = match name {
        "cleanup.policy" => return ("delete".into(), ConfigSource::Default),
        "flush.messages" => (
            config.log_flush_interval_messages.to_string(),
            d.log_flush_interval_messages.to_string(),
        ),
        "flush.ms" => {
            (config.log_flush_interval_ms.unwrap_or(i64::MAX).to_string(), i64::MAX.to_string())
        }
        "index.interval.bytes" => {
            (config.log_index_interval_bytes.to_string(), d.log_index_interval_bytes.to_string())
        }
        "max.message.bytes" => {
            (config.message_max_bytes.to_string(), d.message_max_bytes.to_string())
        }
        "retention.bytes" => {
            (config.log_retention_bytes.to_string(), d.log_retention_bytes.to_string())
        }
        "retention.ms" => (config.retention_ms().to_string(), d.retention_ms().to_string()),
        "segment.bytes" => (config.log_segment_bytes.to_string(), d.log_segment_bytes.to_string()),
        "segment.ms" => (config.roll_ms().to_string(), d.roll_ms().to_string()),
        _ => unreachable!("not a topic config: {name}"),
    };
    let source = if value == default { ConfigSource::Default } else { ConfigSource::StaticBroker };
    (value, source)
}

/// Checks that `name` is a supported topic config and `value` (when setting) is valid.
pub fn validate(name: &str, value: Option<&str>) -> Result<(), ApiError> {
    let invalid = |msg: String| Err(ApiError::new(ResponseError::InvalidConfig, msg));
    if !TOPIC_CONFIGS.contains(&name) {
        return invalid(format!(
            "unknown or unsupported topic config `{name}`; supported: {}",
            TOPIC_CONFIGS.join(", ")
        ));
    }
    let Some(value) = value else { return Ok(()) };
    if name == "cleanup.policy" {
        return match value {
            "delete" => Ok(()),
            v if v.split(',').any(|p| p.trim() == "compact") => invalid(format!(
                "cleanup.policy={v}: log compaction is not implemented by kafka-lab-broker yet; use `delete`"
            )),
            v => invalid(format!("cleanup.policy={v}: expected `delete` or `compact`")),
        };
    }
    let Ok(number) = value.trim().parse::<i64>() else {
        return invalid(format!("{name}={value}: expected an integer"));
    };
    let minimum = match name {
        "retention.ms" | "retention.bytes" => -1,
        "segment.bytes" => 14,
        "segment.ms" | "flush.messages" | "flush.ms" => 1,
        _ => 0,
    };
    if number < minimum {
        return invalid(format!("{name}={value}: must be at least {minimum}"));
    }
    Ok(())
}

/// Every supported topic config with its effective value and source, in name order.
pub fn describe(config: &BrokerConfig, overrides: &BTreeMap<String, String>) -> Vec<ConfigEntry> {
    TOPIC_CONFIGS
        .iter()
        .map(|name| match overrides.get(*name) {
            Some(value) => ConfigEntry { name, value: value.clone(), source: ConfigSource::Topic },
            None => {
                let (value, source) = broker_default(config, name);
                ConfigEntry { name, value, source }
            }
        })
        .collect()
}

/// The log settings of a topic with `overrides` on a broker configured as `config`.
pub fn log_config(config: &BrokerConfig, overrides: &BTreeMap<String, String>) -> LogConfig {
    let effective: BTreeMap<&str, i64> = describe(config, overrides)
        .into_iter()
        .filter_map(|e| e.value.parse::<i64>().ok().map(|v| (e.name, v)))
        .collect();
    LogConfig {
        segment_bytes: effective["segment.bytes"] as u64,
        segment_ms: effective["segment.ms"],
        retention_ms: effective["retention.ms"],
        retention_bytes: effective["retention.bytes"],
        index_interval_bytes: effective["index.interval.bytes"].clamp(0, u32::MAX as i64) as u32,
        flush_interval_messages: effective["flush.messages"] as u64,
        flush_interval_ms: effective["flush.ms"],
    }
}

/// The largest batch a Produce may carry for a topic with `overrides`.
pub fn max_message_bytes(config: &BrokerConfig, overrides: &BTreeMap<String, String>) -> i64 {
    overrides
        .get("max.message.bytes")
        .and_then(|v| v.parse().ok())
        .unwrap_or(config.message_max_bytes as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_win_over_broker_defaults() {
        let config = BrokerConfig { log_retention_bytes: 1000, ..BrokerConfig::default() };
        let overrides = BTreeMap::from([("retention.ms".to_owned(), "60000".to_owned())]);
        let log = log_config(&config, &overrides);
        assert_eq!(log.retention_ms, 60000);
        assert_eq!(log.retention_bytes, 1000);
        let described = describe(&config, &overrides);
        let retention_bytes = described.iter().find(|e| e.name == "retention.bytes").unwrap();
        assert_eq!(retention_bytes.source, ConfigSource::StaticBroker);
        let retention_ms = described.iter().find(|e| e.name == "retention.ms").unwrap();
        assert_eq!(retention_ms.source, ConfigSource::Topic);
    }

    #[test]
    fn compaction_is_refused_with_a_reason() {
        let err = validate("cleanup.policy", Some("compact")).unwrap_err();
        assert_eq!(err.error, ResponseError::InvalidConfig);
        assert!(err.message.contains("not implemented"), "{}", err.message);
        assert!(validate("retention.ms", Some("soon")).is_err());
        assert!(validate("unclean.leader.election.enable", Some("true")).is_err());
    }
}
