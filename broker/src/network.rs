//! The outbound network seam: how a node opens connections to other nodes (a follower to its
//! leader, a broker to the controller). The core asks a [`Connector`] for a byte stream and
//! speaks Kafka over it with [`NodeClient`]; the binary's connector is real TCP
//! ([`crate::tcp::TcpConnector`]), the simulator's is turmoil's, so N nodes can run in one
//! process with their links cut, delayed or held.
//!
//! A connection carries one request at a time, each with a deadline. After any error or timeout
//! it is dropped and reopened on the next request: a late response would otherwise be read as
//! the answer to the next one.
//!
//! TLS and SASL to a secured listener are a layer over any connector ([`secure`]): the stream
//! it returns is already encrypted and authenticated, so `NodeClient` never knows the
//! listener's security protocol, and the simulator's turmoil streams are secured the same way.

pub mod secure;

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::client_codec::{decode_response, encode_request};
use crate::handlers::api_versions::SUPPORTED;
use crate::runtime;

/// A connected byte stream to another node.
pub trait NodeStream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> NodeStream for T {}

/// What [`Connector::connect`] returns: a stream, or why there is none.
pub type ConnectFuture<'a> =
    Pin<Box<dyn Future<Output = io::Result<Box<dyn NodeStream>>> + Send + 'a>>;

/// Opens connections to other nodes: the seam between the core and the network.
pub trait Connector: Send + Sync {
    /// Connects to `host:port`.
    fn connect<'a>(&'a self, host: &'a str, port: u16) -> ConnectFuture<'a>;
}

/// Why a request to another node got no usable response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeRequestError {
    /// No connection could be made: the address and the OS's reason.
    #[error("cannot connect to {address}: {reason}")]
    Connect { address: String, reason: String },
    /// The deadline passed before the response: its outcome is unknown.
    #[error("no response from {address} within {timeout_ms} ms")]
    Timeout { address: String, timeout_ms: u128 },
    /// The connection broke mid-request: its outcome is unknown.
    #[error("connection to {address} failed: {reason}")]
    Io { address: String, reason: String },
    /// The response did not decode, or answered another request.
    #[error("bad response from {address}: {reason}")]
    Protocol { address: String, reason: String },
    /// The other node does not speak a version of the API this node needs.
    #[error("{address} does not support {api:?} in versions {min}..={max}")]
    UnsupportedVersion { address: String, api: ApiKey, min: i16, max: i16 },
    /// The TLS handshake or the SASL exchange failed: the listener, mechanism and the other
    /// node's reason (never a password).
    #[error("authentication to {address} failed: {reason}")]
    Authentication { address: String, reason: String },
}

/// Largest response frame accepted from another node (a fetch of `replica.fetch.response.max.bytes`
/// plus headers fits well below it).
const MAX_RESPONSE_BYTES: usize = 256 << 20;

/// A Kafka client connection to one other node, opened lazily through a [`Connector`], with
/// the versions negotiated by ApiVersions on each new connection.
pub struct NodeClient {
    connector: Arc<dyn Connector>,
    host: String,
    port: u16,
    client_id: String,
    deadline: Duration,
    stream: Option<Box<dyn NodeStream>>,
    /// The other node's (min, max) version per API key, from its ApiVersions response.
    versions: Vec<(i16, i16, i16)>,
    correlation_id: i32,
}

/// A node's clients of the controllers, one per quorum address, after Kafka's
/// `ControllerNodeProvider`: requests stay on the controller that last answered; otherwise
/// they go to the quorum's leader where this node knows it (a voter of
/// `controller.quorum.voters` by id), else to the addresses in turn. A failure (no answer, or
/// NOT_CONTROLLER) moves on to an address that has not failed since the last success — a
/// stale leader hint never pulls requests back to a controller that just failed.
pub struct ControllerClients {
    /// Each address with the voter id it belongs to (none for bootstrap servers).
    clients: Vec<(Option<i32>, NodeClient)>,
    current: usize,
    /// The addresses (indexes) that failed since the last success.
    failed: std::collections::BTreeSet<usize>,
    /// Whether the last request to `current` succeeded: it stays there, whatever a stale
    /// leader hint says.
    answered: bool,
}

impl ControllerClients {
    /// Clients of these controllers, with the voter id of each where known.
    pub fn new(clients: Vec<(Option<i32>, NodeClient)>) -> Self {
        assert!(!clients.is_empty(), "a node names its controllers");
        Self { clients, current: 0, failed: Default::default(), answered: false }
    }

