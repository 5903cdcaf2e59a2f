//! The real-network front door: tokio TCP listeners and the maintenance timer. The simulator
//! has its own accept loop over turmoil's TCP and calls [`serve_connection`] the same way.

use std::collections::BTreeMap;
use std::net::{IpAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use crate::broker::Broker;
use crate::config::{BrokerConfig, Listener};
use crate::limits::LogKind;
use crate::runtime::{self, MissedTickBehavior};
use crate::security::tls::TlsAcceptor;
use crate::security::{Principal, Session};
use crate::server::serve_session;

/// A client that opens a TLS connection and says nothing is dropped after this long.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A bound listener: its socket, its configuration, its TLS acceptor on SSL/SASL_SSL, and the
/// connection limits it shares with the other listeners.
pub struct BoundListener {
    socket: TcpListener,
    listener: Listener,
    tls: Option<Arc<TlsAcceptor>>,
    quotas: Arc<ConnectionQuotas>,
}

impl BoundListener {
    /// The listener's name (`PLAINTEXT`, `CONTROLLER`, …).
    pub fn name(&self) -> &str {
        &self.listener.name
    }
}

/// Kafka's `ConnectionQuotas`: `max.connections` across every listener (at the limit the accept
/// loops wait for a connection to close, as Kafka's acceptors block) and
/// `max.connections.per.ip` with its overrides (one more is accepted and closed at once).
#[derive(Debug)]
pub struct ConnectionQuotas {
    max_connections: usize,
    max_per_ip: usize,
    per_ip_overrides: BTreeMap<IpAddr, usize>,
    counts: Mutex<ConnectionCounts>,
    closed: Notify,
}

#[derive(Debug, Default)]
struct ConnectionCounts {
    total: usize,
    per_ip: BTreeMap<IpAddr, usize>,
}

/// One admitted connection's place in [`ConnectionQuotas`]; given back on drop.
#[derive(Debug)]
pub struct ConnectionSlot {
    quotas: Arc<ConnectionQuotas>,
    ip: IpAddr,
}

impl ConnectionQuotas {
    /// The limits of `config`; override hosts are resolved now, as Kafka resolves them once.
    pub fn from_config(config: &BrokerConfig) -> anyhow::Result<Self> {
        let mut per_ip_overrides = BTreeMap::new();
        for (host, limit) in config.max_connections_per_ip_overrides()? {
            let addresses: Vec<IpAddr> = match host.parse::<IpAddr>() {
                Ok(ip) => vec![ip],
                Err(_) => (host.as_str(), 0)
                    .to_socket_addrs()
                    .map_err(|e| {
                        anyhow::anyhow!(
                            "max.connections.per.ip.overrides: cannot resolve host `{host}`: {e}"
                        )
                    })?
                    .map(|a| a.ip())
                    .collect(),
            };
            for ip in addresses {
                per_ip_overrides.insert(ip, limit as usize);
            }
        }
        Ok(Self {
            max_connections: config.max_connections as usize,
            max_per_ip: config.max_connections_per_ip as usize,
            per_ip_overrides,
            counts: Mutex::default(),
            closed: Notify::new(),
        })
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, ConnectionCounts> {
        self.counts.lock().expect("connection quotas lock poisoned")
    }

    /// Counts a connection from `ip` once fewer than `max.connections` are open (waiting, as
    /// Kafka's acceptor does, until one closes), or refuses it with the per-address limit it is
    /// over. Waiting and counting happen under one lock, so listeners never overshoot together.
    async fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<ConnectionSlot, usize> {
        let limit = self.per_ip_overrides.get(&ip).copied().unwrap_or(self.max_per_ip);
        let mut logged = false;
        loop {
            // Registered before the check, so a close between check and wait is not lost.
            let closed = self.closed.notified();
            tokio::pin!(closed);
            closed.as_mut().enable();
            {
                let mut counts = self.counts();
                if counts.total < self.max_connections {
                    let from_ip = counts.per_ip.get(&ip).copied().unwrap_or(0);
                    if from_ip >= limit {
                        return Err(limit);
                    }
                    counts.per_ip.insert(ip, from_ip + 1);
                    counts.total += 1;
                    return Ok(ConnectionSlot { quotas: self.clone(), ip });
                }
            }
            if !logged {
                tracing::info!(
                    max_connections = self.max_connections,
                    "max.connections reached: new connections wait until one closes"
                );
                logged = true;
            }
            closed.await;
        }
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut counts = self.quotas.counts();
        counts.total -= 1;
        if let Some(n) = counts.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.per_ip.remove(&self.ip);
            }
        }
        drop(counts);
        self.quotas.closed.notify_waiters();
    }
}

