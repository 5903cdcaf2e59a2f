//! What a voter must remember across restarts to keep KIP-595's promises — its epoch, the leader
//! it knew and the candidate it voted for — and the `quorum-state` file that holds it in the
//! metadata log's directory, in Kafka's format (`QuorumStateData` as JSON, written by Kafka's
//! `FileQuorumStateStore`). Version 0 lists the static voters (`controller.quorum.voters`);
//! version 1 (KIP-853's dynamic voters) is read too.
//!
//! A voter that forgot its vote could vote twice in one epoch and elect two leaders; a file it
//! cannot read is therefore a reason to refuse to start, never to start from scratch.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// The quorum-state file's name in `__cluster_metadata-0`.
pub const QUORUM_STATE_FILE: &str = "quorum-state";

/// A voter's durable election state (Kafka's `ElectionState`): one of an elected leader, a
/// vote cast, or neither, in an epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElectionState {
    /// The quorum epoch.
    pub epoch: i32,
    /// The leader elected in `epoch`, if this node knows it.
    pub leader_id: Option<i32>,
    /// The candidate this node voted for in `epoch`, if it voted.
    pub voted_id: Option<i32>,
}

impl ElectionState {
    /// The state of a node that has never taken part in an election.
    pub fn initial() -> Self {
        Self { epoch: 0, leader_id: None, voted_id: None }
    }

    /// The file's text for a quorum with static `voters`: version 0, as Kafka writes it when
    /// `controller.quorum.voters` is set.
    pub fn to_file_text(&self, voters: &BTreeSet<i32>) -> String {
        let data = QuorumStateData {
            cluster_id: Some(String::new()),
            leader_id: self.leader_id.unwrap_or(-1),
            leader_epoch: self.epoch,
            voted_id: self.voted_id.unwrap_or(-1),
            voted_directory_id: None,
            applied_offset: Some(0),
            current_voters: Some(voters.iter().map(|&voter_id| Voter { voter_id }).collect()),
            data_version: 0,
        };
        serde_json::to_string(&data).expect("the quorum state always serialises")
    }

    /// Reads the file's text. `voters` is this node's configured voter set: a version 0 file
    /// naming other voters belongs to another quorum (Kafka refuses it the same way).
    pub fn from_file_text(text: &str, voters: &BTreeSet<i32>) -> Result<Self, String> {
        let data: QuorumStateData = serde_json::from_str(text)
            .map_err(|e| format!("it is not a quorum state Kafka or kafka-lab wrote: {e}"))?;
        if !(0..=1).contains(&data.data_version) {
            return Err(format!(
                "its data_version {} is not one this node reads (0 or 1)",
                data.data_version
            ));
        }
        if data.leader_epoch < 0 {
            return Err(format!("its leaderEpoch {} is negative", data.leader_epoch));
        }
        if let Some(file_voters) = &data.current_voters {
            let file_voters: BTreeSet<i32> = file_voters.iter().map(|v| v.voter_id).collect();
            // Kafka 3.x wrote an empty list on brokers (observers); only a non-empty one is a
            // quorum's voter set.
            if !file_voters.is_empty() && &file_voters != voters {
                return Err(format!(
                    "it names the voters {file_voters:?}, but controller.quorum.voters names \
                     {voters:?}: the file belongs to another quorum"
                ));
            }
        }
        let known = |id: i32| (id >= 0).then_some(id);
        let state = Self {
            epoch: data.leader_epoch,
            leader_id: known(data.leader_id),
            voted_id: known(data.voted_id),
        };
        if state.leader_id.is_some() && state.voted_id.is_some() {
            // Kafka writes a leader or a vote, never both; a file with both was not written
            // by a node keeping KIP-595's rules, and guessing which one holds could vote twice.
            return Err(format!(
                "it records both a leader ({}) and a vote ({}) in epoch {}",
                data.leader_id, data.voted_id, data.leader_epoch
            ));
        }
        Ok(state)
    }
}

/// Kafka's `QuorumStateData` JSON, field for field.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct QuorumStateData {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cluster_id: Option<String>,
    leader_id: i32,
    leader_epoch: i32,
    voted_id: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    voted_directory_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    applied_offset: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    current_voters: Option<Vec<Voter>>,
    #[serde(rename = "data_version")]
    data_version: i16,
}

/// One voter of a version 0 file.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Voter {
    voter_id: i32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn voters() -> BTreeSet<i32> {
        [1, 2, 3].into()
    }

    #[test]
    fn a_state_reads_back_as_written_in_kafkas_format() {
        let state = ElectionState { epoch: 7, leader_id: None, voted_id: Some(2) };
        let text = state.to_file_text(&voters());
        assert_eq!(
            text,
            r#"{"clusterId":"","leaderId":-1,"leaderEpoch":7,"votedId":2,"appliedOffset":0,"currentVoters":[{"voterId":1},{"voterId":2},{"voterId":3}],"data_version":0}"#
        );
        assert_eq!(ElectionState::from_file_text(&text, &voters()), Ok(state));
    }

    #[test]
    fn a_file_kafka_wrote_is_read() {
        // As Kafka 4.1 writes it with kraft.version 1.
        let text = r#"{"leaderId":3,"leaderEpoch":12,"votedId":-1,"votedDirectoryId":"AAAAAAAAAAAAAAAAAAAAAA","data_version":1}"#;
        let state = ElectionState::from_file_text(text, &voters()).unwrap();
        assert_eq!(state, ElectionState { epoch: 12, leader_id: Some(3), voted_id: None });
    }

    #[test]
    fn a_corrupt_or_foreign_file_is_refused_with_the_reason() {
        let torn = r#"{"clusterId":"","leaderId":-1,"leaderEp"#;
        let why = ElectionState::from_file_text(torn, &voters()).unwrap_err();
        assert!(why.contains("not a quorum state"), "{why}");

        let other = ElectionState::initial().to_file_text(&[1, 2, 4].into());
        let why = ElectionState::from_file_text(&other, &voters()).unwrap_err();
        assert!(why.contains("another quorum"), "{why}");

        let both = r#"{"leaderId":1,"leaderEpoch":3,"votedId":2,"data_version":0}"#;
        let why = ElectionState::from_file_text(both, &voters()).unwrap_err();
        assert!(why.contains("both a leader"), "{why}");

        let future = r#"{"leaderId":1,"leaderEpoch":3,"votedId":-1,"data_version":5}"#;
        assert!(ElectionState::from_file_text(future, &voters()).is_err());
    }
}
