//! Configuration: a YAML file (`--config`), command-line flags and environment variables. Flags
//! and variables override the file; `--bootstrap-servers` adds one cluster to the file's list.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use regex::Regex;
use serde::Deserialize;

/// Default HTTP address.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:8000";

/// Flags of `kafka-lag-exporter` (every one also an environment variable).
///
/// Without --config, one cluster comes from --bootstrap-servers (plus -X properties).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ExporterArgs {
    /// YAML configuration file (see exporter/exporter.example.yaml): clusters, intervals, filters.
    #[arg(long, short = 'c', env = "KAFKA_LAG_EXPORTER_CONFIG")]
    pub config: Option<PathBuf>,

    /// Bootstrap servers of a cluster to watch, e.g. `kafka-1:9092,kafka-2:9092`.
    #[arg(long, short = 'b', env = "KAFKA_LAG_EXPORTER_BOOTSTRAP_SERVERS")]
    pub bootstrap_servers: Option<String>,

    /// Name of the --bootstrap-servers cluster: the value of every series' `cluster` label.
    #[arg(long, env = "KAFKA_LAG_EXPORTER_CLUSTER_NAME", default_value = "default")]
    pub cluster_name: String,

    /// librdkafka property for the --bootstrap-servers cluster, repeatable, e.g.
    /// `-X security.protocol=SASL_SSL -X sasl.mechanism=SCRAM-SHA-512 -X sasl.username=u`.
    #[arg(long = "property", short = 'X', value_name = "NAME=VALUE")]
    pub properties: Vec<String>,

    /// HTTP address for /metrics, /, /api/groups, /healthz, /ready [default: 0.0.0.0:8000].
    #[arg(long, env = "KAFKA_LAG_EXPORTER_LISTEN")]
    pub listen: Option<SocketAddr>,

    /// Time between the starts of two polls, e.g. `15s`, `500ms`, `1m` [default: 15s].
    #[arg(long, env = "KAFKA_LAG_EXPORTER_POLL_INTERVAL", value_parser = parse_duration)]
    pub poll_interval: Option<Duration>,

    /// Time limit of each Kafka request within a poll [default: 10s].
    #[arg(long, env = "KAFKA_LAG_EXPORTER_KAFKA_TIMEOUT", value_parser = parse_duration)]
    pub kafka_timeout: Option<Duration>,

    /// Only groups matching this regular expression [default: all].
    #[arg(long, env = "KAFKA_LAG_EXPORTER_GROUP_ALLOW")]
    pub group_allow: Option<String>,

    /// Skip groups matching this regular expression [default: none].
    #[arg(long, env = "KAFKA_LAG_EXPORTER_GROUP_DENY")]
    pub group_deny: Option<String>,

    /// Only topics matching this regular expression [default: all].
    #[arg(long, env = "KAFKA_LAG_EXPORTER_TOPIC_ALLOW")]
    pub topic_allow: Option<String>,

    /// Skip topics matching this regular expression [default: `^__`, Kafka's internal topics].
    #[arg(long, env = "KAFKA_LAG_EXPORTER_TOPIC_DENY")]
    pub topic_deny: Option<String>,

    /// Metric families to serve, comma-separated, from `kafka_exporter` (danielqsj names),
    /// `lag_exporter` (seglo names), `extra` (lag seconds per partition, status),
    /// `lag_exporter_poll_time_ms` (seglo's poll gauge; its `_ms` name fails `promtool check
    /// metrics`, hence off by default). Self-metrics are always on.
    /// [default: kafka_exporter,lag_exporter,extra].
    #[arg(long, env = "KAFKA_LAG_EXPORTER_METRICS", value_delimiter = ',')]
    pub metrics: Option<Vec<String>>,

    /// Polls in the sliding window that the OK/WARN/STOP/STALL/REWIND evaluation looks at
    /// [default: 10].
    #[arg(long, env = "KAFKA_LAG_EXPORTER_STATUS_WINDOW")]
    pub status_window: Option<usize>,

    /// (latest offset, time) points kept per partition for lag in seconds [default: 60].
    #[arg(long, env = "KAFKA_LAG_EXPORTER_LAG_TABLE_POINTS")]
    pub lag_table_points: Option<usize>,
}

