//! The client side of SCRAM-SHA-256/512 (RFC 5802, RFC 7677), as Kafka's ScramSaslClient: the
//! broker's own client (`security::sasl::ScramClient`, which brokers use between nodes), with a
//! nonce from OpenSSL's CSPRNG.

use kafka_lab_broker::security::credentials::ScramMechanism;
use kafka_lab_broker::security::sasl;

/// One SCRAM exchange from the client's side.
pub struct ScramClient(sasl::ScramClient);

impl ScramClient {
    /// `mechanism` is `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    pub fn new(mechanism: &str, user: &str, password: &str) -> Result<Self, String> {
        let mechanism = ScramMechanism::parse(mechanism)
            .ok_or_else(|| format!("{mechanism} is not a SCRAM mechanism"))?;
        let mut nonce = [0u8; 24];
        openssl::rand::rand_bytes(&mut nonce).map_err(|e| e.to_string())?;
        Ok(ScramClient(sasl::ScramClient::new(mechanism, user, password, &nonce)))
    }

    /// The client-first message.
    pub fn client_first(&self) -> Vec<u8> {
        self.0.client_first()
    }

    /// Answers the server-first message with the client-final message (carrying the proof).
    pub fn client_final(&mut self, server_first: &[u8]) -> Result<Vec<u8>, String> {
        self.0.client_final(server_first).map_err(|e| e.0)
    }

    /// Checks the server-final message: the server proves it knew the credential too.
    pub fn verify_server_final(&self, server_final: &[u8]) -> Result<(), String> {
        self.0.verify_server_final(server_final).map_err(|e| e.0)
    }
}
