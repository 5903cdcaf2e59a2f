//! `timeline.html`: one run drawn for a person — a lane per node and per client with the
//! faults shaded and crashes and restarts marked, each partition's leader (and the metadata
//! quorum's) over time with its epochs, the high watermarks, and acknowledged vs read records.
//! Self-contained: inline SVG drawn with `plotters`, no script.

use std::collections::BTreeMap;

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use crate::history::{Event, ProduceOutcome};
use crate::run::{RunOutcome, SAMPLE_MS};
use crate::schedule::FaultKind;

const WIDTH: u32 = 1200;
const LANE_PX: u32 = 22;
const FONT: &str = "sans-serif";

/// The leader of one partition (or of the quorum) over time: `(from_ms, to_ms, node, epoch)`
/// (epoch -1: not known, not drawn).
pub type LeaderSpans = Vec<(u64, u64, i32, i32)>;

/// What a node fault did, as a chart shades it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShadeKind {
    /// Crashed or killed (red).
    Crash,
    /// Paused (orange).
    Pause,
    /// Cut off from the other nodes (purple).
    Isolation,
    /// Shut down by SIGTERM and restarted (blue).
    Shutdown,
}

/// What every chart of a run shares: its time span, its node faults shaded, where chaos ended
/// (dashed), and what the time axis counts. The simulator's runs and the container suites'
/// are drawn by the same charts.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The charts' x axis ends here, ms.
    pub end_ms: u64,
    /// The dashed line: the end of chaos, ms.
    pub chaos_end_ms: u64,
    /// Node fault windows: `(from_ms, to_ms, kind)`.
    pub shades: Vec<(u64, u64, ShadeKind)>,
    /// The x axis's label ("simulated seconds", "seconds").
    pub x_desc: &'static str,
}

impl Frame {
    /// The frame of a simulator run: its schedule's node faults, simulated seconds.
    fn of(outcome: &RunOutcome) -> Self {
        let duration_ms = outcome.config.duration_ms;
        let shades = outcome
            .schedule
            .iter()
            .filter_map(|fault| {
                let kind = match fault.kind {
                    FaultKind::BrokerCrash { .. } => ShadeKind::Crash,
                    FaultKind::NodePaused { .. } => ShadeKind::Pause,
                    FaultKind::NodeIsolated { .. } => ShadeKind::Isolation,
                    FaultKind::ControlledShutdown { .. } => ShadeKind::Shutdown,
                    _ => return None,
                };
                Some((fault.at_ms, (fault.at_ms + fault.duration_ms).min(duration_ms), kind))
            })
            .collect();
        Self {
            end_ms: outcome.sim_ms.max(1),
            chaos_end_ms: duration_ms,
            shades,
            x_desc: "simulated seconds",
        }
    }
}

