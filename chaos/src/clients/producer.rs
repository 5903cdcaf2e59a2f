//! A producer host: one-record batches with unique values, acks 0/1/all, idempotent or not.
//!
//! A non-idempotent producer never retries (a retry could legitimately duplicate), so its
//! unanswered writes are recorded as indeterminate. An idempotent producer retries the same
//! batch (same producer id, epoch and sequence) until it gets an answer or chaos ends, as the
//! Java client does; OUT_OF_ORDER_SEQUENCE or UNKNOWN_PRODUCER_ID make it start over with a new
//! producer id.

use std::time::Duration;

use bytes::BytesMut;
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{InitProducerIdRequest, ProduceRequest, ProducerId, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use kafka_protocol::ResponseError;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::connection::{Connection, RequestError};
use super::routing::Router;
use super::{ClientContext, Phase, WorkGuard};
use crate::config::AcksMode;
use crate::history::{now_ms, Event, ProduceOutcome};
use crate::hosts::broker::TOPIC;

const PRODUCE_VERSION: i16 = 9;
const INIT_PRODUCER_ID_VERSION: i16 = 4;

/// How a producer writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerSettings {
    /// -1 (all), 0 or 1.
    pub acks: i16,
    /// Sequence numbers and retries (requires acks=all).
    pub idempotent: bool,
}

impl ProducerSettings {
    /// The settings of producer `index` under `mode`: mixed cycles through all+idempotent,
    /// 1, 0, all; `all` alternates all+idempotent and all; `1` is acks=1 throughout.
    pub fn for_index(index: usize, mode: AcksMode) -> Self {
        match (mode, index % 4) {
            (AcksMode::Mixed, 0) | (AcksMode::All, 0 | 2) => Self { acks: -1, idempotent: true },
            (AcksMode::Mixed, 1) | (AcksMode::One, _) => Self { acks: 1, idempotent: false },
            (AcksMode::Mixed, 2) => Self { acks: 0, idempotent: false },
            _ => Self { acks: -1, idempotent: false },
        }
    }
}

struct ProducerIdentity {
    id: i64,
    epoch: i16,
    /// Next sequence per partition.
    sequences: Vec<i32>,
}

/// Runs producer `name` until the chaos phase ends; `_work` is released when it returns.
pub async fn run(
    ctx: ClientContext,
    name: String,
    settings: ProducerSettings,
    seed: u64,
    _work: WorkGuard,
) -> turmoil::Result {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut router = Router::new(ctx.clone(), name.clone());
    let mut identity: Option<ProducerIdentity> = None;
    let mut n = 0u64;
    while ctx.phase() == Phase::Chaos {
        if settings.idempotent && identity.is_none() {
            identity = init_producer_id(router.any(), ctx.partitions).await;
            if identity.is_none() {
                router.rotate();
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        }
        let partition = rng.gen_range(0..ctx.partitions);
        let value = format!("{name}-{n}");
        n += 1;
        let start_ms = now_ms();
        let outcome = loop {
            let batch = encode(&value, identity.as_ref(), partition);
            let outcome = match router.leader(partition).await {
                Some(leader) => {
                    produce(router.connection(&leader), settings.acks, partition, batch).await
                }
                // Nothing was sent: a failure, as librdkafka's local errors are.
                None => ProduceOutcome::Fail { error: "no known leader".to_owned() },
            };
            if moved(&outcome) {
                router.forget(partition);
            }
            let retry = settings.idempotent
                && matches!(outcome, ProduceOutcome::Info { .. })
                && ctx.phase() == Phase::Chaos;
            if !retry {
                break outcome;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        if let Some(id) = identity.as_mut() {
            match &outcome {
                ProduceOutcome::Ok { .. } => id.sequences[partition as usize] += 1,
                // The sequence's fate is unknown or rejected: start over with a new identity.
                _ => identity = None,
            }
        }
        ctx.history.push(Event::Produce {
            start_ms,
            end_ms: now_ms(),
            client: name.clone(),
            partition,
            value,
            acks: settings.acks,
            idempotent: settings.idempotent,
            outcome,
        });
        tokio::time::sleep(Duration::from_millis(rng.gen_range(5..40))).await;
    }
    Ok(())
}

/// Whether the answer says the partition's leader is elsewhere or unreachable: the next send
/// refreshes the metadata first.
fn moved(outcome: &ProduceOutcome) -> bool {
    match outcome {
        ProduceOutcome::Fail { error } => {
            error.starts_with("connect")
                || error == "no known leader"
                || super::routing::STALE_LEADER_ERRORS.iter().any(|e| *error == format!("{e:?}"))
        }
        ProduceOutcome::Info { .. } => true,
        _ => false,
    }
}

async fn init_producer_id(conn: &mut Connection, partitions: i32) -> Option<ProducerIdentity> {
    let request = InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_transaction_timeout_ms(60_000)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    let response = conn.send(&request, INIT_PRODUCER_ID_VERSION, true).await.ok()??;
    (response.error_code == 0).then(|| ProducerIdentity {
        id: response.producer_id.0,
        epoch: response.producer_epoch,
        sequences: vec![0; partitions as usize],
    })
}

fn encode(value: &str, identity: Option<&ProducerIdentity>, partition: i32) -> bytes::Bytes {
    let (producer_id, producer_epoch, sequence) = match identity {
        Some(id) => (id.id, id.epoch, id.sequences[partition as usize]),
        None => (-1, -1, -1),
    };
    let record = Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id,
        producer_epoch,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence,
        timestamp: crate::hosts::broker::EPOCH_MS + now_ms() as i64,
        key: None,
        value: Some(bytes::Bytes::copy_from_slice(value.as_bytes())),
        headers: IndexMap::new(),
    };
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions { version: 2, compression: Compression::None };
    RecordBatchEncoder::encode(&mut buf, [&record], &options).expect("one record encodes");
    buf.freeze()
}

async fn produce(
    conn: &mut Connection,
    acks: i16,
    partition: i32,
    batch: bytes::Bytes,
) -> ProduceOutcome {
    let request =
        ProduceRequest::default().with_acks(acks).with_timeout_ms(5_000).with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_static_str(TOPIC)))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(partition)
                    .with_records(Some(batch))]),
        ]);
    match conn.send(&request, PRODUCE_VERSION, acks != 0).await {
        Ok(None) => ProduceOutcome::Sent,
        Ok(Some(response)) => {
            let answer = response.responses.first().and_then(|t| t.partition_responses.first());
            match answer {
                Some(p) if p.error_code == 0 => ProduceOutcome::Ok { offset: p.base_offset },
                Some(p) => ProduceOutcome::Fail { error: error_name(p.error_code) },
                None => ProduceOutcome::Info { error: "empty produce response".to_owned() },
            }
        }
        Err(RequestError::Connect(e)) => ProduceOutcome::Fail { error: format!("connect: {e}") },
        Err(e) => ProduceOutcome::Info { error: e.to_string() },
    }
}

/// Kafka's name for an error code.
pub fn error_name(code: i16) -> String {
    match ResponseError::try_from_code(code) {
        Some(e) => format!("{e:?}"),
        None => format!("error {code}"),
    }
}
