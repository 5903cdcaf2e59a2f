//! The error a request answers with: a Kafka error code and a message for humans.
//!
//! A leaf module (it depends on nothing in the crate, only on `kafka-protocol`), so every layer
//! — handlers, the authorizer, topic configs, quotas, the broker — can return it without
//! depending on `Broker`. Errors of lower layers convert into it where they are defined
//! (`From<LogError>` in `log/`).

use kafka_protocol::error::ResponseError;

/// An error to send to a client: the Kafka error code and a message for humans.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The Kafka error.
    pub error: ResponseError,
    /// Context a user can act on.
    pub message: String,
}

impl ApiError {
    /// An error with a message.
    pub fn new(error: ResponseError, message: impl Into<String>) -> Self {
        Self { error, message: message.into() }
    }

    /// The wire error code.
    pub fn code(&self) -> i16 {
        self.error.code()
    }
}
