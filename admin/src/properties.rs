//! Kafka client properties (`--command-config client.properties`): the security settings of
//! Kafka's Java clients (`sasl.jaas.config`, `ssl.truststore.*`, `ssl.keystore.*`), with
//! librdkafka's spellings (`sasl.mechanisms`, `sasl.username`, `ssl.ca.location`,
//! `ssl.certificate.location`, …) accepted too.

use std::collections::BTreeMap;
use std::path::Path;

/// How to reach and authenticate to the cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientProperties {
    /// `security.protocol`: PLAINTEXT (default), SSL, SASL_PLAINTEXT, SASL_SSL.
    pub security_protocol: String,
    /// `sasl.mechanism`: PLAIN (default), SCRAM-SHA-256, SCRAM-SHA-512.
    pub sasl_mechanism: String,
    /// From `sasl.jaas.config`'s `username="…"`, or librdkafka's `sasl.username`.
    pub username: Option<String>,
    /// From `sasl.jaas.config`'s `password="…"`, or `sasl.password`. Never printed.
    pub password: Option<String>,
    /// CA certificates: `ssl.truststore.location` (PEM or PKCS12) or `ssl.ca.location` (PEM).
    pub truststore: Option<String>,
    /// `ssl.truststore.type`: PEM or PKCS12 (JKS cannot be read here).
    pub truststore_type: Option<String>,
    /// `ssl.truststore.password`, for a PKCS12 truststore.
    pub truststore_password: Option<String>,
    /// `ssl.keystore.location`: a PKCS12 client key and certificate, for mutual TLS.
    pub keystore: Option<String>,
    /// `ssl.keystore.password`.
    pub keystore_password: Option<String>,
    /// librdkafka's `ssl.certificate.location`: a PEM client certificate (chain), for mutual
    /// TLS with `ssl.key.location`.
    pub certificate: Option<String>,
    /// librdkafka's `ssl.key.location`: the PEM key of `ssl.certificate.location`.
    pub key: Option<String>,
    /// `ssl.endpoint.identification.algorithm`: `https` (default) checks the broker's host name;
    /// empty turns the check off.
    pub verify_hostname: bool,
}

impl ClientProperties {
    /// PLAINTEXT with defaults.
    pub fn plaintext() -> Self {
        Self::from_map(&BTreeMap::new()).expect("defaults are valid")
    }

    /// Reads a Java properties file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }

    /// Reads properties text.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        Self::from_map(&parse(text))
    }

    /// Builds the settings from `name → value` pairs.
    pub fn from_map(map: &BTreeMap<String, String>) -> anyhow::Result<Self> {
        let get = |key: &str| map.get(key).map(|v| v.trim().to_owned());
        let security_protocol =
            get("security.protocol").unwrap_or_else(|| "PLAINTEXT".into()).to_ascii_uppercase();
        anyhow::ensure!(
            matches!(security_protocol.as_str(), "PLAINTEXT" | "SSL" | "SASL_PLAINTEXT" | "SASL_SSL"),
            "security.protocol `{security_protocol}` is not PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"
        );
        let sasl_mechanism = get("sasl.mechanism")
            .or_else(|| get("sasl.mechanisms"))
            .unwrap_or_else(|| "PLAIN".into())
            .to_ascii_uppercase();
        anyhow::ensure!(
            matches!(sasl_mechanism.as_str(), "PLAIN" | "SCRAM-SHA-256" | "SCRAM-SHA-512"),
            "sasl.mechanism `{sasl_mechanism}` is not supported (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)"
        );
        let jaas = get("sasl.jaas.config").unwrap_or_default();
        let username = jaas_option(&jaas, "username").or_else(|| get("sasl.username"));
        let password = jaas_option(&jaas, "password").or_else(|| get("sasl.password"));
        if security_protocol.starts_with("SASL") {
            anyhow::ensure!(
                username.is_some() && password.is_some(),
                "{security_protocol} needs a user name and password: sasl.jaas.config with \
                 username=\"…\" password=\"…\" (or sasl.username and sasl.password)"
            );
        }
        let certificate = get("ssl.certificate.location");
        let key = get("ssl.key.location");
        anyhow::ensure!(
            certificate.is_some() == key.is_some(),
            "ssl.certificate.location and ssl.key.location go together"
        );
        let truststore_type = get("ssl.truststore.type").map(|t| t.to_ascii_uppercase());
        anyhow::ensure!(
            truststore_type.as_deref() != Some("JKS"),
            "ssl.truststore.type JKS cannot be read; convert it with `keytool -importkeystore \
             -deststoretype PKCS12` or point ssl.ca.location at the CA's PEM file"
        );
        Ok(ClientProperties {
            security_protocol,
            sasl_mechanism,
            username,
            password,
            truststore: get("ssl.truststore.location").or_else(|| get("ssl.ca.location")),
            truststore_type,
            truststore_password: get("ssl.truststore.password"),
            keystore: get("ssl.keystore.location"),
            keystore_password: get("ssl.keystore.password"),
            certificate,
            key,
            verify_hostname: get("ssl.endpoint.identification.algorithm")
                .is_none_or(|v| !v.is_empty() && v != "none"),
        })
    }

    /// Whether the connection is TLS.
    pub fn uses_tls(&self) -> bool {
        self.security_protocol.ends_with("SSL")
    }

    /// Whether the connection authenticates with SASL.
    pub fn uses_sasl(&self) -> bool {
        self.security_protocol.starts_with("SASL")
    }
}

