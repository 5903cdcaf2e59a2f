//! kafka-lag-exporter: polls Kafka clusters for consumer-group lag (offsets and seconds) and a
//! Burrow-style status, and serves the last poll as Prometheus metrics, HTML and JSON.
//! See ARCHITECTURE.md ("exporter/") for the map.

pub mod app;
pub mod config;
pub mod html;
pub mod http;
pub mod kafka;
pub mod lag_time;
pub mod metrics;
pub mod poll;
pub mod snapshot;
pub mod status;
