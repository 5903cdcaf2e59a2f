//! A broker's membership of its cluster, after Kafka's `BrokerLifecycleManager`: it registers
//! with the controller (BrokerRegistration) and heartbeats (BrokerHeartbeat) every
//! `broker.heartbeat.interval.ms` with the metadata offset it has applied; the controller
//! unfences it once it has caught up with the metadata log and fences it when the heartbeats
//! stop. A stale broker epoch (the controller fenced and forgot this registration) registers
//! again. [`run`] also follows the metadata log (`raft::observer`): a broker needs both.
//!
//! Only a node without the controller role runs this: a combined node's broker registers with
//! its own controller in-process (`Broker::register`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{AllocateProducerIdsRequest, BrokerId};
use tokio::sync::watch;

use crate::broker::Broker;
use crate::metrics::error_name;
use crate::network::{Connector, NodeClient};

/// The controller's answer to one request, or why there was none.
type Answer<T> = Result<T, String>;

/// Kafka's `BrokerState` as the lifecycle sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerState {
    /// Registering, or registered and catching up with the metadata log (fenced).
    Starting,
    /// Unfenced: clients are told of this broker and it leads partitions.
    Running,
    /// Fenced by the controller after having run (its heartbeats were missed).
    Fenced,
    /// Asked the controller to move its leaderships away (Kafka's
    /// PENDING_CONTROLLED_SHUTDOWN): heartbeats say `want_shut_down`.
    PendingControlledShutdown,
    /// The controller said it leads nothing more: the process may exit.
    ShuttingDown,
}

/// What the lifecycle has learned, for the rest of the broker to read.
#[derive(Debug)]
pub struct BrokerLifecycle {
    broker_epoch: Mutex<Option<i64>>,
    state: watch::Sender<BrokerState>,
    /// Wakes the heartbeat loop before its interval (a controlled shutdown starting).
    heartbeat_now: tokio::sync::Notify,
}

impl Default for BrokerLifecycle {
    fn default() -> Self {
        BrokerLifecycle {
            broker_epoch: Mutex::new(None),
            state: watch::Sender::new(BrokerState::Starting),
            heartbeat_now: tokio::sync::Notify::new(),
        }
    }
}

impl BrokerLifecycle {
    /// The epoch the controller gave this broker's registration, once registered.
    pub fn broker_epoch(&self) -> Option<i64> {
        *self.broker_epoch.lock().expect("lifecycle lock poisoned")
    }

    /// The current state.
    pub fn state(&self) -> BrokerState {
        *self.state.borrow()
    }

    /// Resolves once the controller has unfenced this broker (Kafka's initial catch-up, which
    /// a broker awaits before it serves clients).
    // One waiter (the node's start-up): no wake order to decide.
    #[allow(clippy::disallowed_methods)]
    pub async fn wait_until_running(&self) {
        let mut state = self.state.subscribe();
        // The sender lives as long as the broker: this cannot fail while anyone awaits it.
        let _ = state.wait_for(|s| *s == BrokerState::Running).await;
    }

    /// A controlled shutdown (SIGTERM), as Kafka's broker does it: heartbeats ask the
    /// controller to move this broker's leaderships to other in-sync replicas, and this
    /// resolves once the controller says it leads nothing more — or after `timeout`, when the
    /// process exits anyway (its partitions then fail over as after a crash). True when the
    /// controller agreed in time.
    // One waiter (the shutdown): no wake order to decide.
    #[allow(clippy::disallowed_methods)]
    pub async fn controlled_shutdown(&self, timeout: Duration) -> bool {
        if !self.begin_controlled_shutdown() {
            return false;
        }
        self.heartbeat_now.notify_one();
        let mut state = self.state.subscribe();
        let done = state.wait_for(|s| *s == BrokerState::ShuttingDown);
        crate::runtime::timeout(timeout, done).await.is_ok_and(|r| r.is_ok())
    }