/// Java properties syntax: `key=value` or `key: value`, `#`/`!` comments, `\` continuations.
pub fn parse(text: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    let mut logical = String::new();
    for line in text.lines() {
        let line = line.trim_start();
        if logical.is_empty() && (line.starts_with('#') || line.starts_with('!')) {
            continue;
        }
        if let Some(continued) = line.strip_suffix('\\') {
            logical.push_str(continued);
            continue;
        }
        logical.push_str(line);
        let entry = std::mem::take(&mut logical);
        let Some(split) = entry.find(['=', ':']) else { continue };
        let (key, value) = entry.split_at(split);
        map.insert(key.trim().to_owned(), value[1..].trim().to_owned());
    }
    map
}

/// `name="value"` from a JAAS line such as
/// `org.apache.kafka.common.security.plain.PlainLoginModule required username="a" password="b";`.
fn jaas_option(jaas: &str, name: &str) -> Option<String> {
    let mut rest = jaas;
    while let Some(at) = rest.find(name) {
        let before = rest[..at].chars().last();
        let after = rest[at + name.len()..].trim_start();
        rest = &rest[at + name.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let Some(value) = after.strip_prefix('=') else { continue };
        let value = value.trim_start();
        if let Some(quoted) = value.strip_prefix('"') {
            // A backslash escapes the next character, so a password may hold `"`.
            let mut out = String::new();
            let mut chars = quoted.chars();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => out.push(chars.next()?),
                    '"' => return Some(out),
                    c => out.push(c),
                }
            }
            return None;
        }
        let end = value.find([' ', ';']).unwrap_or(value.len());
        return Some(value[..end].to_owned());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_properties_with_a_jaas_config_parse() {
        let text = "# admin\nsecurity.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\n\
                    sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule \\\n  \
                    required username=\"admin\" password=\"s3 cr=t\";\n\
                    ssl.truststore.location = /tmp/ca.crt\nssl.truststore.type=PEM\n";
        let props = ClientProperties::from_map(&parse(text)).unwrap();
        assert_eq!(props.security_protocol, "SASL_SSL");
        assert_eq!(props.sasl_mechanism, "SCRAM-SHA-512");
        assert_eq!(props.username.as_deref(), Some("admin"));
        assert_eq!(props.password.as_deref(), Some("s3 cr=t"));
        assert_eq!(props.truststore.as_deref(), Some("/tmp/ca.crt"));
        assert!(props.verify_hostname);
    }

    #[test]
    fn librdkafka_spellings_and_mistakes() {
        let map = parse(
            "security.protocol=sasl_plaintext\nsasl.mechanisms=PLAIN\nsasl.username=u\n\
             sasl.password=p\nssl.endpoint.identification.algorithm=\n",
        );
        let props = ClientProperties::from_map(&map).unwrap();
        assert_eq!((props.username.unwrap(), props.password.unwrap()), ("u".into(), "p".into()));
        assert!(!props.verify_hostname);
        let missing = parse("security.protocol=SASL_SSL\n");
        assert!(ClientProperties::from_map(&missing).unwrap_err().to_string().contains("password"));
        let jks = parse("ssl.truststore.type=JKS\n");
        assert!(ClientProperties::from_map(&jks).unwrap_err().to_string().contains("PKCS12"));
        let gssapi = parse("sasl.mechanism=GSSAPI\n");
        assert!(ClientProperties::from_map(&gssapi).is_err());
        let half = parse("ssl.certificate.location=/tmp/c.pem\n");
        assert!(ClientProperties::from_map(&half).unwrap_err().to_string().contains("key"));
    }

    #[test]
    fn jaas_quotes_may_be_escaped_and_names_must_be_whole() {
        let props = ClientProperties::parse(
            "security.protocol=SASL_PLAINTEXT\nsasl.jaas.config=org.apache.kafka.common.security.\
             plain.PlainLoginModule required myusername=\"x\" username=\"admin\" \
             password=\"a\\\"b\\\\c\";\n",
        )
        .unwrap();
        assert_eq!(props.username.as_deref(), Some("admin"));
        assert_eq!(props.password.as_deref(), Some("a\"b\\c"));
    }
}
