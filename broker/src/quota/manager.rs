//! Quota enforcement: per-sensor rates, Kafka's throttle time, and the response field that
//! tells the client how long it is throttled (KIP-219).

use std::collections::BTreeMap;
use std::sync::Mutex;

use kafka_protocol::messages::ResponseKind;

use super::image::{ClientQuotaImage, MetricTags, QuotaType};
use super::rate::SampledRate;

/// Sensors idle this long are dropped, as Kafka expires quota sensors after an hour.
const SENSOR_EXPIRY_MS: i64 = 3_600_000;

/// The rates of every sensor that has a quota, keyed by quota type and metric tags.
pub struct QuotaManager {
    window_num: usize,
    window_ms: i64,
    sensors: Mutex<Sensors>,
}

#[derive(Default)]
struct Sensors {
    rates: BTreeMap<(QuotaType, MetricTags), Sensor>,
    last_purge_ms: i64,
}

/// Kafka's quota sensors of one entity and quota type: the measured rate and the throttle
/// times given (`throttle-time`, an average over the same windows).
struct Sensor {
    rate: SampledRate,
    throttle_ms: SampledRate,
}

/// What one sensor reports to the metrics endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct SensorSnapshot {
    /// Which quota the sensor measures.
    pub quota: QuotaType,
    /// The entity's metric tags (`user`, `client-id`).
    pub tags: MetricTags,
    /// The measured rate: bytes/s for Produce and Fetch, percent of a thread for Request.
    pub rate: f64,
    /// Average throttle time given, in ms, over the live windows (0 when none was given).
    pub throttle_time_ms: f64,
}

impl QuotaManager {
    /// A manager measuring over `window_num` samples of `window_ms` each
    /// (`quota.window.num`, `quota.window.size.seconds`).
    pub fn new(window_num: usize, window_ms: i64) -> Self {
        QuotaManager { window_num, window_ms, sensors: Mutex::new(Sensors::default()) }
    }

    /// Records `value` for a client and returns how long it must be throttled (0 when within
    /// its quota or without one): Kafka's `(observed - quota) / quota * window`, the window
    /// being the span the rate is measured over. Request-time throttles are capped at one
    /// sample window, as Kafka caps them.
    pub fn record(
        &self,
        image: &ClientQuotaImage,
        quota: QuotaType,
        user: &str,
        client_id: &str,
        value: f64,
        now_ms: i64,
    ) -> i64 {
        let Some((tags, bound)) = image.resolve(quota, user, client_id) else { return 0 };
        let mut sensors = self.sensors.lock().expect("quota sensors lock poisoned");
        if now_ms - sensors.last_purge_ms > 60_000 {
            sensors.rates.retain(|_, s| now_ms - s.rate.last_start_ms() < SENSOR_EXPIRY_MS);
            sensors.last_purge_ms = now_ms;
        }
        let (num, window) = (self.window_num, self.window_ms);
        let sensor = sensors.rates.entry((quota, tags)).or_insert_with(|| Sensor {
            rate: SampledRate::new(num, window, now_ms),
            throttle_ms: SampledRate::new(num, window, now_ms),
        });
        let rate = &mut sensor.rate;
        rate.record(value, now_ms);
        let observed = rate.measure(now_ms);
        if observed <= bound {
            return 0;
        }
        let throttle =
            ((observed - bound) / bound * rate.window_size_ms(now_ms) as f64).round() as i64;
        match quota {
            QuotaType::Request => throttle.min(self.window_ms),
            _ => throttle,
        }
    }

    /// Takes back a recorded value: a throttled Fetch is answered without data, so its bytes
    /// were never sent.
    pub fn unrecord(
        &self,
        image: &ClientQuotaImage,
        quota: QuotaType,
        user: &str,
        client_id: &str,
        value: f64,
        now_ms: i64,
    ) {
        self.with_sensor(image, quota, user, client_id, |s| s.rate.record(-value, now_ms));
    }

    /// Records a throttle time given for `quota` (Kafka records only the quota that decided
    /// the throttle, and only when there is one).
    pub fn record_throttle_time(
        &self,
        image: &ClientQuotaImage,
        quota: QuotaType,
        user: &str,
        client_id: &str,
        ms: i64,
        now_ms: i64,
    ) {
        self.with_sensor(image, quota, user, client_id, |s| {
            s.throttle_ms.record(ms as f64, now_ms)
        });
    }

    /// Applies `update` to the existing sensor of the entity `quota` resolves to, if any.
    fn with_sensor(
        &self,
        image: &ClientQuotaImage,
        quota: QuotaType,
        user: &str,
        client_id: &str,
        update: impl FnOnce(&mut Sensor),
    ) {
        let Some((tags, _)) = image.resolve(quota, user, client_id) else { return };
        let mut sensors = self.sensors.lock().expect("quota sensors lock poisoned");
        if let Some(sensor) = sensors.rates.get_mut(&(quota, tags)) {
            update(sensor);
        }
    }

