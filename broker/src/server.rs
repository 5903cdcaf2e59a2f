//! The connection loop: Kafka's length-prefixed frames over any byte stream.
//!
//! Generic over `AsyncRead + AsyncWrite`, so the same code serves tokio TCP in the binary and
//! turmoil TCP in the simulator. Requests on one connection are handled one at a time, as
//! Kafka's broker does (it mutes a channel while a request is in flight), which keeps responses
//! in request order. A frame that cannot be a valid request closes only its own connection.

use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};
use tracing::Instrument;

use crate::broker::Broker;
use crate::handlers::{self, api_versions, RequestContext};
use crate::limits::LogKind;
use crate::quota;
use crate::security::Session;

/// Why a connection was closed by the broker.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The length prefix is negative or above `socket.request.max.bytes`.
    #[error("request frame of {size} bytes is larger than socket.request.max.bytes ({max})")]
    TooLarge { size: i64, max: i32 },
    /// The peer closed mid-frame.
    #[error("connection closed after {read} of {size} frame bytes")]
    Truncated { read: usize, size: usize },
    /// No bytes in or out for `connections.max.idle.ms`; `partial` is a stalled request's
    /// (bytes read, frame size).
    #[error("{}", idle_reason(*idle_ms, *partial))]
    Idle { idle_ms: i64, partial: Option<(usize, usize)> },
    /// The frame does not hold a request this broker can decode.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// SASL authentication failed; the error response was sent before closing, as in Kafka.
    #[error("{0}")]
    AuthenticationFailed(String),
    /// The metadata records a request wrote were not committed (the quorum's leadership was
    /// lost, or no majority fetched them in time): its response would claim what may not
    /// last, so none is sent and the connection closes; the client retries.
    #[error("metadata not committed: {0}")]
    NotCommitted(String),
    /// Socket error.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

fn idle_reason(idle_ms: i64, partial: Option<(usize, usize)>) -> String {
    match partial {
        Some((read, size)) => format!(
            "request stalled after {read} of {size} frame bytes for connections.max.idle.ms \
             ({idle_ms} ms)"
        ),
        None => format!("idle for connections.max.idle.ms ({idle_ms} ms)"),
    }
}

/// A frame's buffer starts at most this large and grows as its bytes arrive, so a length
/// prefix alone (up to `socket.request.max.bytes`) does not allocate what it announces.
const FRAME_BUFFER_INITIAL: usize = 64 * 1024;

/// Serves one plaintext client connection (the `PLAINTEXT` listener) until it closes or sends
/// something that is not a request.
pub async fn serve_connection<S>(broker: Arc<Broker>, stream: S, peer: String)
where
    S: AsyncRead + AsyncWrite + Send + Unpin,
{
    serve_session(broker, stream, Session::plaintext(peer)).await
}

/// Serves one connection whose listener and TLS identity are already known.
pub async fn serve_session<S>(broker: Arc<Broker>, stream: S, mut session: Session)
where
    S: AsyncRead + AsyncWrite + Send + Unpin,
{
    let span =
        tracing::info_span!("connection", peer = %session.peer, listener = %session.listener);
    async move {
        let _open = broker.metrics.connection_opened(&session.listener);
        tracing::debug!(principal = %session.principal, "accepted");
        match connection_loop(&broker, stream, &mut session).await {
            Ok(()) => tracing::debug!("closed by client"),
            Err(FrameError::Io(e)) => tracing::debug!(error = %e, "connection error"),
            Err(FrameError::AuthenticationFailed(reason)) => {
                // The one place a failed SASL authentication is counted; only SASL listeners
                // have one to fail (the handlers never fail a session elsewhere).
                debug_assert!(session.protocol.uses_sasl());
                let mechanism = session.mechanism.unwrap_or("UNKNOWN");
                broker.stats.record_authentication_failure(&session.listener, mechanism);
                crate::throttled_warn!(broker, LogKind::FailedAuthentication, principal = %session.principal, mechanism, %reason, "authentication failed")
            }
            Err(e @ FrameError::Idle { partial: None, .. }) => {
                // Kafka's idle expiry of a quiet connection: routine, not the client's fault.
                tracing::debug!(reason = %e, "closing connection")
            }
            // Hostile input must not flood the log: a budget of lines per kind and window.
            Err(e) => crate::throttled_warn!(broker, LogKind::BadFrame, error = %e, "closing connection"),
        }
    }
    .instrument(span)
    .await
}

