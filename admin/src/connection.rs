//! One blocking connection to a Kafka broker, as Kafka's admin tools open it: TCP or TLS per
//! `security.protocol`, then SASL (PLAIN or SCRAM-SHA-256/512, RFC 5802) on SASL_* protocols,
//! then ApiVersions so each request goes out at the highest version both sides speak.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiVersionsRequest, RequestHeader, ResponseHeader, SaslAuthenticateRequest,
    SaslHandshakeRequest,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;
use openssl::ssl::{SslConnector, SslFiletype, SslMethod, SslVerifyMode};

use crate::properties::ClientProperties;

trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

/// An open, authenticated connection.
pub struct Connection {
    stream: Box<dyn Stream>,
    correlation_id: i32,
    /// The broker's supported versions per API key.
    versions: BTreeMap<i16, (i16, i16)>,
}

impl Connection {
    /// Connects to the first reachable `host:port` of a comma-separated bootstrap list.
    pub fn connect(bootstrap: &str, properties: &ClientProperties) -> anyhow::Result<Self> {
        let mut last = None;
        for server in bootstrap.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match Self::connect_one(server, properties) {
                Ok(connection) => return Ok(connection),
                Err(e) => last = Some(e.context(format!("cannot use {server}"))),
            }
        }
        Err(last.unwrap_or_else(|| anyhow!("--bootstrap-server names no broker")))
    }

    fn connect_one(server: &str, properties: &ClientProperties) -> anyhow::Result<Self> {
        let tcp = TcpStream::connect(server).with_context(|| format!("connecting to {server}"))?;
        tcp.set_read_timeout(Some(Duration::from_secs(30)))?;
        tcp.set_nodelay(true)?;
        let protocol = properties.security_protocol();
        let stream: Box<dyn Stream> = match protocol.as_str() {
            "PLAINTEXT" | "SASL_PLAINTEXT" => Box::new(tcp),
            "SSL" | "SASL_SSL" => Box::new(tls(tcp, server, properties)?),
            other => bail!(
                "security.protocol={other}: expected PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"
            ),
        };
        let mut connection = Connection { stream, correlation_id: 0, versions: BTreeMap::new() };
        let versions = connection.call_at(ApiVersionsRequest::default(), 0)?;
        if versions.error_code != 0 {
            bail!("ApiVersions failed with error code {}", versions.error_code);
        }
        connection.versions =
            versions.api_keys.iter().map(|k| (k.api_key, (k.min_version, k.max_version))).collect();
        if protocol.starts_with("SASL_") {
            connection.authenticate(properties)?;
        }
        Ok(connection)
    }

    /// Sends a request at the highest version both sides support and returns the response.
    pub fn send<R: Request>(&mut self, request: R) -> anyhow::Result<R::Response> {
        let name = format!("API key {}", R::KEY);
        let (broker_min, broker_max) = *self
            .versions
            .get(&R::KEY)
            .ok_or_else(|| anyhow!("the broker does not support {name}"))?;
        let version = broker_max.min(R::VERSIONS.max);
        if version < broker_min.max(R::VERSIONS.min) {
            bail!("no version of {name} that both this tool and the broker speak");
        }
        self.call_at(request, version)
    }

    fn call_at<R: Request>(&mut self, request: R, version: i16) -> anyhow::Result<R::Response> {
        self.correlation_id += 1;
        let mut buf = BytesMut::new();
        RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation_id)
            .with_client_id(Some(StrBytes::from_static_str("kafka-lab-configs")))
            .encode(&mut buf, R::header_version(version))?;
        request.encode(&mut buf, version)?;
        self.stream.write_all(&(buf.len() as u32).to_be_bytes())?;
        self.stream.write_all(&buf)?;
        self.stream.flush()?;
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len).context("the broker closed the connection")?;
        let len = u32::from_be_bytes(len) as usize;
        if len > 64 << 20 {
            bail!("response of {len} bytes is implausibly large");
        }
        let mut body = vec![0u8; len];
        self.stream.read_exact(&mut body)?;
        let mut body = Bytes::from(body);
        let header = ResponseHeader::decode(&mut body, R::Response::header_version(version))?;
        if header.correlation_id != self.correlation_id {
            bail!("response correlation id {} != {}", header.correlation_id, self.correlation_id);
        }
        R::Response::decode(&mut body, version)
    }

    fn authenticate(&mut self, properties: &ClientProperties) -> anyhow::Result<()> {
        let mechanism = properties
            .get("sasl.mechanism")
            .or(properties.get("sasl.mechanisms"))
            .unwrap_or("PLAIN")
            .to_ascii_uppercase();
        let (user, password) = properties.sasl_credentials().ok_or_else(|| {
            anyhow!("SASL needs sasl.username and sasl.password, or username/password in sasl.jaas.config")
        })?;
        let handshake = self.call_at(
            SaslHandshakeRequest::default()
                .with_mechanism(StrBytes::from_string(mechanism.clone())),
            1,
        )?;
        if handshake.error_code != 0 {
            let enabled: Vec<&str> = handshake.mechanisms.iter().map(|m| m.as_str()).collect();
            bail!("the broker refused SASL mechanism {mechanism} (enabled: {})", enabled.join(","));
        }
        let digest = match mechanism.as_str() {
            "PLAIN" => {
                self.sasl_step(format!("\0{user}\0{password}").into_bytes())?;
                return Ok(());
            }
            "SCRAM-SHA-256" => MessageDigest::sha256(),
            "SCRAM-SHA-512" => MessageDigest::sha512(),
            other => {
                bail!("sasl.mechanism={other}: expected PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
            }
        };
        let mut nonce_bytes = [0u8; 18];
        openssl::rand::rand_bytes(&mut nonce_bytes)?;
        let client_nonce: String = nonce_bytes.iter().map(|b| format!("{b:02x}")).collect();
        let escaped = user.replace('=', "=3D").replace(',', "=2C");
        let client_first_bare = format!("n={escaped},r={client_nonce}");
        let server_first = self.sasl_step(format!("n,,{client_first_bare}").into_bytes())?;
        let server_first = String::from_utf8(server_first)?;
        let attribute = |name: &str| {
            server_first
                .split(',')
                .find_map(|a| a.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
                .ok_or_else(|| anyhow!("SCRAM server-first message lacks `{name}`"))
        };
        let nonce = attribute("r")?;
        if !nonce.starts_with(&client_nonce) {
            bail!("SCRAM server nonce does not extend ours");
        }
        let salt = openssl::base64::decode_block(attribute("s")?)?;
        let iterations: usize = attribute("i")?.parse()?;
        let mut salted = vec![0u8; digest.size()];
        openssl::pkcs5::pbkdf2_hmac(password.as_bytes(), &salt, iterations, digest, &mut salted)?;
        let client_key = hmac(digest, &salted, b"Client Key")?;
        let stored_key = openssl::hash::hash(digest, &client_key)?;
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
        let signature = hmac(digest, &stored_key, auth_message.as_bytes())?;
        let proof: Vec<u8> = client_key.iter().zip(&signature).map(|(a, b)| a ^ b).collect();
        let client_final = format!("{without_proof},p={}", openssl::base64::encode_block(&proof));
        let server_final = String::from_utf8(self.sasl_step(client_final.into_bytes())?)?;
        let server_key = hmac(digest, &salted, b"Server Key")?;
        let expected = hmac(digest, &server_key, auth_message.as_bytes())?;
        let verifier = server_final
            .strip_prefix("v=")
            .ok_or_else(|| anyhow!("SCRAM server-final message: {server_final}"))?;
        if openssl::base64::decode_block(verifier)? != expected {
            bail!("the broker's SCRAM signature is wrong: not the server holding our credential");
        }
        Ok(())
    }

    fn sasl_step(&mut self, token: Vec<u8>) -> anyhow::Result<Vec<u8>> {
        let version = self.versions.get(&SaslAuthenticateRequest::KEY).map_or(0, |v| v.1.min(2));
        let response = self.call_at(
            SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(token)),
            version,
        )?;
        if response.error_code != 0 {
            bail!(
                "SASL authentication failed: {}",
                response.error_message.as_deref().unwrap_or("no reason given")
            );
        }
        Ok(response.auth_bytes.to_vec())
    }
}

