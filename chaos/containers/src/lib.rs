//! kafka-lab-chaos-containers: chaos failover suites on a real cluster. Our own images
//! (`scripts/build-image`) run as containers started by testcontainers on two Docker networks;
//! real librdkafka clients on the host produce and consume while a suite kills, pauses, cuts
//! off or restarts nodes; the simulator's checkers judge the recorded history, and each run
//! leaves a folder a person can read. See ARCHITECTURE.md ("chaos/containers/").

pub mod admin;
pub mod cli;
pub mod cluster;
pub mod report;
pub mod security;
pub mod suite;
pub mod workload;

pub use suite::{run_suite, Suite, SuiteConfig, SuiteReport};
