//! Assign consumers: each reads every partition from offset 0 by Fetch, recording every poll;
//! and the final reader, which reads every partition to its high watermark after healing.

use std::time::Duration;

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{BrokerId, FetchRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::RecordBatchDecoder;
use kafka_protocol::ResponseError;

use super::connection::Connection;
use super::routing::Router;
use super::{ClientContext, Phase, WorkGuard};
use crate::history::{now_ms, Event, ReadRecord};
use crate::hosts::broker::TOPIC;

const FETCH_VERSION: i16 = 12;

/// One partition's part of a fetch response.
pub struct PartitionFetch {
    /// The node that answered.
    pub node: i32,
    /// The partition.
    pub partition: i32,
    /// Its error code (0: none).
    pub error_code: i16,
    /// The leader's high watermark.
    pub high_watermark: i64,
    /// The records read, with their offsets.
    pub records: Vec<ReadRecord>,
}

/// Every partition at the position in `positions` (indexed by partition).
fn all(positions: &[i64]) -> Vec<(i32, i64)> {
    positions.iter().enumerate().map(|(p, offset)| (p as i32, *offset)).collect()
}

/// Fetches each (partition, offset); `None` if the request got no answer.
pub(super) async fn fetch(
    conn: &mut Connection,
    positions: &[(i32, i64)],
    max_wait_ms: i32,
) -> Option<Vec<PartitionFetch>> {
    let partitions = positions
        .iter()
        .map(|(p, offset)| {
            FetchPartition::default()
                .with_partition(*p)
                .with_fetch_offset(*offset)
                .with_partition_max_bytes(64 * 1024)
        })
        .collect();
    let request = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(1024 * 1024)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_static_str(TOPIC)))
            .with_partitions(partitions)]);
    let response = conn.send(&request, FETCH_VERSION, true).await.ok()??;
    let mut out = Vec::new();
    for topic in response.responses {
        for p in topic.partitions {
            let mut records = Vec::new();
            if let Some(mut bytes) = p.records {
                // A batch that does not decode is reported as what it is: unreadable data.
                match RecordBatchDecoder::decode_all(&mut bytes) {
                    Ok(sets) => {
                        for r in sets.into_iter().flat_map(|s| s.records) {
                            let value = r.value.as_deref().map(String::from_utf8_lossy);
                            records.push((r.offset, value.unwrap_or_default().into_owned()));
                        }
                    }
                    Err(e) => records.push((-1, format!("<undecodable batch: {e}>"))),
                }
            }
            out.push(PartitionFetch {
                node: crate::hosts::broker::node_of(conn.address()),
                partition: p.partition_index,
                error_code: p.error_code,
                high_watermark: p.high_watermark,
                records,
            });
        }
    }
    Some(out)
}

/// Runs assign consumer `name` over every partition until the chaos phase ends.
pub async fn run(ctx: ClientContext, name: String, _work: WorkGuard) -> turmoil::Result {
    let mut router = Router::new(ctx.clone(), name.clone());
    let mut positions = vec![0i64; ctx.partitions as usize];
    while ctx.phase() == Phase::Chaos {
        let start_ms = now_ms();
        let Some(result) = router.fetch(&all(&positions), 200).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        for p in result {
            let Some(position) = positions.get_mut(p.partition as usize) else { continue };
            apply_fetch(&ctx, &name, start_ms, p, position);
        }
    }
    Ok(())
}

/// Applies one partition's fetch result to a consumer's `position`. OFFSET_OUT_OF_RANGE means
/// the log is shorter than the position (a crash cut its tail, lax flush policy):
/// auto.offset.reset=earliest, an explicit reset to 0. Other errors leave the position; data is
/// recorded as a poll.
pub(super) fn apply_fetch(
    ctx: &ClientContext,
    client: &str,
    start_ms: u64,
    p: PartitionFetch,
    position: &mut i64,
) {
    if p.error_code == ResponseError::OffsetOutOfRange.code() {
        ctx.history.push(Event::Reset {
            time_ms: now_ms(),
            client: client.to_owned(),
            partition: p.partition,
            from: *position,
            to: 0,
        });
        *position = 0;
    } else if p.error_code == 0 {
        record_poll(ctx, client, start_ms, p, position);
    }
}

/// Records one partition's fetch result as a poll and advances `position` past it. A fetch
/// returns whole batches, so records before the position are not new.
fn record_poll(
    ctx: &ClientContext,
    client: &str,
    start_ms: u64,
    p: PartitionFetch,
    position: &mut i64,
) {
    let records: Vec<ReadRecord> =
        p.records.into_iter().filter(|(offset, _)| *offset >= *position).collect();
    let fetch_offset = *position;
    if let Some((last, _)) = records.last() {
        *position = last + 1;
    }
    ctx.history.push(Event::Poll {
        start_ms,
        end_ms: now_ms(),
        client: client.to_owned(),
        node: p.node,
        partition: p.partition,
        fetch_offset,
        high_watermark: p.high_watermark,
        records,
    });
}

/// How long a partition's high watermark must stay put, with the final reader at it, before
/// the read counts it whole: a new leader's high watermark lags its predecessor's until every
/// replica of its ISR fetches again — one that stopped fetching holds it until the leader drops
/// it from the ISR after `replica.lag.time.max.ms` (2 s in the simulator), as in Kafka — so the
/// first one it reports may be short. Twice the lag time, with room for the ISR change.
const FINAL_READ_SETTLE_MS: u64 = 4_000;

/// After healing, reads every partition from 0 to its high watermark (retrying through any
/// leftover trouble) until it stays put; records `FinalRead { complete }` and the polls it
/// made.
pub async fn final_read(ctx: ClientContext) -> turmoil::Result {
    let name = "final-reader".to_owned();
    // Requests in flight at heal may still be acknowledged: read only after the last ends.
    while ctx.phase() == Phase::Chaos || !ctx.work_done() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut router = Router::new(ctx.clone(), name.clone());
    let mut positions = vec![0i64; ctx.partitions as usize];
    let mut done = vec![false; ctx.partitions as usize];
    // Per partition: the high watermark the reader reached, and since when.
    let mut reached: Vec<Option<(i64, u64)>> = vec![None; ctx.partitions as usize];
    while done.iter().any(|d| !d) {
        let start_ms = now_ms();
        let asked: Vec<(i32, i64)> =
            all(&positions).into_iter().filter(|(p, _)| !done[*p as usize]).collect();
        let Some(result) = router.fetch(&asked, 0).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        for p in result {
            let i = p.partition as usize;
            if i >= positions.len() || done[i] || p.error_code != 0 {
                continue;
            }
            let high_watermark = p.high_watermark;
            record_poll(&ctx, &name, start_ms, p, &mut positions[i]);
            if positions[i] < high_watermark {
                reached[i] = None;
                continue;
            }
            if ctx.brokers.len() == 1 {
                // One node: its high watermark is the log's, nothing lags it.
                done[i] = true;
                continue;
            }
            match reached[i] {
                Some((hw, since)) if hw == high_watermark => {
                    done[i] = now_ms() >= since + FINAL_READ_SETTLE_MS;
                }
                _ => reached[i] = Some((high_watermark, now_ms())),
            }
        }
        if ctx.brokers.len() > 1 && done.iter().any(|d| !d) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    ctx.history.push(Event::FinalRead { time_ms: now_ms(), complete: true });
    Ok(())
}