    /// Enters PENDING_CONTROLLED_SHUTDOWN, so the next heartbeats say `want_shut_down`; false
    /// when this broker never registered (there is nothing to move).
    pub(crate) fn begin_controlled_shutdown(&self) -> bool {
        if self.broker_epoch().is_none() {
            return false;
        }
        self.set_state(BrokerState::PendingControlledShutdown);
        true
    }

    /// Whether heartbeats ask the controller to let this broker shut down.
    pub(crate) fn wants_shut_down(&self) -> bool {
        matches!(self.state(), BrokerState::PendingControlledShutdown | BrokerState::ShuttingDown)
    }

    /// The controller's answer to a `want_shut_down` heartbeat.
    pub(crate) fn controlled_shutdown_answered(&self, should_shut_down: bool) {
        self.set_state(if should_shut_down {
            BrokerState::ShuttingDown
        } else {
            BrokerState::PendingControlledShutdown
        });
    }

    pub(crate) fn set_epoch(&self, epoch: Option<i64>) {
        *self.broker_epoch.lock().expect("lifecycle lock poisoned") = epoch;
    }

    fn set_state(&self, state: BrokerState) {
        let before = self.state.send_replace(state);
        if before != state {
            match state {
                BrokerState::Running => tracing::info!("the controller unfenced this broker: it is running"),
                BrokerState::Fenced => tracing::warn!("the controller fenced this broker: clients are not told of it until it catches up again"),
                BrokerState::PendingControlledShutdown => tracing::info!("controlled shutdown: asking the controller to move this broker's leaderships away"),
                BrokerState::ShuttingDown => tracing::info!("controlled shutdown: this broker leads no partition any more"),
                BrokerState::Starting => {}
            }
        }
    }
}

/// Runs this broker's membership for as long as it runs: registration and heartbeats, and the
/// metadata log's observer.
pub async fn run(broker: Arc<Broker>, connector: Arc<dyn Connector>) {
    broker.set_outbound_connector(connector.clone());
    // A voter has the metadata log from the quorum itself; only an observer follows it.
    let follow = async {
        if !broker.is_controller() {
            crate::raft::observer::follow(broker.clone(), connector.clone()).await;
        }
    };
    tokio::join!(
        heartbeat_loop(broker.clone(), connector.clone()),
        producer_id_loop(broker.clone(), connector.clone()),
        follow,
    );
}

