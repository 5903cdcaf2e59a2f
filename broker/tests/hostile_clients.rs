//! The real broker binary against clients that mean harm or are broken: a recorded SCRAM
//! exchange replayed after a restart with the same `--seed`, SASL requests and garbage on a
//! PLAINTEXT listener (no failed authentication counted), connections over `max.connections`
//! and `max.connections.per.ip` while a healthy librdkafka producer keeps producing, frames
//! that announce 100 MiB and stall (no allocation up front, closed after
//! `connections.max.idle.ms`), `queued.max.request.bytes` holding further requests, idle
//! connections, and garbage from 200 connections (a bounded number of WARN lines).

// Drives the real binary from outside, on the OS's clock and threads: broker/clippy.toml's
// determinism rule is for the broker's own code, not for its tests.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use kafka_lab_admin::scram::ScramClient;
use kafka_lab_broker::client_codec::{decode_response, encode_request};
use kafka_lab_testkit::scrape::Scrape;
use kafka_protocol::messages::{ApiVersionsRequest, SaslAuthenticateRequest, SaslHandshakeRequest};
use kafka_protocol::protocol::{Request, StrBytes};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use support::{free_port, TestBroker};

const SCRAM_USERS: &str = "sasl.scram.users=['SCRAM-SHA-256=[name=alice,password=alice-secret]']";
const FAILED: &str = "kafka_server_socket_server_metrics_failed_authentication_total";

fn connect(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connecting to the broker");
    stream.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    stream
}

fn send_frame(stream: &mut TcpStream, body: &[u8]) {
    stream.write_all(&(body.len() as u32).to_be_bytes()).unwrap();
    stream.write_all(body).unwrap();
}

fn read_frame(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut size = [0u8; 4];
    stream.read_exact(&mut size)?;
    let mut frame = vec![0u8; u32::from_be_bytes(size) as usize];
    stream.read_exact(&mut frame)?;
    Ok(frame)
}

/// One request and its response on `stream`.
fn call<R: Request>(stream: &mut TcpStream, version: i16, request: &R) -> R::Response {
    let body = encode_request(request, version, 1, "hostile-test").unwrap();
    send_frame(stream, &body);
    let frame = read_frame(stream).expect("a response");
    decode_response::<R>(frame.into(), version, 1).unwrap()
}

/// Whether the broker closed `stream` (EOF or reset) within `limit`.
fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => {
            !matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
        }
    }
}

fn handshake(stream: &mut TcpStream) -> i16 {
    let request =
        SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("SCRAM-SHA-256"));
    call(stream, 1, &request).error_code
}

fn authenticate(stream: &mut TcpStream, token: &[u8]) -> (i16, Vec<u8>) {
    let request =
        SaslAuthenticateRequest::default().with_auth_bytes(bytes::Bytes::copy_from_slice(token));
    let response = call(stream, 2, &request);
    (response.error_code, response.auth_bytes.to_vec())
}

fn scram_broker(seed: &str, metrics: Option<u16>) -> (TestBroker, u16) {
    let sasl = free_port();
    let mut overrides = vec![SCRAM_USERS.to_owned()];
    if let Some(port) = metrics {
        overrides.push(format!("prometheus.metrics.reporter.listener=http://127.0.0.1:{port}"));
    }
    let overrides: Vec<&str> = overrides.iter().map(String::as_str).collect();
    let broker = TestBroker::start_with_args(
        &["--seed", seed],
        &format!("SASL_PLAINTEXT://127.0.0.1:{sasl}"),
        &overrides,
    );
    (broker, sasl)
}

/// Waits until the broker serves requests: its listeners are bound before its data is opened,
/// and a restart during start-up would leave a start half done.
fn served(broker: &TestBroker) {
    assert_eq!(call(&mut connect(broker.port), 3, &ApiVersionsRequest::default()).error_code, 0);
}

/// The server nonce (`r=`) of a server-first message.
fn server_nonce(server_first: &[u8]) -> String {
    let text = String::from_utf8_lossy(server_first);
    text.split(',').find_map(|a| a.strip_prefix("r=")).expect("a nonce").to_owned()
}

