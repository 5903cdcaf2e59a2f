//! danielqsj/kafka_exporter's names and labels (`consumergroup`, `topic`, `partition`), plus
//! `cluster`. Partitions without a committed offset get no series (kafka_exporter reports -1).
//! The two `_sum` families are untyped rather than gauges: promtool rejects `_sum` on gauges,
//! and PromQL treats both alike.

use std::sync::Arc;

use super::Out;
use crate::snapshot::ClusterSnapshot;

pub(super) fn render(out: &mut Out, clusters: &[Arc<ClusterSnapshot>]) {
    let data = || clusters.iter().filter_map(|c| c.fresh_data().map(|d| (c.name.as_str(), d)));

    let mut f = out.gauge("kafka_brokers", "Number of Brokers in the Kafka Cluster.");
    for (cluster, d) in data() {
        f.add(&[("cluster", cluster)], d.brokers.len() as f64);
    }
    f.finish();

    let mut f = out.gauge("kafka_broker_info", "Information about the Kafka Broker.");
    for (cluster, d) in data() {
        for b in &d.brokers {
            let address = format!("{}:{}", b.host, b.port);
            f.add(&[("cluster", cluster), ("address", &address), ("id", &b.id.to_string())], 1.0);
        }
    }
    f.finish();

    let mut f = out.gauge("kafka_topic_partitions", "Number of partitions for this Topic");
    for (cluster, d) in data() {
        let mut i = 0;
        while i < d.partitions.len() {
            let topic = &d.partitions[i].topic;
            let n = d.partitions[i..].iter().take_while(|p| &p.topic == topic).count();
            f.add(&[("cluster", cluster), ("topic", topic)], n as f64);
            i += n;
        }
    }
    f.finish();

    type PartitionValue = fn(&crate::snapshot::PartitionState) -> Option<f64>;
    let per_partition: [(&str, &str, PartitionValue); 7] = [
        (
            "kafka_topic_partition_current_offset",
            "Current Offset of a Broker at Topic/Partition",
            |p| p.latest.map(|o| o as f64),
        ),
        (
            "kafka_topic_partition_oldest_offset",
            "Oldest Offset of a Broker at Topic/Partition",
            |p| p.earliest.map(|o| o as f64),
        ),
        ("kafka_topic_partition_leader", "Leader Broker ID of this Topic/Partition", |p| {
            Some(p.leader as f64)
        }),
        ("kafka_topic_partition_replicas", "Number of Replicas for this Topic/Partition", |p| {
            Some(p.replicas.len() as f64)
        }),
        (
            "kafka_topic_partition_in_sync_replica",
            "Number of In-Sync Replicas for this Topic/Partition",
            |p| Some(p.isr.len() as f64),
        ),
        (
            "kafka_topic_partition_leader_is_preferred",
            "1 if Topic/Partition is using the Preferred Broker",
            |p| Some(f64::from(u8::from(p.replicas.first() == Some(&p.leader)))),
        ),
        (
            "kafka_topic_partition_under_replicated_partition",
            "1 if Topic/Partition is under Replicated",
            |p| Some(f64::from(u8::from(p.isr.len() < p.replicas.len()))),
        ),
    ];
    for (name, help, value) in per_partition {
        let mut f = out.gauge(name, help);
        for (cluster, d) in data() {
            for p in &d.partitions {
                if let Some(v) = value(p) {
                    let partition = p.partition.to_string();
                    f.add(
                        &[("cluster", cluster), ("topic", &p.topic), ("partition", &partition)],
                        v,
                    );
                }
            }
        }
        f.finish();
    }

    let mut f = out.gauge("kafka_consumergroup_members", "Amount of members in a consumer group");
    for (cluster, d) in data() {
        for g in &d.groups {
            f.add(&[("cluster", cluster), ("consumergroup", &g.name)], g.members as f64);
        }
    }
    f.finish();

    for (name, help, lag) in [
        (
            "kafka_consumergroup_current_offset",
            "Current Offset of a ConsumerGroup at Topic/Partition",
            false,
        ),
        (
            "kafka_consumergroup_lag",
            "Current Approximate Lag of a ConsumerGroup at Topic/Partition (clamped at 0)",
            true,
        ),
    ] {
        let mut f = out.gauge(name, help);
        for (cluster, d) in data() {
            for g in &d.groups {
                for p in &g.partitions {
                    let partition = p.partition.to_string();
                    let v = if lag { p.lag } else { p.committed };
                    f.add(
                        &[
                            ("cluster", cluster),
                            ("consumergroup", &g.name),
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

    for (name, help, lag) in [
        (
            "kafka_consumergroup_current_offset_sum",
            "Current Offset of a ConsumerGroup at Topic for all partitions",
            false,
        ),
        (
            "kafka_consumergroup_lag_sum",
            "Current Approximate Lag of a ConsumerGroup at Topic for all partitions",
            true,
        ),
    ] {
        let mut f = out.untyped(name, help);
        for (cluster, d) in data() {
            for g in &d.groups {
                for (topic, lag_sum, offset_sum) in g.per_topic() {
                    let v = if lag { lag_sum } else { offset_sum };
                    f.add(
                        &[("cluster", cluster), ("consumergroup", &g.name), ("topic", topic)],
                        v as f64,
                    );
                }
            }
        }
        f.finish();
    }
}
