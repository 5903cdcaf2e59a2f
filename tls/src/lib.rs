//! kafka-lab-tls: certificates for the lab, generated with OpenSSL.
//!
//! A lab needs one certificate authority, a certificate per broker whose subject alternative
//! names cover every host name and address clients dial, and a certificate per client whose
//! subject becomes the client's principal (`User:CN=alice,OU=...`). Everything is written as PEM
//! (certificate, key, chain) and as PKCS#12 with a password, which Java accepts without JKS.
//!
//! Generation is idempotent: a file that exists and is still valid for the request is kept, so a
//! lab can be re-run without invalidating what brokers and clients already trust.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkcs12::Pkcs12;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::stack::Stack;
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
    SubjectKeyIdentifier,
};
use openssl::x509::{X509Name, X509NameRef, X509StoreContext, X509};

pub mod cli;

/// What went wrong, phrased for the person who has to fix it.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: not a valid {what}: {source}")]
    Parse { path: PathBuf, what: &'static str, source: openssl::error::ErrorStack },
    #[error("the CA certificate {path} expired on {not_after}: create a new CA with --force and re-issue every certificate")]
    CaExpired { path: PathBuf, not_after: String },
    #[error("the private key {key} does not match the certificate {cert}: they come from different generations; re-issue with --force")]
    KeyMismatch { cert: PathBuf, key: PathBuf },
    #[error("the certificate {cert} does not cover host {host}: its names are [{names}]; re-issue it with --force and --dns/--ip including {host}")]
    HostNotCovered { cert: PathBuf, host: String, names: String },
    #[error("the certificate {cert} was not issued by the CA {ca}: {reason}")]
    NotIssuedByCa { cert: PathBuf, ca: PathBuf, reason: String },
    #[error("the certificate {path} expired on {not_after}: re-issue it with --force")]
    Expired { path: PathBuf, not_after: String },
    #[error("{path} exists but does not match the request ({reason}); pass --force to replace it")]
    Mismatch { path: PathBuf, reason: String },
    #[error("{path}: {reason}")]
    Pkcs12 { path: PathBuf, reason: String },
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error(transparent)]
    OpenSsl(#[from] openssl::error::ErrorStack),
}

pub type Result<T> = std::result::Result<T, TlsError>;

/// The key algorithm of a generated key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum KeyAlgorithm {
    /// RSA with a 2048-bit modulus: what every client and JVM accepts.
    #[default]
    Rsa2048,
    /// ECDSA on NIST P-256 (prime256v1): smaller and faster handshakes.
    EcP256,
}

impl KeyAlgorithm {
    fn generate(self) -> Result<PKey<Private>> {
        Ok(match self {
            KeyAlgorithm::Rsa2048 => PKey::from_rsa(Rsa::generate(2048)?)?,
            KeyAlgorithm::EcP256 => {
                let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
                PKey::from_ec_key(EcKey::generate(&group)?)?
            }
        })
    }
}

/// A subject alternative name: what a client compares with the host it dialled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubjectAltName {
    Dns(String),
    Ip(IpAddr),
}

impl SubjectAltName {
    /// Parses `localhost`, `*.kafka.lab` or `127.0.0.1` into the right kind of name.
    pub fn parse(text: &str) -> Self {
        match text.parse::<IpAddr>() {
            Ok(ip) => SubjectAltName::Ip(ip),
            Err(_) => SubjectAltName::Dns(text.to_ascii_lowercase()),
        }
    }

    fn matches(&self, host: &str) -> bool {
        match (self, host.parse::<IpAddr>()) {
            (SubjectAltName::Ip(ip), Ok(host_ip)) => *ip == host_ip,
            (SubjectAltName::Dns(name), Err(_)) => {
                dns_name_matches(name, &host.to_ascii_lowercase())
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for SubjectAltName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SubjectAltName::Dns(name) => write!(f, "DNS:{name}"),
            SubjectAltName::Ip(ip) => write!(f, "IP:{ip}"),
        }
    }
}

/// RFC 6125 matching: a wildcard stands for exactly one left-most label.
fn dns_name_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(suffix) => match host.split_once('.') {
            Some((label, rest)) => !label.is_empty() && rest == suffix,
            None => false,
        },
        None => pattern == host,
    }
}

