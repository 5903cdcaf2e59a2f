//! TLS for SSL and SASL_SSL listeners, through OpenSSL: the broker's keystore, the truststore
//! for client certificates, `ssl.client.auth`, and the principal a client certificate names;
//! and the client side a node uses to reach another node's TLS listener ([`TlsConnector`]).

use std::path::Path;
use std::pin::Pin;

use openssl::pkcs12::Pkcs12;
use openssl::pkey::{PKey, Private};
use openssl::ssl::{Ssl, SslAcceptor, SslConnector, SslMethod, SslVerifyMode, SslVersion};
use openssl::x509::X509;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_openssl::SslStream;

use super::principal::PrincipalMapper;
use crate::config::{BrokerConfig, Listener, SecurityProtocol};

/// Accepts TLS connections with the broker's certificate.
pub struct TlsAcceptor {
    acceptor: SslAcceptor,
    mapper: PrincipalMapper,
}

/// A finished TLS handshake.
pub struct TlsConnection<S> {
    /// The encrypted stream.
    pub stream: SslStream<S>,
    /// The user name mapped from the client certificate's subject, when one was presented.
    pub certificate_user: Option<String>,
}

impl TlsAcceptor {
    /// Builds the acceptor of `listener` from the `ssl.*` properties; errors name the property
    /// to fix.
    ///
    /// Client authentication follows Kafka (KIP-684): `listener.name.<l>.ssl.client.auth` when
    /// set; otherwise `ssl.client.auth` on SSL listeners and `none` on SASL_SSL listeners, whose
    /// clients authenticate with SASL and need no certificate.
    pub fn from_config(config: &BrokerConfig, listener: &Listener) -> anyhow::Result<Self> {
        let location = config.ssl_keystore_location.as_deref().ok_or_else(|| {
            anyhow::anyhow!("an SSL or SASL_SSL listener needs ssl.keystore.location (try `kafka-lab tls init`)")
        })?;
        let (key, cert, chain) = read_keystore(&KeyStore::top_level(config), Path::new(location))?;
        let mut builder = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server())?;
        builder.set_min_proto_version(Some(min_protocol_version(config)?))?;
        builder.set_private_key(&key)?;
        builder.set_certificate(&cert)?;
        for ca in chain {
            builder.add_extra_chain_cert(ca)?;
        }
        builder.check_private_key().map_err(|e| {
            anyhow::anyhow!("{location}: the private key does not match the certificate: {e}")
        })?;
        let client_auth = match config.listener_property(&listener.name, "ssl.client.auth") {
            Some(value) => value,
            None if listener.protocol == SecurityProtocol::Ssl => config.ssl_client_auth.as_str(),
            None => "none",
        };
        let mode = match client_auth {
            "required" => SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT,
            "requested" => SslVerifyMode::PEER,
            "none" => SslVerifyMode::NONE,
            other => anyhow::bail!(
                "listener.name.{}.ssl.client.auth must be none, requested or required, got `{other}`",
                listener.name.to_ascii_lowercase()
            ),
        };
        if mode != SslVerifyMode::NONE {
            let truststore = config.ssl_truststore_location.as_deref().ok_or_else(|| {
                anyhow::anyhow!("ssl.client.auth={} needs ssl.truststore.location (the CA that signs client certificates)", client_auth)
            })?;
            let store = TrustStore::top_level(config);
            for ca in read_truststore(&store, Path::new(truststore))? {
                builder.cert_store_mut().add_cert(ca)?;
            }
        }
        builder.set_verify(mode);
        let mapper = PrincipalMapper::parse(&config.ssl_principal_mapping_rules)
            .map_err(|e| anyhow::anyhow!("ssl.principal.mapping.rules: {e}"))?;
        Ok(TlsAcceptor { acceptor: builder.build(), mapper })
    }

    /// Runs the server side of the handshake.
    pub async fn accept<S>(&self, stream: S) -> anyhow::Result<TlsConnection<S>>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let ssl = Ssl::new(self.acceptor.context())?;
        let mut stream = SslStream::new(ssl, stream)?;
        Pin::new(&mut stream)
            .accept()
            .await
            .map_err(|e| anyhow::anyhow!("TLS handshake failed: {e}"))?;
        let certificate_user = match stream.ssl().peer_certificate() {
            Some(cert) => {
                let subject = kafka_lab_tls::rfc2253_subject(cert.subject_name());
                Some(self.mapper.map(&subject).ok_or_else(|| {
                    anyhow::anyhow!("no ssl.principal.mapping.rules rule matches the client certificate subject `{subject}`")
                })?)
            }
            None => None,
        };
        Ok(TlsConnection { stream, certificate_user })
    }
}