/// Which metric families are served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Families {
    /// danielqsj/kafka_exporter names (`kafka_consumergroup_lag`, `kafka_topic_partition_*`, …).
    pub kafka_exporter: bool,
    /// seglo/kafka-lag-exporter names (`kafka_consumergroup_group_*`, `kafka_partition_*`).
    pub lag_exporter: bool,
    /// seglo's `kafka_consumergroup_poll_time_ms`; promtool objects to the `_ms` unit.
    pub lag_exporter_poll_time_ms: bool,
    /// `kafka_consumergroup_lag_seconds` and the status gauges.
    pub extra: bool,
}

impl Default for Families {
    fn default() -> Self {
        Families {
            kafka_exporter: true,
            lag_exporter: true,
            lag_exporter_poll_time_ms: false,
            extra: true,
        }
    }
}

impl Families {
    fn parse(names: &[String]) -> anyhow::Result<Families> {
        let mut f = Families {
            kafka_exporter: false,
            lag_exporter: false,
            lag_exporter_poll_time_ms: false,
            extra: false,
        };
        for name in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
            match name {
                "kafka_exporter" => f.kafka_exporter = true,
                "lag_exporter" => f.lag_exporter = true,
                "lag_exporter_poll_time_ms" => f.lag_exporter_poll_time_ms = true,
                "extra" => f.extra = true,
                other => bail!(
                    "unknown metric family {other:?}: expected kafka_exporter, lag_exporter, \
                     lag_exporter_poll_time_ms or extra"
                ),
            }
        }
        Ok(f)
    }
}

/// One cluster to watch.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// The `cluster` (and seglo's `cluster_name`) label.
    pub name: String,
    pub bootstrap_servers: String,
    /// librdkafka properties passed through unchanged (TLS, SASL, …).
    pub properties: BTreeMap<String, String>,
    pub groups: Filter,
    pub topics: Filter,
}

/// Allow/deny regular expressions; a name passes if allowed and not denied.
#[derive(Debug, Clone)]
pub struct Filter {
    allow: Option<Regex>,
    deny: Option<Regex>,
}

impl Filter {
    /// Compiles the two expressions; `what` names them in errors.
    pub fn new(allow: Option<&str>, deny: Option<&str>, what: &str) -> anyhow::Result<Filter> {
        let compile = |re: Option<&str>, kind: &str| {
            re.map(|r| Regex::new(r).with_context(|| format!("bad {what}_{kind} regex {r:?}")))
                .transpose()
        };
        Ok(Filter { allow: compile(allow, "allow")?, deny: compile(deny, "deny")? })
    }

    /// Whether `name` passes.
    pub fn accepts(&self, name: &str) -> bool {
        self.allow.as_ref().is_none_or(|r| r.is_match(name))
            && !self.deny.as_ref().is_some_and(|r| r.is_match(name))
    }
}

/// Everything the exporter runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub poll_interval: Duration,
    pub kafka_timeout: Duration,
    pub families: Families,
    pub status_window: usize,
    pub lag_table_points: usize,
    pub clusters: Vec<ClusterConfig>,
}

/// The YAML file's shape.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<SocketAddr>,
    pub poll_interval: Option<String>,
    pub kafka_timeout: Option<String>,
    pub metrics: Option<Vec<String>>,
    pub status_window: Option<usize>,
    pub lag_table_points: Option<usize>,
    #[serde(default)]
    pub clusters: Vec<FileCluster>,
}

/// A cluster in the YAML file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileCluster {
    pub name: String,
    pub bootstrap_servers: String,
    #[serde(default)]
    pub properties: BTreeMap<String, serde_yaml::Value>,
    pub group_allow: Option<String>,
    pub group_deny: Option<String>,
    pub topic_allow: Option<String>,
    pub topic_deny: Option<String>,
}

