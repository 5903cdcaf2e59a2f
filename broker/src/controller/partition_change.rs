//! One partition's change, after Kafka's `PartitionChangeBuilder` (without eligible leader
//! replicas, KIP-966): from a target ISR, target replicas (a reassignment's adding and
//! removing replicas among them) and who may lead, the PartitionChangeRecord that elects a
//! leader and sets the ISR and the assignment — or nothing when nothing changes.
//!
//! A reassignment completes in the builder, as Kafka's `completeReassignmentIfNeeded`: once
//! every target replica (the replicas less the removing ones) is in the target ISR, the
//! replicas become the target ones, the removing replicas leave the ISR, and the adding and
//! removing lists are cleared — so the AlterPartition that brings the last adding replica into
//! the ISR also finishes the reassignment, electing a new leader if the old one is removed.
//!
//! The election keeps the current leader while it is in the target ISR and acceptable;
//! otherwise the first replica (in replica order) that is in the target ISR and acceptable
//! leads (a PREFERRED election first tries the first replica, the preferred leader, even over
//! a current leader that could stay); with an unclean election and no such replica, the first acceptable replica leads
//! alone in the ISR, its recovery state RECOVERING; with none, the partition has no leader
//! (offline). The ISR never becomes empty: a target ISR without members leaves it as it was,
//! so the last member stays recorded in it, as Kafka does without ELR.

use uuid::Uuid;

use crate::metadata::{
    MetadataRecord, PartitionChangeRecord, PartitionImage, NO_LEADER, NO_LEADER_CHANGE,
};

/// `LeaderRecoveryState.RECOVERED`.
pub const RECOVERED: i8 = 0;
/// `LeaderRecoveryState.RECOVERING`: a leader chosen by unclean election has not yet told the
/// controller (AlterPartition) that it recovered.
pub const RECOVERING: i8 = 1;

/// How a leader may be chosen (Kafka's `PartitionChangeBuilder.Election`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Election {
    /// The preferred replica (the first) when it is in the ISR and acceptable, else as
    /// [`Election::Online`]: ElectLeaders PREFERRED and the controller's leader rebalance.
    Preferred,
    /// Only replicas in the ISR.
    Online,
    /// A live replica outside the ISR when no ISR member can lead
    /// (`unclean.leader.election.enable`).
    Unclean,
}

/// Builds the change of one partition.
pub struct PartitionChangeBuilder<'a> {
    partition: &'a PartitionImage,
    topic_id: Uuid,
    partition_id: i32,
    is_acceptable_leader: &'a dyn Fn(i32) -> bool,
    election: Election,
    target_isr: Vec<i32>,
    target_replicas: Vec<i32>,
    target_removing: Vec<i32>,
    target_adding: Vec<i32>,
    target_leader_recovery_state: i8,
}

impl<'a> PartitionChangeBuilder<'a> {
    /// A builder that changes nothing yet; `is_acceptable_leader` says which brokers may lead
    /// (alive: unfenced and not shutting down, with the caller's exceptions).
    pub fn new(
        partition: &'a PartitionImage,
        topic_id: Uuid,
        partition_id: i32,
        is_acceptable_leader: &'a dyn Fn(i32) -> bool,
    ) -> Self {
        Self {
            partition,
            topic_id,
            partition_id,
            is_acceptable_leader,
            election: Election::Online,
            target_isr: partition.isr.clone(),
            target_replicas: partition.replicas.clone(),
            target_removing: partition.removing_replicas.clone(),
            target_adding: partition.adding_replicas.clone(),
            target_leader_recovery_state: partition.leader_recovery_state,
        }
    }

    /// The election to run.
    pub fn election(mut self, election: Election) -> Self {
        self.election = election;
        self
    }

    /// The ISR wanted.
    pub fn target_isr(mut self, isr: Vec<i32>) -> Self {
        self.target_isr = isr;
        self
    }

    /// The replicas wanted, in preferred order (a reassignment's target plus the replicas it
    /// removes).
    pub fn target_replicas(mut self, replicas: Vec<i32>) -> Self {
        self.target_replicas = replicas;
        self
    }

    /// The replicas a reassignment removes.
    pub fn target_removing(mut self, removing: Vec<i32>) -> Self {
        self.target_removing = removing;
        self
    }

    /// The replicas a reassignment adds.
    pub fn target_adding(mut self, adding: Vec<i32>) -> Self {
        self.target_adding = adding;
        self
    }

