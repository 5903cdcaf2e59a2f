//! kafka-lab-admin: small admin tools that speak the Kafka wire protocol themselves, so
//! learners without a Java installation get `kafka-configs.sh`'s behaviour.
//!
//! - [`properties`]: a client properties file (`--command-config`), Kafka's names.
//! - [`connection`]: one blocking connection to a broker over PLAINTEXT, SSL, SASL_PLAINTEXT
//!   or SASL_SSL (PLAIN, SCRAM-SHA-256/512), with ApiVersions-based version choice.
//! - [`configs`]: `kafka-lab configs`, client quotas and SCRAM credentials of users/clients.

pub mod configs;
pub mod connection;
pub mod properties;
