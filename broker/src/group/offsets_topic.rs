//! Codec for `__consumer_offsets` records, byte-compatible with Apache Kafka's own
//! (`OffsetCommitKey/Value`, `GroupMetadataKey/Value`) so offset-monitoring tools can read them.
//!
//! Encoding is Kafka's non-flexible ("classic") one: big-endian, an int16 schema version first,
//! strings as int16 length + UTF-8 (-1 = null), bytes as int32 length + data (-1 = null).

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Errors decoding a record.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CodecError {
    /// The buffer ended early.
    #[error("record truncated")]
    Truncated,
    /// A string was not UTF-8.
    #[error("invalid utf-8 in record")]
    Utf8,
    /// A non-nullable field was null.
    #[error("unexpected null field")]
    UnexpectedNull,
    /// Unknown key or value schema version.
    #[error("unsupported record version {0}")]
    UnsupportedVersion(i16),
}

type Result<T> = std::result::Result<T, CodecError>;

/// Key version written for offset commits (Kafka writes 1; 0 is read too).
pub const OFFSET_COMMIT_KEY_VERSION: i16 = 1;
/// Value version written for offset commits (what Kafka 2.1+ writes).
pub const OFFSET_COMMIT_VALUE_VERSION: i16 = 3;
/// Key version of group metadata records.
pub const GROUP_METADATA_KEY_VERSION: i16 = 2;
/// Value version written for group metadata (version 4 is flexible; 3 is the last classic one).
pub const GROUP_METADATA_VALUE_VERSION: i16 = 3;

/// A decoded `__consumer_offsets` key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordKey {
    /// `OffsetCommitKey` (versions 0-1).
    Offset(OffsetKey),
    /// `GroupMetadataKey` (version 2).
    Group(String),
}

/// `OffsetCommitKey`: which group/topic/partition an offset belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetKey {
    /// Group id.
    pub group: String,
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
}

/// `OffsetCommitValue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetValue {
    /// Committed offset.
    pub offset: i64,
    /// Leader epoch of the committed offset, -1 if unknown.
    pub leader_epoch: i32,
    /// Client-supplied metadata string.
    pub metadata: String,
    /// Wall-clock commit time (ms).
    pub commit_timestamp: i64,
    /// Only present in value version 1; -1 otherwise.
    pub expire_timestamp: i64,
}

/// `GroupMetadataValue`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupMetadataValue {
    /// Protocol type, e.g. "consumer".
    pub protocol_type: String,
    /// Generation id.
    pub generation: i32,
    /// Chosen protocol name; null for an Empty group.
    pub protocol: Option<String>,
    /// Leader member id; null for an Empty group.
    pub leader: Option<String>,
    /// Time of the last state change (ms), -1 before version 2.
    pub current_state_timestamp: i64,
    /// Members of the generation.
    pub members: Vec<MemberMetadataValue>,
}

/// `GroupMetadataValue.MemberMetadata`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemberMetadataValue {
    /// Member id.
    pub member_id: String,
    /// Static membership instance id (version 3+).
    pub group_instance_id: Option<String>,
    /// Client id.
    pub client_id: String,
    /// Client host.
    pub client_host: String,
    /// Rebalance timeout (version 1+; defaults to the session timeout on version 0).
    pub rebalance_timeout: i32,
    /// Session timeout.
    pub session_timeout: i32,
    /// Metadata of the chosen protocol.
    pub subscription: Bytes,
    /// Assignment from the leader.
    pub assignment: Bytes,
}

fn put_string(buf: &mut BytesMut, s: &str) {
    buf.put_i16(s.len() as i16);
    buf.put_slice(s.as_bytes());
}

fn put_nullable_string(buf: &mut BytesMut, s: Option<&str>) {
    match s {
        Some(s) => put_string(buf, s),
        None => buf.put_i16(-1),
    }
}

fn put_bytes(buf: &mut BytesMut, b: &[u8]) {
    buf.put_i32(b.len() as i32);
    buf.put_slice(b);
}

fn need(buf: &impl Buf, n: usize) -> Result<()> {
    if buf.remaining() < n {
        Err(CodecError::Truncated)
    } else {
        Ok(())
    }
}

fn get_i16(buf: &mut Bytes) -> Result<i16> {
    need(buf, 2)?;
    Ok(buf.get_i16())
}

fn get_i32(buf: &mut Bytes) -> Result<i32> {
    need(buf, 4)?;
    Ok(buf.get_i32())
}

fn get_i64(buf: &mut Bytes) -> Result<i64> {
    need(buf, 8)?;
    Ok(buf.get_i64())
}

