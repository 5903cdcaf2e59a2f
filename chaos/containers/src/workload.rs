//! The workload: real librdkafka clients on the host, recording what they saw as the
//! simulator's history events ([`kafka_lab_chaos::history::Event`]), so that the simulator's
//! checkers judge a real run.
//!
//! - producers of numbered records (`<client>-<partition>-<n>`, a window per partition): idempotent
//!   acks=all ones, whose acknowledged records the configuration promises, and an acks=1 one
//!   for contrast, whose losses are expected when a leader dies;
//! - one consumer-group member that commits what it consumed (synchronously, so each commit's
//!   start and end are known) and records its assignments;
//! - the final reader: every partition from its log start to its high watermark.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_lab_chaos::history::{CommitOutcome, Event, History, ProduceOutcome};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

/// The final reader's client name, as the checkers know it.
pub const FINAL_READER: &str = "final-reader";

/// The run's clock: milliseconds since the workload began, the history's time base.
#[derive(Debug, Clone, Copy)]
pub struct RunClock(Instant);

impl RunClock {
    /// Starts counting now.
    pub fn start() -> Self {
        Self(Instant::now())
    }

    /// Milliseconds since the start.
    pub fn now_ms(&self) -> u64 {
        self.0.elapsed().as_millis() as u64
    }
}

/// What every client of the workload shares.
#[derive(Clone)]
pub struct Workload {
    /// Every client's base config: the bootstrap list and the security settings.
    pub client: ClientConfig,
    /// The topic under test.
    pub topic: String,
    /// Its partition count.
    pub partitions: i32,
    /// Where every client records.
    pub history: History,
    /// The time base.
    pub clock: RunClock,
    /// Set when the clients should stop.
    pub stop: Arc<AtomicBool>,
}

/// Whether a produce error leaves the record maybe written: no answer, or an answer that
/// does not say it was not appended. Everything else is a definite failure.
fn produce_maybe_written(error: &KafkaError) -> bool {
    match error.rdkafka_error_code() {
        Some(
            RDKafkaErrorCode::MessageTimedOut
            | RDKafkaErrorCode::RequestTimedOut
            | RDKafkaErrorCode::BrokerTransportFailure
            | RDKafkaErrorCode::AllBrokersDown
            | RDKafkaErrorCode::NotEnoughReplicasAfterAppend
            | RDKafkaErrorCode::NotCoordinator
            | RDKafkaErrorCode::NotLeaderForPartition
            | RDKafkaErrorCode::Fail,
        )
        | None => true,
        Some(_) => false,
    }
}

impl Workload {
    /// Produces numbered records (`<client>-<partition>-<n>`) as `client` to every partition
    /// until stopped, each partition with its own window of `in_flight` sends (one producer
    /// underneath, as an application has): a partition whose leader is gone stalls only its
    /// own window, so the others' throughput shows the partial availability a real client
    /// sees. `acks` is -1 (all, idempotent) or 1 (not idempotent).
    pub async fn produce(self, client: String, acks: i16, in_flight: usize) {
        let idempotent = acks == -1;
        let producer: FutureProducer = match self
            .client
            .clone()
            .set("client.id", &client)
            .set("acks", if idempotent { "all" } else { "1" })
            .set("enable.idempotence", idempotent.to_string())
            .set("message.timeout.ms", "30000")
            .set("linger.ms", "5")
            .create()
        {
            Ok(producer) => producer,
            Err(e) => {
                tracing::error!("{client}: cannot create the producer: {e}");
                return;
            }
        };
        let mut partitions = tokio::task::JoinSet::new();
        for partition in 0..self.partitions {
            let (workload, producer, client) = (self.clone(), producer.clone(), client.clone());
            partitions.spawn(workload.produce_to(producer, client, partition, acks, in_flight));
        }
        while partitions.join_next().await.is_some() {}
    }

