//! Checkers over the history, named as Jepsen names them where they overlap.
//!
//! Precision depends on the flush policy. With `log.flush.interval.messages=1` every
//! acknowledged write is fsynced before the ack, so nothing acknowledged may ever disappear and
//! one offset may only ever hold one record. With a laxer policy a crash may legitimately lose
//! the unflushed tail; the checkers then excuse exactly the losses a crash explains: the
//! broker restarted (after the observation) with a recovered log end offset at or below the
//! offset in question. Anything else is still an anomaly.

mod groups;
mod leaders;
mod polls;
mod quorum;
#[cfg(test)]
mod tests;
mod writes;

use serde::Serialize;

use crate::config::SimConfig;
use crate::history::Event;

/// One checker's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// Checker name (`lost-write`, `duplicate`, …).
    pub name: &'static str,
    /// No anomaly found.
    pub ok: bool,
    /// How many items were checked.
    pub checked: usize,
    /// How many anomalies were found.
    pub anomalies: usize,
    /// Items excused by the flush policy (e.g. unflushed writes lost in a crash) or as
    /// expected for the configuration (acks=1, unclean election).
    pub excused: usize,
    /// Why the excused items are excused, when some are.
    pub excused_because: Option<&'static str>,
    /// The first anomaly, described.
    pub first: Option<String>,
}

impl Verdict {
    fn new(name: &'static str) -> Self {
        Self {
            name,
            ok: true,
            checked: 0,
            anomalies: 0,
            excused: 0,
            excused_because: None,
            first: None,
        }
    }

    fn excuse(&mut self, because: &'static str) {
        self.excused += 1;
        self.excused_because.get_or_insert(because);
    }

    fn anomaly(&mut self, describe: impl FnOnce() -> String) {
        self.ok = false;
        self.anomalies += 1;
        if self.first.is_none() {
            self.first = Some(describe());
        }
    }
}

/// Runs every checker over `events`.
pub fn check_all(config: &SimConfig, events: &[Event]) -> Vec<Verdict> {
    let crashes = Truncations::from_events(events);
    let strict = config.strict_durability();
    vec![
        writes::lost_write(events, &crashes, strict, config),
        writes::duplicate(events),
        writes::inconsistent_offsets(events, &crashes, strict, config),
        writes::replica_divergence(events),
        polls::nonmonotonic_poll(events),
        polls::poll_skip(events),
        polls::high_watermark(events, &crashes, strict, config.nodes > 1),
        groups::committed_offset_regression(events),
        groups::double_assignment(events),
        groups::stale_generation_commit(events),
        leaders::one_leader_per_epoch(events),
        leaders::epoch_regression(events),
        quorum::majority_reached_high_watermark(events, &config.voters()),
        quorum::committed_metadata(events),
        liveness(events),
    ]
}

/// The checkers that judge a history recorded from real clients against real nodes (the
/// container suites): what librdkafka lets a client see — acknowledgements, polls, its own
/// commits and assignments, the final read and each node's log read from its disk. The node
/// samples, metadata logs and per-fetch high watermarks the simulator records are not there,
/// so the checkers that need them are not run rather than passing on no evidence.
pub fn check_recorded(config: &SimConfig, events: &[Event]) -> Vec<Verdict> {
    let crashes = Truncations::from_events(events);
    let strict = config.strict_durability();
    vec![
        writes::lost_write(events, &crashes, strict, config),
        writes::duplicate(events),
        writes::inconsistent_offsets(events, &crashes, strict, config),
        writes::replica_divergence(events),
        polls::nonmonotonic_poll(events),
        polls::poll_skip(events),
        groups::committed_offset_regression(events),
        liveness(events),
    ]
}

/// The broker's restarts and the log end offsets it recovered, which bound what a crash lost.
pub(crate) struct Truncations {
    restarts: Vec<(u64, Vec<i64>)>,
}

impl Truncations {
    fn from_events(events: &[Event]) -> Self {
        let restarts = events
            .iter()
            .filter_map(|e| match e {
                Event::BrokerStarted { time_ms, incarnation, log_end_offsets, .. }
                    if *incarnation > 0 =>
                {
                    Some((*time_ms, log_end_offsets.clone()))
                }
                _ => None,
            })
            .collect();
        Self { restarts }
    }

    /// Whether a restart in `(after_ms, until_ms]` recovered `partition` to at most `offset`,
    /// i.e. a crash may have cut the log at or below `offset` in that window.
    pub(crate) fn cut(&self, partition: i32, offset: i64, after_ms: u64, until_ms: u64) -> bool {
        self.restarts.iter().any(|(t, leos)| {
            *t > after_ms
                && *t <= until_ms
                && leos.get(partition as usize).is_some_and(|leo| *leo <= offset)
        })
    }
}

/// The final read finished within the liveness bound after healing.
fn liveness(events: &[Event]) -> Verdict {
    let mut v = Verdict::new("liveness");
    v.checked = 1;
    let complete = events.iter().any(|e| matches!(e, Event::FinalRead { complete: true, .. }));
    if !complete {
        v.anomaly(|| "the final read did not finish within --heal-timeout-ms after healing".into());
    }
    v
}
