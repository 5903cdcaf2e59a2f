//! The exporter's only door to Kafka: one librdkafka client per cluster (a group-less
//! `BaseConsumer`), so TLS, SASL and every other librdkafka property work as with any client.
//!
//! Every call is batched as far as librdkafka allows:
//! - metadata: one Metadata request for all topics;
//! - groups: `rd_kafka_list_groups` — ListGroups to each broker, then one DescribeGroups per
//!   coordinator carrying all its groups (members, assignments, state; empty groups included);
//! - committed offsets: ListConsumerGroupOffsets, one OffsetFetch per group, pipelined (see
//!   [`ffi`]; librdkafka takes one group per call);
//! - earliest/latest offsets: `rd_kafka_offsets_for_times` with the EARLIEST/LATEST sentinels,
//!   one ListOffsets request per partition leader for all its partitions.
//!
//! All calls block; the poller runs them on its own thread. Each call's time limit is the
//! Kafka timeout, cut to what is left of the poll's [`Budget`], so a cluster that stops
//! answering fails the poll within one poll interval instead of serving old values.

mod assignment;
mod errors;
mod ffi;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use crate::config::ClusterConfig;

pub use errors::{Cause, ConnectionError};
pub use ffi::GroupOffsets;

/// The time limits of one poll's calls: each call gets `kafka_timeout`, but never past
/// `until` (the poll's start plus the poll interval).
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub kafka_timeout: Duration,
    pub until: Instant,
    /// The poll interval, for the error message.
    pub poll_interval: Duration,
}

impl Budget {
    /// The limit for the next call, or an error naming `call` when the poll's time is up.
    pub fn timeout(&self, call: &str) -> anyhow::Result<Duration> {
        let left = self.until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            anyhow::bail!(
                "{call}: the poll did not finish within the poll interval ({:?}; raise \
                 --poll-interval if the cluster needs longer)",
                self.poll_interval
            );
        }
        Ok(left.min(self.kafka_timeout))
    }
}

/// A broker as Metadata describes it.
#[derive(Debug, Clone)]
pub struct BrokerInfo {
    pub id: i32,
    pub host: String,
    pub port: i32,
}

/// A partition as Metadata describes it.
#[derive(Debug, Clone)]
pub struct PartitionInfo {
    pub id: i32,
    pub leader: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

/// A topic as Metadata describes it.
#[derive(Debug, Clone)]
pub struct TopicInfo {
    pub name: String,
    pub partitions: Vec<PartitionInfo>,
}

/// Cluster metadata.
#[derive(Debug, Clone)]
pub struct MetadataInfo {
    pub brokers: Vec<BrokerInfo>,
    pub topics: Vec<TopicInfo>,
}

/// A consumer-group member.
#[derive(Debug, Clone)]
pub struct MemberInfo {
    pub id: String,
    pub client_id: String,
    pub host: String,
    pub assignment: Vec<(String, i32)>,
}

/// A consumer group as DescribeGroups describes it.
#[derive(Debug, Clone)]
pub struct GroupInfo {
    pub name: String,
    pub state: String,
    pub protocol_type: String,
    pub members: Vec<MemberInfo>,
}

/// Partitions per `offsets_for_times` call (see [`ClusterClient::offsets`]).
const OFFSETS_PER_CALL: usize = 1000;

/// A client of one cluster.
pub struct ClusterClient {
    consumer: BaseConsumer<errors::ErrorLog>,
}

/// Events served per [`ClusterClient::connection_error`] call at most.
const EVENTS_PER_DRAIN: usize = 1000;

impl ClusterClient {
    /// Creates the client; it connects lazily, so a cluster that is down does not fail here.
    ///
    /// `socket.timeout.ms` is the Kafka timeout (unless the cluster's properties set it): a
    /// broker that hangs without closing its connections (paused, cut off the network) has
    /// its connection dropped after one timed-out request, and librdkafka asks another broker
    /// next. librdkafka's own 60 s would leave every poll of that minute asking the hung one.
    pub fn new(cluster: &ClusterConfig, kafka_timeout: Duration) -> anyhow::Result<ClusterClient> {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &cluster.bootstrap_servers)
            .set("client.id", "kafka-lag-exporter")
            .set("enable.auto.commit", "false")
            .set("socket.timeout.ms", kafka_timeout.as_millis().clamp(10, 300_000).to_string())
            .set("log_level", "3");
        for (k, v) in &cluster.properties {
            config.set(k, v);
        }
        let consumer: BaseConsumer<errors::ErrorLog> = config
            .create_with_context(errors::ErrorLog::default())
            .with_context(|| format!("cluster {}: creating the Kafka client", cluster.name))?;
        Ok(ClusterClient { consumer })
    }

