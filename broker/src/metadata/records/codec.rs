//! Kafka's binary form of a metadata record, as `MetadataRecordSerde` writes it into each
//! record's value: frame version 1, the record type (`apiKey`) and its version as unsigned
//! varints, then the record's flexible-version fields (compact strings and arrays, tagged
//! fields at the end of each structure). The `kafka-protocol` crate has no metadata record
//! types and keeps its primitive encoders private, so the primitives are written here, as
//! Kafka's `ByteUtils` and `Readable`/`Writable` define them.
//!
//! Values written by kafka-lab before this format (one JSON object per record) are still read
//! (`legacy_json.rs`), so an existing data directory keeps its metadata; everything committed
//! now is written in Kafka's form.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use uuid::Uuid;

use super::{
    legacy_json, BrokerEndpoint, BrokerFeature, BrokerRegistrationChangeRecord, ConfigResource,
    MetadataRecord, PartitionChangeRecord, PartitionRecord, RegisterBrokerRecord,
};
use crate::authorizer::{AclBinding, AclOperation, AclPermissionType, PatternType, ResourceType};
use crate::quota::{ClientQuotaEntity, QuotaValue};
use crate::security::credentials::{ScramCredential, ScramMechanism};

/// The only frame version Kafka writes and reads.
const FRAME_VERSION: u32 = 1;
/// Kafka's `ConfigResource.Type` codes.
const CONFIG_RESOURCE_TOPIC: i8 = 2;
const CONFIG_RESOURCE_BROKER: i8 = 4;