    /// One partition's sends of [`Workload::produce`], `in_flight` at a time.
    async fn produce_to(
        self,
        producer: FutureProducer,
        client: String,
        partition: i32,
        acks: i16,
        in_flight: usize,
    ) {
        let idempotent = acks == -1;
        let mut window = tokio::task::JoinSet::new();
        let mut next = 0u64;
        while !self.stop.load(Ordering::Relaxed) {
            if window.len() >= in_flight {
                window.join_next().await;
                continue;
            }
            let (producer, workload, client) = (producer.clone(), self.clone(), client.clone());
            let value = format!("{client}-{partition}-{next}");
            next += 1;
            window.spawn(async move {
                let start_ms = workload.clock.now_ms();
                let record =
                    FutureRecord::<(), _>::to(&workload.topic).partition(partition).payload(&value);
                let delivered = producer.send(record, Duration::from_secs(60)).await;
                let outcome = match delivered {
                    Ok(delivery) => ProduceOutcome::Ok { offset: delivery.offset },
                    Err((e, _)) if produce_maybe_written(&e) => {
                        ProduceOutcome::Info { error: e.to_string() }
                    }
                    Err((e, _)) => ProduceOutcome::Fail { error: e.to_string() },
                };
                workload.history.push(Event::Produce {
                    start_ms,
                    end_ms: workload.clock.now_ms(),
                    client,
                    partition,
                    value,
                    acks,
                    idempotent,
                    outcome,
                });
            });
        }
        while window.join_next().await.is_some() {}
    }

    /// One consumer-group member (`group`) consuming until stopped, committing what it
    /// consumed every `commit_every`; blocking (librdkafka's consumer), run it on its own
    /// thread.
    pub fn consume_in_group(self, client: String, group: String, commit_every: Duration) {
        let context = GroupContext {
            history: self.history.clone(),
            clock: self.clock,
            client: client.clone(),
            group: group.clone(),
            generation: AtomicI32::new(0),
        };
        let consumer: BaseConsumer<GroupContext> = match self
            .client
            .clone()
            .set("client.id", &client)
            .set("group.id", &group)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", "10000")
            .create_with_context(context)
        {
            Ok(consumer) => consumer,
            Err(e) => {
                tracing::error!("{client}: cannot create the consumer: {e}");
                return;
            }
        };
        if let Err(e) = consumer.subscribe(&[&self.topic]) {
            tracing::error!("{client}: cannot subscribe: {e}");
            return;
        }
        // Per partition: the next offset this member expects (the one after its last record).
        let mut next: BTreeMap<i32, i64> = BTreeMap::new();
        let mut seen_generation = 0;
        let mut last_commit = Instant::now();
        while !self.stop.load(Ordering::Relaxed) {
            let start_ms = self.clock.now_ms();
            let polled = consumer.poll(Duration::from_millis(100));
            let generation = consumer.context().generation.load(Ordering::Relaxed);
            if generation != seen_generation {
                // A new assignment: each partition resumes from the committed offset.
                next.clear();
                seen_generation = generation;
            }
            if let Some(Ok(m)) = polled {
                let value = String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned();
                let partition = m.partition();
                let fetch_offset = next.get(&partition).copied().unwrap_or(m.offset());
                next.insert(partition, m.offset() + 1);
                self.history.push(Event::Poll {
                    start_ms,
                    end_ms: self.clock.now_ms(),
                    client: client.clone(),
                    node: -1,
                    partition,
                    fetch_offset,
                    high_watermark: -1,
                    records: vec![(m.offset(), value)],
                });
            }
            if last_commit.elapsed() >= commit_every && !next.is_empty() {
                last_commit = Instant::now();
                self.commit(&consumer, &client, &group, generation, &next);
            }
        }
    }

