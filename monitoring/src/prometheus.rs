//! The real `prometheus` server (Debian's 2.42) for the end-to-end tests: started on a free
//! loopback port with a generated configuration (scrape and evaluation interval 1 s, the given
//! jobs and rule files) and a temporary TSDB, killed on drop; and a small client for the
//! parts of its HTTP API the tests read (`/api/v1/query`, `/targets`, `/alerts`, `/rules`).

use std::collections::BTreeMap;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use serde::Deserialize;
use serde_json::{json, Value};

/// One scrape job of the generated configuration.
#[derive(Debug, Clone)]
pub struct ScrapeJob {
    /// `job_name`, which becomes the `job` label.
    pub name: String,
    /// `host:port` targets, scraped at `/metrics` over HTTP.
    pub targets: Vec<String>,
    /// Target labels added to every series of the job (e.g. `cluster`).
    pub labels: BTreeMap<String, String>,
}

impl ScrapeJob {
    /// A job scraping `targets` with no target labels.
    pub fn new(name: &str, targets: &[String]) -> Self {
        ScrapeJob { name: name.into(), targets: targets.to_vec(), labels: BTreeMap::new() }
    }

    /// The job with a target label added.
    pub fn label(mut self, name: &str, value: &str) -> Self {
        self.labels.insert(name.into(), value.into());
        self
    }
}

/// The `prometheus.yml` for `jobs` and `rule_files`: scrape and evaluation every second, so a
/// test sees `rate()` over two samples within seconds.
pub fn config_yaml(jobs: &[ScrapeJob], rule_files: &[PathBuf]) -> anyhow::Result<String> {
    let scrape_configs: Vec<Value> = jobs
        .iter()
        .map(|j| {
            json!({
                "job_name": j.name,
                "static_configs": [{ "targets": j.targets, "labels": j.labels }],
            })
        })
        .collect();
    let config = json!({
        "global": { "scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s" },
        "rule_files": rule_files,
        "scrape_configs": scrape_configs,
    });
    Ok(serde_yaml::to_string(&config)?)
}

/// A rule file with every alert's `for:` replaced by `for_` (e.g. `5s`) and every group's own
/// `interval:` dropped (so the global 1 s evaluation applies); expressions, thresholds, labels
/// and annotations are kept as written. Lets a test see alerts whose `for:` is minutes fire
/// within seconds.
pub fn shorten_for(rules_yaml: &str, for_: &str) -> anyhow::Result<String> {
    let mut doc: serde_yaml::Value = serde_yaml::from_str(rules_yaml)?;
    let groups = doc
        .get_mut("groups")
        .and_then(serde_yaml::Value::as_sequence_mut)
        .ok_or_else(|| anyhow!("a rule file needs a `groups:` list"))?;
    for group in groups {
        let group =
            group.as_mapping_mut().ok_or_else(|| anyhow!("a rule group must be a mapping"))?;
        group.remove("interval");
        let Some(rules) = group.get_mut("rules").and_then(serde_yaml::Value::as_sequence_mut)
        else {
            continue;
        };
        for rule in rules.iter_mut().filter_map(serde_yaml::Value::as_mapping_mut) {
            if rule.contains_key("for") {
                rule.insert("for".into(), for_.into());
            }
        }
    }
    Ok(serde_yaml::to_string(&doc)?)
}

/// A running `prometheus` process with its own configuration and TSDB; killed on drop.
pub struct PrometheusServer {
    child: Child,
    dir: tempfile::TempDir,
    api: PrometheusApi,
    jobs: Vec<ScrapeJob>,
}