async fn connection_loop<S>(
    broker: &Arc<Broker>,
    stream: S,
    session: &mut Session,
) -> Result<(), FrameError>
where
    S: AsyncRead + AsyncWrite + Send + Unpin,
{
    let (read_half, write_half) = tokio::io::split(stream);
    let mut reader = BufReader::with_capacity(64 * 1024, read_half);
    let mut writer = BufWriter::with_capacity(64 * 1024, write_half);
    let max = broker.config.socket_request_max_bytes;
    let idle_ms = broker.config.connections_max_idle_ms;
    // Kafka's idle expiry: every read and write restarts the timer, so a slow client is fine
    // and a silent one (mid-request too) is closed. tokio time: the simulator controls it.
    let idle = |partial: Option<(usize, usize)>| FrameError::Idle { idle_ms, partial };
    loop {
        // Flush pending responses before blocking on the next request: pipelined requests that
        // are already buffered get their responses written in one go.
        if reader.buffer().is_empty() {
            within_idle(idle_ms, writer.flush()).await.ok_or_else(|| idle(None))??;
        }
        let size = match within_idle(idle_ms, reader.read_i32()).await.ok_or_else(|| idle(None))? {
            Ok(size) => size,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        if size < 0 || size > max {
            return Err(FrameError::TooLarge { size: size as i64, max });
        }
        let size = size as usize;
        // Held until the request is handled, as Kafka releases a request's buffer.
        let _memory = broker.memory_pool.allocate(size).await;
        let mut frame = BytesMut::with_capacity(size.min(FRAME_BUFFER_INITIAL));
        while frame.len() < size {
            if frame.len() == frame.capacity() {
                // Doubling: memory stays within twice the bytes that actually arrived.
                frame.reserve((size - frame.len()).min(frame.len()));
            }
            let remaining = (size - frame.len()) as u64;
            let read = within_idle(idle_ms, (&mut reader).take(remaining).read_buf(&mut frame))
                .await
                .ok_or_else(|| idle(Some((frame.len(), size))))??;
            if read == 0 {
                return Err(FrameError::Truncated { read: frame.len(), size });
            }
        }
        // Request time, as Kafka's TotalTimeMs: from the request read to its response written.
        let started_ms = broker.clock.now_ms();
        // A frame too short for an API key is refused by `handle_frame`.
        let api_key =
            frame.get(..2).and_then(|k| ApiKey::try_from(i16::from_be_bytes([k[0], k[1]])).ok());
        if let Some(response) = handle_frame(broker, frame.freeze(), session).await? {
            writer.write_u32(response.len() as u32).await?;
            writer.write_all(&response).await?;
        }
        if let Some(api_key) = api_key {
            broker.metrics.record_request_time(api_key, broker.clock.now_ms() - started_ms);
        }
        if let Some(reason) = session.authentication_failure.take() {
            writer.flush().await?;
            return Err(FrameError::AuthenticationFailed(reason));
        }
        if session.throttle_ms > 0 {
            // KIP-219: the throttled response goes out now; the connection is muted (nothing
            // more is read, so the client's further requests wait in its socket) meanwhile.
            writer.flush().await?;
            let ms = std::mem::take(&mut session.throttle_ms);
            crate::runtime::sleep(std::time::Duration::from_millis(ms as u64)).await;
        }
    }
}

/// `io`, unless it takes longer than `idle_ms` (negative: no limit).
async fn within_idle<F: std::future::Future>(idle_ms: i64, io: F) -> Option<F::Output> {
    if idle_ms < 0 {
        return Some(io.await);
    }
    crate::runtime::timeout(std::time::Duration::from_millis(idle_ms as u64), io).await.ok()
}

/// A request frame decoded by [`decode_request`]: what `handle_frame` hands to a handler.
// Returned by value once per frame and matched at once: boxing the request would cost an
// allocation per request for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum DecodedFrame {
    /// A request this broker serves at this version.
    Request {
        /// The API, from the header's api key.
        api_key: ApiKey,
        /// The request header (api key, version, correlation id, client id).
        header: RequestHeader,
        /// The decoded request body.
        request: RequestKind,
    },
    /// ApiVersions at a version newer than ours: answered with KIP-511's v0 response.
    UnsupportedApiVersions {
        /// The version the client asked for.
        api_version: i16,
        /// Echoed in the response.
        correlation_id: i32,
    },
}

