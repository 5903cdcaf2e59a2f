//! Static checks of a dashboard: layout, variables, datasources, conventions and every PromQL
//! query against METRICS.md. Each returns its problems as readable lines (empty: fine), so a
//! test shows every problem at once.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use promql_parser::parser::{self, Expr};
use promql_parser::util::{walk_expr, ExprVisitor};
use regex::Regex;
use serde_json::Value;

use super::{selectors, substitute, variable_refs, Dashboard, Panel, Substitution, BUILTINS};
use crate::catalogue::{Catalogue, Source, TARGET_LABELS};

/// The schema version of Grafana 12's dashboard JSON model.
pub const SCHEMA_VERSION: u64 = 41;
/// Grid width.
const COLUMNS: i64 = 24;
/// The datasource reference every panel, target and query variable uses.
pub const DATASOURCE: &str = "${datasource}";
/// The variables every dashboard has.
pub const REQUIRED_VARIABLES: [&str; 4] = ["datasource", "cluster", "consumergroup", "topic"];
/// Tag on every dashboard (the provisioned folder's and the dashboards' links use it).
pub const TAG: &str = "kafka-lab";

/// Panel types the dashboards use; a typo would make Grafana show an empty panel.
const PANEL_TYPES: [&str; 9] = [
    "row",
    "text",
    "timeseries",
    "stat",
    "gauge",
    "table",
    "bargauge",
    "state-timeline",
    "status-history",
];

/// `$cluster` during the query check: every selector must filter on it.
const CLUSTER_SENTINEL: &str = "cluster-under-check";
/// `$__rate_interval` during the query check: every rate() window must be it.
const RATE_SENTINEL: Duration = Duration::from_secs(61);

impl Dashboard {
    /// Every check of this one dashboard.
    pub fn check_all(&self, catalogue: &Catalogue) -> Vec<String> {
        [
            self.check_conventions(),
            self.check_layout(),
            self.check_references(),
            self.check_datasources(),
            self.check_variables(),
            self.check_queries(catalogue),
        ]
        .concat()
    }

    fn problem(&self, what: impl std::fmt::Display) -> String {
        format!("{}: {what}", self.file.display())
    }

    fn panel_name(p: &Panel) -> String {
        format!("panel {} {:?}", p.id.map_or("(no id)".to_string(), |i| i.to_string()), p.title)
    }

    /// `schemaVersion` 41, a uid Grafana accepts, a title, the `kafka-lab` tag; every panel of a
    /// known type, titled, with a unit, and with uniquely named queries.
    pub fn check_conventions(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.schema_version() != Some(SCHEMA_VERSION) {
            out.push(self.problem(format!(
                "schemaVersion is {:?}, not {SCHEMA_VERSION}",
                self.schema_version()
            )));
        }
        let uid = Regex::new("^[a-z0-9-]{1,40}$").expect("valid regex");
        if !uid.is_match(self.uid()) {
            out.push(self.problem(format!("uid {:?} is not 1-40 of [a-z0-9-]", self.uid())));
        }
        if self.title().is_empty() {
            out.push(self.problem("no title"));
        }
        if !self.tags().iter().any(|t| t == TAG) {
            out.push(self.problem(format!("no tag {TAG}")));
        }
        for p in self.panels() {
            let name = Self::panel_name(p);
            if !PANEL_TYPES.contains(&p.kind.as_str()) {
                out.push(self.problem(format!("{name}: unknown type {:?}", p.kind)));
            }
            if p.title.trim().is_empty() {
                out.push(self.problem(format!("{name}: no title")));
            }
            if matches!(p.kind.as_str(), "row" | "text") {
                continue;
            }
            if p.targets.is_empty() {
                out.push(self.problem(format!("{name}: no queries")));
            }
            let mut refs = BTreeSet::new();
            for t in &p.targets {
                if t.expr.as_deref().is_none_or(|e| e.trim().is_empty()) {
                    out.push(self.problem(format!("{name}: query {} has no expr", t.ref_id)));
                }
                if t.ref_id.is_empty() || !refs.insert(&t.ref_id) {
                    out.push(
                        self.problem(format!("{name}: refId {:?} empty or repeated", t.ref_id)),
                    );
                }
            }
            let unit = p.field_config.pointer("/defaults/unit").and_then(Value::as_str);
            if unit.is_none_or(str::is_empty) {
                out.push(self.problem(format!("{name}: no unit in fieldConfig.defaults")));
            }
        }
        out
    }

