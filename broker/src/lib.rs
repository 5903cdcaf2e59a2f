//! kafka-lab-broker: a Kafka-wire-compatible broker built to run both on a real machine and
//! inside the deterministic simulator. See ARCHITECTURE.md at the repository root.

pub mod authorizer;
pub mod broker;
pub mod cli;
pub mod client_codec;
pub mod clock;
pub mod config;
pub mod controller;
pub mod controller_channel;
pub mod error;
pub mod forwarding;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod group;
pub mod handlers;
pub mod internal_records;
pub mod kafka_uuid;
pub mod lifecycle;
pub mod limits;
pub mod log;
pub mod metadata;
pub mod metrics;
pub mod metrics_http;
pub mod network;
pub mod properties_file;
pub mod publisher;
pub mod quota;
pub mod raft;
pub mod replica;
pub mod runtime;
pub mod security;
pub mod server;
pub mod stats;
pub mod storage;
pub mod tcp;
pub mod topic_config;

pub use broker::Broker;
pub use config::BrokerConfig;
pub use error::ApiError;
