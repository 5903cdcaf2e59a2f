//! The bodies of the coverage-guided fuzz targets in `fuzz/` (cargo-fuzz, libFuzzer), one
//! function per target. They live here, behind the `fuzzing` feature (and in unit tests), so
//! that they reach the broker's internals without widening its public API, and so that
//! `corpus_replays` below runs every file of `fuzz/corpus/<target>/` through the same code in
//! a plain `cargo test`: the corpus is a regression suite that needs no nightly toolchain.
//!
//! Each function takes arbitrary bytes, must never panic, and asserts the invariants the
//! broker promises for that input (a found assertion is a bug with its input as the test).

use std::path::Path;
use std::sync::{Arc, OnceLock};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, RequestHeader, RequestKind, ResponseHeader, SaslAuthenticateRequest,
    SaslAuthenticateResponse, SaslHandshakeRequest,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use crate::broker::Broker;
use crate::clock::TokioClock;
use crate::config::{BrokerConfig, SecurityProtocol};
use crate::internal_records::{encode_batch, read_all};
use crate::log::checkpoint::RecoveryPoints;
use crate::log::{batch, LogConfig, LogError, PartitionLog};
use crate::metadata::{records, MetadataImage, MetadataStore, METADATA_LOG_DIR};
use crate::security::credentials::{ScramCredential, ScramMechanism};
use crate::security::sasl::SaslState;
use crate::security::Session;
use crate::server::{decode_request, handle_frame, DecodedFrame};
use crate::storage::{MemoryStorage, Storage};

/// A target body: arbitrary bytes in, a panic on a broken invariant.
pub type Target = fn(&[u8]);

/// The fuzz targets by name (as in `fuzz/fuzz_targets/<name>.rs` and `fuzz/corpus/<name>/`).
pub const TARGETS: &[(&str, Target)] = &[
    ("request_frame", request_frame),
    ("record_batch", record_batch),
    ("sasl", sasl),
    ("metadata_records", metadata_records),
];

/// The simulator's epoch, as the handler tests use it.
const NOW_MS: i64 = 1_700_000_000_000;

/// (a) A request frame (the bytes after the length prefix) through `server::decode_request`,
/// the step of `server::handle_frame` that reads untrusted bytes: api key, version check, the
/// SASL gate, header and body decode.
///
/// Input: one selector byte (bit 0: the connection is on an unauthenticated SASL_PLAINTEXT
/// listener, else PLAINTEXT), then the frame. Invariants: decoding never panics nor allocates
/// beyond the frame's size (libFuzzer's `-malloc_limit_mb` catches that); an unauthenticated
/// SASL connection gets nothing but ApiVersions and the SASL APIs; a decoded request encodes
/// again at its version.
pub fn request_frame(data: &[u8]) {
    let Some((&selector, frame)) = data.split_first() else { return };
    let session = if selector & 1 == 1 {
        Session::new("fuzz:1".into(), "SASL_PLAINTEXT", SecurityProtocol::SaslPlaintext)
    } else {
        Session::plaintext("fuzz:1".into())
    };
    let Ok(DecodedFrame::Request { api_key, header, request }) =
        decode_request(Bytes::copy_from_slice(frame), &session)
    else {
        return;
    };
    if !session.is_authenticated() {
        assert!(
            matches!(
                api_key,
                ApiKey::ApiVersions | ApiKey::SaslHandshake | ApiKey::SaslAuthenticate
            ),
            "{api_key:?} decoded before SASL authentication"
        );
    }
    // A decoded request encodes again at its version. Not a round trip: kafka-protocol 0.18
    // decodes a tagged-field tag above i32::MAX (a 5-byte varint) as a negative key that its
    // encoder then leaves out (see fuzz/README.md); the broker never re-encodes a request.
    let version = header.request_api_version;
    let mut encoded = BytesMut::new();
    header.encode(&mut encoded, api_key.request_header_version(version)).expect("header encodes");
    request.encode(&mut encoded, version).expect("a decoded request encodes at its version");
}

