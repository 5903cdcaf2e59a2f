//! The Prometheus alert rules in `alerts/`: where the rule files and their promtool tests are,
//! and the alerting rules they define, for the checks in `tests/alerts.rs` and for loading the
//! rules into a real Prometheus.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

/// `alerts/` in the repository.
pub fn alerts_dir() -> PathBuf {
    crate::repo_root().join("alerts")
}

/// The rule files, `alerts/*.yml`, sorted.
pub fn rule_files() -> anyhow::Result<Vec<PathBuf>> {
    yaml_files(&alerts_dir())
}

/// The promtool unit-test files, `alerts/tests/*.yml`, sorted.
pub fn test_files() -> anyhow::Result<Vec<PathBuf>> {
    yaml_files(&alerts_dir().join("tests"))
}

/// `alerts/RUNBOOK.md`, which every rule's `runbook_url` points into.
pub fn runbook() -> PathBuf {
    alerts_dir().join("RUNBOOK.md")
}

/// One alerting rule as written in a rule file.
#[derive(Debug, Clone)]
pub struct AlertRule {
    /// The `alert` name.
    pub name: String,
    /// The rule group it belongs to.
    pub group: String,
    /// The file defining it.
    pub file: PathBuf,
    /// The PromQL expression.
    pub expr: String,
    /// The `for` duration, if any.
    pub for_duration: Option<String>,
    /// Labels the rule adds (`severity`).
    pub labels: BTreeMap<String, String>,
    /// Annotations (`summary`, `description`, `runbook_url`).
    pub annotations: BTreeMap<String, String>,
}

/// Every alerting rule of every rule file, in file and group order.
pub fn alert_rules() -> anyhow::Result<Vec<AlertRule>> {
    let mut rules = Vec::new();
    for file in rule_files()? {
        rules.extend(load_rule_file(&file)?);
    }
    Ok(rules)
}

/// The names of every alerting rule, in file and group order.
pub fn alert_names() -> anyhow::Result<Vec<String>> {
    Ok(alert_rules()?.into_iter().map(|r| r.name).collect())
}

/// The alerting rules of one rule file (recording rules are skipped).
pub fn load_rule_file(path: &Path) -> anyhow::Result<Vec<AlertRule>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let file: RuleFile =
        serde_yaml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    Ok(file
        .groups
        .into_iter()
        .flat_map(|g| {
            let group = g.name;
            g.rules.into_iter().filter_map(move |r| {
                Some(AlertRule {
                    name: r.alert?,
                    group: group.clone(),
                    file: path.to_path_buf(),
                    expr: r.expr,
                    for_duration: r.r#for,
                    labels: r.labels,
                    annotations: r.annotations,
                })
            })
        })
        .collect())
}

/// Prometheus' rule-file format, as far as the checks need it.
#[derive(Deserialize)]
struct RuleFile {
    groups: Vec<RuleGroup>,
}

#[derive(Deserialize)]
struct RuleGroup {
    name: String,
    rules: Vec<Rule>,
}

#[derive(Deserialize)]
struct Rule {
    alert: Option<String>,
    expr: String,
    r#for: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

fn yaml_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "yml" || e == "yaml") {
            files.push(path);
        }
    }
    files.sort();
    anyhow::ensure!(!files.is_empty(), "no .yml files in {}", dir.display());
    Ok(files)
}