fn get_nullable_string(buf: &mut Bytes) -> Result<Option<String>> {
    let len = get_i16(buf)?;
    if len < 0 {
        return Ok(None);
    }
    need(buf, len as usize)?;
    let raw = buf.split_to(len as usize);
    String::from_utf8(raw.to_vec()).map(Some).map_err(|_| CodecError::Utf8)
}

fn get_string(buf: &mut Bytes) -> Result<String> {
    get_nullable_string(buf)?.ok_or(CodecError::UnexpectedNull)
}

fn get_bytes(buf: &mut Bytes) -> Result<Bytes> {
    let len = get_i32(buf)?;
    if len < 0 {
        // Kafka never writes null subscription/assignment; treat it as empty.
        return Ok(Bytes::new());
    }
    need(buf, len as usize)?;
    Ok(buf.split_to(len as usize))
}

/// Encodes an `OffsetCommitKey` (version 1).
pub fn encode_offset_key(group: &str, topic: &str, partition: i32) -> Bytes {
    let mut buf = BytesMut::with_capacity(10 + group.len() + topic.len());
    buf.put_i16(OFFSET_COMMIT_KEY_VERSION);
    put_string(&mut buf, group);
    put_string(&mut buf, topic);
    buf.put_i32(partition);
    buf.freeze()
}

/// Encodes a `GroupMetadataKey` (version 2).
pub fn encode_group_key(group: &str) -> Bytes {
    let mut buf = BytesMut::with_capacity(4 + group.len());
    buf.put_i16(GROUP_METADATA_KEY_VERSION);
    put_string(&mut buf, group);
    buf.freeze()
}

/// Decodes either kind of key by its version.
pub fn decode_key(mut buf: Bytes) -> Result<RecordKey> {
    match get_i16(&mut buf)? {
        0 | 1 => Ok(RecordKey::Offset(OffsetKey {
            group: get_string(&mut buf)?,
            topic: get_string(&mut buf)?,
            partition: get_i32(&mut buf)?,
        })),
        2 => Ok(RecordKey::Group(get_string(&mut buf)?)),
        v => Err(CodecError::UnsupportedVersion(v)),
    }
}

/// Encodes an `OffsetCommitValue` (version 3).
pub fn encode_offset_value(v: &OffsetValue) -> Bytes {
    let mut buf = BytesMut::with_capacity(24 + v.metadata.len());
    buf.put_i16(OFFSET_COMMIT_VALUE_VERSION);
    buf.put_i64(v.offset);
    buf.put_i32(v.leader_epoch);
    put_string(&mut buf, &v.metadata);
    buf.put_i64(v.commit_timestamp);
    buf.freeze()
}

/// Decodes an `OffsetCommitValue` of versions 0-3.
pub fn decode_offset_value(mut buf: Bytes) -> Result<OffsetValue> {
    let version = get_i16(&mut buf)?;
    if !(0..=3).contains(&version) {
        return Err(CodecError::UnsupportedVersion(version));
    }
    let offset = get_i64(&mut buf)?;
    let leader_epoch = if version >= 3 { get_i32(&mut buf)? } else { -1 };
    let metadata = get_string(&mut buf)?;
    let commit_timestamp = get_i64(&mut buf)?;
    let expire_timestamp = if version == 1 { get_i64(&mut buf)? } else { -1 };
    Ok(OffsetValue { offset, leader_epoch, metadata, commit_timestamp, expire_timestamp })
}

/// Encodes a `GroupMetadataValue` (version 3).
pub fn encode_group_value(v: &GroupMetadataValue) -> Bytes {
    let mut buf = BytesMut::with_capacity(64);
    buf.put_i16(GROUP_METADATA_VALUE_VERSION);
    put_string(&mut buf, &v.protocol_type);
    buf.put_i32(v.generation);
    put_nullable_string(&mut buf, v.protocol.as_deref());
    put_nullable_string(&mut buf, v.leader.as_deref());
    buf.put_i64(v.current_state_timestamp);
    buf.put_i32(v.members.len() as i32);
    for m in &v.members {
        put_string(&mut buf, &m.member_id);
        put_nullable_string(&mut buf, m.group_instance_id.as_deref());
        put_string(&mut buf, &m.client_id);
        put_string(&mut buf, &m.client_host);
        buf.put_i32(m.rebalance_timeout);
        buf.put_i32(m.session_timeout);
        put_bytes(&mut buf, &m.subscription);
        put_bytes(&mut buf, &m.assignment);
    }
    buf.freeze()
}

