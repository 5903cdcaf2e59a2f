//! Topic-level configs: every topic config Apache Kafka 4.1 defines (`LogConfig`), with its
//! type, validator, default and broker-level synonyms (`ServerTopicConfigSynonyms`), how
//! DescribeConfigs reports it, and how the effective values become a [`LogConfig`] and an
//! [`AppendPolicy`].
//!
//! Configs fall in three groups: applied here (retention, segments, flushing, indexing,
//! `max.message.bytes`, compression, timestamps, `min.insync.replicas`, the controller's
//! `unclean.leader.election.enable`); accepted and stored
//! because they have no effect on one node without compaction or tiered storage (throttled
//! replicas, compaction lags, `preallocate`, …); and refused
//! with INVALID_CONFIG at values that need a feature this broker lacks (`cleanup.policy`
//! containing `compact`, `remote.storage.enable=true`). Names Kafka does not define, or
//! removed in 4.0 (`message.format.version`, `message.timestamp.difference.max.ms`), are
//! refused as Kafka refuses them.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;

use crate::config::BrokerConfig;
use crate::error::ApiError;
use crate::log::compression::Codec;
use crate::log::validator::{AppendPolicy, TimestampType};
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

/// Kafka's `ConfigDef.Type`, with DescribeConfigs' `config_type` codes (v3+).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    /// `true`/`false`, case-insensitive.
    Boolean = 1,
    /// Any string the validator accepts.
    String = 2,
    /// 32-bit integer.
    Int = 3,
    /// 64-bit integer.
    Long = 5,
    /// Floating point.
    Double = 6,
    /// Comma-separated list.
    List = 7,
}

/// Kafka's validators of topic configs.
#[derive(Debug, Clone, Copy)]
enum Validator {
    /// Anything of the type.
    Any,
    /// `Range.atLeast`.
    AtLeast(i64),
    /// `Range.between`, inclusive.
    Between(i64, i64),
    /// gzip's level validator: `[1,...,9]` or -1.
    GzipLevel,
    /// `Range.between` for a double.
    Ratio,
    /// `ValidString.in`.
    OneOf(&'static [&'static str]),
    /// `ValidList.in`.
    ListOf(&'static [&'static str]),
    /// `ThrottledReplicaListValidator`: `*` or `partition:broker` pairs.
    ThrottledReplicas,
}

/// What this broker does with a config's value.
#[derive(Debug, Clone, Copy)]
enum Support {
    /// Honoured.
    Applied,
    /// Accepted and stored; no effect on a single broker without compaction or tiered storage.
    Stored,
    /// Accepted only at values that do not ask for tiered storage.
    NeedsTieredStorage,
    /// Accepted only at values that do not ask for compaction.
    NeedsCompaction,
}

/// A broker property that supplies a topic config's default (`ServerTopicConfigSynonyms`).
struct Synonym {
    /// The broker property.
    name: &'static str,
    /// Milliseconds per unit (`log.retention.hours` is 3,600,000), 1 for most.
    unit_ms: i64,
    /// Kafka's default of the broker property, `None` where Kafka has none (`log.roll.ms`).
    default: Option<&'static str>,
    /// The value set in this broker's configuration, `None` if not set there (or not a
    /// property this broker reads, in which case Kafka's default applies).
    configured: fn(&BrokerConfig) -> Option<String>,
}

/// One topic config as Kafka 4.1 defines it.
struct Def {
    name: &'static str,
    config_type: ConfigType,
    /// `LogConfig`'s default, the value when neither topic nor broker sets it.
    default: &'static str,
    validator: Validator,
    synonyms: &'static [Synonym],
    support: Support,
    /// Kafka keeps it out of DescribeConfigs unless set (`defineInternal`).
    internal: bool,
    documentation: &'static str,
}

const fn unset(_: &BrokerConfig) -> Option<String> {
    None
}

/// `Some(value)` when it differs from this broker's built-in default, i.e. was configured.
fn changed<T: PartialEq + ToString>(value: T, default: T) -> Option<String> {
    (value != default).then(|| value.to_string())
}

const fn synonym(name: &'static str, default: &'static str) -> Synonym {
    Synonym { name, unit_ms: 1, default: Some(default), configured: unset }
}

const LONG_MAX: &str = "9223372036854775807";
const HOUR_MS: i64 = 3_600_000;
const CODECS: &[&str] = &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"];

