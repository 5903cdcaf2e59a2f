//! Prometheus text for all clusters' last polls, rendered once per poll (never per scrape).
//!
//! Each family is built as a `prometheus` crate `MetricFamily`, encoded by its `TextEncoder`
//! and dropped before the next family is built, so memory holds the output text plus one
//! family, not every series as a live metric object. Because the text is rebuilt from the
//! snapshots alone, series of vanished groups, partitions or down clusters are simply absent.

mod dq;
mod own;
mod seglo;

use std::sync::Arc;

use prometheus::proto::{Counter, Gauge, LabelPair, Metric, MetricFamily, MetricType};
use prometheus::{Encoder, TextEncoder};

use crate::config::Families;
use crate::snapshot::ClusterSnapshot;

/// Renders every enabled family for `clusters`.
pub fn render(clusters: &[Arc<ClusterSnapshot>], families: Families) -> Vec<u8> {
    let mut out = Out { text: Vec::with_capacity(64 * 1024) };
    own::render(&mut out, clusters);
    if families.kafka_exporter {
        dq::render(&mut out, clusters);
    }
    if families.lag_exporter || families.lag_exporter_poll_time_ms {
        seglo::render(&mut out, clusters, families);
    }
    if families.extra {
        own::render_extra(&mut out, clusters);
    }
    out.text
}

/// The text being written.
pub(crate) struct Out {
    text: Vec<u8>,
}

impl Out {
    /// Starts a family; call [`Family::finish`] to append it.
    pub(crate) fn gauge(&mut self, name: &str, help: &str) -> Family<'_> {
        self.family(name, help, MetricType::GAUGE)
    }

    pub(crate) fn counter(&mut self, name: &str, help: &str) -> Family<'_> {
        self.family(name, help, MetricType::COUNTER)
    }

    /// An untyped family: for names ending in `_sum` that dashboards expect, which promtool
    /// only accepts on histograms, summaries and untyped metrics. The crate's text encoder
    /// does not implement untyped, so the family is encoded as a gauge and its TYPE line
    /// rewritten (the sample lines of the two types are identical).
    pub(crate) fn untyped(&mut self, name: &str, help: &str) -> Family<'_> {
        let mut f = self.family(name, help, MetricType::GAUGE);
        f.untyped = true;
        f
    }

    fn family(&mut self, name: &str, help: &str, kind: MetricType) -> Family<'_> {
        let mut mf = MetricFamily::default();
        mf.set_name(name.to_string());
        mf.set_help(help.to_string());
        mf.set_field_type(kind);
        Family { out: self, mf, kind, untyped: false }
    }
}

/// One metric family under construction.
pub(crate) struct Family<'a> {
    out: &'a mut Out,
    mf: MetricFamily,
    kind: MetricType,
    untyped: bool,
}

impl Family<'_> {
    /// Adds a series.
    pub(crate) fn add(&mut self, labels: &[(&str, &str)], value: f64) {
        let mut m = Metric::default();
        m.set_label(
            labels
                .iter()
                .map(|(k, v)| {
                    let mut l = LabelPair::default();
                    l.set_name(k.to_string());
                    l.set_value(v.to_string());
                    l
                })
                .collect(),
        );
        if self.kind == MetricType::COUNTER {
            let mut c = Counter::default();
            c.set_value(value);
            m.set_counter(c);
        } else {
            let mut g = Gauge::default();
            g.set_value(value);
            m.set_gauge(g);
        }
        self.mf.mut_metric().push(m);
    }

    /// Encodes the family (nothing when it has no series: an empty family is not valid text).
    pub(crate) fn finish(self) {
        if self.mf.get_metric().is_empty() {
            return;
        }
        let encode = |mf: &MetricFamily, out: &mut Vec<u8>| {
            TextEncoder::new()
                .encode(std::slice::from_ref(mf), out)
                .expect("encoding into memory cannot fail for valid names")
        };
        if !self.untyped {
            return encode(&self.mf, &mut self.out.text);
        }
        let mut text = Vec::new();
        encode(&self.mf, &mut text);
        let gauge = format!("# TYPE {} gauge\n", self.mf.name());
        let text = String::from_utf8(text).expect("the encoder writes UTF-8");
        let text = text.replacen(&gauge, &format!("# TYPE {} untyped\n", self.mf.name()), 1);
        self.out.text.extend_from_slice(text.as_bytes());
    }
}
