//! SaslAuthenticate: the SASL exchange itself, one token per request (KIP-152). A failure is
//! answered with SASL_AUTHENTICATION_FAILED and a reason, then the connection is closed.

use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{SaslAuthenticateRequest, SaslAuthenticateResponse};

use super::str_bytes;
use crate::broker::Broker;
use crate::security::sasl::{self, AuthFailure, Mechanism, SaslState};
use crate::security::{Principal, Session};

pub(super) fn handle(
    broker: &Arc<Broker>,
    session: &mut Session,
    request: SaslAuthenticateRequest,
) -> SaslAuthenticateResponse {
    if !session.protocol.uses_sasl() {
        // As Kafka's request handler: ILLEGAL_SASL_STATE, the connection stays, and nothing is
        // counted, since a listener without SASL has no authentication to fail.
        return SaslAuthenticateResponse::default()
            .with_error_code(ResponseError::IllegalSaslState.code())
            .with_error_message(Some(str_bytes(format!(
                "SaslAuthenticate on listener {} ({}), which does not use SASL",
                session.listener, session.protocol
            ))));
    }
    let state = std::mem::replace(&mut session.sasl, SaslState::Initial);
    let credentials = broker.credentials.read().expect("credentials lock poisoned");
    let outcome: Result<(SaslState, Vec<u8>), AuthFailure> = match state {
        SaslState::HandshakeDone(Mechanism::Plain) => {
            sasl::authenticate_plain(&credentials, &session.listener, &request.auth_bytes).map(
                |user| {
                    session.principal = Principal::user(user);
                    (SaslState::Authenticated, Vec::new())
                },
            )
        }
        SaslState::HandshakeDone(Mechanism::Scram(mechanism)) => {
            // Alphanumeric, as Kafka's own nonces: some clients mishandle base64's `+/=`.
            let nonce: String =
                broker.secure_random_bytes::<16>().iter().map(|b| format!("{b:02x}")).collect();
            sasl::scram_client_first(&credentials, mechanism, &request.auth_bytes, &nonce).map(
                |(exchange, server_first)| {
                    (SaslState::ScramChallenged(Box::new(exchange)), server_first)
                },
            )
        }
        SaslState::ScramChallenged(exchange) => {
            sasl::scram_client_final(&exchange, &request.auth_bytes).map(|(user, server_final)| {
                session.principal = Principal::user(user);
                (SaslState::Authenticated, server_final)
            })
        }
        SaslState::Initial | SaslState::Authenticated => Err(AuthFailure(
            "Unexpected SaslAuthenticate request: no SaslHandshake before it".into(),
        )),
    };
    match outcome {
        Ok((state, bytes)) => {
            if matches!(state, SaslState::Authenticated) {
                // The one place a successful SASL authentication is counted.
                broker.stats.record_authentication_success(&session.listener);
                tracing::info!(principal = %session.principal, "authenticated");
            }
            session.sasl = state;
            SaslAuthenticateResponse::default().with_auth_bytes(Bytes::from(bytes))
        }
        Err(AuthFailure(reason)) => {
            let illegal = reason.starts_with("Unexpected");
            session.authentication_failure = Some(reason.clone());
            let code = if illegal {
                ResponseError::IllegalSaslState
            } else {
                ResponseError::SaslAuthenticationFailed
            };
            SaslAuthenticateResponse::default()
                .with_error_code(code.code())
                .with_error_message(Some(str_bytes(reason)))
        }
    }
}
