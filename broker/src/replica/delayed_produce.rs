//! The acks=all wait, after Kafka's `DelayedProduce`: a Produce whose records are appended on
//! the leader is answered once, for every partition it appended to, the high watermark passed
//! its records (Kafka's `checkEnoughReplicasReachOffset`: NOT_ENOUGH_REPLICAS_AFTER_APPEND if
//! the ISR fell below `min.insync.replicas` meanwhile), the replica stopped leading
//! (NOT_LEADER_OR_FOLLOWER), or the request's timeout passed (REQUEST_TIMED_OUT for the
//! partitions not satisfied). Woken by each partition's changes
//! ([`Partition::changed_notified`]), never by polling.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::error::ResponseError;

use super::Partition;
use crate::error::ApiError;

/// One partition of a waiting Produce.
#[derive(Debug, Clone)]
pub struct ProducePartitionStatus {
    /// The partition appended to.
    pub partition: Arc<Partition>,
    /// The offset after the append's last record: the high watermark must reach it.
    pub required_offset: i64,
    /// The topic's `min.insync.replicas` at the append.
    pub min_insync_replicas: i64,
}

/// Waits until every partition of `statuses` is satisfied or `timeout` passes; one result per
/// partition, in order: `Ok` when acknowledged, the error otherwise.
pub async fn wait_for_acks(
    statuses: &[ProducePartitionStatus],
    timeout: Duration,
) -> Vec<Result<(), ApiError>> {
    // Test-only fault (tests/failover.rs must catch it): acknowledged at the leader's local
    // append, as acks=1 would be, so a leader dying before its followers fetched loses what
    // it acknowledged.
    if cfg!(feature = "fault-ack-before-isr") {
        return vec![Ok(()); statuses.len()];
    }
    let deadline = crate::runtime::now() + timeout;
    let mut results: Vec<Option<Result<(), ApiError>>> = vec![None; statuses.len()];
    'partitions: for (status, result) in statuses.iter().zip(results.iter_mut()) {
        loop {
            // Registered before the check: a change between the two wakes the wait below.
            let changed = status.partition.changed_notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if let Some(done) = check(status) {
                *result = Some(done);
                break;
            }
            // `biased`: an unbiased select draws from tokio's thread-local RNG, which the
            // simulator cannot seed.
            tokio::select! {
                biased;
                _ = &mut changed => {}
                _ = crate::runtime::sleep_until(deadline) => break 'partitions,
            }
        }
    }
    // At the deadline: what is satisfied by now counts, the rest timed out.
    statuses
        .iter()
        .zip(results)
        .map(|(status, result)| {
            result.or_else(|| check(status)).unwrap_or_else(|| {
                Err(ApiError::new(
                    ResponseError::RequestTimedOut,
                    format!(
                        "{}-{}: the high watermark did not reach offset {} within {} ms",
                        status.partition.topic(),
                        status.partition.partition(),
                        status.required_offset,
                        timeout.as_millis()
                    ),
                ))
            })
        })
        .collect()
}

/// `Some` once `status` is decided (acknowledged or failed).
fn check(status: &ProducePartitionStatus) -> Option<Result<(), ApiError>> {
    match status
        .partition
        .check_enough_replicas_reach_offset(status.required_offset, status.min_insync_replicas)
    {
        Ok(true) => Some(Ok(())),
        Ok(false) => None,
        Err(e) => Some(Err(e)),
    }
}
