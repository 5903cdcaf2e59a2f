//! The metrics endpoint on real TCP (shell side, like `tcp.rs`): `GET /metrics` on the address
//! of `prometheus.metrics.reporter.listener`, served with hyper. Each scrape renders the text
//! from the broker's counters and state at that moment (`metrics::render`); Kafka clients are
//! served by other tasks meanwhile. Any other path is 404.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::broker::Broker;
use crate::config::BrokerConfig;
use crate::runtime;

/// The content type of Prometheus' text format.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Binds the metrics endpoint if `prometheus.metrics.reporter.listener` is set.
pub async fn bind(config: &BrokerConfig) -> anyhow::Result<Option<TcpListener>> {
    let Some(listener) = config.metrics_listener()? else { return Ok(None) };
    let address = listener.bind_address();
    let socket = TcpListener::bind(&address).await.map_err(|e| {
        anyhow::anyhow!("cannot listen on {address} (prometheus.metrics.reporter.listener): {e}")
    })?;
    tracing::info!(address = %socket.local_addr()?, "serving Prometheus metrics on /metrics");
    Ok(Some(socket))
}

/// The URL a person would open for the endpoint bound at `address`.
pub fn url(address: SocketAddr) -> String {
    match address.ip().is_unspecified() {
        true => format!("http://localhost:{}/metrics", address.port()),
        false => format!("http://{address}/metrics"),
    }
}

/// Answers scrapes forever, one task per connection.
pub async fn serve(listener: TcpListener, broker: Arc<Broker>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Typically EMFILE; back off instead of spinning.
                tracing::warn!(error = %e, "metrics endpoint: accept failed");
                runtime::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let broker = broker.clone();
        runtime::spawn(async move {
            let service = service_fn(move |req| {
                let broker = broker.clone();
                async move { Ok::<_, Infallible>(handle(&req, &broker)) }
            });
            if let Err(e) =
                http1::Builder::new().serve_connection(TokioIo::new(stream), service).await
            {
                tracing::debug!(error = %e, "metrics endpoint: connection error");
            }
        });
    }
}

fn handle(req: &Request<Incoming>, broker: &Broker) -> Response<Full<Bytes>> {
    match (req.uri().path(), req.method()) {
        ("/metrics", &Method::GET | &Method::HEAD) => {
            response(StatusCode::OK, TEXT_FORMAT, crate::metrics::render(broker))
        }
        ("/metrics", _) => response(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain; charset=utf-8",
            "only GET and HEAD\n".into(),
        ),
        _ => response(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "not found: the broker's metrics are at /metrics\n".into(),
        ),
    }
}

fn response(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body)))
        .expect("static headers are valid")
}
