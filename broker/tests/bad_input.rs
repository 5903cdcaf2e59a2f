//! Bad input on the wire: each bad frame closes only its own connection, with a log line, and
//! the broker keeps serving everyone else. Also: KIP-511 ApiVersions downgrade and error codes
//! for unknown topics and partitions.

// Drives the real binary from outside, on the OS's clock and threads: broker/clippy.toml's
// determinism rule is for the broker's own code, not for its tests.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, MetadataResponse,
    ProduceRequest, ProduceResponse, RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use support::TestBroker;

fn connect(broker: &TestBroker) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", broker.port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream
}

/// Writes one request frame.
fn send<Req: Encodable>(
    stream: &mut TcpStream,
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    request: &Req,
) {
    let mut frame = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("bad-input-test")))
        .encode(&mut frame, key.request_header_version(version))
        .unwrap();
    request.encode(&mut frame, version).unwrap();
    stream.write_all(&(frame.len() as u32).to_be_bytes()).unwrap();
    stream.write_all(&frame).unwrap();
}

/// Sends one request and returns the response body (after the header).
fn round_trip<Req: Encodable>(
    stream: &mut TcpStream,
    key: ApiKey,
    version: i16,
    request: &Req,
) -> Bytes {
    send(stream, key, version, 42, request);
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).unwrap();
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    stream.read_exact(&mut body).unwrap();
    let mut body = Bytes::from(body);
    let header = ResponseHeader::decode(&mut body, key.response_header_version(version)).unwrap();
    assert_eq!(header.correlation_id, 42);
    body
}

fn metadata_works(broker: &TestBroker) {
    let mut stream = connect(broker);
    let mut body = round_trip(&mut stream, ApiKey::Metadata, 12, &MetadataRequest::default());
    let response = MetadataResponse::decode(&mut body, 12).unwrap();
    assert_eq!(response.brokers.len(), 1);
}

/// The broker closes the connection: a read returns EOF (or a reset) rather than hanging.
fn assert_closed(mut stream: TcpStream) {
    let mut buf = [0u8; 16];
    match stream.read(&mut buf) {
        Ok(0) => {}
        Ok(n) => panic!("expected the connection to close, got {n} bytes"),
        Err(e) => assert!(
            matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
            ),
            "expected close, got {e}"
        ),
    }
}

#[test]
fn garbage_oversized_truncated_and_unknown_api_frames_close_only_their_connection() {
    let broker = TestBroker::start();
    // A healthy client stays connected throughout.
    let mut healthy = connect(&broker);
    round_trip(&mut healthy, ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());

    let mut garbage = connect(&broker);
    garbage
        .write_all(&[0, 0, 0, 12, 0xde, 0xad, 0xbe, 0xef, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4])
        .unwrap();
    assert_closed(garbage);

    let mut huge = connect(&broker);
    huge.write_all(&0x7fff_ffffu32.to_be_bytes()).unwrap();
    huge.write_all(&[0; 64]).unwrap();
    assert_closed(huge);

    let mut negative = connect(&broker);
    negative.write_all(&0x8000_0000u32.to_be_bytes()).unwrap();
    assert_closed(negative);

    let mut truncated = connect(&broker);
    truncated.write_all(&[0, 0, 0, 100, 0, 18, 0, 3, 0, 0, 0, 1]).unwrap();
    truncated.shutdown(std::net::Shutdown::Write).unwrap();
    assert_closed(truncated);

    let mut unknown_api = connect(&broker);
    unknown_api.write_all(&[0, 0, 0, 10, 0x7f, 0x00, 0, 0, 0, 0, 0, 7, 0xff, 0xff]).unwrap();
    assert_closed(unknown_api);

    let mut bad_body = connect(&broker);
    // A Metadata v12 header followed by a body that cannot decode.
    bad_body.write_all(&[0, 0, 0, 12, 0, 3, 0, 12, 0, 0, 0, 9, 0xff, 0xff, 0x00, 0xff]).unwrap();
    assert_closed(bad_body);

    round_trip(&mut healthy, ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    metadata_works(&broker);
    let log = broker.log();
    for needle in ["socket.request.max.bytes", "unknown API key", "connection closed after"] {
        assert!(log.contains(needle), "log should mention `{needle}`:\n{log}");
    }
}

#[test]
fn api_versions_from_the_future_gets_the_kip_511_downgrade() {
    let broker = TestBroker::start();
    let mut stream = connect(&broker);
    // Version 127 of ApiVersions: header v2 by the client, answered with a v0 body.
    let mut frame = BytesMut::new();
    frame.extend_from_slice(&18i16.to_be_bytes());
    frame.extend_from_slice(&127i16.to_be_bytes());
    frame.extend_from_slice(&7i32.to_be_bytes());
    frame.extend_from_slice(&[0, 4]);
    frame.extend_from_slice(b"test");
    frame.extend_from_slice(&[0]); // empty tagged fields
    stream.write_all(&(frame.len() as u32).to_be_bytes()).unwrap();
    stream.write_all(&frame).unwrap();
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).unwrap();
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    stream.read_exact(&mut body).unwrap();
    let mut body = Bytes::from(body);
    let header = ResponseHeader::decode(&mut body, 0).unwrap();
    assert_eq!(header.correlation_id, 7);
    let response = ApiVersionsResponse::decode(&mut body, 0).unwrap();
    assert_eq!(response.error_code, 35, "UNSUPPORTED_VERSION");
    let api_versions =
        response.api_keys.iter().find(|k| k.api_key == ApiKey::ApiVersions as i16).unwrap();
    assert_eq!((api_versions.min_version, api_versions.max_version), (0, 4));
}

