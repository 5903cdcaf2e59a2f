//! METRICS.md read as data: every metric name the dashboards and alerts may use, which job
//! emits it and its labels. The tables are the contract; this parses them rather than
//! repeating them, so a name added to or dropped from METRICS.md is seen by every check.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::repo_root;

/// Who emits a metric, and so the Prometheus job it is scraped under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    /// The broker's metrics endpoint (ours, or Apache Kafka's JMX exporter).
    Broker,
    /// `kafka-lag-exporter`.
    Exporter,
}

impl Source {
    /// The `job` label METRICS.md's scrape conventions give this source.
    pub fn job(self) -> &'static str {
        match self {
            Source::Broker => "kafka",
            Source::Exporter => "kafka-lag-exporter",
        }
    }
}

/// One row of METRICS.md.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricSpec {
    /// The metric name as Prometheus stores it.
    pub name: String,
    /// Who emits it.
    pub source: Source,
    /// Labels the series carry, besides the target labels (`job`, `instance`, `cluster`).
    pub labels: BTreeSet<String>,
}

/// Labels every series has once scraped: target labels per METRICS.md's scrape conventions.
pub const TARGET_LABELS: [&str; 3] = ["job", "instance", "cluster"];

/// Every metric METRICS.md lists.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    metrics: BTreeMap<String, MetricSpec>,
}

impl Catalogue {
    /// Parses the repository's METRICS.md.
    pub fn load() -> Result<Catalogue> {
        Catalogue::load_from(&repo_root().join("METRICS.md"))
    }

    /// Parses a METRICS.md at `path`.
    pub fn load_from(path: &Path) -> Result<Catalogue> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Catalogue::parse(&text).with_context(|| format!("parsing {}", path.display()))
    }

    /// Parses METRICS.md's text: the tables under `## Broker…` are the broker's, those under
    /// `## Lag exporter…` the exporter's. A table's first column holds the backticked name; its
    /// `labels` column the backticked label names (`same`: the row above's labels).
    pub fn parse(text: &str) -> Result<Catalogue> {
        let mut metrics = BTreeMap::new();
        let mut source = None;
        let mut labels_column = None;
        let mut previous_labels = BTreeSet::new();
        for (n, line) in text.lines().enumerate() {
            if let Some(heading) = line.strip_prefix("## ") {
                source = if heading.starts_with("Broker") {
                    Some(Source::Broker)
                } else if heading.starts_with("Lag exporter") {
                    Some(Source::Exporter)
                } else {
                    None
                };
                labels_column = None;
                continue;
            }
            let Some(source) = source else { continue };
            let Some(row) = line.trim().strip_prefix('|') else {
                labels_column = None;
                continue;
            };
            let cells: Vec<&str> = row.trim_end_matches('|').split('|').map(str::trim).collect();
            if cells.first() == Some(&"name") {
                labels_column = cells.iter().position(|c| *c == "labels");
                previous_labels.clear();
                continue;
            }
            let Some(name) = backticked(cells[0]).next() else { continue };
            if !is_metric_name(name) {
                continue;
            }
            let Some(column) = labels_column else {
                bail!("line {}: a metric row in a table without a `labels` column", n + 1);
            };
            let cell = cells.get(column).copied().unwrap_or_default();
            let labels: BTreeSet<String> = if cell == "same" {
                previous_labels.clone()
            } else {
                let outside = outside_parentheses(cell);
                backticked(&outside).filter(|l| is_label_name(l)).map(str::to_string).collect()
            };
            previous_labels = labels.clone();
            let spec = MetricSpec { name: name.to_string(), source, labels };
            if metrics.insert(name.to_string(), spec).is_some() {
                bail!("line {}: {name} listed twice", n + 1);
            }
        }
        if !metrics.values().any(|m| m.source == Source::Broker)
            || !metrics.values().any(|m| m.source == Source::Exporter)
        {
            bail!("no broker or no exporter metric table found");
        }
        Ok(Catalogue { metrics })
    }

    /// The row for `name`.
    pub fn get(&self, name: &str) -> Option<&MetricSpec> {
        self.metrics.get(name)
    }

    /// Every row, by name.
    pub fn metrics(&self) -> impl Iterator<Item = &MetricSpec> {
        self.metrics.values()
    }
}

/// Every metric name the exporter's source emits: the string literals in
/// `exporter/src/metrics/` that look like metric names. A name METRICS.md lists for the
/// exporter but missing here is a stale contract.
pub fn exporter_source_names() -> Result<BTreeSet<String>> {
    let dir = repo_root().join("exporter/src/metrics");
    let literal = regex::Regex::new(r#""(kafka_[a-z0-9_]+)""#).expect("valid regex");
    let mut names = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path)?;
            names.extend(literal.captures_iter(&text).map(|c| c[1].to_string()));
        }
    }
    Ok(names)
}

/// `cell` without its parenthesised parts, which list label values, not labels.
fn outside_parentheses(cell: &str) -> String {
    let mut depth = 0usize;
    cell.chars()
        .filter(|c| {
            match c {
                '(' => depth += 1,
                ')' => depth = depth.saturating_sub(1),
                _ => return depth == 0,
            }
            false
        })
        .collect()
}

fn backticked(cell: &str) -> impl Iterator<Item = &str> {
    cell.split('`').skip(1).step_by(2)
}

fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_metric_name(s: &str) -> bool {
    is_label_name(s) && s.starts_with("kafka_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_catalogue_has_both_jobs_and_their_labels() {
        let c = Catalogue::load().unwrap();
        let topic = c.get("kafka_server_brokertopicmetrics_bytesout_total").unwrap();
        assert_eq!(topic.source, Source::Broker);
        assert_eq!(topic.labels, BTreeSet::from(["topic".to_string()]), "`same` row");
        let time = c.get("kafka_network_requestmetrics_totaltimems").unwrap();
        assert!(time.labels.contains("quantile") && !time.labels.contains("0.50"));
        let lag = c.get("kafka_consumergroup_group_lag").unwrap();
        assert_eq!(lag.source, Source::Exporter);
        assert!(lag.labels.contains("group") && lag.labels.contains("member_host"));
        assert!(c.get("kafka_consumergroup_lag").unwrap().labels.contains("consumergroup"));
        let phase = c.get("kafka_lag_exporter_last_poll_phase_duration_seconds").unwrap();
        assert_eq!(phase.labels, BTreeSet::from(["phase".to_string()]), "values are not labels");
    }

    #[test]
    fn every_exporter_name_in_the_catalogue_is_in_the_exporter_source() {
        let source = exporter_source_names().unwrap();
        let c = Catalogue::load().unwrap();
        let missing: Vec<&str> = c
            .metrics()
            .filter(|m| m.source == Source::Exporter && !source.contains(&m.name))
            .map(|m| m.name.as_str())
            .collect();
        assert!(missing.is_empty(), "in METRICS.md but not in exporter/src/metrics: {missing:?}");
    }

    #[test]
    fn a_metric_row_outside_a_labelled_table_is_an_error() {
        let text = "## Broker\n\n| `kafka_x` | gauge |\n## Lag exporter\n";
        assert!(Catalogue::parse(text).is_err());
        let text = "## Broker\n| name | labels |\n| --- | --- |\n| `kafka_a` | `x` |\n\n\
                    ## Lag exporter\n| name | labels |\n| --- | --- |\n| `kafka_b` | same |\n";
        let c = Catalogue::parse(text).unwrap();
        assert_eq!(c.get("kafka_b").unwrap().source, Source::Exporter);
    }
}
