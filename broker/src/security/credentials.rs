//! Who may authenticate: PLAIN users from the listener's JAAS configuration (as Apache Kafka
//! reads them) and SCRAM credentials, which hold only salted keys, never a password.

use std::collections::BTreeMap;

use openssl::hash::{hash, MessageDigest};
use openssl::pkey::PKey;
use openssl::sign::Signer;

use super::jaas::parse_jaas_config;
use crate::config::BrokerConfig;

/// SCRAM-SHA-256 or SCRAM-SHA-512.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum ScramMechanism {
    #[serde(rename = "SCRAM-SHA-256")]
    Sha256,
    #[serde(rename = "SCRAM-SHA-512")]
    Sha512,
}

impl ScramMechanism {
    /// The mechanism's name as SASL and Kafka's configs write it.
    pub fn name(self) -> &'static str {
        match self {
            ScramMechanism::Sha256 => "SCRAM-SHA-256",
            ScramMechanism::Sha512 => "SCRAM-SHA-512",
        }
    }

    /// Parses `SCRAM-SHA-256` / `SCRAM-SHA-512`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "SCRAM-SHA-256" => Some(ScramMechanism::Sha256),
            "SCRAM-SHA-512" => Some(ScramMechanism::Sha512),
            _ => None,
        }
    }

    /// Kafka's wire code in the SCRAM credential APIs.
    pub fn code(self) -> i8 {
        match self {
            ScramMechanism::Sha256 => 1,
            ScramMechanism::Sha512 => 2,
        }
    }

    /// The mechanism for a wire code.
    pub fn from_code(code: i8) -> Option<Self> {
        match code {
            1 => Some(ScramMechanism::Sha256),
            2 => Some(ScramMechanism::Sha512),
            _ => None,
        }
    }

    /// The mechanism's hash function.
    pub fn digest(self) -> MessageDigest {
        match self {
            ScramMechanism::Sha256 => MessageDigest::sha256(),
            ScramMechanism::Sha512 => MessageDigest::sha512(),
        }
    }

    /// RFC 5802's `HMAC(key, data)`.
    pub fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        let key = PKey::hmac(key).expect("HMAC keys of any length are valid");
        let mut signer = Signer::new(self.digest(), &key).expect("HMAC signer");
        signer.update(data).expect("HMAC update");
        signer.sign_to_vec().expect("HMAC sign")
    }

    /// RFC 5802's `H(data)`.
    pub fn hash(self, data: &[u8]) -> Vec<u8> {
        hash(self.digest(), data).expect("digest").to_vec()
    }
}

/// Kafka's minimum iteration count for SCRAM credentials.
pub const MIN_SCRAM_ITERATIONS: i32 = 4096;
/// Kafka's maximum iteration count for SCRAM credentials.
pub const MAX_SCRAM_ITERATIONS: i32 = 16384;

/// A stored SCRAM credential (RFC 5802 §3): what the server needs to verify a client proof and
/// prove itself, from which the password cannot be recovered.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ScramCredential {
    pub salt: Vec<u8>,
    pub iterations: i32,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
}

impl ScramCredential {
    /// Derives the credential from a password (done once, when a user is created).
    pub fn derive(
        mechanism: ScramMechanism,
        password: &[u8],
        salt: &[u8],
        iterations: i32,
    ) -> Self {
        let salted = Self::salted_password(mechanism, password, salt, iterations);
        Self::from_salted_password(mechanism, &salted, salt, iterations)
    }

    /// The credential from a salted password, as AlterUserScramCredentials carries it.
    pub fn from_salted_password(
        mechanism: ScramMechanism,
        salted_password: &[u8],
        salt: &[u8],
        iterations: i32,
    ) -> Self {
        let client_key = mechanism.hmac(salted_password, b"Client Key");
        ScramCredential {
            salt: salt.to_vec(),
            iterations,
            stored_key: mechanism.hash(&client_key),
            server_key: mechanism.hmac(salted_password, b"Server Key"),
        }
    }

    /// RFC 5802's `Hi(password, salt, iterations)` (PBKDF2): the salted password, which both
    /// sides derive the keys from and which AlterUserScramCredentials carries.
    pub fn salted_password(
        mechanism: ScramMechanism,
        password: &[u8],
        salt: &[u8],
        iterations: i32,
    ) -> Vec<u8> {
        let mut out = vec![0; mechanism.digest().size()];
        openssl::pkcs5::pbkdf2_hmac(
            password,
            salt,
            iterations as usize,
            mechanism.digest(),
            &mut out,
        )
        .expect("PBKDF2");
        out
    }
}

