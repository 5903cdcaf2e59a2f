//! Support for the tests that prove `dashboards/`, `alerts/` and `compose/` against what the
//! broker and the lag exporter really emit (METRICS.md), with a real Prometheus and promtool.
//! The files themselves live at the repository root; this crate only reads and checks them.

pub mod alerts;
pub mod catalogue;
pub mod dashboard;
pub mod prometheus;

use std::path::PathBuf;

/// The repository root, where `dashboards/`, `alerts/` and `compose/` live.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("monitoring/ sits in the repository root")
        .to_path_buf()
}
