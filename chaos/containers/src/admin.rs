//! What the suites ask the cluster, through librdkafka as any client would: whether every
//! node is listed, creating the topic, and each partition's leader and ISR.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;

/// One partition as the metadata shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PartitionState {
    /// Its leader (-1: none).
    pub leader: i32,
    /// Its in-sync replicas.
    pub isr: Vec<i32>,
    /// Its replicas.
    pub replicas: Vec<i32>,
}

/// A librdkafka admin client of the cluster (blocking calls: use it off the async threads).
pub struct ClusterAdmin {
    client: AdminClient<DefaultClientContext>,
}

impl ClusterAdmin {
    /// A client of the cluster with `config` (bootstrap servers and security).
    pub fn new(mut config: ClientConfig) -> anyhow::Result<Self> {
        let client = config
            .set("client.id", "chaos-suite-admin")
            .create()
            .context("creating the admin client")?;
        Ok(Self { client })
    }

    /// The brokers the cluster lists.
    pub fn brokers(&self) -> anyhow::Result<Vec<i32>> {
        let metadata = self.client.inner().fetch_metadata(None, Duration::from_secs(5))?;
        Ok(metadata.brokers().iter().map(|b| b.id()).collect())
    }

    /// Waits until the cluster lists `count` brokers.
    pub fn wait_for_brokers(&self, count: usize, within: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + within;
        loop {
            match self.brokers() {
                Ok(brokers) if brokers.len() >= count => return Ok(()),
                Ok(brokers) if Instant::now() >= deadline => {
                    bail!("the cluster lists brokers {brokers:?} after {within:?}, not {count}")
                }
                Err(e) if Instant::now() >= deadline => {
                    bail!("the cluster does not answer metadata after {within:?}: {e}")
                }
                _ => std::thread::sleep(Duration::from_millis(250)),
            }
        }
    }

    /// Creates `topic` with `partitions` at RF=3 and `min.insync.replicas` as given.
    pub async fn create_topic(
        &self,
        topic: &str,
        partitions: i32,
        min_insync_replicas: i32,
    ) -> anyhow::Result<()> {
        let min_isr = min_insync_replicas.to_string();
        let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(3))
            .set("min.insync.replicas", &min_isr);
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        let results = self.client.create_topics([&new], &options).await?;
        for result in results {
            if let Err((name, code)) = result {
                bail!("creating the topic {name}: {code}");
            }
        }
        Ok(())
    }

    /// Each partition of `topic`: leader, ISR and replicas.
    pub fn partitions(&self, topic: &str) -> anyhow::Result<BTreeMap<i32, PartitionState>> {
        let metadata = self.client.inner().fetch_metadata(Some(topic), Duration::from_secs(5))?;
        let Some(t) = metadata.topics().iter().find(|t| t.name() == topic) else {
            bail!("the metadata has no topic {topic}");
        };
        if let Some(e) = t.error() {
            bail!("the metadata of {topic}: {e:?}");
        }
        Ok(t.partitions()
            .iter()
            .map(|p| {
                let state = PartitionState {
                    leader: p.leader(),
                    isr: p.isr().to_vec(),
                    replicas: p.replicas().to_vec(),
                };
                (p.id(), state)
            })
            .collect())
    }

    /// Waits until every partition of `topic` has a leader and its full replica set in sync,
    /// in three answers in a row: a node that has just come back may still answer from its
    /// stale metadata (the full ISR of before its fault) for a moment.
    pub fn wait_for_full_isr(
        &self,
        topic: &str,
        partitions: i32,
        within: Duration,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + within;
        let mut in_a_row = 0;
        loop {
            let seen = self.partitions(topic);
            match &seen {
                Ok(p) if full_isr(p, partitions) => in_a_row += 1,
                _ => in_a_row = 0,
            }
            if in_a_row == 3 {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!("{topic} is not fully in sync after {within:?}: {seen:?}");
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

/// Whether all `partitions` are listed, led, and in sync with every replica.
pub fn full_isr(states: &BTreeMap<i32, PartitionState>, partitions: i32) -> bool {
    states.len() == partitions as usize
        && states.values().all(|p| p.leader >= 0 && p.isr.len() == p.replicas.len())
}

/// The node leading the most partitions (the lowest id among equals): the suites' victim.
pub fn busiest_leader(states: &BTreeMap<i32, PartitionState>) -> Option<i32> {
    let mut led: BTreeMap<i32, usize> = BTreeMap::new();
    for p in states.values().filter(|p| p.leader >= 0) {
        *led.entry(p.leader).or_default() += 1;
    }
    led.iter().max_by_key(|(id, n)| (**n, -**id)).map(|(id, _)| *id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(leader: i32, isr: &[i32]) -> PartitionState {
        PartitionState { leader, isr: isr.to_vec(), replicas: vec![1, 2, 3] }
    }

    #[test]
    fn the_busiest_leader_leads_most_partitions_lowest_id_first() {
        let states: BTreeMap<i32, PartitionState> =
            [(0, state(2, &[1, 2, 3])), (1, state(3, &[1, 2, 3])), (2, state(3, &[3]))].into();
        assert_eq!(busiest_leader(&states), Some(3));
        let even: BTreeMap<i32, PartitionState> = [(0, state(2, &[2])), (1, state(1, &[1]))].into();
        assert_eq!(busiest_leader(&even), Some(1));
        assert_eq!(busiest_leader(&BTreeMap::new()), None);
    }

    #[test]
    fn the_isr_is_full_only_with_every_partition_led_and_in_sync() {
        let full: BTreeMap<i32, PartitionState> =
            [(0, state(1, &[1, 2, 3])), (1, state(2, &[2, 3, 1]))].into();
        assert!(full_isr(&full, 2));
        assert!(!full_isr(&full, 3), "a partition missing");
        let short: BTreeMap<i32, PartitionState> =
            [(0, state(1, &[1, 2, 3])), (1, state(2, &[2, 3]))].into();
        assert!(!full_isr(&short, 2));
        let leaderless: BTreeMap<i32, PartitionState> = [(0, state(-1, &[1, 2, 3]))].into();
        assert!(!full_isr(&leaderless, 1));
    }
}
