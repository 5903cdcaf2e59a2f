//! One poll of one cluster: Kafka → [`ClusterSnapshot`], keeping the history that lag seconds
//! and the status evaluation need between polls.
//!
//! Order matters: committed offsets are read before latest offsets, so a commit can never be
//! ahead of the latest offset it is compared with (lag ≥ 0 in practice); lag is still clamped at
//! 0 in case a cluster's leader changes between the two reads.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::config::{ClusterConfig, Settings};
use crate::kafka::{Budget, ClusterClient, ConnectionError};
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
    polls: u64,
    last_success: f64,
    poll_interval: Duration,
    kafka_timeout: Duration,
    /// The last successful poll's data, served (marked old) while polls fail.
    last_data: Option<Arc<ClusterData>>,
    /// Kept while polls keep failing: librdkafka logs an identical error only once.
    connection_error: Option<ConnectionError>,
    /// The failure last logged, so a failure is logged once per change, not every poll.
    logged_failure: Option<String>,
    /// Per group: (poll end, lag sum) of its last [`HISTORY_POINTS`] successful polls.
    history: HashMap<String, VecDeque<(f64, i64)>>,
}

/// Points of lag history kept per group (the page's chart).
pub const HISTORY_POINTS: usize = 60;

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
            polls: 0,
            last_success: 0.0,
            poll_interval: settings.poll_interval,
            kafka_timeout: settings.kafka_timeout,
            last_data: None,
            connection_error: None,
            logged_failure: None,
            history: HashMap::new(),
        })
    }

    /// The cluster's name.
    pub fn name(&self) -> &str {
        &self.cluster.name
    }

    /// Runs one poll, whose calls together take at most the poll interval. Never fails: a
    /// failed Metadata is a snapshot with `up == false`, the reason, and the last successful
    /// poll's data; a later call that failed (a broker down that it needed) leaves its part out
    /// of a fresh snapshot, `up` and the reason given.
    pub fn poll(&mut self) -> ClusterSnapshot {
        let start = Instant::now();
        let budget = Budget {
            kafka_timeout: self.kafka_timeout,
            until: start + self.poll_interval,
            poll_interval: self.poll_interval,
        };
        let mut phases = Phases::default();
        let result = self.collect(&mut phases, &budget);
        let last_poll_seconds = start.elapsed().as_secs_f64();
        let connection_error = self.client.connection_error();
        self.polls += 1;
        let now = now_seconds();
        let (up, error) = match result {
            Ok((data, incomplete)) if incomplete.is_empty() => {
                self.last_success = now;
                self.last_data = Some(Arc::new(data));
                self.connection_error = None;
                if self.logged_failure.take().is_some() {
                    tracing::info!(cluster = %self.cluster.name, "poll succeeded again");
                }
                (true, None)
            }
            // The cluster answered its metadata but not every later call (a broker down that
            // a ListGroups or a ListOffsets needed): what was read is published — partitions
            // and their ISR above all, which is what an operator looks at while a broker is
            // down — and the rest is left out this poll.
            Ok((data, incomplete)) => {
                self.last_success = now;
                self.last_data = Some(Arc::new(data));
                self.poll_errors += 1;
                let error = format!("poll incomplete: {}", incomplete.join("; "));
                if self.logged_failure.as_ref() != Some(&error) {
                    tracing::warn!(cluster = %self.cluster.name, "{error}");
                    self.logged_failure = Some(error.clone());
                }
                (true, Some(error))
            }
            Err(e) => {
                self.poll_errors += 1;
                // librdkafka words one failure differently in its log and its error callback:
                // the first wording stays while the address and the cause stay the same.
                let same = |a: &ConnectionError, b: &ConnectionError| {
                    (&a.address, a.cause) == (&b.address, b.cause)
                };
                match (&self.connection_error, connection_error) {
                    (Some(old), Some(new)) if same(old, &new) => {}
                    (_, Some(new)) => self.connection_error = Some(new),
                    (_, None) => {}
                }
                let error = match &self.connection_error {
                    Some(c) => format!("{c}; {}", chain(&e)),
                    None => chain(&e),
                };
                if self.logged_failure.as_ref() != Some(&error) {
                    tracing::warn!(cluster = %self.cluster.name, "poll failed: {error}");
                    self.logged_failure = Some(error.clone());
                }
                (false, Some(error))
            }
        };
        ClusterSnapshot {
            name: self.cluster.name.clone(),
            up,
            error,
            connection_error: self.connection_error.clone(),
            polls: self.polls,
            last_poll_seconds,
            last_poll_timestamp: now,
            last_success_timestamp: self.last_success,
            poll_errors: self.poll_errors,
            phase_seconds: phases.done,
            data: self.last_data.clone(),
        }
    }

    /// One poll's data, and the calls after Metadata that failed (their part left out: no
    /// groups when ListGroups failed, no offsets — hence no lag — when ListOffsets did).
    /// Fails only when Metadata does: then nothing of the cluster is known.
    fn collect(
        &mut self,
        phases: &mut Phases,
        budget: &Budget,
    ) -> anyhow::Result<(ClusterData, Vec<String>)> {
        let metadata = self.client.metadata(budget)?;
        phases.end("metadata");
        if metadata.brokers.is_empty() {
            anyhow::bail!("Metadata: no brokers");
        }
        let mut incomplete = Vec::new();
        let topics: Vec<_> =
            metadata.topics.into_iter().filter(|t| self.cluster.topics.accepts(&t.name)).collect();
        let groups: Vec<_> = match self.client.groups(budget) {
            Ok(groups) => {
                groups.into_iter().filter(|g| self.cluster.groups.accepts(&g.name)).collect()
            }
            Err(e) => {
                incomplete.push(chain(&e));
                Vec::new()
            }
        };
        phases.end("groups");
        let names: Vec<String> = groups.iter().map(|g| g.name.clone()).collect();
        let mut committed = self.client.committed(&names, budget).unwrap_or_else(|e| {
            incomplete.push(chain(&e));
            HashMap::new()
        });
        phases.end("committed_offsets");

        // After the commits (see the module doc).
        let partition_keys: Vec<(&str, i32)> = topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(move |p| (t.name.as_str(), p.id)))
            .collect();
        let mut offsets = |latest: bool| {
            self.client.offsets(&partition_keys, latest, budget).unwrap_or_else(|e| {
                incomplete.push(chain(&e));
                HashMap::new()
            })
        };
        let earliest = offsets(false);
        phases.end("earliest_offsets");
        let latest = offsets(true);
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
            let history = self.history.entry(g.name.clone()).or_default();
            if history.len() == HISTORY_POINTS {
                history.pop_front();
            }
            history.push_back((now, gp.iter().map(|p| p.lag).sum()));
            group_states.push(GroupState {
                lag_history: history.iter().copied().collect(),
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
        let seen_groups: HashSet<&str> = group_states.iter().map(|g| g.name.as_str()).collect();
        self.history.retain(|g, _| seen_groups.contains(g.as_str()));
        phases.end("evaluate");
        Ok((
            ClusterData { brokers: metadata.brokers, partitions, groups: group_states },
            incomplete,
        ))
    }
}

/// An error and its causes, `: `-separated, leaving out a cause its parent already quotes
/// (rdkafka's errors repeat their code as their source).
fn chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    let mut previous = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !previous.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
        previous = text;
    }
    out
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
