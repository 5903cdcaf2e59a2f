//! seglo/kafka-lag-exporter's names and labels (`cluster_name`, `group`, `topic`, `partition`,
//! `member_host`, `consumer_id`, `client_id`, `is_simple_consumer`), plus `cluster`.
//! Partitions without a committed offset get no series and take no part in max/sum.

use std::sync::Arc;

use super::Out;
use crate::config::Families;
use crate::snapshot::ClusterSnapshot;

pub(super) fn render(out: &mut Out, clusters: &[Arc<ClusterSnapshot>], families: Families) {
    if families.lag_exporter_poll_time_ms {
        let mut f = out.gauge(
            "kafka_consumergroup_poll_time_ms",
            "Group time poll time (duration of the last poll, milliseconds)",
        );
        for c in clusters {
            let labels = [("cluster", c.name.as_str()), ("cluster_name", c.name.as_str())];
            f.add(&labels, (c.last_poll_seconds * 1000.0).round());
        }
        f.finish();
    }
    if !families.lag_exporter {
        return;
    }
    let data = || clusters.iter().filter_map(|c| c.fresh_data().map(|d| (c.name.as_str(), d)));

    for (name, help, latest) in [
        ("kafka_partition_latest_offset", "Latest offset of a partition", true),
        ("kafka_partition_earliest_offset", "Earliest offset of a partition", false),
    ] {
        let mut f = out.gauge(name, help);
        for (cluster, d) in data() {
            for p in &d.partitions {
                if let Some(v) = if latest { p.latest } else { p.earliest } {
                    let partition = p.partition.to_string();
                    f.add(
                        &[
                            ("cluster", cluster),
                            ("cluster_name", cluster),
                            ("topic", &p.topic),
                            ("partition", &partition),
                        ],
                        v as f64,
                    );
                }
            }
        }
        f.finish();
    }

    type Value = fn(&crate::snapshot::GroupPartition) -> Option<f64>;
    let per_partition: [(&str, &str, Value); 3] = [
        ("kafka_consumergroup_group_offset", "Last group consumed offset of a partition", |p| {
            Some(p.committed as f64)
        }),
        ("kafka_consumergroup_group_lag", "Group offset lag of a partition (clamped at 0)", |p| {
            Some(p.lag as f64)
        }),
        (
            "kafka_consumergroup_group_lag_seconds",
            "Group time lag of a partition (a lower bound when older than the lag table)",
            |p| p.lag_seconds,
        ),
    ];
    for (name, help, value) in per_partition {
        let mut f = out.gauge(name, help);
        for (cluster, d) in data() {
            for g in &d.groups {
                for p in &g.partitions {
                    let Some(v) = value(p) else { continue };
                    let partition = p.partition.to_string();
                    f.add(
                        &[
                            ("cluster", cluster),
                            ("cluster_name", cluster),
                            ("group", &g.name),
                            ("topic", &p.topic),
                            ("partition", &partition),
                            ("member_host", &p.member_host),
                            ("consumer_id", &p.consumer_id),
                            ("client_id", &p.client_id),
                        ],
                        v,
                    );
                }
            }
        }
        f.finish();
    }

    for (name, help, seconds) in [
        ("kafka_consumergroup_group_max_lag", "Max group offset lag", false),
        ("kafka_consumergroup_group_max_lag_seconds", "Max group time lag", true),
    ] {
        let mut f = out.gauge(name, help);
        for (cluster, d) in data() {
            for g in &d.groups {
                let v = if seconds { g.max_lag_seconds() } else { g.max_lag().map(|l| l as f64) };
                let Some(v) = v else { continue };
                let simple = g.is_simple_consumer().to_string();
                f.add(
                    &[
                        ("cluster", cluster),
                        ("cluster_name", cluster),
                        ("group", &g.name),
                        ("is_simple_consumer", &simple),
                    ],
                    v,
                );
            }
        }
        f.finish();
    }

    let mut f = out.gauge("kafka_consumergroup_group_sum_lag", "Sum of group offset lag");
    for (cluster, d) in data() {
        for g in d.groups.iter().filter(|g| !g.partitions.is_empty()) {
            f.add(
                &[("cluster", cluster), ("cluster_name", cluster), ("group", &g.name)],
                g.sum_lag() as f64,
            );
        }
    }
    f.finish();

    let mut f = out.gauge(
        "kafka_consumergroup_group_topic_sum_lag",
        "Sum of group offset lag across topic partitions",
    );
    for (cluster, d) in data() {
        for g in &d.groups {
            for (topic, lag, _) in g.per_topic() {
                f.add(
                    &[
                        ("cluster", cluster),
                        ("cluster_name", cluster),
                        ("group", &g.name),
                        ("topic", topic),
                    ],
                    lag as f64,
                );
            }
        }
    }
    f.finish();
}
