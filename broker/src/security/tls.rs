//! TLS for SSL and SASL_SSL listeners, through OpenSSL: the broker's keystore, the truststore
//! for client certificates, `ssl.client.auth`, and the principal a client certificate names.

use std::path::Path;
use std::pin::Pin;

use openssl::pkcs12::Pkcs12;
use openssl::pkey::{PKey, Private};
use openssl::ssl::{Ssl, SslAcceptor, SslMethod, SslVerifyMode, SslVersion};
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
        let (key, cert, chain) = read_keystore(config, Path::new(location))?;
        let mut builder = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server())?;
        let protocols: Vec<&str> = config.ssl_enabled_protocols.split(',').map(str::trim).collect();
        let min = if protocols.contains(&"TLSv1.2") {
            SslVersion::TLS1_2
        } else if protocols.contains(&"TLSv1.3") {
            SslVersion::TLS1_3
        } else {
            anyhow::bail!(
                "ssl.enabled.protocols must include TLSv1.2 or TLSv1.3, got `{}`",
                config.ssl_enabled_protocols
            );
        };
        builder.set_min_proto_version(Some(min))?;
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
            for ca in read_truststore(config, Path::new(truststore))? {
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

fn read(path: &Path, property: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| anyhow::anyhow!("{property} {}: {e}", path.display()))
}

fn read_keystore(
    config: &BrokerConfig,
    path: &Path,
) -> anyhow::Result<(PKey<Private>, X509, Vec<X509>)> {
    let bytes = read(path, "ssl.keystore.location")?;
    match config.ssl_keystore_type.to_ascii_uppercase().as_str() {
        "PKCS12" => {
            let password = config.ssl_keystore_password.as_deref().unwrap_or("");
            let parsed = Pkcs12::from_der(&bytes)
                .and_then(|p| p.parse2(password))
                .map_err(|_| anyhow::anyhow!("{}: not a PKCS#12 keystore or wrong ssl.keystore.password", path.display()))?;
            let (Some(key), Some(cert)) = (parsed.pkey, parsed.cert) else {
                anyhow::bail!("{}: the keystore holds no private key and certificate", path.display());
            };
            Ok((key, cert, parsed.ca.map(|stack| stack.into_iter().collect()).unwrap_or_default()))
        }
        "PEM" => {
            let key = match &config.ssl_key_password {
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

fn read_truststore(config: &BrokerConfig, path: &Path) -> anyhow::Result<Vec<X509>> {
    let bytes = read(path, "ssl.truststore.location")?;
    match config.ssl_truststore_type.to_ascii_uppercase().as_str() {
        "PEM" => {
            let certs = X509::stack_from_pem(&bytes)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            anyhow::ensure!(!certs.is_empty(), "{}: no certificates", path.display());
            Ok(certs)
        }
        "PKCS12" => {
            let password = config.ssl_truststore_password.as_deref().unwrap_or("");
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
