//! `report.html`: one suite run drawn for a person — throughput and latency over time with
//! the faults shaded, acknowledged vs read (unseen) records, each partition's leader and ISR
//! size over time, what the exporter reported — and `index.html` listing the runs of a
//! folder. Self-contained: the simulator's charts (`kafka_lab_chaos::timeline`, inline SVG
//! drawn with `plotters`), no script. `kafka-lab chaos report DIR` re-renders from the run's
//! files.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use kafka_lab_chaos::history::{Event, ProduceOutcome};
use kafka_lab_chaos::timeline::{self, Frame, LeaderSpans, Line, ShadeKind};
use plotters::prelude::{Color, Palette, Palette99, RGBColor};
use serde::de::DeserializeOwned;

use crate::suite::{ExporterSample, FaultRecord, MetadataSample};

/// Everything a report is drawn from, as the run's folder holds it.
pub struct RunFiles {
    /// `summary.txt`.
    pub summary: String,
    /// The faults of `results.json`.
    pub faults: Vec<FaultRecord>,
    /// `history.jsonl`.
    pub events: Vec<Event>,
    /// `metadata.jsonl`: each partition's leader and ISR, sampled.
    pub metadata: Vec<MetadataSample>,
    /// `exporter.jsonl`.
    pub exporter: Vec<ExporterSample>,
}

fn jsonl<T: DeserializeOwned>(path: &Path) -> anyhow::Result<Vec<T>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_str(line).with_context(|| {
                format!("{} line {}: not a record of a run", path.display(), i + 1)
            })
        })
        .collect()
}

impl RunFiles {
    /// Reads a run's folder.
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let results: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("results.json")).with_context(|| {
                format!("{} has no results.json: not a run's folder", dir.display())
            })?,
        )?;
        let faults = serde_json::from_value(results["faults"].clone())
            .context("results.json: the faults")?;
        Ok(Self {
            summary: std::fs::read_to_string(dir.join("summary.txt")).unwrap_or_default(),
            faults,
            events: jsonl(&dir.join("history.jsonl"))?,
            metadata: jsonl(&dir.join("metadata.jsonl"))?,
            exporter: jsonl(&dir.join("exporter.jsonl"))?,
        })
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn colour(i: usize) -> RGBColor {
    let (r, g, b) = Palette99::pick(i).to_backend_color().rgb;
    RGBColor(r, g, b)
}

const GREEN: RGBColor = RGBColor(40, 160, 60);
const AMBER: RGBColor = RGBColor(230, 160, 20);
const RED: RGBColor = RGBColor(210, 40, 40);
const BLUE: RGBColor = RGBColor(60, 110, 220);

/// Width of the throughput and latency buckets, ms.
const BUCKET_MS: u64 = 1000;

/// The page of a run.
pub fn render(files: &RunFiles) -> String {
    let end_ms = files
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Produce { end_ms, .. } | Event::Poll { end_ms, .. } => Some(*end_ms),
            Event::FinalRead { time_ms, .. } => Some(*time_ms),
            _ => None,
        })
        .max()
        .unwrap_or(0)
        .max(1);
    let shades = files
        .faults
        .iter()
        .map(|f| {
            let kind = match f.kind.as_str() {
                "kill" => ShadeKind::Crash,
                "pause" => ShadeKind::Pause,
                "isolate" => ShadeKind::Isolation,
                _ => ShadeKind::Shutdown,
            };
            (f.start_ms, f.end_ms, kind)
        })
        .collect();
    let frame = Frame {
        end_ms,
        chaos_end_ms: files.faults.iter().map(|f| f.end_ms).max().unwrap_or(0),
        shades,
        x_desc: "seconds since the workload began",
    };
    let nodes = files
        .metadata
        .iter()
        .flat_map(|s| s.partitions.values())
        .flat_map(|p| &p.replicas)
        .copied()
        .max()
        .unwrap_or(3);
    let title = files.summary.lines().next().unwrap_or("chaos suite run");
    let mut page = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{t}</title>\
         <style>body{{font-family:sans-serif;margin:1em 2em}} svg{{display:block;margin:0.5em 0 1.5em}} \
         pre{{background:#f4f4f4;padding:0.8em}}</style></head><body>\n<h1>{t}</h1>\n\
         <pre>{summary}</pre>\n\
         <p>Shaded: a node killed (red), paused (orange), cut off the cluster network (purple), \
         stopped by SIGTERM (blue). The dashed line is the end of the last fault.</p>\n",
        t = escape(title),
        summary = escape(&files.summary),
    );
    page.push_str("<h2>Throughput</h2><p>Records acknowledged per second, by acks.</p>\n");
    page.push_str(&timeline::lines_svg("records/s", throughput(&files.events, end_ms), &frame));
    page.push_str(
        "<h2>Latency</h2><p>acks=all records acknowledged in each second: p50 and p99 of \
         send-to-acknowledgement, ms (librdkafka's retries included).</p>\n",
    );
    page.push_str(&timeline::lines_svg("ms", latency(&files.events, end_ms), &frame));
    page.push_str(
        "<h2>Acknowledged vs read</h2><p>Records acknowledged, those some read had returned, and \
         the unseen rest — which falls to 0 with the final read unless acks=1 records were \
         lost.</p>\n",
    );
    page.push_str(&timeline::acked_vs_read_svg(&files.events, &frame));
    page.push_str(
        "<h2>Leaders</h2><p>Each partition's leader as the cluster's metadata answered, once a \
         second (blank: none).</p>\n",
    );
    page.push_str(&timeline::leaders_svg(&leader_spans(&files.metadata), nodes, &frame));
    page.push_str(
        "<h2>ISR size</h2><p>In-sync replicas per partition, from the same answers.</p>\n",
    );
    page.push_str(&timeline::lines_svg("replicas in sync", isr_sizes(&files.metadata), &frame));
    page.push_str(
        "<h2>The lag exporter</h2><p>What its scrapes said: partitions under-replicated and the \
         group's lag, once a second.</p>\n",
    );
    page.push_str(&timeline::lines_svg(
        "partitions / records",
        exporter_lines(&files.exporter),
        &frame,
    ));
    page.push_str("</body></html>\n");
    page
}

