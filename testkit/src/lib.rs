//! Helpers shared by the workspace's integration tests: scraping a Prometheus endpoint over
//! HTTP and reading the text back ([`scrape`]), free ports and the workspace's binaries built
//! for the test's profile ([`process`]), and polling with a deadline ([`wait_until`]).
//! A dev-dependency only; nothing here ships in a binary.

pub mod process;
pub mod scrape;

pub use process::{free_port, spawn_broker, workspace_binary};

use std::time::{Duration, Instant};

/// Polls `condition` every 100 ms until it holds; panics after `limit` (a hang guard, not a
/// performance assertion).
pub fn wait_until(what: &str, limit: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