/// The record's value in Kafka's binary form.
pub fn encode(record: &MetadataRecord) -> Bytes {
    let (api_key, version) = record.api_key_and_version();
    let mut w = Writer::default();
    w.uvarint(FRAME_VERSION);
    w.uvarint(api_key as u32);
    w.uvarint(version as u32);
    match record {
        MetadataRecord::RegisterBroker(r) => {
            w.i32(r.broker_id);
            if version >= 2 {
                w.bool(false); // IsMigratingZkBroker: never, there is no ZooKeeper here.
            }
            w.uuid(r.incarnation_id);
            w.i64(r.broker_epoch);
            w.uvarint(r.endpoints.len() as u32 + 1);
            for e in &r.endpoints {
                w.string(&e.name);
                w.string(&e.host);
                w.buf.put_u16(e.port);
                w.i16(e.security_protocol);
                w.no_tags();
            }
            w.uvarint(r.features.len() as u32 + 1);
            for f in &r.features {
                w.string(&f.name);
                w.i16(f.min_supported_version);
                w.i16(f.max_supported_version);
                w.no_tags();
            }
            w.nullable_string(r.rack.as_deref());
            w.bool(r.fenced);
            if version >= 1 {
                w.bool(r.in_controlled_shutdown);
            }
            w.no_tags();
        }
        MetadataRecord::UnregisterBroker { broker_id, broker_epoch } => {
            w.i32(*broker_id);
            w.i64(*broker_epoch);
            w.no_tags();
        }
        MetadataRecord::Topic { name, topic_id } => {
            w.string(name);
            w.uuid(*topic_id);
            w.no_tags();
        }
        MetadataRecord::Partition(p) => {
            w.i32(p.partition_id);
            w.uuid(p.topic_id);
            w.i32s(&p.replicas);
            w.i32s(&p.isr);
            w.i32s(&p.removing_replicas);
            w.i32s(&p.adding_replicas);
            w.i32(p.leader);
            w.i32(p.leader_epoch);
            w.i32(p.partition_epoch);
            let mut tags = Tags::default();
            if p.leader_recovery_state != 0 {
                tags.field(0, |w| w.i8(p.leader_recovery_state));
            }
            w.tags(tags);
        }
        MetadataRecord::Config { resource, name, value } => {
            let (kind, resource_name) = match resource {
                ConfigResource::Topic(topic) => (CONFIG_RESOURCE_TOPIC, topic.as_str()),
                ConfigResource::Broker => (CONFIG_RESOURCE_BROKER, ""),
            };
            w.i8(kind);
            w.string(resource_name);
            w.string(name);
            w.nullable_string(value.as_deref());
            w.no_tags();
        }
        MetadataRecord::PartitionChange(c) => {
            w.i32(c.partition_id);
            w.uuid(c.topic_id);
            // Tags in increasing order: isr 0, leader 1, replicas 2, removing 3, adding 4.
            let mut tags = Tags::default();
            if let Some(isr) = &c.isr {
                tags.field(0, |w| w.i32s(isr));
            }
            if c.leader != super::NO_LEADER_CHANGE {
                tags.field(1, |w| w.i32(c.leader));
            }
            let arrays = [(2, &c.replicas), (3, &c.removing_replicas), (4, &c.adding_replicas)];
            for (tag, value) in arrays {
                if let Some(value) = value {
                    tags.field(tag, |w| w.i32s(value));
                }
            }
            if c.leader_recovery_state != -1 {
                tags.field(5, |w| w.i8(c.leader_recovery_state));
            }
            w.tags(tags);
        }
        MetadataRecord::FenceBroker { id, epoch } | MetadataRecord::UnfenceBroker { id, epoch } => {
            w.i32(*id);
            w.i64(*epoch);
            w.no_tags();
        }
        MetadataRecord::RemoveTopic { topic_id } => {
            w.uuid(*topic_id);
            w.no_tags();
        }
        MetadataRecord::UserScramCredential { name, mechanism, credential } => {
            w.string(name);
            w.i8(mechanism.code());
            w.bytes(&credential.salt);
            w.bytes(&credential.stored_key);
            w.bytes(&credential.server_key);
            w.i32(credential.iterations);
            w.no_tags();
        }
        MetadataRecord::FeatureLevel { name, feature_level } => {
            w.string(name);
            w.i16(*feature_level);
            w.no_tags();
        }
        MetadataRecord::ClientQuota { entity, key, value } => {
            let components: Vec<(&str, Option<&str>)> = [
                (crate::quota::USER, entity.user.as_ref()),
                (crate::quota::CLIENT_ID, entity.client_id.as_ref()),
            ]
            .into_iter()
            .filter_map(|(kind, name)| name.map(|name| (kind, name.to_wire())))
            .collect();
            w.uvarint(components.len() as u32 + 1);
            for (kind, name) in components {
                w.string(kind);
                w.nullable_string(name);
                w.no_tags();
            }
            w.string(key);
            w.buf.put_f64(value.map_or(0.0, |v| v.0));
            w.bool(value.is_none());
            w.no_tags();
        }
        MetadataRecord::ProducerIds { broker_id, broker_epoch, next_producer_id } => {
            w.i32(*broker_id);
            w.i64(*broker_epoch);
            w.i64(*next_producer_id);
            w.no_tags();
        }
        MetadataRecord::BrokerRegistrationChange(c) => {
            w.i32(c.broker_id);
            w.i64(c.broker_epoch);
            let mut tags = Tags::default();
            if c.fenced != 0 {
                tags.field(0, |w| w.i8(c.fenced));
            }
            if c.in_controlled_shutdown != 0 {
                tags.field(1, |w| w.i8(c.in_controlled_shutdown));
            }
            w.tags(tags);
        }
        MetadataRecord::AccessControlEntry { id, acl } => {
            w.uuid(*id);
            w.i8(acl.resource_type.code());
            w.string(&acl.resource_name);
            w.i8(acl.pattern_type.code());
            w.string(&acl.principal);
            w.string(&acl.host);
            w.i8(acl.operation.code());
            w.i8(acl.permission.code());
            w.no_tags();
        }
        MetadataRecord::RemoveAccessControlEntry { id } => {
            w.uuid(*id);
            w.no_tags();
        }
        MetadataRecord::NoOp => w.no_tags(),
        MetadataRecord::RemoveUserScramCredential { name, mechanism } => {
            w.string(name);
            w.i8(mechanism.code());
            w.no_tags();
        }
    }
    w.buf.freeze()
}

/// Reads one record's value: Kafka's binary form, or the JSON of earlier kafka-lab versions.
/// The error says what is wrong, for a message naming the record's offset.
pub fn decode(value: &[u8]) -> Result<MetadataRecord, String> {
    if value.first() == Some(&b'{') {
        return legacy_json::decode(value);
    }
    let mut r = Reader { buf: Bytes::copy_from_slice(value) };
    let frame_version = r.uvarint("frame version")?;
    if frame_version != FRAME_VERSION {
        return Err(format!(
            "unknown frame version {frame_version} (only frame version {FRAME_VERSION} is \
             supported)"
        ));
    }
    let api_key = r.uvarint("type")?;
    let version = r.uvarint("version")?;
    let record = read_record(&mut r, api_key, version)
        .map_err(|e| format!("record type {api_key} version {version}: {e}"))?;
    if r.buf.has_remaining() {
        return Err(format!(
            "{} byte(s) of garbage after record type {api_key}",
            r.buf.remaining()
        ));
    }
    Ok(record)
}

