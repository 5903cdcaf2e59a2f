//! A consumer-group member as the course's modules 4 and 10 write one: subscribe, poll, process
//! each record (optionally slowly), commit its offset by hand (`enable.auto.commit=false`,
//! a synchronous commit after processing: at-least-once), and report every rebalance as a
//! rebalance listener would. `kafka-lab lab consume` runs one in the foreground; the reference
//! solutions and the tests run several on threads.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::message::Message;
use rdkafka::ClientContext;

use crate::client::Access;

/// What a member does.
#[derive(Debug, Clone)]
pub struct MemberOptions {
    /// `group.id`.
    pub group: String,
    /// The topic it subscribes to.
    pub topic: String,
    /// `client.id`, shown in CLIENT-ID by `kafka-lab consumer-groups --describe`.
    pub client_id: String,
    /// How long processing one record takes (a slow consumer has a large one).
    pub process_time: Duration,
}

/// What a member saw, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberEvent {
    /// The group gave it these partitions (after a rebalance).
    Assigned(Vec<i32>),
    /// A rebalance took these partitions away (their offsets are committed already: each
    /// record is committed once processed).
    Revoked(Vec<i32>),
    /// A record processed and its offset committed (the next offset to read, Kafka's rule).
    Committed { partition: i32, offset: i64, key: Option<String> },
    /// A commit or poll failed.
    Error(String),
}

impl std::fmt::Display for MemberEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |ps: &[i32]| ps.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
        match self {
            MemberEvent::Assigned(ps) => write!(f, "rebalance: assigned partitions [{}]", list(ps)),
            MemberEvent::Revoked(ps) => write!(f, "rebalance: revoked partitions [{}]", list(ps)),
            MemberEvent::Committed { partition, offset, key } => write!(
                f,
                "partition {partition} offset {} key {} processed; committed offset {offset}",
                offset - 1,
                key.as_deref().unwrap_or("-")
            ),
            MemberEvent::Error(e) => write!(f, "error: {e}"),
        }
    }
}

/// The rebalance listener: librdkafka calls it from `poll`.
#[derive(Default)]
struct Listener {
    events: Mutex<Vec<MemberEvent>>,
}

impl ClientContext for Listener {}

impl ConsumerContext for Listener {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(list) = rebalance {
            let ps = list.elements().iter().map(|e| e.partition()).collect();
            self.events.lock().unwrap().push(MemberEvent::Revoked(ps));
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(list) = rebalance {
            let mut ps: Vec<i32> = list.elements().iter().map(|e| e.partition()).collect();
            ps.sort_unstable();
            self.events.lock().unwrap().push(MemberEvent::Assigned(ps));
        }
    }
}

/// Runs a member until `stop` is set, handing every event to `on_event`; then leaves the group
/// (LeaveGroup, so the others rebalance at once rather than after the session timeout).
pub fn run(
    access: &Access,
    options: &MemberOptions,
    stop: &AtomicBool,
    mut on_event: impl FnMut(&MemberEvent),
) -> anyhow::Result<()> {
    let consumer: BaseConsumer<Listener> = access
        .config()
        .set("group.id", &options.group)
        .set("client.id", &options.client_id)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        .create_with_context(Listener::default())?;
    consumer.subscribe(&[&options.topic])?;
    let drain = |consumer: &BaseConsumer<Listener>, on_event: &mut dyn FnMut(&MemberEvent)| {
        let events: Vec<MemberEvent> =
            std::mem::take(&mut *consumer.context().events.lock().unwrap());
        for event in &events {
            on_event(event);
        }
    };
    while !stop.load(Ordering::Relaxed) {
        let polled = consumer.poll(Duration::from_millis(100));
        drain(&consumer, &mut on_event);
        match polled {
            Some(Ok(message)) => {
                std::thread::sleep(options.process_time);
                let event = match consumer.commit_message(&message, CommitMode::Sync) {
                    Ok(()) => MemberEvent::Committed {
                        partition: message.partition(),
                        offset: message.offset() + 1,
                        key: message.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                    },
                    Err(e) => MemberEvent::Error(format!("commit failed: {e}")),
                };
                on_event(&event);
            }
            Some(Err(e)) => on_event(&MemberEvent::Error(e.to_string())),
            None => {}
        }
    }
    consumer.unsubscribe();
    // The revocation arrives on the next poll; the consumer leaves the group when dropped.
    consumer.poll(Duration::from_millis(100));
    drain(&consumer, &mut on_event);
    Ok(())
}

/// Members on threads, for the solutions and tests.
pub struct Members {
    stop: std::sync::Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
    /// Every event, tagged with the member's client id.
    pub events: std::sync::Arc<Mutex<Vec<(String, MemberEvent)>>>,
}

impl Members {
    /// Starts `count` members `<prefix>-1` … of `group` on `topic`, one after another (each
    /// join is a rebalance).
    pub fn start(
        access: &Access,
        group: &str,
        topic: &str,
        prefix: &str,
        count: usize,
        process_time: Duration,
    ) -> Members {
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let events = std::sync::Arc::new(Mutex::new(Vec::new()));
        let mut members = Members { stop, threads: Vec::new(), events };
        for i in 1..=count {
            members.add(access, group, topic, &format!("{prefix}-{i}"), process_time);
        }
        members
    }

    /// Starts one more member.
    pub fn add(
        &mut self,
        access: &Access,
        group: &str,
        topic: &str,
        client_id: &str,
        process_time: Duration,
    ) {
        let options = MemberOptions {
            group: group.into(),
            topic: topic.into(),
            client_id: client_id.into(),
            process_time,
        };
        let (access, stop, events) = (access.clone(), self.stop.clone(), self.events.clone());
        self.threads.push(std::thread::spawn(move || {
            let id = options.client_id.clone();
            let record = |e: &MemberEvent| events.lock().unwrap().push((id.clone(), e.clone()));
            if let Err(e) = run(&access, &options, &stop, record) {
                events.lock().unwrap().push((options.client_id, MemberEvent::Error(e.to_string())));
            }
        }));
    }

    /// The number of records processed and committed so far.
    pub fn committed(&self) -> usize {
        let events = self.events.lock().unwrap();
        events.iter().filter(|(_, e)| matches!(e, MemberEvent::Committed { .. })).count()
    }

    /// Stops every member and waits until each has left the group.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl Drop for Members {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}
