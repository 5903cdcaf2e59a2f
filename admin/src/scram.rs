//! The client side of SCRAM-SHA-256/512 (RFC 5802, RFC 7677), as Kafka's ScramSaslClient, on
//! the broker's SCRAM primitives (`ScramMechanism`, `ScramCredential::salted_password`).

use kafka_lab_broker::security::credentials::{ScramCredential, ScramMechanism};
use openssl::base64;

/// One SCRAM exchange from the client's side.
pub struct ScramClient {
    mechanism: ScramMechanism,
    password: String,
    client_first_bare: String,
    client_nonce: String,
    server_signature: Option<Vec<u8>>,
}

impl ScramClient {
    /// `mechanism` is `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    pub fn new(mechanism: &str, user: &str, password: &str) -> Result<Self, String> {
        let mechanism = ScramMechanism::parse(mechanism)
            .ok_or_else(|| format!("{mechanism} is not a SCRAM mechanism"))?;
        let mut nonce = [0u8; 24];
        openssl::rand::rand_bytes(&mut nonce).map_err(|e| e.to_string())?;
        let client_nonce: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
        let name = user.replace('=', "=3D").replace(',', "=2C");
        Ok(ScramClient {
            mechanism,
            password: password.to_owned(),
            client_first_bare: format!("n={name},r={client_nonce}"),
            client_nonce,
            server_signature: None,
        })
    }

    /// The client-first message.
    pub fn client_first(&self) -> Vec<u8> {
        format!("n,,{}", self.client_first_bare).into_bytes()
    }

    /// Answers the server-first message with the client-final message (carrying the proof).
    pub fn client_final(&mut self, server_first: &[u8]) -> Result<Vec<u8>, String> {
        let server_first = std::str::from_utf8(server_first)
            .map_err(|_| "server-first message is not UTF-8".to_owned())?;
        let attribute = |name: &str| {
            server_first
                .split(',')
                .find_map(|a| a.strip_prefix(&format!("{name}=")))
                .ok_or_else(|| format!("server-first message has no `{name}`: {server_first}"))
        };
        let nonce = attribute("r")?;
        if !nonce.starts_with(&self.client_nonce) {
            return Err("the server's nonce does not extend ours".into());
        }
        let salt = base64::decode_block(attribute("s")?).map_err(|e| e.to_string())?;
        let iterations: i32 = attribute("i")?
            .parse()
            .ok()
            .filter(|i| *i > 0)
            .ok_or_else(|| "bad iteration count".to_owned())?;
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
    pub fn verify_server_final(&self, server_final: &[u8]) -> Result<(), String> {
        let text = String::from_utf8_lossy(server_final);
        if let Some(error) = text.strip_prefix("e=") {
            return Err(format!("server refused: {error}"));
        }
        let given = text
            .strip_prefix("v=")
            .and_then(|v| base64::decode_block(v.trim()).ok())
            .ok_or_else(|| format!("unexpected server-final message `{text}`"))?;
        match &self.server_signature {
            // memcmp::eq panics on different lengths: compare those first.
            Some(expected)
                if expected.len() == given.len() && openssl::memcmp::eq(expected, &given) =>
            {
                Ok(())
            }
            _ => Err("the server's signature is wrong: it does not know this credential".into()),
        }
    }
}