    /// Every sensor's rate and average throttle time at `now_ms`, in (quota, tags) order.
    pub fn snapshot(&self, now_ms: i64) -> Vec<SensorSnapshot> {
        let mut sensors = self.sensors.lock().expect("quota sensors lock poisoned");
        sensors
            .rates
            .iter_mut()
            .map(|((quota, tags), sensor)| SensorSnapshot {
                quota: *quota,
                tags: tags.clone(),
                rate: sensor.rate.measure(now_ms),
                throttle_time_ms: sensor.throttle_ms.average(now_ms).unwrap_or(0.0),
            })
            .collect()
    }
}

/// Sets `throttle_time_ms` on any response that has the field (versions without it leave it
/// out when encoding). Returns false for the few responses without one (SASL).
pub fn set_throttle_time_ms(response: &mut ResponseKind, ms: i32) -> bool {
    macro_rules! set {
        ($($kind:ident),* $(,)?) => {
            match response {
                $(ResponseKind::$kind(r) => {
                    r.throttle_time_ms = ms;
                    true
                })*
                _ => false,
            }
        };
    }
    set!(
        Produce,
        Fetch,
        ListOffsets,
        Metadata,
        OffsetCommit,
        OffsetFetch,
        FindCoordinator,
        JoinGroup,
        Heartbeat,
        LeaveGroup,
        SyncGroup,
        DescribeGroups,
        ListGroups,
        ApiVersions,
        CreateTopics,
        DeleteTopics,
        DeleteRecords,
        InitProducerId,
        OffsetForLeaderEpoch,
        DescribeConfigs,
        AlterConfigs,
        CreatePartitions,
        DeleteGroups,
        IncrementalAlterConfigs,
        OffsetDelete,
        DescribeCluster,
        DescribeClientQuotas,
        AlterClientQuotas,
        DescribeUserScramCredentials,
        AlterUserScramCredentials,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quota::image::{ClientQuotaEntity, EntityName, QuotaValue};

    fn image_with(user: &str, key: &str, value: f64) -> ClientQuotaImage {
        let mut image = ClientQuotaImage::default();
        let entity =
            ClientQuotaEntity { user: Some(EntityName::Name(user.into())), client_id: None };
        image.apply(&entity, key, Some(QuotaValue(value)));
        image
    }

    #[test]
    fn throttle_time_is_kafkas_formula() {
        let image = image_with("alice", "producer_byte_rate", 1000.0);
        let quotas = QuotaManager::new(11, 1000);
        // 10,000 bytes over the minimum 10 s window is exactly the quota: no throttle.
        assert_eq!(quotas.record(&image, QuotaType::Produce, "alice", "c", 10_000.0, 0), 0);
        // 5,000 more: 1,500/s observed, (1500 - 1000) / 1000 * 10,000 ms = 5,000 ms.
        assert_eq!(quotas.record(&image, QuotaType::Produce, "alice", "c", 5_000.0, 0), 5_000);
        // Other users have no quota; another client of alice shares her sensor.
        assert_eq!(quotas.record(&image, QuotaType::Produce, "bob", "c", 1e9, 0), 0);
        assert!(quotas.record(&image, QuotaType::Produce, "alice", "other", 1.0, 0) > 0);
    }

    #[test]
    fn request_throttles_are_capped_at_one_window_and_unrecord_takes_back() {
        let image = image_with("alice", "request_percentage", 1.0);
        let quotas = QuotaManager::new(11, 1000);
        assert_eq!(quotas.record(&image, QuotaType::Request, "alice", "c", 500.0, 0), 1000);
        let image = image_with("alice", "consumer_byte_rate", 100.0);
        assert!(quotas.record(&image, QuotaType::Fetch, "alice", "c", 5_000.0, 0) > 0);
        quotas.unrecord(&image, QuotaType::Fetch, "alice", "c", 5_000.0, 0);
        assert_eq!(quotas.record(&image, QuotaType::Fetch, "alice", "c", 0.0, 0), 0);
    }

    #[test]
    fn sensors_report_their_rate_and_average_throttle() {
        let image = image_with("alice", "producer_byte_rate", 1000.0);
        let quotas = QuotaManager::new(11, 1000);
        assert!(quotas.snapshot(0).is_empty());
        let throttle = quotas.record(&image, QuotaType::Produce, "alice", "c", 15_000.0, 0);
        quotas.record_throttle_time(&image, QuotaType::Produce, "alice", "c", throttle, 0);
        quotas.record_throttle_time(&image, QuotaType::Produce, "alice", "c", 1_000, 0);
        let snapshot = quotas.snapshot(0);
        assert_eq!(snapshot.len(), 1);
        let sensor = &snapshot[0];
        assert_eq!(
            (sensor.quota, sensor.tags.user.as_str(), sensor.tags.client_id.as_str()),
            (QuotaType::Produce, "alice", "")
        );
        assert_eq!(sensor.rate, 1500.0);
        assert_eq!(sensor.throttle_time_ms, (5_000.0 + 1_000.0) / 2.0);
        // After the windows pass, no throttle is averaged in and nothing is measured.
        let later = quotas.snapshot(20_000);
        assert_eq!((later[0].rate, later[0].throttle_time_ms), (0.0, 0.0));
    }
}
