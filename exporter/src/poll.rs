//! One poll of one cluster: Kafka → [`ClusterSnapshot`], keeping the history that lag seconds
//! and the status evaluation need between polls.
//!
//! Order matters: committed offsets are read before latest offsets, so a commit can never be
//! ahead of the latest offset it is compared with (lag ≥ 0 in practice); lag is still clamped at
//! 0 in case a cluster's leader changes between the two reads.

use std::collections::{HashMap, HashSet};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::config::{ClusterConfig, Settings};
use crate::kafka::ClusterClient;
use crate::lag_time::{LagSeconds, LagTable};
use crate::snapshot::{ClusterData, ClusterSnapshot, GroupPartition, GroupState, PartitionState};
use crate::status::{group_status, Observation, Window};

/// Polls one cluster and remembers what later polls need.
pub struct Poller {
    cluster: ClusterConfig,
    client: ClusterClient,
    table_points: usize,
    window: usize,
    tables: HashMap<(String, i32), LagTable>,
    windows: HashMap<(String, String, i32), Window>,
    poll_errors: u64,
    last_success: f64,
}

/// Seconds since the epoch.
pub fn now_seconds() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

impl Poller {
    /// A poller for `cluster` (the client connects lazily).
    pub fn new(cluster: ClusterConfig, settings: &Settings) -> anyhow::Result<Poller> {
        let client = ClusterClient::new(&cluster, settings.kafka_timeout)?;
        Ok(Poller {
            cluster,
            client,
            table_points: settings.lag_table_points,
            window: settings.status_window,
            tables: HashMap::new(),
            windows: HashMap::new(),
            poll_errors: 0,
            last_success: 0.0,
        })
    }

    /// The cluster's name.
    pub fn name(&self) -> &str {
        &self.cluster.name
    }

    /// Runs one poll. Never fails: a failure is a snapshot with `up == false` and no data.
    pub fn poll(&mut self) -> ClusterSnapshot {
        let start = Instant::now();
        let mut phases = Phases::default();
        let result = self.collect(&mut phases);
        let last_poll_seconds = start.elapsed().as_secs_f64();
        let (data, error) = match result {
            Ok(data) => {
                self.last_success = now_seconds();
                (Some(data), None)
            }
            Err(e) => {
                self.poll_errors += 1;
                tracing::warn!(cluster = %self.cluster.name, "poll failed: {e:#}");
                (None, Some(format!("{e:#}")))
            }
        };
        ClusterSnapshot {
            name: self.cluster.name.clone(),
            up: data.is_some(),
            error,
            last_poll_seconds,
            last_success_timestamp: self.last_success,
            poll_errors: self.poll_errors,
            phase_seconds: phases.done,
            data,
        }
    }

    fn collect(&mut self, phases: &mut Phases) -> anyhow::Result<ClusterData> {
        let metadata = self.client.metadata()?;
        phases.end("metadata");
        if metadata.brokers.is_empty() {
            anyhow::bail!("Metadata: no brokers");
        }
        let topics: Vec<_> =
            metadata.topics.into_iter().filter(|t| self.cluster.topics.accepts(&t.name)).collect();
        let groups: Vec<_> = self
            .client
            .groups()?
            .into_iter()
            .filter(|g| self.cluster.groups.accepts(&g.name))
            .collect();
        phases.end("groups");
        let names: Vec<String> = groups.iter().map(|g| g.name.clone()).collect();
        let mut committed = self.client.committed(&names);
        phases.end("committed_offsets");

        // After the commits (see the module doc).
        let partition_keys: Vec<(&str, i32)> = topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(move |p| (t.name.as_str(), p.id)))
            .collect();
        let earliest = self.client.offsets(&partition_keys, false)?;
        phases.end("earliest_offsets");
        let latest = self.client.offsets(&partition_keys, true)?;
        phases.end("latest_offsets");
        let now = now_seconds();

