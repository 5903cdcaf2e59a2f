//! kafka-lab-chaos: a deterministic fault simulator. The broker's own code (server, log,
//! storage, group coordinator) runs inside turmoil with simulated clients, network, disk and
//! time; faults come from a seed; checkers judge the history. One seed replays one run.
//! See ARCHITECTURE.md ("chaos/").

pub mod checkers;
pub mod cli;
pub mod clients;
pub mod config;
pub mod history;
pub mod hosts;
pub mod report;
pub mod run;
pub mod schedule;
pub mod sweep;
pub mod timeline;

pub use config::SimConfig;
pub use run::{run, RunOutcome};
