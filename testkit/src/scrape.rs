//! Scraping a metrics endpoint as Prometheus does, and reading the text back: series by name
//! and labels, `promtool check metrics`.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

/// One HTTP/1.1 request on 127.0.0.1:`port` with extra header lines (each ending in CRLF, or
/// `""`): (status, head, body bytes). `None` when nothing answers or the answer is not HTTP.
pub fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &str,
) -> Option<(u16, String, Vec<u8>)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    // A hang guard: a healthy endpoint answers at once.
    s.set_read_timeout(Some(Duration::from_secs(15))).ok()?;
    write!(s, "{method} {path} HTTP/1.1\r\nHost: localhost\r\n{headers}Connection: close\r\n\r\n")
        .ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let at = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..at]).into_owned();
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, head, raw[at + 4..].to_vec()))
}

/// [`request`] without extra headers: (status, body as text).
pub fn http(port: u16, method: &str, path: &str) -> Option<(u16, String)> {
    let (status, _, body) = request(port, method, path, "")?;
    Some((status, String::from_utf8_lossy(&body).into_owned()))
}

/// `GET path`: (status, body as text).
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    http(port, "GET", path)
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
        let (status, body) = http_get(port, "/metrics").expect("the metrics endpoint answers");
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

    /// Series of `name` whose labels include `labels`.
    pub fn find(
        &self,
        name: &str,
        labels: &[(&str, &str)],
    ) -> Vec<(&BTreeMap<String, String>, f64)> {
        self.series
            .iter()
            .filter(|(n, l, _)| {
                n == name && labels.iter().all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(_, l, v)| (l, *v))
            .collect()
    }

    /// The one value of `name` whose labels include `labels`; `None` if absent, panics if
    /// ambiguous.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let found = self.find(name, labels);
        assert!(found.len() <= 1, "{name}{labels:?} matches {} series", found.len());
        found.first().map(|(_, v)| *v)
    }

    /// The value of `name` whose labels are exactly `labels`; `None` if absent, panics if it
    /// appears twice.
    pub fn exact(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let wanted: BTreeMap<String, String> =
            labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let found: Vec<f64> =
            self.series.iter().filter(|(n, l, _)| n == name && *l == wanted).map(|s| s.2).collect();
        assert!(found.len() <= 1, "{name}{labels:?} appears {} times", found.len());
        found.first().copied()
    }

    /// As [`Scrape::exact`], panicking with the text when the series is absent.
    pub fn expect(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.exact(name, labels)
            .unwrap_or_else(|| panic!("no series {name}{labels:?} in:\n{}", self.text))
    }

    /// The sum of every series of `name` whose labels include `labels`.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.find(name, labels).iter().map(|(_, v)| v).sum()
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

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# HELP a_total A.\n# TYPE a_total counter\n\
        a_total{topic=\"t\",partition=\"0\"} 3\na_total{topic=\"t\",partition=\"1\"} 4\nb 1.5\n";

    #[test]
    fn value_matches_a_label_subset_and_exact_the_whole_set() {
        let s = Scrape::parse(TEXT);
        assert_eq!(s.value("a_total", &[("partition", "1")]), Some(4.0));
        assert_eq!(s.exact("a_total", &[("partition", "1")]), None);
        assert_eq!(s.exact("a_total", &[("topic", "t"), ("partition", "1")]), Some(4.0));
        assert_eq!(s.expect("b", &[]), 1.5);
        assert_eq!(s.sum("a_total", &[("topic", "t")]), 7.0);
        assert_eq!(s.find("a_total", &[]).len(), 2);
        assert!(s.has("b") && !s.has("c"));
    }

    #[test]
    #[should_panic(expected = "matches 2 series")]
    fn an_ambiguous_value_panics() {
        Scrape::parse(TEXT).value("a_total", &[("topic", "t")]);
    }
}
