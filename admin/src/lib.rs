//! kafka-lab-admin: a blocking Kafka admin client on `kafka-protocol`, for tools that need APIs
//! librdkafka does not wrap (the ACL APIs today; SCRAM users and quotas next), and the
//! `kafka-lab acls` command built on it.
//!
//! The client speaks to any Kafka 3.x/4.x broker and to kafka-lab-broker over PLAINTEXT, SSL,
//! SASL_PLAINTEXT and SASL_SSL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512), configured with the same
//! client properties Kafka's own tools read (`--command-config`).

pub mod acls;
pub mod cli;
pub mod client;
pub mod properties;
mod scram;

pub use client::{AdminClient, AdminError};
pub use properties::ClientProperties;