    /// Unique panel ids (rows and nested panels included); every panel inside the 24 columns;
    /// no two panels overlapping.
    pub fn check_layout(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut ids = BTreeMap::new();
        let mut placed: Vec<(String, super::GridPos)> = Vec::new();
        for p in self.panels() {
            let name = Self::panel_name(p);
            match p.id {
                None => out.push(self.problem(format!("{name}: no id"))),
                Some(id) => {
                    if let Some(other) = ids.insert(id, p.title.clone()) {
                        out.push(self.problem(format!("{name}: id {id} also used by {other:?}")));
                    }
                }
            }
            let Some(g) = p.grid_pos else {
                out.push(self.problem(format!("{name}: no gridPos")));
                continue;
            };
            if g.x < 0 || g.y < 0 || g.w < 1 || g.h < 1 || g.x + g.w > COLUMNS {
                out.push(self.problem(format!(
                    "{name}: gridPos x={} w={} y={} h={} is not inside the {COLUMNS} columns",
                    g.x, g.w, g.y, g.h
                )));
            }
            for (other, o) in &placed {
                let apart = |a: i64, aw: i64, b: i64, bw: i64| a + aw <= b || b + bw <= a;
                if !apart(g.x, g.w, o.x, o.w) && !apart(g.y, g.h, o.y, o.h) {
                    out.push(self.problem(format!("{name} overlaps {other}")));
                }
            }
            placed.push((name, g));
        }
        out
    }

    /// Every `$var` anywhere in the model (expressions, titles, legends, links) names a
    /// template variable or a Grafana built-in.
    pub fn check_references(&self) -> Vec<String> {
        let defined: BTreeSet<&str> = self.variables().iter().map(|v| v.name.as_str()).collect();
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        strings(&self.json, "", &mut |at, s| {
            for r in variable_refs(s) {
                if !defined.contains(r.name.as_str())
                    && !BUILTINS.contains(&r.name.as_str())
                    && seen.insert((r.name.clone(), at.to_string()))
                {
                    out.push(self.problem(format!("${} at {at} is not defined", r.name)));
                }
            }
        });
        out
    }

    /// Every `datasource` in the model is `${datasource}` (no datasource uid written in), and
    /// every panel, target and query variable names one.
    pub fn check_datasources(&self) -> Vec<String> {
        let mut out = Vec::new();
        datasources(&self.json, "", &mut |at, ds| {
            let uid = match ds {
                Value::String(s) => Some(s.as_str()),
                Value::Object(o) => o.get("uid").and_then(Value::as_str),
                _ => None,
            };
            if uid != Some(DATASOURCE) {
                out.push(self.problem(format!("datasource at {at} is {ds}, not {DATASOURCE}")));
            }
        });
        for p in self.panels().into_iter().filter(|p| p.kind != "row") {
            if p.datasource.is_none() {
                out.push(self.problem(format!("{}: no datasource", Self::panel_name(p))));
            }
            for t in p.targets.iter().filter(|t| t.datasource.is_none()) {
                let name = Self::panel_name(p);
                out.push(self.problem(format!("{name}: query {} has no datasource", t.ref_id)));
            }
        }
        for v in self.variables().iter().filter(|v| v.kind == "query" && v.datasource.is_none()) {
            out.push(self.problem(format!("variable {} has no datasource", v.name)));
        }
        out
    }

