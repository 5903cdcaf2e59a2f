//! The Grafana dashboards in `dashboards/` as data: their panels, every PromQL query (panel
//! targets and template-variable queries), and Grafana's interpolation of macros and template
//! variables, so tests can parse each query (`promql-parser`, promtool) or run it through a
//! real Prometheus.
//!
//! ```no_run
//! use kafka_lab_monitoring::dashboard::{Dashboard, Substitution};
//! let sub = Substitution::new().var("cluster", "e2e").var("consumergroup", ".*").var("topic", ".*");
//! for d in Dashboard::load_all().unwrap() {
//!     for q in d.queries() {
//!         let promql = q.substituted(&sub).unwrap();
//!         // evaluate `promql`; report q.dashboard, q.panel_title, q.expr on failure
//!     }
//! }
//! ```

mod checks;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use promql_parser::label::MatchOp;
use promql_parser::parser::{self, Expr};
use promql_parser::util::{walk_expr, ExprVisitor};
use regex::Regex;
use serde::Deserialize;
use serde_json::Value;

pub use checks::check_links;

use crate::repo_root;

/// One dashboard file.
#[derive(Debug, Clone)]
pub struct Dashboard {
    /// The file it was read from (for messages).
    pub file: PathBuf,
    /// The whole JSON model, for checks that look at every value.
    pub json: Value,
    model: Model,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Model {
    #[serde(default)]
    uid: String,
    #[serde(default)]
    title: String,
    schema_version: Option<u64>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    panels: Vec<Panel>,
    #[serde(default)]
    templating: Templating,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct Templating {
    #[serde(default)]
    list: Vec<Variable>,
}

/// A panel (rows included); `panels` holds a collapsed row's panels.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Panel {
    /// Panel id, unique in the dashboard.
    pub id: Option<u64>,
    /// Panel title (may hold `$variables`).
    #[serde(default)]
    pub title: String,
    /// Panel type: `timeseries`, `stat`, `table`, `row`, ….
    #[serde(rename = "type", default)]
    pub kind: String,
    /// Position on the 24-column grid.
    pub grid_pos: Option<GridPos>,
    /// The panel's datasource reference.
    pub datasource: Option<Value>,
    /// Its queries.
    #[serde(default)]
    pub targets: Vec<Target>,
    /// Panels inside a collapsed row.
    #[serde(default)]
    pub panels: Vec<Panel>,
    /// Field config (units, thresholds, mappings, data links).
    #[serde(default)]
    pub field_config: Value,
}

/// A panel's position: `x` and `w` in grid columns (24 across), `y` and `h` in grid rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct GridPos {
    /// Left column.
    #[serde(default)]
    pub x: i64,
    /// Top row.
    #[serde(default)]
    pub y: i64,
    /// Width in columns.
    #[serde(default)]
    pub w: i64,
    /// Height in rows.
    #[serde(default)]
    pub h: i64,
}

/// One query of a panel.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    /// Query letter (`A`, `B`, …).
    #[serde(default)]
    pub ref_id: String,
    /// The PromQL, before interpolation.
    pub expr: Option<String>,
    /// The target's datasource reference.
    pub datasource: Option<Value>,
    /// Whether Grafana runs it as an instant query.
    #[serde(default)]
    pub instant: bool,
}

/// A template variable.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Variable {
    /// Its name, as used in `$name`.
    pub name: String,
    /// `query`, `datasource`, `custom`, `interval`, `constant`, `textbox`, `adhoc`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The query: a string, or for Prometheus query variables an object whose `query` holds it.
    #[serde(default)]
    pub query: Value,
    /// The variable's datasource reference (query variables).
    pub datasource: Option<Value>,
    /// Several values may be selected.
    #[serde(default)]
    pub multi: bool,
    /// An "All" option is offered.
    #[serde(default)]
    pub include_all: bool,
    /// What "All" stands for (Grafana inserts it unformatted).
    pub all_value: Option<String>,
    /// When the options are reloaded (1 on dashboard load, 2 on time range change).
    pub refresh: Option<u64>,
}

impl Variable {
    /// The query text: `label_values(…)`, `query_result(…)`, or the datasource type for a
    /// `datasource` variable.
    pub fn query_text(&self) -> Option<&str> {
        match &self.query {
            Value::String(s) => Some(s),
            Value::Object(o) => o.get("query").and_then(Value::as_str),
            _ => None,
        }
    }
}

