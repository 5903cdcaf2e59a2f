//! Client quotas as Kafka has them: `producer_byte_rate`, `consumer_byte_rate` and
//! `request_percentage` for users, client ids, users + client ids and their defaults.
//!
//! - [`image`]: the configured quotas (part of the metadata image, changed only through
//!   `ClientQuota` metadata records), Kafka's precedence, DescribeClientQuotas' filters.
//! - [`rate`]: rates over `quota.window.num` samples of `quota.window.size.seconds`.
//! - [`manager`]: sensors, throttle times, and `throttle_time_ms` on responses.
//!
//! The path of a throttled request (KIP-219): `server::handle_frame` calls [`enforce`] after
//! the handler; the response goes out at once carrying `throttle_time_ms`, and
//! `server::connection_loop` then reads nothing more from that connection for that long.

pub mod image;
pub mod manager;
pub mod rate;

use std::time::Duration;

use kafka_protocol::messages::{ApiKey, ResponseKind};
use kafka_protocol::protocol::Encodable;

pub use image::{
    ClientQuotaEntity, ClientQuotaImage, EntityName, QuotaType, QuotaValue, CLIENT_ID, USER,
};
pub use manager::{set_throttle_time_ms, QuotaManager, SensorSnapshot};

use crate::broker::Broker;
use crate::handlers::RequestContext;

/// Records what a handled request used against its client's quotas and returns the throttle
/// time in milliseconds (0 when unthrottled). A throttled response carries the time in
/// `throttle_time_ms`; a throttled Fetch is answered without data, as Kafka does, and its
/// bytes are not counted.
pub fn enforce(
    broker: &Broker,
    ctx: &RequestContext,
    request_bytes: usize,
    response: &mut Option<ResponseKind>,
    handling_time: Duration,
) -> i64 {
    if matches!(ctx.api_key, ApiKey::ApiVersions | ApiKey::SaslHandshake | ApiKey::SaslAuthenticate)
    {
        return 0;
    }
    let metadata = broker.metadata();
    let image = metadata.client_quotas();
    if image.is_empty() {
        return 0;
    }
    let now = broker.clock.now_ms();
    let (user, client) = (ctx.principal.name.as_str(), ctx.client_id.as_str());
    // A Fetch response's size is counted, and uncounted again if the fetch is throttled.
    let fetch_bytes = match response.as_ref() {
        Some(ResponseKind::Fetch(fetch)) => fetch.compute_size(ctx.api_version).unwrap_or(0) as f64,
        _ => 0.0,
    };
    let mut throttles = Vec::with_capacity(2);
    match (ctx.api_key, response.as_ref()) {
        (ApiKey::Produce, _) => throttles.push((
            QuotaType::Produce,
            broker.quotas.record(
                image,
                QuotaType::Produce,
                user,
                client,
                request_bytes as f64,
                now,
            ),
        )),
        (ApiKey::Fetch, Some(ResponseKind::Fetch(_))) => {
            let throttle =
                broker.quotas.record(image, QuotaType::Fetch, user, client, fetch_bytes, now);
            throttles.push((QuotaType::Fetch, throttle));
        }
        _ => {}
    }
    // Kafka's unit: percent of one thread, so a rate per second of 100 is one busy thread.
    let percent_seconds = handling_time.as_secs_f64() * 100.0;
    throttles.push((
        QuotaType::Request,
        broker.quotas.record(image, QuotaType::Request, user, client, percent_seconds, now),
    ));
    let Some(&(quota, ms)) = throttles.iter().max_by_key(|(_, ms)| *ms) else { return 0 };
    if ms <= 0 {
        return 0;
    }
    if let Some(ResponseKind::Fetch(fetch)) = response.as_mut() {
        broker.quotas.unrecord(image, QuotaType::Fetch, user, client, fetch_bytes, now);
        fetch.responses.clear();
    }
    if let Some(response) = response.as_mut() {
        set_throttle_time_ms(response, ms.min(i32::MAX as i64) as i32);
    }
    broker.stats.record_throttle(quota, ms);
    broker.quotas.record_throttle_time(image, quota, user, client, ms, now);
    tracing::debug!(
        principal = %ctx.principal,
        client_id = %ctx.client_id,
        quota = quota.key(),
        throttle_time_ms = ms,
        "throttled"
    );
    ms
}
