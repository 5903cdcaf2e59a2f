//! Checkers over what the consumer group did: committed offsets and assignments.
//!
//! What the history allows. A commit's outcome is `ok` (applied within its interval), `fail`
//! (never applied) or `info` (maybe applied, at any time after it began). Group consumers send
//! no further commit in a generation once one got no answer, so a correct broker never lets an
//! older commit overtake a newer one; what they commit is their position, which only grows
//! between assignments, and each new owner starts from the committed offset.

use std::collections::BTreeMap;

use super::Verdict;
use crate::history::{CommitOutcome, Event};

/// (group, partition).
type Key<'a> = (&'a str, i32);

/// One offset seen for a group's partition: an acknowledged commit or an OffsetFetch answer.
struct Observation<'a> {
    start_ms: u64,
    end_ms: u64,
    offset: i64,
    client: &'a str,
    what: &'static str,
}

/// The group each client belongs to, from its assignments and group requests.
pub(super) fn client_groups(events: &[Event]) -> BTreeMap<&str, &str> {
    let mut groups = BTreeMap::new();
    for e in events {
        match e {
            Event::Assigned { client, group, .. } | Event::GroupOp { client, group, .. } => {
                groups.insert(client.as_str(), group.as_str());
            }
            _ => {}
        }
    }
    groups
}

/// committed-offset-regression: a group's committed offset for a partition goes backwards
/// without an explicit reset. Flagged: an acknowledged commit, or an OffsetFetch answer, lower
/// than a commit acknowledged before it began (-1, "no offset", counts as lower). A reset (a
/// member's position reset because the committed offset was beyond the log, which a crash can
/// cause under a lax flush policy) begins anew: commits acknowledged before it no longer bind
/// (those are counted as excused).
pub(super) fn committed_offset_regression(events: &[Event]) -> Verdict {
    let mut v = Verdict::new("committed-offset-regression");
    let groups = client_groups(events);
    let mut acked: BTreeMap<Key, Vec<Observation>> = BTreeMap::new();
    let mut observed: BTreeMap<Key, Vec<Observation>> = BTreeMap::new();
    let mut resets: BTreeMap<Key, Vec<u64>> = BTreeMap::new();
    for e in events {
        match e {
            Event::Commit {
                start_ms,
                end_ms,
                client,
                group,
                partition,
                offset,
                outcome: CommitOutcome::Ok,
                ..
            } => {
                let o = || Observation {
                    start_ms: *start_ms,
                    end_ms: *end_ms,
                    offset: *offset,
                    client: client.as_str(),
                    what: "committed",
                };
                acked.entry((group.as_str(), *partition)).or_default().push(o());
                observed.entry((group.as_str(), *partition)).or_default().push(o());
            }
            Event::OffsetFetch { start_ms, end_ms, client, group, partition, offset } => {
                observed.entry((group.as_str(), *partition)).or_default().push(Observation {
                    start_ms: *start_ms,
                    end_ms: *end_ms,
                    offset: *offset,
                    client: client.as_str(),
                    what: "fetched committed offset",
                });
            }
            Event::Reset { time_ms, client, partition, .. } => {
                if let Some(group) = groups.get(client.as_str()) {
                    resets.entry((group, *partition)).or_default().push(*time_ms);
                }
            }
            _ => {}
        }
    }
    for (key, list) in &observed {
        let commits = acked.get(key).map_or(&[][..], Vec::as_slice);
        let resets = resets.get(key).map_or(&[][..], Vec::as_slice);
        for o in list {
            v.checked += 1;
            let last_reset = resets.iter().copied().filter(|t| *t <= o.start_ms).max();
            let mut binding: Option<&Observation> = None;
            let mut excused = false;
            for c in commits.iter().filter(|c| c.end_ms < o.start_ms && c.offset > o.offset) {
                if last_reset.is_some_and(|t| c.start_ms <= t) {
                    excused = true;
                } else if binding.is_none_or(|b| c.offset > b.offset) {
                    binding = Some(c);
                }
            }
            match binding {
                Some(c) => {
                    let (group, partition) = key;
                    v.anomaly(|| {
                        format!(
                            "group {group} partition {partition}: {} {} offset {} ({}-{} ms) \
                             after {} committed {} (acknowledged at {} ms)",
                            o.client,
                            o.what,
                            o.offset,
                            o.start_ms,
                            o.end_ms,
                            c.client,
                            c.offset,
                            c.end_ms
                        )
                    });
                }
                None if excused => v.excuse("a reset moved the committed offset back: expected"),
                None => {}
            }
        }
    }
    v
}

