//! The human views, rendered on the server from the last published snapshots: the overview at
//! `/`, a group's detail at `/groups/<name>`, the topics at `/topics` — plain HTML with inline
//! CSS and SVG charts, no JavaScript, nothing loaded from elsewhere, refreshed by a meta refresh
//! once per poll interval — and the JSON at `/api/groups[/<name>]` for machines.

use std::fmt::Write;
use std::sync::Arc;

use serde_json::json;

use crate::poll::now_seconds;
use crate::snapshot::{ClusterSnapshot, GroupState};
use crate::status::Status;

/// What every page needs besides the snapshots.
#[derive(Debug, Clone, Copy)]
pub struct View {
    /// Seconds between meta refreshes: the poll interval, at least 1.
    pub refresh_seconds: u64,
    /// "Now", seconds since the epoch, for ages.
    pub now: f64,
}

impl View {
    /// A view refreshing every `poll_interval`, at the current time.
    pub fn new(poll_interval: std::time::Duration) -> View {
        View {
            refresh_seconds: poll_interval.as_secs_f64().ceil().max(1.0) as u64,
            now: now_seconds(),
        }
    }
}

fn head(view: View, title: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"{}\"><title>{} · kafka-lag-exporter</title>\
         <style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;\
         margin-bottom:1em}}td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:left}}\
         td.n{{text-align:right}}.OK{{color:#070}}.WARN{{color:#a60}}\
         .ERR,.STOP,.STALL,.REWIND,.down{{color:#b00}}.old{{color:#888}}\
         svg{{background:#fafafa;border:1px solid #ddd}}</style></head><body>\
         <h1>{}</h1><p><a href=\"/\">overview</a> · <a href=\"/topics\">topics</a> · \
         <a href=\"/metrics\">/metrics</a> · <a href=\"/api/groups\">/api/groups</a> · \
         <a href=\"/ready\">/ready</a> · refreshes every {} s</p>",
        view.refresh_seconds,
        esc(title),
        esc(title),
        view.refresh_seconds,
    )
}

const FOOT: &str = "</body></html>\n";

/// "N s ago" for a timestamp in seconds since the epoch; "never" for 0.
fn ago(view: View, timestamp: f64) -> String {
    if timestamp <= 0.0 {
        "never".into()
    } else {
        format!("{:.0} s ago", (view.now - timestamp).max(0.0))
    }
}

/// A line under a down cluster's tables: the values are those of its last successful poll.
fn old_data_note(view: View, c: &ClusterSnapshot) -> String {
    if c.up || c.data.is_none() {
        return String::new();
    }
    format!(
        "<p class=\"old\">cluster {} is DOWN: values below are from its last successful poll, {}.</p>",
        esc(&c.name),
        ago(view, c.last_success_timestamp)
    )
}

/// The overview: clusters (up, last poll age and duration, the error), then every group.
pub fn page(clusters: &[Arc<ClusterSnapshot>], view: View) -> String {
    let mut h = head(view, "kafka-lag-exporter");
    h.push_str(
        "<h2>Clusters</h2><table><tr><th>cluster</th><th>up</th><th>last poll</th>\
         <th>poll took</th><th>polls</th><th>poll errors</th><th>brokers</th><th>partitions</th>\
         <th>groups</th><th>error</th></tr>",
    );
    for c in clusters {
        let (b, p, g) = c
            .data
            .as_ref()
            .map(|d| (d.brokers.len(), d.partitions.len(), d.groups.len()))
            .unwrap_or_default();
        let (class, up) = match (c.up, c.polls) {
            (_, 0) => ("old", "not polled yet"),
            (true, _) => ("OK", "up"),
            (false, _) => ("down", "DOWN"),
        };
        let error = match (&c.connection_error, &c.error) {
            (_, None) => String::new(),
            (Some(e), Some(_)) => format!(
                "<b>{}</b>: {} <span class=\"old\">({})</span>",
                esc(&e.address),
                esc(e.cause.describe()),
                esc(c.error.as_deref().unwrap_or_default())
            ),
            (None, Some(error)) => esc(error),
        };
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"{class}\">{up}</td><td>{}</td><td class=\"n\">{:.3} s</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{b}</td>\
             <td class=\"n\">{p}</td><td class=\"n\">{g}</td><td>{error}</td></tr>",
            esc(&c.name),
            ago(view, c.last_poll_timestamp),
            c.last_poll_seconds,
            c.polls,
            c.poll_errors,
        );
    }
    h.push_str("</table>");
    for c in clusters.iter().filter(|c| !c.up) {
        h.push_str(&old_data_note(view, c));
    }
    h.push_str(
        "<h2>Consumer groups</h2><table><tr><th>cluster</th><th>group</th>\
         <th>state</th><th>members</th><th>status</th><th>lag (sum)</th><th>max lag</th>\
         <th>max lag (s)</th><th>lag history</th><th>partitions not OK</th></tr>",
    );
    for c in clusters {
        let Some(d) = &c.data else { continue };
        for g in &d.groups {
            let not_ok: Vec<String> = g
                .partitions
                .iter()
                .filter(|p| p.status != Status::Ok)
                .map(|p| format!("{}-{} {}", p.topic, p.partition, p.status.as_str()))
                .collect();
            let _ = write!(
                h,
                "<tr><td>{}</td><td><a href=\"/groups/{}\">{}</a></td><td>{}</td>\
                 <td class=\"n\">{}</td><td class=\"{s}\">{s}</td><td class=\"n\">{}</td>\
                 <td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td></tr>",
                esc(&c.name),
                url_escape(&g.name),
                esc(&g.name),
                esc(&g.state),
                g.members,
                g.sum_lag(),
                g.max_lag().map(|l| l.to_string()).unwrap_or_default(),
                g.max_lag_seconds().map(|s| format!("{s:.1}")).unwrap_or_default(),
                lag_chart(&g.lag_history, 120, 24, false),
                esc(&not_ok.join(", ")),
                s = g.status.as_str(),
            );
        }
    }
    h.push_str("</table>");
    h.push_str(FOOT);
    h
}