/// The client side of TLS to another node's SSL or SASL_SSL listener, as Kafka's broker builds
/// it from the listener's settings: the CAs of `listener.name.<l>.ssl.truststore.*` (else
/// `ssl.truststore.*`), this node's own keystore as its client certificate (for listeners with
/// `ssl.client.auth=required`), and the host name checked per
/// `ssl.endpoint.identification.algorithm`.
pub struct TlsConnector {
    connector: SslConnector,
    verify_hostname: bool,
}

impl TlsConnector {
    /// Builds the connector for connections to `listener`; errors name the property to set.
    pub fn from_config(config: &BrokerConfig, listener: &str) -> anyhow::Result<Self> {
        let prefix = format!("listener.name.{}.", listener.to_ascii_lowercase());
        let setting = |name: &str, top: Option<&str>| config.listener_or_top(listener, name, top);
        let truststore =
            setting("ssl.truststore.location", config.ssl_truststore_location.as_deref())
                .ok_or_else(|| {
                    anyhow::anyhow!(
                    "listener {listener} uses TLS, so this node must verify the certificates of \
                     the nodes it connects to on it, but no truststore is configured: set \
                     {prefix}ssl.truststore.location or ssl.truststore.location to the CA \
                     certificate(s) that signed them (Kafka would fall back to the JVM's default \
                     truststore; kafka-lab-broker has none)"
                )
                })?;
        let trust = TrustStore {
            kind: setting("ssl.truststore.type", Some(&config.ssl_truststore_type)).expect("given"),
            password: setting("ssl.truststore.password", config.ssl_truststore_password.as_deref()),
        };
        let mut builder = SslConnector::builder(SslMethod::tls_client())?;
        builder.set_min_proto_version(Some(min_protocol_version(config)?))?;
        for ca in read_truststore(&trust, Path::new(&truststore))? {
            builder.cert_store_mut().add_cert(ca)?;
        }
        if let Some(keystore) =
            setting("ssl.keystore.location", config.ssl_keystore_location.as_deref())
        {
            let store = KeyStore {
                kind: setting("ssl.keystore.type", Some(&config.ssl_keystore_type)).expect("given"),
                password: setting("ssl.keystore.password", config.ssl_keystore_password.as_deref()),
                key_password: setting("ssl.key.password", config.ssl_key_password.as_deref()),
            };
            let (key, cert, chain) = read_keystore(&store, Path::new(&keystore))?;
            builder.set_private_key(&key)?;
            builder.set_certificate(&cert)?;
            for ca in chain {
                builder.add_extra_chain_cert(ca)?;
            }
            builder.check_private_key().map_err(|e| {
                anyhow::anyhow!("{keystore}: the private key does not match the certificate: {e}")
            })?;
        }
        let algorithm = setting(
            "ssl.endpoint.identification.algorithm",
            Some(&config.ssl_endpoint_identification_algorithm),
        )
        .expect("given");
        let verify_hostname = match algorithm.trim().to_ascii_lowercase().as_str() {
            "https" => true,
            "" => false,
            other => anyhow::bail!(
                "ssl.endpoint.identification.algorithm must be https or empty, got `{other}`"
            ),
        };
        Ok(TlsConnector { connector: builder.build(), verify_hostname })
    }

    /// Runs the client side of the handshake with the node at `host` over `stream`: the chain
    /// is always verified, the host name (a DNS name or an IP address) as configured.
    pub async fn connect<S>(&self, host: &str, stream: S) -> anyhow::Result<SslStream<S>>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let mut configuration = self.connector.configure()?;
        configuration.set_verify_hostname(self.verify_hostname);
        let ssl = configuration.into_ssl(host)?;
        let mut stream = SslStream::new(ssl, stream)?;
        Pin::new(&mut stream).connect().await.map_err(|e| {
            let verify = stream.ssl().verify_result();
            if verify == openssl::x509::X509VerifyResult::OK {
                anyhow::anyhow!("TLS handshake failed: {e}")
            } else {
                anyhow::anyhow!("TLS handshake failed: certificate verification: {verify}")
            }
        })?;
        Ok(stream)
    }
}