/// Every topic config of Kafka 4.1, in name order.
const DEFS: &[Def] = &[
    Def {
        name: "cleanup.policy",
        config_type: ConfigType::List,
        default: "delete",
        validator: Validator::ListOf(&["compact", "delete"]),
        synonyms: &[synonym("log.cleanup.policy", "delete")],
        support: Support::NeedsCompaction,
        internal: false,
        documentation: "Retention policy of the log's segments: `delete` discards segments past \
            retention.ms/retention.bytes; `compact` (log compaction, not implemented by \
            kafka-lab-broker) keeps the latest value per key.",
    },
    Def {
        name: "compression.gzip.level",
        config_type: ConfigType::Int,
        default: "-1",
        validator: Validator::GzipLevel,
        synonyms: &[synonym("compression.gzip.level", "-1")],
        support: Support::Applied,
        internal: false,
        documentation: "Level of gzip compression when compression.type is gzip.",
    },
    Def {
        name: "compression.lz4.level",
        config_type: ConfigType::Int,
        default: "9",
        validator: Validator::Between(1, 17),
        synonyms: &[synonym("compression.lz4.level", "9")],
        support: Support::Applied,
        internal: false,
        documentation: "Level of lz4 compression when compression.type is lz4.",
    },
    Def {
        name: "compression.type",
        config_type: ConfigType::String,
        default: "producer",
        validator: Validator::OneOf(CODECS),
        synonyms: &[Synonym {
            name: "compression.type",
            unit_ms: 1,
            default: Some("producer"),
            configured: |c| changed(c.compression_type.clone(), "producer".into()),
        }],
        support: Support::Applied,
        internal: false,
        documentation: "Codec the topic's batches are stored with: gzip, snappy, lz4, zstd, \
            uncompressed, or producer (keep the producer's codec).",
    },
    Def {
        name: "compression.zstd.level",
        config_type: ConfigType::Int,
        default: "3",
        validator: Validator::Between(-131072, 22),
        synonyms: &[synonym("compression.zstd.level", "3")],
        support: Support::Applied,
        internal: false,
        documentation: "Level of zstd compression when compression.type is zstd.",
    },
    Def {
        name: "delete.retention.ms",
        config_type: ConfigType::Long,
        default: "86400000",
        validator: Validator::AtLeast(0),
        synonyms: &[synonym("log.cleaner.delete.retention.ms", "86400000")],
        support: Support::Stored,
        internal: false,
        documentation: "How long delete tombstones are kept on compacted topics.",
    },
    Def {
        name: "file.delete.delay.ms",
        config_type: ConfigType::Long,
        default: "60000",
        validator: Validator::AtLeast(0),
        synonyms: &[synonym("log.segment.delete.delay.ms", "60000")],
        support: Support::Stored,
        internal: false,
        documentation: "How long a deleted segment's files stay on disk before removal.",
    },
    Def {
        name: "flush.messages",
        config_type: ConfigType::Long,
        default: LONG_MAX,
        validator: Validator::AtLeast(1),
        synonyms: &[Synonym {
            name: "log.flush.interval.messages",
            unit_ms: 1,
            default: Some(LONG_MAX),
            configured: |c| changed(c.log_flush_interval_messages, i64::MAX),
        }],
        support: Support::Applied,
        internal: false,
        documentation: "fsync the log after this many appended messages.",
    },
    Def {
        name: "flush.ms",
        config_type: ConfigType::Long,
        default: LONG_MAX,
        validator: Validator::AtLeast(0),
        synonyms: &[
            Synonym {
                name: "log.flush.interval.ms",
                unit_ms: 1,
                default: None,
                configured: |c| c.log_flush_interval_ms.map(|v| v.to_string()),
            },
            synonym("log.flush.scheduler.interval.ms", LONG_MAX),
        ],
        support: Support::Applied,
        internal: false,
        documentation: "fsync the log when its oldest unflushed message is this old.",
    },
    Def {
        name: "follower.replication.throttled.replicas",
        config_type: ConfigType::List,
        default: "",
        validator: Validator::ThrottledReplicas,
        synonyms: &[],
        support: Support::Stored,
        internal: false,
        documentation: "Replicas (`partition:broker`, or `*`) whose replication is throttled on \
            the follower side.",
    },
    Def {
        name: "index.interval.bytes",
        config_type: ConfigType::Int,
        default: "4096",
        validator: Validator::AtLeast(0),
        synonyms: &[Synonym {
            name: "log.index.interval.bytes",
            unit_ms: 1,
            default: Some("4096"),
            configured: |c| changed(c.log_index_interval_bytes, 4096),
        }],
        support: Support::Applied,
        internal: false,
        documentation: "Bytes of log between two entries of the offset index.",
    },
    Def {
        name: "leader.replication.throttled.replicas",
        config_type: ConfigType::List,
        default: "",
        validator: Validator::ThrottledReplicas,
        synonyms: &[],
        support: Support::Stored,
        internal: false,
        documentation: "Replicas (`partition:broker`, or `*`) whose replication is throttled on \
            the leader side.",
    },
    Def {
        name: "local.retention.bytes",
        config_type: ConfigType::Long,
        default: "-2",
        validator: Validator::AtLeast(-2),
        synonyms: &[synonym("log.local.retention.bytes", "-2")],
        support: Support::Stored,
        internal: false,
        documentation: "With tiered storage, the local size limit of a partition; -2 means \
            retention.bytes.",
    },
    Def {
        name: "local.retention.ms",
        config_type: ConfigType::Long,
        default: "-2",
        validator: Validator::AtLeast(-2),
        synonyms: &[synonym("log.local.retention.ms", "-2")],
        support: Support::Stored,
        internal: false,
        documentation: "With tiered storage, how long segments stay local; -2 means retention.ms.",
    },
    Def {
        name: "max.compaction.lag.ms",
        config_type: ConfigType::Long,
        default: LONG_MAX,
        validator: Validator::AtLeast(1),
        synonyms: &[synonym("log.cleaner.max.compaction.lag.ms", LONG_MAX)],
        support: Support::Stored,
        internal: false,
        documentation: "Longest time a message stays ineligible for compaction.",
    },
    Def {
        name: "max.message.bytes",
        config_type: ConfigType::Int,
        default: "1048588",
        validator: Validator::AtLeast(0),
        synonyms: &[Synonym {
            name: "message.max.bytes",
            unit_ms: 1,
            default: Some("1048588"),
            configured: |c| changed(c.message_max_bytes, 1_048_588),
        }],
        support: Support::Applied,
        internal: false,
        documentation: "Largest record batch accepted (after compression if the broker \
            recompresses).",
    },
    Def {
        name: "message.downconversion.enable",
        config_type: ConfigType::Boolean,
        default: "true",
        validator: Validator::Any,
        synonyms: &[synonym("log.message.downconversion.enable", "true")],
        support: Support::Stored,
        internal: true,
        documentation: "Deprecated no-op: Kafka 4 never down-converts batches.",
    },
    Def {
        name: "message.timestamp.after.max.ms",
        config_type: ConfigType::Long,
        default: "3600000",
        validator: Validator::AtLeast(0),
        synonyms: &[Synonym {
            name: "log.message.timestamp.after.max.ms",
            unit_ms: 1,
            default: Some("3600000"),
            configured: |c| changed(c.log_message_timestamp_after_max_ms, 3_600_000),
        }],
        support: Support::Applied,
        internal: false,
        documentation: "With CreateTime, how far a record's timestamp may be ahead of the \
            broker's clock; later ones are rejected with INVALID_TIMESTAMP.",
    },
    Def {
        name: "message.timestamp.before.max.ms",
        config_type: ConfigType::Long,
        default: LONG_MAX,
        validator: Validator::AtLeast(0),
        synonyms: &[Synonym {
            name: "log.message.timestamp.before.max.ms",
            unit_ms: 1,
            default: Some(LONG_MAX),
            configured: |c| changed(c.log_message_timestamp_before_max_ms, i64::MAX),
        }],
        support: Support::Applied,
        internal: false,
        documentation: "With CreateTime, how far a record's timestamp may be behind the \
            broker's clock; older ones are rejected with INVALID_TIMESTAMP.",
    },
    Def {
        name: "message.timestamp.type",
        config_type: ConfigType::String,
        default: "CreateTime",
        validator: Validator::OneOf(&["CreateTime", "LogAppendTime"]),
        synonyms: &[Synonym {
            name: "log.message.timestamp.type",
            unit_ms: 1,
            default: Some("CreateTime"),
            configured: |c| changed(c.log_message_timestamp_type.clone(), "CreateTime".into()),
        }],
        support: Support::Applied,
        internal: false,
        documentation: "CreateTime keeps the producer's timestamps; LogAppendTime stamps each \
            batch with the broker's time on append.",
    },
    Def {
        name: "min.cleanable.dirty.ratio",
        config_type: ConfigType::Double,
        default: "0.5",
        validator: Validator::Ratio,
        synonyms: &[synonym("log.cleaner.min.cleanable.ratio", "0.5")],
        support: Support::Stored,
        internal: false,
        documentation: "Share of uncompacted log that makes a compacted log eligible for \
            cleaning.",
    },
    Def {
        name: "min.compaction.lag.ms",
        config_type: ConfigType::Long,
        default: "0",
        validator: Validator::AtLeast(0),
        synonyms: &[synonym("log.cleaner.min.compaction.lag.ms", "0")],
        support: Support::Stored,
        internal: false,
        documentation: "Shortest time a message stays uncompacted.",
    },
    Def {
        name: "min.insync.replicas",
        config_type: ConfigType::Int,
        default: "1",
        validator: Validator::AtLeast(1),
        synonyms: &[Synonym {
            name: "min.insync.replicas",
            unit_ms: 1,
            default: Some("1"),
            configured: |c| changed(c.min_insync_replicas, 1),
        }],
        support: Support::Applied,
        internal: false,
        documentation: "In-sync replicas an acks=all write needs; this broker's ISR is itself \
            alone, so a value above 1 refuses acks=all with NOT_ENOUGH_REPLICAS.",
    },
    Def {
        name: "preallocate",
        config_type: ConfigType::Boolean,
        default: "false",
        validator: Validator::Any,
        synonyms: &[synonym("log.preallocate", "false")],
        support: Support::Stored,
        internal: false,
        documentation: "Whether a new segment's file is preallocated on disk.",
    },
    Def {
        name: "remote.log.copy.disable",
        config_type: ConfigType::Boolean,
        default: "false",
        validator: Validator::Any,
        synonyms: &[],
        support: Support::Stored,
        internal: false,
        documentation: "With tiered storage, stop copying segments to remote storage.",
    },
    Def {
        name: "remote.log.delete.on.disable",
        config_type: ConfigType::Boolean,
        default: "false",
        validator: Validator::Any,
        synonyms: &[],
        support: Support::Stored,
        internal: false,
        documentation: "With tiered storage, delete remote data when remote.storage.enable \
            turns false.",
    },
    Def {
        name: "remote.storage.enable",
        config_type: ConfigType::Boolean,
        default: "false",
        validator: Validator::Any,
        synonyms: &[],
        support: Support::NeedsTieredStorage,
        internal: false,
        documentation: "Tiered storage for the topic (not implemented by kafka-lab-broker).",
    },
    Def {
        name: "retention.bytes",
        config_type: ConfigType::Long,
        default: "-1",
        validator: Validator::Any,
        synonyms: &[Synonym {
            name: "log.retention.bytes",
            unit_ms: 1,
            default: Some("-1"),
            configured: |c| changed(c.log_retention_bytes, -1),
        }],
        support: Support::Applied,
        internal: false,
        documentation: "Largest size of a partition before its oldest segments are deleted; \
            -1 means no limit.",
    },
    Def {
        name: "retention.ms",
        config_type: ConfigType::Long,
        default: "604800000",
        validator: Validator::AtLeast(-1),
        synonyms: &[
            Synonym {
                name: "log.retention.ms",
                unit_ms: 1,
                default: None,
                configured: |c| c.log_retention_ms.map(|v| v.to_string()),
            },
            Synonym {
                name: "log.retention.minutes",
                unit_ms: 60_000,
                default: None,
                configured: unset,
            },
            Synonym {
                name: "log.retention.hours",
                unit_ms: HOUR_MS,
                default: Some("168"),
                configured: |c| changed(c.log_retention_hours, 168),
            },
        ],
        support: Support::Applied,
        internal: false,
        documentation: "How long a segment is kept after its newest record; -1 keeps it \
            forever.",
    },
    Def {
        name: "segment.bytes",
        config_type: ConfigType::Int,
        default: "1073741824",
        validator: Validator::AtLeast(1_048_576),
        synonyms: &[Synonym {
            name: "log.segment.bytes",
            unit_ms: 1,
            default: Some("1073741824"),
            configured: |c| changed(c.log_segment_bytes, 1 << 30),
        }],
        support: Support::Applied,
        internal: false,
        documentation: "Size at which the active segment rolls.",
    },
    Def {
        name: "segment.index.bytes",
        config_type: ConfigType::Int,
        default: "10485760",
        validator: Validator::AtLeast(4),
        synonyms: &[synonym("log.index.size.max.bytes", "10485760")],
        support: Support::Stored,
        internal: false,
        documentation: "Largest size of a segment's offset index.",
    },
    Def {
        name: "segment.jitter.ms",
        config_type: ConfigType::Long,
        default: "0",
        validator: Validator::AtLeast(0),
        synonyms: &[
            Synonym { name: "log.roll.jitter.ms", unit_ms: 1, default: None, configured: unset },
            Synonym {
                name: "log.roll.jitter.hours",
                unit_ms: HOUR_MS,
                default: Some("0"),
                configured: unset,
            },
        ],
        support: Support::Stored,
        internal: false,
        documentation: "Largest random time subtracted from segment.ms, so that segments do \
            not all roll at once.",
    },
    Def {
        name: "segment.ms",
        config_type: ConfigType::Long,
        default: "604800000",
        validator: Validator::AtLeast(1),
        synonyms: &[
            Synonym {
                name: "log.roll.ms",
                unit_ms: 1,
                default: None,
                configured: |c| c.log_roll_ms.map(|v| v.to_string()),
            },
            Synonym {
                name: "log.roll.hours",
                unit_ms: HOUR_MS,
                default: Some("168"),
                configured: |c| changed(c.log_roll_hours, 168),
            },
        ],
        support: Support::Applied,
        internal: false,
        documentation: "Age at which a non-empty active segment rolls.",
    },
    Def {
        name: "unclean.leader.election.enable",
        config_type: ConfigType::Boolean,
        default: "false",
        validator: Validator::Any,
        synonyms: &[Synonym {
            name: "unclean.leader.election.enable",
            unit_ms: 1,
            default: Some("false"),
            configured: |c| changed(c.unclean_leader_election_enable, false),
        }],
        support: Support::Applied,
        internal: false,
        documentation: "Whether a replica outside the ISR may become leader, losing data.",
    },
];