/// The page for `outcome`.
pub fn render(outcome: &RunOutcome) -> String {
    let frame = Frame::of(outcome);
    let end_ms = frame.end_ms;
    let config = &outcome.config;
    let verdicts: Vec<String> = outcome
        .verdicts
        .iter()
        .map(|v| {
            let status = if v.ok { "ok" } else { "FAIL" };
            let first = v.first.as_deref().map(|f| format!(" — {}", escape(f))).unwrap_or_default();
            format!(
                "<li><b>{}</b> {status}: checked {}, anomalies {}, excused {}{first}</li>",
                v.name, v.checked, v.anomalies, v.excused
            )
        })
        .collect();
    let mut page = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>kafka-lab sim seed {seed}</title>\
         <style>body{{font-family:{FONT};margin:1em 2em}} svg{{display:block;margin:0.5em 0 1.5em}} \
         code{{background:#eee;padding:2px 4px}}</style></head><body>\n\
         <h1>Seed {seed}: {verdict}</h1>\n<p>{nodes} node(s), RF {rf}, min.insync.replicas {min_isr}, acks {acks}{unclean}; \
         chaos {chaos} ms, then heal and the final read; simulated {end_ms} ms.</p>\n\
         <p>Replay: <code>{replay}</code></p>\n",
        seed = config.seed,
        verdict = if outcome.ok() { "ok" } else { "FAILED" },
        nodes = config.nodes,
        rf = config.replication_factor,
        min_isr = config.min_insync_replicas,
        acks = config.acks.name(),
        unclean = if config.unclean_leader_election { ", unclean leader election" } else { "" },
        chaos = config.duration_ms,
        replay = escape(&crate::report::replay_command(config)),
    );
    if let Some(crashed) = &outcome.crashed {
        page.push_str(&format!("<p><b>Host failure:</b> {}</p>\n", escape(crashed)));
    }
    page.push_str(&format!("<ul>{}</ul>\n", verdicts.join("\n")));
    page.push_str(
        "<h2>Nodes and clients</h2><p>Shaded: node crashed (red), paused (orange), cut off \
         from the other nodes (purple), shut down by SIGTERM and restarted (blue); a client's link to a node partitioned, held, slowed or \
         lossy (grey, the node named). ▲ a node (re)started, ■ it finished a controlled shutdown. Ticks: produce acknowledged \
         (green), refused (red), unanswered (amber); polls that returned records (blue). ● a \
         group assignment (its generation). The dashed line is the end of chaos.</p>\n",
    );
    page.push_str(&lanes_svg(outcome, &frame));
    let leaders = leader_spans(&outcome.events, config.partitions);
    page.push_str(
        "<h2>Leaders</h2><p>Who led each partition, and the metadata quorum, by the nodes' own \
         account (sampled every 100 ms); the label is the leader epoch at each change. Blank: \
         no node led.</p>\n",
    );
    page.push_str(&leaders_svg(&leaders, config.nodes, &frame));
    page.push_str(
        "<h2>High watermarks</h2><p>Each partition's leader's high watermark; node faults \
         shaded as above.</p>\n",
    );
    page.push_str(&high_watermarks_svg(&outcome.events, config.partitions, &frame));
    page.push_str(
        "<h2>Acknowledged vs read</h2><p>Records acknowledged (acks 1/all), those of them \
         some read had returned, and the unseen rest — acknowledged but not yet read, which \
         must fall to 0 after healing unless the configuration lets them be lost.</p>\n",
    );
    page.push_str(&acked_vs_read_svg(&outcome.events, &frame));
    page.push_str("</body></html>\n");
    page
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn node_colour(node: i32) -> RGBColor {
    let (r, g, b) = Palette99::pick(node.max(0) as usize).to_backend_color().rgb;
    RGBColor(r, g, b)
}

const FAULT_RED: RGBColor = RGBColor(244, 180, 180);
const FAULT_ORANGE: RGBColor = RGBColor(250, 210, 150);
const FAULT_PURPLE: RGBColor = RGBColor(215, 190, 240);
const FAULT_BLUE: RGBColor = RGBColor(185, 210, 245);
const FAULT_GREY: RGBColor = RGBColor(215, 215, 215);
const OK_GREEN: RGBColor = RGBColor(40, 160, 60);
const FAIL_RED: RGBColor = RGBColor(210, 40, 40);
const INFO_AMBER: RGBColor = RGBColor(230, 160, 20);
const POLL_BLUE: RGBColor = RGBColor(60, 110, 220);

/// Draws into an SVG string of `height` px with `draw`.
fn svg(
    height: u32,
    draw: impl FnOnce(DrawingArea<SVGBackend<'_>, plotters::coord::Shift>) -> DrawResult,
) -> String {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (WIDTH, height)).into_drawing_area();
        let drawn = root.fill(&WHITE).map_err(|e| e.to_string()).and_then(|()| draw(root.clone()));
        if let Err(e) = drawn.and_then(|()| root.present().map_err(|e| e.to_string())) {
            return format!("<p>(chart not drawn: {})</p>", escape(&e));
        }
    }
    out
}

type DrawResult = Result<(), String>;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

type LaneChart<'a> = ChartContext<'a, SVGBackend<'a>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A chart of `lanes` horizontal lanes (lane 0 at the top) over `[0, end_ms]` in seconds.
fn lane_chart<'a>(
    root: &DrawingArea<SVGBackend<'a>, plotters::coord::Shift>,
    names: &[String],
    frame: &Frame,
) -> Result<LaneChart<'a>, String> {
    let end_ms = frame.end_ms;
    let lanes = names.len().max(1) as f64;
    let mut chart = ChartBuilder::on(root)
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(150)
        .build_cartesian_2d(0f64..end_ms as f64 / 1000.0, 0f64..lanes)
        .map_err(err)?;
    let names = names.to_vec();
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(names.len() * 2 + 1)
        .y_label_formatter(&move |y| {
            // Labels sit at lane centres: lane i spans [n-1-i, n-i).
            let i = lanes - y - 0.5;
            if (i - i.round()).abs() < 0.01 && i >= 0.0 {
                names.get(i.round() as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .x_desc(frame.x_desc)
        .label_style((FONT, 12))
        .draw()
        .map_err(err)?;
    Ok(chart)
}

/// The y extent of lane `i` of `n` (lane 0 at the top), shrunk by `pad`.
fn lane_y(i: usize, n: usize, pad: f64) -> (f64, f64) {
    let top = (n - i) as f64;
    (top - 1.0 + pad, top - pad)
}

fn secs(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

fn lanes_svg(outcome: &RunOutcome, frame: &Frame) -> String {
    let config = &outcome.config;
    let nodes: Vec<i32> = (1..=config.nodes.max(1)).collect();
    let mut clients: Vec<String> = Vec::new();
    for e in &outcome.events {
        let client = match e {
            Event::Produce { client, .. }
            | Event::Poll { client, .. }
            | Event::GroupOp { client, .. }
            | Event::Assigned { client, .. } => client,
            _ => continue,
        };
        if !clients.contains(client) {
            clients.push(client.clone());
        }
    }
    clients.sort();
    let mut names: Vec<String> = nodes.iter().map(|n| format!("node {n}")).collect();
    names.extend(clients.iter().cloned());
    let n = names.len();
    let lane_of_client = |c: &str| clients.iter().position(|x| x == c).map(|i| i + nodes.len());
    let lane_of_node = |node: i32| (node - 1).max(0) as usize;
    let height = 60 + LANE_PX * n as u32;
    svg(height, |root| {
        let mut chart = lane_chart(&root, &names, frame)?;
        for fault in &outcome.schedule {
            let from = secs(fault.at_ms);
            let to = secs((fault.at_ms + fault.duration_ms).min(config.duration_ms));
            let (lane, colour, label) = match &fault.kind {
                FaultKind::BrokerCrash { node, .. } => (lane_of_node(*node), FAULT_RED, None),
                FaultKind::NodePaused { node } => (lane_of_node(*node), FAULT_ORANGE, None),
                FaultKind::NodeIsolated { node } => (lane_of_node(*node), FAULT_PURPLE, None),
                FaultKind::ControlledShutdown { node, rolling } => {
                    let what = if *rolling { "rolling restart" } else { "SIGTERM" };
                    (lane_of_node(*node), FAULT_BLUE, Some(what.to_owned()))
                }
                FaultKind::Partition { client, node, .. }
                | FaultKind::Hold { client, node }
                | FaultKind::LatencySpike { client, node, .. }
                | FaultKind::MessageLoss { client, node, .. } => match lane_of_client(client) {
                    Some(lane) => (lane, FAULT_GREY, Some(format!("{} {node}", fault.kind.name()))),
                    None => continue,
                },
                FaultKind::ConsumerStall { client } | FaultKind::MemberLeave { client } => {
                    match lane_of_client(client) {
                        Some(lane) => (lane, FAULT_ORANGE, Some(fault.kind.name().to_owned())),
                        None => continue,
                    }
                }
            };
            let (y0, y1) = lane_y(lane, n, 0.05);
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(from, y0), (to, y1)],
                    colour.filled(),
                )))
                .map_err(err)?;
            if let Some(label) = label.filter(|_| to - from > 0.6) {
                chart
                    .draw_series(std::iter::once(Text::new(
                        label,
                        (from + 0.02, y1 - 0.1),
                        (FONT, 10).into_font().color(&BLACK.mix(0.6)),
                    )))
                    .map_err(err)?;
            }
        }
        let mut ticks = Vec::new();
        let mut marks = Vec::new();
        for e in &outcome.events {
            match e {
                Event::Produce { client, end_ms, outcome: produced, .. } => {
                    let colour = match produced {
                        ProduceOutcome::Ok { .. } => OK_GREEN,
                        ProduceOutcome::Fail { .. } => FAIL_RED,
                        ProduceOutcome::Info { .. } => INFO_AMBER,
                        ProduceOutcome::Sent => continue,
                    };
                    if let Some(lane) = lane_of_client(client) {
                        ticks.push((lane, secs(*end_ms), colour));
                    }
                }
                Event::Poll { client, end_ms, records, .. } if !records.is_empty() => {
                    if let Some(lane) = lane_of_client(client) {
                        ticks.push((lane, secs(*end_ms), POLL_BLUE));
                    }
                }
                Event::Assigned { client, end_ms, generation, .. } => {
                    if let Some(lane) = lane_of_client(client) {
                        marks.push((lane, secs(*end_ms), format!("●{generation}")));
                    }
                }
                Event::BrokerStarted { node_id, time_ms, .. } => {
                    marks.push((lane_of_node(*node_id), secs(*time_ms), "▲".to_owned()));
                }
                Event::BrokerStopped { node_id, time_ms, .. } => {
                    marks.push((lane_of_node(*node_id), secs(*time_ms), "■".to_owned()));
                }
                _ => {}
            }
        }
        chart
            .draw_series(ticks.into_iter().map(|(lane, x, colour)| {
                let (y0, y1) = lane_y(lane, n, 0.25);
                PathElement::new(vec![(x, y0), (x, y1)], colour.stroke_width(1))
            }))
            .map_err(err)?;
        chart
            .draw_series(marks.into_iter().map(|(lane, x, label)| {
                let (y0, _) = lane_y(lane, n, 0.2);
                Text::new(label, (x, y0 + 0.55), (FONT, 11).into_font().color(&BLACK))
            }))
            .map_err(err)?;
        draw_chaos_end(&mut chart, frame, n as f64)
    })
}