    /// Commits `next` (partition → offset) synchronously, recording each partition's outcome.
    fn commit(
        &self,
        consumer: &BaseConsumer<GroupContext>,
        client: &str,
        group: &str,
        generation: i32,
        next: &BTreeMap<i32, i64>,
    ) {
        let mut offsets = TopicPartitionList::new();
        for (&partition, &offset) in next {
            let _ = offsets.add_partition_offset(&self.topic, partition, Offset::Offset(offset));
        }
        let start_ms = self.clock.now_ms();
        let result = consumer.commit(&offsets, CommitMode::Sync);
        // Any error is "maybe committed": librdkafka retries a commit inside one call (after
        // NOT_COORDINATOR, a coordinator that moved), and the error it returns is the last
        // attempt's — an UNKNOWN_MEMBER_ID from the new coordinator after the old one had
        // applied the first attempt was seen in a rolling restart.
        let outcome = match &result {
            Ok(()) => CommitOutcome::Ok,
            Err(e) => CommitOutcome::Info { error: e.to_string() },
        };
        let end_ms = self.clock.now_ms();
        for (&partition, &offset) in next {
            self.history.push(Event::Commit {
                start_ms,
                end_ms,
                client: client.to_owned(),
                group: group.to_owned(),
                member_id: client.to_owned(),
                generation,
                partition,
                offset,
                outcome: outcome.clone(),
            });
        }
    }

    /// Reads every partition from its log start to its high watermark, recording each record
    /// as a poll of the final reader, then `FinalRead` (complete unless `within` ran out).
    pub fn final_read(&self, within: Duration) {
        let deadline = Instant::now() + within;
        let complete = self.read_everything(deadline).unwrap_or_else(|e| {
            tracing::warn!("the final read failed: {e}");
            false
        });
        self.history.push(Event::FinalRead { time_ms: self.clock.now_ms(), complete });
    }

    fn read_everything(&self, deadline: Instant) -> anyhow::Result<bool> {
        let consumer: BaseConsumer = self
            .client
            .clone()
            .set("client.id", FINAL_READER)
            .set("group.id", FINAL_READER)
            .set("enable.auto.commit", "false")
            .create()?;
        let mut bounds = BTreeMap::new();
        let mut assignment = TopicPartitionList::new();
        for partition in 0..self.partitions {
            let (low, high) =
                consumer.fetch_watermarks(&self.topic, partition, Duration::from_secs(20))?;
            bounds.insert(partition, (low, high));
            assignment.add_partition_offset(&self.topic, partition, Offset::Offset(low))?;
        }
        consumer.assign(&assignment)?;
        let mut next: BTreeMap<i32, i64> = bounds.iter().map(|(p, (low, _))| (*p, *low)).collect();
        let done = |next: &BTreeMap<i32, i64>| bounds.iter().all(|(p, (_, high))| next[p] >= *high);
        while !done(&next) {
            if Instant::now() >= deadline {
                return Ok(false);
            }
            let start_ms = self.clock.now_ms();
            let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) else { continue };
            let partition = m.partition();
            let Some((_, high)) = bounds.get(&partition).copied() else { continue };
            if m.offset() >= high {
                continue;
            }
            let value = String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned();
            let fetch_offset = next[&partition];
            next.insert(partition, m.offset() + 1);
            self.history.push(Event::Poll {
                start_ms,
                end_ms: self.clock.now_ms(),
                client: FINAL_READER.to_owned(),
                node: -1,
                partition,
                fetch_offset,
                high_watermark: high,
                records: vec![(m.offset(), value)],
            });
        }
        Ok(true)
    }
}

/// The group member's context: records each assignment as the history's `Assigned`, with a
/// generation counted per member (librdkafka does not expose the group's).
struct GroupContext {
    history: History,
    clock: RunClock,
    client: String,
    group: String,
    generation: AtomicI32,
}

impl ClientContext for GroupContext {}

impl ConsumerContext for GroupContext {
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(list) = rebalance {
            let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
            let now = self.clock.now_ms();
            self.history.push(Event::Assigned {
                start_ms: now,
                end_ms: now,
                client: self.client.clone(),
                group: self.group.clone(),
                member_id: self.client.clone(),
                generation,
                leader: self.client.clone(),
                partitions: list.elements().iter().map(|e| e.partition()).collect(),
            });
        }
    }
}
