//! Checkers over what the nodes said of themselves (the history's sampled `NodeState`s): a
//! leader epoch names one leader, and no node's epochs go back.

use std::collections::BTreeMap;

use super::Verdict;
use crate::history::Event;

/// one-leader-per-epoch: no two nodes lead one partition in one leader epoch, nor the metadata
/// quorum in one quorum epoch (Kafka's and Raft's election safety: an epoch is won once).
pub(super) fn one_leader_per_epoch(events: &[Event]) -> Verdict {
    let mut v = Verdict::new("one-leader-per-epoch");
    // (partition, or -1 for the quorum; epoch) -> (first leader seen, when).
    let mut leaders: BTreeMap<(i32, i32), (i32, u64)> = BTreeMap::new();
    for e in events {
        let Event::NodeState { time_ms, node_id, quorum, replicas, .. } = e else { continue };
        let quorum_claim = (quorum.state == "leader").then_some((-1, quorum.epoch));
        let replica_claims =
            replicas.iter().filter(|r| r.role == "leader").map(|r| (r.partition, r.leader_epoch));
        for key in quorum_claim.into_iter().chain(replica_claims) {
            let (leader, since) = *leaders.entry(key).or_insert((*node_id, *time_ms));
            v.checked += 1;
            if leader != *node_id {
                let (partition, epoch) = key;
                let what = subject(partition);
                v.anomaly(|| {
                    format!(
                        "node {leader} led {what} in epoch {epoch} (seen at {since} ms) and node \
                         {node_id} led it in the same epoch at {time_ms} ms"
                    )
                });
            }
        }
    }
    v
}

/// epoch-regression: within one incarnation of a node, the quorum epoch it knows and the
/// leader epoch of each of its replicas never go back (a restart may start from less: what it
/// knows is then rebuilt from the log).
pub(super) fn epoch_regression(events: &[Event]) -> Verdict {
    let mut v = Verdict::new("epoch-regression");
    // (node, incarnation, partition or -1 for the quorum) -> (epoch, when).
    let mut last: BTreeMap<(i32, u32, i32), (i32, u64)> = BTreeMap::new();
    for e in events {
        let Event::NodeState { time_ms, node_id, incarnation, quorum, replicas } = e else {
            continue;
        };
        let epochs = std::iter::once((-1, quorum.epoch))
            .chain(replicas.iter().map(|r| (r.partition, r.leader_epoch)));
        for (partition, epoch) in epochs {
            v.checked += 1;
            let key = (*node_id, *incarnation, partition);
            if let Some((before, at)) = last.insert(key, (epoch, *time_ms)) {
                if epoch < before {
                    let what = subject(partition);
                    v.anomaly(|| {
                        format!(
                            "node {node_id} knew {what}'s epoch {before} at {at} ms, then {epoch} \
                             at {time_ms} ms"
                        )
                    });
                }
            }
        }
    }
    v
}

/// What a key's epoch belongs to: a partition, or the metadata quorum (-1).
fn subject(partition: i32) -> String {
    if partition < 0 {
        "the metadata quorum".to_owned()
    } else {
        format!("partition {partition}")
    }
}