/// Shades the node faults' windows (crash red, pause orange, cut off purple, shutdown blue)
/// over `[0, top]`.
fn shade_node_faults(chart: &mut LaneChart<'_>, frame: &Frame, top: f64) -> DrawResult {
    chart
        .draw_series(frame.shades.iter().map(|(from, to, kind)| {
            let colour = match kind {
                ShadeKind::Crash => FAULT_RED,
                ShadeKind::Pause => FAULT_ORANGE,
                ShadeKind::Isolation => FAULT_PURPLE,
                ShadeKind::Shutdown => FAULT_BLUE,
            };
            Rectangle::new([(secs(*from), 0.0), (secs(*to), top)], colour.mix(0.5).filled())
        }))
        .map_err(err)?;
    Ok(())
}

fn draw_chaos_end(chart: &mut LaneChart<'_>, frame: &Frame, top: f64) -> DrawResult {
    let x = secs(frame.chaos_end_ms);
    chart
        .draw_series(DashedLineSeries::new(vec![(x, 0.0), (x, top)], 4, 4, BLACK.stroke_width(1)))
        .map_err(err)?;
    Ok(())
}

/// Per partition (and the quorum, key -1), who led when: from the samples, at each sample
/// time the node claiming leadership with the highest epoch.
fn leader_spans(events: &[Event], partitions: i32) -> BTreeMap<i32, LeaderSpans> {
    // time -> key -> (epoch, node)
    let mut claims: BTreeMap<u64, BTreeMap<i32, (i32, i32)>> = BTreeMap::new();
    for e in events {
        let Event::NodeState { time_ms, node_id, quorum, replicas, .. } = e else { continue };
        let at = claims.entry(*time_ms).or_default();
        let mut claim = |key: i32, epoch: i32| {
            let best = at.entry(key).or_insert((epoch, *node_id));
            if epoch > best.0 {
                *best = (epoch, *node_id);
            }
        };
        if quorum.state == "leader" {
            claim(-1, quorum.epoch);
        }
        for r in replicas.iter().filter(|r| r.role == "leader") {
            claim(r.partition, r.leader_epoch);
        }
    }
    let mut spans: BTreeMap<i32, LeaderSpans> = (-1..partitions).map(|k| (k, Vec::new())).collect();
    for (time, at) in &claims {
        for (key, list) in spans.iter_mut() {
            let Some(&(epoch, node)) = at.get(key) else { continue };
            match list.last_mut() {
                Some(last)
                    if last.2 == node && last.3 == epoch && last.1 + 2 * SAMPLE_MS >= *time =>
                {
                    last.1 = *time + SAMPLE_MS;
                }
                _ => list.push((*time, *time + SAMPLE_MS, node, epoch)),
            }
        }
    }
    spans
}