/// Every credential the broker accepts.
#[derive(Debug, Default)]
pub struct Credentials {
    /// PLAIN users per listener name (upper-case), from `listener.name.<l>.plain.sasl.jaas.config`.
    plain: BTreeMap<String, BTreeMap<String, String>>,
    /// SCRAM credentials by user and mechanism.
    scram: BTreeMap<(String, ScramMechanism), ScramCredential>,
}

impl Credentials {
    /// Reads PLAIN users from the listeners' JAAS configurations and derives the SCRAM
    /// credentials of `sasl.scram.users`, salting with bytes from `random`.
    pub fn from_config(
        config: &BrokerConfig,
        mut random: impl FnMut() -> [u8; 16],
    ) -> Result<Self, String> {
        let mut credentials = Credentials::default();
        for (key, jaas) in &config.listener_properties {
            let Some(rest) = key.strip_prefix("listener.name.") else { continue };
            let Some(listener) = rest.strip_suffix(".plain.sasl.jaas.config") else { continue };
            // `BrokerConfig::load` has already refused a JAAS configuration that does not parse.
            let entry = parse_jaas_config(jaas).map_err(|why| format!("{key}: {why}"))?;
            let users = credentials.plain.entry(listener.to_ascii_uppercase()).or_default();
            for (option, password) in entry.options {
                if let Some(user) = option.strip_prefix("user_") {
                    users.insert(user.to_owned(), password);
                }
            }
        }
        for spec in &config.sasl_scram_users {
            let (mechanism, user, password, iterations) = parse_scram_spec(spec)?;
            let credential =
                ScramCredential::derive(mechanism, password.as_bytes(), &random(), iterations);
            credentials.scram.insert((user, mechanism), credential);
        }
        Ok(credentials)
    }

    /// Checks a PLAIN user name and password for a listener, in constant time per password.
    pub fn check_plain(&self, listener: &str, user: &str, password: &str) -> bool {
        let Some(expected) =
            self.plain.get(&listener.to_ascii_uppercase()).and_then(|u| u.get(user))
        else {
            return false;
        };
        expected.len() == password.len()
            && openssl::memcmp::eq(expected.as_bytes(), password.as_bytes())
    }

    /// The SCRAM credential of a user for a mechanism.
    pub fn scram(&self, user: &str, mechanism: ScramMechanism) -> Option<&ScramCredential> {
        self.scram.get(&(user.to_owned(), mechanism))
    }

    /// Adds or replaces a SCRAM credential.
    pub fn upsert_scram(
        &mut self,
        user: &str,
        mechanism: ScramMechanism,
        credential: ScramCredential,
    ) {
        self.scram.insert((user.to_owned(), mechanism), credential);
    }

    /// Removes a SCRAM credential; false when there was none.
    pub fn delete_scram(&mut self, user: &str, mechanism: ScramMechanism) -> bool {
        self.scram.remove(&(user.to_owned(), mechanism)).is_some()
    }

    /// Every SCRAM user with their mechanisms and iteration counts (never keys), sorted.
    pub fn scram_users(&self) -> BTreeMap<String, Vec<(ScramMechanism, i32)>> {
        let mut out: BTreeMap<String, Vec<(ScramMechanism, i32)>> = BTreeMap::new();
        for ((user, mechanism), credential) in &self.scram {
            out.entry(user.clone()).or_default().push((*mechanism, credential.iterations));
        }
        out
    }
}

/// SCRAM credentials changed through AlterUserScramCredentials, as the metadata image holds
/// them: the latest upsertion (`Some`) or deletion (`None`) per user and mechanism. Deletions
/// are kept so that a deleted config-file user stays deleted after a restart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScramImage {
    changes: BTreeMap<(String, ScramMechanism), Option<ScramCredential>>,
}

impl ScramImage {
    /// Applies an upsertion or deletion record.
    pub fn apply(
        &mut self,
        user: &str,
        mechanism: ScramMechanism,
        credential: Option<ScramCredential>,
    ) {
        self.changes.insert((user.to_owned(), mechanism), credential);
    }

    /// No change recorded.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Every change, in order of user and mechanism: an upsertion (`Some`) or deletion (`None`).
    pub fn iter(
        &self,
    ) -> impl Iterator<Item = (&str, ScramMechanism, Option<&ScramCredential>)> + '_ {
        self.changes
            .iter()
            .map(|((user, mechanism), change)| (user.as_str(), *mechanism, change.as_ref()))
    }

    /// Applies every change to `credentials`, in order of user and mechanism.
    pub fn apply_to(&self, credentials: &mut Credentials) {
        for ((user, mechanism), change) in &self.changes {
            match change {
                Some(credential) => credentials.upsert_scram(user, *mechanism, credential.clone()),
                None => {
                    credentials.delete_scram(user, *mechanism);
                }
            }
        }
    }
}

