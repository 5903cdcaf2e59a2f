//! Fuzzing the handshake paths of real listeners: garbage and mutated TLS ClientHellos on the
//! SSL and SASL_SSL listeners, and garbage, truncated and mutated SaslHandshake /
//! SaslAuthenticate frames (PLAIN and SCRAM) on a SASL_PLAINTEXT listener, from a seeded
//! generator. Every bad connection is closed (by the broker itself when the frame was
//! complete), the broker never panics, and a healthy SASL_SSL/SCRAM client connected the
//! whole time keeps being served.

// Drives the real binary from outside, on the OS's clock and threads: broker/clippy.toml's
// determinism rule is for the broker's own code, not for its tests.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_lab_admin::{AdminClient, ClientProperties};
use kafka_lab_tls::{CertificateAuthority, CertificateRequest, KeyAlgorithm};
use kafka_protocol::messages::{
    MetadataRequest, RequestHeader, RequestKind, SaslAuthenticateRequest, SaslHandshakeRequest,
};
use kafka_protocol::protocol::{Encodable, StrBytes};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use support::{free_port, TestBroker};

const PASSWORD: &str = "lab-pass";

fn certificates(dir: &Path) {
    let (ca, _) =
        CertificateAuthority::load_or_create(dir, "fuzz CA", KeyAlgorithm::EcP256, 30, false)
            .unwrap();
    let request = CertificateRequest::localhost_broker(KeyAlgorithm::EcP256);
    ca.issue(dir, &request, PASSWORD, false).unwrap();
}

/// The bytes a real TLS client (OpenSSL) opens a connection with.
fn real_client_hello() -> Vec<u8> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let client = std::thread::spawn(move || {
        let connector = openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls_client())
            .unwrap()
            .build();
        let tcp = TcpStream::connect(address).unwrap();
        let _ = connector.connect("localhost", tcp);
    });
    let (mut socket, _) = listener.accept().unwrap();
    let mut hello = vec![0u8; 4096];
    let n = socket.read(&mut hello).unwrap();
    hello.truncate(n);
    drop(socket);
    client.join().unwrap();
    assert_eq!(hello[0], 0x16, "a TLS handshake record");
    hello
}

fn frame(api_key: i16, version: i16, correlation_id: i32, request: RequestKind) -> Vec<u8> {
    let api = kafka_protocol::messages::ApiKey::try_from(api_key).unwrap();
    let mut body = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(api_key)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("fuzz")))
        .encode(&mut body, api.request_header_version(version))
        .unwrap();
    request.encode(&mut body, version).unwrap();
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&body);
    out
}

fn handshake(mechanism: &str) -> Vec<u8> {
    frame(
        17,
        1,
        1,
        RequestKind::SaslHandshake(
            SaslHandshakeRequest::default().with_mechanism(StrBytes::from_string(mechanism.into())),
        ),
    )
}

fn authenticate(correlation_id: i32, bytes: Vec<u8>) -> Vec<u8> {
    frame(
        36,
        2,
        correlation_id,
        RequestKind::SaslAuthenticate(
            SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(bytes)),
        ),
    )
}

fn mutate(rng: &mut ChaCha8Rng, valid: &[u8], keep_prefix: usize) -> Vec<u8> {
    let mut m = valid.to_vec();
    match rng.gen_range(0..3) {
        0 => m.truncate(rng.gen_range(0..valid.len())),
        1 => {
            for _ in 0..rng.gen_range(1..6) {
                let at = rng.gen_range(keep_prefix.min(m.len() - 1)..m.len());
                m[at] = rng.gen();
            }
        }
        _ => m = (0..rng.gen_range(1..300)).map(|_| rng.gen()).collect(),
    }
    m
}

/// Reads until the broker closes the connection; panics if it is still open at `deadline`.
fn expect_closed(mut stream: TcpStream, within: Duration, what: &str) -> Vec<u8> {
    stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let deadline = Instant::now() + within;
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return received,
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return received,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                assert!(Instant::now() < deadline, "{what}: the broker kept the connection open");
            }
            Err(e) => panic!("{what}: {e}"),
        }
    }
}

/// The error code of the last SaslAuthenticate response in `received` (v2 response header:
/// length, correlation id, tagged fields; then the error code).
fn last_response_error(received: &[u8]) -> Option<i16> {
    let mut at = 0;
    let mut last = None;
    while at + 4 <= received.len() {
        let len = u32::from_be_bytes(received[at..at + 4].try_into().unwrap()) as usize;
        let body = received.get(at + 4..at + 4 + len)?;
        last = Some(body);
        at += 4 + len;
    }
    let body = last?;
    Some(i16::from_be_bytes([*body.get(5)?, *body.get(6)?]))
}