    /// Why brokers could not be reached since the last call, from librdkafka's error lines
    /// (which only reach the context when the client's main queue is served, here).
    pub fn connection_error(&self) -> Option<ConnectionError> {
        for _ in 0..EVENTS_PER_DRAIN {
            if self.consumer.poll(Duration::ZERO).is_none() {
                break;
            }
        }
        ConnectionError::from_log(&self.consumer.context().take())
    }

    /// Brokers, topics and partitions.
    pub fn metadata(&self, budget: &Budget) -> anyhow::Result<MetadataInfo> {
        let md =
            self.consumer.fetch_metadata(None, budget.timeout("Metadata")?).context("Metadata")?;
        let brokers = md
            .brokers()
            .iter()
            .map(|b| BrokerInfo { id: b.id(), host: b.host().to_string(), port: b.port() })
            .collect();
        let topics = md
            .topics()
            .iter()
            .filter(|t| t.error().is_none())
            .map(|t| TopicInfo {
                name: t.name().to_string(),
                partitions: t
                    .partitions()
                    .iter()
                    .map(|p| PartitionInfo {
                        id: p.id(),
                        leader: p.leader(),
                        replicas: p.replicas().to_vec(),
                        isr: p.isr().to_vec(),
                    })
                    .collect(),
            })
            .collect();
        Ok(MetadataInfo { brokers, topics })
    }

    /// Every consumer group with its state and members.
    pub fn groups(&self, budget: &Budget) -> anyhow::Result<Vec<GroupInfo>> {
        let list = self
            .consumer
            .fetch_group_list(None, budget.timeout("ListGroups")?)
            .context("ListGroups")?;
        Ok(list
            .groups()
            .iter()
            .map(|g| GroupInfo {
                name: g.name().to_string(),
                state: g.state().to_string(),
                protocol_type: g.protocol_type().to_string(),
                members: g
                    .members()
                    .iter()
                    .map(|m| MemberInfo {
                        id: m.id().to_string(),
                        client_id: m.client_id().to_string(),
                        host: m.client_host().to_string(),
                        assignment: m.assignment().map(assignment::decode).unwrap_or_default(),
                    })
                    .collect(),
            })
            .collect())
    }

    /// Committed offsets of each group (one OffsetFetch per group, pipelined).
    pub fn committed(
        &self,
        groups: &[String],
        budget: &Budget,
    ) -> anyhow::Result<HashMap<String, Result<GroupOffsets, String>>> {
        let timeout = budget.timeout("ListConsumerGroupOffsets")?;
        // SAFETY: the handle belongs to `self.consumer`, which outlives the call.
        Ok(unsafe {
            ffi::list_group_offsets(
                self.consumer.client().native_ptr(),
                groups,
                timeout,
                budget.until,
            )
        })
    }

    /// Earliest (`latest == false`) or latest offsets of `partitions`, batched per leader.
    /// Partitions whose offset could not be read are absent from the answer.
    pub fn offsets(
        &self,
        partitions: &[(&str, i32)],
        latest: bool,
        budget: &Budget,
    ) -> anyhow::Result<HashMap<(String, i32), i64>> {
        let call = if latest { "ListOffsets (latest)" } else { "ListOffsets (earliest)" };
        let mut out = HashMap::with_capacity(partitions.len());
        // librdkafka matches each answered partition against the request list linearly, so
        // one call is quadratic in its size: bounded calls keep 10,000 partitions linear.
        for chunk in partitions.chunks(OFFSETS_PER_CALL) {
            let mut tpl = TopicPartitionList::with_capacity(chunk.len());
            let sentinel = if latest { Offset::End } else { Offset::Beginning };
            for &(topic, partition) in chunk {
                tpl.add_partition_offset(topic, partition, sentinel)
                    .context("building ListOffsets")?;
            }
            let answer =
                self.consumer.offsets_for_times(tpl, budget.timeout(call)?).context(call)?;
            for e in answer.elements() {
                if let (Ok(()), Offset::Offset(o)) = (e.error(), e.offset()) {
                    out.insert((e.topic().to_string(), e.partition()), o);
                }
            }
        }
        Ok(out)
    }
}