/// A group's detail page: per cluster that has it, its state, lag history and one row per
/// partition. `None` when no cluster has a group of that name.
pub fn group_page(clusters: &[Arc<ClusterSnapshot>], name: &str, view: View) -> Option<String> {
    let found: Vec<(&ClusterSnapshot, &GroupState)> = clusters
        .iter()
        .filter_map(|c| {
            c.data.as_ref()?.groups.iter().find(|g| g.name == name).map(|g| (c.as_ref(), g))
        })
        .collect();
    if found.is_empty() {
        return None;
    }
    let mut h = head(view, &format!("group {name}"));
    for (c, g) in found {
        h.push_str(&old_data_note(view, c));
        let _ = write!(
            h,
            "<h2>cluster {}</h2><p>state <b>{}</b> · {} members · status \
             <b class=\"{s}\">{s}</b> · lag {} · polled {} · \
             <a href=\"/api/groups/{}\">JSON</a></p>",
            esc(&c.name),
            esc(&g.state),
            g.members,
            g.sum_lag(),
            ago(view, c.last_success_timestamp),
            url_escape(&g.name),
            s = g.status.as_str(),
        );
        if let Some(e) = &g.error {
            let _ = write!(h, "<p class=\"down\">offsets could not be read: {}</p>", esc(e));
        }
        let _ = write!(
            h,
            "<p>lag (sum over partitions), last {} polls:<br>{}</p>",
            g.lag_history.len(),
            lag_chart(&g.lag_history, 480, 120, true)
        );
        h.push_str(
            "<table><tr><th>topic</th><th>partition</th><th>committed</th><th>latest</th>\
             <th>lag</th><th>lag (s)</th><th>status</th><th>member</th><th>client id</th>\
             <th>host</th></tr>",
        );
        for p in &g.partitions {
            let seconds = match p.lag_seconds {
                Some(s) if p.lag_seconds_lower_bound => format!("≥ {s:.1}"),
                Some(s) => format!("{s:.1}"),
                None => String::new(),
            };
            let _ = write!(
                h,
                "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
                 <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{seconds}</td>\
                 <td class=\"{s}\">{s}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&p.topic),
                p.partition,
                p.committed,
                p.latest,
                p.lag,
                esc(&p.consumer_id),
                esc(&p.client_id),
                esc(&p.member_host),
                s = p.status.as_str(),
            );
        }
        h.push_str("</table>");
    }
    h.push_str(FOOT);
    Some(h)
}

