//! The alert rules in `alerts/`: `promtool check rules` and `promtool test rules` pass, every
//! alert has a test where it fires and one where it stays silent, every rule carries `for`, a
//! severity, a summary, a description and a runbook section that exists, and every metric the
//! rules and their tests name is in METRICS.md.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use kafka_lab_monitoring::alerts::{self, AlertRule};
use kafka_lab_monitoring::catalogue::Catalogue;
use kafka_lab_monitoring::repo_root;
use serde::Deserialize;

/// Runs promtool with `args` from the repository root; panics with its output if it fails.
fn promtool(args: &[&str], files: &[PathBuf]) {
    let output = Command::new("promtool")
        .args(args)
        .args(files)
        .current_dir(repo_root())
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run promtool ({e}); run ./scripts/install-test-deps to install it")
        });
    assert!(
        output.status.success(),
        "promtool {} failed ({}):\n{}{}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn rule_files_pass_promtool_check() {
    promtool(&["check", "rules"], &alerts::rule_files().unwrap());
}

#[test]
fn promtool_unit_tests_pass() {
    promtool(&["test", "rules"], &alerts::test_files().unwrap());
}

/// promtool's unit-test file format, as far as the coverage check needs it.
#[derive(Deserialize)]
struct TestFile {
    rule_files: Vec<PathBuf>,
    tests: Vec<TestGroup>,
}

#[derive(Deserialize)]
struct TestGroup {
    name: String,
    #[serde(default)]
    input_series: Vec<InputSeries>,
    #[serde(default)]
    alert_rule_test: Vec<AlertTest>,
}

#[derive(Deserialize)]
struct InputSeries {
    series: String,
}

#[derive(Deserialize)]
struct AlertTest {
    alertname: String,
    eval_time: String,
    exp_alerts: Vec<ExpectedAlert>,
}

#[derive(Deserialize)]
struct ExpectedAlert {
    #[serde(default)]
    exp_annotations: BTreeMap<String, String>,
}

fn load_tests() -> Vec<(PathBuf, TestFile)> {
    alerts::test_files()
        .unwrap()
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let file = serde_yaml::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: not a promtool test file: {e}", path.display()));
            (path, file)
        })
        .collect()
}

/// The rule files a test file loads, as canonical paths (promtool resolves them from the test
/// file's directory).
fn loaded_rule_files(test_path: &Path, file: &TestFile) -> BTreeSet<PathBuf> {
    let dir = test_path.parent().unwrap();
    file.rule_files
        .iter()
        .map(|f| {
            dir.join(f).canonicalize().unwrap_or_else(|e| {
                panic!("{}: rule file {}: {e}", test_path.display(), f.display())
            })
        })
        .collect()
}

#[test]
fn every_alert_is_tested_firing_and_silent() {
    let rules = alerts::alert_rules().unwrap();
    let rule_file: BTreeMap<&str, PathBuf> =
        rules.iter().map(|r| (r.name.as_str(), r.file.canonicalize().unwrap())).collect();
    let mut firing: BTreeSet<&str> = BTreeSet::new();
    let mut silent: BTreeSet<&str> = BTreeSet::new();
    let mut loaded: BTreeSet<PathBuf> = BTreeSet::new();
    let tests = load_tests();
    for (path, file) in &tests {
        let files = loaded_rule_files(path, file);
        loaded.extend(files.iter().cloned());
        for group in &file.tests {
            for t in &group.alert_rule_test {
                let at = format!("{} / {:?} at {}", path.display(), group.name, t.eval_time);
                // promtool passes an `exp_alerts: []` for an alert that does not exist or whose
                // file the test does not load, so both are checked here.
                let (name, defined_in) = rule_file
                    .get_key_value(t.alertname.as_str())
                    .unwrap_or_else(|| panic!("{at}: no rule defines alert {}", t.alertname));
                assert!(
                    files.contains(defined_in),
                    "{at}: tests {name} without loading {}",
                    defined_in.display()
                );
                if t.exp_alerts.is_empty() {
                    silent.insert(name);
                } else {
                    firing.insert(name);
                }
                for exp in &t.exp_alerts {
                    assert!(
                        exp.exp_annotations.contains_key("summary"),
                        "{at}: an expected {name} alert does not check its summary"
                    );
                }
            }
        }
    }
    for r in &rules {
        assert!(firing.contains(r.name.as_str()), "no test expects {} to fire", r.name);
        assert!(silent.contains(r.name.as_str()), "no test expects {} to stay silent", r.name);
    }
    for f in alerts::rule_files().unwrap() {
        assert!(loaded.contains(&f.canonicalize().unwrap()), "no test file loads {}", f.display());
    }
}

