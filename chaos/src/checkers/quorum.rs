//! The metadata quorum's invariants (Kafka's `RaftEventSimulationTest` names), over the nodes'
//! sampled quorum state and their metadata logs after the run.

use std::collections::BTreeMap;

use kafka_lab_broker::raft::client::LogView;

use super::Verdict;
use crate::history::{Event, QuorumSample};

/// majority-reached-high-watermark: whenever a node leads the quorum with high watermark h, a
/// majority of the voters hold the log up to h (a voter that is down counts as holding it:
/// its log is on its disk, unseen). A leader that commits alone fails it.
pub(super) fn majority_reached_high_watermark(events: &[Event], voters: &[i32]) -> Verdict {
    let mut v = Verdict::new("majority-reached-high-watermark");
    let mut by_time: BTreeMap<u64, BTreeMap<i32, &QuorumSample>> = BTreeMap::new();
    for e in events {
        if let Event::NodeState { time_ms, node_id, quorum, .. } = e {
            by_time.entry(*time_ms).or_default().insert(*node_id, quorum);
        }
    }
    let majority = voters.len() / 2 + 1;
    for (time_ms, nodes) in &by_time {
        for (leader, q) in nodes.iter().filter(|(_, q)| q.state == "leader") {
            let hw = q.high_watermark;
            if hw <= 0 {
                continue;
            }
            v.checked += 1;
            let holding = voters
                .iter()
                .filter(|id| nodes.get(id).is_none_or(|s| s.log_end_offset >= hw))
                .count();
            if holding < majority {
                let ends: Vec<String> = voters
                    .iter()
                    .map(|id| match nodes.get(id) {
                        Some(s) => format!("node {id} ends at {}", s.log_end_offset),
                        None => format!("node {id} is down"),
                    })
                    .collect();
                v.anomaly(|| {
                    format!(
                        "at {time_ms} ms node {leader} led epoch {} with high watermark {hw}, but \
                         only {holding} of {} voters hold it ({})",
                        q.epoch,
                        voters.len(),
                        ends.join(", ")
                    )
                });
            }
        }
    }
    v
}

/// A metadata log after the run: its range, committed offset and epochs.
struct FinalLog {
    node_id: i32,
    high_watermark: i64,
    /// The log as the quorum's state machine sees it (the broker's own `epoch_at`).
    view: LogView,
}

/// committed-metadata: what was committed stays — every committed prefix a node reported
/// (its high watermark and the epoch of the record below it) is in the final leader's log
/// with the same epoch there, and every voter's log below its own high watermark matches the
/// final leader's, epoch for epoch (Raft's log matching makes that the same records).
pub(super) fn committed_metadata(events: &[Event]) -> Verdict {
    let mut v = Verdict::new("committed-metadata");
    let mut voters = Vec::new();
    let mut leader = None;
    for e in events {
        if let Event::MetadataLog {
            node_id,
            voter: true,
            leader: is_leader,
            log_start_offset,
            log_end_offset,
            high_watermark,
            epochs,
        } = e
        {
            let log = FinalLog {
                node_id: *node_id,
                high_watermark: *high_watermark,
                view: LogView::new(*log_start_offset, *log_end_offset, epochs.clone()),
            };
            if *is_leader {
                leader = Some(voters.len());
            }
            voters.push(log);
        }
    }
    let Some(leader) = leader.map(|i| &voters[i]) else { return v };
    for e in events {
        let Event::NodeState { time_ms, node_id, quorum, .. } = e else { continue };
        let (hw, epoch) = (quorum.high_watermark, quorum.committed_epoch);
        // Below the final leader's log start only its snapshot knows the epochs.
        if hw <= 0 || epoch < 0 || hw - 1 < leader.view.start_offset() {
            continue;
        }
        v.checked += 1;
        let found = leader.view.epoch_at(hw - 1);
        if found != Some(epoch) {
            v.anomaly(|| {
                format!(
                    "at {time_ms} ms node {node_id} had committed up to {hw} (epoch {epoch} at \
                     offset {}); the final leader, node {}, has {} there",
                    hw - 1,
                    leader.node_id,
                    found.map_or("nothing".to_owned(), |e| format!("epoch {e}"))
                )
            });
        }
    }
    for voter in voters.iter().filter(|l| l.node_id != leader.node_id) {
        let from = voter.view.start_offset().max(leader.view.start_offset());
        let until = voter.view.end_offset().min(voter.high_watermark);
        // Epochs are constant between starts, so the starts (and the range's first offset)
        // are the offsets to compare.
        let mut offsets: Vec<i64> = voter
            .view
            .epochs()
            .iter()
            .chain(leader.view.epochs())
            .map(|(_, start)| *start)
            .collect();
        offsets.push(from);
        offsets.retain(|o| (from..until).contains(o));
        offsets.sort_unstable();
        offsets.dedup();
        for offset in offsets {
            v.checked += 1;
            let (theirs, ours) = (voter.view.epoch_at(offset), leader.view.epoch_at(offset));
            if theirs != ours {
                v.anomaly(|| {
                    format!(
                        "node {} holds epoch {theirs:?} at committed offset {offset}; the final \
                         leader, node {}, holds {ours:?}",
                        voter.node_id, leader.node_id
                    )
                });
                break;
            }
        }
    }
    v
}