#[test]
fn a_recorded_scram_exchange_does_not_replay_after_a_restart_with_the_same_seed() {
    let (mut broker, sasl) = scram_broker("1", None);
    // From the second start on, a seeded broker draws the same sequence every time.
    served(&broker);
    broker.restart();
    served(&broker);

    // A real exchange, recorded as an eavesdropper on a plaintext SASL listener sees it.
    let mut client = ScramClient::new("SCRAM-SHA-256", "alice", "alice-secret").unwrap();
    let mut stream = connect(sasl);
    assert_eq!(handshake(&mut stream), 0);
    let client_first = client.client_first();
    let (code, server_first) = authenticate(&mut stream, &client_first);
    assert_eq!(code, 0);
    let client_final = client.client_final(&server_first).unwrap();
    let (code, server_final) = authenticate(&mut stream, &client_final);
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&server_final));
    client.verify_server_final(&server_final).unwrap();

    // The same seed, the same data directory: the attacker replays the client's messages.
    broker.restart();
    served(&broker);
    let mut stream = connect(sasl);
    assert_eq!(handshake(&mut stream), 0);
    let (code, replay_first) = authenticate(&mut stream, &client_first);
    assert_eq!(code, 0);
    assert_ne!(
        server_nonce(&replay_first),
        server_nonce(&server_first),
        "the server nonce repeated after a restart with the same --seed"
    );
    let (code, _) = authenticate(&mut stream, &client_final);
    assert_eq!(code, 58, "a replayed client-final message must get SASL_AUTHENTICATION_FAILED");
    assert!(closed_within(&mut stream, Duration::from_secs(5)));

    // Two brokers started with the same seed draw different nonces too.
    let (_other, other_sasl) = scram_broker("1", None);
    let nonce = |port: u16| {
        let mut stream = connect(port);
        assert_eq!(handshake(&mut stream), 0);
        let (code, first) = authenticate(&mut stream, &client_first);
        assert_eq!(code, 0);
        server_nonce(&first)
    };
    assert_ne!(nonce(sasl), nonce(other_sasl));
}

#[test]
fn garbage_and_sasl_requests_on_plaintext_are_not_failed_authentications() {
    let metrics = free_port();
    let (broker, sasl) = scram_broker("7", Some(metrics));
    let plaintext = [("listener", "PLAINTEXT")];
    let sasl_listener = [("listener", "SASL_PLAINTEXT")];

    // SASL requests on PLAINTEXT answer ILLEGAL_SASL_STATE and keep the connection, as Kafka.
    let mut stream = connect(broker.port);
    assert_eq!(handshake(&mut stream), 34);
    assert_eq!(authenticate(&mut stream, b"n,,n=alice,r=abc").0, 34);
    let versions = call(&mut stream, 3, &ApiVersionsRequest::default());
    assert_eq!(versions.error_code, 0);
    // Garbage: an unknown API key, a header cut short, a SaslHandshake body that is noise.
    for body in
        [&b"\x7f\x7f\0\0\0\0\0\x01garbage"[..], b"\0\x11", b"\0\x11\0\x01\0\0\0\x02\xff\xff\xff"]
    {
        let mut stream = connect(broker.port);
        send_frame(&mut stream, body);
        assert!(closed_within(&mut stream, Duration::from_secs(5)));
    }
    let s = Scrape::get(metrics);
    assert_eq!(s.sum(FAILED, &plaintext), 0.0, "garbage on PLAINTEXT counted as failed logins");

    // A real failed SASL login still counts, once.
    let mut client = ScramClient::new("SCRAM-SHA-256", "alice", "wrong-password").unwrap();
    let mut stream = connect(sasl);
    assert_eq!(handshake(&mut stream), 0);
    let (_, server_first) = authenticate(&mut stream, &client.client_first());
    let (code, _) = authenticate(&mut stream, &client.client_final(&server_first).unwrap());
    assert_eq!(code, 58);
    assert!(closed_within(&mut stream, Duration::from_secs(5)));
    let s = Scrape::get(metrics);
    assert_eq!(s.sum(FAILED, &sasl_listener), 1.0);
    assert_eq!(s.sum(FAILED, &plaintext), 0.0);
}

/// Produces one record at a time to `topic` for as long as `busy` runs, and prints each
/// acknowledgement's latency (no assertion on it: timings belong to benchmarks).
fn with_healthy_producer<T>(bootstrap: &str, topic: &str, busy: impl FnOnce() -> T) -> T {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "0")
        .create()
        .expect("producer");
    let produce_one = |i: usize| {
        let started = Instant::now();
        let payload = format!("healthy-{i}");
        producer.send(BaseRecord::<(), _>::to(topic).payload(&payload)).expect("queued");
        // Polled finely: `flush` would round every latency up to its 100 ms poll.
        while producer.in_flight_count() > 0 {
            producer.poll(Duration::from_millis(1));
            assert!(started.elapsed() < Duration::from_secs(30), "record {i} not acknowledged");
        }
        started.elapsed()
    };
    produce_one(0); // creates the topic (auto.create.topics.enable) and the connections
    /// Stops the producer however `busy` ends, so a failing test does not hang.
    struct Stop<'a>(&'a std::sync::atomic::AtomicBool);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            self.0.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (out, latencies) = std::thread::scope(|scope| {
        let producing = scope.spawn(|| {
            let mut latencies = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) || latencies.len() < 20 {
                latencies.push(produce_one(latencies.len() + 1));
            }
            latencies
        });
        let _stop = Stop(&stop);
        let out = busy();
        drop(_stop);
        (out, producing.join().unwrap())
    });
    let mut sorted = latencies.clone();
    sorted.sort();
    println!(
        "healthy producer meanwhile: {} records, latency p50 {:?}, p99 {:?}, max {:?}",
        sorted.len(),
        sorted[sorted.len() / 2],
        sorted[sorted.len() * 99 / 100],
        sorted[sorted.len() - 1]
    );
    out
}

