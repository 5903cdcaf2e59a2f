//! `kafka-lab metadata-quorum`: `kafka-metadata-quorum.sh` (Apache Kafka 4.1's
//! `MetadataQuorumCommand`) — `describe --status` (the quorum's leader, epoch, high watermark,
//! the followers' largest lag, the voters and observers) and `describe --replication` (one row
//! per replica of `__cluster_metadata`: its log end offset, lag and when it last fetched and was
//! caught up), from DescribeQuorum (API 55). `--bootstrap-server` reaches any broker, which
//! forwards to the quorum's leader, or `--bootstrap-controller` a controller.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context};
use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
use kafka_protocol::messages::describe_quorum_response;
use kafka_protocol::messages::{
    DescribeClusterRequest, DescribeQuorumRequest, DescribeQuorumResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::kafka_errors::java_exception;
use super::ConnectArgs;

/// Arguments, named as `kafka-metadata-quorum.sh` names them.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "Examples:\n  \
  kafka-lab metadata-quorum --bootstrap-server localhost:9092 describe --status\n  \
  kafka-lab metadata-quorum --bootstrap-controller localhost:9093 describe --replication --human-readable")]
pub struct MetadataQuorumArgs {
    /// A comma-separated list of host:port pairs to use for establishing the connection to the
    /// Kafka cluster (a broker forwards to the quorum's leader).
    #[arg(long, value_name = "host:port", conflicts_with = "bootstrap_controller")]
    pub bootstrap_server: Option<String>,
    /// A comma-separated list of host:port pairs to use for establishing the connection to the
    /// KRaft controllers.
    #[arg(long, value_name = "host:port")]
    pub bootstrap_controller: Option<String>,
    /// Property file containing configs to be passed to the admin client (security.protocol,
    /// sasl.*, ssl.*).
    #[arg(long, value_name = "FILE")]
    pub command_config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: QuorumCommand,
}

/// `kafka-metadata-quorum.sh`'s commands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum QuorumCommand {
    /// Describe the metadata quorum info.
    Describe {
        /// A short summary of the quorum status and the other provides information about the
        /// current replication state: its leader, epoch, high watermark, the largest follower
        /// lag, its voters and observers.
        #[arg(long, conflicts_with = "replication", required_unless_present = "replication")]
        status: bool,
        /// One row per replica of the metadata log: log end offset, lag, last fetch and last
        /// caught-up times, and whether it is the leader, a follower or an observer.
        #[arg(long)]
        replication: bool,
        /// Times as "N ms ago" instead of timestamps (with --replication).
        #[arg(long, requires = "replication")]
        human_readable: bool,
    },
}

/// One replica as the leader reports it.
struct Replica {
    id: i32,
    log_end_offset: i64,
    last_fetch: i64,
    last_caught_up: i64,
}

/// The quorum as DescribeQuorum answers it.
struct QuorumInfo {
    leader_id: i32,
    leader_epoch: i32,
    high_watermark: i64,
    voters: Vec<Replica>,
    observers: Vec<Replica>,
    /// Each voter's endpoints, `LISTENER://host:port` (v2).
    endpoints: Vec<(i32, Vec<String>)>,
}