/// Topic configs Kafka 4.0 removed, with what replaces them.
const REMOVED: &[(&str, &str)] = &[
    ("message.format.version", "every batch is format v2 since Kafka 4.0"),
    (
        "message.timestamp.difference.max.ms",
        "use message.timestamp.before.max.ms and message.timestamp.after.max.ms",
    ),
];

fn def(name: &str) -> Option<&'static Def> {
    DEFS.iter().find(|d| d.name == name)
}

/// The names of every topic config Kafka 4.1 defines, in name order.
pub fn names() -> impl Iterator<Item = &'static str> {
    DEFS.iter().map(|d| d.name)
}

/// Kafka's default of `name`, as DescribeConfigs would show it on a broker with no
/// configuration; `None` if `name` is not a topic config.
pub fn kafka_default(name: &str) -> Option<&'static str> {
    def(name).map(|d| d.default)
}

/// The type of topic config `name`; `None` if it is not one.
pub fn config_type(name: &str) -> Option<ConfigType> {
    def(name).map(|d| d.config_type)
}

fn invalid(message: String) -> ApiError {
    ApiError::new(ResponseError::InvalidConfig, message)
}

fn list_items(value: &str) -> Vec<&str> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty()).collect()
}

/// Parses `value` as Kafka parses a value of `def`'s type, then applies its validator.
fn check_value(def: &Def, value: &str) -> Result<(), ApiError> {
    let name = def.name;
    let trimmed = value.trim();
    let bad = |expected: &str| {
        invalid(format!("Invalid value {value} for configuration {name}: {expected}"))
    };
    let number = match def.config_type {
        ConfigType::Boolean => {
            return if trimmed.eq_ignore_ascii_case("true") || trimmed.eq_ignore_ascii_case("false")
            {
                Ok(())
            } else {
                Err(bad("Expected value to be either true or false"))
            }
        }
        ConfigType::Int => {
            trimmed.parse::<i32>().map(i64::from).map_err(|_| bad("Not a number of type INT"))?
        }
        ConfigType::Long => trimmed.parse::<i64>().map_err(|_| bad("Not a number of type LONG"))?,
        ConfigType::Double => {
            let ratio = trimmed.parse::<f64>().map_err(|_| bad("Not a number of type DOUBLE"))?;
            return if !(0.0..=1.0).contains(&ratio) {
                Err(bad("Value must be no more than 1 and at least 0"))
            } else {
                Ok(())
            };
        }
        ConfigType::String | ConfigType::List => 0,
    };
    match def.validator {
        Validator::Any | Validator::Ratio => Ok(()),
        Validator::AtLeast(min) if number < min => {
            Err(bad(&format!("Value must be at least {min}")))
        }
        Validator::AtLeast(_) => Ok(()),
        Validator::Between(lo, hi) if number < lo || number > hi => {
            Err(bad(&format!("Value must be between {lo} and {hi}")))
        }
        Validator::Between(..) => Ok(()),
        Validator::GzipLevel if number == -1 || (1..=9).contains(&number) => Ok(()),
        Validator::GzipLevel => Err(bad("Value must be between 1 and 9, or -1")),
        Validator::OneOf(allowed) if allowed.contains(&trimmed) => Ok(()),
        Validator::OneOf(allowed) => {
            Err(bad(&format!("String must be one of: {}", allowed.join(", "))))
        }
        Validator::ListOf(allowed) => {
            match list_items(value).into_iter().find(|i| !allowed.contains(i)) {
                Some(item) => Err(bad(&format!(
                    "Invalid value {item}; the list may only contain {}",
                    allowed.join(", ")
                ))),
                None => Ok(()),
            }
        }
        Validator::ThrottledReplicas => {
            let items: Vec<&str> = value.split(',').map(str::trim).collect();
            let pair = |i: &str| {
                i.is_empty()
                    || i.split_once(':').is_some_and(|(p, b)| {
                        !p.is_empty()
                            && !b.is_empty()
                            && p.bytes().all(|c| c.is_ascii_digit())
                            && b.bytes().all(|c| c.is_ascii_digit())
                    })
            };
            if trimmed == "*" || items.iter().all(|i| pair(i)) {
                Ok(())
            } else {
                Err(bad("must be the literal '*' or a list of replicas in the format \
                    [partitionId]:[brokerId],[partitionId]:[brokerId],..."))
            }
        }
    }
}