/// Decodes one request frame (without its length prefix) as `handle_frame` does: the api key
/// and version are checked against `handlers::api_versions::SUPPORTED`, a connection on a SASL
/// listener that has not authenticated may send only ApiVersions and the SASL APIs, then the
/// header and body are decoded. Pure: touches neither the broker nor the session.
pub fn decode_request(mut frame: Bytes, session: &Session) -> Result<DecodedFrame, FrameError> {
    if frame.len() < 8 {
        return Err(FrameError::Invalid(format!(
            "{} bytes is too short for a request header",
            frame.len()
        )));
    }
    let api_key_raw = i16::from_be_bytes([frame[0], frame[1]]);
    let api_version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let api_key = ApiKey::try_from(api_key_raw)
        .map_err(|_| FrameError::Invalid(format!("unknown API key {api_key_raw}")))?;
    if api_key == ApiKey::ApiVersions && !api_versions::is_supported(api_key, api_version) {
        return Ok(DecodedFrame::UnsupportedApiVersions { api_version, correlation_id });
    }
    if !api_versions::is_supported(api_key, api_version) {
        // Apache Kafka closes the connection here too: the client ignored our ApiVersions.
        return Err(FrameError::Invalid(format!(
            "{api_key:?} v{api_version} is not supported (see ApiVersions for the supported range)"
        )));
    }
    let sasl_api = matches!(api_key, ApiKey::SaslHandshake | ApiKey::SaslAuthenticate);
    if !session.is_authenticated() && api_key != ApiKey::ApiVersions && !sasl_api {
        // Kafka closes here too: the client skipped authentication on a SASL listener
        // (typically security.protocol=PLAINTEXT pointed at a SASL port).
        return Err(FrameError::Invalid(format!(
            "unexpected {api_key:?} request before SASL authentication on listener {} ({})",
            session.listener, session.protocol
        )));
    }
    let header_version = api_key.request_header_version(api_version);
    let header = RequestHeader::decode(&mut frame, header_version)
        .map_err(|e| FrameError::Invalid(format!("{api_key:?} v{api_version} header: {e}")))?;
    let request = RequestKind::decode(api_key, &mut frame, api_version)
        .map_err(|e| FrameError::Invalid(format!("{api_key:?} v{api_version} body: {e}")))?;
    if frame.has_remaining() {
        tracing::debug!(
            ?api_key,
            api_version,
            trailing = frame.remaining(),
            "ignoring trailing bytes"
        );
    }
    Ok(DecodedFrame::Request { api_key, header, request })
}

/// Decodes one request frame, handles it, and encodes the response frame body (without the
/// length prefix). `None` means the request gets no response (Produce with acks=0).
pub async fn handle_frame(
    broker: &Arc<Broker>,
    frame: Bytes,
    session: &mut Session,
) -> Result<Option<Bytes>, FrameError> {
    // Produce quotas count the request's size, as Kafka's do.
    let frame_len = frame.len() + 4;
    let (api_key, header, request) = match decode_request(frame, session)? {
        DecodedFrame::Request { api_key, header, request } => (api_key, header, request),
        DecodedFrame::UnsupportedApiVersions { api_version, correlation_id } => {
            // KIP-511: a client newer than us gets our version list in a v0 body with
            // UNSUPPORTED_VERSION, so it can retry with a version we speak.
            tracing::debug!(api_version, "ApiVersions version unsupported; answering with v0");
            let response = api_versions::unsupported_version_response();
            broker.metrics.record_request(ApiKey::ApiVersions, api_version, Some(&response));
            return Ok(Some(encode_response(correlation_id, 0, &response, 0)?));
        }
    };
    let api_version = header.request_api_version;
    let correlation_id = header.correlation_id;
    let ctx = RequestContext {
        api_key,
        api_version,
        correlation_id,
        client_id: header.client_id.as_ref().map(|s| s.to_string()).unwrap_or_default(),
        client_host: session.peer.clone(),
        listener: session.listener.clone(),
        principal: session.principal.clone(),
    };
    let span =
        tracing::debug_span!("request", api = ?api_key, version = api_version, correlation_id);
    let (response, handling_time) =
        ThreadTime::new(handlers::handle(broker, &ctx, session, request).instrument(span)).await;
    let mut response = response?;
    session.throttle_ms = quota::enforce(broker, &ctx, frame_len, &mut response, handling_time);
    broker.metrics.record_request(api_key, api_version, response.as_ref());
    let Some(response) = response else { return Ok(None) };
    let response_header_version = api_key.response_header_version(api_version);
    Ok(Some(encode_response(correlation_id, response_header_version, &response, api_version)?))
}

fn encode_response(
    correlation_id: i32,
    header_version: i16,
    response: &kafka_protocol::messages::ResponseKind,
    version: i16,
) -> Result<Bytes, FrameError> {
    let mut buf = BytesMut::with_capacity(256);
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut buf, header_version)
        .map_err(|e| FrameError::Invalid(format!("encoding response header: {e}")))?;
    response.encode(&mut buf, version).map_err(|e| {
        // A response we cannot encode is a broker bug, not the client's; say so loudly.
        tracing::error!(error = %e, version, "cannot encode response");
        FrameError::Invalid(format!("encoding response: {e}"))
    })?;
    Ok(buf.freeze())
}

/// Measures the time a future spends being polled, not waiting: what a request costs the
/// broker, which `request_percentage` limits. A long-polling Fetch or a JoinGroup parked until
/// the rebalance costs only its polls, as Kafka counts request-handler thread time.
struct ThreadTime<F> {
    inner: std::pin::Pin<Box<F>>,
    spent: std::time::Duration,
}

impl<F: std::future::Future> ThreadTime<F> {
    fn new(inner: F) -> Self {
        ThreadTime { inner: Box::pin(inner), spent: std::time::Duration::ZERO }
    }
}

impl<F: std::future::Future> std::future::Future for ThreadTime<F> {
    type Output = (F::Output, std::time::Duration);

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        // tokio's clock: the simulator controls it like every other duration in the core.
        let start = crate::runtime::now();
        let polled = self.inner.as_mut().poll(cx);
        self.spent += crate::runtime::elapsed(start);
        polled.map(|output| (output, self.spent))
    }
}
