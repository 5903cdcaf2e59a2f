//! Exercise `quotas`: alice's producer_byte_rate limited to 1 MiB/s. The checker produces as
//! alice for a few seconds and compares the measured rate and librdkafka's reported throttle
//! time with the quota; bob, reading, must not be throttled.

use std::time::Duration;

use super::{acls, reachable};
use crate::admin_ops;
use crate::client::{self, Access};
use crate::{Lab, Phase, Report, Solution};

/// How long alice produces.
pub const PRODUCE_FOR: Duration = Duration::from_secs(8);
/// Record value size while measuring.
const RECORD_BYTES: usize = 16 * 1024;
/// Kafka measures a quota over `quota.window.num` (11) samples of `quota.window.size.seconds`
/// (1), counting a young window as at least 10 s long: a client that was idle may send about
/// 10 s worth of quota at once before it is throttled. Over `PRODUCE_FOR` the rate can therefore
/// reach quota × (8 + 10) / 8, plus one request; unthrottled, it is tens of times the quota.
const BURST_SECONDS: f64 = 10.0;

/// The highest rate a quota of `quota` bytes/s lets through over `PRODUCE_FOR`, with 10 %
/// for the request in flight.
fn ceiling(quota: f64) -> f64 {
    let seconds = PRODUCE_FOR.as_secs_f64();
    quota * (seconds + BURST_SECONDS) / seconds * 1.1
}

fn mib(bytes_per_second: f64) -> String {
    format!("{:.2} MiB/s", bytes_per_second / 1_048_576.0)
}

/// The `kafka-lab configs` command that sets alice's quota.
pub fn quota_command(lab: &Lab) -> String {
    format!(
        "kafka-lab configs --bootstrap-server {} --command-config {} --alter --add-config \
         'producer_byte_rate={}' --entity-type users --entity-name alice",
        lab.config.listeners.sasl_ssl,
        lab.properties_file(&lab.config.admin.name).display(),
        lab.config.producer_byte_rate
    )
}

pub fn check(lab: &Lab) -> Report {
    let mut report = Report::default();
    if !reachable(&mut report, lab, "SASL_SSL", &lab.config.listeners.sasl_ssl) {
        return report;
    }
    let topic = lab.config.topic.as_str();
    let quota = lab.config.producer_byte_rate as f64;
    let alice = Access::user(lab, "alice");
    let measured = match client::produce_for(&alice, topic, PRODUCE_FOR, RECORD_BYTES) {
        Ok(measured) => measured,
        Err(e) => {
            report.fail(
                format!("user alice could not produce to topic {topic}: {e}"),
                "finish the users and acls exercises first (kafka-lab lab check acls)",
            );
            return report;
        }
    };
    let rate = measured.bytes_per_second;
    let throttled = measured.max_throttle_ms > 0;
    if rate > ceiling(quota) {
        report.fail(
            format!(
                "user alice produced {} for {:?}, more than a quota of {} allows ({}), throttle time {} ms",
                mib(rate),
                PRODUCE_FOR,
                mib(quota),
                mib(ceiling(quota)),
                measured.max_throttle_ms
            ),
            format!("set the quota: {}", quota_command(lab)),
        );
    } else {
        report.pass(format!(
            "user alice produced {} over {:?}, within what a quota of {} allows ({})",
            mib(rate),
            PRODUCE_FOR,
            mib(quota),
            mib(ceiling(quota))
        ));
    }
    report.expect(
        throttled,
        format!("librdkafka reported alice throttled for up to {} ms", measured.max_throttle_ms),
        "librdkafka reported no throttle time for alice",
        "the broker answered every produce with throttle_time_ms 0, so no producer_byte_rate quota applies to User:alice",
    );
    // bob reads what alice wrote; only alice has a quota.
    let bob = Access::user(lab, "bob");
    // Half a MiB: one fetch, so a throttle shows in its response without a long wait.
    let records = ((rate * PRODUCE_FOR.as_secs_f64() / RECORD_BYTES as f64) as usize).clamp(1, 32);
    match client::consume(&bob, topic, None, records) {
        Ok(read) if read.max_throttle_ms == 0 => report.pass(format!(
            "user bob read {records} records at {}, not throttled",
            mib(read.bytes_per_second)
        )),
        Ok(read) => report.fail(
            format!("user bob was throttled for up to {} ms while reading", read.max_throttle_ms),
            "only alice gets a quota: remove bob's (or the default users') quota with \
             kafka-lab configs --alter --delete-config consumer_byte_rate --entity-type users --entity-name bob",
        ),
        Err(e) => report.fail(
            format!("user bob could not read topic {topic}: {e}"),
            "bob needs ALLOW Read on the topic (acls exercise)",
        ),
    }
    report
}

pub fn solve(lab: &Lab, phase: Phase) -> anyhow::Result<Solution> {
    let mut solution = acls::solve(lab, phase)?;
    if phase == Phase::Admin {
        admin_ops::set_user_quota(
            &super::users::admin_target(lab),
            "alice",
            "producer_byte_rate",
            lab.config.producer_byte_rate as f64,
        )?;
        solution.actions.push(format!(
            "set producer_byte_rate={} for user alice (AlterClientQuotas)",
            lab.config.producer_byte_rate
        ));
    }
    Ok(solution)
}
