//! One Kafka connection over turmoil TCP, written on `kafka-protocol`.
//!
//! turmoil's TCP does not retransmit: a partitioned or held connection simply stops moving, so
//! every request carries a deadline. After any error or timeout the connection is dropped,
//! because a late response would otherwise be read as the answer to the next request.

use std::time::Duration;

use kafka_lab_broker::client_codec::{decode_response, encode_request, ClientFrameError};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use turmoil::net::TcpStream;

/// Why a request got no usable response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestError {
    /// No connection could be made before the deadline.
    Connect(String),
    /// The deadline passed with the request sent but no response read: outcome unknown.
    Timeout,
    /// The connection broke mid-request: outcome unknown.
    Io(String),
    /// The response did not decode.
    Decode(String),
}

impl From<ClientFrameError> for RequestError {
    fn from(e: ClientFrameError) -> Self {
        // The codec's own text, without its prefix: the history records this string.
        match e {
            ClientFrameError::Encode(e) | ClientFrameError::Decode(e) => Self::Decode(e),
            other => Self::Decode(other.to_string()),
        }
    }
}

impl std::fmt::Display for RequestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Connect(e) => write!(f, "connect: {e}"),
            Self::Timeout => write!(f, "timeout"),
            Self::Io(e) => write!(f, "io: {e}"),
            Self::Decode(e) => write!(f, "decode: {e}"),
        }
    }
}

/// A lazily (re)connected client connection to one broker address.
pub struct Connection {
    address: String,
    client_id: String,
    deadline: Duration,
    stream: Option<TcpStream>,
    correlation_id: i32,
}

impl Connection {
    /// A connection to `address` (e.g. `broker-1:9092`) that opens on first use.
    pub fn new(address: String, client_id: String, deadline: Duration) -> Self {
        Self { address, client_id, deadline, stream: None, correlation_id: 0 }
    }

    /// The broker address this connection goes to.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Sends `request` at `version` and reads its response within the deadline. `None` when
    /// no response is expected (Produce with acks=0), once the bytes are written.
    pub async fn send<R>(
        &mut self,
        request: &R,
        version: i16,
        expect_response: bool,
    ) -> Result<Option<R::Response>, RequestError>
    where
        R: Request + Encodable + HeaderVersion,
        R::Response: Decodable + HeaderVersion,
    {
        self.send_within(request, version, expect_response, self.deadline).await
    }

    /// [`Connection::send`] with its own deadline, for requests the broker parks (JoinGroup,
    /// SyncGroup wait for the rebalance).
    pub async fn send_within<R>(
        &mut self,
        request: &R,
        version: i16,
        expect_response: bool,
        deadline: Duration,
    ) -> Result<Option<R::Response>, RequestError>
    where
        R: Request + Encodable + HeaderVersion,
        R::Response: Decodable + HeaderVersion,
    {
        let result =
            tokio::time::timeout(deadline, self.exchange(request, version, expect_response))
                .await
                .unwrap_or(Err(RequestError::Timeout));
        if result.is_err() {
            self.stream = None;
        }
        result
    }

    async fn exchange<R>(
        &mut self,
        request: &R,
        version: i16,
        expect_response: bool,
    ) -> Result<Option<R::Response>, RequestError>
    where
        R: Request + Encodable + HeaderVersion,
        R::Response: Decodable + HeaderVersion,
    {
        if self.stream.is_none() {
            let stream = TcpStream::connect(self.address.as_str())
                .await
                .map_err(|e| RequestError::Connect(e.to_string()))?;
            self.stream = Some(stream);
        }
        self.correlation_id = self.correlation_id.wrapping_add(1);
        let correlation_id = self.correlation_id;
        let body = encode_request(request, version, correlation_id, &self.client_id)
            .map_err(RequestError::from)?;
        let stream = self.stream.as_mut().expect("connected above");
        let io = |e: std::io::Error| RequestError::Io(e.to_string());
        stream.write_u32(body.len() as u32).await.map_err(io)?;
        stream.write_all(&body).await.map_err(io)?;
        stream.flush().await.map_err(io)?;
        if !expect_response {
            return Ok(None);
        }
        let len = stream.read_u32().await.map_err(io)? as usize;
        let mut frame = vec![0u8; len];
        stream.read_exact(&mut frame).await.map_err(io)?;
        let response = decode_response::<R>(frame.into(), version, correlation_id)
            .map_err(RequestError::from)?;
        Ok(Some(response))
    }
}