/// double-assignment: two members of one generation of a group own the same partition
/// (from the SyncGroup answers). A generation is its number and its leader: a group that was
/// removed (Empty without offsets, at the offsets cleanup, as Kafka does) starts again at
/// generation 1, with new member ids.
pub(super) fn double_assignment(events: &[Event]) -> Verdict {
    let mut v = Verdict::new("double-assignment");
    // (group, generation, leader) -> member id -> (client, partitions).
    type Members<'a> = BTreeMap<&'a str, (&'a str, &'a [i32])>;
    let mut generations: BTreeMap<(&str, i32, &str), Members> = BTreeMap::new();
    for e in events {
        if let Event::Assigned {
            client, group, member_id, generation, leader, partitions, ..
        } = e
        {
            generations
                .entry((group.as_str(), *generation, leader.as_str()))
                .or_default()
                .insert(member_id.as_str(), (client.as_str(), partitions.as_slice()));
        }
    }
    for ((group, generation, _), members) in &generations {
        let mut owner: BTreeMap<i32, (&str, &str)> = BTreeMap::new();
        for (member, (client, partitions)) in members {
            for p in partitions.iter() {
                v.checked += 1;
                if let Some((other, other_client)) = owner.insert(*p, (member, client)) {
                    v.anomaly(|| {
                        format!(
                            "group {group} generation {generation}: partition {p} assigned to \
                             {other} ({other_client}) and {member} ({client})"
                        )
                    });
                }
            }
        }
    }
    v
}

/// stale-generation-commit: a commit acknowledged for a generation that a later generation
/// had already replaced when the commit began: a JoinGroup answered a higher generation after
/// the committer's own generation formed. Once a generation's join phase completes, the
/// coordinator must reject commits of earlier generations (ILLEGAL_GENERATION or
/// UNKNOWN_MEMBER_ID): a member that stalled past its session timeout cannot commit. (Joins
/// before the committer's generation formed are ignored: a removed group starts again at
/// generation 1.)
pub(super) fn stale_generation_commit(events: &[Event]) -> Verdict {
    let mut v = Verdict::new("stale-generation-commit");
    // Per group: (end of the JoinGroup, generation it answered, member), in history order.
    let mut joins: BTreeMap<&str, Vec<(u64, i32, &str)>> = BTreeMap::new();
    for e in events {
        if let Event::GroupOp { end_ms, group, op, generation, outcome, member_id, .. } = e {
            if op == "join" && outcome == "ok" {
                joins.entry(group.as_str()).or_default().push((
                    *end_ms,
                    *generation,
                    member_id.as_str(),
                ));
            }
        }
    }
    for e in events {
        let Event::Commit {
            start_ms,
            client,
            group,
            member_id,
            generation,
            partition,
            offset,
            outcome: CommitOutcome::Ok,
            ..
        } = e
        else {
            continue;
        };
        v.checked += 1;
        let joins = joins.get(group.as_str()).map_or(&[][..], Vec::as_slice);
        let before = || joins.iter().filter(|(end, ..)| end < start_ms);
        // When the committer's generation formed (its own JoinGroup answer).
        let formed = before()
            .filter(|(_, g, m)| g == generation && *m == member_id.as_str())
            .map(|(end, ..)| *end)
            .max()
            .unwrap_or(0);
        let newer = before().find(|(end, g, _)| *end >= formed && g > generation);
        if let Some((end, newer, _)) = newer {
            v.anomaly(|| {
                format!(
                    "group {group}: {client} committed offset {offset} of partition {partition} \
                     with generation {generation} (began {start_ms} ms), after generation \
                     {newer} had formed ({end} ms)"
                )
            });
        }
    }
    v
}