/// What a certificate is for: decides its key usages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    /// A broker: serverAuth, and clientAuth too so brokers can later talk to one another.
    Server,
    /// A client whose subject becomes its principal: clientAuth.
    Client,
}

/// A request for a certificate signed by the lab CA.
#[derive(Debug, Clone)]
pub struct CertificateRequest {
    /// File stem: `<name>.crt`, `<name>.key`, `<name>-chain.pem`, `<name>.p12`.
    pub name: String,
    /// The subject's common name; for clients, the principal's `CN`.
    pub common_name: String,
    /// Optional `OU`, e.g. a team; part of the principal for clients.
    pub organizational_unit: Option<String>,
    pub subject_alt_names: Vec<SubjectAltName>,
    pub usage: Usage,
    pub key_algorithm: KeyAlgorithm,
    pub valid_days: u32,
}

impl CertificateRequest {
    /// `broker.*`: a server certificate for `localhost` and `127.0.0.1`, valid 30 days, as a
    /// broker on this machine presents it (tests and single-host labs).
    pub fn localhost_broker(key_algorithm: KeyAlgorithm) -> Self {
        CertificateRequest {
            name: "broker".into(),
            common_name: "broker".into(),
            organizational_unit: None,
            subject_alt_names: ["localhost", "127.0.0.1"]
                .iter()
                .map(|s| SubjectAltName::parse(s))
                .collect(),
            usage: Usage::Server,
            key_algorithm,
            valid_days: 30,
        }
    }
}

/// The lab's certificate authority: `ca.crt` and `ca.key` in the output directory.
pub struct CertificateAuthority {
    pub cert: X509,
    key: PKey<Private>,
    cert_path: PathBuf,
}

/// The paths written for one issued certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub chain: PathBuf,
    pub pkcs12: PathBuf,
    /// False when valid files already existed and were kept.
    pub created: bool,
}

/// Paths of the CA in `dir`.
pub fn ca_paths(dir: &Path) -> (PathBuf, PathBuf) {
    (dir.join("ca.crt"), dir.join("ca.key"))
}

impl CertificateAuthority {
    /// Loads the CA from `dir`, or creates it when absent (or when `force`).
    pub fn load_or_create(
        dir: &Path,
        common_name: &str,
        key_algorithm: KeyAlgorithm,
        valid_days: u32,
        force: bool,
    ) -> Result<(Self, bool)> {
        let (cert_path, key_path) = ca_paths(dir);
        if !force && cert_path.exists() {
            return Ok((Self::load(dir)?, false));
        }
        create_dir(dir)?;
        let key = key_algorithm.generate()?;
        let name = build_name(common_name, None)?;
        let mut builder = X509::builder()?;
        builder.set_version(2)?;
        builder.set_serial_number(&*(random_serial()?))?;
        builder.set_subject_name(&name)?;
        builder.set_issuer_name(&name)?;
        builder.set_pubkey(&key)?;
        builder.set_not_before(&*Asn1Time::days_from_now(0)?)?;
        builder.set_not_after(&*Asn1Time::days_from_now(valid_days)?)?;
        builder.append_extension(BasicConstraints::new().critical().ca().pathlen(0).build()?)?;
        builder.append_extension(KeyUsage::new().critical().key_cert_sign().crl_sign().build()?)?;
        let ski = SubjectKeyIdentifier::new().build(&builder.x509v3_context(None, None))?;
        builder.append_extension(ski)?;
        builder.sign(&key, MessageDigest::sha256())?;
        let cert = builder.build();
        write_file(&key_path, &key.private_key_to_pem_pkcs8()?, true)?;
        write_file(&cert_path, &cert.to_pem()?, false)?;
        Ok((CertificateAuthority { cert, key, cert_path }, true))
    }

    /// Loads `ca.crt` and `ca.key` from `dir`, refusing an expired CA or a mismatched key.
    pub fn load(dir: &Path) -> Result<Self> {
        let (cert_path, key_path) = ca_paths(dir);
        let cert = read_cert(&cert_path)?;
        let key = read_key(&key_path)?;
        if !cert.public_key()?.public_eq(&key) {
            return Err(TlsError::KeyMismatch { cert: cert_path, key: key_path });
        }
        if is_expired(&cert)? {
            return Err(TlsError::CaExpired {
                path: cert_path,
                not_after: cert.not_after().to_string(),
            });
        }
        Ok(CertificateAuthority { cert, key, cert_path })
    }

