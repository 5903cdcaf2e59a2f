//! A broker following `__cluster_metadata` as KRaft's observers do: it fetches the metadata log
//! from the quorum's leader from its own log end offset, appends the leader's batches with the
//! leader's offsets, and publishes what they change (`Broker::apply_replicated_metadata`): the
//! same effects, through the same publisher, as on the node that wrote them.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::error::ResponseError;

use super::client::{OffsetAndEpoch, Request, Response};
use crate::broker::Broker;
use crate::network::{Connector, NodeClient};

/// How long the leader may hold a fetch with nothing new (Kafka's `fetchMaxWaitMs`).
const FETCH_MAX_WAIT_MS: i32 = 500;

/// How long one fetch may take in all before the connection is dropped and tried again
/// (`controller.quorum.request.timeout.ms`, 2000 by default, past the wait).
const FETCH_DEADLINE: Duration = Duration::from_millis(2_000 + FETCH_MAX_WAIT_MS as u64);

/// Pause after a failed fetch before the next (`controller.quorum.retry.backoff.ms` is 20 ms;
/// longer here, so an unreachable controller costs little and logs little).
const RETRY_BACKOFF: Duration = Duration::from_millis(500);

/// Follows the metadata log for as long as the broker runs, rotating over the quorum's
/// addresses when one fails. A failure is logged once until a fetch succeeds again.
pub async fn follow(broker: Arc<Broker>, connector: Arc<dyn Connector>) {
    let mut clients = broker.controller_clients(&connector, "raft-observer", FETCH_DEADLINE);
    let mut failing: Option<String> = None;
    loop {
        let client = clients.current(broker.quorum_leader_id());
        match fetch_once(&broker, client).await {
            // Not an error: the next fetch goes to the leader it named.
            Ok(Fetched::LeaderElsewhere) => clients.failed(),
            Ok(Fetched::Answered) => {
                if failing.take().is_some() {
                    tracing::info!(
                        controller = client.address(),
                        "fetching the metadata log again"
                    );
                }
                clients.succeeded();
            }
            Err(why) => {
                if failing.as_deref() != Some(why.as_str()) {
                    tracing::warn!(
                        controller = client.address(),
                        "cannot follow the metadata log: {why}"
                    );
                    failing = Some(why);
                }
                clients.failed();
                crate::runtime::sleep(RETRY_BACKOFF).await;
            }
        }
    }
}

/// How a fetch went that did not fail.
enum Fetched {
    /// The leader answered (records, a divergence or a new epoch, all taken).
    Answered,
    /// A voter that does not lead named the one that does.
    LeaderElsewhere,
}

