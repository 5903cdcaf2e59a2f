//! kafka-lab-admin: a blocking Kafka admin client on `kafka-protocol`, for the APIs librdkafka
//! does not wrap, and the `kafka-lab acls` / `configs` / `topics` commands built on it.
//!
//! - [`client`]: one connection to any Kafka 3.x/4.x broker or kafka-lab-broker over
//!   PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL (PLAIN, SCRAM-SHA-256/512, the server's
//!   signature verified), with ApiVersions-based version choice.
//! - [`properties`]: the client properties Kafka's tools read (`--command-config`), in Java's
//!   and librdkafka's spellings.
//! - [`acls`]: Create/Describe/DeleteAcls. [`configs`]: client quotas and SCRAM credentials.
//!   [`topics`]: listing, describing, creating, growing and deleting topics. [`groups`]:
//!   consumer groups, their committed offsets and the log offsets they lag behind.
//!   [`elections`]: ElectLeaders (preferred and unclean leader elections).
//!   [`reassignments`]: Alter/ListPartitionReassignments.
//! - [`scram`]: the client side of a SCRAM exchange (also for tests that record one).
//! - [`cli`]: `kafka-lab acls` (kafka-acls.sh), `kafka-lab configs` (kafka-configs.sh),
//!   `kafka-lab topics` (kafka-topics.sh), `kafka-lab consumer-groups`
//!   (kafka-consumer-groups.sh), `kafka-lab leader-election` (kafka-leader-election.sh) and
//!   `kafka-lab reassign-partitions` (kafka-reassign-partitions.sh).

pub mod acls;
pub mod cli;
pub mod client;
pub mod configs;
pub mod elections;
pub mod groups;
pub mod properties;
pub mod reassignments;
pub mod scram;
pub mod topics;

pub use client::{AdminClient, AdminError, BrokerError};
pub use properties::ClientProperties;