/// Topics of every cluster: per partition its leader, replicas, ISR, earliest and latest offset.
pub fn topics_page(clusters: &[Arc<ClusterSnapshot>], view: View) -> String {
    let mut h = head(view, "topics");
    for c in clusters {
        let _ = write!(h, "<h2>cluster {}</h2>", esc(&c.name));
        h.push_str(&old_data_note(view, c));
        let Some(d) = &c.data else {
            h.push_str("<p>no successful poll yet</p>");
            continue;
        };
        h.push_str(
            "<table><tr><th>topic</th><th>partition</th><th>leader</th><th>replicas</th>\
             <th>ISR</th><th>earliest</th><th>latest</th><th>records</th></tr>",
        );
        let list = |ids: &[i32]| ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
        let opt = |o: Option<i64>| o.map(|o| o.to_string()).unwrap_or_default();
        for p in &d.partitions {
            let records = match (p.earliest, p.latest) {
                (Some(e), Some(l)) => (l - e).max(0).to_string(),
                _ => String::new(),
            };
            let _ = write!(
                h,
                "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td>\
                 <td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
                 <td class=\"n\">{records}</td></tr>",
                esc(&p.topic),
                p.partition,
                p.leader,
                list(&p.replicas),
                list(&p.isr),
                opt(p.earliest),
                opt(p.latest),
            );
        }
        h.push_str("</table>");
    }
    h.push_str(FOOT);
    h
}

/// `points` (time, lag) as an inline SVG line chart, `width`×`height` pixels; `labelled` adds
/// the largest lag and the time span as text. The y axis starts at 0.
pub fn lag_chart(points: &[(f64, i64)], width: u32, height: u32, labelled: bool) -> String {
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" role=\"img\">"
    );
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        svg.push_str("</svg>");
        return svg;
    };
    let max = points.iter().map(|p| p.1).max().unwrap_or(0).max(1) as f64;
    let span = (last.0 - first.0).max(f64::EPSILON);
    let pad = 2.0;
    let (w, hgt) = (f64::from(width) - 2.0 * pad, f64::from(height) - 2.0 * pad);
    let coords: Vec<String> = points
        .iter()
        .map(|&(t, lag)| {
            let x = if points.len() == 1 { w / 2.0 } else { (t - first.0) / span * w };
            let y = hgt - lag.max(0) as f64 / max * hgt;
            format!("{:.1},{:.1}", x + pad, y + pad)
        })
        .collect();
    let _ = write!(
        svg,
        "<title>lag {} → {} over {:.0} s</title>\
         <polyline fill=\"none\" stroke=\"#36c\" stroke-width=\"1.5\" points=\"{}\"/>",
        first.1,
        last.1,
        last.0 - first.0,
        coords.join(" ")
    );
    if labelled {
        let _ = write!(
            svg,
            "<text x=\"4\" y=\"12\" font-size=\"10\">max {}</text>\
             <text x=\"4\" y=\"{}\" font-size=\"10\">{:.0} s</text>",
            points.iter().map(|p| p.1).max().unwrap_or(0),
            height - 4,
            last.0 - first.0
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Groups of every cluster (only those named `name`, if given), with their partitions.
pub fn groups_json(clusters: &[Arc<ClusterSnapshot>], name: Option<&str>) -> serde_json::Value {
    let mut out = Vec::new();
    for c in clusters {
        let Some(d) = &c.data else { continue };
        for g in d.groups.iter().filter(|g| name.is_none_or(|n| n == g.name)) {
            out.push(json!({
                "cluster": c.name,
                // false: the cluster's last poll failed and these values are from the poll
                // that ended at `polled_at` (seconds since the epoch).
                "up": c.up,
                "polled_at": c.last_success_timestamp,
                "group": g.name,
                "state": g.state,
                "members": g.members,
                "status": g.status,
                "error": g.error,
                "lag_sum": g.sum_lag(),
                "max_lag": g.max_lag(),
                "max_lag_seconds": g.max_lag_seconds(),
                "partitions": g.partitions,
            }));
        }
    }
    serde_json::Value::Array(out)
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A group name as a path segment: everything but unreserved characters percent-encoded.
fn url_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_scales_points_into_the_box() {
        let svg = lag_chart(&[(100.0, 0), (110.0, 50), (120.0, 100)], 104, 54, true);
        // x from 2 to 102, y from 52 (lag 0) to 2 (the largest lag).
        assert!(svg.contains("points=\"2.0,52.0 52.0,27.0 102.0,2.0\""), "{svg}");
        assert!(svg.contains(">max 100<") && svg.contains(">20 s<"), "{svg}");
        assert!(!svg.contains("<script"));
        assert_eq!(
            lag_chart(&[], 10, 10, false),
            "<svg xmlns=\"http://www.w3.org/2000/svg\" \
            width=\"10\" height=\"10\" viewBox=\"0 0 10 10\" role=\"img\"></svg>"
        );
    }

    #[test]
    fn group_names_are_escaped_for_paths() {
        assert_eq!(url_escape("a b/c"), "a%20b%2Fc");
        assert_eq!(url_escape("g-1.x_~"), "g-1.x_~");
    }
}