    /// Issues (or keeps, when valid and `!force`) the certificate `request` describes in `dir`.
    pub fn issue(
        &self,
        dir: &Path,
        request: &CertificateRequest,
        password: &str,
        force: bool,
    ) -> Result<IssuedFiles> {
        if request.valid_days == 0 {
            return Err(TlsError::Invalid(format!(
                "certificate {}: valid_days must be at least 1 (it would have expired when issued)",
                request.name
            )));
        }
        if request.usage == Usage::Server && request.subject_alt_names.is_empty() {
            return Err(TlsError::Invalid(format!(
                "broker certificate {} needs at least one --dns or --ip name: clients check the host they dial against it",
                request.name
            )));
        }
        let files = IssuedFiles {
            cert: dir.join(format!("{}.crt", request.name)),
            key: dir.join(format!("{}.key", request.name)),
            chain: dir.join(format!("{}-chain.pem", request.name)),
            pkcs12: dir.join(format!("{}.p12", request.name)),
            created: true,
        };
        if !force && files.cert.exists() {
            self.check_existing(&files, request)?;
            return Ok(IssuedFiles { created: false, ..files });
        }
        create_dir(dir)?;
        let key = request.key_algorithm.generate()?;
        let mut builder = X509::builder()?;
        builder.set_version(2)?;
        builder.set_serial_number(&*(random_serial()?))?;
        let subject = build_name(&request.common_name, request.organizational_unit.as_deref())?;
        builder.set_subject_name(&subject)?;
        builder.set_issuer_name(self.cert.subject_name())?;
        builder.set_pubkey(&key)?;
        builder.set_not_before(&*Asn1Time::days_from_now(0)?)?;
        builder.set_not_after(&*Asn1Time::days_from_now(request.valid_days)?)?;
        builder.append_extension(BasicConstraints::new().critical().build()?)?;
        builder.append_extension(
            KeyUsage::new().critical().digital_signature().key_encipherment().build()?,
        )?;
        let mut eku = ExtendedKeyUsage::new();
        match request.usage {
            Usage::Server => eku.server_auth().client_auth(),
            Usage::Client => eku.client_auth(),
        };
        builder.append_extension(eku.build()?)?;
        if !request.subject_alt_names.is_empty() {
            let mut san = SubjectAlternativeName::new();
            for name in &request.subject_alt_names {
                match name {
                    SubjectAltName::Dns(dns) => san.dns(dns),
                    SubjectAltName::Ip(ip) => san.ip(&ip.to_string()),
                };
            }
            let extension = san.build(&builder.x509v3_context(Some(&self.cert), None))?;
            builder.append_extension(extension)?;
        }
        let ski =
            SubjectKeyIdentifier::new().build(&builder.x509v3_context(Some(&self.cert), None))?;
        builder.append_extension(ski)?;
        let aki = AuthorityKeyIdentifier::new()
            .keyid(false)
            .build(&builder.x509v3_context(Some(&self.cert), None))?;
        builder.append_extension(aki)?;
        builder.sign(&self.key, MessageDigest::sha256())?;
        let cert = builder.build();

        let mut chain_pem = cert.to_pem()?;
        chain_pem.extend_from_slice(&self.cert.to_pem()?);
        let mut ca_stack = Stack::new()?;
        ca_stack.push(self.cert.clone())?;
        let pkcs12 = Pkcs12::builder()
            .name(&request.name)
            .pkey(&key)
            .cert(&cert)
            .ca(ca_stack)
            .build2(password)?;
        write_file(&files.key, &key.private_key_to_pem_pkcs8()?, true)?;
        write_file(&files.cert, &cert.to_pem()?, false)?;
        write_file(&files.chain, &chain_pem, false)?;
        write_file(&files.pkcs12, &pkcs12.to_der()?, true)?;
        Ok(files)
    }

