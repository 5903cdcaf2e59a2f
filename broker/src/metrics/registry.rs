//! [`BrokerMetrics`]: the counters the request path updates (requests, errors, request times,
//! per-topic traffic, open connections). Plain counters behind short locks; time comes from the
//! caller (the broker's clock), so the core stays deterministic.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use kafka_protocol::messages::{ApiKey, ResponseKind};

use super::errors::error_codes;
use super::quantiles::{RecentSamples, REPORTED};
use crate::controller::partition_change::Elections;

/// Kafka's BrokerTopicMetrics of one topic (or of all topics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TopicCounters {
    /// Records appended by producers (MessagesInPerSec).
    pub messages_in: u64,
    /// Bytes of record batches appended by producers (BytesInPerSec).
    pub bytes_in: u64,
    /// Bytes of record batches sent to fetchers (BytesOutPerSec).
    pub bytes_out: u64,
    /// Per-partition produce requests (TotalProduceRequestsPerSec).
    pub total_produce: u64,
    /// Per-partition fetch requests (TotalFetchRequestsPerSec).
    pub total_fetch: u64,
    /// Per-partition produce requests answered with an error.
    pub failed_produce: u64,
    /// Per-partition fetch requests answered with an error.
    pub failed_fetch: u64,
}

/// Counters of one API (Kafka's `RequestMetrics` for `request=<name>`).
#[derive(Debug, Clone, Default)]
struct ApiCounters {
    by_version: BTreeMap<i16, u64>,
    errors: BTreeMap<i16, u64>,
    times_ms: RecentSamples,
    timed: u64,
}

/// A point-in-time copy of one API's counters.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiSnapshot {
    /// The API, named as Kafka's `RequestMetrics` name it (`Produce`, `Fetch`, …).
    pub name: String,
    /// Requests per version.
    pub by_version: BTreeMap<i16, u64>,
    /// Error codes in responses (0 = NONE included), per code.
    pub errors: BTreeMap<i16, u64>,
    /// `(quantile label, ms)` over the last 1028 timed requests; empty before the first.
    pub time_quantiles_ms: Vec<(&'static str, f64)>,
    /// Requests timed.
    pub timed: u64,
}

/// A point-in-time copy of [`BrokerMetrics`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricsSnapshot {
    /// Per API, in API key order.
    pub apis: Vec<ApiSnapshot>,
    /// Per topic, in name order.
    pub topics: BTreeMap<String, TopicCounters>,
    /// Every topic together.
    pub all_topics: TopicCounters,
    /// Open connections per listener; every listener is present.
    pub connections: BTreeMap<String, i64>,
    /// Leader elections this node's controller committed (ControllerStats).
    pub elections: Elections,
}

#[derive(Debug, Default)]
struct Topics {
    by_topic: BTreeMap<String, TopicCounters>,
    all: TopicCounters,
}

impl Topics {
    /// Applies `update` to the all-topics counters and, when the topic is known, to its own.
    fn update(&mut self, topic: Option<&str>, update: impl Fn(&mut TopicCounters)) {
        update(&mut self.all);
        if let Some(topic) = topic {
            match self.by_topic.get_mut(topic) {
                Some(counters) => update(counters),
                None => update(self.by_topic.entry(topic.to_owned()).or_default()),
            }
        }
    }
}

/// The request-path counters of one broker (`Broker::metrics`).
#[derive(Debug, Default)]
pub struct BrokerMetrics {
    /// By API key.
    apis: Mutex<BTreeMap<i16, ApiCounters>>,
    topics: Mutex<Topics>,
    /// Fixed at start: one per listener.
    connections: BTreeMap<String, Arc<AtomicI64>>,
    /// The controller's committed leader elections, and the unclean ones among them.
    leader_elections: AtomicU64,
    unclean_leader_elections: AtomicU64,
}