/// Refuses values that need a feature this broker lacks, saying which.
fn check_support(def: &Def, value: &str) -> Result<(), ApiError> {
    let name = def.name;
    match def.support {
        Support::NeedsCompaction if list_items(value).contains(&"compact") => {
            Err(invalid(format!(
            "{name}={value}: log compaction is not implemented by kafka-lab-broker; use `delete`"
        )))
        }
        Support::NeedsTieredStorage if value.trim().eq_ignore_ascii_case("true") => {
            Err(invalid(format!(
                "{name}={value}: tiered storage is not implemented by kafka-lab-broker, so a \
                 topic cannot be configured with remote log storage"
            )))
        }
        _ => Ok(()),
    }
}

/// Checks that `name` is a topic config and `value` (when setting) is valid for it and
/// supported here.
pub fn validate(name: &str, value: Option<&str>) -> Result<(), ApiError> {
    let Some(def) = def(name) else {
        if let Some((_, instead)) = REMOVED.iter().find(|(removed, _)| *removed == name) {
            return Err(invalid(format!(
                "Unknown topic config name: {name} (removed in Apache Kafka 4.0: {instead})"
            )));
        }
        return Err(invalid(format!("Unknown topic config name: {name}")));
    };
    let Some(value) = value else { return Ok(()) };
    check_value(def, value)?;
    check_support(def, value)
}

