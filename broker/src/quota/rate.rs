//! A rate over sampled windows, as Kafka's `SampledStat`/`Rate` measure quota metrics:
//! `quota.window.num` samples of `quota.window.size.seconds` each; samples older than all the
//! windows together are forgotten; the elapsed time is never taken as less than `num - 1` full
//! windows, so a fresh sensor does not report a huge rate after its first record.

/// One sample: what was recorded since `start_ms`, and how many times.
#[derive(Debug, Clone, Copy)]
struct Sample {
    start_ms: i64,
    value: f64,
    count: u64,
}

/// A windowed rate (value per second) — or, read with [`SampledRate::average`], a windowed
/// average as Kafka's `Avg` (its throttle-time sensors). Time comes from the caller (the
/// broker's clock).
#[derive(Debug, Clone)]
pub struct SampledRate {
    samples: Vec<Sample>,
    current: usize,
    window_ms: i64,
    num: usize,
}

impl SampledRate {
    /// An empty rate whose first sample starts at `now_ms`.
    pub fn new(num: usize, window_ms: i64, now_ms: i64) -> Self {
        let num = num.max(2);
        SampledRate {
            samples: vec![Sample { start_ms: now_ms, value: 0.0, count: 0 }],
            current: 0,
            window_ms: window_ms.max(1),
            num,
        }
    }

    /// Adds `value` at `now_ms`.
    pub fn record(&mut self, value: f64, now_ms: i64) {
        self.purge_obsolete(now_ms);
        if now_ms - self.samples[self.current].start_ms >= self.window_ms {
            self.current = (self.current + 1) % self.num;
            let fresh = Sample { start_ms: now_ms, value: 0.0, count: 0 };
            if self.current >= self.samples.len() {
                self.samples.push(fresh);
            } else {
                self.samples[self.current] = fresh;
            }
        }
        self.samples[self.current].value += value;
        self.samples[self.current].count += 1;
    }

    /// The average of the values recorded in the live samples at `now_ms` (Kafka's `Avg`);
    /// `None` when nothing was recorded in them.
    pub fn average(&mut self, now_ms: i64) -> Option<f64> {
        self.purge_obsolete(now_ms);
        let count: u64 = self.samples.iter().map(|s| s.count).sum();
        let total: f64 = self.samples.iter().map(|s| s.value).sum();
        (count > 0).then(|| total / count as f64)
    }

    /// The rate per second at `now_ms`.
    pub fn measure(&mut self, now_ms: i64) -> f64 {
        self.purge_obsolete(now_ms);
        let total: f64 = self.samples.iter().map(|s| s.value).sum();
        total / (self.window_size_ms(now_ms) as f64 / 1000.0)
    }

    /// The span the rate is measured over at `now_ms`, as Kafka's `Rate.windowSize`: from the
    /// oldest sample's start, but at least `num - 1` full windows.
    pub fn window_size_ms(&self, now_ms: i64) -> i64 {
        let oldest = self.samples.iter().map(|s| s.start_ms).min().unwrap_or(now_ms);
        let mut elapsed = (now_ms - oldest).max(0);
        let full_windows = elapsed / self.window_ms;
        let min_full_windows = self.num as i64 - 1;
        if full_windows < min_full_windows {
            elapsed += (min_full_windows - full_windows) * self.window_ms;
        }
        elapsed
    }

    /// When the last sample started: a sensor idle far longer than its windows can go.
    pub fn last_start_ms(&self) -> i64 {
        self.samples[self.current].start_ms
    }

    fn purge_obsolete(&mut self, now_ms: i64) {
        let expire_age = self.num as i64 * self.window_ms;
        for sample in &mut self.samples {
            if now_ms - sample.start_ms >= expire_age {
                *sample = Sample { start_ms: now_ms, value: 0.0, count: 0 };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_rate_counts_at_least_num_minus_one_windows() {
        let mut rate = SampledRate::new(11, 1000, 0);
        rate.record(10_000.0, 0);
        // 10,000 over the 10 s minimum, not over 0 s.
        assert_eq!(rate.measure(0), 1000.0);
        assert_eq!(rate.window_size_ms(500), 10_500);
        // After 10 full windows the real elapsed time counts.
        rate.record(1_000.0, 5_000);
        assert_eq!(rate.window_size_ms(10_999), 10_999);
        // 11 windows after it started, the first sample is obsolete.
        assert_eq!(rate.measure(11_000), 1_000.0 / 10.0);
    }

    #[test]
    fn old_samples_are_forgotten() {
        let mut rate = SampledRate::new(11, 1000, 0);
        rate.record(1e6, 0);
        for t in 1..=10 {
            rate.record(0.0, t * 1000);
        }
        assert!(rate.measure(10_500) > 0.0);
        // 11 windows after the burst its sample is obsolete.
        assert_eq!(rate.measure(11_000), 0.0);
    }

    #[test]
    fn the_average_covers_the_live_samples_only() {
        let mut avg = SampledRate::new(2, 1000, 0);
        assert_eq!(avg.average(0), None);
        avg.record(100.0, 0);
        avg.record(300.0, 500);
        assert_eq!(avg.average(500), Some(200.0));
        avg.record(50.0, 1500);
        assert_eq!(avg.average(1500), Some(150.0));
        // Two windows after the first sample started, it is obsolete.
        assert_eq!(avg.average(2000), Some(50.0));
        assert_eq!(avg.average(3500), None);
    }

    #[test]
    fn a_steady_stream_measures_its_rate() {
        let mut rate = SampledRate::new(11, 1000, 0);
        // 100 records of 1,000 per second for 30 s: 100,000/s.
        for ms in (0..30_000).step_by(10) {
            rate.record(1000.0, ms);
        }
        let measured = rate.measure(30_000);
        assert!((measured - 100_000.0).abs() < 10_000.0, "{measured}");
    }
}
