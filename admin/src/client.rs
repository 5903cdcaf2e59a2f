//! A blocking admin connection to one broker: TLS, SASL, ApiVersions negotiation, then
//! request/response by the `kafka-protocol` types.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::Bytes;
use kafka_lab_broker::client_codec::{decode_response, encode_request, ClientFrameError};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, SaslAuthenticateRequest, SaslHandshakeRequest,
};
use kafka_protocol::protocol::{Request, StrBytes};
use openssl::ssl::{SslConnector, SslFiletype, SslMethod, SslStream, SslVerifyMode};
use openssl::x509::X509;

use crate::properties::ClientProperties;
use crate::scram::ScramClient;

/// What can go wrong talking to a broker.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// Connecting, TLS, or the socket.
    #[error("{0}")]
    Connection(String),
    /// SASL authentication failed (the broker's reason included).
    #[error("authentication failed: {0}")]
    Authentication(String),
    /// The broker does not speak a version of an API this client needs.
    #[error("the broker does not support {0:?} in a version this client speaks")]
    Unsupported(ApiKey),
    /// A request or response did not encode or decode.
    #[error("protocol error: {0}")]
    Protocol(String),
}

/// A Kafka error code with the broker's message: the answer to one request, or to one item
/// of it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {}", error_name(*.code), .message)]
pub struct BrokerError {
    /// The Kafka error code.
    pub code: i16,
    /// The broker's message, if any.
    pub message: String,
}

fn error_name(code: i16) -> String {
    match ResponseError::try_from_code(code) {
        Some(e) => format!("{e:?}"),
        None => format!("error code {code}"),
    }
}

/// `Err` for a non-zero error code.
pub(crate) fn check(code: i16, message: Option<&StrBytes>) -> Result<(), BrokerError> {
    if code == 0 {
        return Ok(());
    }
    let message = message.map(|m| m.to_string()).unwrap_or_default();
    Err(BrokerError { code, message })
}

/// A wire string.
pub(crate) fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_owned())
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<SslStream<TcpStream>>),
}

impl Stream {
    fn io(&mut self) -> &mut dyn ReadWrite {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => s.as_mut(),
        }
    }
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// One authenticated connection to a broker.
pub struct AdminClient {
    stream: Stream,
    correlation_id: i32,
    /// The broker's advertised `(min, max)` per API key.
    versions: BTreeMap<i16, (i16, i16)>,
}

const CLIENT_ID: &str = "kafka-lab-admin";
const IO_TIMEOUT: Duration = Duration::from_secs(30);

impl AdminClient {
    /// Connects to the first reachable `host:port` of `bootstrap` (comma-separated).
    pub fn connect(bootstrap: &str, props: &ClientProperties) -> Result<Self, AdminError> {
        let mut last = None;
        for server in bootstrap.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match Self::connect_one(server, props) {
                Ok(client) => return Ok(client),
                Err(e @ AdminError::Authentication(_)) => return Err(e),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| AdminError::Connection("no bootstrap server given".into())))
    }

    fn connect_one(server: &str, props: &ClientProperties) -> Result<Self, AdminError> {
        let tcp = TcpStream::connect(server)
            .map_err(|e| AdminError::Connection(format!("cannot connect to {server}: {e}")))?;
        tcp.set_read_timeout(Some(IO_TIMEOUT)).ok();
        tcp.set_write_timeout(Some(IO_TIMEOUT)).ok();
        let stream = if props.uses_tls() {
            let host = server.rsplit_once(':').map(|(h, _)| h).unwrap_or(server);
            Stream::Tls(Box::new(tls(tcp, host, props)?))
        } else {
            Stream::Plain(tcp)
        };
        let mut client = AdminClient { stream, correlation_id: 0, versions: BTreeMap::new() };
        let versions = client.send(0, &ApiVersionsRequest::default())?;
        if versions.error_code != 0 {
            return Err(AdminError::Protocol(format!(
                "ApiVersions failed with error code {}",
                versions.error_code
            )));
        }
        client.versions =
            versions.api_keys.iter().map(|k| (k.api_key, (k.min_version, k.max_version))).collect();
        if props.uses_sasl() {
            client.authenticate(props)?;
        }
        Ok(client)
    }

    /// The highest version of `R` both sides speak, within `ours`.
    pub fn version<R: Request>(&self, ours: (i16, i16)) -> Result<i16, AdminError> {
        let key = ApiKey::try_from(R::KEY).map_err(|_| AdminError::Protocol("api key".into()))?;
        let (min, max) = self.versions.get(&R::KEY).copied().ok_or(AdminError::Unsupported(key))?;
        let version = max.min(ours.1);
        if version < min.max(ours.0) {
            return Err(AdminError::Unsupported(key));
        }
        Ok(version)
    }

    /// Sends one request at the highest version both this client and the broker speak.
    pub fn call<R: Request>(&mut self, request: &R) -> Result<R::Response, AdminError> {
        let version = self.version::<R>((R::VERSIONS.min, R::VERSIONS.max))?;
        self.send(version, request)
    }

    /// Sends one request at `version` and reads its response.
    pub fn send<R: Request>(
        &mut self,
        version: i16,
        request: &R,
    ) -> Result<R::Response, AdminError> {
        let protocol = |e: ClientFrameError| AdminError::Protocol(e.to_string());
        let io = |e: std::io::Error| AdminError::Connection(format!("connection lost: {e}"));
        self.correlation_id += 1;
        let frame =
            encode_request(request, version, self.correlation_id, CLIENT_ID).map_err(protocol)?;
        let stream = self.stream.io();
        stream.write_all(&(frame.len() as u32).to_be_bytes()).map_err(io)?;
        stream.write_all(&frame).map_err(io)?;
        stream.flush().map_err(io)?;
        let mut size = [0u8; 4];
        stream.read_exact(&mut size).map_err(io)?;
        let size = u32::from_be_bytes(size) as usize;
        if size > 100 << 20 {
            return Err(AdminError::Protocol(format!("response of {size} bytes is implausible")));
        }
        let mut body = vec![0u8; size];
        stream.read_exact(&mut body).map_err(io)?;
        let response =
            decode_response::<R>(body.into(), version, self.correlation_id).map_err(protocol)?;
        Ok(response)
    }

    fn authenticate(&mut self, props: &ClientProperties) -> Result<(), AdminError> {
        let mechanism = props.sasl_mechanism.as_str();
        let handshake = SaslHandshakeRequest::default()
            .with_mechanism(StrBytes::from_string(mechanism.to_owned()));
        let response = self.send(1, &handshake)?;
        if response.error_code != 0 {
            let offered: Vec<String> = response.mechanisms.iter().map(|m| m.to_string()).collect();
            return Err(AdminError::Authentication(format!(
                "the broker does not offer {mechanism} (it offers {})",
                offered.join(", ")
            )));
        }
        let user = props.username.clone().unwrap_or_default();
        let password = props.password.clone().unwrap_or_default();
        if mechanism == "PLAIN" {
            self.sasl_token(format!("\0{user}\0{password}").into_bytes())?;
            return Ok(());
        }
        let mut scram =
            ScramClient::new(mechanism, &user, &password).map_err(AdminError::Authentication)?;
        let server_first = self.sasl_token(scram.client_first())?;
        let client_final = scram.client_final(&server_first).map_err(AdminError::Authentication)?;
        let server_final = self.sasl_token(client_final)?;
        scram.verify_server_final(&server_final).map_err(AdminError::Authentication)
    }

    fn sasl_token(&mut self, token: Vec<u8>) -> Result<Bytes, AdminError> {
        let version = self.version::<SaslAuthenticateRequest>((0, 2))?;
        let request = SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(token));
        let response = self.send(version, &request)?;
        if response.error_code != 0 {
            let reason = response.error_message.map(|m| m.to_string()).unwrap_or_default();
            return Err(AdminError::Authentication(reason));
        }
        Ok(response.auth_bytes)
    }
}

