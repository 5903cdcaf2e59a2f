//! The exporter's own families: self-metrics (always on) and the `extra` family (lag seconds in
//! danielqsj's label scheme, Burrow-style status).

use std::sync::Arc;

use super::Out;
use crate::snapshot::ClusterSnapshot;

pub(super) fn render(out: &mut Out, clusters: &[Arc<ClusterSnapshot>]) {
    type Value = fn(&ClusterSnapshot) -> f64;
    let gauges: [(&str, &str, Value); 3] = [
        ("kafka_lag_exporter_up", "1 if the last poll of the cluster succeeded, else 0", |c| {
            f64::from(u8::from(c.up))
        }),
        ("kafka_lag_exporter_last_poll_duration_seconds", "Duration of the last poll", |c| {
            c.last_poll_seconds
        }),
        (
            "kafka_lag_exporter_last_poll_timestamp_seconds",
            "End of the last successful poll, seconds since the epoch (0: none yet)",
            |c| c.last_success_timestamp,
        ),
    ];
    for (name, help, value) in gauges {
        let mut f = out.gauge(name, help);
        for c in clusters {
            f.add(&[("cluster", &c.name)], value(c));
        }
        f.finish();
    }
    let mut f = out.gauge(
        "kafka_lag_exporter_last_poll_phase_duration_seconds",
        "Duration of each phase of the last poll: metadata, groups, committed_offsets, \
         earliest_offsets, latest_offsets, evaluate",
    );
    for c in clusters {
        for (phase, seconds) in &c.phase_seconds {
            f.add(&[("cluster", &c.name), ("phase", phase)], *seconds);
        }
    }
    f.finish();
    let mut f = out.counter("kafka_lag_exporter_poll_errors_total", "Failed polls since start");
    for c in clusters {
        f.add(&[("cluster", &c.name)], c.poll_errors as f64);
    }
    f.finish();
    let mut f = out.counter(
        "kafka_lag_exporter_polls_total",
        "Polls completed since start, failed ones included",
    );
    for c in clusters {
        f.add(&[("cluster", &c.name)], c.polls as f64);
    }
    f.finish();
    let mut f = out.gauge(
        "kafka_lag_exporter_connection_error",
        "1 while the cluster's last poll failed because a broker address could not be reached; \
         cause: connection_refused, cannot_resolve, tls_handshake, sasl_authentication, \
         disconnected, timeout, other",
    );
    for c in clusters.iter().filter(|c| !c.up) {
        if let Some(e) = &c.connection_error {
            f.add(
                &[("cluster", &c.name), ("address", &e.address), ("cause", e.cause.as_str())],
                1.0,
            );
        }
    }
    f.finish();
}

pub(super) fn render_extra(out: &mut Out, clusters: &[Arc<ClusterSnapshot>]) {
    let data = || clusters.iter().filter_map(|c| c.fresh_data().map(|d| (c.name.as_str(), d)));

    let mut f = out.gauge(
        "kafka_consumergroup_lag_seconds",
        "Seconds the next record a group will consume has waited (0 when caught up; a lower \
         bound when the commit is older than the lag table)",
    );
    for (cluster, d) in data() {
        for g in &d.groups {
            for p in &g.partitions {
                if let Some(s) = p.lag_seconds {
                    let partition = p.partition.to_string();
                    f.add(
                        &[
                            ("cluster", cluster),
                            ("consumergroup", &g.name),
                            ("topic", &p.topic),
                            ("partition", &partition),
                        ],
                        s,
                    );
                }
            }
        }
    }
    f.finish();

    let mut f = out.gauge(
        "kafka_consumergroup_status",
        "Burrow-style group status in the status label; value 0 OK, 1 WARN, 2 ERR",
    );
    for (cluster, d) in data() {
        for g in &d.groups {
            f.add(
                &[("cluster", cluster), ("consumergroup", &g.name), ("status", g.status.as_str())],
                f64::from(g.status.code()),
            );
        }
    }
    f.finish();

    let mut f = out.gauge(
        "kafka_consumergroup_partition_status",
        "Burrow-style partition status in the status label; value 0 OK, 1 WARN, 3 STOP, \
         4 STALL, 5 REWIND",
    );
    for (cluster, d) in data() {
        for g in &d.groups {
            for p in &g.partitions {
                let partition = p.partition.to_string();
                f.add(
                    &[
                        ("cluster", cluster),
                        ("consumergroup", &g.name),
                        ("topic", &p.topic),
                        ("partition", &partition),
                        ("status", p.status.as_str()),
                    ],
                    f64::from(p.status.code()),
                );
            }
        }
    }
    f.finish();
}