    /// The leader recovery state wanted (AlterPartition's).
    pub fn target_leader_recovery_state(mut self, state: i8) -> Self {
        self.target_leader_recovery_state = state;
        self
    }

    fn is_valid_new_leader(&self, replica: i32) -> bool {
        self.target_isr.contains(&replica) && (self.is_acceptable_leader)(replica)
    }

    /// `(leader, unclean)` as Kafka's `electLeader`.
    fn elect_leader(&self) -> (i32, bool) {
        if self.election == Election::Preferred {
            return (self.elect_preferred_leader(), false);
        }
        self.elect_any_leader()
    }

    /// Kafka's `electPreferredLeader`: the first replica if it may lead, else the current
    /// leader if it may stay, else the next replica in order that may lead; never unclean.
    fn elect_preferred_leader(&self) -> i32 {
        let replicas = &self.target_replicas;
        if let Some(preferred) = replicas.first().copied().filter(|r| self.is_valid_new_leader(*r))
        {
            return preferred;
        }
        if self.is_valid_new_leader(self.partition.leader) {
            return self.partition.leader;
        }
        replicas.iter().skip(1).copied().find(|r| self.is_valid_new_leader(*r)).unwrap_or(NO_LEADER)
    }

    /// `(leader, unclean)` as Kafka's `electAnyLeader` (ONLINE and UNCLEAN elections).
    fn elect_any_leader(&self) -> (i32, bool) {
        if self.is_valid_new_leader(self.partition.leader) {
            return (self.partition.leader, false);
        }
        let replicas = &self.target_replicas;
        if let Some(leader) = replicas.iter().copied().find(|r| self.is_valid_new_leader(*r)) {
            return (leader, false);
        }
        if self.election == Election::Unclean {
            if let Some(leader) = replicas.iter().copied().find(|r| (self.is_acceptable_leader)(*r))
            {
                return (leader, true);
            }
        }
        (NO_LEADER, false)
    }

    /// Kafka's `completeReassignmentIfNeeded` (see the module's doc).
    fn complete_reassignment_if_needed(&mut self) {
        let reassignment = super::reassignment::PartitionReassignmentReplicas {
            removing: self.target_removing.clone(),
            adding: self.target_adding.clone(),
            replicas: self.target_replicas.clone(),
        };
        if let Some((replicas, isr)) = reassignment.maybe_complete_reassignment(&self.target_isr) {
            self.target_isr = isr;
            self.target_replicas = replicas;
            self.target_removing.clear();
            self.target_adding.clear();
        }
    }

    /// The record, or `None` when the partition would not change.
    pub fn build(mut self) -> Option<PartitionChangeRecord> {
        let mut record = PartitionChangeRecord::new(self.topic_id, self.partition_id);
        self.complete_reassignment_if_needed();
        let (leader, unclean) = self.elect_leader();
        if leader != self.partition.leader {
            record.leader = leader;
            if unclean {
                // The new leader may lack committed records: it is the ISR alone, and recovers.
                tracing::info!(
                    topic_id = %self.topic_id,
                    partition = self.partition_id,
                    leader,
                    "setting a new leader using an unclean election"
                );
                record.isr = Some(vec![leader]);
                if self.partition.leader_recovery_state != RECOVERING {
                    record.leader_recovery_state = RECOVERING;
                }
            }
        }
        // A replica leaves the assignment: the leader epoch bumps, so the leaders and
        // followers of the old epoch are fenced (`triggerLeaderEpochBumpForReplicaReassignment`).
        if record.leader == NO_LEADER_CHANGE
            && !self.partition.replicas.iter().all(|r| self.target_replicas.contains(r))
        {
            record.leader = self.partition.leader;
        }
        // Without ELR the ISR is never emptied: its last member stays, leaderless.
        if record.isr.is_none()
            && !self.target_isr.is_empty()
            && self.target_isr != self.partition.isr
        {
            record.isr = Some(self.target_isr.clone());
        }
        if record.leader_recovery_state == -1
            && self.target_leader_recovery_state != self.partition.leader_recovery_state
        {
            record.leader_recovery_state = self.target_leader_recovery_state;
        }
        if !self.target_replicas.is_empty() && self.target_replicas != self.partition.replicas {
            record.replicas = Some(self.target_replicas.clone());
        }
        if self.target_removing != self.partition.removing_replicas {
            record.removing_replicas = Some(self.target_removing.clone());
        }
        if self.target_adding != self.partition.adding_replicas {
            record.adding_replicas = Some(self.target_adding.clone());
        }
        let no_op = record.leader == NO_LEADER_CHANGE
            && record.isr.is_none()
            && record.leader_recovery_state == -1
            && record.replicas.is_none()
            && record.removing_replicas.is_none()
            && record.adding_replicas.is_none();
        (!no_op).then_some(record)
    }
}

