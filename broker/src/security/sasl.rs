//! SASL mechanisms as the broker's side of SaslHandshake/SaslAuthenticate: PLAIN (RFC 4616)
//! and SCRAM-SHA-256/512 (RFC 5802, RFC 7677). Pure functions of the client's bytes and the
//! stored credentials; the handlers own the wire format and the connection state. The client
//! side ([`plain_client_message`], [`ScramClient`]) is what a node sends when it authenticates
//! to another node's SASL listener (`network::secure`).

use openssl::base64;

use super::credentials::{Credentials, ScramCredential, ScramMechanism};

/// A SASL mechanism the broker can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    Plain,
    Scram(ScramMechanism),
}

impl Mechanism {
    /// Parses a mechanism name from SaslHandshake.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "PLAIN" => Some(Mechanism::Plain),
            other => ScramMechanism::parse(other).map(Mechanism::Scram),
        }
    }

    /// The mechanism's name.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Scram(scram) => scram.name(),
        }
    }
}

/// Where a connection's SASL exchange stands.
#[derive(Debug)]
pub enum SaslState {
    /// No handshake yet.
    Initial,
    /// SaslHandshake chose a mechanism; the first SaslAuthenticate is next.
    HandshakeDone(Mechanism),
    /// SCRAM: the server-first message was sent; the client-final message is next.
    ScramChallenged(Box<ScramExchange>),
    /// The client is authenticated; further SASL requests are illegal.
    Authenticated,
}

/// Why authentication failed, as the client will read it. Never contains a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthFailure(pub String);

/// Checks a PLAIN message `authzid NUL authcid NUL password`; returns the user name.
pub fn authenticate_plain(
    credentials: &Credentials,
    listener: &str,
    message: &[u8],
) -> Result<String, AuthFailure> {
    let malformed =
        || AuthFailure("Invalid SASL/PLAIN message: expected authzid\\0user\\0password".into());
    let mut parts = message.split(|b| *b == 0);
    let (Some(authzid), Some(user), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed());
    };
    let (Ok(authzid), Ok(user), Ok(password)) =
        (std::str::from_utf8(authzid), std::str::from_utf8(user), std::str::from_utf8(password))
    else {
        return Err(malformed());
    };
    if user.is_empty() || password.is_empty() {
        return Err(AuthFailure("Authentication failed: username or password is empty".into()));
    }
    if !authzid.is_empty() && authzid != user {
        return Err(AuthFailure("Authentication failed: Client requested an authorization id that is different from username".into()));
    }
    if !credentials.check_plain(listener, user, password) {
        return Err(AuthFailure("Authentication failed: Invalid username or password".into()));
    }
    Ok(user.to_owned())
}

/// The server's memory between the SCRAM server-first and client-final messages.
#[derive(Debug)]
pub struct ScramExchange {
    mechanism: ScramMechanism,
    user: String,
    gs2_header: String,
    client_first_bare: String,
    server_first: String,
    nonce: String,
    credential: ScramCredential,
}

/// Handles the SCRAM client-first message; returns the exchange and the server-first message.
pub fn scram_client_first(
    credentials: &Credentials,
    mechanism: ScramMechanism,
    message: &[u8],
    server_nonce: &str,
) -> Result<(ScramExchange, Vec<u8>), AuthFailure> {
    let invalid = |why: &str| AuthFailure(format!("Invalid SCRAM client first message: {why}"));
    let message = std::str::from_utf8(message).map_err(|_| invalid("not UTF-8"))?;
    // gs2-header: channel-binding flag, optional authzid, then the bare message.
    let mut fields = message.splitn(3, ',');
    let (Some(binding), Some(authzid), Some(bare)) = (fields.next(), fields.next(), fields.next())
    else {
        return Err(invalid("missing GS2 header"));
    };
    if binding.starts_with("p=") {
        return Err(invalid("channel binding is not supported"));
    }
    if binding != "n" && binding != "y" {
        return Err(invalid("bad channel binding flag"));
    }
    let attributes = parse_attributes(bare);
    let user = attributes.get("n").ok_or_else(|| invalid("no user name"))?;
    let user = decode_saslname(user).ok_or_else(|| invalid("bad user name encoding"))?;
    let client_nonce =
        attributes.get("r").filter(|r| !r.is_empty()).ok_or_else(|| invalid("no nonce"))?;
    if let Some(authzid) = authzid.strip_prefix("a=") {
        if decode_saslname(authzid).as_deref() != Some(user.as_str()) {
            return Err(AuthFailure("Authentication failed: Client requested an authorization id that is different from username".into()));
        }
    }
    let credential = credentials
        .scram(&user, mechanism)
        .ok_or_else(|| AuthFailure("Authentication failed: Invalid user credentials".into()))?
        .clone();
    let nonce = format!("{client_nonce}{server_nonce}");
    let server_first = format!(
        "r={nonce},s={},i={}",
        base64::encode_block(&credential.salt),
        credential.iterations
    );
    let exchange = ScramExchange {
        mechanism,
        user,
        gs2_header: format!("{binding},{authzid},"),
        client_first_bare: bare.to_owned(),
        server_first: server_first.clone(),
        nonce,
        credential,
    };
    Ok((exchange, server_first.into_bytes()))
}

