//! Checkers over what consumers saw, poll by poll.

use std::collections::{BTreeMap, BTreeSet};

use super::{Truncations, Verdict};
use crate::history::{CommitOutcome, Event};

/// nonmonotonic-poll: within one consumer's session on a partition (sessions end at a reset,
/// and for a group consumer at every new assignment, which resumes from the committed offset),
/// offsets must strictly increase, within a poll and from one poll to the next.
pub(super) fn nonmonotonic_poll(events: &[Event]) -> Verdict {
    let mut v = Verdict::new("nonmonotonic-poll");
    let mut last: BTreeMap<(&str, i32), i64> = BTreeMap::new();
    for e in events {
        match e {
            Event::Reset { client, partition, .. } => {
                last.remove(&(client.as_str(), *partition));
            }
            Event::Assigned { client, .. } => {
                last.retain(|(c, _), _| *c != client.as_str());
            }
            Event::Poll { client, partition, records, end_ms, .. } => {
                let previous = last.entry((client.as_str(), *partition)).or_insert(-1);
                for (offset, value) in records {
                    v.checked += 1;
                    if *offset <= *previous {
                        v.anomaly(|| {
                            format!(
                                "{client} partition {partition} at {end_ms} ms: offset {offset} \
                                 ({value:?}) after offset {previous}"
                            )
                        });
                    }
                    *previous = (*previous).max(*offset);
                }
            }
            _ => {}
        }
    }
    v
}

/// poll-skip: a poll whose first record is not at the offset fetched (records in between
/// were skipped), or with a gap between consecutive records. Offsets are contiguous: there is
/// no compaction and every batch is a client's own. For group consumers, at-least-once from
/// the committed offset: a member's first poll of a partition after an assignment must begin
/// at or before the highest offset any commit that began earlier may have committed (0 if
/// none), or the records in between were skipped by the group.
pub(super) fn poll_skip(events: &[Event]) -> Verdict {
    let mut v = Verdict::new("poll-skip");
    let groups = super::groups::client_groups(events);
    // (group, partition) -> (start, offset) of every commit that may have been applied.
    let mut commits: BTreeMap<(&str, i32), Vec<(u64, i64)>> = BTreeMap::new();
    for e in events {
        if let Event::Commit { start_ms, group, partition, offset, outcome, .. } = e {
            if !matches!(outcome, CommitOutcome::Fail { .. }) {
                commits.entry((group.as_str(), *partition)).or_default().push((*start_ms, *offset));
            }
        }
    }
    // Group consumers' partitions whose first poll since the assignment is still to come.
    let mut resuming: BTreeSet<(&str, i32)> = BTreeSet::new();
    for e in events {
        if let Event::Assigned { client, partitions, .. } = e {
            resuming.retain(|(c, _)| *c != client.as_str());
            resuming.extend(partitions.iter().map(|p| (client.as_str(), *p)));
            continue;
        }
        let Event::Poll { client, partition, records, fetch_offset, start_ms, end_ms, .. } = e
        else {
            continue;
        };
        if resuming.remove(&(client.as_str(), *partition)) {
            let group = groups.get(client.as_str()).copied().unwrap_or_default();
            let committed = commits
                .get(&(group, *partition))
                .into_iter()
                .flatten()
                .filter(|(start, _)| start < start_ms)
                .map(|(_, offset)| *offset)
                .max()
                .unwrap_or(0);
            v.checked += 1;
            if *fetch_offset > committed {
                v.anomaly(|| {
                    format!(
                        "{client} resumed partition {partition} at offset {fetch_offset} \
                         ({start_ms} ms) after an assignment, beyond the highest offset \
                         committed so far ({committed})"
                    )
                });
            }
        }
        let mut expected = *fetch_offset;
        for (offset, _) in records {
            v.checked += 1;
            if *offset != expected {
                v.anomaly(|| {
                    format!(
                        "{client} partition {partition} at {end_ms} ms: expected offset \
                         {expected}, got {offset}"
                    )
                });
            }
            expected = offset + 1;
        }
    }
    v
}

/// high-watermark: a fetch that began after another fetch of the same partition had ended
/// must not report a lower high watermark, unless (lax flush policy) a restart in between
/// recovered the log below the earlier watermark.
/// One poll's answer as the high-watermark checker weighs it: (start, end, hw, client).
type HighWatermarkSeen<'a> = (u64, u64, i64, &'a str);

pub(super) fn high_watermark(
    events: &[Event],
    crashes: &Truncations,
    strict: bool,
    cluster: bool,
) -> Verdict {
    let mut v = Verdict::new("high-watermark");
    // Per partition and answering node: (start, end, hw, client) of every poll that answered.
    // In a cluster each node's high watermark never goes back, but a new leader's may lag its
    // predecessor's until its followers fetch (as in Kafka), so nodes are compared apart.
    let mut polls: BTreeMap<(i32, i32), Vec<HighWatermarkSeen>> = BTreeMap::new();
    for e in events {
        if let Event::Poll { start_ms, end_ms, partition, high_watermark, client, node, .. } = e {
            let node = if cluster { *node } else { 0 };
            polls.entry((*partition, node)).or_default().push((
                *start_ms,
                *end_ms,
                *high_watermark,
                client.as_str(),
            ));
        }
    }
    // When each node restarted: in a cluster it recovers its high watermark from its
    // checkpoint, which may be behind what it served before the crash.
    let restarts: Vec<(i32, u64)> = events
        .iter()
        .filter_map(|e| match e {
            Event::BrokerStarted { time_ms, node_id, incarnation, .. } if *incarnation > 0 => {
                Some((*node_id, *time_ms))
            }
            _ => None,
        })
        .collect();
    for ((partition, node), list) in polls {
        let mut by_end = list.clone();
        by_end.sort_by_key(|p| (p.1, p.0));
        let mut by_start = list;
        by_start.sort_by_key(|p| (p.0, p.1));
        let mut ended = 0;
        // The highest watermark among polls that ended strictly before the current one began.
        let mut max: Option<HighWatermarkSeen> = None;
        for poll in by_start {
            while ended < by_end.len() && by_end[ended].1 < poll.0 {
                if max.is_none_or(|m| by_end[ended].2 > m.2) {
                    max = Some(by_end[ended]);
                }
                ended += 1;
            }
            v.checked += 1;
            let Some(m) = max else { continue };
            if poll.2 >= m.2 {
                continue;
            }
            if !strict && crashes.cut(partition, m.2 - 1, m.0, poll.1) {
                v.excuse(super::writes::UNFLUSHED);
                continue;
            }
            if cluster && restarts.iter().any(|(n, t)| *n == node && *t > m.1 && *t <= poll.0) {
                v.excuse("a restarted node's high watermark starts at its checkpoint: expected");
                continue;
            }
            v.anomaly(|| {
                format!(
                    "partition {partition}: {} saw high watermark {} (fetch ended {} ms), then {} \
                     saw {} (fetch began {} ms){}",
                    m.3,
                    m.2,
                    m.1,
                    poll.3,
                    poll.2,
                    poll.0,
                    if cluster { format!(", both from node {node}") } else { String::new() }
                )
            });
        }
    }
    v
}