fn tls(
    tcp: TcpStream,
    host: &str,
    props: &ClientProperties,
) -> Result<SslStream<TcpStream>, AdminError> {
    let error =
        |what: &str, e: &dyn std::fmt::Display| AdminError::Connection(format!("{what}: {e}"));
    let mut builder =
        SslConnector::builder(SslMethod::tls_client()).map_err(|e| error("TLS setup", &e))?;
    if let Some(path) = &props.truststore {
        let pkcs12 = props.truststore_type.as_deref() == Some("PKCS12")
            || path.ends_with(".p12")
            || path.ends_with(".pfx");
        let store = builder.cert_store_mut();
        if pkcs12 {
            let der = std::fs::read(path).map_err(|e| error(path, &e))?;
            let parsed = openssl::pkcs12::Pkcs12::from_der(&der)
                .and_then(|p| p.parse2(props.truststore_password.as_deref().unwrap_or("")))
                .map_err(|e| error(path, &e))?;
            for cert in parsed.ca.into_iter().flatten().chain(parsed.cert) {
                store.add_cert(cert).map_err(|e| error(path, &e))?;
            }
        } else {
            let pem = std::fs::read(path).map_err(|e| error(path, &e))?;
            for cert in X509::stack_from_pem(&pem).map_err(|e| error(path, &e))? {
                store.add_cert(cert).map_err(|e| error(path, &e))?;
            }
        }
    }
    if let (Some(certificate), Some(key)) = (&props.certificate, &props.key) {
        builder.set_certificate_chain_file(certificate).map_err(|e| error(certificate, &e))?;
        builder.set_private_key_file(key, SslFiletype::PEM).map_err(|e| error(key, &e))?;
    }
    if let Some(path) = &props.keystore {
        let der = std::fs::read(path).map_err(|e| error(path, &e))?;
        let parsed = openssl::pkcs12::Pkcs12::from_der(&der)
            .and_then(|p| p.parse2(props.keystore_password.as_deref().unwrap_or("")))
            .map_err(|e| error(path, &e))?;
        if let (Some(cert), Some(key)) = (parsed.cert, parsed.pkey) {
            builder.set_certificate(&cert).map_err(|e| error(path, &e))?;
            builder.set_private_key(&key).map_err(|e| error(path, &e))?;
        }
    }
    builder.set_verify(SslVerifyMode::PEER);
    let connector = builder.build();
    let mut config = connector.configure().map_err(|e| error("TLS setup", &e))?;
    if !props.verify_hostname {
        config.set_verify_hostname(false);
    }
    config
        .connect(host, tcp)
        .map_err(|e| AdminError::Connection(format!("TLS handshake with {host} failed: {e}")))
}
