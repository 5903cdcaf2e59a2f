//! Burrow-style evaluation of a consumer group, partition by partition, over a sliding window of
//! the group's committed offsets as seen at each poll.
//!
//! OffsetFetch carries no commit time, so the window holds one observation per poll (committed
//! offset, lag) rather than one per commit. Burrow's rules, adapted to that (checked in order,
//! once the window is full; before that a partition is OK unless it rewound):
//!
//! - **REWIND**: the committed offset moved backwards inside the window.
//! - **OK**: the lag was zero at some point in the window (Burrow's rule 1).
//! - **STOP**: the offset did not move across the window, lag > 0, and the group has no members:
//!   nobody is consuming (Burrow: commits stopped).
//! - **STALL**: the offset did not move, lag > 0, while the group has members: consumers are
//!   there but not progressing.
//! - **WARN**: the offset moves but the lag grew at every step: the consumer is falling behind.
//! - **OK** otherwise.
//!
//! A group is ERR if any partition is STOP, STALL or REWIND, else WARN if any is WARN, else OK.
//! Pure: no clock, no Kafka.

use std::collections::VecDeque;

use serde::Serialize;

/// A partition's or a group's evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Ok,
    Warn,
    Err,
    Stop,
    Stall,
    Rewind,
}

impl Status {
    /// Every status, in the order the status metric lists them.
    pub const ALL: [Status; 6] =
        [Status::Ok, Status::Warn, Status::Err, Status::Stop, Status::Stall, Status::Rewind];

    /// Burrow's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Warn => "WARN",
            Status::Err => "ERR",
            Status::Stop => "STOP",
            Status::Stall => "STALL",
            Status::Rewind => "REWIND",
        }
    }

    /// Numeric code for the status gauge: 0 OK … 5 REWIND (Burrow's order, OK=0 not 1).
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// One observation of a group's partition: committed offset and lag at a poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation {
    pub offset: i64,
    pub lag: i64,
}

/// The last `capacity` observations of one group partition.
#[derive(Debug, Clone)]
pub struct Window {
    observations: VecDeque<Observation>,
    capacity: usize,
}

impl Window {
    /// An empty window of `capacity` observations (at least 2).
    pub fn new(capacity: usize) -> Self {
        Window { observations: VecDeque::new(), capacity: capacity.max(2) }
    }

    /// Adds the latest observation, dropping the oldest when full.
    pub fn push(&mut self, observation: Observation) {
        self.observations.push_back(observation);
        while self.observations.len() > self.capacity {
            self.observations.pop_front();
        }
    }

    /// Evaluates the window; `has_members` says whether the group has live members now.
    pub fn evaluate(&self, has_members: bool) -> Status {
        let obs: Vec<Observation> = self.observations.iter().copied().collect();
        if obs.windows(2).any(|w| w[1].offset < w[0].offset) {
            return Status::Rewind;
        }
        if obs.len() < self.capacity || obs.iter().any(|o| o.lag == 0) {
            return Status::Ok;
        }
        let first = obs[0];
        if obs.iter().all(|o| o.offset == first.offset) {
            return if has_members { Status::Stall } else { Status::Stop };
        }
        if obs.windows(2).all(|w| w[1].lag > w[0].lag) {
            return Status::Warn;
        }
        Status::Ok
    }
}

/// A group's status from its partitions' statuses.
pub fn group_status(partitions: impl IntoIterator<Item = Status>) -> Status {
    let mut worst = Status::Ok;
    for s in partitions {
        match s {
            Status::Stop | Status::Stall | Status::Rewind | Status::Err => return Status::Err,
            Status::Warn => worst = Status::Warn,
            Status::Ok => {}
        }
    }
    worst
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds (offset, lag) pairs into a 5-wide window and evaluates it.
    fn eval(history: &[(i64, i64)], has_members: bool) -> Status {
        let mut w = Window::new(5);
        for &(offset, lag) in history {
            w.push(Observation { offset, lag });
        }
        w.evaluate(has_members)
    }

    #[test]
    fn ok_when_lag_touches_zero() {
        assert_eq!(eval(&[(10, 5), (20, 0), (30, 8), (35, 9), (40, 12)], true), Status::Ok);
    }

    #[test]
    fn ok_when_keeping_up_with_some_lag() {
        assert_eq!(eval(&[(10, 5), (20, 7), (30, 4), (40, 6), (50, 5)], true), Status::Ok);
    }

    #[test]
    fn warn_when_lag_grows_at_every_step() {
        assert_eq!(eval(&[(10, 5), (20, 7), (30, 9), (40, 15), (50, 20)], true), Status::Warn);
    }

    #[test]
    fn stall_when_members_do_not_progress() {
        assert_eq!(eval(&[(10, 5), (10, 7), (10, 9), (10, 9), (10, 12)], true), Status::Stall);
    }

    #[test]
    fn stop_when_nobody_consumes() {
        assert_eq!(eval(&[(10, 5), (10, 7), (10, 9), (10, 9), (10, 12)], false), Status::Stop);
    }

    #[test]
    fn rewind_when_offset_goes_back() {
        assert_eq!(eval(&[(10, 5), (20, 0), (5, 15)], true), Status::Rewind);
    }

    #[test]
    fn not_judged_before_the_window_fills() {
        assert_eq!(eval(&[(10, 5), (10, 7), (10, 9)], false), Status::Ok);
    }

    #[test]
    fn old_observations_slide_out() {
        // The zero lag at the start slides out; what remains is a stall.
        assert_eq!(
            eval(&[(10, 0), (10, 3), (10, 4), (10, 5), (10, 6), (10, 7)], true),
            Status::Stall
        );
    }

    #[test]
    fn group_is_err_on_any_error_partition_else_warn_else_ok() {
        assert_eq!(group_status([Status::Ok, Status::Warn, Status::Stall]), Status::Err);
        assert_eq!(group_status([Status::Rewind]), Status::Err);
        assert_eq!(group_status([Status::Ok, Status::Warn]), Status::Warn);
        assert_eq!(group_status([Status::Ok, Status::Ok]), Status::Ok);
        assert_eq!(group_status([]), Status::Ok);
    }
}
