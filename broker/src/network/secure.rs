//! The security layer of outbound connections: a [`Connector`] that wraps another's stream in
//! TLS and runs the SASL exchange on it, as Kafka's clients do (ApiVersions, SaslHandshake v1,
//! SaslAuthenticate), before handing it to `NodeClient`. The listener's settings come from
//! [`OutboundSecurity`]; SCRAM nonces from the broker's [`SecureRandom`].

use std::io;
use std::sync::Arc;

use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, SaslAuthenticateRequest, SaslHandshakeRequest,
};
use kafka_protocol::protocol::StrBytes;

use super::{exchange, ConnectFuture, Connector, NodeStream};
use crate::metrics::error_name;
use crate::security::outbound::{OutboundSecurity, SaslClientConfig};
use crate::security::random::SecureRandom;
use crate::security::sasl::{plain_client_message, Mechanism, ScramClient};

/// Connects through `inner`, then secures the stream as the target listener requires.
pub struct SecureConnector {
    inner: Arc<dyn Connector>,
    security: Arc<OutboundSecurity>,
    random: Arc<dyn SecureRandom>,
    client_id: String,
}

impl SecureConnector {
    /// `inner` secured per `security`; `inner` itself when the listener is PLAINTEXT, so a
    /// plaintext cluster (and the simulator's) runs exactly as without this layer.
    pub fn wrap(
        inner: Arc<dyn Connector>,
        security: Arc<OutboundSecurity>,
        random: Arc<dyn SecureRandom>,
        client_id: &str,
    ) -> Arc<dyn Connector> {
        if security.is_plaintext() {
            return inner;
        }
        Arc::new(SecureConnector { inner, security, random, client_id: client_id.to_owned() })
    }
}

/// An authentication failure inside an `io::Error`, so `NodeClient` can tell it from a
/// refused connection.
#[derive(Debug)]
struct AuthenticationFailure(String);

impl std::fmt::Display for AuthenticationFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AuthenticationFailure {}

/// Whether `error` is a failed TLS handshake or SASL exchange (not a network error).
pub fn is_authentication_failure(error: &io::Error) -> bool {
    error.get_ref().is_some_and(|e| e.is::<AuthenticationFailure>())
}

fn failure(reason: String) -> io::Error {
    io::Error::new(io::ErrorKind::PermissionDenied, AuthenticationFailure(reason))
}

impl Connector for SecureConnector {
    fn connect<'a>(&'a self, host: &'a str, port: u16) -> ConnectFuture<'a> {
        Box::pin(async move {
            let stream = self.inner.connect(host, port).await?;
            let security = &self.security;
            let (listener, protocol) = (&security.listener, security.protocol);
            let mut stream: Box<dyn NodeStream> =
                match &security.tls {
                    Some(tls) => Box::new(tls.connect(host, stream).await.map_err(|e| {
                        failure(format!("listener {listener} ({protocol}): {e:#}"))
                    })?),
                    None => stream,
                };
            if let Some(sasl) = &security.sasl {
                let address = format!("{host}:{port}");
                self.authenticate(&mut stream, &address, sasl).await.map_err(|why| {
                    failure(format!(
                        "listener {listener} ({protocol}), SASL mechanism {}, user {}: {why}",
                        sasl.mechanism.name(),
                        sasl.username
                    ))
                })?;
            }
            Ok(stream)
        })
    }
}

impl SecureConnector {
    /// ApiVersions, SaslHandshake v1 and the SaslAuthenticate rounds of the mechanism; the
    /// reason it failed, as the other node or the exchange gave it.
    async fn authenticate(
        &self,
        stream: &mut Box<dyn NodeStream>,
        address: &str,
        sasl: &SaslClientConfig,
    ) -> Result<(), String> {
        let mut correlation_id = 0;
        let mut next = || {
            correlation_id += 1;
            correlation_id
        };
        let client_id = self.client_id.as_str();
        let versions = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("kafka-lab-broker"))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        let versions: ApiVersionsResponse =
            exchange(&mut **stream, address, client_id, next(), &versions, 3)
                .await
                .map_err(|e| e.to_string())?;
        let max_version = |api: ApiKey| {
            versions.api_keys.iter().find(|k| k.api_key == api as i16).map(|k| k.max_version)
        };
        // v0 of SaslHandshake means raw SASL tokens without Kafka framing, which Kafka keeps
        // for GSSAPI only; every mechanism here goes through SaslAuthenticate.
        if max_version(ApiKey::SaslHandshake).unwrap_or(-1) < 1 {
            return Err("the listener does not offer SaslHandshake v1".into());
        }
        let authenticate_version = max_version(ApiKey::SaslAuthenticate)
            .ok_or_else(|| "the listener does not offer SaslAuthenticate".to_owned())?
            .min(2);
        let mechanism = sasl.mechanism.name();
        let handshake =
            SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(mechanism));
        let answer = exchange(&mut **stream, address, client_id, next(), &handshake, 1)
            .await
            .map_err(|e| e.to_string())?;
        if answer.error_code != 0 {
            let offered: Vec<&str> = answer.mechanisms.iter().map(|m| m.as_str()).collect();
            return Err(format!(
                "SaslHandshake answered {} (the listener offers {})",
                error_name(answer.error_code),
                offered.join(",")
            ));
        }
        let mut round = Round { stream, address, client_id, version: authenticate_version };
        match sasl.mechanism {
            Mechanism::Plain => {
                round.send(plain_client_message(&sasl.username, &sasl.password), next()).await?;
            }
            Mechanism::Scram(scram) => {
                let mut nonce = [0u8; 24];
                self.random.fill(&mut nonce);
                let mut client = ScramClient::new(scram, &sasl.username, &sasl.password, &nonce);
                let server_first = round.send(client.client_first(), next()).await?;
                let client_final = client.client_final(&server_first).map_err(|e| e.0)?;
                let server_final = round.send(client_final, next()).await?;
                client.verify_server_final(&server_final).map_err(|e| e.0)?;
            }
        }
        Ok(())
    }
}

/// SaslAuthenticate on one connection.
struct Round<'a> {
    stream: &'a mut Box<dyn NodeStream>,
    address: &'a str,
    client_id: &'a str,
    version: i16,
}

impl Round<'_> {
    /// Sends `bytes`; the other node's answer, or its error with its message.
    async fn send(&mut self, bytes: Vec<u8>, correlation_id: i32) -> Result<Vec<u8>, String> {
        let request = SaslAuthenticateRequest::default().with_auth_bytes(bytes.into());
        let answer = exchange(
            &mut **self.stream,
            self.address,
            self.client_id,
            correlation_id,
            &request,
            self.version,
        )
        .await
        .map_err(|e| e.to_string())?;
        if answer.error_code != 0 {
            let message = answer.error_message.as_ref().map_or("", |m| m.as_str());
            return Err(format!("{}: {message}", error_name(answer.error_code)));
        }
        Ok(answer.auth_bytes.to_vec())
    }
}
