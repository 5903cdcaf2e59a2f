//! The labs of course modules 2, 4 and 10: exercises against a running broker or cluster
//! (`kafka-lab up`, `kafka-lab broker`, `kafka-lab cluster up`) reached through its bootstrap
//! servers, as Kafka's own tools reach it.
//!
//! Unlike the security lab they have no directory: everything the learner builds — topics,
//! configs, groups and their offsets, replicas — lives in the cluster, which is exactly what
//! the checkers read. The names the exercises use (topic `orders`, group `clicks-app`, …) are
//! fixed by their steps.

use anyhow::Context;
use kafka_lab_admin::groups::GroupCluster;
use kafka_lab_admin::{AdminClient, ClientProperties};

use crate::client::Access;

/// Where `kafka-lab up`, `kafka-lab broker` and node 1 of `kafka-lab cluster up` listen.
pub const DEFAULT_BOOTSTRAP_SERVERS: &str = "127.0.0.1:9092";
/// Where `kafka-lab up` and `kafka-lab cluster up` serve the lag exporter.
pub const DEFAULT_EXPORTER: &str = "127.0.0.1:8000";

/// A running cluster the learner works on.
#[derive(Debug, Clone)]
pub struct ClusterLab {
    /// `--bootstrap-server`: one or more `host:port`, comma-separated.
    pub bootstrap_servers: String,
    /// The lag exporter's `host:port` (its `/metrics`).
    pub exporter: String,
}

impl Default for ClusterLab {
    fn default() -> Self {
        ClusterLab::new(DEFAULT_BOOTSTRAP_SERVERS, DEFAULT_EXPORTER)
    }
}

impl ClusterLab {
    /// A lab on the cluster at `bootstrap_servers`, its lag exporter at `exporter`.
    pub fn new(bootstrap_servers: &str, exporter: &str) -> Self {
        ClusterLab { bootstrap_servers: bootstrap_servers.into(), exporter: exporter.into() }
    }

    /// librdkafka's settings for this cluster.
    pub fn access(&self) -> Access {
        Access::bootstrap(&self.bootstrap_servers)
    }

    /// An admin connection to the first bootstrap server that answers.
    pub fn admin(&self) -> anyhow::Result<AdminClient> {
        AdminClient::connect(&self.bootstrap_servers, &ClientProperties::plaintext())
            .with_context(|| self.unreachable())
    }

    /// Connections for group requests (each to the broker Kafka's admin client would ask).
    pub fn groups(&self) -> anyhow::Result<GroupCluster> {
        GroupCluster::connect(&self.bootstrap_servers, &ClientProperties::plaintext())
            .with_context(|| self.unreachable())
    }

    /// The message when no bootstrap server answers: how to start one.
    pub fn unreachable(&self) -> String {
        format!(
            "no broker answers on {}: start one (`kafka-lab up`, or `kafka-lab cluster up --brokers 3`) \
             or point the checker at yours with --bootstrap-server",
            self.bootstrap_servers
        )
    }

    /// `--bootstrap-server <servers>`, for the commands the checkers print.
    pub fn bootstrap_flag(&self) -> String {
        format!("--bootstrap-server {}", self.bootstrap_servers)
    }
}