/// Sets the CRC-32C of every batch `split_and_validate` would frame, so that the fuzzer's
/// mutations reach the checks behind the CRC.
fn fix_crcs(records: &mut [u8]) {
    let mut pos = 0;
    while records.len() - pos >= batch::HEADER_LEN {
        let len = i32::from_be_bytes(records[pos + 8..pos + 12].try_into().expect("4 bytes"));
        let Some(total) = usize::try_from(len).ok().map(|l| l + batch::LOG_OVERHEAD) else { break };
        if total < batch::HEADER_LEN || total > records.len() - pos {
            break;
        }
        let crc = crc32c::crc32c(&records[pos + 21..pos + total]);
        records[pos + 17..pos + 21].copy_from_slice(&crc.to_be_bytes());
        pos += total;
    }
}

/// (b) A Produce request's records for one partition through the record batch parser
/// (`log::batch::split_and_validate`, `BatchHeader`) and `PartitionLog::append` on
/// `MemoryStorage`, then the reads that parse stored batches again (timestamp lookups,
/// `internal_records::read_all`) and recovery on reopening.
///
/// Input: one flags byte (bit 0: fix up the CRCs; bit 1: append the same bytes twice, as a
/// retrying producer does; bits 2-3: `segment.bytes` 1 GiB / 100 / 1000 / 10000), then the
/// records. Invariants: `append` accepts only what `split_and_validate` accepts; an accepted
/// append advances the log end offset by exactly the offsets it reports and reads back the
/// bytes written; a flushed log reopens (recovery) to the same log end offset and bytes.
pub fn record_batch(data: &[u8]) {
    let Some((&flags, records)) = data.split_first() else { return };
    let mut records = records.to_vec();
    if flags & 1 == 1 {
        fix_crcs(&mut records);
    }
    let parsed = batch::split_and_validate(&records);
    if let Ok(ranges) = &parsed {
        for range in ranges {
            let h = batch::BatchHeader::parse(&records[range.clone()]).expect("validated");
            assert_eq!(h.total_size(), Some(range.len()));
            assert!(h.record_count() > 0 && h.last_offset_delta() == h.record_count() - 1);
            let _ = (h.last_offset(), h.last_sequence(), h.is_idempotent(), h.compression());
        }
    }
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let config = LogConfig {
        segment_bytes: [1 << 30, 100, 1000, 10_000][usize::from(flags >> 2 & 3)],
        index_interval_bytes: 64,
        ..LogConfig::default()
    };
    let dir = Path::new("/fuzz/topic-0").to_path_buf();
    let mut log =
        PartitionLog::open(storage.clone(), dir.clone(), config.clone(), NOW_MS).expect("opens");
    let appends = if flags & 2 == 2 { 2 } else { 1 };
    for _ in 0..appends {
        let leo = log.log_end_offset();
        let size = log.size_bytes();
        match log.append(&mut records.clone(), 3, NOW_MS) {
            Ok(info) if info.duplicate => assert_eq!(log.log_end_offset(), leo),
            Ok(info) => {
                assert!(parsed.is_ok(), "append accepted what split_and_validate refused");
                assert_eq!(info.base_offset, leo);
                assert_eq!(info.last_offset + 1, log.log_end_offset());
                assert_eq!(log.size_bytes(), size + records.len() as u64);
            }
            Err(_) => {
                assert_eq!(log.log_end_offset(), leo, "a refused append moved the log end");
                assert_eq!(log.size_bytes(), size);
            }
        }
    }
    if log.log_end_offset() == 0 {
        return;
    }
    let stored = log.read(0, u32::MAX).expect("reads");
    assert_eq!(stored.len() as u64, log.size_bytes(), "a read from 0 returns the whole log");
    for h in [i64::MIN, -1, 0, NOW_MS, i64::MAX] {
        let _ = log.offset_for_timestamp(h);
    }
    let _ = log.max_timestamp_offset();
    let _ = read_all(&log);
    let leo = log.log_end_offset();
    log.flush().expect("flushes");
    drop(log);
    let reopened = PartitionLog::open(storage, dir, config, NOW_MS).expect("reopens");
    assert_eq!(reopened.log_end_offset(), leo, "recovery changed a flushed log");
    assert_eq!(reopened.read(0, u32::MAX).expect("reads"), stored);
}