/// GitHub's anchors for the headings of a Markdown file: lower case, spaces to dashes,
/// punctuation other than `-` and `_` dropped.
fn heading_anchors(markdown: &str) -> BTreeSet<String> {
    markdown
        .lines()
        .filter_map(|l| l.strip_prefix('#'))
        .map(|h| {
            h.trim_start_matches('#')
                .trim()
                .to_lowercase()
                .chars()
                .filter_map(|c| match c {
                    ' ' => Some('-'),
                    c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                    _ => None,
                })
                .collect()
        })
        .collect()
}

#[test]
fn every_alert_has_for_severity_summary_description_and_runbook() {
    let runbook = std::fs::read_to_string(alerts::runbook()).unwrap();
    let anchors = heading_anchors(&runbook);
    let rules = alerts::alert_rules().unwrap();
    let mut names = BTreeSet::new();
    for r in &rules {
        let n = &r.name;
        assert!(names.insert(n.as_str()), "alert {n} is defined twice");
        assert!(r.for_duration.is_some(), "{n} has no `for`");
        let severity = r.labels.get("severity").map(String::as_str);
        assert!(
            matches!(severity, Some("warning" | "critical")),
            "{n}: severity {severity:?}, not warning or critical"
        );
        for key in ["summary", "description"] {
            assert!(r.annotations.get(key).is_some_and(|s| !s.trim().is_empty()), "{n}: no {key}");
        }
        let url = r.annotations.get("runbook_url").unwrap_or_else(|| panic!("{n}: no runbook_url"));
        let anchor = url.strip_prefix("alerts/RUNBOOK.md#").unwrap_or_else(|| {
            panic!("{n}: runbook_url {url} is not a section of alerts/RUNBOOK.md")
        });
        assert!(anchors.contains(anchor), "{n}: alerts/RUNBOOK.md has no section #{anchor}");
    }
}

/// The `kafka_…` metric names in PromQL or a series selector. Fragments of a name regular
/// expression (`kafka_server_(produce|fetch)_…`) end in `_` and are skipped: the tests' series
/// name those metrics in full.
fn kafka_metric_names(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|t| t.starts_with("kafka_") && !t.ends_with('_'))
}

#[test]
fn rules_and_tests_use_only_metrics_in_metrics_md() {
    let catalogue = Catalogue::load().unwrap();
    let listed = |name: &str| catalogue.get(name).is_some();
    let mut unlisted = BTreeSet::new();
    for r in alerts::alert_rules().unwrap() {
        let texts = std::iter::once(&r.expr).chain(r.annotations.values());
        for name in texts.flat_map(|t| kafka_metric_names(t)) {
            if !listed(name) {
                unlisted.insert(format!("{name} (rule {})", r.name));
            }
        }
    }
    for (path, file) in load_tests() {
        for series in file.tests.iter().flat_map(|g| &g.input_series) {
            let name = series.series.split('{').next().unwrap().trim();
            if name != "up" && !listed(name) {
                unlisted.insert(format!("{name} (series in {})", path.display()));
            }
        }
    }
    assert!(unlisted.is_empty(), "metrics not in METRICS.md: {unlisted:#?}");
}

#[test]
fn alert_names_are_what_the_rule_files_define() {
    let names = alerts::alert_names().unwrap();
    let rules: Vec<AlertRule> = alerts::alert_rules().unwrap();
    assert_eq!(names.len(), rules.len());
    assert!(names.iter().any(|n| n == "KafkaLagExporterAbsent"), "{names:?}");
    for file in alerts::rule_files().unwrap() {
        assert!(
            !alerts::load_rule_file(&file).unwrap().is_empty(),
            "{} has no alert",
            file.display()
        );
    }
}