/// The highest version of each record type this broker reads (Kafka 4.1's `validVersions`).
fn max_version(api_key: u32) -> Option<u32> {
    Some(match api_key {
        0 => 3,
        3 | 5 | 17 => 2,
        1 | 2 | 4 | 7 | 8 | 9 | 11 | 12 | 14 | 15 | 18 | 19 | 20 | 22 => 0,
        _ => return None,
    })
}

fn read_record(r: &mut Reader, api_key: u32, version: u32) -> Result<MetadataRecord, String> {
    match max_version(api_key) {
        None => return Err("unknown record type".into()),
        Some(max) if version > max => return Err(format!("versions above {max} are unknown")),
        Some(_) => {}
    }
    let record = match api_key {
        0 => {
            let broker_id = r.i32()?;
            if version >= 2 {
                r.bool()?; // IsMigratingZkBroker
            }
            let incarnation_id = r.uuid()?;
            let broker_epoch = r.i64()?;
            let endpoints = r.array(|r| {
                let endpoint = BrokerEndpoint {
                    name: r.string()?,
                    host: r.string()?,
                    port: r.fixed("a uint16", Buf::get_u16)?,
                    security_protocol: r.i16()?,
                };
                r.skip_tags()?;
                Ok(endpoint)
            })?;
            let features = r.array(|r| {
                let feature = BrokerFeature {
                    name: r.string()?,
                    min_supported_version: r.i16()?,
                    max_supported_version: r.i16()?,
                };
                r.skip_tags()?;
                Ok(feature)
            })?;
            let rack = r.nullable_string()?;
            let fenced = r.bool()?;
            let in_controlled_shutdown = if version >= 1 { r.bool()? } else { false };
            r.skip_tags()?; // LogDirs (v3, tag 0): one log directory here, nothing to keep.
            MetadataRecord::RegisterBroker(RegisterBrokerRecord {
                broker_id,
                incarnation_id,
                broker_epoch,
                endpoints,
                features,
                rack,
                fenced,
                in_controlled_shutdown,
            })
        }
        1 => {
            let broker_id = r.i32()?;
            let broker_epoch = r.i64()?;
            r.skip_tags()?;
            MetadataRecord::UnregisterBroker { broker_id, broker_epoch }
        }
        2 => {
            let name = r.string()?;
            let topic_id = r.uuid()?;
            r.skip_tags()?;
            MetadataRecord::Topic { name, topic_id }
        }
        3 => {
            let mut p = PartitionRecord {
                partition_id: r.i32()?,
                topic_id: r.uuid()?,
                replicas: r.i32s()?,
                isr: r.i32s()?,
                removing_replicas: r.i32s()?,
                adding_replicas: r.i32s()?,
                leader: r.i32()?,
                leader_recovery_state: 0,
                leader_epoch: r.i32()?,
                partition_epoch: r.i32()?,
            };
            if version >= 1 {
                r.array(|r| r.uuid())?; // Directories: one log directory here.
            }
            r.tags(|tag, r| {
                if tag == 0 {
                    p.leader_recovery_state = r.i8()?;
                }
                Ok(()) // 1, 2: ELR (KIP-966), not kept.
            })?;
            MetadataRecord::Partition(p)
        }
        4 => {
            let kind = r.i8()?;
            let resource_name = r.string()?;
            let resource = match kind {
                CONFIG_RESOURCE_TOPIC => ConfigResource::Topic(resource_name),
                CONFIG_RESOURCE_BROKER if resource_name.is_empty() => ConfigResource::Broker,
                CONFIG_RESOURCE_BROKER => {
                    return Err(format!(
                        "config of broker {resource_name}: only the cluster-wide broker \
                         defaults are kept"
                    ))
                }
                other => return Err(format!("config of unknown resource type {other}")),
            };
            let name = r.string()?;
            let value = r.nullable_string()?;
            r.skip_tags()?;
            MetadataRecord::Config { resource, name, value }
        }
        5 => {
            let mut c = PartitionChangeRecord::new(Uuid::nil(), r.i32()?);
            c.topic_id = r.uuid()?;
            r.tags(|tag, r| {
                match tag {
                    0 => c.isr = r.nullable_i32s()?,
                    1 => c.leader = r.i32()?,
                    2 => c.replicas = r.nullable_i32s()?,
                    3 => c.removing_replicas = r.nullable_i32s()?,
                    4 => c.adding_replicas = r.nullable_i32s()?,
                    5 => c.leader_recovery_state = r.i8()?,
                    _ => {} // 6, 7: ELR (KIP-966); 8: directories (KIP-858). Not kept.
                }
                Ok(())
            })?;
            MetadataRecord::PartitionChange(c)
        }
        7 | 8 => {
            let id = r.i32()?;
            let epoch = r.i64()?;
            r.skip_tags()?;
            if api_key == 7 {
                MetadataRecord::FenceBroker { id, epoch }
            } else {
                MetadataRecord::UnfenceBroker { id, epoch }
            }
        }
        9 => {
            let topic_id = r.uuid()?;
            r.skip_tags()?;
            MetadataRecord::RemoveTopic { topic_id }
        }
        11 => {
            let name = r.string()?;
            let mechanism = r.mechanism()?;
            let salt = r.bytes()?;
            let stored_key = r.bytes()?;
            let server_key = r.bytes()?;
            let iterations = r.i32()?;
            r.skip_tags()?;
            let credential = ScramCredential { salt, iterations, stored_key, server_key };
            MetadataRecord::UserScramCredential { name, mechanism, credential }
        }
        12 => {
            let name = r.string()?;
            let feature_level = r.i16()?;
            r.skip_tags()?;
            MetadataRecord::FeatureLevel { name, feature_level }
        }
        14 => {
            let components = r.array(|r| {
                let kind = r.string()?;
                let name = r.nullable_string()?;
                r.skip_tags()?;
                Ok((kind, name))
            })?;
            let entity = ClientQuotaEntity::from_wire(
                components.iter().map(|(kind, name)| (kind.as_str(), name.as_deref())),
            )
            .map_err(|e| format!("client quota entity: {}", e.message))?;
            let key = r.string()?;
            let value = r.fixed("a float64", Buf::get_f64)?;
            let remove = r.bool()?;
            r.skip_tags()?;
            let value = (!remove).then_some(QuotaValue(value));
            MetadataRecord::ClientQuota { entity, key, value }
        }
        15 => {
            let broker_id = r.i32()?;
            let broker_epoch = r.i64()?;
            let next_producer_id = r.i64()?;
            r.skip_tags()?;
            MetadataRecord::ProducerIds { broker_id, broker_epoch, next_producer_id }
        }
        17 => {
            let mut c = BrokerRegistrationChangeRecord {
                broker_id: r.i32()?,
                broker_epoch: r.i64()?,
                fenced: 0,
                in_controlled_shutdown: 0,
            };
            r.tags(|tag, r| {
                match tag {
                    0 => c.fenced = r.i8()?,
                    1 => c.in_controlled_shutdown = r.i8()?,
                    _ => {} // 2: log directories.
                }
                Ok(())
            })?;
            MetadataRecord::BrokerRegistrationChange(c)
        }
        18 => {
            let id = r.uuid()?;
            let code = |what: &str, code: i8| format!("unknown {what} code {code}");
            let resource_type = r.i8()?;
            let resource_type = ResourceType::from_code(resource_type)
                .ok_or_else(|| code("resource type", resource_type))?;
            let resource_name = r.string()?;
            let pattern_type = r.i8()?;
            let pattern_type = PatternType::from_code(pattern_type)
                .ok_or_else(|| code("pattern type", pattern_type))?;
            let principal = r.string()?;
            let host = r.string()?;
            let operation = r.i8()?;
            let operation =
                AclOperation::from_code(operation).ok_or_else(|| code("operation", operation))?;
            let permission = r.i8()?;
            let permission = AclPermissionType::from_code(permission)
                .ok_or_else(|| code("permission type", permission))?;
            r.skip_tags()?;
            let acl = AclBinding {
                resource_type,
                resource_name,
                pattern_type,
                principal,
                host,
                operation,
                permission,
            };
            MetadataRecord::AccessControlEntry { id, acl }
        }
        19 => {
            let id = r.uuid()?;
            r.skip_tags()?;
            MetadataRecord::RemoveAccessControlEntry { id }
        }
        20 => {
            r.skip_tags()?;
            MetadataRecord::NoOp
        }
        22 => {
            let name = r.string()?;
            let mechanism = r.mechanism()?;
            r.skip_tags()?;
            MetadataRecord::RemoveUserScramCredential { name, mechanism }
        }
        _ => unreachable!("max_version knows every type read here"),
    };
    Ok(record)
}