        let mut partitions = Vec::with_capacity(partition_keys.len());
        for t in &topics {
            for p in &t.partitions {
                let key = (t.name.clone(), p.id);
                let latest_offset = latest.get(&key).copied();
                if let Some(l) = latest_offset {
                    self.tables
                        .entry(key.clone())
                        .or_insert_with(|| LagTable::new(self.table_points))
                        .observe(l, now);
                }
                partitions.push(PartitionState {
                    earliest: earliest.get(&key).copied(),
                    latest: latest_offset,
                    topic: key.0,
                    partition: p.id,
                    leader: p.leader,
                    replicas: p.replicas.clone(),
                    isr: p.isr.clone(),
                });
            }
        }
        partitions.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        let live: HashSet<(&str, i32)> =
            partitions.iter().map(|p| (p.topic.as_str(), p.partition)).collect();
        self.tables.retain(|(t, p), _| live.contains(&(t.as_str(), *p)));

        let mut seen_windows = HashSet::new();
        let mut group_states = Vec::with_capacity(groups.len());
        for g in groups {
            let mut owner: HashMap<(&str, i32), &crate::kafka::MemberInfo> = HashMap::new();
            for m in &g.members {
                for (t, p) in &m.assignment {
                    owner.insert((t.as_str(), *p), m);
                }
            }
            let (offsets, error) = match committed.remove(&g.name) {
                Some(Ok(o)) => (o, None),
                Some(Err(e)) => (Vec::new(), Some(e)),
                None => (Vec::new(), Some("no answer".to_string())),
            };
            let mut gp = Vec::with_capacity(offsets.len());
            for (topic, partition, offset) in offsets {
                if !live.contains(&(topic.as_str(), partition)) {
                    continue;
                }
                let Some(&latest_offset) = latest.get(&(topic.clone(), partition)) else {
                    continue;
                };
                let lag = (latest_offset - offset).max(0);
                let lag_seconds = self
                    .tables
                    .get(&(topic.clone(), partition))
                    .and_then(|t| t.lag_seconds(offset, now));
                let wkey = (g.name.clone(), topic.clone(), partition);
                let window =
                    self.windows.entry(wkey.clone()).or_insert_with(|| Window::new(self.window));
                window.push(Observation { offset, lag });
                let status = window.evaluate(!g.members.is_empty());
                seen_windows.insert(wkey);
                let m = owner.get(&(topic.as_str(), partition));
                gp.push(GroupPartition {
                    committed: offset,
                    latest: latest_offset,
                    lag,
                    lag_seconds: lag_seconds.map(LagSeconds::value),
                    lag_seconds_lower_bound: matches!(lag_seconds, Some(LagSeconds::AtLeast(_))),
                    member_host: m.map(|m| m.host.clone()).unwrap_or_default(),
                    consumer_id: m.map(|m| m.id.clone()).unwrap_or_default(),
                    client_id: m.map(|m| m.client_id.clone()).unwrap_or_default(),
                    status,
                    topic,
                    partition,
                });
            }
            gp.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
            group_states.push(GroupState {
                status: group_status(gp.iter().map(|p| p.status)),
                name: g.name,
                state: g.state,
                protocol_type: g.protocol_type,
                members: g.members.len(),
                error,
                partitions: gp,
            });
        }
        group_states.sort_by(|a, b| a.name.cmp(&b.name));
        self.windows.retain(|k, _| seen_windows.contains(k));
        phases.end("evaluate");
        Ok(ClusterData { brokers: metadata.brokers, partitions, groups: group_states })
    }
}

/// Durations of a poll's phases, in order, for `kafka_lag_exporter_last_poll_phase_seconds`.
struct Phases {
    since: Instant,
    done: Vec<(&'static str, f64)>,
}

impl Default for Phases {
    fn default() -> Self {
        Phases { since: Instant::now(), done: Vec::new() }
    }
}

impl Phases {
    fn end(&mut self, phase: &'static str) {
        let now = Instant::now();
        self.done.push((phase, (now - self.since).as_secs_f64()));
        self.since = now;
    }
}