/// Fetches producer id blocks from the controller whenever the broker wants one
/// (AllocateProducerIds; Kafka's `RPCProducerIdManager`), retrying after a failure.
async fn producer_id_loop(broker: Arc<Broker>, connector: Arc<dyn Connector>) {
    let mut clients = broker.controller_clients(&connector, "producer-ids", Duration::from_secs(5));
    loop {
        // Registered before the check, so a wish made in between is not missed.
        let wanted = broker.producer_ids_wanted.notified();
        tokio::pin!(wanted);
        wanted.as_mut().enable();
        if !broker.wants_producer_id_block() {
            wanted.await;
            continue;
        }
        let Some(broker_epoch) = broker.lifecycle.broker_epoch() else {
            crate::runtime::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let request = AllocateProducerIdsRequest::default()
            .with_broker_id(BrokerId(broker.node.node_id))
            .with_broker_epoch(broker_epoch);
        let client = clients.current(broker.quorum_leader_id());
        match client.call(&request).await {
            Ok((_, response)) if response.error_code == 0 => {
                let (start, len) =
                    (response.producer_id_start.0, i64::from(response.producer_id_len));
                broker.install_producer_id_block(start, len);
                clients.succeeded();
            }
            outcome => {
                let why = match outcome {
                    Ok((_, response)) => error_name(response.error_code),
                    Err(e) => e.to_string(),
                };
                tracing::warn!(
                    controller = client.address(),
                    "no producer id block from the controller: {why}"
                );
                clients.failed();
                crate::runtime::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

async fn heartbeat_loop(broker: Arc<Broker>, connector: Arc<dyn Connector>) {
    let interval = Duration::from_millis(broker.config.broker_heartbeat_interval_ms.max(1) as u64);
    let deadline = interval.max(Duration::from_secs(2));
    let mut clients = broker.controller_clients(&connector, "lifecycle", deadline);
    let mut failing: Option<String> = None;
    loop {
        let client = clients.current(broker.quorum_leader_id());
        let outcome = match broker.lifecycle.broker_epoch() {
            None => register(&broker, client).await,
            Some(epoch) => heartbeat(&broker, client, epoch).await,
        };
        match outcome {
            Ok(()) => {
                if failing.take().is_some() {
                    tracing::info!(controller = client.address(), "reaching the controller again");
                }
                clients.succeeded();
            }
            Err(why) => {
                if failing.as_deref() != Some(why.as_str()) {
                    tracing::warn!(controller = client.address(), "broker lifecycle: {why}");
                    failing = Some(why);
                }
                clients.failed();
            }
        }
        // `biased`, as everywhere in the core: no unseeded randomness in select.
        tokio::select! {
            biased;
            _ = broker.lifecycle.heartbeat_now.notified() => {}
            _ = crate::runtime::sleep(interval) => {}
        }
    }
}

/// BrokerRegistration: this broker's listeners, rack and incarnation; the epoch it is given.
async fn register(broker: &Broker, client: &mut NodeClient) -> Answer<()> {
    let request = broker.registration_request();
    let (_, response) = client.call(&request).await.map_err(|e| e.to_string())?;
    if response.error_code != 0 {
        let hint = if response.error_code == ResponseError::InconsistentClusterId.code() {
            format!(
                " (this node's cluster.id is {}: every node of a cluster must be formatted with \
                 the same cluster.id)",
                broker.cluster_id
            )
        } else if response.error_code == ResponseError::DuplicateBrokerRegistration.code() {
            format!(
                " (another process is registered as node.id {} and its session is alive: every \
                 node of a cluster needs its own node.id; this one does not join until that \
                 registration expires)",
                broker.node.node_id
            )
        } else {
            String::new()
        };
        return Err(format!(
            "the controller refused the registration: {}{hint}",
            error_name(response.error_code)
        ));
    }
    tracing::info!(broker_epoch = response.broker_epoch, "registered with the controller");
    broker.lifecycle.set_epoch(Some(response.broker_epoch));
    Ok(())
}

/// BrokerHeartbeat with the metadata offset applied so far.
async fn heartbeat(broker: &Broker, client: &mut NodeClient, broker_epoch: i64) -> Answer<()> {
    let want_shut_down = broker.lifecycle.wants_shut_down();
    let request = broker.heartbeat_request(broker_epoch, want_shut_down);
    let (_, response) = client.call(&request).await.map_err(|e| e.to_string())?;
    if response.error_code == ResponseError::StaleBrokerEpoch.code() {
        // The controller no longer knows this registration (it fenced and replaced it, or
        // lost it): register again with a new epoch, as Kafka's broker does.
        broker.lifecycle.set_epoch(None);
        broker.lifecycle.set_state(BrokerState::Fenced);
        return Err(format!(
            "the controller does not know broker epoch {broker_epoch}: registering again"
        ));
    }
    if response.error_code != 0 {
        return Err(format!(
            "the controller refused the heartbeat: {}",
            error_name(response.error_code)
        ));
    }
    if want_shut_down {
        broker.lifecycle.controlled_shutdown_answered(response.should_shut_down);
        return Ok(());
    }
    let state = match (response.is_fenced, broker.lifecycle.state()) {
        (false, _) => BrokerState::Running,
        (true, BrokerState::Starting) => BrokerState::Starting,
        (true, _) => BrokerState::Fenced,
    };
    broker.lifecycle.set_state(state);
    Ok(())
}