/// The PLAIN user, the SCRAM user and their password in the SASL target's broker.
const SASL_USER: &str = "alice";
const SASL_PASSWORD: &str = "alice-secret";

struct SaslFixture {
    broker: Arc<Broker>,
    runtime: tokio::runtime::Runtime,
    /// The SCRAM users' salted passwords (PBKDF2 is too slow to run per input).
    salted: [(ScramMechanism, Vec<u8>); 2],
}

fn sasl_fixture() -> &'static SaslFixture {
    static FIXTURE: OnceLock<SaslFixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_time().build().expect("a runtime");
        let mut config = BrokerConfig {
            listeners: "SASL_PLAINTEXT://127.0.0.1:9092".into(),
            sasl_scram_users: ["SCRAM-SHA-256", "SCRAM-SHA-512"]
                .map(|m| format!("{m}=[name={SASL_USER},password={SASL_PASSWORD}]"))
                .to_vec(),
            ..BrokerConfig::default()
        };
        config.listener_properties.insert(
            "listener.name.sasl_plaintext.plain.sasl.jaas.config".into(),
            format!(
                "org.apache.kafka.common.security.plain.PlainLoginModule required \
                 user_{SASL_USER}=\"{SASL_PASSWORD}\";"
            ),
        );
        let broker = runtime.block_on(async {
            Broker::open(
                config,
                Arc::new(MemoryStorage::new()),
                Arc::new(TokioClock::new(NOW_MS)),
                7,
            )
            .expect("the SASL broker opens")
        });
        let salted = [ScramMechanism::Sha256, ScramMechanism::Sha512].map(|mechanism| {
            let credentials = broker.credentials.read().expect("credentials lock");
            let c = credentials.scram(SASL_USER, mechanism).expect("configured SCRAM user");
            (
                mechanism,
                ScramCredential::salted_password(
                    mechanism,
                    SASL_PASSWORD.as_bytes(),
                    &c.salt,
                    c.iterations,
                ),
            )
        });
        SaslFixture { broker, runtime, salted }
    })
}

/// One request frame body for `handle_frame`.
fn frame(api: ApiKey, version: i16, request: RequestKind) -> Bytes {
    let mut frame = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(api as i16)
        .with_request_api_version(version)
        .with_correlation_id(1)
        .with_client_id(Some(StrBytes::from_static_str("fuzz")))
        .encode(&mut frame, api.request_header_version(version))
        .expect("encodes");
    request.encode(&mut frame, version).expect("encodes");
    frame.freeze()
}

/// The SCRAM client proof for `client_final_without_proof` (RFC 5802 §3), which a fuzzer
/// cannot find by mutation, so that the checks after the proof are reached too.
fn scram_proof(
    mechanism: ScramMechanism,
    salted: &[u8],
    client_first_bare: &str,
    server_first: &str,
    client_final_without_proof: &str,
) -> String {
    let client_key = mechanism.hmac(salted, b"Client Key");
    let stored_key = mechanism.hash(&client_key);
    let auth_message = format!("{client_first_bare},{server_first},{client_final_without_proof}");
    let signature = mechanism.hmac(&stored_key, auth_message.as_bytes());
    let proof: Vec<u8> = client_key.iter().zip(&signature).map(|(k, s)| k ^ s).collect();
    openssl::base64::encode_block(&proof)
}