/// One lane per partition (key -1: the metadata quorum), coloured by its leader over time,
/// each change labelled with its epoch when known.
pub fn leaders_svg(spans: &BTreeMap<i32, LeaderSpans>, nodes: i32, frame: &Frame) -> String {
    let names: Vec<String> = spans
        .keys()
        .map(|k| if *k < 0 { "metadata quorum".to_owned() } else { format!("partition {k}") })
        .collect();
    let n = names.len();
    let height = 60 + LANE_PX * n as u32 + 24;
    svg(height, |root| {
        let (legend, plot) = root.split_vertically(24);
        for node in 1..=nodes.max(1) {
            let x = 160 + (node - 1) * 90;
            legend
                .draw(&Rectangle::new([(x, 6), (x + 14, 18)], node_colour(node).filled()))
                .map_err(err)?;
            legend
                .draw(&Text::new(format!("node {node}"), (x + 18, 6), (FONT, 12)))
                .map_err(err)?;
        }
        let mut chart = lane_chart(&plot, &names, frame)?;
        for (lane, list) in spans.values().enumerate() {
            let (y0, y1) = lane_y(lane, n, 0.1);
            chart
                .draw_series(list.iter().map(|(from, to, node, _)| {
                    Rectangle::new(
                        [(secs(*from), y0), (secs(*to), y1)],
                        node_colour(*node).mix(0.7).filled(),
                    )
                }))
                .map_err(err)?;
            chart
                .draw_series(list.iter().filter(|span| span.3 >= 0).map(|(from, _, _, epoch)| {
                    Text::new(format!("e{epoch}"), (secs(*from) + 0.01, y1 - 0.15), (FONT, 10))
                }))
                .map_err(err)?;
        }
        draw_chaos_end(&mut chart, frame, n as f64)
    })
}

