//! Who is on the other end of a connection: TLS on SSL listeners, SASL on SASL listeners, and
//! the principal they establish. Authorization (ACLs) and quotas build on [`Principal`].
//!
//! The path of a secured connection: `tcp::accept_loop` wraps the socket with
//! [`tls::TlsAcceptor`] on SSL/SASL_SSL listeners (the client certificate's subject, mapped by
//! `ssl.principal.mapping.rules`, becomes the principal), then `server` keeps a [`Session`] per
//! connection. On SASL listeners only ApiVersions, SaslHandshake and SaslAuthenticate are
//! accepted until [`sasl`] has authenticated the client.

pub mod credentials;
pub mod jaas;
pub mod outbound;
pub mod principal;
pub mod random;
pub mod sasl;
pub mod tls;

pub use credentials::Credentials;
pub use principal::Principal;

use crate::config::SecurityProtocol;

/// The security state of one connection.
#[derive(Debug)]
pub struct Session {
    /// The peer's address, `ip:port`.
    pub peer: String,
    /// The listener the client connected to (its advertised endpoint is the one clients see).
    pub listener: String,
    /// The listener's security protocol.
    pub protocol: SecurityProtocol,
    /// Who the client is: `User:ANONYMOUS` until TLS or SASL says otherwise.
    pub principal: Principal,
    /// Where the SASL exchange stands.
    pub sasl: sasl::SaslState,
    /// Set when authentication failed: the connection closes once the error response is sent.
    pub authentication_failure: Option<String>,
    /// The SASL mechanism SaslHandshake chose (for the authentication-failure counters).
    pub mechanism: Option<&'static str>,
    /// Set when the last response was throttled (KIP-219): the connection reads nothing more
    /// for this many milliseconds after sending it.
    pub throttle_ms: i64,
}

impl Session {
    /// A connection on a listener, before any authentication.
    pub fn new(peer: String, listener: &str, protocol: SecurityProtocol) -> Self {
        Session {
            peer,
            listener: listener.to_owned(),
            protocol,
            principal: Principal::anonymous(),
            sasl: sasl::SaslState::Initial,
            authentication_failure: None,
            mechanism: None,
            throttle_ms: 0,
        }
    }

    /// A plaintext connection on the `PLAINTEXT` listener: what the simulator and unit tests use.
    pub fn plaintext(peer: String) -> Self {
        Session::new(peer, "PLAINTEXT", SecurityProtocol::Plaintext)
    }

    /// Whether requests other than the SASL ones may be served.
    pub fn is_authenticated(&self) -> bool {
        !self.protocol.uses_sasl() || matches!(self.sasl, sasl::SaslState::Authenticated)
    }
}