/// Binds every configured listener; fails if any address cannot be bound or, for TLS
/// listeners, if the keystore or truststore cannot be used. Needs only the configuration, so
/// start-up binds before it writes anything to `log.dirs`.
pub async fn bind(config: &BrokerConfig) -> anyhow::Result<Vec<BoundListener>> {
    let quotas = Arc::new(ConnectionQuotas::from_config(config)?);
    let mut out = Vec::new();
    for listener in config.listeners()? {
        // One acceptor per TLS listener: client authentication differs between SSL and SASL_SSL.
        let acceptor = if listener.protocol.uses_tls() {
            Some(Arc::new(TlsAcceptor::from_config(config, &listener)?))
        } else {
            None
        };
        let host = if listener.host.is_empty() { "0.0.0.0" } else { listener.host.as_str() };
        let address = format!("{host}:{}", listener.port);
        let socket = TcpListener::bind(&address)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {address} ({}): {e}", listener.name))?;
        tracing::info!(
            listener = %listener.name,
            protocol = %listener.protocol,
            address = %socket.local_addr()?,
            "listening"
        );
        out.push(BoundListener { socket, listener, tls: acceptor, quotas: quotas.clone() });
    }
    Ok(out)
}

/// Accepts connections forever, one task per connection, within the connection limits.
pub async fn accept_loop(broker: Arc<Broker>, bound: BoundListener) {
    loop {
        match bound.socket.accept().await {
            Ok((stream, peer)) => {
                // As Kafka's acceptor: the socket is accepted, then waits for a free slot.
                // `::ffff:a.b.c.d` on a dual-stack listener counts as `a.b.c.d`, as overrides name it.
                let ip = peer.ip().to_canonical();
                let slot = match bound.quotas.admit(ip).await {
                    Ok(slot) => slot,
                    Err(limit) => {
                        crate::throttled_warn!(
                            broker,
                            LogKind::RejectedConnection,
                            peer = %peer,
                            listener = %bound.listener.name,
                            "rejected connection: {ip} already has max.connections.per.ip ({limit}) connections"
                        );
                        drop(stream);
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let session =
                    Session::new(peer.to_string(), &bound.listener.name, bound.listener.protocol);
                let (broker, tls) = (broker.clone(), bound.tls.clone());
                runtime::spawn(async move {
                    serve_tcp(broker, stream, session, tls).await;
                    drop(slot);
                });
            }
            Err(e) => {
                // Typically EMFILE; back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                runtime::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn serve_tcp(
    broker: Arc<Broker>,
    stream: TcpStream,
    mut session: Session,
    tls: Option<Arc<TlsAcceptor>>,
) {
    let Some(tls) = tls else { return serve_session(broker, stream, session).await };
    match runtime::timeout(TLS_HANDSHAKE_TIMEOUT, tls.accept(stream)).await {
        Ok(Ok(connection)) => {
            if !session.protocol.uses_sasl() {
                // Kafka counts an SSL connection as authenticated once its handshake is done;
                // on SASL_SSL the SASL exchange is what counts.
                broker.stats.record_authentication_success(&session.listener);
            }
            if let Some(user) = connection.certificate_user {
                // On SASL_SSL the SASL identity replaces this one, as in Kafka.
                session.principal = Principal::user(user);
            }
            serve_session(broker, connection.stream, session).await
        }
        Ok(Err(e)) => {
            // Kafka counts a failed TLS handshake as a failed authentication; the connection
            // never reaches `serve_session`, so this is its only count.
            broker.stats.record_authentication_failure(&session.listener, "SSL");
            crate::throttled_warn!(broker, LogKind::FailedTlsHandshake, peer = %session.peer, listener = %session.listener, error = %e, "TLS handshake failed: closing connection")
        }
        Err(_) => {
            crate::throttled_warn!(broker, LogKind::BadFrame, peer = %session.peer, listener = %session.listener, "TLS handshake timed out")
        }
    }
}

/// Runs log retention and time-based flushing every `log.retention.check.interval.ms`,
/// committed-offset expiry every `offsets.retention.check.interval.ms`, the recovery-point
/// and high-watermark checkpoints at their intervals, the ISR expiration
/// (`ReplicaManager::maybe_shrink_isr`) every half `replica.lag.time.max.ms`, as Kafka
/// schedules it, and the controller's session checks.
pub async fn maintenance_loop(broker: Arc<Broker>) {
    // The leaders' ISR changes go to the controller beside the timers (one task for both, so
    // the binary and the simulator start them alike).
    tokio::join!(
        timers(broker.clone()),
        crate::controller_channel::run_alter_partition_sender(broker)
    );
}

async fn timers(broker: Arc<Broker>) {
    let every = |ms: i64| {
        let mut interval = runtime::interval(Duration::from_millis(ms.max(10) as u64));
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        interval
    };
    let mut logs = every(broker.config.log_retention_check_interval_ms);
    let mut groups = every(broker.config.offsets_retention_check_interval_ms);
    let mut checkpoints = every(broker.config.log_flush_offset_checkpoint_interval_ms);
    let max_lag_ms = broker.config.replica_lag_time_max_ms;
    let mut isr_expiration = every(max_lag_ms / 2);
    // Broker sessions are checked at least as often as brokers heartbeat.
    let mut controller = every(broker.config.broker_heartbeat_interval_ms);
    let mut high_watermarks = every(broker.config.replica_high_watermark_checkpoint_interval_ms);
    // The quorum's timers (elections, check quorum) are tenths of a second or more.
    let mut quorum = every(100);
    loop {
        // `biased`: an unbiased select draws from tokio's unseeded thread-local RNG, which
        // would make simulated runs diverge; every timer is periodic, so none starves.
        tokio::select! {
            biased;
            _ = logs.tick() => broker.run_log_maintenance(),
            _ = groups.tick() => broker.run_group_maintenance(),
            _ = checkpoints.tick() => broker.checkpoint_recovery_points(),
            _ = isr_expiration.tick() => {
                broker.replica_manager().maybe_shrink_isr(broker.clock.now_ms(), max_lag_ms);
            }
            _ = controller.tick() => broker.run_controller_maintenance(),
            _ = high_watermarks.tick() => broker.checkpoint_high_watermarks(),
            _ = quorum.tick() => broker.poll_quorum(),
        }
    }
}

/// The binary's [`crate::network::Connector`]: real TCP, with Nagle off as Kafka's clients set
/// it (small requests are not held back).
#[derive(Debug, Default, Clone, Copy)]
pub struct TcpConnector;

impl crate::network::Connector for TcpConnector {
    fn connect<'a>(&'a self, host: &'a str, port: u16) -> crate::network::ConnectFuture<'a> {
        Box::pin(async move {
            #[allow(clippy::disallowed_methods)] // The shell's side of the outbound seam.
            let stream = TcpStream::connect((host, port)).await?;
            stream.set_nodelay(true)?;
            Ok(Box::new(stream) as Box<dyn crate::network::NodeStream>)
        })
    }
}