    /// The required variables exist: `datasource` picks a Prometheus datasource; `cluster`,
    /// `consumergroup` and `topic` are query variables refreshed on load, the latter two
    /// multi-select with an All that matches everything and depending on `$cluster`.
    pub fn check_variables(&self) -> Vec<String> {
        let mut out = Vec::new();
        for name in REQUIRED_VARIABLES {
            if self.variable(name).is_none() {
                out.push(self.problem(format!("no variable {name}")));
            }
        }
        let mut names = BTreeSet::new();
        for v in self.variables() {
            if !names.insert(&v.name) {
                out.push(self.problem(format!("variable {} defined twice", v.name)));
            }
        }
        if let Some(v) = self.variable("datasource") {
            if v.kind != "datasource" || v.query_text() != Some("prometheus") {
                out.push(
                    self.problem(
                        "variable datasource is not a `datasource` variable on prometheus",
                    ),
                );
            }
        }
        let queries = match self.variable_queries() {
            Ok(q) => q,
            Err(e) => return [out, vec![self.problem(format!("{e:#}"))]].concat(),
        };
        for name in ["cluster", "consumergroup", "topic"] {
            let Some(v) = self.variable(name) else { continue };
            if v.kind != "query" {
                out.push(self.problem(format!("variable {name} is not a query variable")));
                continue;
            }
            if !matches!(v.refresh, Some(1 | 2)) {
                out.push(
                    self.problem(format!(
                        "variable {name} is not refreshed on load (refresh 1 or 2)"
                    )),
                );
            }
            if name == "cluster" {
                continue;
            }
            if !v.multi || !v.include_all {
                out.push(self.problem(format!("variable {name} is not multi-select with All")));
            }
            let matches_all = v.all_value.as_deref().is_some_and(|a| {
                Regex::new(&format!("^(?:{a})$")).is_ok_and(|r| r.is_match("any.topic-name_1"))
            });
            if !matches_all {
                out.push(self.problem(format!(
                    "variable {name}: allValue {:?} is not a regex matching every name (e.g. .*)",
                    v.all_value
                )));
            }
            let q = queries.iter().find(|q| q.variable == name).expect("a query variable");
            if !variable_refs(&q.expr).iter().any(|r| r.name == "cluster") {
                out.push(self.problem(format!("variable {name} does not depend on $cluster")));
            }
        }
        out
    }

    /// Every query (panels' and variables') parses after substitution; each selector names a
    /// metric of METRICS.md, selects its job (`job="kafka"` or `job="kafka-lag-exporter"`),
    /// filters on `$cluster` and matches only labels the metric has; BrokerTopicMetrics
    /// selectors say whether they want the per-topic series (`topic!=""`) or the broker total
    /// (`topic=""`); rate(), irate() and increase() windows are `$__rate_interval`.
    pub fn check_queries(&self, catalogue: &Catalogue) -> Vec<String> {
        let mut sub = Substitution::matching_all(self).var("cluster", CLUSTER_SENTINEL);
        sub.rate_interval = RATE_SENTINEL;
        // (where, expr, whether it must filter on $cluster: all but the cluster variable's own)
        let mut exprs: Vec<(String, String, bool)> = self
            .queries()
            .into_iter()
            .map(|q| {
                let at = format!("panel {} {:?} query {}", q.panel_id, q.panel_title, q.ref_id);
                (at, q.expr, true)
            })
            .collect();
        match self.variable_queries() {
            Ok(vq) => exprs.extend(vq.into_iter().map(|q| {
                let by_cluster = q.variable != "cluster";
                (format!("variable {}", q.variable), q.expr, by_cluster)
            })),
            Err(e) => return vec![self.problem(format!("{e:#}"))],
        }
        let mut out = Vec::new();
        for (at, expr, by_cluster) in exprs {
            let problems = check_expr(&expr, &sub, catalogue, by_cluster);
            out.extend(problems.into_iter().map(|p| self.problem(format!("{at}: {p}"))));
        }
        out
    }
}