    /// The client to send the next request to, given the quorum leader this node knows
    /// (`-1` unknown).
    pub fn current(&mut self, leader_id: i32) -> &mut NodeClient {
        if !self.answered && leader_id >= 0 {
            let leader = self.clients.iter().position(|(id, _)| *id == Some(leader_id));
            if let Some(i) = leader.filter(|i| !self.failed.contains(i)) {
                self.current = i;
            }
        }
        &mut self.clients[self.current].1
    }

    /// The last request succeeded: it stays on this controller.
    pub fn succeeded(&mut self) {
        self.failed.clear();
        self.answered = true;
    }

    /// The last request failed (no answer, or NOT_CONTROLLER; or the controller named
    /// another leader): the next goes to an address that has not failed yet, or, when all
    /// have, round again.
    pub fn failed(&mut self) {
        self.answered = false;
        self.failed.insert(self.current);
        if self.failed.len() == self.clients.len() {
            self.failed.clear();
        }
        let n = self.clients.len();
        self.current = (1..=n)
            .map(|step| (self.current + step) % n)
            .find(|i| !self.failed.contains(i))
            .unwrap_or((self.current + 1) % n);
    }
}

impl NodeClient {
    /// A client of `host:port` that connects on first use; `client_id` names this node in the
    /// other node's logs and metrics (Kafka's `broker-<id>-fetcher-0`, say).
    pub fn new(
        connector: Arc<dyn Connector>,
        host: &str,
        port: u16,
        client_id: &str,
        deadline: Duration,
    ) -> Self {
        Self {
            connector,
            host: host.to_owned(),
            port,
            client_id: client_id.to_owned(),
            deadline,
            stream: None,
            versions: Vec::new(),
            correlation_id: 0,
        }
    }

    /// `host:port` of the other node.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// Sends `request` at the highest version both nodes support and reads its response
    /// within the deadline.
    pub async fn call<R>(&mut self, request: &R) -> Result<(i16, R::Response), NodeRequestError>
    where
        R: Request + Encodable + HeaderVersion,
        R::Response: Decodable + HeaderVersion,
    {
        let deadline = self.deadline;
        let address = self.address();
        let result = runtime::timeout(deadline, async {
            self.ensure_connected().await?;
            let version = self.version_for::<R>()?;
            let response = self.exchange(request, version).await?;
            Ok((version, response))
        })
        .await;
        let result = match result {
            Ok(result) => result,
            Err(_) => Err(NodeRequestError::Timeout { address, timeout_ms: deadline.as_millis() }),
        };
        if result.is_err() {
            self.stream = None;
        }
        result
    }

    async fn ensure_connected(&mut self) -> Result<(), NodeRequestError> {
        if self.stream.is_some() {
            return Ok(());
        }
        let stream = self.connector.connect(&self.host, self.port).await.map_err(|e| {
            let (address, reason) = (self.address(), e.to_string());
            if secure::is_authentication_failure(&e) {
                NodeRequestError::Authentication { address, reason }
            } else {
                NodeRequestError::Connect { address, reason }
            }
        })?;
        self.stream = Some(stream);
        // KIP-511's client software name and version, as Kafka's own clients send them.
        let request = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("kafka-lab-broker"))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        let response: ApiVersionsResponse = self.exchange(&request, 3).await?;
        if response.error_code != 0 {
            return Err(NodeRequestError::Protocol {
                address: self.address(),
                reason: format!("ApiVersions answered error code {}", response.error_code),
            });
        }
        self.versions =
            response.api_keys.iter().map(|k| (k.api_key, k.min_version, k.max_version)).collect();
        Ok(())
    }

    /// The highest version of `R` both sides support.
    fn version_for<R: Request>(&self) -> Result<i16, NodeRequestError> {
        let key = R::KEY;
        let ours = SUPPORTED
            .iter()
            .find(|(api, _, _)| *api as i16 == key)
            .map(|(_, min, max)| (*min, *max))
            .unwrap_or((R::VERSIONS.min, R::VERSIONS.max));
        let theirs = self.versions.iter().find(|(api, _, _)| *api == key);
        let unsupported = || NodeRequestError::UnsupportedVersion {
            address: self.address(),
            api: ApiKey::try_from(key).unwrap_or(ApiKey::ApiVersions),
            min: ours.0,
            max: ours.1,
        };
        let (_, min, max) = theirs.ok_or_else(unsupported)?;
        let version = ours.1.min(*max);
        if version < ours.0.max(*min) {
            return Err(unsupported());
        }
        Ok(version)
    }

    async fn exchange<R>(
        &mut self,
        request: &R,
        version: i16,
    ) -> Result<R::Response, NodeRequestError>
    where
        R: Request + Encodable + HeaderVersion,
        R::Response: Decodable + HeaderVersion,
    {
        let address = self.address();
        self.correlation_id = self.correlation_id.wrapping_add(1);
        let stream = self.stream.as_mut().expect("connected before an exchange");
        exchange(stream, &address, &self.client_id, self.correlation_id, request, version).await
    }
}

