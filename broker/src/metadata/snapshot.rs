//! Metadata snapshots (KIP-630): the image at a committed offset, written as the records that
//! rebuild it, so a start loads the snapshot and replays only the log after it.
//!
//! Kafka's layout: `<end offset, 20 digits>-<epoch, 10 digits>.checkpoint` in
//! `__cluster_metadata-0/`, holding v2 record batches — a control batch with a
//! `SnapshotHeaderRecord`, the image's records, a control batch with a `SnapshotFooterRecord`.
//! A snapshot is written to `<name>.checkpoint.part`, synced, then renamed: a crash leaves
//! either no snapshot or a whole one, and a `.part` file is an interrupted write.

use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use kafka_protocol::protocol::{Decodable, Encodable};
use kafka_protocol::records::RecordBatchDecoder;

use super::records::{self, MetadataRecord};
use super::MetadataImage;
use crate::internal_records::{encode_batch, encode_control_batch};
use crate::log::{storage_err, LogError};
use crate::storage::Storage;

/// A snapshot's name: every record below `end_offset` is in it; `epoch` is the leader epoch
/// of the last of them (Kafka's `OffsetAndEpoch` snapshot id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SnapshotId {
    /// The offset the log continues at after the snapshot.
    pub end_offset: i64,
    /// The leader epoch of the last record the snapshot contains.
    pub epoch: i32,
}

/// Kafka's control record type of a `SnapshotHeaderRecord` (`ControlRecordType.SNAPSHOT_HEADER`).
const SNAPSHOT_HEADER_CONTROL_TYPE: i16 = 3;
/// Kafka's control record type of a `SnapshotFooterRecord` (`ControlRecordType.SNAPSHOT_FOOTER`).
const SNAPSHOT_FOOTER_CONTROL_TYPE: i16 = 4;
/// Records per data batch: batches of Kafka's default metadata batch size order.
const RECORDS_PER_BATCH: usize = 1000;
const SUFFIX: &str = ".checkpoint";
const PART_SUFFIX: &str = ".checkpoint.part";

impl SnapshotId {
    /// The file name Kafka gives this snapshot.
    pub fn file_name(&self) -> String {
        format!("{:020}-{:010}{SUFFIX}", self.end_offset, self.epoch)
    }

    /// The snapshot id a file name stands for; `None` for any other file.
    pub fn parse(file_name: &str) -> Option<Self> {
        let stem = file_name.strip_suffix(SUFFIX)?;
        let (offset, epoch) = stem.split_once('-')?;
        if offset.len() != 20 || epoch.len() != 10 {
            return None;
        }
        Some(Self { end_offset: offset.parse().ok()?, epoch: epoch.parse().ok()? })
    }
}

/// The snapshots in `dir`, oldest first. Interrupted writes (`.part` files) are removed, with
/// a log line: they never were a snapshot, and the log they summarise is still there.
pub fn list(storage: &dyn Storage, dir: &Path) -> Result<Vec<SnapshotId>, LogError> {
    let names = storage.list_dir(dir).map_err(storage_err(format!("listing {}", dir.display())))?;
    let mut ids = Vec::new();
    for name in names {
        if name.ends_with(PART_SUFFIX) {
            tracing::info!(file = %dir.join(&name).display(), "removing a metadata snapshot whose write was interrupted");
            storage
                .remove_file(&dir.join(&name))
                .map_err(storage_err(format!("removing {}", dir.join(&name).display())))?;
        } else if let Some(id) = SnapshotId::parse(&name) {
            ids.push(id);
        }
    }
    ids.sort();
    Ok(ids)
}

/// The path of snapshot `id` in `dir`.
pub fn path(dir: &Path, id: SnapshotId) -> PathBuf {
    dir.join(id.file_name())
}

/// Up to `max_bytes` of snapshot `id` in `dir` from `position`, and the snapshot's size:
/// what FetchSnapshot serves (unaligned: a chunk may end inside a batch). `None` when there is
/// no such snapshot; an empty chunk when `position` is at or past the end.
pub fn read_chunk(
    storage: &dyn Storage,
    dir: &Path,
    id: SnapshotId,
    position: u64,
    max_bytes: usize,
) -> Result<Option<(u64, Bytes)>, LogError> {
    let file_path = path(dir, id);
    if !storage.exists(&file_path) {
        return Ok(None);
    }
    let ctx = || format!("reading the metadata snapshot {}", file_path.display());
    let file = storage.open(&file_path, false).map_err(storage_err(ctx()))?;
    let size = file.len().map_err(storage_err(ctx()))?;
    let len = size.saturating_sub(position).min(max_bytes as u64) as usize;
    let mut buf = vec![0u8; len];
    if len > 0 {
        file.read_exact_at(position, &mut buf).map_err(storage_err(ctx()))?;
    }
    Ok(Some((size, Bytes::from(buf))))
}