/// Runs the command.
pub fn run(args: &MetadataQuorumArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let Some(bootstrap) = args.bootstrap_server.clone().or(args.bootstrap_controller.clone())
    else {
        bail!("Must specify either --bootstrap-server or --bootstrap-controller");
    };
    // A broker forwards DescribeQuorum to the quorum's leader; controllers are asked in turn
    // until the leader answers (a follower answers NOT_LEADER_OR_FOLLOWER), as Kafka's admin
    // client finds the active controller among `bootstrap.controllers`.
    let addresses: Vec<String> = if args.bootstrap_server.is_some() {
        vec![bootstrap]
    } else {
        bootstrap.split(',').map(str::trim).filter(|a| !a.is_empty()).map(String::from).collect()
    };
    let QuorumCommand::Describe { status, human_readable, .. } = args.command;
    let mut answered = None;
    for (i, address) in addresses.iter().enumerate() {
        let connect = ConnectArgs {
            bootstrap_server: address.clone(),
            command_config: args.command_config.clone(),
        };
        let found = connect.connect().and_then(|mut client| {
            let response: DescribeQuorumResponse = client
                .call(&DescribeQuorumRequest::default().with_topics(vec![TopicData::default()
                    .with_topic_name(TopicName(StrBytes::from_static_str("__cluster_metadata")))
                    .with_partitions(vec![PartitionData::default()])]))
                .context("DescribeQuorum")?;
            Ok((client, quorum_info(&response)?))
        });
        match found {
            Ok(found) => {
                answered = Some(found);
                break;
            }
            Err(e) if i + 1 == addresses.len() => return Err(e),
            Err(_) => continue,
        }
    }
    let Some((mut client, info)) = answered else {
        bail!("no controller of --bootstrap-controller answered");
    };
    let now = now_ms();
    if status {
        let cluster = client.call(&DescribeClusterRequest::default()).context("DescribeCluster")?;
        print_status(out, &cluster.cluster_id, &info)?;
    } else {
        print_replication(out, &info, human_readable.then_some(now))?;
    }
    Ok(())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn quorum_info(response: &DescribeQuorumResponse) -> anyhow::Result<QuorumInfo> {
    let fail = |code: i16, message: &Option<StrBytes>| {
        let message = message.as_ref().map(|m| m.to_string()).unwrap_or_default();
        let error = crate::client::BrokerError { code, message };
        anyhow::anyhow!("{}", java_exception(&error))
    };
    if response.error_code != 0 {
        return Err(fail(response.error_code, &response.error_message));
    }
    let Some(p) = response.topics.first().and_then(|t| t.partitions.first()) else {
        bail!("the broker described no metadata partition");
    };
    if p.error_code != 0 {
        return Err(fail(p.error_code, &p.error_message));
    }
    let replicas = |states: &[describe_quorum_response::ReplicaState]| {
        states
            .iter()
            .map(|r| Replica {
                id: r.replica_id.0,
                log_end_offset: r.log_end_offset,
                last_fetch: r.last_fetch_timestamp,
                last_caught_up: r.last_caught_up_timestamp,
            })
            .collect()
    };
    let endpoints = response
        .nodes
        .iter()
        .map(|n| {
            let listeners =
                n.listeners.iter().map(|l| format!("{}://{}:{}", l.name, l.host, l.port)).collect();
            (n.node_id.0, listeners)
        })
        .collect();
    Ok(QuorumInfo {
        leader_id: p.leader_id.0,
        leader_epoch: p.leader_epoch,
        high_watermark: p.high_watermark,
        voters: replicas(&p.current_voters),
        observers: replicas(&p.observers),
        endpoints,
    })
}

/// `--status`, as `MetadataQuorumCommand.handleDescribeStatus` prints it.
fn print_status(out: &mut dyn Write, cluster_id: &str, info: &QuorumInfo) -> anyhow::Result<()> {
    let leader = info.voters.iter().find(|v| v.id == info.leader_id);
    let lagging = info.voters.iter().min_by_key(|v| v.log_end_offset);
    let (max_lag, max_lag_ms) = match (leader, lagging) {
        (Some(leader), Some(lagging)) if leader.id == lagging.id => (0, 0),
        (Some(leader), Some(lagging)) => (
            leader.log_end_offset - lagging.log_end_offset,
            if leader.last_caught_up >= 0 && lagging.last_caught_up >= 0 {
                leader.last_caught_up - lagging.last_caught_up
            } else {
                -1
            },
        ),
        _ => (-1, -1),
    };
    let voters: Vec<String> = info
        .voters
        .iter()
        .map(|v| {
            let endpoints = info
                .endpoints
                .iter()
                .find(|(id, _)| *id == v.id)
                .map(|(_, e)| e.iter().map(|e| format!("\"{e}\"")).collect::<Vec<_>>().join(", "))
                .unwrap_or_default();
            format!("{{\"id\": {}, \"directoryId\": null, \"endpoints\": [{endpoints}]}}", v.id)
        })
        .collect();
    let observers: Vec<String> = info
        .observers
        .iter()
        .map(|o| format!("{{\"id\": {}, \"directoryId\": null}}", o.id))
        .collect();
    writeln!(out, "ClusterId:              {cluster_id}")?;
    writeln!(out, "LeaderId:               {}", info.leader_id)?;
    writeln!(out, "LeaderEpoch:            {}", info.leader_epoch)?;
    writeln!(out, "HighWatermark:          {}", info.high_watermark)?;
    writeln!(out, "MaxFollowerLag:         {max_lag}")?;
    writeln!(out, "MaxFollowerLagTimeMs:   {max_lag_ms}")?;
    writeln!(out, "CurrentVoters:          [{}]", voters.join(", "))?;
    writeln!(out, "CurrentObservers:       [{}]", observers.join(", "))?;
    Ok(())
}

/// `replicas`, the furthest log end first.
fn by_end(replicas: &[Replica]) -> Vec<&Replica> {
    let mut sorted: Vec<&Replica> = replicas.iter().collect();
    sorted.sort_by(|a, b| b.log_end_offset.cmp(&a.log_end_offset).then(a.id.cmp(&b.id)));
    sorted
}

/// `--replication`, as `MetadataQuorumCommand.handleDescribeReplication` prints it: the
/// leader, then the other voters, then the observers, by log end offset, the furthest first.
fn print_replication(
    out: &mut dyn Write,
    info: &QuorumInfo,
    human_readable_now: Option<i64>,
) -> anyhow::Result<()> {
    let leader_end =
        info.voters.iter().find(|v| v.id == info.leader_id).map_or(-1, |l| l.log_end_offset);
    let time = |t: i64| match human_readable_now {
        _ if t < 0 => String::new(),
        Some(now) => format!("{} ms ago", (now - t).max(0)),
        None => t.to_string(),
    };
    let mut rows: Vec<[String; 7]> = vec![[
        "NodeId".into(),
        "DirectoryId".into(),
        "LogEndOffset".into(),
        "Lag".into(),
        "LastFetchTimestamp".into(),
        "LastCaughtUpTimestamp".into(),
        "Status".into(),
    ]];
    let mut push = |r: &Replica, status: &str| {
        rows.push([
            r.id.to_string(),
            "AAAAAAAAAAAAAAAAAAAAAA".into(),
            r.log_end_offset.to_string(),
            (leader_end - r.log_end_offset).max(0).to_string(),
            time(r.last_fetch),
            time(r.last_caught_up),
            status.into(),
        ]);
    };
    for v in info.voters.iter().filter(|v| v.id == info.leader_id) {
        push(v, "Leader");
    }
    for v in by_end(&info.voters).into_iter().filter(|v| v.id != info.leader_id) {
        push(v, "Follower");
    }
    for o in by_end(&info.observers) {
        push(o, "Observer");
    }
    let widths: Vec<usize> =
        (0..7).map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0)).collect();
    for row in rows {
        let line: Vec<String> =
            row.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        writeln!(out, "{}", line.join("\t").trim_end())?;
    }
    Ok(())
}
