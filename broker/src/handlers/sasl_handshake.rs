//! SaslHandshake: the client names the SASL mechanism it will use on this connection.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{SaslHandshakeRequest, SaslHandshakeResponse};

use super::{str_bytes, RequestContext};
use crate::broker::Broker;
use crate::security::sasl::{Mechanism, SaslState};
use crate::security::Session;

pub(super) fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    session: &mut Session,
    request: SaslHandshakeRequest,
) -> SaslHandshakeResponse {
    let enabled = broker.config.sasl_mechanisms();
    let response = SaslHandshakeResponse::default()
        .with_mechanisms(enabled.iter().map(|m| str_bytes(m.clone())).collect());
    let requested = request.mechanism.to_string();
    if !session.protocol.uses_sasl() {
        // Not an authentication attempt: Kafka's request handler answers ILLEGAL_SASL_STATE on
        // a listener without SASL and keeps the connection; nothing is counted as a failed
        // authentication, so anonymous garbage cannot fire the authentication alerts.
        return response.with_error_code(ResponseError::IllegalSaslState.code());
    }
    if ctx.api_version == 0 {
        session.authentication_failure = Some(
            "SaslHandshake v0 (raw SASL tokens without Kafka framing) is not supported; \
             use a client that sends SaslAuthenticate (KIP-152)"
                .into(),
        );
        return response.with_error_code(ResponseError::UnsupportedVersion.code());
    }
    if !matches!(session.sasl, SaslState::Initial) {
        session.authentication_failure = Some(format!(
            "unexpected SaslHandshake on listener {} ({})",
            session.listener, session.protocol
        ));
        return response.with_error_code(ResponseError::IllegalSaslState.code());
    }
    match Mechanism::parse(&requested).filter(|m| enabled.iter().any(|e| e == m.name())) {
        Some(mechanism) => {
            session.mechanism = Some(mechanism.name());
            session.sasl = SaslState::HandshakeDone(mechanism);
            response
        }
        None => {
            session.authentication_failure = Some(format!(
                "client asked for SASL mechanism {requested:?}; enabled: {}",
                enabled.join(",")
            ));
            response.with_error_code(ResponseError::UnsupportedSaslMechanism.code())
        }
    }
}