fn read(path: &Path, property: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| anyhow::anyhow!("{property} {}: {e}", path.display()))
}

/// A keystore's settings: `ssl.keystore.*` and `ssl.key.password`, top-level or a listener's.
struct KeyStore {
    kind: String,
    password: Option<String>,
    key_password: Option<String>,
}

impl KeyStore {
    fn top_level(config: &BrokerConfig) -> Self {
        KeyStore {
            kind: config.ssl_keystore_type.clone(),
            password: config.ssl_keystore_password.clone(),
            key_password: config.ssl_key_password.clone(),
        }
    }
}

/// A truststore's settings: `ssl.truststore.type` and `ssl.truststore.password`.
struct TrustStore {
    kind: String,
    password: Option<String>,
}

impl TrustStore {
    fn top_level(config: &BrokerConfig) -> Self {
        TrustStore {
            kind: config.ssl_truststore_type.clone(),
            password: config.ssl_truststore_password.clone(),
        }
    }
}

/// The lowest TLS version `ssl.enabled.protocols` allows; TLS 1.2 is the floor.
fn min_protocol_version(config: &BrokerConfig) -> anyhow::Result<SslVersion> {
    let protocols: Vec<&str> = config.ssl_enabled_protocols.split(',').map(str::trim).collect();
    if protocols.contains(&"TLSv1.2") {
        Ok(SslVersion::TLS1_2)
    } else if protocols.contains(&"TLSv1.3") {
        Ok(SslVersion::TLS1_3)
    } else {
        anyhow::bail!(
            "ssl.enabled.protocols must include TLSv1.2 or TLSv1.3, got `{}`",
            config.ssl_enabled_protocols
        )
    }
}

fn read_keystore(
    store: &KeyStore,
    path: &Path,
) -> anyhow::Result<(PKey<Private>, X509, Vec<X509>)> {
    let bytes = read(path, "ssl.keystore.location")?;
    match store.kind.to_ascii_uppercase().as_str() {
        "PKCS12" => {
            let password = store.password.as_deref().unwrap_or("");
            let parsed = Pkcs12::from_der(&bytes)
                .and_then(|p| p.parse2(password))
                .map_err(|_| anyhow::anyhow!("{}: not a PKCS#12 keystore or wrong ssl.keystore.password", path.display()))?;
            let (Some(key), Some(cert)) = (parsed.pkey, parsed.cert) else {
                anyhow::bail!("{}: the keystore holds no private key and certificate", path.display());
            };
            Ok((key, cert, parsed.ca.map(|stack| stack.into_iter().collect()).unwrap_or_default()))
        }
        "PEM" => {
            let key = match &store.key_password {
                Some(password) => PKey::private_key_from_pem_passphrase(&bytes, password.as_bytes()),
                None => PKey::private_key_from_pem(&bytes),
            }
            .map_err(|_| anyhow::anyhow!("{}: no readable private key (encrypted? set ssl.key.password)", path.display()))?;
            let mut certs = X509::stack_from_pem(&bytes)
                .map_err(|e| anyhow::anyhow!("{}: bad certificate: {e}", path.display()))?
                .into_iter();
            let cert = certs.next().ok_or_else(|| anyhow::anyhow!("{}: no certificate", path.display()))?;
            Ok((key, cert, certs.collect()))
        }
        other => anyhow::bail!("ssl.keystore.type `{other}` is not supported: use PKCS12 or PEM (convert JKS with keytool -importkeystore -deststoretype PKCS12)"),
    }
}

