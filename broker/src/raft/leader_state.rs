//! What the quorum's leader knows about its replicas (Kafka's `LeaderState`): each voter's and
//! observer's log end offset from its fetches, the high watermark — the largest offset a
//! majority of voters hold, once a record of the leader's own epoch is among them — and the
//! check-quorum timer that makes a leader no majority fetches from step down.

use std::collections::{BTreeMap, BTreeSet};

/// What the leader knows of one replica from its fetches (Kafka's `LeaderState.ReplicaState`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplicaState {
    /// The replica's log end offset: its last fetch offset (the leader's own: its log end).
    pub end_offset: Option<i64>,
    /// When the replica last fetched, in the node's milliseconds.
    pub last_fetch_ms: Option<u64>,
    /// When the replica was last caught up with the leader's log end offset.
    pub last_caught_up_ms: Option<u64>,
    /// The leader's log end offset at the replica's last fetch.
    leader_end_at_last_fetch: Option<i64>,
}

impl ReplicaState {
    /// Records a fetch at `fetch_offset` while the leader's log ends at `leader_end`, with
    /// Kafka's caught-up rule: caught up now if it fetched the log end, or as of its previous
    /// fetch if it fetched at least what the log held then.
    fn record_fetch(&mut self, now_ms: u64, fetch_offset: i64, leader_end: i64) {
        if fetch_offset >= leader_end {
            self.last_caught_up_ms = Some(now_ms);
        } else if let (Some(previous_end), Some(previous_fetch)) =
            (self.leader_end_at_last_fetch, self.last_fetch_ms)
        {
            if fetch_offset >= previous_end {
                self.last_caught_up_ms = Some(previous_fetch);
            }
        }
        self.end_offset = Some(fetch_offset);
        self.last_fetch_ms = Some(now_ms);
        self.leader_end_at_last_fetch = Some(leader_end);
    }
}

/// The leader's state in its epoch.
#[derive(Debug)]
pub struct LeaderState {
    /// The leader's epoch.
    pub epoch: i32,
    local_id: i32,
    /// Where this epoch's first record (the leader-change record) sits: nothing below it
    /// commits by being counted in this epoch until a record of this epoch does.
    pub epoch_start_offset: i64,
    voters: BTreeMap<i32, ReplicaState>,
    observers: BTreeMap<i32, ReplicaState>,
    /// Voters that acknowledged BeginQuorumEpoch or fetched in this epoch.
    pub(super) acknowledged: BTreeSet<i32>,
    /// Voters that fetched since the check-quorum timer last restarted.
    fetched_since_check: BTreeSet<i32>,
    /// When the leader resigns unless a majority fetched by then.
    check_quorum_deadline_ms: u64,
    check_quorum_timeout_ms: u64,
}

impl LeaderState {
    /// The leader of `epoch` over `voters`, whose log ends at `epoch_start_offset` before it
    /// appends its leader-change record.
    pub fn new(
        now_ms: u64,
        local_id: i32,
        epoch: i32,
        epoch_start_offset: i64,
        voters: &BTreeSet<i32>,
        fetch_timeout_ms: u64,
    ) -> Self {
        assert!(voters.contains(&local_id), "only a voter leads the quorum");
        // Kafka's CHECK_QUORUM_TIMEOUT_FACTOR: 1.5 fetch timeouts, so a leader a majority
        // cannot reach resigns after the followers' own fetch timeouts would have fired.
        let check_quorum_timeout_ms = fetch_timeout_ms + fetch_timeout_ms / 2;
        Self {
            epoch,
            local_id,
            epoch_start_offset,
            voters: voters.iter().map(|&id| (id, ReplicaState::default())).collect(),
            observers: BTreeMap::new(),
            acknowledged: [local_id].into(),
            fetched_since_check: BTreeSet::new(),
            check_quorum_deadline_ms: now_ms + check_quorum_timeout_ms,
            check_quorum_timeout_ms,
        }
    }

    /// Whether `id` is one of the quorum's voters.
    pub fn is_voter(&self, id: i32) -> bool {
        self.voters.contains_key(&id)
    }

    /// The leader's own log end offset moved (an append): its replica state follows.
    pub fn update_local_end_offset(&mut self, now_ms: u64, end_offset: i64) {
        let local = self.voters.get_mut(&self.local_id).expect("the leader is a voter");
        local.end_offset = Some(end_offset);
        local.last_fetch_ms = Some(now_ms);
        local.last_caught_up_ms = Some(now_ms);
    }