fn part_path(dir: &Path, id: SnapshotId) -> PathBuf {
    dir.join(format!("{:020}-{:010}{PART_SUFFIX}", id.end_offset, id.epoch))
}

/// Writes a chunk of snapshot `id`, fetched from the quorum's leader, at `position` of its
/// `.part` file: the chunk at 0 starts the file anew (an earlier, abandoned download goes), a
/// later one must continue the file where it ends.
pub fn write_chunk(
    storage: &dyn Storage,
    dir: &Path,
    id: SnapshotId,
    position: u64,
    chunk: &[u8],
) -> Result<(), LogError> {
    let part = part_path(dir, id);
    let ctx = || format!("writing the fetched metadata snapshot {}", part.display());
    let mut file = storage.open(&part, true).map_err(storage_err(ctx()))?;
    if position == 0 {
        file.truncate(0).map_err(storage_err(ctx()))?;
    }
    let len = file.len().map_err(storage_err(ctx()))?;
    if len != position {
        return Err(LogError::InvalidRecord(format!(
            "{}: a chunk at position {position}, but {len} bytes are written",
            ctx()
        )));
    }
    file.append(chunk).map_err(storage_err(ctx()))
}

/// Makes the fetched snapshot `id` durable under its name (sync, rename) once it is whole;
/// the records are checked by [`read`] before anything uses them.
pub fn freeze(storage: &dyn Storage, dir: &Path, id: SnapshotId) -> Result<(), LogError> {
    let part = part_path(dir, id);
    let final_path = path(dir, id);
    let ctx = || format!("completing the fetched metadata snapshot {}", final_path.display());
    let mut file = storage.open(&part, false).map_err(storage_err(ctx()))?;
    file.sync().map_err(storage_err(ctx()))?;
    drop(file);
    storage.rename(&part, &final_path).map_err(storage_err(ctx()))
}

/// Snapshot `id`'s size in bytes and the append time of its last record (its header batch's
/// timestamp, Kafka's `lastContainedLogTimestamp`): what retention weighs.
pub fn size_and_timestamp(
    storage: &dyn Storage,
    dir: &Path,
    id: SnapshotId,
) -> Result<(u64, Option<i64>), LogError> {
    let Some((size, head)) = read_chunk(storage, dir, id, 0, crate::log::batch::HEADER_LEN)? else {
        return Ok((0, None));
    };
    let timestamp = crate::log::batch::BatchHeader::parse(&head).ok().map(|h| h.max_timestamp());
    Ok((size, timestamp))
}

/// The bytes of a snapshot of `image` whose last record was appended at `last_timestamp_ms`.
pub fn encode(image: &MetadataImage, last_timestamp_ms: i64) -> Vec<u8> {
    use kafka_protocol::messages::snapshot_footer_record::SnapshotFooterRecord;
    use kafka_protocol::messages::snapshot_header_record::SnapshotHeaderRecord;
    let header = SnapshotHeaderRecord::default()
        .with_version(0)
        .with_last_contained_log_timestamp(last_timestamp_ms);
    let mut out = Vec::new();
    let mut offset = 0i64;
    let mut push = |out: &mut Vec<u8>, mut batch: Vec<u8>, records: i64| {
        // Offsets count up through the file, as Kafka's snapshot writer numbers them.
        batch[..8].copy_from_slice(&offset.to_be_bytes());
        offset += records;
        out.extend_from_slice(&batch);
    };
    push(
        &mut out,
        encode_control_batch(SNAPSHOT_HEADER_CONTROL_TYPE, &message(&header), last_timestamp_ms),
        1,
    );
    let records = image.snapshot_records();
    for chunk in records.chunks(RECORDS_PER_BATCH) {
        let entries: Vec<_> = chunk.iter().map(|r| (None, Some(records::encode(r)))).collect();
        push(&mut out, encode_batch(&entries, last_timestamp_ms).to_vec(), chunk.len() as i64);
    }
    let footer = SnapshotFooterRecord::default().with_version(0);
    push(
        &mut out,
        encode_control_batch(SNAPSHOT_FOOTER_CONTROL_TYPE, &message(&footer), last_timestamp_ms),
        1,
    );
    out
}

fn message(m: &impl Encodable) -> Bytes {
    let mut value = BytesMut::new();
    m.encode(&mut value, 0).expect("a snapshot control record encodes");
    value.freeze()
}

