//! Prometheus text for all clusters' last polls, rendered once per poll (never per scrape).
//!
//! Each family is built as `prometheus` crate `MetricFamily` chunks of at most
//! [`SERIES_PER_CHUNK`] series, encoded by its `TextEncoder` straight into a gzip stream, and
//! dropped before the next chunk is built. Memory holds the compressed text (Prometheus always
//! asks for gzip; ~10× smaller) plus one chunk, never the whole text or every series as a live
//! metric object. Because the text is rebuilt from the snapshots alone, series of vanished
//! groups, partitions or down clusters are simply absent.

mod dq;
mod own;
mod seglo;

use std::io::Write;
use std::sync::Arc;

use flate2::write::GzEncoder;
use flate2::Compression;
use prometheus::proto::{Counter, Gauge, LabelPair, Metric, MetricFamily, MetricType};
use prometheus::{Encoder, TextEncoder};

use crate::config::Families;
use crate::snapshot::ClusterSnapshot;

/// Series encoded per `TextEncoder` call: bounds the metric objects alive at once.
const SERIES_PER_CHUNK: usize = 1024;

/// The exposition text of one render, gzip-compressed.
pub struct Rendered {
    /// A complete gzip member holding the text.
    pub gzip: Vec<u8>,
    /// Length of the uncompressed text.
    pub text_len: usize,
}

/// Renders every enabled family for `clusters`.
pub fn render(clusters: &[Arc<ClusterSnapshot>], families: Families) -> Rendered {
    // Fast compression: the text is regenerated every poll, and level 1 already gets ~10×.
    let mut out = Out {
        gz: GzEncoder::new(Vec::with_capacity(64 * 1024), Compression::fast()),
        text_len: 0,
        chunk: Vec::new(),
    };
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
    let gzip = out.gz.finish().expect("compressing into memory cannot fail");
    Rendered { gzip, text_len: out.text_len }
}

/// The compressed text being written.
pub(crate) struct Out {
    gz: GzEncoder<Vec<u8>>,
    text_len: usize,
    /// Scratch buffer for one encoded chunk, reused.
    chunk: Vec<u8>,
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
        Family { out: self, mf, kind, untyped: false, chunks: 0 }
    }

    fn write(&mut self, text: &[u8]) {
        self.text_len += text.len();
        self.gz.write_all(text).expect("compressing into memory cannot fail");
    }
}

/// One metric family under construction.
pub(crate) struct Family<'a> {
    out: &'a mut Out,
    mf: MetricFamily,
    kind: MetricType,
    untyped: bool,
    /// Chunks already encoded.
    chunks: usize,
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
        if self.mf.get_metric().len() == SERIES_PER_CHUNK {
            self.encode_chunk();
        }
    }

    /// Encodes the series added so far and drops them. The text encoder writes `# HELP` and
    /// `# TYPE` before every call's samples; a family's samples must follow one header, so
    /// later chunks are written without theirs.
    fn encode_chunk(&mut self) {
        if self.mf.get_metric().is_empty() {
            return;
        }
        let mut text = std::mem::take(&mut self.out.chunk);
        text.clear();
        TextEncoder::new()
            .encode(std::slice::from_ref(&self.mf), &mut text)
            .expect("encoding into memory cannot fail for valid names");
        let body = if self.chunks == 0 {
            if self.untyped {
                // The crate's encoder has no untyped; the sample lines of the two are identical.
                let gauge = format!("# TYPE {} gauge\n", self.mf.name());
                let at = find(&text, gauge.as_bytes()).expect("the encoder writes a TYPE line");
                self.out.write(&text[..at]);
                self.out.write(format!("# TYPE {} untyped\n", self.mf.name()).as_bytes());
                at + gauge.len()
            } else {
                0
            }
        } else {
            // Skip the `# HELP` and `# TYPE` lines (escaped help text holds no newline).
            let mut newlines = text.iter().enumerate().filter(|(_, b)| **b == b'\n');
            newlines.nth(1).map_or(text.len(), |(i, _)| i + 1)
        };
        self.out.write(&text[body..]);
        self.out.chunk = text;
        self.mf.mut_metric().clear();
        self.chunks += 1;
    }

    /// Encodes the rest of the family (nothing when it has no series: an empty family is not
    /// valid text).
    pub(crate) fn finish(mut self) {
        self.encode_chunk();
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render_with(build: impl FnOnce(&mut Out)) -> String {
        let mut out = Out {
            gz: GzEncoder::new(Vec::new(), Compression::fast()),
            text_len: 0,
            chunk: Vec::new(),
        };
        build(&mut out);
        let len = out.text_len;
        let mut text = Vec::new();
        let gzip = out.gz.finish().unwrap();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gzip[..]), &mut text)
            .unwrap();
        assert_eq!(text.len(), len);
        String::from_utf8(text).unwrap()
    }

    #[test]
    fn a_family_spanning_chunks_has_one_header_and_every_series() {
        let n = SERIES_PER_CHUNK * 2 + 7;
        let text = render_with(|out| {
            let mut f = out.untyped("big_sum", "Many series.");
            for i in 0..n {
                f.add(&[("partition", &i.to_string())], i as f64);
            }
            f.finish();
            let mut f = out.gauge("small", "One series.");
            f.add(&[("a", "b")], 1.0);
            f.finish();
            out.gauge("empty", "No series.").finish();
        });
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "# HELP big_sum Many series.");
        assert_eq!(lines[1], "# TYPE big_sum untyped");
        assert_eq!(text.matches("# HELP").count(), 2, "{text}");
        assert_eq!(text.matches("# TYPE").count(), 2);
        assert!(!text.contains("empty"));
        for i in [0, SERIES_PER_CHUNK - 1, SERIES_PER_CHUNK, n - 1] {
            assert!(text.contains(&format!("big_sum{{partition=\"{i}\"}} {i}\n")), "series {i}");
        }
        assert_eq!(lines.len(), 2 + n + 3);
        assert_eq!(lines[2 + n], "# HELP small One series.");
    }
}
