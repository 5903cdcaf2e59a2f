//! Wiring: one poller thread per cluster, the shared state they publish into, and the HTTP
//! server that reads it. The poll → snapshot → render path runs on the poller threads; a scrape
//! only clones an `Arc` of the last rendered text.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::config::{Families, Settings};
use crate::poll::Poller;
use crate::snapshot::ClusterSnapshot;

/// What the HTTP endpoints read.
pub struct Shared {
    families: Families,
    /// How often each cluster is polled: the pages refresh at this pace.
    pub poll_interval: Duration,
    /// Per cluster: its last snapshot ([`ClusterSnapshot::pending`] before its first poll).
    clusters: Mutex<Vec<Arc<ClusterSnapshot>>>,
    published: RwLock<Published>,
}

/// The last rendered state, swapped as a whole.
#[derive(Clone)]
pub struct Published {
    /// Prometheus text of all clusters, gzip-compressed (see `metrics::render`).
    pub metrics_gzip: Bytes,
    /// Length of the uncompressed text.
    pub metrics_len: usize,
    /// Every cluster's last snapshot, in configuration order (pending ones included, so
    /// `kafka_lag_exporter_up` is 0 from the first scrape).
    pub clusters: Vec<Arc<ClusterSnapshot>>,
    /// Every cluster has completed a poll and its last poll succeeded.
    pub ready: bool,
}

impl Shared {
    fn new(names: &[&str], families: Families, poll_interval: Duration) -> Shared {
        let pending: Vec<Arc<ClusterSnapshot>> =
            names.iter().map(|n| Arc::new(ClusterSnapshot::pending(n))).collect();
        let rendered = crate::metrics::render(&pending, families);
        Shared {
            families,
            poll_interval,
            clusters: Mutex::new(pending.clone()),
            published: RwLock::new(Published {
                metrics_gzip: Bytes::from(rendered.gzip),
                metrics_len: rendered.text_len,
                clusters: pending,
                ready: false,
            }),
        }
    }

    /// Publishes cluster `index`'s new snapshot and re-renders the metrics text.
    pub fn publish(&self, index: usize, snapshot: ClusterSnapshot) {
        let mut clusters = self.clusters.lock().unwrap();
        clusters[index] = Arc::new(snapshot);
        let ready = clusters.iter().all(|c| c.up);
        let rendered = crate::metrics::render(&clusters, self.families);
        *self.published.write().unwrap() = Published {
            metrics_gzip: Bytes::from(rendered.gzip),
            metrics_len: rendered.text_len,
            clusters: clusters.clone(),
            ready,
        };
    }

    /// The last published state (cheap: reference-counted).
    pub fn current(&self) -> Published {
        self.published.read().unwrap().clone()
    }
}

/// A started exporter.
pub struct Running {
    /// The address the HTTP server is bound to.
    pub addr: SocketAddr,
    pub shared: Arc<Shared>,
}

/// Binds the HTTP listener, starts one poller thread per cluster and the HTTP server on the
/// current tokio runtime. Returns once the listener is bound.
pub async fn start(settings: Settings) -> anyhow::Result<Running> {
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .map_err(|e| anyhow::anyhow!("binding {}: {e}", settings.listen))?;
    let addr = listener.local_addr()?;
    let names: Vec<&str> = settings.clusters.iter().map(|c| c.name.as_str()).collect();
    let shared = Arc::new(Shared::new(&names, settings.families, settings.poll_interval));
    for (index, cluster) in settings.clusters.iter().enumerate() {
        let mut poller = Poller::new(cluster.clone(), &settings)?;
        let shared = shared.clone();
        let interval = settings.poll_interval;
        std::thread::Builder::new()
            .name(format!("poll-{}", cluster.name))
            .spawn(move || poll_loop(&mut poller, index, &shared, interval))?;
    }
    tracing::info!(%addr, clusters = settings.clusters.len(), "kafka-lag-exporter listening");
    tokio::spawn(crate::http::serve(listener, shared.clone()));
    Ok(Running { addr, shared })
}

fn poll_loop(poller: &mut Poller, index: usize, shared: &Shared, interval: Duration) {
    loop {
        let start = Instant::now();
        // A bug in one poll must not silently end this cluster's polling.
        let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let snapshot = poller.poll();
            tracing::debug!(
                cluster = poller.name(),
                up = snapshot.up,
                seconds = snapshot.last_poll_seconds,
                "poll done"
            );
            shared.publish(index, snapshot);
        }));
        if done.is_err() {
            tracing::error!(cluster = poller.name(), "poll panicked; retrying next interval");
        }
        std::thread::sleep(interval.saturating_sub(start.elapsed()));
    }
}

/// Runs until SIGINT or SIGTERM.
pub async fn run(settings: Settings) -> anyhow::Result<()> {
    start(settings).await?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    Ok(())
}

/// The `healthcheck` subcommand: GET /healthz on the local listener; success iff 200.
pub fn healthcheck(listen: SocketAddr) -> anyhow::Result<()> {
    use std::io::{Read, Write};
    let mut addr = listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(3))?;
    s.set_read_timeout(Some(Duration::from_secs(3)))?;
    write!(s, "GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")?;
    let mut response = String::new();
    s.read_to_string(&mut response)?;
    if response.starts_with("HTTP/1.1 200") {
        Ok(())
    } else {
        anyhow::bail!("{addr}/healthz answered: {}", response.lines().next().unwrap_or(""))
    }
}