/// A connection from `source` (any 127/8 address: loopback answers them all).
fn connect_from(source: &str, port: u16) -> TcpStream {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let stream = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(format!("{source}:0").parse::<SocketAddr>().unwrap()).unwrap();
        socket.connect(SocketAddr::from(([127, 0, 0, 1], port))).await.unwrap()
    });
    let stream = stream.into_std().unwrap();
    stream.set_nonblocking(false).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    stream
}

#[test]
fn connections_over_max_connections_per_ip_are_closed_while_a_healthy_client_produces() {
    // 127.0.0.2 may hold 3 connections; the producer on 127.0.0.1 has the default limit.
    let broker = TestBroker::start_with(&["max.connections.per.ip.overrides=127.0.0.2:3"]);
    let (kept, refused) = with_healthy_producer(&broker.bootstrap(), "healthy", || {
        let mut kept = Vec::new();
        let mut refused = 0;
        for _ in 0..200 {
            let mut stream = connect_from("127.0.0.2", broker.port);
            let body = encode_request(&ApiVersionsRequest::default(), 3, 1, "flood").unwrap();
            // A refused connection may already be closed when the request is written.
            let mut frame = (body.len() as u32).to_be_bytes().to_vec();
            frame.extend_from_slice(&body);
            let _ = stream.write_all(&frame);
            match read_frame(&mut stream) {
                Ok(_) => kept.push(stream),
                Err(_) => refused += 1,
            }
        }
        (kept, refused)
    });
    assert_eq!(kept.len(), 3, "connections served from 127.0.0.2");
    assert_eq!(refused, 197, "connections over the limit closed at once");
    assert!(broker.log().contains("max.connections.per.ip (3)"), "{}", broker.log_tail());
    // A slot freed is a slot usable again.
    drop(kept);
    std::thread::sleep(Duration::from_millis(300));
    let mut stream = connect_from("127.0.0.2", broker.port);
    assert_eq!(call(&mut stream, 3, &ApiVersionsRequest::default()).error_code, 0);
}

#[test]
fn at_max_connections_new_connections_wait_for_a_free_slot() {
    let broker = TestBroker::start_with(&["max.connections=3"]);
    let mut open: Vec<TcpStream> = (0..3).map(|_| connect(broker.port)).collect();
    for stream in &mut open {
        assert_eq!(call(stream, 3, &ApiVersionsRequest::default()).error_code, 0);
    }
    // The fourth is accepted by the kernel but not served, as Kafka's acceptor blocks.
    let mut waiting = connect(broker.port);
    let body = encode_request(&ApiVersionsRequest::default(), 3, 1, "waiting").unwrap();
    send_frame(&mut waiting, &body);
    waiting.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    assert!(read_frame(&mut waiting).is_err(), "served past max.connections");
    drop(open.pop());
    waiting.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    assert!(read_frame(&mut waiting).is_ok(), "not served once a connection closed");
    assert!(broker.log().contains("max.connections reached"), "{}", broker.log_tail());
}

/// `(VmRSS, VmData)` of process `pid`, in kB.
fn memory_kb(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    };
    (field("VmRSS:"), field("VmData:"))
}