/// Fields in Kafka's order into a buffer.
#[derive(Default)]
struct Writer {
    buf: BytesMut,
}

impl Writer {
    fn uvarint(&mut self, mut v: u32) {
        while v >= 0x80 {
            self.buf.put_u8((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.put_u8(v as u8);
    }
    fn bool(&mut self, v: bool) {
        self.buf.put_u8(v as u8)
    }
    fn i8(&mut self, v: i8) {
        self.buf.put_i8(v)
    }
    fn i16(&mut self, v: i16) {
        self.buf.put_i16(v)
    }
    fn i32(&mut self, v: i32) {
        self.buf.put_i32(v)
    }
    fn i64(&mut self, v: i64) {
        self.buf.put_i64(v)
    }
    fn uuid(&mut self, v: Uuid) {
        self.buf.put_slice(v.as_bytes())
    }
    /// Compact length: the length plus one (0 is null). Lengths come from values that fit a
    /// request, far below `u32::MAX`.
    fn length(&mut self, len: usize) {
        self.uvarint(u32::try_from(len + 1).expect("metadata fields fit a compact length"))
    }
    fn string(&mut self, v: &str) {
        self.bytes(v.as_bytes())
    }
    fn nullable_string(&mut self, v: Option<&str>) {
        match v {
            Some(v) => self.string(v),
            None => self.uvarint(0),
        }
    }
    fn bytes(&mut self, v: &[u8]) {
        self.length(v.len());
        self.buf.put_slice(v);
    }
    fn i32s(&mut self, v: &[i32]) {
        self.length(v.len());
        v.iter().for_each(|i| self.i32(*i));
    }
    fn no_tags(&mut self) {
        self.uvarint(0)
    }
    fn tags(&mut self, tags: Tags) {
        self.uvarint(tags.0.len() as u32);
        for (tag, data) in tags.0 {
            self.uvarint(tag);
            self.uvarint(data.len() as u32);
            self.buf.extend_from_slice(&data);
        }
    }
}

/// Tagged fields being written, in increasing tag order as Kafka requires.
#[derive(Default)]
struct Tags(Vec<(u32, BytesMut)>);

impl Tags {
    fn field(&mut self, tag: u32, write: impl FnOnce(&mut Writer)) {
        assert!(self.0.last().is_none_or(|(last, _)| *last < tag), "tags in increasing order");
        let mut w = Writer::default();
        write(&mut w);
        self.0.push((tag, w.buf));
    }
}

/// Fields in Kafka's order out of a record's value; every error names what could not be read.
struct Reader {
    buf: Bytes,
}

impl Reader {
    /// A fixed-size field read by `get` once enough bytes remain.
    fn fixed<T>(&mut self, what: &str, get: fn(&mut Bytes) -> T) -> Result<T, String> {
        let size = std::mem::size_of::<T>();
        if self.buf.remaining() < size {
            return Err(format!("cannot read {what}: {} byte(s) left", self.buf.remaining()));
        }
        Ok(get(&mut self.buf))
    }
    /// An unsigned varint of at most five bytes, as Kafka's `readUnsignedVarint`.
    fn uvarint(&mut self, what: &str) -> Result<u32, String> {
        let mut value = 0u32;
        for i in 0..5 {
            let Some(&b) = self.buf.first() else {
                return Err(format!("cannot read {what}: the value ends inside a varint"));
            };
            self.buf.advance(1);
            value |= u32::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(format!("cannot read {what}: varint longer than five bytes"))
    }
    fn bool(&mut self) -> Result<bool, String> {
        match self.fixed("a boolean", Buf::get_u8)? {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(format!("boolean byte {b}")),
        }
    }
    fn i8(&mut self) -> Result<i8, String> {
        self.fixed("an int8", Buf::get_i8)
    }
    fn i16(&mut self) -> Result<i16, String> {
        self.fixed("an int16", Buf::get_i16)
    }
    fn i32(&mut self) -> Result<i32, String> {
        self.fixed("an int32", Buf::get_i32)
    }
    fn i64(&mut self) -> Result<i64, String> {
        self.fixed("an int64", Buf::get_i64)
    }
    fn uuid(&mut self) -> Result<Uuid, String> {
        self.fixed("a uuid", Buf::get_u128).map(Uuid::from_u128)
    }
    /// A compact length (`None` for null), refused when it exceeds the bytes left, at
    /// `min_size` bytes per element, before anything is allocated for it.
    fn length(&mut self, what: &str, min_size: usize) -> Result<Option<usize>, String> {
        let Some(len) = self.uvarint(what)?.checked_sub(1) else { return Ok(None) };
        let len = len as usize;
        if len.saturating_mul(min_size) > self.buf.remaining() {
            let left = self.buf.remaining();
            return Err(format!("{what} of {len} in {left} byte(s) left"));
        }
        Ok(Some(len))
    }
    fn nullable_bytes(&mut self, what: &str) -> Result<Option<Vec<u8>>, String> {
        Ok(self.length(what, 1)?.map(|len| self.buf.split_to(len).to_vec()))
    }
    fn bytes(&mut self) -> Result<Vec<u8>, String> {
        self.nullable_bytes("bytes")?.ok_or_else(|| "null bytes".to_owned())
    }
    fn nullable_string(&mut self) -> Result<Option<String>, String> {
        let Some(bytes) = self.nullable_bytes("a string")? else { return Ok(None) };
        String::from_utf8(bytes).map(Some).map_err(|_| "a string is not UTF-8".to_owned())
    }
    fn string(&mut self) -> Result<String, String> {
        self.nullable_string()?.ok_or_else(|| "null string".to_owned())
    }
    fn nullable_i32s(&mut self) -> Result<Option<Vec<i32>>, String> {
        let Some(len) = self.length("an int32 array", 4)? else { return Ok(None) };
        (0..len).map(|_| self.i32()).collect::<Result<_, _>>().map(Some)
    }
    fn i32s(&mut self) -> Result<Vec<i32>, String> {
        self.nullable_i32s()?.ok_or_else(|| "null int32 array".to_owned())
    }
    fn mechanism(&mut self) -> Result<ScramMechanism, String> {
        let code = self.i8()?;
        ScramMechanism::from_code(code).ok_or_else(|| format!("unknown SCRAM mechanism {code}"))
    }
    /// A compact array of structures; null is refused (no array read here is nullable).
    fn array<T>(
        &mut self,
        mut element: impl FnMut(&mut Self) -> Result<T, String>,
    ) -> Result<Vec<T>, String> {
        // Every element takes at least one byte.
        let len = self.length("an array", 1)?.ok_or_else(|| "null array".to_owned())?;
        (0..len).map(|_| element(self)).collect()
    }
    /// The tagged fields: each is handed to `field` on a reader of exactly its bytes, which
    /// must read all of them.
    fn tags(
        &mut self,
        mut field: impl FnMut(u32, &mut Reader) -> Result<(), String>,
    ) -> Result<(), String> {
        let count = self.uvarint("the tagged field count")?;
        let mut previous = None;
        for _ in 0..count {
            let tag = self.uvarint("a tag")?;
            if previous.is_some_and(|p| p >= tag) {
                return Err(format!("tag {tag} out of order"));
            }
            previous = Some(tag);
            let size = self.uvarint("a tagged field size")? as usize;
            if size > self.buf.remaining() {
                return Err(format!("tagged field {tag} of {size} bytes is truncated"));
            }
            let mut inner = Reader { buf: self.buf.split_to(size) };
            field(tag, &mut inner)?;
            // An unknown tag is skipped whole (nothing read); a known one is exactly its size.
            if inner.buf.remaining() != size && inner.buf.has_remaining() {
                let garbage = inner.buf.remaining();
                return Err(format!("{garbage} byte(s) of garbage in tagged field {tag}"));
            }
        }
        Ok(())
    }
    fn skip_tags(&mut self) -> Result<(), String> {
        self.tags(|_, _| Ok(()))
    }
}

#[cfg(test)]
mod tests;