/// (c) The server side of the SASL exchanges, through `server::handle_frame` on a
/// SASL_PLAINTEXT connection: SaslHandshake, then SaslAuthenticate with each fuzzed client
/// message (PLAIN's `authzid\0user\0password`; SCRAM-SHA-256/512 client-first, client-final).
///
/// Input: a selector byte (bits 0-1: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, or the first message
/// is the mechanism name; bit 2: in the client-final message the target replaces `$NONCE` by
/// the server-first message's nonce and computes the correct proof; bit 3: SaslHandshake v0),
/// then messages separated by `\xff\xff`.
/// Invariants: nothing panics; a response decodes; after a failure the connection closes;
/// only the right password or proof authenticates, and only as the user it belongs to.
pub fn sasl(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else { return };
    let fixture = sasl_fixture();
    let mut messages = split_messages(rest);
    let mechanism = match selector & 3 {
        0 => "PLAIN".to_owned(),
        1 => "SCRAM-SHA-256".to_owned(),
        2 => "SCRAM-SHA-512".to_owned(),
        _ => String::from_utf8_lossy(messages.next().unwrap_or_default()).into_owned(),
    };
    let fix_proof = selector & 4 == 4;
    let handshake_version = if selector & 8 == 8 { 0 } else { 1 };
    let broker = &fixture.broker;
    let mut session =
        Session::new("fuzz:1".into(), "SASL_PLAINTEXT", SecurityProtocol::SaslPlaintext);
    fixture.runtime.block_on(async {
        let handshake = SaslHandshakeRequest::default()
            .with_mechanism(StrBytes::from_string(mechanism.clone()));
        let request =
            frame(ApiKey::SaslHandshake, handshake_version, RequestKind::SaslHandshake(handshake));
        handle_frame(broker, request, &mut session).await.expect("a handshake is answered");
        let mut client_first_bare = String::new();
        let mut server_first = String::new();
        let mut proof_fixed = false;
        let mut last_message = Vec::new();
        for message in messages {
            if session.authentication_failure.is_some() {
                break; // The connection closes after the failure's response.
            }
            let mut message = message.to_vec();
            if let SaslState::HandshakeDone(_) = session.sasl {
                let text = String::from_utf8_lossy(&message);
                client_first_bare = text.splitn(3, ',').nth(2).unwrap_or_default().to_owned();
            }
            if let (SaslState::ScramChallenged(_), true) = (&session.sasl, fix_proof) {
                let scram = ScramMechanism::parse(&mechanism).expect("a SCRAM exchange");
                let salted = &fixture.salted.iter().find(|(m, _)| *m == scram).expect("salted").1;
                let nonce = server_first.split(',').find_map(|a| a.strip_prefix("r="));
                let text = String::from_utf8_lossy(&message).replace("$NONCE", nonce.unwrap_or(""));
                let without_proof = text.rsplit_once(",p=").map_or(text.as_str(), |(w, _)| w);
                let proof =
                    scram_proof(scram, salted, &client_first_bare, &server_first, without_proof);
                message = format!("{without_proof},p={proof}").into_bytes();
                proof_fixed = true;
            }
            last_message.clone_from(&message);
            let authenticate = SaslAuthenticateRequest::default().with_auth_bytes(message.into());
            let request =
                frame(ApiKey::SaslAuthenticate, 2, RequestKind::SaslAuthenticate(authenticate));
            let mut response = handle_frame(broker, request, &mut session)
                .await
                .expect("a SaslAuthenticate is answered")
                .expect("with a response");
            ResponseHeader::decode(
                &mut response,
                ApiKey::SaslAuthenticate.response_header_version(2),
            )
            .expect("response header decodes");
            let response = SaslAuthenticateResponse::decode(&mut response, 2).expect("decodes");
            if matches!(session.sasl, SaslState::ScramChallenged(_)) {
                server_first = String::from_utf8(response.auth_bytes.to_vec())
                    .expect("the server-first message is UTF-8");
            }
            if session.authentication_failure.is_some() {
                assert_ne!(response.error_code, 0, "a failure is answered with its error code");
            }
        }
        if session.is_authenticated() {
            assert_eq!(session.principal.to_string(), format!("User:{SASL_USER}"));
            assert!(
                mechanism == "PLAIN" || proof_fixed,
                "a SCRAM proof the fuzzer made up authenticated"
            );
            if mechanism == "PLAIN" {
                let password = last_message.split(|b| *b == 0).nth(2).unwrap_or_default();
                assert_eq!(password, SASL_PASSWORD.as_bytes(), "PLAIN authenticated wrongly");
            }
        }
    });
}