fn secs(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

/// Acknowledgements per second, one line per acks setting.
fn throughput(events: &[Event], end_ms: u64) -> Vec<Line> {
    let buckets = (end_ms / BUCKET_MS + 1) as usize;
    let mut by_acks: BTreeMap<i16, Vec<f64>> = BTreeMap::new();
    for e in events {
        if let Event::Produce { end_ms, acks, outcome: ProduceOutcome::Ok { .. }, .. } = e {
            by_acks.entry(*acks).or_insert_with(|| vec![0.0; buckets])
                [(*end_ms / BUCKET_MS) as usize] += 1.0;
        }
    }
    by_acks
        .into_iter()
        .map(|(acks, counts)| {
            let name = if acks == -1 { "acks=all".to_owned() } else { format!("acks={acks}") };
            let line_colour = if acks == -1 { GREEN } else { AMBER };
            let points =
                counts.iter().enumerate().map(|(i, n)| (secs(i as u64 * BUCKET_MS), *n)).collect();
            (name, line_colour, points)
        })
        .collect()
}

/// p50 and p99 of acks=all latency per second.
fn latency(events: &[Event], end_ms: u64) -> Vec<Line> {
    let buckets = (end_ms / BUCKET_MS + 1) as usize;
    let mut latencies: Vec<Vec<u64>> = vec![Vec::new(); buckets];
    for e in events {
        if let Event::Produce {
            start_ms,
            end_ms,
            acks: -1,
            outcome: ProduceOutcome::Ok { .. },
            ..
        } = e
        {
            latencies[(*end_ms / BUCKET_MS) as usize].push(end_ms - start_ms);
        }
    }
    for l in &mut latencies {
        l.sort_unstable();
    }
    let quantile = |q: usize| -> Vec<(f64, f64)> {
        latencies
            .iter()
            .enumerate()
            .filter(|(_, l)| !l.is_empty())
            .map(|(i, l)| {
                let rank = (q * l.len()).div_ceil(100).max(1);
                (secs(i as u64 * BUCKET_MS), l[rank - 1] as f64)
            })
            .collect()
    };
    vec![("p50".to_owned(), BLUE, quantile(50)), ("p99".to_owned(), RED, quantile(99))]
}

/// Per partition, who led from one sample to the next (epochs are not in librdkafka's
/// metadata: -1).
fn leader_spans(samples: &[MetadataSample]) -> BTreeMap<i32, LeaderSpans> {
    let mut spans: BTreeMap<i32, LeaderSpans> = BTreeMap::new();
    for (i, sample) in samples.iter().enumerate() {
        let until = samples.get(i + 1).map_or(sample.time_ms + 1000, |next| next.time_ms);
        for (partition, state) in &sample.partitions {
            let list = spans.entry(*partition).or_default();
            if state.leader < 0 {
                continue;
            }
            match list.last_mut() {
                Some(last) if last.2 == state.leader && last.1 == sample.time_ms => last.1 = until,
                _ => list.push((sample.time_ms, until, state.leader, -1)),
            }
        }
    }
    spans
}

fn isr_sizes(samples: &[MetadataSample]) -> Vec<Line> {
    let mut series: BTreeMap<i32, Vec<(f64, f64)>> = BTreeMap::new();
    for sample in samples {
        for (partition, state) in &sample.partitions {
            series
                .entry(*partition)
                .or_default()
                .push((secs(sample.time_ms), state.isr.len() as f64));
        }
    }
    series
        .into_iter()
        .map(|(partition, points)| {
            (format!("partition {partition}"), colour(partition as usize + 10), points)
        })
        .collect()
}

fn exporter_lines(samples: &[ExporterSample]) -> Vec<Line> {
    let points = |value: fn(&ExporterSample) -> f64| -> Vec<(f64, f64)> {
        samples.iter().map(|s| (secs(s.time_ms), value(s).max(0.0))).collect()
    };
    vec![
        ("under-replicated partitions".to_owned(), RED, points(|s| s.under_replicated)),
        ("group lag (records)".to_owned(), BLUE, points(|s| s.consumer_lag)),
    ]
}

/// Writes `report.html` into the run's folder from its files.
pub fn write_report(dir: &Path) -> anyhow::Result<()> {
    let files = RunFiles::load(dir)?;
    std::fs::write(dir.join("report.html"), render(&files))
        .with_context(|| format!("writing {}", dir.join("report.html").display()))
}

/// Writes `index.html` in `parent`: every run folder in it (one with `results.json`), its
/// suite, verdict and link, newest first.
pub fn write_index(parent: &Path) -> anyhow::Result<()> {
    let mut runs = Vec::new();
    for entry in
        std::fs::read_dir(parent).with_context(|| format!("reading {}", parent.display()))?
    {
        let path = entry?.path();
        let Ok(text) = std::fs::read_to_string(path.join("results.json")) else { continue };
        let Ok(results) = serde_json::from_str::<serde_json::Value>(&text) else { continue };
        let modified = std::fs::metadata(path.join("results.json")).and_then(|m| m.modified()).ok();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        runs.push((modified, name, results));
    }
    runs.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let rows: Vec<String> = runs
        .iter()
        .map(|(_, name, r)| {
            let ok = r["ok"].as_bool().unwrap_or(false);
            format!(
                "<tr><td><a href=\"{n}/report.html\">{n}</a></td><td>{suite}</td><td>{verdict}</td>\
                 <td>{faults}</td><td>{median}</td></tr>",
                n = escape(name),
                suite = escape(r["config"]["suite"].as_str().unwrap_or("?")),
                verdict = if ok { "ok" } else { "<b>FAILED</b>" },
                faults = r["faults"].as_array().map_or(0, |f| f.len()),
                median = r["failover_ms_median"].as_u64().map_or("-".into(), |ms| format!("{ms} ms")),
            )
        })
        .collect();
    let page = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>chaos runs</title>\
         <style>body{{font-family:sans-serif;margin:1em 2em}} td,th{{padding:2px 12px;text-align:left}}</style>\
         </head><body><h1>Chaos suite runs in {dir}</h1>\n<table><tr><th>run</th><th>suite</th>\
         <th>verdict</th><th>faults</th><th>failover median</th></tr>\n{rows}\n</table></body></html>\n",
        dir = escape(&parent.display().to_string()),
        rows = rows.join("\n"),
    );
    std::fs::write(parent.join("index.html"), page)
        .with_context(|| format!("writing {}", parent.join("index.html").display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::PartitionState;

    fn sample(time_ms: u64, leaders: &[i32]) -> MetadataSample {
        let partitions = leaders
            .iter()
            .enumerate()
            .map(|(p, leader)| {
                let state =
                    PartitionState { leader: *leader, isr: vec![1, 2], replicas: vec![1, 2, 3] };
                (p as i32, state)
            })
            .collect();
        MetadataSample { time_ms, partitions }
    }

    /// A leader held across samples is one span; a change, or no leader, ends it.
    #[test]
    fn leader_spans_follow_the_samples() {
        let samples = [sample(0, &[1, 2]), sample(1000, &[1, -1]), sample(2000, &[3, 2])];
        let spans = leader_spans(&samples);
        assert_eq!(spans[&0], vec![(0, 2000, 1, -1), (2000, 3000, 3, -1)]);
        assert_eq!(spans[&1], vec![(0, 1000, 2, -1), (2000, 3000, 2, -1)]);
    }

    #[test]
    fn throughput_counts_acknowledgements_per_second_by_acks() {
        let produce = |end_ms, acks, ok: bool| Event::Produce {
            start_ms: end_ms - 5,
            end_ms,
            client: "p".into(),
            partition: 0,
            value: format!("v{end_ms}"),
            acks,
            idempotent: acks == -1,
            outcome: if ok {
                ProduceOutcome::Ok { offset: 0 }
            } else {
                ProduceOutcome::Info { error: "timeout".into() }
            },
        };
        let events = [
            produce(100, -1, true),
            produce(900, -1, true),
            produce(1500, -1, false),
            produce(1600, 1, true),
        ];
        let lines = throughput(&events, 2000);
        let all = &lines.iter().find(|l| l.0 == "acks=all").unwrap().2;
        assert_eq!(all[..2], [(0.0, 2.0), (1.0, 0.0)], "the unanswered one is not counted");
        let one = &lines.iter().find(|l| l.0 == "acks=1").unwrap().2;
        assert_eq!(one[1], (1.0, 1.0));
    }
}