/// Checks a topic's complete set of overrides, each on its own ([`validate`]) and together
/// (Kafka's `LogConfig.validateValues`: `min.compaction.lag.ms` ≤ `max.compaction.lag.ms`).
pub fn validate_all(
    config: &BrokerConfig,
    overrides: &BTreeMap<String, String>,
) -> Result<(), ApiError> {
    for (name, value) in overrides {
        validate(name, Some(value))?;
    }
    let min = effective(config, overrides, "min.compaction.lag.ms").parse::<i64>().unwrap_or(0);
    let max =
        effective(config, overrides, "max.compaction.lag.ms").parse::<i64>().unwrap_or(i64::MAX);
    if min > max {
        return Err(invalid(format!(
            "conflict topic config setting min.compaction.lag.ms ({min}) > \
             max.compaction.lag.ms ({max})"
        )));
    }
    Ok(())
}

/// One synonym of a described config (DescribeConfigs `synonyms`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynonymEntry {
    /// The topic config or broker property.
    pub name: String,
    /// Its value.
    pub value: String,
    /// Where it is set.
    pub source: ConfigSource,
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
    /// Kafka's type of the config.
    pub config_type: ConfigType,
    /// What the config does.
    pub documentation: &'static str,
    /// Where it is set, highest precedence first: the topic override, then the broker
    /// properties, then Kafka's defaults — as Kafka's `ConfigHelper` lists them.
    pub synonyms: Vec<SynonymEntry>,
}

