//! The real-network front door: tokio TCP listeners and the maintenance timer. The simulator
//! has its own accept loop over turmoil's TCP and calls [`serve_connection`] the same way.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

use crate::broker::Broker;
use crate::config::{BrokerConfig, Listener};
use crate::security::tls::TlsAcceptor;
use crate::security::{Principal, Session};
use crate::server::serve_session;

/// A client that opens a TLS connection and says nothing is dropped after this long.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A bound listener: its socket, its configuration, and its TLS acceptor on SSL/SASL_SSL.
pub struct BoundListener {
    socket: TcpListener,
    listener: Listener,
    tls: Option<Arc<TlsAcceptor>>,
}

/// Binds every configured listener; fails if any address cannot be bound or, for TLS
/// listeners, if the keystore or truststore cannot be used. Needs only the configuration, so
/// start-up binds before it writes anything to `log.dirs`.
pub async fn bind(config: &BrokerConfig) -> anyhow::Result<Vec<BoundListener>> {
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
        out.push(BoundListener { socket, listener, tls: acceptor });
    }
    Ok(out)
}

/// Accepts connections forever, one task per connection.
pub async fn accept_loop(broker: Arc<Broker>, bound: BoundListener) {
    loop {
        match bound.socket.accept().await {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                let session =
                    Session::new(peer.to_string(), &bound.listener.name, bound.listener.protocol);
                tokio::spawn(serve_tcp(broker.clone(), stream, session, bound.tls.clone()));
            }
            Err(e) => {
                // Typically EMFILE; back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
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
    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, tls.accept(stream)).await {
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
            tracing::warn!(peer = %session.peer, listener = %session.listener, error = %e, "closing connection")
        }
        Err(_) => {
            tracing::warn!(peer = %session.peer, listener = %session.listener, "TLS handshake timed out")
        }
    }
}

/// Runs log retention and time-based flushing every `log.retention.check.interval.ms`, and
/// committed-offset expiry every `offsets.retention.check.interval.ms`.
pub async fn maintenance_loop(broker: Arc<Broker>) {
    let every = |ms: i64| {
        let mut interval = tokio::time::interval(Duration::from_millis(ms.max(10) as u64));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval
    };
    let mut logs = every(broker.config.log_retention_check_interval_ms);
    let mut groups = every(broker.config.offsets_retention_check_interval_ms);
    let mut checkpoints = every(broker.config.log_flush_offset_checkpoint_interval_ms);
    loop {
        // `biased`: an unbiased select draws from tokio's unseeded thread-local RNG, which
        // would make simulated runs diverge; both timers are periodic, so neither starves.
        tokio::select! {
            biased;
            _ = logs.tick() => broker.run_log_maintenance(),
            _ = groups.tick() => broker.run_group_maintenance(),
            _ = checkpoints.tick() => broker.checkpoint_recovery_points(),
        }
    }
}