const DEFAULT_TOPIC_DENY: &str = "^__";

impl Settings {
    /// Reads the file (if any) and applies flags and environment variables over it.
    pub fn load(args: &ExporterArgs) -> anyhow::Result<Settings> {
        let file = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                parse_file(&text).with_context(|| format!("in {}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let duration =
            |flag: Option<Duration>, file: &Option<String>, default: Duration| match (flag, file) {
                (Some(d), _) => Ok(d),
                (None, Some(s)) => parse_duration(s).map_err(anyhow::Error::msg),
                (None, None) => Ok(default),
            };
        let poll_interval =
            duration(args.poll_interval, &file.poll_interval, Duration::from_secs(15))?;
        let kafka_timeout =
            duration(args.kafka_timeout, &file.kafka_timeout, Duration::from_secs(10))?;
        if poll_interval.is_zero() || kafka_timeout.is_zero() {
            bail!("poll_interval and kafka_timeout must be greater than zero");
        }
        let families = match args.metrics.as_ref().or(file.metrics.as_ref()) {
            Some(names) => Families::parse(names)?,
            None => Families::default(),
        };
        let status_window = args.status_window.or(file.status_window).unwrap_or(10);
        let lag_table_points = args.lag_table_points.or(file.lag_table_points).unwrap_or(60);
        if status_window < 2 || lag_table_points < 2 {
            bail!("status_window and lag_table_points must be at least 2");
        }

        let mut clusters = Vec::new();
        for c in file.clusters {
            let mut properties = BTreeMap::new();
            for (k, v) in c.properties {
                let v = match v {
                    serde_yaml::Value::String(s) => s,
                    serde_yaml::Value::Bool(b) => b.to_string(),
                    serde_yaml::Value::Number(n) => n.to_string(),
                    other => {
                        bail!("cluster {}: property {k} must be a scalar, not {other:?}", c.name)
                    }
                };
                properties.insert(k, v);
            }
            clusters.push(cluster(
                c.name,
                c.bootstrap_servers,
                properties,
                [c.group_allow, c.group_deny, c.topic_allow, c.topic_deny],
                args,
            )?);
        }
        if let Some(bootstrap) = &args.bootstrap_servers {
            let mut properties = BTreeMap::new();
            for p in &args.properties {
                let (k, v) = p
                    .split_once('=')
                    .with_context(|| format!("--property {p:?}: expected NAME=VALUE"))?;
                properties.insert(k.trim().to_string(), v.trim().to_string());
            }
            clusters.push(cluster(
                args.cluster_name.clone(),
                bootstrap.clone(),
                properties,
                [None, None, None, None],
                args,
            )?);
        } else if !args.properties.is_empty() {
            bail!("--property applies to the --bootstrap-servers cluster; set properties per cluster in the config file");
        }
        if clusters.is_empty() {
            bail!("no cluster to watch: pass --bootstrap-servers HOST:PORT or a --config file with clusters");
        }
        let mut names: Vec<&str> = clusters.iter().map(|c| c.name.as_str()).collect();
        names.sort();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            bail!("two clusters are named {:?}; names label every series and must differ", w[0]);
        }
        Ok(Settings {
            listen: args.listen.or(file.listen).unwrap_or_else(|| DEFAULT_LISTEN.parse().unwrap()),
            poll_interval,
            kafka_timeout,
            families,
            status_window,
            lag_table_points,
            clusters,
        })
    }
}

/// Flags' filters override each cluster's own.
fn cluster(
    name: String,
    bootstrap_servers: String,
    properties: BTreeMap<String, String>,
    [group_allow, group_deny, topic_allow, topic_deny]: [Option<String>; 4],
    args: &ExporterArgs,
) -> anyhow::Result<ClusterConfig> {
    if name.is_empty() || bootstrap_servers.trim().is_empty() {
        bail!("every cluster needs a name and bootstrap_servers");
    }
    let pick = |flag: &Option<String>, own: Option<String>| flag.clone().or(own);
    let topic_deny = pick(&args.topic_deny, topic_deny).unwrap_or(DEFAULT_TOPIC_DENY.into());
    Ok(ClusterConfig {
        groups: Filter::new(
            pick(&args.group_allow, group_allow).as_deref(),
            pick(&args.group_deny, group_deny).as_deref(),
            "group",
        )
        .with_context(|| format!("cluster {name}"))?,
        topics: Filter::new(
            pick(&args.topic_allow, topic_allow).as_deref(),
            Some(topic_deny.as_str()).filter(|s| !s.is_empty()),
            "topic",
        )
        .with_context(|| format!("cluster {name}"))?,
        name,
        bootstrap_servers,
        properties,
    })
}

/// Parses the YAML configuration text.
pub fn parse_file(text: &str) -> anyhow::Result<FileConfig> {
    Ok(serde_yaml::from_str(text)?)
}

/// `15s`, `500ms`, `2m`, `1h`, or plain seconds (`15`, `0.5`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (number, unit) = match s.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("bad duration {s:?}: expected e.g. 15s, 500ms, 2m"))?;
    let scale = match unit {
        "ms" => 0.001,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return Err(format!("bad duration unit in {s:?}: use ms, s, m or h")),
    };
    if !(n >= 0.0 && n.is_finite()) {
        return Err(format!("bad duration {s:?}: must be a non-negative number"));
    }
    Ok(Duration::from_secs_f64(n * scale))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(bootstrap: Option<&str>) -> ExporterArgs {
        ExporterArgs {
            bootstrap_servers: bootstrap.map(String::from),
            cluster_name: "default".into(),
            ..Default::default()
        }
    }

