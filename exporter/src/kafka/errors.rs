//! Why a cluster cannot be reached, in librdkafka's own words: a failed call only says
//! "BrokerTransportFailure" or "Timed out", but librdkafka logs the broker address and the
//! cause at error level ("127.0.0.1:9092/bootstrap: Connect to ipv4#127.0.0.1:9092 failed:
//! Connection refused (after 0ms in state CONNECT)"). [`ErrorLog`] keeps those lines and
//! [`ConnectionError::from_log`] classifies them.

use std::sync::Mutex;

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::KafkaError;
use serde::Serialize;

/// Error lines kept between two drains: a poll produces a handful, a flood is cut.
const LINES_KEPT: usize = 64;

/// The client context: collects librdkafka's error-level log lines (the client runs with
/// `log_level=3`) until the poller drains them with [`ErrorLog::take`].
#[derive(Default)]
pub struct ErrorLog {
    lines: Mutex<Vec<String>>,
}

impl ErrorLog {
    /// The lines logged since the last call, oldest first.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.lines.lock().unwrap())
    }

    fn push(&self, line: String) {
        let mut lines = self.lines.lock().unwrap();
        if lines.len() == LINES_KEPT {
            lines.remove(0);
        }
        lines.push(line);
    }
}

impl ClientContext for ErrorLog {
    fn log(&self, level: RDKafkaLogLevel, _fac: &str, message: &str) {
        use RDKafkaLogLevel::{Alert, Critical, Emerg, Error};
        if matches!(level, Emerg | Alert | Critical | Error) {
            self.push(message.to_string());
        }
    }

    fn error(&self, _error: KafkaError, reason: &str) {
        self.push(reason.to_string());
    }
}

impl ConsumerContext for ErrorLog {}

/// What kept the exporter from a cluster, as the `cause` label and the page show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// TCP connect refused: nothing listens at the address.
    ConnectionRefused,
    /// The host name does not resolve.
    CannotResolve,
    /// The TLS handshake failed (certificate, protocol, or a plaintext listener).
    TlsHandshake,
    /// SASL authentication failed (credentials, mechanism).
    SaslAuthentication,
    /// The connection was closed or failed otherwise.
    Disconnected,
    /// No answer in time: the cluster accepts connections but does not reply, or replies too
    /// slowly for the poll interval.
    Timeout,
    /// Anything else (the message says what).
    Other,
}

impl Cause {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::ConnectionRefused => "connection_refused",
            Cause::CannotResolve => "cannot_resolve",
            Cause::TlsHandshake => "tls_handshake",
            Cause::SaslAuthentication => "sasl_authentication",
            Cause::Disconnected => "disconnected",
            Cause::Timeout => "timeout",
            Cause::Other => "other",
        }
    }

    /// A few words for people.
    pub fn describe(self) -> &'static str {
        match self {
            Cause::ConnectionRefused => "connection refused",
            Cause::CannotResolve => "cannot resolve the host name",
            Cause::TlsHandshake => "TLS handshake failed",
            Cause::SaslAuthentication => "SASL authentication failed",
            Cause::Disconnected => "disconnected",
            Cause::Timeout => "no answer in time",
            Cause::Other => "error",
        }
    }
}

/// Why the last poll could not reach the cluster: the broker address, the cause, and
/// librdkafka's line (without its "(after N ms in state X)" tail, so a repeat compares equal).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectionError {
    pub address: String,
    pub cause: Cause,
    pub detail: String,
}

impl std::fmt::Display for ConnectionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} ({})", self.address, self.cause.describe(), self.detail)
    }
}

impl ConnectionError {
    /// The most telling of `lines` (librdkafka's error lines of one poll): a specific cause
    /// (refused, resolve, TLS, SASL) beats a disconnect, which beats anything else; among
    /// equals, the latest. `None` when no line names a broker.
    pub fn from_log(lines: &[String]) -> Option<ConnectionError> {
        let mut best: Option<ConnectionError> = None;
        for line in lines {
            let Some(e) = Self::parse(line) else { continue };
            if best.as_ref().is_none_or(|b| rank(e.cause) >= rank(b.cause)) {
                best = Some(e);
            }
        }
        best
    }

