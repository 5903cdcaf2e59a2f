//! Quantiles over the most recent samples: Kafka's request-time histograms (Yammer) keep a
//! reservoir of 1028 samples and report the 50th…99.9th percentiles of it. Here the reservoir is
//! the last 1028 samples exactly (a ring buffer), which keeps the numbers deterministic.

/// The quantiles Kafka's `TotalTimeMs` reports, with the `quantile` label the JMX exporter's
/// Strimzi rules give each (`0.$N` of `<N>thPercentile`).
pub const REPORTED: [(&str, f64); 6] = [
    ("0.50", 0.50),
    ("0.75", 0.75),
    ("0.95", 0.95),
    ("0.98", 0.98),
    ("0.99", 0.99),
    ("0.999", 0.999),
];

/// The last [`RecentSamples::CAPACITY`] values recorded.
#[derive(Debug, Clone, Default)]
pub struct RecentSamples {
    values: Vec<f64>,
    /// Where the next value goes once the buffer is full.
    next: usize,
}

impl RecentSamples {
    /// Samples kept: the size of Kafka's (Yammer's) default reservoir.
    pub const CAPACITY: usize = 1028;

    /// Adds a value, replacing the oldest one when full.
    pub fn record(&mut self, value: f64) {
        if self.values.len() < Self::CAPACITY {
            self.values.push(value);
        } else {
            self.values[self.next] = value;
            self.next = (self.next + 1) % Self::CAPACITY;
        }
    }

    /// Values held (at most [`RecentSamples::CAPACITY`]).
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether nothing was recorded yet.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The `q` quantiles (each in 0..=1) of the held values, interpolated between neighbours as
    /// Yammer's `Snapshot.getValue` does; `None` when empty.
    pub fn quantiles(&self, qs: &[f64]) -> Option<Vec<f64>> {
        if self.values.is_empty() {
            return None;
        }
        let mut sorted = self.values.clone();
        sorted.sort_by(f64::total_cmp);
        Some(qs.iter().map(|q| interpolate(&sorted, *q)).collect())
    }
}

/// Yammer's rule: position `q * (n + 1)`, clamped to the first and last value.
fn interpolate(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    let pos = q * (n as f64 + 1.0);
    if pos < 1.0 {
        return sorted[0];
    }
    if pos >= n as f64 {
        return sorted[n - 1];
    }
    let lower = sorted[pos as usize - 1];
    let upper = sorted[pos as usize];
    lower + (pos - pos.floor()) * (upper - lower)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_as_yammer_does() {
        let mut samples = RecentSamples::default();
        assert_eq!(samples.quantiles(&[0.5]), None);
        for v in [5.0, 1.0, 4.0, 2.0, 3.0] {
            samples.record(v);
        }
        // n = 5: the median sits at position 3 (the third value); 0.75 at 4.5, between 4 and 5.
        assert_eq!(samples.quantiles(&[0.5, 0.75, 0.1, 0.999]), Some(vec![3.0, 4.5, 1.0, 5.0]));
    }

    #[test]
    fn only_the_last_1028_values_count() {
        let mut samples = RecentSamples::default();
        // 1028 slow requests, then 1028 fast ones: the slow ones are gone.
        for _ in 0..RecentSamples::CAPACITY {
            samples.record(1000.0);
        }
        for i in 0..RecentSamples::CAPACITY {
            samples.record(i as f64 % 10.0);
        }
        assert_eq!(samples.len(), RecentSamples::CAPACITY);
        let all: Vec<f64> = REPORTED.iter().map(|(_, q)| *q).collect();
        let got = samples.quantiles(&all).unwrap();
        assert!(got.iter().all(|v| *v <= 9.0), "{got:?}");
        // One more slow request replaces the oldest fast one and becomes the maximum.
        samples.record(500.0);
        assert_eq!(samples.quantiles(&[1.0]), Some(vec![500.0]));
        assert_eq!(samples.len(), RecentSamples::CAPACITY);
    }
}