    /// An existing certificate is kept only if it is signed by this CA, unexpired, matches its
    /// key, and names what the request names.
    fn check_existing(&self, files: &IssuedFiles, request: &CertificateRequest) -> Result<()> {
        let cert = read_cert(&files.cert)?;
        let key = read_key(&files.key)?;
        if !cert.public_key()?.public_eq(&key) {
            return Err(TlsError::KeyMismatch { cert: files.cert.clone(), key: files.key.clone() });
        }
        verify_issued_by(&cert, &files.cert, &self.cert, &self.cert_path)?;
        if is_expired(&cert)? {
            return Err(TlsError::Expired {
                path: files.cert.clone(),
                not_after: cert.not_after().to_string(),
            });
        }
        let common_name = common_name(cert.subject_name());
        if common_name.as_deref() != Some(request.common_name.as_str()) {
            return Err(TlsError::Mismatch {
                path: files.cert.clone(),
                reason: format!(
                    "its CN is {:?}, the request asks for {:?}",
                    common_name, request.common_name
                ),
            });
        }
        let names = subject_alt_names(&cert);
        if let Some(missing) = request.subject_alt_names.iter().find(|name| !names.contains(name)) {
            return Err(TlsError::Mismatch {
                path: files.cert.clone(),
                reason: format!("it does not name {missing}"),
            });
        }
        Ok(())
    }
}

/// Checks that the certificate at `cert_path` covers `host` and chains to the CA at `ca_path`.
pub fn verify(
    cert_path: &Path,
    key_path: Option<&Path>,
    ca_path: &Path,
    host: Option<&str>,
) -> Result<()> {
    let cert = read_cert(cert_path)?;
    let ca = read_cert(ca_path)?;
    if is_expired(&ca)? {
        return Err(TlsError::CaExpired {
            path: ca_path.to_path_buf(),
            not_after: ca.not_after().to_string(),
        });
    }
    verify_issued_by(&cert, cert_path, &ca, ca_path)?;
    if is_expired(&cert)? {
        return Err(TlsError::Expired {
            path: cert_path.to_path_buf(),
            not_after: cert.not_after().to_string(),
        });
    }
    if let Some(key_path) = key_path {
        let key = read_key(key_path)?;
        if !cert.public_key()?.public_eq(&key) {
            return Err(TlsError::KeyMismatch {
                cert: cert_path.to_path_buf(),
                key: key_path.to_path_buf(),
            });
        }
    }
    if let Some(host) = host {
        let names = subject_alt_names(&cert);
        if !names.iter().any(|name| name.matches(host)) {
            return Err(TlsError::HostNotCovered {
                cert: cert_path.to_path_buf(),
                host: host.to_string(),
                names: names.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", "),
            });
        }
    }
    Ok(())
}

/// Checks that the PKCS#12 file opens with `password` and holds the key and certificate of
/// `cert_path`, which is what a keystore configured with it will serve.
pub fn verify_pkcs12(path: &Path, password: &str, cert_path: &Path) -> Result<()> {
    let der =
        std::fs::read(path).map_err(|source| TlsError::Io { path: path.to_path_buf(), source })?;
    let pkcs12 = Pkcs12::from_der(&der).map_err(|source| TlsError::Parse {
        path: path.to_path_buf(),
        what: "PKCS#12 file",
        source,
    })?;
    let parsed = pkcs12.parse2(password).map_err(|_| TlsError::Pkcs12 {
        path: path.to_path_buf(),
        reason: "does not open with the keystore password; re-issue it with --force --password <the password>"
            .into(),
    })?;
    let cert = read_cert(cert_path)?;
    let missing = |what: &str| TlsError::Pkcs12 {
        path: path.to_path_buf(),
        reason: format!("holds no {what}; re-issue it with --force"),
    };
    let held = parsed.cert.ok_or_else(|| missing("certificate"))?;
    let key = parsed.pkey.ok_or_else(|| missing("private key"))?;
    if held.to_der()? != cert.to_der()? || !held.public_key()?.public_eq(&key) {
        return Err(TlsError::Pkcs12 {
            path: path.to_path_buf(),
            reason: format!(
                "holds a different certificate than {}; re-issue both with --force",
                cert_path.display()
            ),
        });
    }
    Ok(())
}

/// The subject of the certificate at `path` as Kafka renders it (`CN=alice,O=kafka-lab`).
pub fn certificate_subject(path: &Path) -> Result<String> {
    Ok(rfc2253_subject(read_cert(path)?.subject_name()))
}