fn high_watermarks_svg(events: &[Event], partitions: i32, frame: &Frame) -> String {
    // partition -> time -> the highest high watermark a leader reported then.
    let mut series: BTreeMap<i32, BTreeMap<u64, i64>> = BTreeMap::new();
    for e in events {
        let Event::NodeState { time_ms, replicas, .. } = e else { continue };
        for r in replicas.iter().filter(|r| r.role == "leader" && r.partition < partitions) {
            let at =
                series.entry(r.partition).or_default().entry(*time_ms).or_insert(r.high_watermark);
            *at = (*at).max(r.high_watermark);
        }
    }
    let lines = series
        .iter()
        .map(|(partition, points)| {
            let (r, g, b) = Palette99::pick(*partition as usize + 10).to_backend_color().rgb;
            let points = points.iter().map(|(t, hw)| (secs(*t), *hw as f64)).collect();
            (format!("partition {partition}"), RGBColor(r, g, b), points)
        })
        .collect();
    lines_svg("offset", lines, frame)
}

/// One line of a chart over time: its legend, colour and `(seconds, value)` points.
pub type Line = (String, RGBColor, Vec<(f64, f64)>);

/// A chart of `lines` over the frame's time, node faults shaded, the end of chaos dashed.
pub fn lines_svg(y_desc: &str, lines: Vec<Line>, frame: &Frame) -> String {
    let end_ms = frame.end_ms;
    let top = lines.iter().flat_map(|l| &l.2).map(|p| p.1).fold(1.0, f64::max) * 1.05;
    svg(300, |root| {
        let mut chart = ChartBuilder::on(&root)
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..secs(end_ms), 0f64..top)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(frame.x_desc)
            .y_desc(y_desc)
            // Whole numbers where the scale allows; a small one (an ISR of 3) needs a decimal.
            .y_label_formatter(&|y| if top > 20.0 { format!("{y:.0}") } else { format!("{y:.1}") })
            .label_style((FONT, 12))
            .draw()
            .map_err(err)?;
        shade_node_faults(&mut chart, frame, top)?;
        for (name, colour, points) in lines {
            chart
                .draw_series(LineSeries::new(points, colour.stroke_width(2)))
                .map_err(err)?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], colour.stroke_width(2))
                });
        }
        draw_chaos_end(&mut chart, frame, top)?;
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK.mix(0.3))
            .label_font((FONT, 12))
            .draw()
            .map_err(err)?;
        Ok(())
    })
}