/// A panel query, ready to be interpolated and evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PanelQuery {
    /// The dashboard's uid.
    pub dashboard: String,
    /// The panel's id.
    pub panel_id: u64,
    /// The panel's title as written (variables not interpolated).
    pub panel_title: String,
    /// The target's `refId`.
    pub ref_id: String,
    /// The PromQL as written, with Grafana macros and variables.
    pub expr: String,
    /// Grafana runs it as an instant query (tables, top-k), not over a range.
    pub instant: bool,
}

impl PanelQuery {
    /// The expression Grafana would send to Prometheus under `sub`.
    pub fn substituted(&self, sub: &Substitution) -> Result<String> {
        substitute(&self.expr, sub)
    }
}

/// What a template variable's query asks Prometheus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VariableFunction {
    /// `label_values(selector, label)`: the values of `label` in the series `expr` selects.
    LabelValues {
        /// The label whose values become the options.
        label: String,
    },
    /// `query_result(expr)`: the result of the instant query `expr`, one option per series.
    QueryResult,
}

/// A template variable's query, reduced to the PromQL inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariableQuery {
    /// The dashboard's uid.
    pub dashboard: String,
    /// The variable's name.
    pub variable: String,
    /// `label_values` or `query_result`.
    pub function: VariableFunction,
    /// The PromQL inside the function, with Grafana macros and variables as written.
    pub expr: String,
}

impl VariableQuery {
    /// The inner PromQL as Grafana would send it under `sub`.
    pub fn substituted(&self, sub: &Substitution) -> Result<String> {
        substitute(&self.expr, sub)
    }
}

impl Dashboard {
    /// `dashboards/` at the repository root.
    pub fn dir() -> PathBuf {
        repo_root().join("dashboards")
    }

    /// Every `dashboards/*.json`, by file name.
    pub fn load_all() -> Result<Vec<Dashboard>> {
        let dir = Dashboard::dir();
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .map(|e| e.map(|e| e.path()))
            .collect::<std::io::Result<_>>()?;
        files.retain(|p| p.extension().is_some_and(|e| e == "json"));
        files.sort();
        if files.is_empty() {
            bail!("no dashboards in {}", dir.display());
        }
        files.iter().map(|p| Dashboard::load(p)).collect()
    }

    /// Reads one dashboard file.
    pub fn load(path: &Path) -> Result<Dashboard> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Dashboard::from_json(path, &text)
    }

    /// Parses a dashboard's JSON; `file` names it in messages.
    pub fn from_json(file: impl Into<PathBuf>, text: &str) -> Result<Dashboard> {
        let file = file.into();
        let json: Value = serde_json::from_str(text)
            .with_context(|| format!("{}: not valid JSON", file.display()))?;
        let model: Model = serde_json::from_value(json.clone())
            .with_context(|| format!("{}: not a Grafana dashboard model", file.display()))?;
        Ok(Dashboard { file, json, model })
    }

    /// The dashboard's uid (stable: links use it).
    pub fn uid(&self) -> &str {
        &self.model.uid
    }

    /// The dashboard's title.
    pub fn title(&self) -> &str {
        &self.model.title
    }

    /// `schemaVersion`.
    pub fn schema_version(&self) -> Option<u64> {
        self.model.schema_version
    }

    /// The dashboard's tags.
    pub fn tags(&self) -> &[String] {
        &self.model.tags
    }

    /// Every panel, rows and the panels of collapsed rows included, in file order.
    pub fn panels(&self) -> Vec<&Panel> {
        fn walk<'a>(panels: &'a [Panel], out: &mut Vec<&'a Panel>) {
            for p in panels {
                out.push(p);
                walk(&p.panels, out);
            }
        }
        let mut out = Vec::new();
        walk(&self.model.panels, &mut out);
        out
    }

    /// The template variables, in order.
    pub fn variables(&self) -> &[Variable] {
        &self.model.templating.list
    }

    /// The variable named `name`.
    pub fn variable(&self, name: &str) -> Option<&Variable> {
        self.variables().iter().find(|v| v.name == name)
    }

    /// Every panel target that holds PromQL.
    pub fn queries(&self) -> Vec<PanelQuery> {
        self.panels()
            .into_iter()
            .flat_map(|p| {
                p.targets.iter().filter_map(move |t| {
                    Some(PanelQuery {
                        dashboard: self.uid().to_string(),
                        panel_id: p.id.unwrap_or_default(),
                        panel_title: p.title.clone(),
                        ref_id: t.ref_id.clone(),
                        expr: t.expr.clone()?,
                        instant: t.instant,
                    })
                })
            })
            .collect()
    }

    /// The PromQL inside every query variable's query; an error names a query that is neither
    /// `label_values(selector, label)` nor `query_result(expr)`.
    pub fn variable_queries(&self) -> Result<Vec<VariableQuery>> {
        self.variables()
            .iter()
            .filter(|v| v.kind == "query")
            .map(|v| {
                let text = v.query_text().ok_or_else(|| {
                    anyhow!("{}: variable {} has no query", self.file.display(), v.name)
                })?;
                let (function, expr) = parse_variable_query(text)
                    .with_context(|| format!("{}: variable {}", self.file.display(), v.name))?;
                Ok(VariableQuery {
                    dashboard: self.uid().to_string(),
                    variable: v.name.clone(),
                    function,
                    expr,
                })
            })
            .collect()
    }

    /// Every metric name the dashboard's queries (panels and variables) select, with each
    /// variable standing for everything (`.*`) and the macros for 1 minute.
    pub fn metric_names(&self) -> Result<BTreeSet<String>> {
        let sub = Substitution::matching_all(self);
        let mut names = BTreeSet::new();
        let exprs = self.queries().into_iter().map(|q| q.expr);
        let var_exprs = self.variable_queries()?.into_iter().map(|q| q.expr);
        for expr in exprs.chain(var_exprs) {
            for s in selectors(&substitute(&expr, &sub)?)? {
                names.insert(s.name);
            }
        }
        Ok(names)
    }
}

