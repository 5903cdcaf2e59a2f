//! Lag in seconds: a per-partition table of (latest offset, observed-at) points, interpolated at
//! a group's committed offset, as seglo/kafka-lag-exporter does — without its artifacts:
//!
//! - a caught-up consumer (committed ≥ latest) is 0 s, however long producers have been idle;
//! - no division by zero, so never +Inf or NaN;
//! - no extrapolation past the oldest point: a commit older than the table reports the table's
//!   age, a lower bound (the true lag is at least that much);
//! - a partition without a commit has no lag in seconds at all (callers skip it), so it cannot
//!   poison a group's max or sum.
//!
//! Pure: the caller supplies every time (seconds since the epoch, as f64).

use std::collections::VecDeque;

/// The (latest offset, time) points of one partition, oldest first.
///
/// While a partition's latest offset stays the same, only the first and the last observation of
/// that run are kept: the first says when the offset was reached, the last bounds when the next
/// record can have arrived. Idle partitions thus keep two points however long they idle.
#[derive(Debug, Clone)]
pub struct LagTable {
    points: VecDeque<(i64, f64)>,
    capacity: usize,
}

/// How a lag in seconds was obtained.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LagSeconds {
    /// Interpolated between two observations (or 0 when caught up).
    Estimate(f64),
    /// The committed offset is older than every point: at least this many seconds.
    AtLeast(f64),
}

impl LagSeconds {
    /// The number to export (a lower bound for `AtLeast`).
    pub fn value(self) -> f64 {
        match self {
            LagSeconds::Estimate(s) | LagSeconds::AtLeast(s) => s,
        }
    }
}

impl LagTable {
    /// An empty table keeping at most `capacity` points (at least 2).
    pub fn new(capacity: usize) -> Self {
        LagTable { points: VecDeque::new(), capacity: capacity.max(2) }
    }

    /// Records that the partition's latest offset was `offset` at `time`. A smaller offset than
    /// the last one (topic recreated, records deleted and offsets reset) starts the table over.
    pub fn observe(&mut self, offset: i64, time: f64) {
        if let Some(&(last, last_time)) = self.points.back() {
            if offset < last || time < last_time {
                self.points.clear();
            } else if offset == last {
                let run = self.points.len() >= 2 && self.points[self.points.len() - 2].0 == last;
                if run {
                    self.points.back_mut().unwrap().1 = time;
                    return;
                }
            }
        }
        self.points.push_back((offset, time));
        while self.points.len() > self.capacity {
            self.points.pop_front();
        }
    }

    /// The points, oldest first.
    pub fn points(&self) -> impl Iterator<Item = (i64, f64)> + '_ {
        self.points.iter().copied()
    }

    /// Seconds the record at `committed` (the next one the group will read) has waited at `now`.
    /// `None` only when the table is empty.
    pub fn lag_seconds(&self, committed: i64, now: f64) -> Option<LagSeconds> {
        let &(latest, _) = self.points.back()?;
        if committed >= latest {
            return Some(LagSeconds::Estimate(0.0));
        }
        // The record at `committed` arrived between the last point whose latest offset is
        // ≤ committed and the first point whose latest offset is > committed.
        let first_after = self.points.iter().position(|&(o, _)| o > committed)?;
        if first_after == 0 {
            let (_, oldest_time) = self.points[0];
            return Some(LagSeconds::AtLeast((now - oldest_time).max(0.0)));
        }
        let (o1, t1) = self.points[first_after - 1];
        let (o2, t2) = self.points[first_after];
        // o1 ≤ committed < o2, so o2 - o1 ≥ 1: no division by zero.
        let produced_at = t1 + (t2 - t1) * ((committed - o1) as f64 + 1.0) / (o2 - o1) as f64;
        Some(LagSeconds::Estimate((now - produced_at).max(0.0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(points: &[(i64, f64)]) -> LagTable {
        let mut t = LagTable::new(60);
        for &(o, time) in points {
            t.observe(o, time);
        }
        t
    }

    #[test]
    fn caught_up_consumer_is_zero_even_when_producers_idle() {
        let t = table(&[(100, 0.0), (100, 1000.0), (100, 5000.0)]);
        assert_eq!(t.lag_seconds(100, 9000.0), Some(LagSeconds::Estimate(0.0)));
    }

    #[test]
    fn interpolates_between_points() {
        // 10 records per second from t=0 (offset 0) to t=10 (offset 100).
        let t = table(&[(0, 0.0), (100, 10.0), (200, 20.0)]);
        // Record 149 arrived at 15 s (offsets 100..=199 during 10..20 s): lag at 30 s is 15 s.
        let lag = t.lag_seconds(149, 30.0).unwrap();
        assert!((lag.value() - 15.0).abs() < 0.11, "{lag:?}");
        assert!(matches!(lag, LagSeconds::Estimate(_)));
    }

    #[test]
    fn commit_older_than_table_reports_window_age_as_lower_bound() {
        let mut t = LagTable::new(3);
        for (i, o) in [100, 200, 300, 400].into_iter().enumerate() {
            t.observe(o, i as f64 * 10.0);
        }
        // Oldest kept point: (200, 10 s). Commit 50 is older than the table.
        assert_eq!(t.lag_seconds(50, 40.0), Some(LagSeconds::AtLeast(30.0)));
    }

    #[test]
    fn never_infinite_or_nan() {
        let t = table(&[(5, 1.0), (5, 1.0), (6, 1.0)]);
        for c in 0..7 {
            let v = t.lag_seconds(c, 1.0).unwrap().value();
            assert!(v.is_finite() && v >= 0.0, "{c}: {v}");
        }
    }

    #[test]
    fn idle_runs_keep_first_and_last_observation() {
        let t = table(&[(0, 0.0), (10, 1.0), (10, 2.0), (10, 3.0), (10, 50.0), (20, 60.0)]);
        assert_eq!(
            t.points().collect::<Vec<_>>(),
            vec![(0, 0.0), (10, 1.0), (10, 50.0), (20, 60.0)]
        );
        // Record 10 arrived between 50 s (still 10) and 60 s (20): ~51 s, not ~2 s.
        let v = t.lag_seconds(10, 60.0).unwrap().value();
        assert!((v - 9.0).abs() < 0.01, "{v}");
    }

    #[test]
    fn offsets_going_back_restart_the_table() {
        let t = table(&[(100, 0.0), (200, 10.0), (5, 20.0)]);
        assert_eq!(t.points().collect::<Vec<_>>(), vec![(5, 20.0)]);
    }

    #[test]
    fn empty_table_has_no_answer() {
        assert_eq!(LagTable::new(10).lag_seconds(0, 1.0), None);
    }
}