/// The problems of one expression (see [`Dashboard::check_queries`]).
fn check_expr(
    expr: &str,
    sub: &Substitution,
    catalogue: &Catalogue,
    by_cluster: bool,
) -> Vec<String> {
    let promql = match substitute(expr, sub) {
        Ok(p) => p,
        Err(e) => return vec![format!("{e:#}")],
    };
    let found = match selectors(&promql) {
        Ok(s) => s,
        Err(e) => return vec![format!("{e:#}")],
    };
    let mut out = Vec::new();
    for s in found {
        let Some(spec) = catalogue.get(&s.name) else {
            out.push(format!("metric {:?} is not in METRICS.md", s.name));
            continue;
        };
        let has = |label: &str, op: &str, value: &str| {
            s.matchers.iter().any(|(l, o, v)| l == label && o == op && v == value)
        };
        if !has("job", "=", spec.source.job()) {
            out.push(format!("{} does not select job=\"{}\"", s.name, spec.source.job()));
        }
        if by_cluster
            && !has("cluster", "=", CLUSTER_SENTINEL)
            && !has("cluster", "=~", CLUSTER_SENTINEL)
        {
            out.push(format!("{} is not filtered by cluster=\"$cluster\"", s.name));
        }
        for (label, _, _) in &s.matchers {
            if !spec.labels.contains(label) && !TARGET_LABELS.contains(&label.as_str()) {
                out.push(format!(
                    "{} has no label {label:?} (METRICS.md: {:?})",
                    s.name, spec.labels
                ));
            }
        }
        if spec.source == Source::Broker
            && s.name.starts_with("kafka_server_brokertopicmetrics_")
            && !has("topic", "!=", "")
            && !has("topic", "=", "")
        {
            out.push(format!(
                "{} mixes the per-topic series with the broker total: select topic!=\"\" or topic=\"\"",
                s.name
            ));
        }
    }
    if let Ok(parsed) = parser::parse(&promql) {
        struct Windows(Vec<String>);
        impl ExprVisitor for Windows {
            type Error = std::convert::Infallible;
            fn pre_visit(&mut self, e: &Expr) -> Result<bool, Self::Error> {
                if let Expr::Call(c) = e {
                    if matches!(c.func.name, "rate" | "irate" | "increase") {
                        for a in &c.args.args {
                            if let Expr::MatrixSelector(m) = a.as_ref() {
                                if m.range != RATE_SENTINEL {
                                    self.0.push(format!(
                                        "{}() window is not $__rate_interval",
                                        c.func.name
                                    ));
                                }
                            }
                        }
                    }
                }
                Ok(true)
            }
        }
        let mut w = Windows(Vec::new());
        let Ok(_) = walk_expr(&mut w, &parsed);
        out.extend(w.0);
    }
    out
}

/// Links to other dashboards (`/d/<uid>`, in dashboard links, panel links and data links)
/// point to dashboards that exist; uids and titles are unique.
pub fn check_links(all: &[Dashboard]) -> Vec<String> {
    let uids: BTreeSet<&str> = all.iter().map(Dashboard::uid).collect();
    let mut out = Vec::new();
    if uids.len() != all.len() {
        out.push("two dashboards share a uid".to_string());
    }
    if all.iter().map(Dashboard::title).collect::<BTreeSet<_>>().len() != all.len() {
        out.push("two dashboards share a title".to_string());
    }
    let link = Regex::new(r"/d/([A-Za-z0-9_-]+)").expect("valid regex");
    for d in all {
        strings(&d.json, "", &mut |at, s| {
            for c in link.captures_iter(s) {
                if !uids.contains(&c[1]) {
                    out.push(d.problem(format!("link at {at} to unknown dashboard uid {}", &c[1])));
                }
            }
        });
    }
    out
}

/// Calls `f` with the JSON-pointer-like path and value of every string in `v`.
fn strings(v: &Value, at: &str, f: &mut impl FnMut(&str, &str)) {
    match v {
        Value::String(s) => f(at, s),
        Value::Array(a) => {
            a.iter().enumerate().for_each(|(i, v)| strings(v, &format!("{at}/{i}"), f))
        }
        Value::Object(o) => o.iter().for_each(|(k, v)| strings(v, &format!("{at}/{k}"), f)),
        _ => {}
    }
}

/// Calls `f` with the path and value of every `datasource` key in `v`.
fn datasources(v: &Value, at: &str, f: &mut impl FnMut(&str, &Value)) {
    match v {
        Value::Array(a) => {
            a.iter().enumerate().for_each(|(i, v)| datasources(v, &format!("{at}/{i}"), f))
        }
        Value::Object(o) => o.iter().for_each(|(k, v)| {
            let here = format!("{at}/{k}");
            if k == "datasource" {
                f(&here, v);
            } else {
                datasources(v, &here, f);
            }
        }),
        _ => {}
    }
}