/// Splits a variable query into its function and inner PromQL.
fn parse_variable_query(text: &str) -> Result<(VariableFunction, String)> {
    let text = text.trim();
    let call = |f: &str| text.strip_prefix(f).and_then(|r| r.trim_start().strip_prefix('('));
    if let Some(rest) = call("label_values") {
        let args = rest.strip_suffix(')').ok_or_else(|| anyhow!("unclosed label_values("))?;
        // Label names hold no comma, selectors may: the label is after the last one.
        let (expr, label) = args.rsplit_once(',').ok_or_else(|| {
            anyhow!("label_values(label) queries every job; give a selector: {text}")
        })?;
        let label = label.trim().to_string();
        Ok((VariableFunction::LabelValues { label }, expr.trim().to_string()))
    } else if let Some(rest) = call("query_result") {
        let expr = rest.strip_suffix(')').ok_or_else(|| anyhow!("unclosed query_result("))?;
        Ok((VariableFunction::QueryResult, expr.trim().to_string()))
    } else {
        bail!("not label_values(selector, label) or query_result(expr): {text}")
    }
}

/// Values for Grafana's macros and template variables.
#[derive(Debug, Clone)]
pub struct Substitution {
    /// `$__interval` (and `$__interval_ms`).
    pub interval: Duration,
    /// `$__rate_interval` (and `$__rate_interval_ms`): Grafana makes it at least four scrape
    /// intervals.
    pub rate_interval: Duration,
    /// The dashboard's time range: `$__range`, `$__range_s`, `$__range_ms`.
    pub range: Duration,
    vars: BTreeMap<String, Vec<String>>,
}

impl Default for Substitution {
    fn default() -> Self {
        Substitution::new()
    }
}

impl Substitution {
    /// Interval 15 s, rate interval 1 min, range 1 h, no variables.
    pub fn new() -> Substitution {
        Substitution {
            interval: Duration::from_secs(15),
            rate_interval: Duration::from_secs(60),
            range: Duration::from_secs(3600),
            vars: BTreeMap::new(),
        }
    }

    /// Every variable of `dashboard` set to match everything: its custom all value, else
    /// `.*`; the `datasource` variable to `prometheus`.
    pub fn matching_all(dashboard: &Dashboard) -> Substitution {
        dashboard.variables().iter().fold(Substitution::new(), |sub, v| {
            let value = match v.kind.as_str() {
                "datasource" => "prometheus",
                _ => v.all_value.as_deref().unwrap_or(".*"),
            };
            sub.var(&v.name, value)
        })
    }

    /// Sets `name` to one value, inserted as given (as Grafana inserts a single value, or a
    /// custom all value such as `.*`).
    pub fn var(self, name: &str, value: &str) -> Substitution {
        self.values(name, &[value])
    }

    /// Sets `name` to several selected values (a multi-value variable): `$name` becomes
    /// `(a|b)` with each value regex-escaped, as Grafana's Prometheus datasource does.
    pub fn values(mut self, name: &str, values: &[&str]) -> Substitution {
        self.vars.insert(name.to_string(), values.iter().map(|v| v.to_string()).collect());
        self
    }

