//! The HTTP server (hyper 1): `/metrics`, `/healthz`, `/ready`, `/`, `/api/groups[/<name>]`.
//! Handlers read only the last published state, never Kafka.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

use crate::app::Shared;

/// Accepts connections forever.
pub async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!("accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(handle(&req, &shared)) }
            });
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

fn handle(req: &Request<Incoming>, shared: &Shared) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET\n");
    }
    let state = shared.current();
    match req.uri().path() {
        "/metrics" => metrics(req, state.metrics_gzip),
        "/healthz" => text(StatusCode::OK, "ok\n"),
        "/ready" if state.ready => text(StatusCode::OK, "ready\n"),
        "/ready" => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: a cluster has not been polled successfully\n",
        ),
        "/" => response(
            StatusCode::OK,
            "text/html; charset=utf-8",
            Bytes::from(crate::html::page(&state.clusters)),
        ),
        "/api/groups" => json(&crate::html::groups_json(&state.clusters, None)),
        path => match path.strip_prefix("/api/groups/") {
            Some(name) => {
                let name = percent_decode(name);
                let found = crate::html::groups_json(&state.clusters, Some(&name));
                if found.as_array().is_some_and(|a| a.is_empty()) {
                    text(StatusCode::NOT_FOUND, &format!("no group named {name:?}\n"))
                } else {
                    json(&found)
                }
            }
            None => text(
                StatusCode::NOT_FOUND,
                "not found: try /metrics, /, /api/groups, /healthz, /ready\n",
            ),
        },
    }
}

/// The published text as is when the scraper accepts gzip (Prometheus always does), else
/// decompressed for this response only.
fn metrics(req: &Request<Incoming>, gzip: Bytes) -> Response<Full<Bytes>> {
    let content_type = "text/plain; version=0.0.4; charset=utf-8";
    if accepts_gzip(req.headers()) {
        let mut r = response(StatusCode::OK, content_type, gzip);
        r.headers_mut().insert("content-encoding", hyper::header::HeaderValue::from_static("gzip"));
        r
    } else {
        response(StatusCode::OK, content_type, Bytes::from(crate::metrics::Rendered::text(&gzip)))
    }
}

/// Whether `Accept-Encoding` lists gzip with a non-zero quality.
fn accepts_gzip(headers: &hyper::HeaderMap) -> bool {
    headers.get_all(hyper::header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).any(
        |v| {
            v.split(',').any(|coding| {
                let mut parts = coding.split(';').map(str::trim);
                let name = parts.next().unwrap_or("");
                let q_zero = parts.any(|p| p.replace(' ', "") == "q=0" || p == "q=0.0");
                (name.eq_ignore_ascii_case("gzip") || name == "*") && !q_zero
            })
        },
    )
}

fn response(status: StatusCode, content_type: &str, body: Bytes) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(body))
        .expect("static headers are valid")
}

fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    response(status, "text/plain; charset=utf-8", Bytes::from(body.to_string()))
}

fn json(value: &serde_json::Value) -> Response<Full<Bytes>> {
    response(StatusCode::OK, "application/json", Bytes::from(value.to_string()))
}

/// Decodes `%XX` escapes (group names may hold any character).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn gzip_is_served_only_when_accepted() {
        let accepts = |value: &str| {
            let mut h = hyper::HeaderMap::new();
            h.insert(hyper::header::ACCEPT_ENCODING, value.parse().unwrap());
            super::accepts_gzip(&h)
        };
        assert!(accepts("gzip"));
        assert!(accepts("deflate, GZIP;q=0.5"));
        assert!(accepts("*"));
        assert!(!accepts("identity"));
        assert!(!accepts("gzip;q=0"));
        assert!(!super::accepts_gzip(&hyper::HeaderMap::new()));
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(super::percent_decode("a%20b%2Fc"), "a b/c");
        assert_eq!(super::percent_decode("100%"), "100%");
        assert_eq!(super::percent_decode("%zz"), "%zz");
    }
}