    #[test]
    fn example_file_parses_and_loads() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/exporter.example.yaml");
        let a = ExporterArgs { config: Some(path.into()), ..args(None) };
        let s = Settings::load(&a).unwrap();
        assert!(s.clusters.len() >= 2, "{s:?}");
        assert_eq!(s.poll_interval, Duration::from_secs(15));
        assert!(s.clusters.iter().any(|c| c.properties.contains_key("security.protocol")));
    }

    #[test]
    fn flags_make_one_cluster_with_defaults() {
        let s = Settings::load(&args(Some("k:9092"))).unwrap();
        assert_eq!(s.listen, DEFAULT_LISTEN.parse().unwrap());
        assert_eq!(s.clusters[0].name, "default");
        assert_eq!(s.families, Families::default());
        assert!(!s.clusters[0].topics.accepts("__consumer_offsets"));
        assert!(s.clusters[0].topics.accepts("orders"));
    }

    #[test]
    fn no_cluster_is_a_clear_error() {
        let e = Settings::load(&args(None)).unwrap_err().to_string();
        assert!(e.contains("--bootstrap-servers"), "{e}");
    }

    #[test]
    fn bad_regex_and_family_and_duration_are_errors() {
        let a = ExporterArgs { group_allow: Some("(".into()), ..args(Some("k:1")) };
        assert!(format!("{:#}", Settings::load(&a).unwrap_err()).contains("group_allow"));
        let a = ExporterArgs { metrics: Some(vec!["nope".into()]), ..args(Some("k:1")) };
        assert!(Settings::load(&a).unwrap_err().to_string().contains("nope"));
        assert!(parse_duration("5 parsecs").is_err());
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
    }

    #[test]
    fn unknown_yaml_keys_are_rejected() {
        assert!(parse_file("clusterz: []").is_err());
    }

    #[test]
    fn filters_allow_then_deny() {
        let f = Filter::new(Some("^app-"), Some("-test$"), "group").unwrap();
        assert!(f.accepts("app-orders"));
        assert!(!f.accepts("app-orders-test"));
        assert!(!f.accepts("other"));
    }
}