fn verify_issued_by(cert: &X509, cert_path: &Path, ca: &X509, ca_path: &Path) -> Result<()> {
    let mut store = openssl::x509::store::X509StoreBuilder::new()?;
    store.add_cert(ca.clone())?;
    let store = store.build();
    let mut context = X509StoreContext::new()?;
    let chain = Stack::new()?;
    let mut reason = String::new();
    let ok = context.init(&store, cert, &chain, |ctx| {
        let ok = ctx.verify_cert()?;
        if !ok {
            reason = ctx.error().error_string().to_string();
        }
        Ok(ok)
    })?;
    if ok {
        Ok(())
    } else {
        Err(TlsError::NotIssuedByCa {
            cert: cert_path.to_path_buf(),
            ca: ca_path.to_path_buf(),
            reason,
        })
    }
}

/// The subject alternative names a certificate carries.
pub fn subject_alt_names(cert: &X509) -> Vec<SubjectAltName> {
    let Some(names) = cert.subject_alt_names() else { return Vec::new() };
    names
        .iter()
        .filter_map(|name| {
            if let Some(dns) = name.dnsname() {
                return Some(SubjectAltName::Dns(dns.to_ascii_lowercase()));
            }
            match name.ipaddress()? {
                [a, b, c, d] => Some(SubjectAltName::Ip(IpAddr::from([*a, *b, *c, *d]))),
                bytes if bytes.len() == 16 => {
                    let octets: [u8; 16] = bytes.try_into().ok()?;
                    Some(SubjectAltName::Ip(IpAddr::from(octets)))
                }
                _ => None,
            }
        })
        .collect()
}

fn common_name(name: &X509NameRef) -> Option<String> {
    name.entries_by_nid(Nid::COMMONNAME).next()?.data().to_string().ok()
}

/// The subject as Kafka renders it for an SSL principal (RFC 2253 order: most specific first),
/// e.g. `CN=alice,OU=payments,O=kafka-lab`.
pub fn rfc2253_subject(name: &X509NameRef) -> String {
    let mut parts: Vec<String> = name
        .entries()
        .filter_map(|entry| {
            let key = entry.object().nid().short_name().ok()?;
            let value = entry.data().to_string().ok()?;
            Some(format!("{key}={}", escape_rfc2253(&value)))
        })
        .collect();
    parts.reverse();
    parts.join(",")
}

fn escape_rfc2253(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i + 1 == value.chars().count() && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

const ORGANIZATION: &str = "kafka-lab";

fn build_name(common_name: &str, organizational_unit: Option<&str>) -> Result<X509Name> {
    if common_name.is_empty() {
        return Err(TlsError::Invalid("the common name (CN) must not be empty".into()));
    }
    let mut name = X509Name::builder()?;
    name.append_entry_by_nid(Nid::ORGANIZATIONNAME, ORGANIZATION)?;
    if let Some(unit) = organizational_unit {
        name.append_entry_by_nid(Nid::ORGANIZATIONALUNITNAME, unit)?;
    }
    name.append_entry_by_nid(Nid::COMMONNAME, common_name)?;
    Ok(name.build())
}

fn random_serial() -> Result<Asn1Integer> {
    let mut serial = BigNum::new()?;
    serial.rand(127, MsbOption::MAYBE_ZERO, false)?;
    Ok(serial.to_asn1_integer()?)
}

fn is_expired(cert: &X509) -> Result<bool> {
    let now = Asn1Time::days_from_now(0)?;
    Ok(cert.not_after() < now)
}

fn read_cert(path: &Path) -> Result<X509> {
    let pem =
        std::fs::read(path).map_err(|source| TlsError::Io { path: path.to_path_buf(), source })?;
    X509::from_pem(&pem).map_err(|source| TlsError::Parse {
        path: path.to_path_buf(),
        what: "PEM certificate",
        source,
    })
}

fn read_key(path: &Path) -> Result<PKey<Private>> {
    let pem =
        std::fs::read(path).map_err(|source| TlsError::Io { path: path.to_path_buf(), source })?;
    PKey::private_key_from_pem(&pem).map_err(|source| TlsError::Parse {
        path: path.to_path_buf(),
        what: "PEM private key",
        source,
    })
}

fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| TlsError::Io { path: dir.to_path_buf(), source })
}

/// Writes through a temporary file and a rename, so a crash never leaves half a key; secrets are
/// created readable by the owner only.
fn write_file(path: &Path, bytes: &[u8], secret: bool) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| TlsError::Io { path: path.to_path_buf(), source };
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true).mode(if secret { 0o600 } else { 0o644 });
    let mut file = options.open(&tmp).map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
mod tests;