/// Decodes a `GroupMetadataValue` of versions 0-3.
pub fn decode_group_value(mut buf: Bytes) -> Result<GroupMetadataValue> {
    let version = get_i16(&mut buf)?;
    if !(0..=3).contains(&version) {
        return Err(CodecError::UnsupportedVersion(version));
    }
    let protocol_type = get_string(&mut buf)?;
    let generation = get_i32(&mut buf)?;
    let protocol = get_nullable_string(&mut buf)?;
    let leader = get_nullable_string(&mut buf)?;
    let current_state_timestamp = if version >= 2 { get_i64(&mut buf)? } else { -1 };
    let count = get_i32(&mut buf)?.max(0);
    let mut members = Vec::new();
    for _ in 0..count {
        let member_id = get_string(&mut buf)?;
        let group_instance_id = if version >= 3 { get_nullable_string(&mut buf)? } else { None };
        let client_id = get_string(&mut buf)?;
        let client_host = get_string(&mut buf)?;
        let rebalance_timeout = if version >= 1 { Some(get_i32(&mut buf)?) } else { None };
        let session_timeout = get_i32(&mut buf)?;
        members.push(MemberMetadataValue {
            member_id,
            group_instance_id,
            client_id,
            client_host,
            rebalance_timeout: rebalance_timeout.unwrap_or(session_timeout),
            session_timeout,
            subscription: get_bytes(&mut buf)?,
            assignment: get_bytes(&mut buf)?,
        });
    }
    Ok(GroupMetadataValue {
        protocol_type,
        generation,
        protocol,
        leader,
        current_state_timestamp,
        members,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_key_and_value_pinned_bytes() {
        let key = encode_offset_key("g", "t", 2);
        assert_eq!(&key[..], &[0, 1, 0, 1, b'g', 0, 1, b't', 0, 0, 0, 2]);
        let value = encode_offset_value(&OffsetValue {
            offset: 0x0102,
            leader_epoch: 5,
            metadata: "m".into(),
            commit_timestamp: 0x0a0b,
            expire_timestamp: -1,
        });
        #[rustfmt::skip]
        let expected: &[u8] = &[
            0, 3,                          // version
            0, 0, 0, 0, 0, 0, 0x01, 0x02,  // offset
            0, 0, 0, 5,                    // leader epoch
            0, 1, b'm',                    // metadata
            0, 0, 0, 0, 0, 0, 0x0a, 0x0b,  // commit timestamp
        ];
        assert_eq!(&value[..], expected);
        assert_eq!(&encode_group_key("g")[..], &[0, 2, 0, 1, b'g']);
    }

    #[test]
    fn round_trips() {
        let key = decode_key(encode_offset_key("group", "topic", 7)).unwrap();
        assert_eq!(
            key,
            RecordKey::Offset(OffsetKey {
                group: "group".into(),
                topic: "topic".into(),
                partition: 7
            })
        );
        assert_eq!(decode_key(encode_group_key("gg")).unwrap(), RecordKey::Group("gg".into()));
        let v = OffsetValue {
            offset: 42,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp: 1_700_000_000_000,
            expire_timestamp: -1,
        };
        assert_eq!(decode_offset_value(encode_offset_value(&v)).unwrap(), v);
        let g = GroupMetadataValue {
            protocol_type: "consumer".into(),
            generation: 3,
            protocol: Some("range".into()),
            leader: Some("c-1".into()),
            current_state_timestamp: 99,
            members: vec![MemberMetadataValue {
                member_id: "c-1".into(),
                group_instance_id: Some("i1".into()),
                client_id: "c".into(),
                client_host: "/10.0.0.1".into(),
                rebalance_timeout: 300_000,
                session_timeout: 45_000,
                subscription: Bytes::from_static(b"sub"),
                assignment: Bytes::from_static(b"asg"),
            }],
        };
        assert_eq!(decode_group_value(encode_group_value(&g)).unwrap(), g);
        let empty = GroupMetadataValue { protocol_type: "consumer".into(), ..Default::default() };
        assert_eq!(decode_group_value(encode_group_value(&empty)).unwrap(), empty);
    }

    #[test]
    fn reads_older_offset_value_versions() {
        // Version 1: offset, metadata, commit timestamp, expire timestamp.
        let mut buf = BytesMut::new();
        buf.put_i16(1);
        buf.put_i64(10);
        put_string(&mut buf, "x");
        buf.put_i64(20);
        buf.put_i64(30);
        let v = decode_offset_value(buf.freeze()).unwrap();
        assert_eq!(
            (v.offset, v.leader_epoch, v.commit_timestamp, v.expire_timestamp),
            (10, -1, 20, 30)
        );
        assert_eq!(decode_offset_value(Bytes::from_static(&[0, 3, 0])), Err(CodecError::Truncated));
        assert_eq!(decode_key(Bytes::from_static(&[0, 9])), Err(CodecError::UnsupportedVersion(9)));
    }
}