    /// One line: `[thrd:…]: <host:port>/<broker id or "bootstrap">: <message> (after …)`, the
    /// thread prefix only in log lines (error callbacks have none).
    fn parse(line: &str) -> Option<ConnectionError> {
        let line = match line.strip_prefix("[thrd:").and_then(|l| l.split_once("]: ")) {
            Some((_, rest)) => rest,
            None => line,
        };
        let (who, message) = line.split_once(": ")?;
        let (address, _id) = who.rsplit_once('/')?;
        // Brokers learnt from Metadata are named with their listener's scheme.
        let address = address.rsplit_once("://").map_or(address, |(_, a)| a);
        if address.is_empty() || address.contains(' ') {
            return None;
        }
        let detail = match message.rfind(" (after ") {
            Some(at) => &message[..at],
            None => message,
        };
        let lower = detail.to_ascii_lowercase();
        let cause = if lower.contains("connection refused") {
            Cause::ConnectionRefused
        } else if lower.contains("failed to resolve") {
            Cause::CannotResolve
        } else if lower.contains("ssl") || lower.contains("tls") {
            Cause::TlsHandshake
        } else if lower.contains("sasl") || lower.contains("authentication") {
            Cause::SaslAuthentication
        } else if lower.contains("timed out") {
            Cause::Timeout
        } else if lower.contains("disconnect") || lower.contains("connection reset") {
            Cause::Disconnected
        } else {
            Cause::Other
        };
        Some(ConnectionError { address: address.to_string(), cause, detail: detail.to_string() })
    }
}

fn rank(cause: Cause) -> u8 {
    match cause {
        Cause::Other => 0,
        Cause::Timeout | Cause::Disconnected => 1,
        _ => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(line: &str) -> ConnectionError {
        ConnectionError::from_log(&[line.to_string()]).expect(line)
    }

    #[test]
    fn librdkafka_lines_are_classified_with_their_address() {
        let e = one("[thrd:127.0.0.1:1/bootstrap]: 127.0.0.1:1/bootstrap: Connect to \
                     ipv4#127.0.0.1:1 failed: Connection refused (after 0ms in state CONNECT)");
        assert_eq!((e.address.as_str(), e.cause), ("127.0.0.1:1", Cause::ConnectionRefused));
        assert_eq!(e.detail, "Connect to ipv4#127.0.0.1:1 failed: Connection refused");
        let e = one("nosuch.invalid:9092/bootstrap: Failed to resolve 'nosuch.invalid:9092': \
                     Name or service not known (after 2ms in state CONNECT)");
        assert_eq!((e.address.as_str(), e.cause), ("nosuch.invalid:9092", Cause::CannotResolve));
        let e = one("localhost:9093/bootstrap: SSL handshake failed: error:0A000086:SSL \
                     routines::certificate verify failed (after 3ms in state SSL_HANDSHAKE)");
        assert_eq!(e.cause, Cause::TlsHandshake);
        let e = one(
            "sasl_ssl://localhost:9094/1: SASL authentication error: Authentication failed during \
                     authentication due to invalid credentials with SASL mechanism SCRAM-SHA-256 \
                     (after 5ms in state AUTH_REQ)",
        );
        assert_eq!(e.cause, Cause::SaslAuthentication);
        assert!(e.to_string().starts_with("localhost:9094: SASL authentication failed ("), "{e}");
    }

    #[test]
    fn the_specific_cause_wins_and_lines_without_a_broker_are_ignored() {
        let lines = [
            "127.0.0.1:9/1: Disconnected (after 10ms in state UP)".to_string(),
            "127.0.0.1:9/1: Connect to ipv4#127.0.0.1:9 failed: Connection refused".to_string(),
            "1/1 brokers are down".to_string(),
        ];
        assert_eq!(ConnectionError::from_log(&lines).unwrap().cause, Cause::ConnectionRefused);
        assert_eq!(ConnectionError::from_log(&lines[2..]), None);
    }
}