#[test]
fn announced_frames_allocate_only_what_arrives_and_stalled_ones_time_out() {
    let idle_ms = 3000;
    let broker = TestBroker::start_with(&[&format!("connections.max.idle.ms={idle_ms}")]);
    let pid = broker.pid().unwrap();
    // Warm up: one ordinary request, so start-up allocations are behind us.
    assert_eq!(call(&mut connect(broker.port), 3, &ApiVersionsRequest::default()).error_code, 0);
    let (rss_before, data_before) = memory_kb(pid);
    let started = Instant::now();
    let mut stalled: Vec<TcpStream> = (0..10)
        .map(|_| {
            let mut stream = connect(broker.port);
            stream.write_all(&104_857_600u32.to_be_bytes()).unwrap(); // socket.request.max.bytes
            stream.write_all(b"\0\x12\0\x03\0\0\0\x01ab").unwrap(); // 10 of those bytes
            stream
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1000));
    let (rss, data) = memory_kb(pid);
    println!(
        "ten 100 MiB frames announced, 10 bytes each sent: VmRSS {rss_before} -> {rss} kB, \
         VmData {data_before} -> {data} kB"
    );
    assert!(rss < rss_before + 50 * 1024, "VmRSS grew from {rss_before} to {rss} kB");
    assert!(data < data_before + 100 * 1024, "VmData grew from {data_before} to {data} kB");
    for stream in &mut stalled {
        assert!(closed_within(stream, Duration::from_millis(idle_ms + 5000)));
    }
    let elapsed = started.elapsed();
    println!("stalled requests closed after {elapsed:?} (connections.max.idle.ms={idle_ms})");
    assert!(elapsed >= Duration::from_millis(idle_ms - 100));
    assert!(
        broker.log().contains("request stalled after 10 of 104857600"),
        "{}",
        broker.log_tail()
    );
}

#[test]
fn idle_connections_are_closed_after_connections_max_idle_ms() {
    let idle_ms = 1500;
    let broker = TestBroker::start_with(&[&format!("connections.max.idle.ms={idle_ms}")]);
    let mut stream = connect(broker.port);
    // Activity keeps a connection: requests 1 s apart, each within the idle time.
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(1000));
        assert_eq!(call(&mut stream, 3, &ApiVersionsRequest::default()).error_code, 0);
    }
    let quiet = Instant::now();
    assert!(closed_within(&mut stream, Duration::from_millis(idle_ms + 5000)));
    println!("idle connection closed after {:?}", quiet.elapsed());
    assert!(quiet.elapsed() >= Duration::from_millis(idle_ms - 100));
}

#[test]
fn garbage_from_200_connections_logs_a_bounded_number_of_warn_lines() {
    let broker = TestBroker::start();
    let warns = |log: &str| log.lines().filter(|l| l.contains("WARN")).count();
    let before = warns(&broker.log());
    let flood = |n: usize| {
        for i in 0..n {
            let mut stream = connect(broker.port);
            // An unknown API key: the connection is closed with a WARN line.
            send_frame(&mut stream, &[0x7f, 0x7f, 0, 0, 0, 0, 0, i as u8, 1, 2, 3]);
            assert!(closed_within(&mut stream, Duration::from_secs(5)));
        }
    };
    flood(200);
    // The connection closes just before its line is written.
    std::thread::sleep(Duration::from_millis(300));
    let during = warns(&broker.log()) - before;
    println!("200 bad frames: {during} WARN lines");
    // One window's budget, or two if the flood straddled a window boundary.
    assert!(during <= 2 * 20 + 1, "{during} WARN lines for 200 bad frames");
    // The next window's first line reports what was left out.
    std::thread::sleep(Duration::from_millis(10_500));
    flood(1);
    std::thread::sleep(Duration::from_millis(300));
    let log = broker.log();
    let summary = log.lines().find(|l| l.contains("more bad frames")).expect("a summary line");
    println!("{summary}");
    let total = warns(&log) - before;
    assert!(total <= 2 * 20 + 3, "{total} WARN lines for 201 bad frames");
}

#[test]
fn queued_max_request_bytes_holds_further_requests_until_memory_is_released() {
    let broker =
        TestBroker::start_with(&["queued.max.request.bytes=4096", "connections.max.idle.ms=2000"]);
    served(&broker);
    // A client announces more than the whole pool and stalls: admitted alone, as Kafka's
    // non-strict pool admits a request while any memory is left.
    let mut hog = connect(broker.port);
    hog.write_all(&8192u32.to_be_bytes()).unwrap();
    hog.write_all(b"\0\x12\0\x03\0\0\0\x01").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    // Meanwhile another client's request is not read...
    let mut waiting = connect(broker.port);
    let body = encode_request(&ApiVersionsRequest::default(), 3, 1, "waiting").unwrap();
    send_frame(&mut waiting, &body);
    waiting.set_read_timeout(Some(Duration::from_millis(1000))).unwrap();
    assert!(read_frame(&mut waiting).is_err(), "served while the pool was exhausted");
    // ... until the stalled request's connection is closed and its memory released.
    assert!(closed_within(&mut hog, Duration::from_secs(10)));
    waiting.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let frame = read_frame(&mut waiting).expect("served once memory was released");
    let response =
        decode_response::<ApiVersionsRequest>(frame.into(), 3, 1).expect("an ApiVersions answer");
    assert_eq!(response.error_code, 0);
}