/// Parses `SCRAM-SHA-256=[name=alice,password=alice-secret,iterations=8192]`.
fn parse_scram_spec(spec: &str) -> Result<(ScramMechanism, String, String, i32), String> {
    let err = |why: &str| {
        format!("sasl.scram.users: `{}`: {why}", spec.split("password=").next().unwrap_or(""))
    };
    let (mechanism, body) =
        spec.split_once('=').ok_or_else(|| err("expected MECHANISM=[name=...,password=...]"))?;
    let mechanism = ScramMechanism::parse(mechanism.trim())
        .ok_or_else(|| err("mechanism must be SCRAM-SHA-256 or SCRAM-SHA-512"))?;
    let body = body
        .trim()
        .strip_prefix('[')
        .and_then(|b| b.strip_suffix(']'))
        .ok_or_else(|| err("expected [...] after the mechanism"))?;
    let (mut name, mut password, mut iterations) = (None, None, MIN_SCRAM_ITERATIONS);
    for field in body.split(',') {
        match field.split_once('=') {
            Some(("name", v)) => name = Some(v.trim().trim_matches('"').to_owned()),
            Some(("password", v)) => password = Some(v.trim().trim_matches('"').to_owned()),
            Some(("iterations", v)) => {
                iterations = v.trim().parse().map_err(|_| err("iterations is not a number"))?
            }
            _ => return Err(err("fields are name, password and iterations")),
        }
    }
    if !(MIN_SCRAM_ITERATIONS..=MAX_SCRAM_ITERATIONS).contains(&iterations) {
        return Err(err(&format!(
            "iterations must be between {MIN_SCRAM_ITERATIONS} and {MAX_SCRAM_ITERATIONS}"
        )));
    }
    match (name, password) {
        (Some(name), Some(password)) if !name.is_empty() => {
            Ok((mechanism, name, password, iterations))
        }
        _ => Err(err("name and password are required")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7677_test_vector() {
        // RFC 7677 §3: user "user", password "pencil", 4096 iterations.
        let salt = openssl::base64::decode_block("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let credential = ScramCredential::derive(ScramMechanism::Sha256, b"pencil", &salt, 4096);
        let auth_message = "n=user,r=rOprNGfwEbeRWgbNEkqO,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let server_signature =
            ScramMechanism::Sha256.hmac(&credential.server_key, auth_message.as_bytes());
        assert_eq!(
            openssl::base64::encode_block(&server_signature),
            "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
    }

    #[test]
    fn jaas_users_and_scram_specs_come_from_the_config() {
        let config = BrokerConfig::load(
            None,
            &[
                "listeners=SASL_SSL://127.0.0.1:9094".into(),
                r#"listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret" user_admin="admin-secret" user_alice="alice-secret";"#.into(),
                "sasl.scram.users=['SCRAM-SHA-512=[name=bob,password=bob-secret,iterations=8192]']".into(),
            ],
        )
        .unwrap();
        let credentials = Credentials::from_config(&config, || [7; 16]).unwrap();
        assert!(credentials.check_plain("SASL_SSL", "alice", "alice-secret"));
        assert!(!credentials.check_plain("SASL_SSL", "alice", "alice-secreT"));
        assert!(!credentials.check_plain("SASL_SSL", "username", "admin"));
        assert!(!credentials.check_plain("OTHER", "alice", "alice-secret"));
        let bob = credentials.scram("bob", ScramMechanism::Sha512).unwrap();
        assert_eq!(bob.iterations, 8192);
        assert_eq!(
            bob,
            &ScramCredential::derive(ScramMechanism::Sha512, b"bob-secret", &[7; 16], 8192)
        );
        assert!(credentials.scram("bob", ScramMechanism::Sha256).is_none());
    }

    #[test]
    fn bad_scram_specs_are_refused_without_echoing_the_password() {
        for spec in [
            "SCRAM-SHA-1=[name=a,password=topsecret]",
            "SCRAM-SHA-256=[name=a,password=topsecret,iterations=10]",
            "SCRAM-SHA-256=name=a,password=topsecret",
            "SCRAM-SHA-256=[password=topsecret]",
        ] {
            let err = parse_scram_spec(spec).unwrap_err();
            assert!(!err.contains("topsecret"), "{err}");
        }
    }
}