/// Writes snapshot `id` of `image` into `dir` durably (`.part`, sync, rename); returns its size.
pub fn write(
    storage: &dyn Storage,
    dir: &Path,
    id: SnapshotId,
    image: &MetadataImage,
    last_timestamp_ms: i64,
) -> Result<u64, LogError> {
    let bytes = encode(image, last_timestamp_ms);
    let final_path = path(dir, id);
    let part = part_path(dir, id);
    let ctx = || format!("writing the metadata snapshot {}", final_path.display());
    let mut file = storage.open(&part, true).map_err(storage_err(ctx()))?;
    file.truncate(0).map_err(storage_err(ctx()))?;
    file.append(&bytes).map_err(storage_err(ctx()))?;
    file.sync().map_err(storage_err(ctx()))?;
    drop(file);
    storage.rename(&part, &final_path).map_err(storage_err(ctx()))?;
    Ok(bytes.len() as u64)
}

/// The records of snapshot `id` in `dir`, checked whole: every batch's CRC, the header first,
/// the footer last. A snapshot that fails any check is refused with the reason.
pub fn read(
    storage: &dyn Storage,
    dir: &Path,
    id: SnapshotId,
) -> Result<Vec<MetadataRecord>, LogError> {
    let file_path = path(dir, id);
    let ctx = || format!("reading the metadata snapshot {}", file_path.display());
    let file = storage.open(&file_path, false).map_err(storage_err(ctx()))?;
    let mut buf = vec![0u8; file.len().map_err(storage_err(ctx()))? as usize];
    file.read_exact_at(0, &mut buf).map_err(storage_err(ctx()))?;
    decode(Bytes::from(buf)).map_err(|why| {
        LogError::InvalidRecord(format!("metadata snapshot {}: {why}", file_path.display()))
    })
}