/// The leader elections among records the controller commits (its ControllerStats
/// `LeaderElectionRateAndTimeMs` and `UncleanLeaderElectionsPerSec`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Elections {
    /// PartitionChangeRecords that give a partition a new live leader.
    pub leader_elections: u64,
    /// Of those, the unclean ones: a leader from outside the ISR, which
    /// [`PartitionChangeBuilder::build`] alone marks RECOVERING with the leader it sets.
    pub unclean: u64,
}

impl Elections {
    /// What `records` elect; read from the records, so the controller counts exactly what it
    /// committed, whichever of its paths built them.
    pub fn in_records(records: &[MetadataRecord]) -> Self {
        let mut elections = Elections::default();
        for record in records {
            let MetadataRecord::PartitionChange(change) = record else { continue };
            if change.leader < 0 {
                continue;
            }
            elections.leader_elections += 1;
            if change.leader_recovery_state == RECOVERING {
                elections.unclean += 1;
            }
        }
        elections
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partition(replicas: &[i32], isr: &[i32], leader: i32) -> PartitionImage {
        PartitionImage {
            replicas: replicas.to_vec(),
            isr: isr.to_vec(),
            removing_replicas: Vec::new(),
            adding_replicas: Vec::new(),
            leader,
            leader_recovery_state: RECOVERED,
            leader_epoch: 4,
            partition_epoch: 9,
        }
    }

    fn without(isr: &[i32], broker: i32) -> Vec<i32> {
        isr.iter().copied().filter(|r| *r != broker).collect()
    }

    /// Broker 1 is fenced: it leaves the ISR and the first live ISR member in replica order
    /// leads.
    #[test]
    fn a_fenced_leader_hands_over_to_the_next_in_sync_replica() {
        let p = partition(&[1, 3, 2], &[1, 2, 3], 1);
        let alive = |r: i32| r != 1;
        let record = PartitionChangeBuilder::new(&p, Uuid::nil(), 0, &alive)
            .target_isr(without(&p.isr, 1))
            .build()
            .unwrap();
        assert_eq!(record.leader, 3, "replica order, not ISR order");
        assert_eq!(record.isr, Some(vec![2, 3]));
        assert_eq!(record.leader_recovery_state, -1);
    }

    /// A follower leaves the ISR: the leader stays (no leader epoch bump).
    #[test]
    fn a_fenced_follower_only_shrinks_the_isr() {
        let p = partition(&[1, 2, 3], &[1, 2, 3], 1);
        let alive = |r: i32| r != 2;
        let record = PartitionChangeBuilder::new(&p, Uuid::nil(), 0, &alive)
            .target_isr(without(&p.isr, 2))
            .build()
            .unwrap();
        assert_eq!((record.leader, record.isr), (NO_LEADER_CHANGE, Some(vec![1, 3])));
    }

    /// The last ISR member fenced: the ISR keeps it and the partition goes offline; a later
    /// unfencing of that member (acceptable again) makes it leader with the ISR unchanged.
    #[test]
    fn the_last_isr_member_stays_in_the_isr_of_an_offline_partition() {
        let p = partition(&[1, 2], &[2], 2);
        let alive = |r: i32| r != 2;
        let record = PartitionChangeBuilder::new(&p, Uuid::nil(), 0, &alive)
            .target_isr(without(&p.isr, 2))
            .build()
            .unwrap();
        assert_eq!((record.leader, record.isr), (NO_LEADER, None), "1 is alive but not in sync");

        let offline = partition(&[1, 2], &[2], NO_LEADER);
        let back = |r: i32| r == 2 || r == 1;
        let record = PartitionChangeBuilder::new(&offline, Uuid::nil(), 0, &back).build().unwrap();
        assert_eq!((record.leader, record.isr), (2, None));
        let nobody = |_: i32| false;
        assert!(PartitionChangeBuilder::new(&offline, Uuid::nil(), 0, &nobody).build().is_none());
    }

    /// unclean.leader.election.enable: a live out-of-sync replica leads alone, RECOVERING.
    #[test]
    fn an_unclean_election_picks_a_live_replica_outside_the_isr() {
        let p = partition(&[1, 2, 3], &[2], 2);
        let alive = |r: i32| r == 3;
        let record = PartitionChangeBuilder::new(&p, Uuid::nil(), 0, &alive)
            .election(Election::Unclean)
            .target_isr(Vec::new())
            .build()
            .unwrap();
        assert_eq!(record.leader, 3);
        assert_eq!(record.isr, Some(vec![3]));
        assert_eq!(record.leader_recovery_state, RECOVERING);
    }

    /// PREFERRED: the first replica takes over from a leader that could stay, when it is in
    /// the ISR and acceptable; otherwise the current leader stays (no record), and a leaderless
    /// partition gets the next in-sync acceptable replica.
    #[test]
    fn a_preferred_election_moves_leadership_to_the_first_replica() {
        let all = |_: i32| true;
        let p = partition(&[1, 2, 3], &[1, 2, 3], 2);
        let record = PartitionChangeBuilder::new(&p, Uuid::nil(), 0, &all)
            .election(Election::Preferred)
            .build()
            .unwrap();
        assert_eq!((record.leader, record.isr), (1, None));
        // ONLINE keeps the leader that may stay.
        assert!(PartitionChangeBuilder::new(&p, Uuid::nil(), 0, &all).build().is_none());

        // Out of the ISR (still catching up), or fenced: the leader stays.
        let catching_up = partition(&[1, 2, 3], &[2, 3], 2);
        let preferred = |b: PartitionChangeBuilder| b.election(Election::Preferred).build();
        assert!(
            preferred(PartitionChangeBuilder::new(&catching_up, Uuid::nil(), 0, &all)).is_none()
        );
        let not_1 = |r: i32| r != 1;
        assert!(preferred(PartitionChangeBuilder::new(&p, Uuid::nil(), 0, &not_1)).is_none());

        // Leaderless, the first replica unavailable: the next in-sync one, never unclean.
        let offline = partition(&[1, 2, 3], &[1, 3], NO_LEADER);
        let record = preferred(PartitionChangeBuilder::new(&offline, Uuid::nil(), 0, &not_1));
        assert_eq!(record.map(|r| r.leader), Some(3));
        let only_2 = |r: i32| r == 2;
        assert!(preferred(PartitionChangeBuilder::new(&offline, Uuid::nil(), 0, &only_2)).is_none());
    }

    #[test]
    fn nothing_to_change_is_no_record() {
        let p = partition(&[1, 2], &[1, 2], 1);
        let alive = |_: i32| true;
        assert!(PartitionChangeBuilder::new(&p, Uuid::nil(), 0, &alive).build().is_none());
        let record = PartitionChangeBuilder::new(&p, Uuid::nil(), 0, &alive)
            .target_isr(vec![1])
            .build()
            .unwrap();
        assert_eq!((record.leader, record.isr), (NO_LEADER_CHANGE, Some(vec![1])));
    }

    /// Each record that sets a live leader is one election; unclean when it also sets
    /// RECOVERING; ISR-only changes, offline partitions and other records are none.
    #[test]
    fn elections_are_counted_from_the_records_that_set_a_leader() {
        let alive = |r: i32| r != 1;
        let led_by_1 = partition(&[1, 2, 3], &[1, 2, 3], 1);
        let handed_over =
            PartitionChangeBuilder::new(&led_by_1, Uuid::nil(), 0, &alive).target_isr(vec![2, 3]);
        let follower_1 = partition(&[2, 1, 3], &[1, 2, 3], 2);
        let shrunk =
            PartitionChangeBuilder::new(&follower_1, Uuid::nil(), 1, &alive).target_isr(vec![2, 3]);
        let only_1 = partition(&[1, 3], &[1], 1);
        let offline =
            PartitionChangeBuilder::new(&only_1, Uuid::nil(), 2, &alive).target_isr(Vec::new());
        let unclean = PartitionChangeBuilder::new(&only_1, Uuid::nil(), 3, &alive)
            .election(Election::Unclean)
            .target_isr(Vec::new());
        let mut records: Vec<MetadataRecord> = [handed_over, shrunk, offline, unclean]
            .into_iter()
            .map(|b| MetadataRecord::PartitionChange(b.build().unwrap()))
            .collect();
        records.push(MetadataRecord::PartitionChange(PartitionChangeRecord::new(Uuid::nil(), 4)));
        assert_eq!(
            Elections::in_records(&records),
            Elections { leader_elections: 2, unclean: 1 },
            "{records:?}"
        );
        assert_eq!(Elections::in_records(&records[1..3]), Elections::default());
    }
}