/// Acknowledged vs read records at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadProgress {
    /// Simulated ms.
    pub time_ms: u64,
    /// Records acknowledged (acks 1/all) by then.
    pub acknowledged: usize,
    /// Of those, the ones some read had returned by then.
    pub read: usize,
    /// Acknowledged and not yet read.
    pub unseen: usize,
}

/// [`ReadProgress`] at every sample step of the run.
pub fn acked_vs_read(events: &[Event], end_ms: u64) -> Vec<ReadProgress> {
    let mut acked: BTreeMap<&str, u64> = BTreeMap::new();
    let mut seen: BTreeMap<&str, u64> = BTreeMap::new();
    for e in events {
        match e {
            Event::Produce { value, end_ms, outcome: ProduceOutcome::Ok { .. }, .. } => {
                acked.insert(value.as_str(), *end_ms);
            }
            Event::Poll { end_ms, records, .. } => {
                for (_, value) in records {
                    let first = seen.entry(value.as_str()).or_insert(*end_ms);
                    *first = (*first).min(*end_ms);
                }
            }
            _ => {}
        }
    }
    let mut acked_at: Vec<u64> = acked.values().copied().collect();
    let mut read_at: Vec<u64> =
        acked.iter().filter_map(|(v, t)| seen.get(v).map(|s| (*s).max(*t))).collect();
    acked_at.sort_unstable();
    read_at.sort_unstable();
    (0..=end_ms / SAMPLE_MS)
        .map(|i| {
            let t = i * SAMPLE_MS;
            let acknowledged = acked_at.partition_point(|x| *x <= t);
            let read = read_at.partition_point(|x| *x <= t);
            ReadProgress { time_ms: t, acknowledged, read, unseen: acknowledged - read }
        })
        .collect()
}

/// Acknowledged, read and unseen records over the frame's time.
pub fn acked_vs_read_svg(events: &[Event], frame: &Frame) -> String {
    let points = acked_vs_read(events, frame.end_ms);
    let line = |name: &str, colour, value: fn(&ReadProgress) -> usize| -> Line {
        let points = points.iter().map(|p| (secs(p.time_ms), value(p) as f64)).collect();
        (name.to_owned(), colour, points)
    };
    let lines = vec![
        line("acknowledged", OK_GREEN, |p| p.acknowledged),
        line("read", POLL_BLUE, |p| p.read),
        line("unseen", FAIL_RED, |p| p.unseen),
    ];
    lines_svg("records", lines, frame)
}

#[cfg(test)]
mod tests {
    use super::acked_vs_read;
    use crate::history::{Event, ProduceOutcome};

    fn acked(end_ms: u64, value: &str) -> Event {
        Event::Produce {
            start_ms: end_ms - 1,
            end_ms,
            client: "producer-0".into(),
            partition: 0,
            value: value.into(),
            acks: -1,
            idempotent: true,
            outcome: ProduceOutcome::Ok { offset: 0 },
        }
    }

    fn read(end_ms: u64, values: &[&str]) -> Event {
        Event::Poll {
            start_ms: end_ms - 1,
            end_ms,
            client: "consumer-0".into(),
            node: 1,
            partition: 0,
            fetch_offset: 0,
            high_watermark: 2,
            records: values.iter().enumerate().map(|(i, v)| (i as i64, v.to_string())).collect(),
        }
    }

    /// A record counts as read from the later of its acknowledgement and its first read; one
    /// never read stays unseen.
    #[test]
    fn unseen_is_acknowledged_and_not_yet_read() {
        let events = [
            acked(50, "a"),
            read(150, &["a"]),
            acked(160, "b"),
            acked(170, "c"),
            read(250, &["a", "b"]),
        ];
        let points = acked_vs_read(&events, 300);
        let at = |t: u64| {
            points.iter().find(|p| p.time_ms == t).map(|p| (p.acknowledged, p.read, p.unseen))
        };
        assert_eq!(at(0), Some((0, 0, 0)));
        assert_eq!(at(100), Some((1, 0, 1)));
        assert_eq!(at(200), Some((3, 1, 2)));
        assert_eq!(at(300), Some((3, 2, 1)), "c was never read");
    }
}