fn hmac(digest: MessageDigest, key: &[u8], data: &[u8]) -> anyhow::Result<Vec<u8>> {
    let key = PKey::hmac(key)?;
    let mut signer = Signer::new(digest, &key)?;
    signer.update(data)?;
    Ok(signer.sign_to_vec()?)
}

/// TLS with the CA from `ssl.ca.location` or a PEM `ssl.truststore.location`, and an optional
/// client certificate (`ssl.certificate.location` + `ssl.key.location`).
fn tls(
    tcp: TcpStream,
    server: &str,
    properties: &ClientProperties,
) -> anyhow::Result<openssl::ssl::SslStream<TcpStream>> {
    let mut builder = SslConnector::builder(SslMethod::tls_client())?;
    if let Some(ca) =
        properties.get("ssl.ca.location").or(properties.get("ssl.truststore.location"))
    {
        builder
            .set_ca_file(ca)
            .with_context(|| format!("reading CA certificates from {ca} (PEM)"))?;
    }
    if let Some(cert) = properties.get("ssl.certificate.location") {
        builder.set_certificate_chain_file(cert)?;
        let key = properties
            .get("ssl.key.location")
            .ok_or_else(|| anyhow!("ssl.certificate.location needs ssl.key.location"))?;
        builder.set_private_key_file(key, SslFiletype::PEM)?;
    }
    let verify_host = properties
        .get("ssl.endpoint.identification.algorithm")
        .is_none_or(|v| !v.is_empty() && v != "none");
    builder.set_verify(SslVerifyMode::PEER);
    let connector = builder.build();
    let host = server.rsplit_once(':').map_or(server, |(h, _)| h);
    let mut config = connector.configure()?;
    config.set_verify_hostname(verify_host);
    config.connect(host, tcp).map_err(|e| anyhow!("TLS handshake with {server}: {e}"))
}