    /// The value of a macro, `None` if `name` is not one this substitutes.
    fn builtin(&self, name: &str) -> Option<String> {
        let secs = |d: Duration| d.as_millis().div_ceil(1000).to_string();
        let ms = |d: Duration| d.as_millis().to_string();
        let promql = |d: Duration| {
            if d.as_millis() % 1000 == 0 {
                format!("{}s", d.as_secs())
            } else {
                format!("{}ms", d.as_millis())
            }
        };
        Some(match name {
            "__interval" => promql(self.interval),
            "__interval_ms" => ms(self.interval),
            "__rate_interval" => promql(self.rate_interval),
            "__rate_interval_ms" => ms(self.rate_interval),
            "__range" => format!("{}s", secs(self.range)),
            "__range_s" => secs(self.range),
            "__range_ms" => ms(self.range),
            _ => return None,
        })
    }
}

/// Names Grafana defines itself, in queries or in links (data links' `${__data.fields.x}`,
/// `${__url_time_range}`, …) or in a variable's `current` (`$__all`); references to them need no
/// template variable.
pub const BUILTINS: [&str; 22] = [
    "__all",
    "__interval",
    "__interval_ms",
    "__rate_interval",
    "__rate_interval_ms",
    "__range",
    "__range_s",
    "__range_ms",
    "__from",
    "__to",
    "__dashboard",
    "__org",
    "__user",
    "__timezone",
    "__name",
    "__data",
    "__field",
    "__series",
    "__value",
    "__url_time_range",
    "__all_variables",
    "__cell",
];

/// A `$name`, `${name}`, `${name:format}`, `${name.path}` or `[[name]]` in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariableRef {
    /// The variable's name.
    pub name: String,
    /// The format after `:`, e.g. `regex`.
    pub format: Option<String>,
    /// The field path after `.` (data links: `${__field.labels.topic}`).
    pub path: Option<String>,
}

/// Grafana's own pattern for variable references (public/app/features/variables/utils.ts).
static VARIABLE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}")
        .expect("valid regex")
});

/// Every variable reference in `text`.
pub fn variable_refs(text: &str) -> Vec<VariableRef> {
    VARIABLE
        .captures_iter(text)
        .map(|c| {
            let name = c.get(1).or(c.get(2)).or(c.get(4)).expect("one name group matches");
            VariableRef {
                name: name.as_str().to_string(),
                format: c.get(3).or(c.get(6)).map(|m| m.as_str().to_string()),
                path: c.get(5).map(|m| m.as_str().to_string()),
            }
        })
        .collect()
}

/// Interpolates Grafana's macros (`$__rate_interval`, `$__interval`, `$__range`, `$__range_s`,
/// …) and template variables (`$var`, `${var}`, `[[var]]`, `${var:format}`) in `expr` as
/// Grafana's Prometheus datasource does. A variable `sub` has no value for is an error.
pub fn substitute(expr: &str, sub: &Substitution) -> Result<String> {
    let mut out = String::with_capacity(expr.len());
    let mut last = 0;
    for c in VARIABLE.captures_iter(expr) {
        let whole = c.get(0).expect("group 0");
        let r = &variable_refs(whole.as_str())[0];
        let value = if let Some(v) = sub.builtin(&r.name) {
            v
        } else if let Some(values) = sub.vars.get(&r.name) {
            format_values(values, r.format.as_deref())
                .with_context(|| format!("in {}", whole.as_str()))?
        } else {
            bail!("{} is not defined (in {expr})", whole.as_str());
        };
        out.push_str(&expr[last..whole.start()]);
        out.push_str(&value);
        last = whole.end();
    }
    out.push_str(&expr[last..]);
    Ok(out)
}

fn format_values(values: &[String], format: Option<&str>) -> Result<String> {
    let escaped = || values.iter().map(|v| regex_escape(v)).collect::<Vec<_>>();
    let group = |items: Vec<String>| match items.len() {
        1 => items.into_iter().next().expect("one"),
        _ => format!("({})", items.join("|")),
    };
    Ok(match format {
        // The Prometheus datasource's default: one value raw, several as a regex alternation.
        None if values.len() == 1 => values[0].clone(),
        None | Some("regex") => group(escaped()),
        Some("raw") | Some("csv") => values.join(","),
        Some("pipe") => values.join("|"),
        Some("text") => values.join(" + "),
        Some("singlequote") => {
            values.iter().map(|v| format!("'{v}'")).collect::<Vec<_>>().join(",")
        }
        Some("doublequote") => {
            values.iter().map(|v| format!("\"{v}\"")).collect::<Vec<_>>().join(",")
        }
        Some(f) => bail!("format :{f} is not supported"),
    })
}