fn read_truststore(store: &TrustStore, path: &Path) -> anyhow::Result<Vec<X509>> {
    let bytes = read(path, "ssl.truststore.location")?;
    match store.kind.to_ascii_uppercase().as_str() {
        "PEM" => {
            let certs = X509::stack_from_pem(&bytes)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            anyhow::ensure!(!certs.is_empty(), "{}: no certificates", path.display());
            Ok(certs)
        }
        "PKCS12" => {
            let password = store.password.as_deref().unwrap_or("");
            let parsed =
                Pkcs12::from_der(&bytes).and_then(|p| p.parse2(password)).map_err(|_| {
                    anyhow::anyhow!(
                        "{}: not a PKCS#12 truststore or wrong ssl.truststore.password",
                        path.display()
                    )
                })?;
            Ok(parsed.cert.into_iter().chain(parsed.ca.into_iter().flatten()).collect())
        }
        other => anyhow::bail!("ssl.truststore.type `{other}` is not supported: use PEM or PKCS12"),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use kafka_lab_tls::{CertificateAuthority, CertificateRequest, KeyAlgorithm};

    use super::*;

    /// A CA and one node certificate (`node.p12`, SANs `localhost` and `127.0.0.1`) in `dir`.
    fn certificates(dir: &Path) {
        let (ca, _) =
            CertificateAuthority::load_or_create(dir, "test CA", KeyAlgorithm::EcP256, 1, false)
                .unwrap();
        let request = CertificateRequest {
            name: "node".into(),
            common_name: "node-2".into(),
            valid_days: 1,
            ..CertificateRequest::localhost_broker(KeyAlgorithm::EcP256)
        };
        ca.issue(dir, &request, "pw", false).unwrap();
    }

    fn config(dir: &Path, extra: &[&str]) -> BrokerConfig {
        let mut overrides = vec![
            "listeners=SSL://127.0.0.1:9093".to_owned(),
            format!("ssl.keystore.location={}", dir.join("node.p12").display()),
            "ssl.keystore.password=pw".to_owned(),
            format!("ssl.truststore.location={}", dir.join("ca.crt").display()),
            "ssl.client.auth=required".to_owned(),
            "ssl.principal.mapping.rules=RULE:^CN=(.*?)(,.*)?$/$1/,DEFAULT".to_owned(),
        ];
        overrides.extend(extra.iter().map(|s| s.to_string()));
        BrokerConfig::load(None, &overrides).unwrap()
    }

    /// One handshake over an in-memory stream (no TCP: the client side wraps whatever stream
    /// a connector returns); the client's outcome and the user the server mapped.
    async fn handshake(
        server: &BrokerConfig,
        client: &BrokerConfig,
        host: &str,
    ) -> (anyhow::Result<()>, Option<String>) {
        let listener = &server.listeners().unwrap()[0];
        let acceptor = TlsAcceptor::from_config(server, listener).unwrap();
        let connector = TlsConnector::from_config(client, "SSL").unwrap();
        let (near, far) = tokio::io::duplex(64 << 10);
        let (client, accepted) = tokio::join!(connector.connect(host, near), acceptor.accept(far));
        let user = accepted.ok().and_then(|c| c.certificate_user);
        (client.map(drop), user)
    }

    #[tokio::test]
    async fn a_node_verifies_the_host_name_and_shows_its_own_certificate() {
        let dir = tempfile::tempdir().unwrap();
        certificates(dir.path());
        let server = config(dir.path(), &[]);
        let (outcome, user) = handshake(&server, &server, "127.0.0.1").await;
        outcome.unwrap();
        assert_eq!(user.as_deref(), Some("node-2"), "the client certificate reached the server");
        let (outcome, _) = handshake(&server, &server, "localhost").await;
        outcome.unwrap();

        let (outcome, _) = handshake(&server, &server, "broker-9.example").await;
        let err = outcome.unwrap_err().to_string();
        assert!(err.contains("certificate verification"), "{err}");
        assert!(err.contains("mismatch"), "{err}");
        // Empty: the host name is not checked, the chain still is.
        let lax = config(dir.path(), &["ssl.endpoint.identification.algorithm="]);
        let (outcome, _) = handshake(&server, &lax, "broker-9.example").await;
        outcome.unwrap();
        let listener_lax =
            config(dir.path(), &["listener.name.ssl.ssl.endpoint.identification.algorithm="]);
        let (outcome, _) = handshake(&server, &listener_lax, "broker-9.example").await;
        outcome.unwrap();
    }

    #[tokio::test]
    async fn a_node_refuses_a_certificate_its_truststore_does_not_sign() {
        let (dir, other) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        certificates(dir.path());
        certificates(other.path());
        let server = config(dir.path(), &[]);
        let trusting_another_ca = config(
            dir.path(),
            &[&format!(
                "listener.name.ssl.ssl.truststore.location={}",
                other.path().join("ca.crt").display()
            )],
        );
        let (outcome, _) = handshake(&server, &trusting_another_ca, "127.0.0.1").await;
        let err = outcome.unwrap_err().to_string();
        assert!(err.contains("certificate verification"), "{err}");
    }
}