impl PrometheusServer {
    /// Starts `prometheus` on a free loopback port scraping `jobs` and evaluating
    /// `rule_files`, and waits (up to 30 s) until it reports ready. Fails if the binary is
    /// missing, the configuration or a rule file is invalid, or it does not become ready.
    pub fn start(jobs: &[ScrapeJob], rule_files: &[PathBuf]) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let config = dir.path().join("prometheus.yml");
        std::fs::write(&config, config_yaml(jobs, rule_files)?)?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let log = std::fs::File::create(dir.path().join("prometheus.log"))?;
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            // POST /-/reload, for `load_rules`.
            .arg("--web.enable-lifecycle")
            .arg("--log.level=warn")
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()
            .map_err(|e| {
                anyhow!(
                    "cannot run `prometheus` ({e}): install it with scripts/install-test-deps \
                     (Debian package `prometheus`)"
                )
            })?;
        let mut server = PrometheusServer {
            child,
            dir,
            api: PrometheusApi::new(&format!("http://127.0.0.1:{port}")),
            jobs: jobs.to_vec(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = server.child.try_wait()? {
                bail!("prometheus exited during start-up ({status}):\n{}", server.log());
            }
            if server.api.ready() {
                return Ok(server);
            }
            if Instant::now() > deadline {
                bail!("prometheus was not ready within 30 s:\n{}", server.log());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Replaces the rule files (same jobs) and reloads the configuration; returns once every
    /// rule group of `rule_files` is loaded (up to 30 s). A test that loads its rules only
    /// after the targets are up keeps `absent()` rules from seeing Prometheus's own start-up,
    /// when its service discovery has not handed over the targets yet (about 5 s).
    pub fn load_rules(&self, rule_files: &[PathBuf]) -> anyhow::Result<()> {
        let config = self.dir.path().join("prometheus.yml");
        std::fs::write(&config, config_yaml(&self.jobs, rule_files)?)?;
        // The reason (which file, which rule) is only in the log.
        self.api.reload().map_err(|e| anyhow!("{e}; prometheus's log:\n{}", self.log()))?;
        let expected: usize = rule_files
            .iter()
            .map(|f| -> anyhow::Result<usize> {
                let doc: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(f)?)?;
                Ok(doc["groups"].as_sequence().map_or(0, Vec::len))
            })
            .sum::<anyhow::Result<usize>>()?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.api.rules()?.len() < expected {
            if Instant::now() > deadline {
                bail!("rules not loaded within 30 s after a reload:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }

    /// The client for this server's HTTP API.
    pub fn api(&self) -> &PrometheusApi {
        &self.api
    }

    /// The directory holding the generated `prometheus.yml`, the TSDB and the log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// What the server logged (warnings and errors).
    pub fn log(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(self.dir.path().join("prometheus.log")) {
            let _ = f.read_to_string(&mut text);
        }
        text
    }
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("---- prometheus log ----\n{}", self.log());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client for Prometheus's HTTP API at a base URL.
#[derive(Clone)]
pub struct PrometheusApi {
    base: String,
    agent: ureq::Agent,
}

/// The `data` of an instant query.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryData {
    /// `vector`, `scalar`, `matrix` or `string`.
    pub result_type: String,
    /// The samples (vector: a list of `{metric, value}`; scalar/string: `[time, value]`).
    pub result: Value,
}

impl QueryData {
    /// How many samples (series, for a vector or matrix) the result holds; a scalar or string
    /// is one.
    pub fn sample_count(&self) -> usize {
        match &self.result {
            Value::Array(items) if matches!(self.result_type.as_str(), "vector" | "matrix") => {
                items.len()
            }
            Value::Null => 0,
            _ => 1,
        }
    }

    /// The vector's samples as (labels, value).
    pub fn samples(&self) -> Vec<(BTreeMap<String, String>, f64)> {
        #[derive(Deserialize)]
        struct Sample {
            metric: BTreeMap<String, String>,
            value: (f64, String),
        }
        let samples: Vec<Sample> = serde_json::from_value(self.result.clone()).unwrap_or_default();
        samples.into_iter().map(|s| (s.metric, s.value.1.parse().unwrap_or(f64::NAN))).collect()
    }
}

/// An active scrape target (`/api/v1/targets`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    /// The target's labels after relabelling (`job`, `instance`, target labels).
    pub labels: BTreeMap<String, String>,
    /// `up`, `down` or `unknown` (not scraped yet).
    pub health: String,
    /// Why the last scrape failed, empty if it did not.
    pub last_error: String,
    /// The URL scraped.
    pub scrape_url: String,
}

/// An active alert (`/api/v1/alerts`): pending or firing.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    /// `alertname` and the alert's labels.
    pub labels: BTreeMap<String, String>,
    /// `pending` or `firing`.
    pub state: String,
    /// The value of the expression's sample, as text.
    pub value: String,
}

impl Alert {
    /// The `alertname` label.
    pub fn name(&self) -> &str {
        self.labels.get("alertname").map(String::as_str).unwrap_or("")
    }
}

/// A rule group (`/api/v1/rules`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleGroup {
    /// The group's name.
    pub name: String,
    /// The rule file it came from.
    pub file: String,
    /// Its rules in order.
    pub rules: Vec<Rule>,
}

/// An alerting or recording rule as Prometheus evaluates it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    /// The alert's name, or the recorded series' name.
    pub name: String,
    /// The expression.
    pub query: String,
    /// `alerting` or `recording`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Alerting rules: `inactive`, `pending` or `firing`.
    #[serde(default)]
    pub state: String,
    /// `ok`, `err` or `unknown` (not evaluated yet).
    pub health: String,
    /// The last evaluation's error, if any.
    #[serde(default)]
    pub last_error: Option<String>,
    /// Alerting rules: the alert instances, pending or firing.
    #[serde(default)]
    pub alerts: Vec<Alert>,
}

/// Prometheus's JSON envelope: `{status, data}` or `{status, errorType, error}`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<T> {
    status: String,
    data: Option<T>,
    error_type: Option<String>,
    error: Option<String>,
}

impl PrometheusApi {
    /// A client for the server at `base` (e.g. `http://127.0.0.1:9090`).
    pub fn new(base: &str) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        PrometheusApi { base: base.trim_end_matches('/').to_string(), agent }
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Whether `/-/ready` answers 200.
    pub fn ready(&self) -> bool {
        self.agent
            .get(format!("{}/-/ready", self.base))
            .call()
            .is_ok_and(|r| r.status().as_u16() == 200)
    }