/// The broker-level synonyms Kafka reports for `def`: configured values first, then defaults,
/// each in synonym order; like Kafka's `configSynonyms`, entries before the first one named
/// after the highest-priority synonym are dropped (so `retention.ms` shows no synonyms when
/// only `log.retention.hours` is set — Kafka's own behaviour).
fn broker_synonyms(config: &BrokerConfig, def: &Def) -> Vec<SynonymEntry> {
    let Some(first) = def.synonyms.first() else { return Vec::new() };
    let configured = def.synonyms.iter().filter_map(|s| {
        (s.configured)(config).map(|value| SynonymEntry {
            name: s.name.to_owned(),
            value,
            source: ConfigSource::StaticBroker,
        })
    });
    let defaults = def.synonyms.iter().filter_map(|s| {
        s.default.map(|value| SynonymEntry {
            name: s.name.to_owned(),
            value: value.to_owned(),
            source: ConfigSource::Default,
        })
    });
    configured.chain(defaults).skip_while(|s| s.name != first.name).collect()
}

/// The value of `def` on a topic without an override: the first configured broker synonym,
/// else the first broker synonym with a default (converted to the topic's unit), else
/// Kafka's topic default.
fn broker_value(config: &BrokerConfig, def: &Def) -> String {
    let convert = |s: &Synonym, value: String| match (s.unit_ms, value.trim().parse::<i64>()) {
        (1, _) | (_, Err(_)) => value,
        (unit, Ok(v)) => v.saturating_mul(unit).to_string(),
    };
    def.synonyms
        .iter()
        .find_map(|s| (s.configured)(config).map(|v| convert(s, v)))
        .or_else(|| def.synonyms.iter().find_map(|s| s.default.map(|v| convert(s, v.to_owned()))))
        .unwrap_or_else(|| def.default.to_owned())
}

/// A valid value as Kafka shows it once parsed (`ConfigDef.convertToString`): trimmed,
/// booleans lower-cased, numbers and list items without surrounding spaces.
fn canonical(def: &Def, value: &str) -> String {
    let trimmed = value.trim();
    match def.config_type {
        ConfigType::Boolean => trimmed.to_ascii_lowercase(),
        ConfigType::Int | ConfigType::Long => {
            trimmed.parse::<i64>().map_or_else(|_| trimmed.to_owned(), |n| n.to_string())
        }
        ConfigType::List => list_items(trimmed).join(","),
        ConfigType::String | ConfigType::Double => trimmed.to_owned(),
    }
}