/// The records of a snapshot's bytes, or why they are not a whole snapshot.
pub fn decode(mut bytes: Bytes) -> Result<Vec<MetadataRecord>, String> {
    use kafka_protocol::messages::snapshot_header_record::SnapshotHeaderRecord;
    let (mut header_seen, mut footer_seen) = (false, false);
    let mut out = Vec::new();
    while !bytes.is_empty() {
        if footer_seen {
            return Err("records follow the snapshot footer".into());
        }
        let set = RecordBatchDecoder::decode(&mut bytes)
            .map_err(|e| format!("a batch does not decode: {e}"))?;
        for record in set.records {
            if record.control {
                let key = record.key.unwrap_or_default();
                let control_type =
                    if key.len() >= 4 { i16::from_be_bytes([key[2], key[3]]) } else { -1 };
                match control_type {
                    SNAPSHOT_HEADER_CONTROL_TYPE if !header_seen && out.is_empty() => {
                        let mut value = record.value.unwrap_or_default();
                        SnapshotHeaderRecord::decode(&mut value, 0)
                            .map_err(|e| format!("the snapshot header does not decode: {e}"))?;
                        header_seen = true;
                    }
                    SNAPSHOT_FOOTER_CONTROL_TYPE if header_seen => footer_seen = true,
                    other => return Err(format!("unexpected control record of type {other}")),
                }
                continue;
            }
            if !header_seen {
                return Err("the snapshot does not start with a SnapshotHeaderRecord".into());
            }
            let value = record.value.unwrap_or_default();
            out.push(
                records::decode(&value)
                    .map_err(|e| format!("record at offset {} is invalid: {e}", record.offset))?,
            );
        }
    }
    if !footer_seen {
        return Err("the snapshot does not end with a SnapshotFooterRecord (a torn write?)".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::records::PartitionRecord;
    use crate::storage::MemoryStorage;
    use uuid::Uuid;

    /// Every part of an image survives a snapshot: brokers fenced and in controlled shutdown,
    /// partitions mid-reassignment with their epochs, configs, producer ids, a SCRAM deletion
    /// (so a config-file user stays deleted), quotas, ACLs and features.
    #[test]
    fn every_part_of_the_image_survives_a_snapshot() {
        use crate::authorizer::{
            AclBinding, AclOperation, AclPermissionType, PatternType, ResourceType,
        };
        use crate::metadata::records::{
            ConfigResource, PartitionChangeRecord, RegisterBrokerRecord,
        };
        use crate::quota::{ClientQuotaEntity, EntityName, QuotaValue};
        use crate::security::credentials::{ScramCredential, ScramMechanism};
        let broker = |broker_id| {
            MetadataRecord::RegisterBroker(RegisterBrokerRecord {
                broker_id,
                incarnation_id: Uuid::from_u128(broker_id as u128),
                broker_epoch: 10 + broker_id as i64,
                endpoints: vec![],
                features: vec![],
                rack: Some("r1".into()),
                fenced: true,
                in_controlled_shutdown: false,
            })
        };
        let topic_id = Uuid::from_u128(77);
        let mut change = PartitionChangeRecord::new(topic_id, 0);
        change.leader = 2;
        change.isr = Some(vec![2]);
        change.adding_replicas = Some(vec![3]);
        let records = vec![
            MetadataRecord::FeatureLevel { name: "metadata.version".into(), feature_level: 27 },
            broker(1),
            broker(2),
            MetadataRecord::UnfenceBroker { id: 1, epoch: 11 },
            MetadataRecord::UnfenceBroker { id: 2, epoch: 12 },
            MetadataRecord::BrokerRegistrationChange(
                crate::metadata::records::BrokerRegistrationChangeRecord {
                    broker_id: 2,
                    broker_epoch: 12,
                    fenced: 0,
                    in_controlled_shutdown: 1,
                },
            ),
            MetadataRecord::Topic { name: "orders".into(), topic_id },
            MetadataRecord::Partition(PartitionRecord::new(topic_id, 0, vec![1, 2])),
            MetadataRecord::PartitionChange(change),
            MetadataRecord::Config {
                resource: ConfigResource::Topic("orders".into()),
                name: "retention.ms".into(),
                value: Some("1000".into()),
            },
            MetadataRecord::Config {
                resource: ConfigResource::Broker,
                name: "log.retention.ms".into(),
                value: Some("5".into()),
            },
            MetadataRecord::ProducerIds { broker_id: 1, broker_epoch: 11, next_producer_id: 2000 },
            MetadataRecord::UserScramCredential {
                name: "alice".into(),
                mechanism: ScramMechanism::Sha512,
                credential: ScramCredential {
                    salt: b"salt".to_vec(),
                    iterations: 4096,
                    stored_key: vec![1; 64],
                    server_key: vec![2; 64],
                },
            },
            MetadataRecord::RemoveUserScramCredential {
                name: "bob".into(),
                mechanism: ScramMechanism::Sha256,
            },
            MetadataRecord::ClientQuota {
                entity: ClientQuotaEntity {
                    user: Some(EntityName::Name("alice".into())),
                    client_id: Some(EntityName::Default),
                },
                key: "producer_byte_rate".into(),
                value: Some(QuotaValue(1024.5)),
            },
            MetadataRecord::AccessControlEntry {
                id: Uuid::from_u128(9),
                acl: AclBinding {
                    resource_type: ResourceType::Topic,
                    resource_name: "orders".into(),
                    pattern_type: PatternType::Prefixed,
                    principal: "User:alice".into(),
                    host: "*".into(),
                    operation: AclOperation::Write,
                    permission: AclPermissionType::Deny,
                },
            },
        ];
        let mut image = MetadataImage::default();
        for record in &records {
            image.check(record).unwrap();
            image.apply(record);
        }
        let mut rebuilt = MetadataImage::default();
        for record in decode(Bytes::from(encode(&image, 0))).unwrap() {
            rebuilt.check(&record).unwrap();
            rebuilt.apply(&record);
        }
        assert_eq!(rebuilt, image);
    }

    #[test]
    fn file_names_are_kafkas() {
        let id = SnapshotId { end_offset: 1234, epoch: 7 };
        assert_eq!(id.file_name(), "00000000000000001234-0000000007.checkpoint");
        assert_eq!(SnapshotId::parse(&id.file_name()), Some(id));
        assert_eq!(SnapshotId::parse("00000000000000001234.log"), None);
        assert_eq!(SnapshotId::parse("1234-7.checkpoint"), None);
    }

    /// An image written and read back rebuilds the same image; a torn or altered file is
    /// refused with the reason, never half loaded.
    #[test]
    fn a_snapshot_rebuilds_its_image_and_a_damaged_one_is_refused() {
        let mut image = MetadataImage::default();
        for i in 0..2500u128 {
            let topic_id = Uuid::from_u128(i + 1);
            image.apply(&MetadataRecord::Topic { name: format!("t{i}"), topic_id });
            image.apply(&MetadataRecord::Partition(PartitionRecord::new(topic_id, 0, vec![1, 2])));
        }
        let storage = MemoryStorage::new();
        let dir = Path::new("/m");
        storage.create_dir_all(dir).unwrap();
        let id = SnapshotId { end_offset: 5000, epoch: 3 };
        write(&storage, dir, id, &image, 42).unwrap();
        assert_eq!(list(&storage, dir).unwrap(), vec![id]);
        let mut rebuilt = MetadataImage::default();
        for record in read(&storage, dir, id).unwrap() {
            rebuilt.check(&record).unwrap();
            rebuilt.apply(&record);
        }
        assert_eq!(rebuilt, image);

        let bytes = encode(&image, 42);
        let torn = decode(Bytes::copy_from_slice(&bytes[..bytes.len() - 10])).unwrap_err();
        assert!(torn.contains("does not decode") || torn.contains("footer"), "{torn}");
        let mut flipped = bytes.clone();
        let middle = flipped.len() / 2;
        flipped[middle] ^= 0x40;
        let why = decode(Bytes::from(flipped)).unwrap_err();
        assert!(why.contains("does not decode") || why.contains("invalid"), "{why}");
    }
}
