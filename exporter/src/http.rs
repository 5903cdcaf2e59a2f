//! The HTTP server (hyper 1): `/metrics`, `/healthz`, `/ready`, the pages `/`,
//! `/groups/<name>` and `/topics`, and `/api/groups[/<name>]`.
//! Handlers read only the last published state, never Kafka.

use std::convert::Infallible;
use std::io::Read;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use flate2::read::GzDecoder;
use http_body_util::{Either, Full};
use hyper::body::{Frame, Incoming, SizeHint};
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

/// Every response body: whole bytes, or the metrics text decompressed while it is sent.
type Body = Either<Full<Bytes>, GunzipBody>;

fn handle(req: &Request<Incoming>, shared: &Shared) -> Response<Body> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET\n");
    }
    let state = shared.current();
    let view = crate::html::View::new(shared.poll_interval);
    let html =
        |body: String| response(StatusCode::OK, "text/html; charset=utf-8", Bytes::from(body));
    match req.uri().path() {
        "/metrics" => metrics(req, state.metrics_gzip, state.metrics_len),
        "/healthz" => text(StatusCode::OK, "ok\n"),
        "/ready" if state.ready => text(StatusCode::OK, "ready\n"),
        "/ready" => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: a cluster has not been polled successfully\n",
        ),
        "/" => html(crate::html::page(&state.clusters, view)),
        "/topics" => html(crate::html::topics_page(&state.clusters, view)),
        "/api/groups" => json(&crate::html::groups_json(&state.clusters, None)),
        path if path.starts_with("/groups/") => {
            let name = percent_decode(&path["/groups/".len()..]);
            match crate::html::group_page(&state.clusters, &name, view) {
                Some(page) => html(page),
                None => text(StatusCode::NOT_FOUND, &format!("no group named {name:?}\n")),
            }
        }
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
                "not found: try /metrics, /, /topics, /groups/<name>, /api/groups, /healthz, /ready\n",
            ),
        },
    }
}

/// The published text as is when the scraper accepts gzip (Prometheus always does), else
/// decompressed chunk by chunk as it is sent, so such a scrape never holds the whole text.
fn metrics(req: &Request<Incoming>, gzip: Bytes, text_len: usize) -> Response<Body> {
    let content_type = "text/plain; version=0.0.4; charset=utf-8";
    if accepts_gzip(req.headers()) {
        let mut r = response(StatusCode::OK, content_type, gzip);
        r.headers_mut().insert("content-encoding", hyper::header::HeaderValue::from_static("gzip"));
        r
    } else {
        Response::builder()
            .status(StatusCode::OK)
            .header("content-type", content_type)
            .body(Either::Right(GunzipBody {
                decoder: Some(GzDecoder::new(gzip.reader())),
                remaining: text_len as u64,
            }))
            .expect("static headers are valid")
    }
}

/// Decompresses the published gzip text in [`GUNZIP_CHUNK`]-byte frames.
pub struct GunzipBody {
    /// `None` once the text is exhausted.
    decoder: Option<GzDecoder<bytes::buf::Reader<Bytes>>>,
    /// Text bytes not yet sent: an exact size hint lets hyper send `Content-Length`.
    remaining: u64,
}

/// Bytes of text per body frame.
const GUNZIP_CHUNK: usize = 64 * 1024;

impl hyper::body::Body for GunzipBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let Some(decoder) = self.decoder.as_mut() else {
            return Poll::Ready(None);
        };
        let mut chunk = vec![0u8; GUNZIP_CHUNK];
        let mut filled = 0;
        while filled < chunk.len() {
            match decoder.read(&mut chunk[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) => return Poll::Ready(Some(Err(e))),
            }
        }
        if filled == 0 {
            self.decoder = None;
            return Poll::Ready(None);
        }
        chunk.truncate(filled);
        self.remaining = self.remaining.saturating_sub(filled as u64);
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(chunk)))))
    }

    fn is_end_stream(&self) -> bool {
        self.decoder.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
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

fn response(status: StatusCode, content_type: &str, body: Bytes) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Either::Left(Full::new(body)))
        .expect("static headers are valid")
}

fn text(status: StatusCode, body: &str) -> Response<Body> {
    response(status, "text/plain; charset=utf-8", Bytes::from(body.to_string()))
}

fn json(value: &serde_json::Value) -> Response<Body> {
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