#[test]
fn garbage_handshakes_close_their_connection_and_others_are_served() {
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path());
    let (ssl, sasl_ssl, sasl_plain) = (free_port(), free_port(), free_port());
    let broker = TestBroker::start_with_listeners(
        &format!("SSL://127.0.0.1:{ssl},SASL_SSL://127.0.0.1:{sasl_ssl},SASL_PLAINTEXT://127.0.0.1:{sasl_plain}"),
        &[
            &format!("ssl.keystore.location={}", dir.path().join("broker.p12").display()),
            &format!("ssl.keystore.password={PASSWORD}"),
            "listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_alice=\"alice-secret\";",
            "sasl.scram.users=['SCRAM-SHA-256=[name=alice,password=alice-secret]']",
        ],
    );
    let healthy_properties = ClientProperties::parse(&format!(
        "security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-256\nsasl.username=alice\n\
         sasl.password=alice-secret\nssl.ca.location={}\n",
        dir.path().join("ca.crt").display()
    ))
    .unwrap();
    let mut healthy =
        AdminClient::connect(&format!("localhost:{sasl_ssl}"), &healthy_properties).unwrap();
    let hello = real_client_hello();
    let mut rng = ChaCha8Rng::seed_from_u64(0x6861_6e64);
    let (mut closed_by_broker, mut auth_failures) = (0, 0);
    for round in 0..600 {
        let what = format!("round {round}");
        match round % 5 {
            // TLS: a mutated or truncated ClientHello, or noise, then our FIN.
            0 | 1 => {
                let port = if round % 5 == 0 { ssl } else { sasl_ssl };
                let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
                let _ = stream.write_all(&mutate(&mut rng, &hello, 0));
                let _ = stream.shutdown(Shutdown::Write);
                expect_closed(stream, Duration::from_secs(12), &what);
            }
            // SASL: a mutated handshake frame, then our FIN.
            2 => {
                let mut stream = TcpStream::connect(("127.0.0.1", sasl_plain)).unwrap();
                let mechanism =
                    ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "GSSAPI"][rng.gen_range(0..4)];
                let _ = stream.write_all(&mutate(&mut rng, &handshake(mechanism), 0));
                let _ = stream.shutdown(Shutdown::Write);
                expect_closed(stream, Duration::from_secs(5), &what);
            }
            // SASL: a valid handshake and a complete SaslAuthenticate carrying garbage, mutated
            // PLAIN or a mutated SCRAM client-first: the broker answers and closes by itself.
            3 => {
                let mut stream = TcpStream::connect(("127.0.0.1", sasl_plain)).unwrap();
                let plain = rng.gen_bool(0.5);
                stream
                    .write_all(&handshake(if plain { "PLAIN" } else { "SCRAM-SHA-256" }))
                    .unwrap();
                let token = if plain {
                    mutate(&mut rng, b"\0alice\0alice-secret", 0)
                } else {
                    mutate(&mut rng, b"n,,n=alice,r=0123456789abcdef", 0)
                };
                stream.write_all(&authenticate(2, token.clone())).unwrap();
                if !plain {
                    // A first message that survived mutation gets a challenge; a garbage
                    // final message must then fail.
                    let junk = (0..rng.gen_range(0..120)).map(|_| rng.gen()).collect();
                    let _ = stream.write_all(&authenticate(3, junk));
                }
                let received = expect_closed(stream, Duration::from_secs(5), &what);
                closed_by_broker += 1;
                if matches!(last_response_error(&received), Some(58) | Some(34)) {
                    auth_failures += 1;
                }
            }
            // SCRAM: a real client-first, then a mutated client-final.
            _ => {
                let mut stream = TcpStream::connect(("127.0.0.1", sasl_plain)).unwrap();
                stream.write_all(&handshake("SCRAM-SHA-256")).unwrap();
                stream.write_all(&authenticate(2, b"n,,n=alice,r=fuzzfuzzfuzz".to_vec())).unwrap();
                let final_message =
                    b"c=biws,r=fuzzfuzzfuzz0000,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
                let mutated = mutate(&mut rng, final_message, 0);
                let frame = authenticate(3, mutated);
                // Sometimes the frame itself is cut short: then our FIN ends it.
                if rng.gen_bool(0.2) {
                    let cut = rng.gen_range(0..frame.len());
                    let _ = stream.write_all(&frame[..cut]);
                    let _ = stream.shutdown(Shutdown::Write);
                } else {
                    stream.write_all(&frame).unwrap();
                    closed_by_broker += 1;
                }
                expect_closed(stream, Duration::from_secs(5), &what);
            }
        }
        if round % 25 == 0 {
            let metadata = healthy
                .call(&MetadataRequest::default().with_topics(None))
                .unwrap_or_else(|e| panic!("round {round}: the healthy client was hurt: {e}"));
            assert_eq!(metadata.brokers.len(), 1);
        }
    }
    assert!(closed_by_broker >= 200, "{closed_by_broker}");
    assert!(auth_failures > 50, "only {auth_failures} SASL_AUTHENTICATION_FAILED answers");
    // A new client still connects and authenticates, and the old one is still served.
    let mut fresh =
        AdminClient::connect(&format!("localhost:{sasl_ssl}"), &healthy_properties).unwrap();
    fresh.call(&MetadataRequest::default().with_topics(None)).unwrap();
    healthy.call(&MetadataRequest::default().with_topics(None)).unwrap();
    let log = broker.log();
    assert!(!log.contains("panicked"), "{}", broker.log_tail());
    assert!(log.contains("authentication failed"));
}