/// One request and its response on `stream`, in Kafka's frames: the one place a node writes a
/// request to another and reads the answer (`NodeClient`, and the SASL exchange before it).
pub(crate) async fn exchange<S, R>(
    stream: &mut S,
    address: &str,
    client_id: &str,
    correlation_id: i32,
    request: &R,
    version: i16,
) -> Result<R::Response, NodeRequestError>
where
    S: AsyncRead + AsyncWrite + Unpin + ?Sized,
    R: Request + Encodable + HeaderVersion,
    R::Response: Decodable + HeaderVersion,
{
    let protocol =
        |reason: String| NodeRequestError::Protocol { address: address.to_owned(), reason };
    let io =
        |e: io::Error| NodeRequestError::Io { address: address.to_owned(), reason: e.to_string() };
    let body = encode_request(request, version, correlation_id, client_id)
        .map_err(|e| protocol(e.to_string()))?;
    let mut frame = BytesMut::with_capacity(4 + body.len());
    frame.put_u32(body.len() as u32);
    frame.extend_from_slice(&body);
    stream.write_all(&frame).await.map_err(io)?;
    stream.flush().await.map_err(io)?;
    let len = stream.read_u32().await.map_err(io)? as usize;
    if len > MAX_RESPONSE_BYTES {
        return Err(protocol(format!("a response frame of {len} bytes")));
    }
    let mut response = vec![0u8; len];
    stream.read_exact(&mut response).await.map_err(io)?;
    decode_response::<R>(response.into(), version, correlation_id)
        .map_err(|e| protocol(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::MetadataRequest;

    struct Nowhere;
    impl Connector for Nowhere {
        fn connect<'a>(&'a self, _: &'a str, _: u16) -> ConnectFuture<'a> {
            Box::pin(async { Err(io::Error::from(io::ErrorKind::ConnectionRefused)) })
        }
    }

    fn client_of(versions: &[(i16, i16, i16)]) -> NodeClient {
        let mut client = NodeClient::new(Arc::new(Nowhere), "b2", 9092, "t", Duration::ZERO);
        client.versions = versions.to_vec();
        client
    }

    /// Controller 1 died (and stays the hint until the observer learns better), 2 does not
    /// lead, 3 does: requests find 3 and stay there; a stale hint never pulls them back.
    #[test]
    fn controller_requests_find_the_leader_past_a_stale_hint() {
        let voter = |id: i32| {
            let client =
                NodeClient::new(Arc::new(Nowhere), &format!("c{id}"), 9093, "t", Duration::ZERO);
            (Some(id), client)
        };
        let mut clients = ControllerClients::new(vec![voter(1), voter(2), voter(3)]);
        let stale = 1;
        let mut tried = Vec::new();
        for _ in 0..4 {
            let address = clients.current(stale).address();
            tried.push(address.clone());
            if address == "c3:9093" {
                clients.succeeded();
            } else {
                clients.failed();
            }
        }
        assert_eq!(tried, ["c1:9093", "c2:9093", "c3:9093", "c3:9093"]);
        // Once 3 refuses too (a new election), every address is tried again in turn.
        clients.failed();
        let next: Vec<String> = (0..3)
            .map(|_| {
                let address = clients.current(stale).address();
                clients.failed();
                address
            })
            .collect();
        assert_eq!(next, ["c1:9093", "c2:9093", "c1:9093"]);
    }

    #[test]
    fn the_version_is_the_highest_both_nodes_support() {
        let metadata = ApiKey::Metadata as i16;
        let ours = SUPPORTED.iter().find(|(api, _, _)| *api == ApiKey::Metadata).unwrap();
        assert_eq!(client_of(&[(metadata, 0, 9)]).version_for::<MetadataRequest>(), Ok(9));
        assert_eq!(
            client_of(&[(metadata, 0, i16::MAX)]).version_for::<MetadataRequest>(),
            Ok(ours.2)
        );
        for versions in [vec![], vec![(metadata, ours.2 + 1, i16::MAX)]] {
            let err = client_of(&versions).version_for::<MetadataRequest>().unwrap_err();
            assert!(matches!(err, NodeRequestError::UnsupportedVersion { .. }), "{err}");
        }
    }

    #[tokio::test]
    async fn a_refused_connection_names_the_address() {
        let mut client = client_of(&[]);
        client.deadline = Duration::from_secs(1);
        let err = client.call(&MetadataRequest::default()).await.unwrap_err();
        assert_eq!(err.to_string(), "cannot connect to b2:9092: connection refused");
    }
}