    /// A replica fetched at `fetch_offset` (validated against the log) while the log ends at
    /// `leader_end`.
    pub fn record_fetch(
        &mut self,
        now_ms: u64,
        replica_id: i32,
        fetch_offset: i64,
        leader_end: i64,
    ) {
        if let Some(voter) = self.voters.get_mut(&replica_id) {
            voter.record_fetch(now_ms, fetch_offset, leader_end);
            self.acknowledged.insert(replica_id);
            self.fetched_since_check.insert(replica_id);
            // The leader itself counts toward the majority.
            if self.fetched_since_check.len() + 1 >= self.majority() {
                self.fetched_since_check.clear();
                self.check_quorum_deadline_ms = now_ms + self.check_quorum_timeout_ms;
            }
        } else {
            self.observers.entry(replica_id).or_default().record_fetch(
                now_ms,
                fetch_offset,
                leader_end,
            );
        }
    }

    /// Whether no majority fetched within the check-quorum timeout: the leader must resign.
    pub fn check_quorum_expired(&self, now_ms: u64) -> bool {
        self.voters.len() > 1 && now_ms >= self.check_quorum_deadline_ms
    }

    /// When the check-quorum timer fires next.
    pub fn check_quorum_deadline_ms(&self) -> u64 {
        self.check_quorum_deadline_ms
    }

    /// How many voters make a majority.
    pub fn majority(&self) -> usize {
        self.voters.len() / 2 + 1
    }

    /// The high watermark the voters' positions allow, given the current one (Kafka's
    /// `maybeUpdateHighWatermark`): the end offset a majority reached, if it is past this
    /// epoch's start (a record of this epoch is committed) and past `current`. `None` when it
    /// does not move: it never moves back.
    pub fn next_high_watermark(&self, current: Option<i64>) -> Option<i64> {
        let mut ends: Vec<i64> = self.voters.values().map(|v| v.end_offset.unwrap_or(-1)).collect();
        ends.sort_unstable_by(|a, b| b.cmp(a));
        let majority_end = ends[self.majority() - 1];
        (majority_end > self.epoch_start_offset && current.is_none_or(|hw| majority_end > hw))
            .then_some(majority_end)
    }

    /// The voters other than the leader, those with the longest logs first: the successors a
    /// resigning leader prefers (Kafka's `nonLeaderVotersByDescendingFetchOffset`).
    pub fn voters_by_descending_end_offset(&self) -> Vec<i32> {
        let mut others: Vec<(i64, i32)> = self
            .voters
            .iter()
            .filter(|(id, _)| **id != self.local_id)
            .map(|(id, v)| (v.end_offset.unwrap_or(-1), *id))
            .collect();
        others.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        others.into_iter().map(|(_, id)| id).collect()
    }

    /// The voters' states, in id order (DescribeQuorum's CurrentVoters).
    pub fn voter_states(&self) -> &BTreeMap<i32, ReplicaState> {
        &self.voters
    }

    /// The observers' states, in id order (DescribeQuorum's Observers).
    pub fn observer_states(&self) -> &BTreeMap<i32, ReplicaState> {
        &self.observers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leader(voters: &[i32]) -> LeaderState {
        LeaderState::new(0, 1, 3, 10, &voters.iter().copied().collect(), 2000)
    }

    #[test]
    fn the_high_watermark_is_what_a_majority_holds_once_the_epoch_has_a_committed_record() {
        let mut state = leader(&[1, 2, 3]);
        state.update_local_end_offset(0, 11);
        // Only the leader holds the leader-change record at 10.
        assert_eq!(state.next_high_watermark(Some(8)), None);
        // A follower at the epoch's start has not got this epoch's record yet.
        state.record_fetch(1, 2, 10, 11);
        assert_eq!(state.next_high_watermark(Some(8)), None);
        state.record_fetch(2, 2, 11, 11);
        assert_eq!(state.next_high_watermark(Some(8)), Some(11));
        // Never back.
        assert_eq!(state.next_high_watermark(Some(11)), None);
    }

    #[test]
    fn a_leader_no_majority_fetches_from_must_resign_and_observers_do_not_count() {
        let mut state = leader(&[1, 2, 3]);
        state.record_fetch(100, 7, 0, 11);
        assert!(state.check_quorum_expired(3000), "an observer is no voter");
        let mut state = leader(&[1, 2, 3]);
        state.record_fetch(2000, 2, 0, 11);
        assert!(!state.check_quorum_expired(3000), "one follower and the leader are a majority");
        assert!(state.check_quorum_expired(5000));
        assert!(!leader(&[1]).check_quorum_expired(u64::MAX), "a lone voter is its own majority");
    }

    #[test]
    fn a_replica_is_caught_up_as_of_the_fetch_whose_log_end_it_reached() {
        let mut state = leader(&[1, 2, 3]);
        state.record_fetch(100, 2, 5, 11);
        assert_eq!(state.voter_states()[&2].last_caught_up_ms, None);
        state.record_fetch(200, 2, 11, 15);
        assert_eq!(state.voter_states()[&2].last_caught_up_ms, Some(100));
        state.record_fetch(300, 2, 15, 15);
        assert_eq!(state.voter_states()[&2].last_caught_up_ms, Some(300));
    }
}
