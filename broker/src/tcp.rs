//! The real-network front door: tokio TCP listeners and the maintenance timer. The simulator
//! has its own accept loop over turmoil's TCP and calls [`serve_connection`] the same way.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::broker::Broker;
use crate::server::serve_connection;

/// Binds every configured listener; fails if any address cannot be bound.
pub async fn bind(broker: &Broker) -> anyhow::Result<Vec<TcpListener>> {
    let mut out = Vec::new();
    for listener in broker.config.listeners()? {
        let host = if listener.host.is_empty() { "0.0.0.0" } else { listener.host.as_str() };
        let address = format!("{host}:{}", listener.port);
        let socket = TcpListener::bind(&address)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {address} ({}): {e}", listener.name))?;
        tracing::info!(listener = %listener.name, address = %socket.local_addr()?, "listening");
        out.push(socket);
    }
    Ok(out)
}

/// Accepts connections forever, one task per connection.
pub async fn accept_loop(broker: Arc<Broker>, listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve_connection(broker.clone(), stream, peer.to_string()));
            }
            Err(e) => {
                // Typically EMFILE; back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
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
    loop {
        // `biased`: an unbiased select draws from tokio's unseeded thread-local RNG, which
        // would make simulated runs diverge; both timers are periodic, so neither starves.
        tokio::select! {
            biased;
            _ = logs.tick() => broker.run_log_maintenance(),
            _ = groups.tick() => broker.run_group_maintenance(),
        }
    }
}
