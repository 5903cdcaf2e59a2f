//! The client side of SCRAM-SHA-256/512 (RFC 5802, RFC 7677), as Kafka's ScramSaslClient.

use openssl::base64;
use openssl::hash::{hash, MessageDigest};
use openssl::pkey::PKey;
use openssl::sign::Signer;

/// One SCRAM exchange from the client's side.
pub struct ScramClient {
    digest: MessageDigest,
    password: String,
    client_first_bare: String,
    client_nonce: String,
    server_signature: Option<Vec<u8>>,
}

impl ScramClient {
    /// `mechanism` is `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    pub fn new(mechanism: &str, user: &str, password: &str) -> Result<Self, String> {
        let digest = match mechanism {
            "SCRAM-SHA-256" => MessageDigest::sha256(),
            "SCRAM-SHA-512" => MessageDigest::sha512(),
            other => return Err(format!("{other} is not a SCRAM mechanism")),
        };
        let mut nonce = [0u8; 24];
        openssl::rand::rand_bytes(&mut nonce).map_err(|e| e.to_string())?;
        let client_nonce: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
        let name = user.replace('=', "=3D").replace(',', "=2C");
        Ok(ScramClient {
            digest,
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
        let iterations: usize =
            attribute("i")?.parse().map_err(|_| "bad iteration count".to_owned())?;
        let mut salted = vec![0u8; self.digest.size()];
        openssl::pkcs5::pbkdf2_hmac(
            self.password.as_bytes(),
            &salt,
            iterations,
            self.digest,
            &mut salted,
        )
        .map_err(|e| e.to_string())?;
        let client_key = self.hmac(&salted, b"Client Key");
        let stored_key = hash(self.digest, &client_key).map_err(|e| e.to_string())?;
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{server_first},{without_proof}", self.client_first_bare);
        let signature = self.hmac(&stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(&signature).map(|(a, b)| a ^ b).collect();
        let server_key = self.hmac(&salted, b"Server Key");
        self.server_signature = Some(self.hmac(&server_key, auth_message.as_bytes()));
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
            Some(expected) if openssl::memcmp::eq(expected, &given) => Ok(()),
            _ => Err("the server's signature is wrong: it does not know this credential".into()),
        }
    }

    fn hmac(&self, key: &[u8], data: &[u8]) -> Vec<u8> {
        let key = PKey::hmac(key).expect("HMAC keys of any length are valid");
        let mut signer = Signer::new(self.digest, &key).expect("HMAC signer");
        signer.update(data).expect("HMAC update");
        signer.sign_to_vec().expect("HMAC sign")
    }
}
