//! A voter's connections to the other voters, as Kafka's `KafkaNetworkChannel`: the requests
//! the state machine sends ([`super::Outbound`]) go out over the controller listener, and their
//! answers — or the failure to get one — go back into it. Each other voter has two lanes, one
//! for Fetch (which the leader may hold for its wait) and one for Vote and Begin/
//! EndQuorumEpoch, so an election is never queued behind a held fetch. The task also wakes
//! the state machine at its next deadline (election and fetch timeouts, backoffs).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::client::{Records, Request, Response};
use super::{rpc, Outbound};
use crate::broker::Broker;
use crate::network::{Connector, NodeClient};

/// The first pause after a failed request to a voter (Kafka's `reconnect.backoff.ms`).
const RECONNECT_BACKOFF: Duration = Duration::from_millis(50);

/// The longest pause after repeated failures (Kafka's `reconnect.backoff.max.ms`).
const RECONNECT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Which of a voter's two connections a request goes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Lane {
    Fetch,
    Election,
}

fn lane_of(request: &Request) -> Lane {
    match request {
        Request::Fetch { .. } | Request::FetchSnapshot { .. } => Lane::Fetch,
        Request::Vote { .. }
        | Request::BeginQuorumEpoch { .. }
        | Request::EndQuorumEpoch { .. } => Lane::Election,
    }
}

/// Runs this voter's side of the quorum's network for as long as the node runs.
pub async fn run(broker: Arc<Broker>, connector: Arc<dyn Connector>) {
    let request_timeout = Duration::from_millis(broker.config.controller_quorum_request_timeout_ms);
    // A held fetch may take its wait on top of the request timeout.
    let deadline = request_timeout + Duration::from_millis(super::client::FETCH_MAX_WAIT_MS);
    let mut lanes: BTreeMap<(i32, Lane), mpsc::UnboundedSender<Outbound>> = BTreeMap::new();
    for lane in [Lane::Fetch, Lane::Election] {
        let purpose = match lane {
            Lane::Fetch => "raft-fetch",
            Lane::Election => "raft-election",
        };
        for (to, client) in broker.voter_clients(&connector, purpose, deadline) {
            let (tx, rx) = mpsc::unbounded_channel();
            lanes.insert((to, lane), tx);
            crate::runtime::spawn(send_on_lane(broker.clone(), to, client, rx));
        }
    }
    loop {
        // Registered before taking, so sends queued in between wake this loop.
        let ready = broker.quorum_sends_ready.notified();
        tokio::pin!(ready);
        ready.as_mut().enable();
        let sends = broker.take_quorum_sends();
        if !sends.is_empty() {
            for send in sends {
                let key = (send.to, lane_of(&send.request));
                match lanes.get(&key) {
                    Some(lane) => {
                        let _ = lane.send(send);
                    }
                    None => {
                        tracing::warn!(
                            to = send.to,
                            "no address for this voter: the request fails"
                        );
                        broker.handle_quorum_answer(send.request_id, send.to, Err(String::new()));
                    }
                }
            }
            continue;
        }
        let Some(deadline) = broker.quorum_next_deadline() else { return };
        // `biased`: new sends first; a due deadline is polled on the next turn either way.
        tokio::select! {
            biased;
            _ = &mut ready => {}
            _ = crate::runtime::sleep_until(deadline) => broker.poll_quorum(),
        }
    }
}

/// Sends one lane's requests to voter `to` in order, handing each answer back to the state
/// machine. A failure is logged once until a request succeeds again.
async fn send_on_lane(
    broker: Arc<Broker>,
    to: i32,
    mut client: NodeClient,
    mut requests: mpsc::UnboundedReceiver<Outbound>,
) {
    let mut failing: Option<String> = None;
    let mut failures = 0u32;
    while let Some(send) = requests.recv().await {
        let answer = exchange(&broker.cluster_id, &mut client, to, &send.request).await;
        match &answer {
            Ok(_) => {
                failures = 0;
                if failing.take().is_some() {
                    tracing::info!(voter = to, address = client.address(), "voter reachable again");
                }
            }
            Err(why) => {
                if failing.as_deref() != Some(why.as_str()) {
                    tracing::warn!(
                        voter = to,
                        address = client.address(),
                        "quorum request failed: {why}"
                    );
                    failing = Some(why.clone());
                }
                // Kafka's reconnect backoff: 50 ms doubling to 1 s while the voter stays
                // unreachable; the request counts as in flight meanwhile, so it is not resent.
                let backoff = RECONNECT_BACKOFF.saturating_mul(1 << failures.min(5));
                failures += 1;
                crate::runtime::sleep(backoff.min(RECONNECT_BACKOFF_MAX)).await;
            }
        }
        broker.handle_quorum_answer(send.request_id, to, answer);
    }
}

async fn exchange(
    cluster_id: &str,
    client: &mut NodeClient,
    to: i32,
    request: &Request,
) -> Result<Response<Records<Vec<u8>>>, String> {
    let failed = |e: crate::network::NodeRequestError| e.to_string();
    match request {
        Request::Vote { .. } => {
            let (_, answer) =
                client.call(&rpc::vote_request(cluster_id, to, request)).await.map_err(failed)?;
            rpc::vote_response(&answer)
        }
        Request::BeginQuorumEpoch { .. } => {
            let message = rpc::begin_quorum_epoch_request(cluster_id, to, request);
            let (_, answer) = client.call(&message).await.map_err(failed)?;
            rpc::begin_quorum_epoch_response(&answer)
        }
        Request::EndQuorumEpoch { .. } => {
            let message = rpc::end_quorum_epoch_request(cluster_id, request);
            let (_, answer) = client.call(&message).await.map_err(failed)?;
            rpc::end_quorum_epoch_response(&answer)
        }
        Request::Fetch { .. } => {
            let message = rpc::voter_fetch_request(cluster_id, request);
            let (_, answer) = client.call(&message).await.map_err(failed)?;
            rpc::fetch_response(&answer)
        }
        Request::FetchSnapshot { .. } => {
            let message = rpc::fetch_snapshot_request(cluster_id, request);
            let (_, answer) = client.call(&message).await.map_err(failed)?;
            rpc::fetch_snapshot_response(&answer)
        }
    }
}
