//! The broker's Prometheus metrics, under the names METRICS.md lists (Kafka's MBeans as the JMX
//! Prometheus exporter names them with Strimzi's rules).
//!
//! - [`registry`]: [`BrokerMetrics`] (`Broker::metrics`), the counters the request path updates:
//!   requests per API and version, error codes, request times (`server.rs`), per-topic traffic
//!   (the Produce and Fetch handlers), open connections (`server::serve_session`).
//! - [`quantiles`]: request-time quantiles over the last 1028 requests.
//! - [`errors`]: the error codes of a response, and Kafka's names for them.
//! - [`render`]: one scrape's text, from those counters, `Broker::stats` (security and quota
//!   counters), the quota sensors, and gauges read from the broker's state at scrape time.
//!
//! All of it is deterministic core code: time comes from the broker's clock, nothing here does
//! I/O. The HTTP endpoint (`prometheus.metrics.reporter.listener`) is `crate::metrics_http`.

pub mod errors;
pub mod quantiles;
pub mod registry;
pub mod render;

pub use errors::error_name;
pub use registry::{BrokerMetrics, ConnectionGuard, MetricsSnapshot, TopicCounters};
pub use render::render;