#[test]
fn produce_to_unknown_topic_or_partition_gets_error_3_and_acks_0_gets_no_response() {
    let broker = TestBroker::start_with(&["auto.create.topics.enable=false"]);
    let mut stream = connect(&broker);
    let produce = |topic: &str, partition: i32, acks: i16| {
        ProduceRequest::default().with_acks(acks).with_timeout_ms(1000).with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_owned())))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(partition)
                    .with_records(Some(Bytes::from_static(&[0; 70])))]),
        ])
    };
    let mut body = round_trip(&mut stream, ApiKey::Produce, 9, &produce("nope", 0, 1));
    let response = ProduceResponse::decode(&mut body, 9).unwrap();
    assert_eq!(response.responses[0].partition_responses[0].error_code, 3);

    // __consumer_offsets has 50 partitions: partition 50 is out of range.
    let mut body =
        round_trip(&mut stream, ApiKey::Produce, 9, &produce("__consumer_offsets", 50, -1));
    let response = ProduceResponse::decode(&mut body, 9).unwrap();
    assert_eq!(response.responses[0].partition_responses[0].error_code, 3);

    // A corrupt batch (zeros: bad magic and CRC) is refused with CORRUPT_MESSAGE, stored nothing.
    let mut body =
        round_trip(&mut stream, ApiKey::Produce, 9, &produce("__consumer_offsets", 0, 1));
    let code = ProduceResponse::decode(&mut body, 9).unwrap().responses[0].partition_responses[0]
        .error_code;
    assert!(code == 2 || code == 87, "CORRUPT_MESSAGE or INVALID_RECORD, got {code}");

    // acks=0: no response; the next request's response is the next thing on the wire.
    send(&mut stream, ApiKey::Produce, 9, 1, &produce("nope", 0, 0));
    round_trip(&mut stream, ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
}

/// Idempotent producer semantics on the wire: a retried batch is acknowledged with its original
/// offset and stored once; a sequence gap gets OUT_OF_ORDER_SEQUENCE_NUMBER.
#[test]
fn idempotent_sequences_drop_duplicates_and_reject_gaps() {
    use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse};
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };
    let broker = TestBroker::start_with(&["num.partitions=1"]);
    let mut stream = connect(&broker);
    let mut body = round_trip(&mut stream, ApiKey::Metadata, 12, &{
        use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
        MetadataRequest::default()
            .with_topics(Some(vec![MetadataRequestTopic::default()
                .with_name(Some(TopicName(StrBytes::from_static_str("seq"))))]))
            .with_allow_auto_topic_creation(true)
    });
    assert_eq!(MetadataResponse::decode(&mut body, 12).unwrap().topics[0].error_code, 0);
    let mut body = round_trip(
        &mut stream,
        ApiKey::InitProducerId,
        4,
        &InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(60_000),
    );
    let init = InitProducerIdResponse::decode(&mut body, 4).unwrap();
    assert_eq!(init.error_code, 0);
    let batch = |sequence: i32, count: i32| {
        let records: Vec<Record> = (0..count)
            .map(|i| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: 0,
                producer_id: init.producer_id.0,
                producer_epoch: init.producer_epoch,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                sequence: sequence + i,
                timestamp: 1_700_000_000_000,
                key: None,
                value: Some(Bytes::from(format!("seq-{}", sequence + i))),
                headers: Default::default(),
            })
            .collect();
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            records.iter(),
            &RecordEncodeOptions { version: 2, compression: Compression::None },
        )
        .unwrap();
        buf.freeze()
    };
    let mut produce = |records: Bytes| {
        let request = ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(1000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_static_str("seq")))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(records))])]);
        let mut body = round_trip(&mut stream, ApiKey::Produce, 9, &request);
        let p = ProduceResponse::decode(&mut body, 9)
            .unwrap()
            .responses
            .remove(0)
            .partition_responses
            .remove(0);
        (p.error_code, p.base_offset)
    };
    assert_eq!(produce(batch(0, 3)), (0, 0));
    assert_eq!(produce(batch(3, 2)), (0, 3));
    // The client retries the first batch: same offsets, nothing stored twice.
    assert_eq!(produce(batch(0, 3)), (0, 0));
    // A gap: sequence 9 after 4.
    assert_eq!(produce(batch(9, 1)).0, 45, "OUT_OF_ORDER_SEQUENCE_NUMBER");
    assert_eq!(produce(batch(5, 1)), (0, 5), "the next in-order batch is still accepted");
}