    /// GET `path` with `query` parameters and unwrap the envelope; Prometheus's own error
    /// (a query that does not parse: `bad_data: …`) becomes the error's message.
    fn get<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> anyhow::Result<T> {
        let mut request = self.agent.get(format!("{}{path}", self.base));
        for (k, v) in query {
            request = request.query(*k, *v);
        }
        let mut response = request.call().with_context(|| format!("GET {}{path}", self.base))?;
        let status = response.status().as_u16();
        let body = response.body_mut().read_to_string()?;
        let envelope: Envelope<T> = serde_json::from_str(&body)
            .with_context(|| format!("GET {path}: HTTP {status}, not Prometheus's JSON: {body}"))?;
        match (envelope.status.as_str(), envelope.data) {
            ("success", Some(data)) => Ok(data),
            _ => Err(anyhow!(
                "{}: {}",
                envelope.error_type.unwrap_or_else(|| format!("HTTP {status}")),
                envelope.error.unwrap_or(body)
            )),
        }
    }

    /// Reloads the configuration and rule files (`POST /-/reload`, which needs
    /// `--web.enable-lifecycle`); Prometheus's reason if it refuses them.
    pub fn reload(&self) -> anyhow::Result<()> {
        let mut response = self
            .agent
            .post(format!("{}/-/reload", self.base))
            .send_empty()
            .with_context(|| format!("POST {}/-/reload", self.base))?;
        let status = response.status().as_u16();
        if status != 200 {
            bail!("reload refused (HTTP {status}): {}", response.body_mut().read_to_string()?);
        }
        Ok(())
    }

    /// An instant query at the current time.
    pub fn query(&self, expr: &str) -> anyhow::Result<QueryData> {
        self.get("/api/v1/query", &[("query", expr)])
    }

    /// The active scrape targets.
    pub fn targets(&self) -> anyhow::Result<Vec<Target>> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Targets {
            active_targets: Vec<Target>,
        }
        Ok(self.get::<Targets>("/api/v1/targets", &[("state", "active")])?.active_targets)
    }

    /// The pending and firing alerts.
    pub fn alerts(&self) -> anyhow::Result<Vec<Alert>> {
        #[derive(Deserialize)]
        struct Alerts {
            alerts: Vec<Alert>,
        }
        Ok(self.get::<Alerts>("/api/v1/alerts", &[])?.alerts)
    }

    /// The loaded rule groups with each rule's state and health.
    pub fn rules(&self) -> anyhow::Result<Vec<RuleGroup>> {
        #[derive(Deserialize)]
        struct Rules {
            groups: Vec<RuleGroup>,
        }
        Ok(self.get::<Rules>("/api/v1/rules", &[])?.groups)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorten_for_replaces_every_for_and_keeps_the_rest() {
        let rules = r#"
groups:
  - name: g
    interval: 1m
    rules:
      - alert: Lag
        expr: max(kafka_consumergroup_group_max_lag) > 1000
        for: 10m
        labels: { severity: warning }
      - alert: Now
        expr: up == 0
      - record: job:up:sum
        expr: sum by (job) (up)
"#;
        let short: serde_yaml::Value =
            serde_yaml::from_str(&shorten_for(rules, "5s").unwrap()).expect("valid YAML out");
        let group = &short["groups"][0];
        assert!(group.get("interval").is_none());
        assert_eq!(group["rules"][0]["for"], "5s");
        assert_eq!(group["rules"][0]["expr"], "max(kafka_consumergroup_group_max_lag) > 1000");
        assert_eq!(group["rules"][0]["labels"]["severity"], "warning");
        assert!(group["rules"][1].get("for").is_none(), "no `for:` added where there was none");
        assert!(group["rules"][2].get("for").is_none());
    }

    #[test]
    fn shorten_for_rejects_a_file_without_groups() {
        let err = shorten_for("rules: []\n", "5s").unwrap_err();
        assert!(err.to_string().contains("groups"), "{err}");
    }

    #[test]
    fn config_has_one_second_intervals_jobs_and_target_labels() {
        let jobs = [ScrapeJob::new("kafka", &["127.0.0.1:9404".into()]).label("cluster", "e2e")];
        let yaml = config_yaml(&jobs, &[PathBuf::from("/tmp/rules.yml")]).unwrap();
        let config: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
        assert_eq!(config["global"]["scrape_interval"], "1s");
        assert_eq!(config["global"]["evaluation_interval"], "1s");
        assert_eq!(config["rule_files"][0], "/tmp/rules.yml");
        let job = &config["scrape_configs"][0];
        assert_eq!(job["job_name"], "kafka");
        assert_eq!(job["static_configs"][0]["targets"][0], "127.0.0.1:9404");
        assert_eq!(job["static_configs"][0]["labels"]["cluster"], "e2e");
    }
}