/// The topic's override of `def`, as Kafka shows it.
fn topic_value(def: &Def, overrides: &BTreeMap<String, String>) -> Option<String> {
    overrides.get(def.name).map(|v| canonical(def, v))
}

fn effective(config: &BrokerConfig, overrides: &BTreeMap<String, String>, name: &str) -> String {
    let def = def(name).expect("a topic config");
    topic_value(def, overrides).unwrap_or_else(|| broker_value(config, def))
}

/// Every topic config with its effective value, source and synonyms, in name order; internal
/// ones (`message.downconversion.enable`) only when the topic sets them, as in Kafka.
pub fn describe(config: &BrokerConfig, overrides: &BTreeMap<String, String>) -> Vec<ConfigEntry> {
    DEFS.iter()
        .filter(|d| !d.internal || overrides.contains_key(d.name))
        .map(|def| {
            let mut synonyms = broker_synonyms(config, def);
            let value = match topic_value(def, overrides) {
                Some(value) => {
                    synonyms.insert(
                        0,
                        SynonymEntry {
                            name: def.name.to_owned(),
                            value: value.clone(),
                            source: ConfigSource::Topic,
                        },
                    );
                    value
                }
                None => broker_value(config, def),
            };
            ConfigEntry {
                name: def.name,
                value,
                source: synonyms.first().map_or(ConfigSource::Default, |s| s.source),
                config_type: def.config_type,
                documentation: def.documentation,
                synonyms,
            }
        })
        .collect()
}

fn effective_i64(config: &BrokerConfig, overrides: &BTreeMap<String, String>, name: &str) -> i64 {
    let value = effective(config, overrides, name);
    value.trim().parse().unwrap_or_else(|_| {
        def(name).and_then(|d| d.default.parse().ok()).expect("numeric default")
    })
}

/// The log settings of a topic with `overrides` on a broker configured as `config`.
pub fn log_config(config: &BrokerConfig, overrides: &BTreeMap<String, String>) -> LogConfig {
    let get = |name| effective_i64(config, overrides, name);
    // Without `delete` in cleanup.policy nothing is ever deleted, as in Kafka.
    let delete = list_items(&effective(config, overrides, "cleanup.policy")).contains(&"delete");
    LogConfig {
        segment_bytes: get("segment.bytes").max(1) as u64,
        segment_ms: get("segment.ms"),
        retention_ms: if delete { get("retention.ms") } else { -1 },
        retention_bytes: if delete { get("retention.bytes") } else { -1 },
        index_interval_bytes: get("index.interval.bytes").clamp(0, u32::MAX as i64) as u32,
        flush_interval_messages: get("flush.messages").max(1) as u64,
        flush_interval_ms: get("flush.ms"),
    }
}

/// The append policy of a topic with `overrides` on a broker configured as `config`.
pub fn append_policy(config: &BrokerConfig, overrides: &BTreeMap<String, String>) -> AppendPolicy {
    let get = |name| effective_i64(config, overrides, name);
    let compression = match effective(config, overrides, "compression.type").as_str() {
        "uncompressed" => Some(Codec::None),
        "gzip" => Some(Codec::Gzip),
        "snappy" => Some(Codec::Snappy),
        "lz4" => Some(Codec::Lz4),
        "zstd" => Some(Codec::Zstd),
        _ => None,
    };
    let compression_level = match compression {
        Some(Codec::Gzip) => get("compression.gzip.level"),
        Some(Codec::Lz4) => get("compression.lz4.level"),
        Some(Codec::Zstd) => get("compression.zstd.level"),
        _ => 0,
    } as i32;
    let timestamp_type = match effective(config, overrides, "message.timestamp.type").as_str() {
        "LogAppendTime" => TimestampType::LogAppendTime,
        _ => TimestampType::CreateTime,
    };
    AppendPolicy {
        max_message_bytes: get("max.message.bytes"),
        compression,
        compression_level,
        timestamp_type,
        timestamp_before_max_ms: get("message.timestamp.before.max.ms"),
        timestamp_after_max_ms: get("message.timestamp.after.max.ms"),
    }
}

/// `unclean.leader.election.enable` of a topic: whether the controller may elect a live replica
/// outside the ISR when no in-sync replica is alive.
pub fn unclean_leader_election_enable(
    config: &BrokerConfig,
    overrides: &BTreeMap<String, String>,
) -> bool {
    effective(config, overrides, "unclean.leader.election.enable") == "true"
}