/// Verifies the SCRAM client-final message; returns the user and the server-final message.
pub fn scram_client_final(
    exchange: &ScramExchange,
    message: &[u8],
) -> Result<(String, Vec<u8>), AuthFailure> {
    let invalid = |why: &str| AuthFailure(format!("Invalid SCRAM client final message: {why}"));
    let message = std::str::from_utf8(message).map_err(|_| invalid("not UTF-8"))?;
    let (without_proof, proof) = message.rsplit_once(",p=").ok_or_else(|| invalid("no proof"))?;
    let attributes = parse_attributes(without_proof);
    if attributes.get("c").map(String::as_str)
        != Some(base64::encode_block(exchange.gs2_header.as_bytes()).as_str())
    {
        return Err(invalid("channel binding does not match the GS2 header"));
    }
    // Kafka accepts a final nonce that merely ends with the server's: librdkafka before 2.1
    // sends its client nonce twice (client + server-first's nonce), and Kafka tolerates that.
    if !attributes.get("r").is_some_and(|nonce| nonce.ends_with(&exchange.nonce)) {
        return Err(invalid("nonce does not match the server-first message"));
    }
    let proof = base64::decode_block(proof).map_err(|_| invalid("proof is not base64"))?;
    let mechanism = exchange.mechanism;
    let auth_message =
        format!("{},{},{without_proof}", exchange.client_first_bare, exchange.server_first);
    let client_signature = mechanism.hmac(&exchange.credential.stored_key, auth_message.as_bytes());
    if proof.len() != client_signature.len() {
        return Err(invalid("proof has the wrong length"));
    }
    let client_key: Vec<u8> = proof.iter().zip(&client_signature).map(|(p, s)| p ^ s).collect();
    let stored_key = mechanism.hash(&client_key);
    if !openssl::memcmp::eq(&stored_key, &exchange.credential.stored_key) {
        return Err(AuthFailure(format!(
            "Authentication failed during authentication due to invalid credentials with SASL mechanism {}",
            mechanism.name()
        )));
    }
    let server_signature = mechanism.hmac(&exchange.credential.server_key, auth_message.as_bytes());
    Ok((
        exchange.user.clone(),
        format!("v={}", base64::encode_block(&server_signature)).into_bytes(),
    ))
}

/// The PLAIN client's one message: `NUL user NUL password` (no authorization id).
pub fn plain_client_message(user: &str, password: &str) -> Vec<u8> {
    format!("\0{user}\0{password}").into_bytes()
}

/// One SCRAM exchange from the client's side, as Kafka's `ScramSaslClient`: client-first,
/// client-final with the proof, and the server's signature checked, so a node knows the other
/// end holds the credential and is not merely accepting anything.
pub struct ScramClient {
    mechanism: ScramMechanism,
    password: String,
    client_first_bare: String,
    client_nonce: String,
    server_signature: Option<Vec<u8>>,
}

impl ScramClient {
    /// A new exchange for `user`; `nonce` must be unpredictable (the caller's `SecureRandom`).
    pub fn new(mechanism: ScramMechanism, user: &str, password: &str, nonce: &[u8]) -> Self {
        let client_nonce: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
        let name = user.replace('=', "=3D").replace(',', "=2C");
        ScramClient {
            mechanism,
            password: password.to_owned(),
            client_first_bare: format!("n={name},r={client_nonce}"),
            client_nonce,
            server_signature: None,
        }
    }

    /// The client-first message.
    pub fn client_first(&self) -> Vec<u8> {
        format!("n,,{}", self.client_first_bare).into_bytes()
    }

