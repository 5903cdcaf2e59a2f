//! The admin commands of `kafka-lab`, with the options and output of Kafka's own tools and no
//! Java: `kafka-lab acls` (`kafka-acls.sh`), `kafka-lab configs` (`kafka-configs.sh` for
//! topic and broker configs, client quotas and SCRAM credentials), `kafka-lab topics` (`kafka-topics.sh`) and `kafka-lab
//! consumer-groups` (`kafka-consumer-groups.sh`), `kafka-lab leader-election`
//! (`kafka-leader-election.sh`), `kafka-lab metadata-quorum` (`kafka-metadata-quorum.sh`) and
//! `kafka-lab reassign-partitions` (`kafka-reassign-partitions.sh`). All connect through [`ConnectArgs`].

pub mod acls;
pub mod configs;
pub mod consumer_groups;
mod kafka_errors;
pub mod leader_election;
pub mod metadata_quorum;
pub mod reassign_partitions;
pub mod topics;

use std::io::Write;
use std::path::PathBuf;

pub use acls::AclsArgs;
pub use configs::ConfigsArgs;
pub use consumer_groups::ConsumerGroupsArgs;
pub use leader_election::LeaderElectionArgs;
pub use metadata_quorum::MetadataQuorumArgs;
pub use reassign_partitions::ReassignPartitionsArgs;
pub use topics::TopicsArgs;

use crate::client::AdminClient;
use crate::properties::ClientProperties;

/// The admin subcommands (flattened into `kafka-lab`'s command list).
#[derive(Debug, clap::Subcommand)]
pub enum AdminCommand {
    /// Add, remove and list ACLs, as Kafka's kafka-acls.sh (CreateAcls/DescribeAcls/DeleteAcls).
    Acls(AclsArgs),
    /// Topic and broker configs, client quotas and SCRAM credentials of users and clients, as
    /// Kafka's kafka-configs.sh (Describe/IncrementalAlterConfigs, Describe/AlterClientQuotas,
    /// Describe/AlterUserScramCredentials).
    Configs(ConfigsArgs),
    /// Create, delete, describe, or change a topic, as Kafka's kafka-topics.sh (Metadata,
    /// CreateTopics, CreatePartitions, DeleteTopics, DescribeConfigs).
    Topics(TopicsArgs),
    /// List, describe (offsets and lag, members, state), reset offsets of, or delete consumer
    /// groups, as Kafka's kafka-consumer-groups.sh (ListGroups, DescribeGroups, OffsetFetch,
    /// ListOffsets, OffsetCommit, DeleteGroups, OffsetDelete).
    ConsumerGroups(ConsumerGroupsArgs),
    /// Elect partition leaders: the preferred replicas, or any live replica of a leaderless
    /// partition, as Kafka's kafka-leader-election.sh (ElectLeaders).
    LeaderElection(LeaderElectionArgs),
    /// Describe the KRaft metadata quorum — its leader, epoch, high watermark, voters and
    /// observers, and each replica's lag — as Kafka's kafka-metadata-quorum.sh (DescribeQuorum).
    MetadataQuorum(MetadataQuorumArgs),
    /// Move partitions between brokers and follow the moves, as Kafka's
    /// kafka-reassign-partitions.sh (AlterPartitionReassignments, ListPartitionReassignments):
    /// --execute, --verify, --list with its JSON file.
    ReassignPartitions(ReassignPartitionsArgs),
}

/// A failure the command has already printed in its tool's own words (kafka-topics.sh's
/// "Error while executing topic command : …" on stdout); the caller only exits with 1.
#[derive(Debug, thiserror::Error)]
#[error("the command failed (reported above)")]
pub struct Reported;

/// Runs an admin command, writing what Kafka's tool would print to `out`.
pub fn run(command: &AdminCommand, out: &mut dyn Write) -> anyhow::Result<()> {
    match command {
        AdminCommand::Acls(args) => acls::run(args, out),
        AdminCommand::Configs(args) => configs::run(args, out),
        AdminCommand::Topics(args) => topics::run(args, out),
        AdminCommand::ConsumerGroups(args) => consumer_groups::run(args, out),
        AdminCommand::LeaderElection(args) => leader_election::run(args, out),
        AdminCommand::MetadataQuorum(args) => metadata_quorum::run(args, out),
        AdminCommand::ReassignPartitions(args) => reassign_partitions::run(args, out),
    }
}

/// `Option "[a]" can't be used with option "[b]"`, as joptsimple's checks in Kafka's tools word
/// it.
pub(crate) fn invalid(option: &str, with: &str) -> anyhow::Error {
    anyhow::anyhow!("Option \"[{option}]\" can't be used with option \"[{with}]\"")
}

/// Where the cluster is and how to authenticate, as Kafka's tools take it.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnectArgs {
    /// The broker(s) to talk to, `host:port[,host:port…]`.
    #[arg(long, value_name = "HOST:PORT")]
    pub bootstrap_server: String,
    /// Client properties: `security.protocol`, `sasl.mechanism`, `sasl.jaas.config` (or
    /// `sasl.username` + `sasl.password`), `ssl.truststore.location` (or `ssl.ca.location`),
    /// … as Kafka's tools and librdkafka read them.
    #[arg(long, value_name = "FILE")]
    pub command_config: Option<PathBuf>,
}

impl ConnectArgs {
    /// The client properties of `--command-config` (PLAINTEXT without one).
    pub fn properties(&self) -> anyhow::Result<ClientProperties> {
        Ok(match &self.command_config {
            Some(path) => ClientProperties::load(path)?,
            None => ClientProperties::plaintext(),
        })
    }

    /// One authenticated connection.
    pub fn connect(&self) -> anyhow::Result<AdminClient> {
        Ok(AdminClient::connect(&self.bootstrap_server, &self.properties()?)?)
    }
}