/// Decrements its listener's connection count when the connection ends.
#[derive(Debug)]
pub struct ConnectionGuard(Option<Arc<AtomicI64>>);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        if let Some(count) = &self.0 {
            count.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl BrokerMetrics {
    /// Counters for a broker with these listeners (their connection counts start at 0).
    pub fn new(listeners: &[String]) -> Self {
        BrokerMetrics {
            connections: listeners.iter().map(|l| (l.clone(), Arc::default())).collect(),
            ..Default::default()
        }
    }

    /// Counts a connection on `listener` until the guard is dropped.
    pub fn connection_opened(&self, listener: &str) -> ConnectionGuard {
        let count = self.connections.get(listener).cloned();
        if let Some(count) = &count {
            count.fetch_add(1, Ordering::Relaxed);
        }
        ConnectionGuard(count)
    }

    /// Counts a handled request and the error codes of its response (`None`: no response,
    /// as for Produce with acks=0).
    pub fn record_request(&self, api: ApiKey, version: i16, response: Option<&ResponseKind>) {
        let mut apis = self.apis.lock().expect("metrics lock poisoned");
        let counters = apis.entry(api as i16).or_default();
        *counters.by_version.entry(version).or_default() += 1;
        for code in response.map(error_codes).unwrap_or_default() {
            *counters.errors.entry(code).or_default() += 1;
        }
    }

    /// Records a request's total time: from its frame read to its response written.
    pub fn record_request_time(&self, api: ApiKey, ms: i64) {
        let mut apis = self.apis.lock().expect("metrics lock poisoned");
        let counters = apis.entry(api as i16).or_default();
        counters.times_ms.record(ms.max(0) as f64);
        counters.timed += 1;
    }

    /// Counts one partition of a Produce request: `appended` is `(records, bytes)` when the
    /// batch was appended, `None` when the partition was answered with an error. `topic` is
    /// `None` for a topic that does not exist (counted in the all-topics series only).
    pub fn record_produce(&self, topic: Option<&str>, appended: Option<(u64, u64)>) {
        self.topics.lock().expect("metrics lock poisoned").update(topic, |c| {
            c.total_produce += 1;
            match appended {
                Some((records, bytes)) => {
                    c.messages_in += records;
                    c.bytes_in += bytes;
                }
                None => c.failed_produce += 1,
            }
        });
    }

    /// Counts one partition of a Fetch response: `sent` is the record bytes returned, `None`
    /// when the partition was answered with an error.
    pub fn record_fetch(&self, topic: Option<&str>, sent: Option<u64>) {
        self.topics.lock().expect("metrics lock poisoned").update(topic, |c| {
            c.total_fetch += 1;
            match sent {
                Some(bytes) => c.bytes_out += bytes,
                None => c.failed_fetch += 1,
            }
        });
    }

    /// Counts the leader elections of records the controller committed.
    pub fn record_elections(&self, elections: Elections) {
        self.leader_elections.fetch_add(elections.leader_elections, Ordering::Relaxed);
        self.unclean_leader_elections.fetch_add(elections.unclean, Ordering::Relaxed);
    }

    /// The leader elections counted so far.
    pub fn elections(&self) -> Elections {
        Elections {
            leader_elections: self.leader_elections.load(Ordering::Relaxed),
            unclean: self.unclean_leader_elections.load(Ordering::Relaxed),
        }
    }

    /// Forgets a deleted topic's counters, as Kafka removes its BrokerTopicMetrics.
    pub fn remove_topic(&self, topic: &str) {
        self.topics.lock().expect("metrics lock poisoned").by_topic.remove(topic);
    }

    /// The current counts.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let apis = self.apis.lock().expect("metrics lock poisoned");
        let qs: Vec<f64> = REPORTED.iter().map(|(_, q)| *q).collect();
        let apis = apis
            .iter()
            .map(|(key, c)| ApiSnapshot {
                name: ApiKey::try_from(*key).map_or_else(|_| key.to_string(), |k| format!("{k:?}")),
                by_version: c.by_version.clone(),
                errors: c.errors.clone(),
                time_quantiles_ms: c
                    .times_ms
                    .quantiles(&qs)
                    .map(|values| REPORTED.iter().map(|(label, _)| *label).zip(values).collect())
                    .unwrap_or_default(),
                timed: c.timed,
            })
            .collect();
        let topics = self.topics.lock().expect("metrics lock poisoned");
        MetricsSnapshot {
            apis,
            topics: topics.by_topic.clone(),
            all_topics: topics.all,
            connections: self
                .connections
                .iter()
                .map(|(l, n)| (l.clone(), n.load(Ordering::Relaxed)))
                .collect(),
            elections: self.elections(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_counters_feed_the_topic_and_the_total() {
        let metrics = BrokerMetrics::new(&["PLAINTEXT".to_owned()]);
        metrics.record_produce(Some("a"), Some((3, 300)));
        metrics.record_produce(Some("a"), None);
        metrics.record_produce(None, None);
        metrics.record_fetch(Some("a"), Some(300));
        let snapshot = metrics.snapshot();
        let a = snapshot.topics["a"];
        assert_eq!((a.messages_in, a.bytes_in, a.total_produce, a.failed_produce), (3, 300, 2, 1));
        assert_eq!((a.bytes_out, a.total_fetch, a.failed_fetch), (300, 1, 0));
        assert_eq!(snapshot.all_topics.total_produce, 3);
        assert_eq!(snapshot.all_topics.failed_produce, 2);
        metrics.remove_topic("a");
        assert!(metrics.snapshot().topics.is_empty());
    }

    #[test]
    fn elections_add_up() {
        let metrics = BrokerMetrics::default();
        metrics.record_elections(Elections { leader_elections: 3, unclean: 1 });
        metrics.record_elections(Elections { leader_elections: 2, unclean: 0 });
        assert_eq!(metrics.snapshot().elections, Elections { leader_elections: 5, unclean: 1 });
    }

    #[test]
    fn connections_are_counted_while_open() {
        let metrics = BrokerMetrics::new(&["PLAINTEXT".to_owned(), "SSL".to_owned()]);
        let first = metrics.connection_opened("SSL");
        let second = metrics.connection_opened("SSL");
        assert_eq!(metrics.snapshot().connections["SSL"], 2);
        drop(first);
        assert_eq!(metrics.snapshot().connections["SSL"], 1);
        assert_eq!(metrics.snapshot().connections["PLAINTEXT"], 0);
        drop(second);
        assert_eq!(metrics.snapshot().connections["SSL"], 0);
    }

    #[test]
    fn requests_count_by_version_and_time_by_api() {
        let metrics = BrokerMetrics::default();
        metrics.record_request(ApiKey::Metadata, 12, None);
        metrics.record_request(ApiKey::Metadata, 12, None);
        metrics.record_request(ApiKey::Metadata, 9, None);
        metrics.record_request_time(ApiKey::Metadata, 4);
        let snapshot = metrics.snapshot();
        let api = &snapshot.apis[0];
        assert_eq!(api.name, "Metadata");
        assert_eq!(api.by_version, BTreeMap::from([(9, 1), (12, 2)]));
        assert_eq!(api.timed, 1);
        assert_eq!(api.time_quantiles_ms[0], ("0.50", 4.0));
        assert_eq!(api.time_quantiles_ms.len(), 6);
    }
}