/// `min.insync.replicas` of a topic: acks=all needs this many in-sync replicas.
pub fn min_insync_replicas(config: &BrokerConfig, overrides: &BTreeMap<String, String>) -> i64 {
    effective_i64(config, overrides, "min.insync.replicas")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry<'a>(entries: &'a [ConfigEntry], name: &str) -> &'a ConfigEntry {
        entries.iter().find(|e| e.name == name).unwrap_or_else(|| panic!("{name} described"))
    }

    #[test]
    fn overrides_win_over_broker_defaults() {
        let config = BrokerConfig { log_retention_bytes: 1000, ..BrokerConfig::default() };
        let overrides = BTreeMap::from([("retention.ms".to_owned(), "60000".to_owned())]);
        let log = log_config(&config, &overrides);
        assert_eq!(log.retention_ms, 60000);
        assert_eq!(log.retention_bytes, 1000);
        let described = describe(&config, &overrides);
        assert_eq!(entry(&described, "retention.bytes").source, ConfigSource::StaticBroker);
        assert_eq!(entry(&described, "retention.ms").source, ConfigSource::Topic);
    }

    #[test]
    fn every_kafka_topic_config_is_accepted_at_its_default() {
        for def in DEFS {
            validate(def.name, Some(def.default))
                .unwrap_or_else(|e| panic!("{}={}: {}", def.name, def.default, e.message));
        }
        assert_eq!(DEFS.len(), 34, "Kafka 4.1's 33 documented topic configs and one internal");
        assert!(DEFS.windows(2).all(|w| w[0].name < w[1].name), "in name order");
    }

    #[test]
    fn compaction_and_tiered_storage_are_refused_with_a_reason() {
        let err = validate("cleanup.policy", Some("compact")).unwrap_err();
        assert_eq!(err.error, ResponseError::InvalidConfig);
        assert!(err.message.contains("compaction is not implemented"), "{}", err.message);
        assert!(validate("cleanup.policy", Some("delete,compact")).is_err());
        let err = validate("remote.storage.enable", Some("true")).unwrap_err();
        assert!(err.message.contains("tiered storage is not implemented"), "{}", err.message);
        assert!(validate("retention.ms", Some("soon")).is_err());
        let err = validate("message.format.version", Some("3.0")).unwrap_err();
        assert!(err.message.contains("removed in Apache Kafka 4.0"), "{}", err.message);
    }

    #[test]
    fn broker_defaults_of_topic_configs_are_validated_as_the_topic_configs() {
        let err = BrokerConfig::load(None, &["compression.type=brotli".into()]).unwrap_err();
        assert!(err.to_string().contains("compression.type"), "{err}");
        let err = BrokerConfig::load(None, &["min.insync.replicas=0".into()]).unwrap_err();
        assert!(err.to_string().contains("at least 1"), "{err}");
        let config =
            BrokerConfig::load(None, &["log.message.timestamp.after.max.ms=5".into()]).unwrap();
        assert_eq!(append_policy(&config, &BTreeMap::new()).timestamp_after_max_ms, 5);
    }

    #[test]
    fn values_are_parsed_as_kafka_parses_them() {
        let overrides = BTreeMap::from([
            ("compression.type".to_owned(), " zstd ".to_owned()),
            ("preallocate".to_owned(), "TRUE".to_owned()),
            ("cleanup.policy".to_owned(), " delete , ".to_owned()),
        ]);
        validate_all(&BrokerConfig::default(), &overrides).unwrap();
        let described = describe(&BrokerConfig::default(), &overrides);
        assert_eq!(entry(&described, "compression.type").value, "zstd");
        assert_eq!(entry(&described, "preallocate").value, "true");
        assert_eq!(entry(&described, "cleanup.policy").value, "delete");
        let policy = append_policy(&BrokerConfig::default(), &overrides);
        assert_eq!(policy.compression, Some(Codec::Zstd));
    }

    #[test]
    fn synonyms_follow_kafka_precedence() {
        let config = BrokerConfig { log_retention_ms: Some(5000), ..BrokerConfig::default() };
        let overrides = BTreeMap::from([("retention.ms".to_owned(), "60000".to_owned())]);
        let retention = entry(&describe(&config, &overrides), "retention.ms").clone();
        let names: Vec<(&str, ConfigSource)> =
            retention.synonyms.iter().map(|s| (s.name.as_str(), s.source)).collect();
        assert_eq!(
            names,
            [
                ("retention.ms", ConfigSource::Topic),
                ("log.retention.ms", ConfigSource::StaticBroker),
                ("log.retention.hours", ConfigSource::Default),
            ]
        );
        // Only log.retention.hours set: Kafka drops the synonyms before log.retention.ms.
        let config = BrokerConfig { log_retention_hours: 1, ..BrokerConfig::default() };
        let retention = entry(&describe(&config, &BTreeMap::new()), "retention.ms").clone();
        assert_eq!(retention.value, "3600000");
        assert!(retention.synonyms.is_empty());
        assert_eq!(retention.source, ConfigSource::Default);
    }
}
