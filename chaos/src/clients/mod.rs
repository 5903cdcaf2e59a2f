//! Simulated Kafka clients, written on `kafka-protocol` over turmoil TCP.

pub mod admin;
pub mod connection;
pub mod consumer;
pub mod group;
pub mod producer;
pub mod routing;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::history::History;

/// The phase of a run, as clients see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Phase {
    /// Faults are being injected; clients work.
    Chaos = 0,
    /// The network is repaired and the broker restarted; clients stop, the final read runs.
    Heal = 1,
}

/// What every client host shares: where the brokers are, the deadline, the history, the phase.
#[derive(Clone)]
pub struct ClientContext {
    /// Bootstrap addresses: every node's client listener.
    pub brokers: Vec<String>,
    /// Deadline of every request.
    pub request_timeout: Duration,
    /// Partitions of the topic under test.
    pub partitions: i32,
    /// Where operations are recorded.
    pub history: History,
    phase: Arc<AtomicU8>,
    /// Workload clients (producers, consumers) still running.
    working: Arc<AtomicUsize>,
    /// What the fault schedule currently imposes on each group consumer.
    controls: Arc<Mutex<BTreeMap<String, Control>>>,
}

/// What the orchestrator imposes on a group consumer: a stall (a frozen process: no polls,
/// no heartbeats) or an absence (it left the group and has not rejoined yet).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Control {
    /// Frozen until cleared.
    pub stalled: bool,
    /// Out of the group until cleared; then it joins as a new member.
    pub away: bool,
}

/// Held by a workload client while it runs; the final read waits for all to drop.
pub struct WorkGuard(Arc<AtomicUsize>);

impl Drop for WorkGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl ClientContext {
    /// A context in the chaos phase.
    pub fn new(
        brokers: Vec<String>,
        request_timeout: Duration,
        partitions: i32,
        history: History,
    ) -> Self {
        Self {
            brokers,
            request_timeout,
            partitions,
            history,
            phase: Arc::default(),
            working: Arc::default(),
            controls: Arc::default(),
        }
    }

    /// What is imposed on `client` now.
    pub fn control(&self, client: &str) -> Control {
        self.controls
            .lock()
            .expect("controls lock poisoned")
            .get(client)
            .copied()
            .unwrap_or_default()
    }

    /// Changes what is imposed on `client`.
    pub fn update_control(&self, client: &str, change: impl FnOnce(&mut Control)) {
        let mut controls = self.controls.lock().expect("controls lock poisoned");
        change(controls.entry(client.to_owned()).or_default());
    }

    /// Lifts every stall and absence (healing).
    pub fn clear_controls(&self) {
        self.controls.lock().expect("controls lock poisoned").clear();
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::SeqCst) {
            0 => Phase::Chaos,
            _ => Phase::Heal,
        }
    }

    /// Moves every client to `phase`.
    pub fn set_phase(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::SeqCst);
    }

    /// Registers a workload client (call before the simulation runs); drop the guard when it
    /// is done.
    pub fn start_work(&self) -> WorkGuard {
        self.working.fetch_add(1, Ordering::SeqCst);
        WorkGuard(self.working.clone())
    }

    /// Whether every workload client has finished (including requests in flight at heal).
    pub fn work_done(&self) -> bool {
        self.working.load(Ordering::SeqCst) == 0
    }
}
