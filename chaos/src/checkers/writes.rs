//! Checkers over what was written and what the final read found.

use std::collections::BTreeMap;

use super::{Truncations, Verdict};
use crate::config::SimConfig;
use crate::history::{Event, ProduceOutcome};

const FINAL_READER: &str = "final-reader";

/// (partition, offset) → value, from the final read; `None` if it did not complete.
fn final_log(events: &[Event]) -> Option<BTreeMap<(i32, i64), &str>> {
    if !events.iter().any(|e| matches!(e, Event::FinalRead { complete: true, .. })) {
        return None;
    }
    let mut log = BTreeMap::new();
    for e in events {
        if let Event::Poll { client, partition, records, .. } = e {
            if client == FINAL_READER {
                for (offset, value) in records {
                    log.insert((*partition, *offset), value.as_str());
                }
            }
        }
    }
    Some(log)
}

/// Why a loss is excused under a lax flush policy.
pub(super) const UNFLUSHED: &str =
    "unflushed when a crash hit (log.flush.interval.messages above 1): expected";
/// Why a loss is excused when the configuration does not promise survival.
pub(super) const NOT_PROMISED: &str = "expected for this configuration (acks=1, RF < 3, \
     min.insync.replicas < 2 or unclean election): the settings do not promise survival";

/// lost-write: an acknowledged record (acks 1/all) that the final read does not hold at the
/// acknowledged offset. Under a lax flush policy a loss is excused when a restart after the
/// ack recovered the partition to at or below that offset; in a cluster, a loss of a record
/// whose acks the configuration does not promise to survive a leader's loss is excused as
/// expected ([`SimConfig::promises_survival`]).
pub(super) fn lost_write(
    events: &[Event],
    crashes: &Truncations,
    strict: bool,
    config: &SimConfig,
) -> Verdict {
    let mut v = Verdict::new("lost-write");
    let Some(log) = final_log(events) else { return v };
    for e in events {
        let Event::Produce { start_ms, partition, value, outcome, client, acks, .. } = e else {
            continue;
        };
        let ProduceOutcome::Ok { offset } = outcome else { continue };
        v.checked += 1;
        if log.get(&(*partition, *offset)) == Some(&value.as_str()) {
            continue;
        }
        if !config.promises_survival(*acks) {
            v.excuse(NOT_PROMISED);
            continue;
        }
        if !strict && crashes.cut(*partition, *offset, *start_ms, u64::MAX) {
            v.excuse(UNFLUSHED);
            continue;
        }
        let found = log.get(&(*partition, *offset)).copied().unwrap_or("nothing");
        v.anomaly(|| {
            format!(
                "{client} wrote {value:?} acknowledged at partition {partition} offset {offset}; \
                 the final read has {found:?} there"
            )
        });
    }
    v
}

/// duplicate: a value the final read holds more than once. Values are unique per produce and
/// only idempotent producers retry (with the same sequence), so any repeat is the broker's.
pub(super) fn duplicate(events: &[Event]) -> Verdict {
    let mut v = Verdict::new("duplicate");
    let Some(log) = final_log(events) else { return v };
    let mut seen: BTreeMap<&str, (i32, i64)> = BTreeMap::new();
    for (&(partition, offset), &value) in &log {
        v.checked += 1;
        if let Some((p0, o0)) = seen.insert(value, (partition, offset)) {
            v.anomaly(|| {
                format!("{value:?} is at partition {p0} offset {o0} and partition {partition} offset {offset}")
            });
        }
    }
    v
}

/// One sighting of a record at an offset: (start ms, end ms, value, who saw it).
type Observation<'a> = (u64, u64, &'a str, &'a str);

/// inconsistent-offsets: one offset observed holding two different records (acks, polls, the
/// final read). Under a lax flush policy, excused when a restart between the two observations
/// cut the log at or below that offset (the offset was legitimately reused).
pub(super) fn inconsistent_offsets(
    events: &[Event],
    crashes: &Truncations,
    strict: bool,
    config: &SimConfig,
) -> Verdict {
    let mut v = Verdict::new("inconsistent-offsets");
    let mut seen: BTreeMap<(i32, i64), Vec<Observation>> = BTreeMap::new();
    for e in events {
        match e {
            // An acknowledgement not promised to survive (acks=1 in a cluster) may name an
            // offset a failover gave to another record: not an observation of the log.
            Event::Produce { acks, .. } if !config.promises_survival(*acks) => {}
            Event::Produce {
                start_ms,
                end_ms,
                partition,
                value,
                client,
                outcome: ProduceOutcome::Ok { offset },
                ..
            } => seen.entry((*partition, *offset)).or_default().push((
                *start_ms,
                *end_ms,
                value.as_str(),
                client.as_str(),
            )),
            Event::Poll { start_ms, end_ms, partition, records, client, .. } => {
                for (offset, value) in records {
                    seen.entry((*partition, *offset)).or_default().push((
                        *start_ms,
                        *end_ms,
                        value.as_str(),
                        client.as_str(),
                    ));
                }
            }
            _ => {}
        }
    }
    for (&(partition, offset), observations) in &seen {
        v.checked += 1;
        for pair in observations.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            if a.2 == b.2 {
                continue;
            }
            if !strict && crashes.cut(partition, offset, a.0.min(b.0), a.1.max(b.1)) {
                v.excuse(UNFLUSHED);
                continue;
            }
            if config.unclean_leader_election {
                // An out-of-sync leader's log replaces what the old ISR had read.
                v.excuse(NOT_PROMISED);
                continue;
            }
            v.anomaly(|| {
                format!(
                    "partition {partition} offset {offset}: {} saw {:?} (at {} ms), {} saw {:?} (at {} ms)",
                    a.3, a.2, a.1, b.3, b.2, b.1
                )
            });
        }
    }
    v
}

/// replica-divergence: after the run, below the partition's final high watermark, every
/// replica holds what the final read found there — no replica keeps a record its leader
/// truncated, none holds another record at a committed offset (Kafka's guarantee for the
/// replicas that caught up; a replica whose log ends lower is only compared below its end).
pub(super) fn replica_divergence(events: &[Event]) -> Verdict {
    let mut v = Verdict::new("replica-divergence");
    let Some(log) = final_log(events) else { return v };
    let mut high_watermarks: BTreeMap<i32, i64> = BTreeMap::new();
    for e in events {
        if let Event::Poll { client, partition, high_watermark, .. } = e {
            if client == FINAL_READER {
                let hw = high_watermarks.entry(*partition).or_insert(0);
                *hw = (*hw).max(*high_watermark);
            }
        }
    }
    for e in events {
        let Event::ReplicaLog { node_id, partition, records, .. } = e else { continue };
        let hw = high_watermarks.get(partition).copied().unwrap_or(0);
        for (offset, value) in records.iter().filter(|(offset, _)| *offset < hw) {
            let Some(committed) = log.get(&(*partition, *offset)) else { continue };
            v.checked += 1;
            if committed != value {
                v.anomaly(|| {
                    format!(
                        "node {node_id} holds {value:?} at partition {partition} offset {offset}, \
                         below the high watermark {hw}, where the leader's log has {committed:?}"
                    )
                });
            }
        }
    }
    v
}