/// `data` split at every `\xff\xff` (bytes that UTF-8 never contains).
fn split_messages(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(data);
    std::iter::from_fn(move || {
        let current = rest?;
        match current.windows(2).position(|w| w == b"\xff\xff") {
            Some(i) => {
                rest = Some(&current[i + 2..]);
                Some(&current[..i])
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}

/// (d) Metadata records in Kafka's binary form (as `MetadataStore` stores them in the
/// metadata log's record values), each preceded by its length as a big-endian u16, through the
/// decoder and the image: committed one by one with `MetadataStore::commit`, then the log is
/// replayed by `MetadataStore::open`; and the raw values, written as one batch into a metadata
/// log, replayed by `MetadataStore::open`.
///
/// Invariants: nothing panics (an inconsistent metadata log refuses to open with an error);
/// a decoded record encodes back to itself; replaying what was committed rebuilds exactly the
/// image that was served (the metadata module's architecture invariant).
pub fn metadata_records(data: &[u8]) {
    let values = length_prefixed(data);
    let log_dir = Path::new("/fuzz");

    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let mut store = open_metadata(storage.clone(), log_dir).expect("opens empty");
    for value in &values {
        let Ok(record) = records::decode(value) else { continue };
        let encoded = records::encode(&record);
        let again = records::decode(&encoded).expect("encoded records decode");
        assert_eq!(again, record, "{encoded:?}");
        let before = MetadataImage::clone(store.image());
        if store.commit(vec![record], NOW_MS).is_err() {
            assert_eq!(**store.image(), before, "a refused record changed the image");
        }
    }
    let served = MetadataImage::clone(store.image());
    drop(store);
    let replayed = open_metadata(storage, log_dir).expect("committed records replay");
    assert_eq!(**replayed.image(), served, "replay differs from the image served");

    if values.is_empty() {
        return; // A batch holds at least one record.
    }
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let config = LogConfig { flush_interval_messages: 1, ..LogConfig::default() };
    let dir = log_dir.join(METADATA_LOG_DIR);
    let mut log = PartitionLog::open(storage.clone(), dir, config, NOW_MS).expect("opens");
    let entries: Vec<_> = values.iter().map(|v| (None, Some(Bytes::copy_from_slice(v)))).collect();
    log.append(&mut encode_batch(&entries, NOW_MS), 0, NOW_MS).expect("appends");
    drop(log);
    let _ = open_metadata(storage, log_dir);
}

/// `data` as values each preceded by a big-endian u16 length; a short last value is cut to
/// what is there.
fn length_prefixed(mut data: &[u8]) -> Vec<&[u8]> {
    let mut values = Vec::new();
    while let [hi, lo, rest @ ..] = data {
        let len = usize::from(u16::from_be_bytes([*hi, *lo])).min(rest.len());
        values.push(&rest[..len]);
        data = &rest[len..];
    }
    values
}

/// `MetadataStore::open` as the broker calls it, with the log dir's recovery points.
fn open_metadata(storage: Arc<dyn Storage>, log_dir: &Path) -> Result<MetadataStore, LogError> {
    let recovery_points = Arc::new(RecoveryPoints::read(storage.clone(), log_dir)?);
    MetadataStore::open(storage, log_dir, NOW_MS, recovery_points, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::MetadataRecord;

    /// Writes the seed inputs of the `record_batch`, `sasl` and `metadata_records` targets
    /// (`request_frame`'s are written by `handlers::tests::write_fuzz_seeds`). Run by hand; see
    /// fuzz/README.md (`FUZZ_SEED_DIR` defaults to `fuzz/seeds`).
    #[test]
    #[ignore = "writes fuzz seeds; run by hand"]
    fn write_fuzz_seeds() {
        use crate::authorizer::{
            AclBinding, AclOperation, AclPermissionType, PatternType, ResourceType,
        };
        use crate::quota::{ClientQuotaEntity, EntityName, QuotaValue};
        use uuid::Uuid;

        let root = std::env::var_os("FUZZ_SEED_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds"));
        let write = |target: &str, name: &str, bytes: &[u8]| {
            let dir = root.join(target);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(name), bytes).unwrap();
        };

        let kv = |k: &'static [u8], v: &'static [u8]| (Some(Bytes::from(k)), Some(Bytes::from(v)));
        let plain = encode_batch(&[kv(b"k", b"v"), (None, None), kv(b"", b"value")], NOW_MS);
        let mut idempotent = encode_batch(&[kv(b"k", b"v")], NOW_MS).to_vec();
        idempotent[43..51].copy_from_slice(&7i64.to_be_bytes()); // producer id
        idempotent[51..53].copy_from_slice(&0i16.to_be_bytes()); // epoch
        idempotent[53..57].copy_from_slice(&0i32.to_be_bytes()); // base sequence
        let gzip = crate::internal_records::encode_batch_with(
            &[(None, Some(Bytes::from_static(b"compressed")))],
            NOW_MS,
            kafka_protocol::records::Compression::Gzip,
        );
        for (name, flags, bytes) in [
            ("plain", 0u8, plain.to_vec()),
            ("plain-twice-small-segments", 2 | 4, [&plain[..], &plain[..]].concat()),
            ("idempotent-retried", 2, idempotent.clone()),
            ("idempotent-fixed-crc", 1 | 2, idempotent),
            ("gzip", 0, gzip.to_vec()),
        ] {
            write("record_batch", name, &[&[flags][..], &bytes].concat());
        }

        for (name, selector, messages) in [
            ("plain-ok", 0u8, vec![b"\0alice\0alice-secret".to_vec()]),
            ("plain-authzid", 0, vec![b"alice\0alice\0wrong".to_vec()]),
            (
                "scram-256-fixed-proof",
                1 | 4,
                vec![
                    b"n,,n=alice,r=fyko+d2lbbFgONRv9qkxdawL".to_vec(),
                    b"c=biws,r=$NONCE".to_vec(),
                ],
            ),
            (
                "scram-512-fixed-proof",
                2 | 4,
                vec![
                    b"n,a=alice,n=alice,r=abc".to_vec(),
                    b"c=bixhPWFsaWNlLA==,r=$NONCE,p=AAAA".to_vec(),
                ],
            ),
            (
                "scram-256-made-up-proof",
                1,
                vec![
                    b"n,,n=alice,r=x".to_vec(),
                    b"c=biws,r=x,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=".to_vec(),
                ],
            ),
            ("mechanism-name", 3, vec![b"SCRAM-SHA-256".to_vec(), b"n,,n=alice,r=x".to_vec()]),
            ("handshake-v0", 8, vec![b"\0alice\0alice-secret".to_vec()]),
        ] {
            write("sasl", name, &[&[selector][..], &messages.join(&b"\xff\xff"[..])].concat());
        }

        let topic_id = Uuid::from_u128(0x1234);
        let every = [
            MetadataRecord::Topic { name: "t".into(), topic_id },
            MetadataRecord::Partition(crate::metadata::PartitionRecord::new(topic_id, 0, vec![1])),
            MetadataRecord::Config {
                resource: crate::metadata::ConfigResource::Topic("t".into()),
                name: "retention.ms".into(),
                value: Some("1000".into()),
            },
            MetadataRecord::Config {
                resource: crate::metadata::ConfigResource::Broker,
                name: "log.retention.ms".into(),
                value: None,
            },
            MetadataRecord::ProducerIds { broker_id: 1, broker_epoch: -1, next_producer_id: 1000 },
            MetadataRecord::UserScramCredential {
                name: "alice".into(),
                mechanism: ScramMechanism::Sha256,
                credential: ScramCredential::derive(ScramMechanism::Sha256, b"pw", b"salt", 4096),
            },
            MetadataRecord::RemoveUserScramCredential {
                name: "bob".into(),
                mechanism: ScramMechanism::Sha512,
            },
            MetadataRecord::ClientQuota {
                entity: ClientQuotaEntity {
                    user: Some(EntityName::Name("alice".into())),
                    client_id: Some(EntityName::Default),
                },
                key: "producer_byte_rate".into(),
                value: Some(QuotaValue(1024.0)),
            },
            MetadataRecord::AccessControlEntry {
                id: Uuid::from_u128(9),
                acl: AclBinding {
                    resource_type: ResourceType::Topic,
                    resource_name: "t".into(),
                    pattern_type: PatternType::Prefixed,
                    principal: "User:alice".into(),
                    host: "*".into(),
                    operation: AclOperation::Read,
                    permission: AclPermissionType::Allow,
                },
            },
            MetadataRecord::RemoveAccessControlEntry { id: Uuid::from_u128(9) },
            MetadataRecord::RegisterBroker(crate::metadata::RegisterBrokerRecord {
                broker_id: 2,
                incarnation_id: Uuid::from_u128(5),
                broker_epoch: 10,
                endpoints: vec![crate::metadata::BrokerEndpoint {
                    name: "PLAINTEXT".into(),
                    host: "localhost".into(),
                    port: 9092,
                    security_protocol: 0,
                }],
                features: Vec::new(),
                rack: None,
                fenced: true,
                in_controlled_shutdown: false,
            }),
            MetadataRecord::UnfenceBroker { id: 2, epoch: 10 },
            MetadataRecord::PartitionChange(crate::metadata::PartitionChangeRecord {
                isr: Some(vec![1, 2]),
                leader: 2,
                ..crate::metadata::PartitionChangeRecord::new(topic_id, 0)
            }),
            MetadataRecord::BrokerRegistrationChange(
                crate::metadata::BrokerRegistrationChangeRecord {
                    broker_id: 2,
                    broker_epoch: 10,
                    fenced: 1,
                    in_controlled_shutdown: 1,
                },
            ),
            MetadataRecord::FenceBroker { id: 2, epoch: 10 },
            MetadataRecord::UnregisterBroker { broker_id: 2, broker_epoch: 10 },
            MetadataRecord::FeatureLevel { name: "metadata.version".into(), feature_level: 27 },
            MetadataRecord::NoOp,
            // Found by this target when records were JSON: a float that did not survive.
            MetadataRecord::ClientQuota {
                entity: ClientQuotaEntity { user: Some(EntityName::Default), client_id: None },
                key: "request_percentage".into(),
                value: Some(QuotaValue(1.4444444444444447e69)),
            },
            MetadataRecord::RemoveTopic { topic_id },
        ];
        let framed: Vec<Vec<u8>> = every
            .iter()
            .map(|r| {
                let value = records::encode(r);
                [&(value.len() as u16).to_be_bytes()[..], &value].concat()
            })
            .collect();
        write("metadata_records", "every-record", &framed.concat());
        for (i, value) in framed.iter().enumerate() {
            write("metadata_records", &format!("record-{i}"), value);
        }
    }

    /// Every file of `fuzz/corpus/<target>/` (the minimized corpora and every input that ever
    /// crashed a target) runs through its target: the fuzz corpus as a regression suite.
    #[test]
    fn corpus_replays() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
        for (name, target) in TARGETS {
            let dir = root.join(name);
            let mut files: Vec<_> = std::fs::read_dir(&dir)
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .map(|entry| entry.expect("a directory entry").path())
                .collect();
            files.sort();
            assert!(!files.is_empty(), "{} holds no corpus", dir.display());
            for file in files {
                let input = std::fs::read(&file).expect("a corpus file");
                if std::panic::catch_unwind(|| target(&input)).is_err() {
                    panic!("{name}: {} fails", file.display());
                }
            }
        }
    }
}