    /// Answers the server-first message with the client-final message (carrying the proof).
    pub fn client_final(&mut self, server_first: &[u8]) -> Result<Vec<u8>, AuthFailure> {
        let failure = |why: String| AuthFailure(why);
        let server_first = std::str::from_utf8(server_first)
            .map_err(|_| failure("server-first message is not UTF-8".into()))?;
        let attributes = parse_attributes(server_first);
        let attribute = |name: &str| {
            attributes
                .get(name)
                .map(String::as_str)
                .ok_or_else(|| failure(format!("server-first message has no `{name}`")))
        };
        let nonce = attribute("r")?;
        if !nonce.starts_with(&self.client_nonce) || nonce.len() == self.client_nonce.len() {
            return Err(failure("the server's nonce does not extend ours".into()));
        }
        let salt = base64::decode_block(attribute("s")?)
            .map_err(|_| failure("the salt is not base64".into()))?;
        let iterations: i32 = attribute("i")?
            .parse()
            .ok()
            .filter(|i| *i > 0)
            .ok_or_else(|| failure("bad iteration count".into()))?;
        let m = self.mechanism;
        let salted =
            ScramCredential::salted_password(m, self.password.as_bytes(), &salt, iterations);
        let client_key = m.hmac(&salted, b"Client Key");
        let stored_key = m.hash(&client_key);
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{server_first},{without_proof}", self.client_first_bare);
        let signature = m.hmac(&stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(&signature).map(|(a, b)| a ^ b).collect();
        let server_key = m.hmac(&salted, b"Server Key");
        self.server_signature = Some(m.hmac(&server_key, auth_message.as_bytes()));
        Ok(format!("{without_proof},p={}", base64::encode_block(&proof)).into_bytes())
    }

    /// Checks the server-final message: the server proves it knew the credential too.
    pub fn verify_server_final(&self, server_final: &[u8]) -> Result<(), AuthFailure> {
        let text = String::from_utf8_lossy(server_final);
        if let Some(error) = text.strip_prefix("e=") {
            return Err(AuthFailure(format!("the server refused: {error}")));
        }
        let given = text
            .strip_prefix("v=")
            .and_then(|v| base64::decode_block(v.trim()).ok())
            .ok_or_else(|| AuthFailure("unexpected server-final message".into()))?;
        match &self.server_signature {
            // memcmp::eq panics on different lengths: compare those first.
            Some(expected)
                if expected.len() == given.len() && openssl::memcmp::eq(expected, &given) =>
            {
                Ok(())
            }
            _ => Err(AuthFailure(
                "the server's signature is wrong: it does not know this credential".into(),
            )),
        }
    }
}

/// `k=v,k=v` attributes; values may contain `=`.
fn parse_attributes(text: &str) -> std::collections::BTreeMap<String, String> {
    text.split(',')
        .filter_map(|field| field.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// RFC 5802 saslname: `=2C` is `,` and `=3D` is `=`; any other `=` is invalid.
fn decode_saslname(name: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = name;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        match rest.get(i + 1..i + 3)? {
            "2C" => out.push(','),
            "3D" => out.push('='),
            _ => return None,
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials() -> Credentials {
        let mut credentials = Credentials::default();
        let salt = base64::decode_block("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        credentials.upsert_scram(
            "user",
            ScramMechanism::Sha256,
            ScramCredential::derive(ScramMechanism::Sha256, b"pencil", &salt, 4096),
        );
        credentials
    }

    #[test]
    fn rfc7677_exchange_succeeds_and_a_wrong_proof_fails() {
        let credentials = credentials();
        let (exchange, server_first) = scram_client_first(
            &credentials,
            ScramMechanism::Sha256,
            b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
            "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(server_first).unwrap(),
            "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
        );
        let client_final = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
        let (user, server_final) = scram_client_final(&exchange, client_final.as_bytes()).unwrap();
        assert_eq!(user, "user");
        assert_eq!(
            String::from_utf8(server_final).unwrap(),
            "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );

        let wrong = client_final.replace("p=dHzb", "p=dHzc");
        let err = scram_client_final(&exchange, wrong.as_bytes()).unwrap_err();
        assert!(err.0.contains("invalid credentials"), "{err:?}");
        let replayed_nonce = client_final.replace("$k0,p", "$k1,p");
        // The prefix librdkafka < 2.1 repeats is tolerated, as Kafka does; the proof then covers
        // the message as sent, so this one fails on the proof, not on the nonce.
        let repeated = client_final.replace("r=rOpr", "r=rOprNGfwEbeRWgbNEkqOrOpr");
        let err = scram_client_final(&exchange, repeated.as_bytes()).unwrap_err();
        assert!(err.0.contains("invalid credentials"), "{err:?}");
        assert!(scram_client_final(&exchange, replayed_nonce.as_bytes())
            .unwrap_err()
            .0
            .contains("nonce"));
    }

    #[test]
    fn unknown_users_and_garbage_fail_cleanly() {
        let credentials = credentials();
        let err =
            scram_client_first(&credentials, ScramMechanism::Sha256, b"n,,n=mallory,r=abc", "x")
                .unwrap_err();
        assert!(err.0.contains("Invalid user credentials"));
        assert!(scram_client_first(&credentials, ScramMechanism::Sha512, b"n,,n=user,r=abc", "x")
            .is_err());
        for garbage in [
            &b""[..],
            b"\xff\xfe",
            b"p=tls-unique,,n=user,r=a",
            b"n,,r=abc",
            b"n,,n=us=ZZer,r=a",
            b",,,,",
        ] {
            assert!(scram_client_first(&credentials, ScramMechanism::Sha256, garbage, "x").is_err());
        }
        assert!(authenticate_plain(&credentials, "SASL_PLAINTEXT", b"\0user\0pencil").is_err());
        for garbage in [&b""[..], b"\0\0", b"a\0b", b"a\0b\0c\0d", b"\0\xff\0x"] {
            assert!(authenticate_plain(&credentials, "SASL_PLAINTEXT", garbage).is_err());
        }
    }

    #[test]
    fn the_client_side_authenticates_against_the_server_side_and_checks_its_signature() {
        let credentials = credentials();
        let mut client = ScramClient::new(ScramMechanism::Sha256, "user", "pencil", &[7; 16]);
        let (exchange, server_first) = scram_client_first(
            &credentials,
            ScramMechanism::Sha256,
            &client.client_first(),
            "server-nonce",
        )
        .unwrap();
        let client_final = client.client_final(&server_first).unwrap();
        let (user, server_final) = scram_client_final(&exchange, &client_final).unwrap();
        assert_eq!(user, "user");
        client.verify_server_final(&server_final).unwrap();
        let forged = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
        assert!(client.verify_server_final(forged).is_err());

        let mut wrong = ScramClient::new(ScramMechanism::Sha256, "user", "pen", &[8; 16]);
        let (exchange, server_first) =
            scram_client_first(&credentials, ScramMechanism::Sha256, &wrong.client_first(), "n")
                .unwrap();
        let client_final = wrong.client_final(&server_first).unwrap();
        assert!(scram_client_final(&exchange, &client_final).is_err());
        assert_eq!(plain_client_message("u", "p"), b"\0u\0p");
    }

    #[test]
    fn saslnames_decode() {
        assert_eq!(decode_saslname("a=2Cb=3Dc").as_deref(), Some("a,b=c"));
        assert_eq!(decode_saslname("a=4"), None);
    }

    /// Random, truncated and mutated SASL messages: every parser answers with an error, never
    /// a panic, and only the exact valid message authenticates.
    #[test]
    fn garbage_and_mutated_messages_fail_without_panicking() {
        use rand::{Rng, SeedableRng};
        let credentials = credentials();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0x5a51);
        let client_first = b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO".to_vec();
        let server_nonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let (exchange, _) =
            scram_client_first(&credentials, ScramMechanism::Sha256, &client_first, server_nonce)
                .unwrap();
        let client_final = b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=".to_vec();
        let plain = b"\0user\0pencil".to_vec();
        let alphabet = b"=,\0nrpcsia2C3D\xff\xc3";
        let mutate = |rng: &mut rand_chacha::ChaCha8Rng, valid: &[u8]| -> Vec<u8> {
            let mut m = valid.to_vec();
            match rng.gen_range(0..4) {
                0 => m.truncate(rng.gen_range(0..valid.len())),
                1 => {
                    for _ in 0..rng.gen_range(1..4) {
                        let at = rng.gen_range(0..m.len());
                        m[at] = if rng.gen_bool(0.5) {
                            rng.gen()
                        } else {
                            alphabet[rng.gen_range(0..alphabet.len())]
                        };
                    }
                }
                2 => {
                    let at = rng.gen_range(0..=m.len());
                    let insert: Vec<u8> = (0..rng.gen_range(1..8))
                        .map(|_| alphabet[rng.gen_range(0..alphabet.len())])
                        .collect();
                    m.splice(at..at, insert);
                }
                _ => m = (0..rng.gen_range(0..64)).map(|_| rng.gen()).collect(),
            }
            m
        };
        for _ in 0..20_000 {
            let m = mutate(&mut rng, &client_final);
            let outcome = scram_client_final(&exchange, &m);
            assert_eq!(outcome.is_ok(), m == client_final, "{:?}", String::from_utf8_lossy(&m));
            let m = mutate(&mut rng, &client_first);
            // A mutated nonce is still a valid first message; anything else must fail.
            let _ = scram_client_first(&credentials, ScramMechanism::Sha256, &m, server_nonce);
            let m = mutate(&mut rng, &plain);
            let outcome = authenticate_plain(&credentials, "SASL_PLAINTEXT", &m);
            assert!(outcome.is_err(), "PLAIN has no users here: {m:?}");
        }
    }
}
