//! The human views: the HTML page at `/` and the JSON at `/api/groups[/<name>]`.

use std::fmt::Write;
use std::sync::Arc;

use serde_json::json;

use crate::snapshot::ClusterSnapshot;

/// Clusters, then groups with their lag and status.
pub fn page(clusters: &[Arc<ClusterSnapshot>]) -> String {
    let mut h = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>kafka-lag-exporter</title>\
         <style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}\
         td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}\
         .OK{color:#070}.WARN{color:#a60}.ERR,.STOP,.STALL,.REWIND,.down{color:#b00}</style>\
         </head><body><h1>kafka-lag-exporter</h1>\
         <p><a href=\"/metrics\">/metrics</a> · <a href=\"/api/groups\">/api/groups</a> · \
         <a href=\"/ready\">/ready</a></p><h2>Clusters</h2>\
         <table><tr><th>cluster</th><th>up</th><th>last poll (s)</th><th>poll errors</th>\
         <th>brokers</th><th>partitions</th><th>groups</th><th>error</th></tr>",
    );
    if clusters.is_empty() {
        h.push_str("<tr><td colspan=8>first poll not done yet</td></tr>");
    }
    for c in clusters {
        let (b, p, g) = c
            .data
            .as_ref()
            .map(|d| (d.brokers.len(), d.partitions.len(), d.groups.len()))
            .unwrap_or_default();
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"{}\">{}</td><td>{:.3}</td><td>{}</td><td>{b}</td>\
             <td>{p}</td><td>{g}</td><td>{}</td></tr>",
            esc(&c.name),
            if c.up { "OK" } else { "down" },
            if c.up { "up" } else { "DOWN" },
            c.last_poll_seconds,
            c.poll_errors,
            esc(c.error.as_deref().unwrap_or("")),
        );
    }
    h.push_str(
        "</table><h2>Consumer groups</h2><table><tr><th>cluster</th><th>group</th>\
         <th>state</th><th>members</th><th>status</th><th>lag (sum)</th><th>max lag</th>\
         <th>max lag (s)</th><th>partitions not OK</th></tr>",
    );
    for c in clusters {
        let Some(d) = &c.data else { continue };
        for g in &d.groups {
            let not_ok: Vec<String> = g
                .partitions
                .iter()
                .filter(|p| p.status != crate::status::Status::Ok)
                .map(|p| format!("{}-{} {}", p.topic, p.partition, p.status.as_str()))
                .collect();
            let _ = write!(
                h,
                "<tr><td>{}</td><td><a href=\"/api/groups/{}\">{}</a></td><td>{}</td><td>{}</td>\
                 <td class=\"{s}\">{s}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&c.name),
                esc(&g.name),
                esc(&g.name),
                esc(&g.state),
                g.members,
                g.sum_lag(),
                g.max_lag().map(|l| l.to_string()).unwrap_or_default(),
                g.max_lag_seconds().map(|s| format!("{s:.1}")).unwrap_or_default(),
                esc(&not_ok.join(", ")),
                s = g.status.as_str(),
            );
        }
    }
    h.push_str("</table></body></html>\n");
    h
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
