//! A node's requests to the controller that are not a client's, after Kafka's
//! `NodeToControllerChannelManager`: for now the leaders' ISR changes (AlterPartition, queued by
//! `replica::alter_partition::AlterPartitionManager`). On the active controller the request
//! goes to this node's own controller in-process, its answer taken once the change is
//! committed; elsewhere over the network to the active controller. Either way the answer goes
//! back to the queue, which hands each partition its committed ISR or error.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::{AlterPartitionRequest, AlterPartitionResponse};

use crate::broker::Broker;
use kafka_protocol::error::ResponseError;

use crate::network::ControllerClients;

/// Pause before sending again after a failure (Kafka's AlterPartition retry backoff is
/// `retry.backoff.ms`, 100 ms by default).
const RETRY_BACKOFF: Duration = Duration::from_millis(100);

/// How long an in-process AlterPartition waits for its records to commit.
const COMMIT_TIMEOUT: Duration = Duration::from_secs(30);

/// Sends the leaders' AlterPartition requests for as long as the broker runs.
pub async fn run_alter_partition_sender(broker: Arc<Broker>) {
    let manager = broker.replica_manager().alter_partition_manager();
    let mut remote: Option<ControllerClients> = None;
    loop {
        let Some(broker_epoch) = broker.local_broker_epoch() else {
            // Not registered yet: nothing a controller would accept.
            crate::runtime::sleep(RETRY_BACKOFF).await;
            continue;
        };
        let Some(request) = manager.take_pending_request(broker.node.node_id, broker_epoch) else {
            manager.ready().await;
            continue;
        };
        let answered = if broker.is_active_controller() {
            let response = broker.alter_partition(request);
            // The leader acts on the ISR it is given (acks=all counts on it): only once the
            // change is committed, as a remote controller answers (`handlers::writes_metadata`).
            match broker.wait_for_metadata_commit(COMMIT_TIMEOUT).await {
                Ok(()) => Some(response),
                Err(why) => {
                    tracing::warn!("AlterPartition not committed: {why}; sending it again");
                    None
                }
            }
        } else {
            send_remote(&broker, &mut remote, &request).await
        };
        let retry = match answered {
            Some(response) => manager.handle_response(&response).is_some(),
            None => {
                manager.request_failed();
                true
            }
        };
        if retry {
            crate::runtime::sleep(RETRY_BACKOFF).await;
        }
    }
}

async fn send_remote(
    broker: &Broker,
    clients: &mut Option<ControllerClients>,
    request: &AlterPartitionRequest,
) -> Option<AlterPartitionResponse> {
    let connector = broker.outbound_connector()?;
    let clients = clients.get_or_insert_with(|| {
        broker.controller_clients(&connector, "alter-partition", Duration::from_secs(30))
    });
    match clients.current(broker.quorum_leader_id()).call(request).await {
        Ok((_, response)) => {
            if response.error_code == ResponseError::NotController.code() {
                // Another voter leads now: the retry goes elsewhere.
                clients.failed();
            } else {
                clients.succeeded();
            }
            Some(response)
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot send AlterPartition to the controller");
            clients.failed();
            None
        }
    }
}