/// One fetch from the log end offset, applied; the reason when nothing could be applied.
async fn fetch_once(broker: &Arc<Broker>, client: &mut NodeClient) -> Result<Fetched, String> {
    let (fetch_offset, last_fetched_epoch) = broker.metadata_log_position();
    // The epoch learned from the leader's answers (-1 at first: the answer names it).
    let request = super::rpc::fetch_request(
        &broker.cluster_id,
        broker.node.node_id,
        broker.quorum_epoch(),
        fetch_offset,
        last_fetched_epoch,
        FETCH_MAX_WAIT_MS,
    );
    let (_, response) = client.call(&request).await.map_err(|e| e.to_string())?;
    let code = crate::metrics::error_name;
    if response.error_code != 0 {
        return Err(format!("the controller answered {}", code(response.error_code)));
    }
    let Some(data) = response.responses.first().and_then(|t| t.partitions.first()) else {
        return Err("the controller answered no partition".into());
    };
    let leader = data.current_leader.leader_id.0;
    if data.error_code == ResponseError::NotLeaderOrFollower.code() && leader >= 0 {
        broker.learn_quorum_leader(leader);
        return Ok(Fetched::LeaderElsewhere);
    }
    if leader >= 0 {
        broker.learn_quorum_leader(leader);
    }
    let fenced =
        [ResponseError::FencedLeaderEpoch.code(), ResponseError::UnknownLeaderEpoch.code()];
    if fenced.contains(&data.error_code) && data.current_leader.leader_epoch > broker.quorum_epoch()
    {
        // A new epoch (a restarted voter stands again at each start): fetch again in it.
        broker.learn_quorum_epoch(data.current_leader.leader_epoch);
        return Ok(Fetched::Answered);
    }
    if data.error_code == 0 {
        broker.learn_quorum_epoch(data.current_leader.leader_epoch);
    }
    if data.error_code != 0 {
        return Err(format!(
            "the controller answered {} for the metadata log",
            code(data.error_code)
        ));
    }
    if data.diverging_epoch.epoch >= 0 {
        // A tail the leader does not have (written in an epoch that did not commit it): it goes,
        // unless it was applied — then the leader lost committed metadata, and this node keeps
        // what it applied and says so.
        let (epoch, end) = (data.diverging_epoch.epoch, data.diverging_epoch.end_offset);
        return match broker.truncate_replicated_metadata(epoch, end) {
            Ok(offset) => {
                tracing::info!(
                    offset,
                    epoch,
                    "the metadata log diverged from the leader's; truncated"
                );
                Ok(Fetched::Answered)
            }
            Err(e) => Err(format!(
                "this node's metadata log diverges from the controller's (its epoch {epoch} ends \
                 at offset {end}, this node is at {fetch_offset}): {}",
                e.message
            )),
        };
    }
    if data.snapshot_id.epoch >= 0 && data.snapshot_id.end_offset >= 0 {
        // KIP-630: this node's log ends below the leader's log start.
        let id =
            OffsetAndEpoch { offset: data.snapshot_id.end_offset, epoch: data.snapshot_id.epoch };
        tracing::info!(
            log_end_offset = fetch_offset,
            snapshot_end_offset = id.offset,
            snapshot_epoch = id.epoch,
            "the metadata log is below the leader's log start: fetching its snapshot"
        );
        return fetch_snapshot(broker, client, id).await.map(|()| Fetched::Answered);
    }
    let records = data.records.clone().unwrap_or_default();
    broker
        .apply_replicated_metadata(&records, data.high_watermark)
        .map(|()| Fetched::Answered)
        .map_err(|e| format!("the fetched metadata was not applied: {}", e.message))
}

/// Fetches snapshot `id` from the quorum's leader chunk by chunk (FetchSnapshot) and loads it
/// in place of this node's metadata log (`Broker::load_fetched_metadata_snapshot`).
async fn fetch_snapshot(
    broker: &Arc<Broker>,
    client: &mut NodeClient,
    id: OffsetAndEpoch,
) -> Result<(), String> {
    let mut position = 0;
    loop {
        let request = Request::FetchSnapshot {
            replica_id: broker.node.node_id,
            current_leader_epoch: broker.quorum_epoch(),
            snapshot_id: id,
            position,
        };
        let message = super::rpc::fetch_snapshot_request(&broker.cluster_id, &request);
        let (_, answer) = client.call(&message).await.map_err(|e| e.to_string())?;
        let Response::FetchSnapshot {
            error, snapshot_id, size, position: at, length, chunk, ..
        } = super::rpc::fetch_snapshot_response(&answer)?
        else {
            unreachable!("a FetchSnapshot answer is one");
        };
        if let Some(error) = error {
            let error = crate::metrics::error_name(error.code());
            return Err(format!("the controller answered {error} for its snapshot {id:?}"));
        }
        let Some(chunk) = chunk.filter(|_| snapshot_id == id && at == position) else {
            return Err(format!(
                "the controller's snapshot chunk ({snapshot_id:?} at {at}) does not continue the \
                 download of {id:?} at {position}"
            ));
        };
        broker
            .write_fetched_metadata_snapshot(id.into(), position, &chunk.data)
            .map_err(|e| format!("cannot write the fetched snapshot: {}", e.message))?;
        position += length;
        if position >= size {
            return broker
                .load_fetched_metadata_snapshot(id.into())
                .map_err(|e| format!("the fetched snapshot was not loaded: {}", e.message));
        }
    }
}