/// Escapes regex metacharacters for use inside a PromQL string (hence the doubled backslash).
fn regex_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for ch in value.chars() {
        if r"\^$*+?.()|[]{}'".contains(ch) {
            out.push_str(r"\\");
        }
        out.push(ch);
    }
    out
}

/// A series selector in a parsed expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    /// The metric name (from the name or a `__name__` equality matcher; empty if neither).
    pub name: String,
    /// The label matchers other than the name: (label, operator, value).
    pub matchers: Vec<(String, String, String)>,
}

/// Parses `promql` (already substituted) and returns every series selector in it.
pub fn selectors(promql: &str) -> Result<Vec<Selector>> {
    let expr =
        parser::parse(promql).map_err(|e| anyhow!("PromQL does not parse: {e}: {promql}"))?;
    struct Collect(Vec<Selector>);
    impl ExprVisitor for Collect {
        type Error = std::convert::Infallible;
        fn pre_visit(&mut self, e: &Expr) -> Result<bool, Self::Error> {
            let vs = match e {
                Expr::VectorSelector(vs) => vs,
                Expr::MatrixSelector(ms) => &ms.vs,
                _ => return Ok(true),
            };
            let mut name = vs.name.clone().unwrap_or_default();
            let mut matchers = Vec::new();
            for m in &vs.matchers.matchers {
                if m.name == "__name__" && matches!(m.op, MatchOp::Equal) {
                    name = m.value.clone();
                } else {
                    matchers.push((m.name.clone(), m.op.to_string(), m.value.clone()));
                }
            }
            self.0.push(Selector { name, matchers });
            Ok(true)
        }
    }
    let mut c = Collect(Vec::new());
    let Ok(_) = walk_expr(&mut c, &expr);
    Ok(c.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macros_and_variables_are_interpolated_as_grafana_does() {
        let sub = Substitution::new()
            .var("cluster", "lab")
            .var("topic", ".*")
            .values("consumergroup", &["a.b", "c"]);
        let expr = r#"rate(m{cluster="$cluster",topic=~"${topic}",g=~"$consumergroup"}[$__rate_interval]) / $__range_s"#;
        assert_eq!(
            substitute(expr, &sub).unwrap(),
            r#"rate(m{cluster="lab",topic=~".*",g=~"(a\\.b|c)"}[60s]) / 3600"#
        );
        assert_eq!(substitute("[[cluster]] ${consumergroup:csv}", &sub).unwrap(), "lab a.b,c");
        let err = substitute("m{x=\"$nope\"}", &sub).unwrap_err().to_string();
        assert!(err.contains("$nope is not defined"), "{err}");
        assert!(substitute("${cluster:nonsense}", &sub).is_err());
    }

    #[test]
    fn references_carry_format_and_field_path() {
        let refs = variable_refs(
            "/d/x?var-g=${__data.fields.consumergroup}&${__url_time_range} $a ${b:regex}",
        );
        let names: Vec<_> = refs.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["__data", "__url_time_range", "a", "b"]);
        assert_eq!(refs[0].path.as_deref(), Some("fields.consumergroup"));
        assert_eq!(refs[3].format.as_deref(), Some("regex"));
    }

    #[test]
    fn variable_queries_reduce_to_their_promql() {
        let (f, e) = parse_variable_query(r#"label_values(m{a="1",b=~"x"}, topic)"#).unwrap();
        assert_eq!(f, VariableFunction::LabelValues { label: "topic".into() });
        assert_eq!(e, r#"m{a="1",b=~"x"}"#);
        let (f, e) = parse_variable_query("query_result(topk(5, m))").unwrap();
        assert_eq!((f, e.as_str()), (VariableFunction::QueryResult, "topk(5, m)"));
        assert!(parse_variable_query("label_values(topic)").is_err());
        assert!(parse_variable_query("metrics(kafka_.*)").is_err());
    }

    #[test]
    fn selectors_name_every_metric_with_its_matchers() {
        let s = selectors(r#"sum(rate(a{job="kafka"}[1m])) / on() group_left b or {__name__="c"}"#)
            .unwrap();
        let names: Vec<_> = s.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(s[0].matchers, [("job".into(), "=".into(), "kafka".into())]);
        assert!(selectors("sum(rate(a[1m])").is_err());
    }
}
