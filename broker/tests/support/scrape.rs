//! Scraping a metrics endpoint as Prometheus does, and reading the text back: series by name
//! and labels, `promtool check metrics`.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

/// HTTP/1.1 `method` on 127.0.0.1:`port`: (status, body). `None` when nothing answers.
pub fn http(port: u16, method: &str, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(15))).ok()?;
    write!(s, "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_owned()))
}

/// Parsed Prometheus text: series (name, labels) → value.
#[derive(Debug, Clone)]
pub struct Scrape {
    pub text: String,
    pub series: Vec<(String, BTreeMap<String, String>, f64)>,
}

impl Scrape {
    /// GET /metrics on `port`; panics unless it answers 200.
    pub fn get(port: u16) -> Scrape {
        let (status, body) = http(port, "GET", "/metrics").expect("the metrics endpoint answers");
        assert_eq!(status, 200, "{body}");
        Scrape::parse(&body)
    }

    /// Parses the text format (label values without `",` or escapes, as in these tests).
    pub fn parse(text: &str) -> Scrape {
        let mut series = Vec::new();
        for line in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
            let (name_labels, value) = line.rsplit_once(' ').expect("a sample line");
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("a value in `{line}`"));
            let (name, labels) = match name_labels.split_once('{') {
                Some((n, rest)) => (n, rest.trim_end_matches('}')),
                None => (name_labels, ""),
            };
            let mut map = BTreeMap::new();
            for pair in labels.split("\",").filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once('=').expect("label=value");
                map.insert(k.to_string(), v.trim_matches('"').to_string());
            }
            series.push((name.to_string(), map, value));
        }
        Scrape { text: text.to_string(), series }
    }

    /// Series of `name` whose labels are exactly `labels`.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let wanted: BTreeMap<String, String> =
            labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let found: Vec<f64> =
            self.series.iter().filter(|(n, l, _)| n == name && *l == wanted).map(|s| s.2).collect();
        assert!(found.len() <= 1, "{name}{labels:?} appears {} times", found.len());
        found.first().copied()
    }

    /// As [`Scrape::value`], panicking with the text when the series is absent.
    pub fn expect(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.value(name, labels)
            .unwrap_or_else(|| panic!("no series {name}{labels:?} in:\n{}", self.text))
    }

    /// The sum of every series of `name` whose labels include `labels`.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.series
            .iter()
            .filter(|(n, l, _)| {
                n == name && labels.iter().all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| s.2)
            .sum()
    }

    /// Whether any series of `name` exists.
    pub fn has(&self, name: &str) -> bool {
        self.series.iter().any(|(n, _, _)| n == name)
    }
}

/// Runs `promtool check metrics` on `text`: (succeeded, its output). `None` when promtool is
/// not installed.
pub fn promtool_check(text: &str) -> Option<(bool, String)> {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let msg =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    Some((out.status.success(), msg))
}
