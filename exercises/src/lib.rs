//! kafka-lab-exercises: the security lab (course module 8, "Security").
//!
//! Each exercise has written steps (Markdown, `steps/<id>.md`), a checker that verifies the
//! learner's running broker with real clients (librdkafka, OpenSSL) and says precisely what is
//! wrong, and a reference solution. `kafka-lab lab …` (`cli.rs`) is the command line.

pub mod admin_ops;
pub mod cli;
pub mod client;
pub mod exercises;
pub mod lab;
pub mod report;

pub use lab::{Lab, LabConfig, Ports};
pub use report::{Check, Report};

/// What a reference solution did.
#[derive(Debug, Default)]
pub struct Solution {
    /// What it changed, one line each.
    pub actions: Vec<String>,
    /// Whether `broker.yaml` changed, so the broker must be restarted before `check`.
    pub restart_broker: bool,
}

/// How a solution that needs the running broker (admin operations) gets to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Edit files only (certificates, `broker.yaml`, properties files).
    Files,
    /// Run the admin operations against the restarted broker.
    Admin,
}

/// One exercise of the lab.
pub struct Exercise {
    /// Short id, used on the command line: `kafka-lab lab check acls`.
    pub id: &'static str,
    pub title: &'static str,
    /// The written steps, Markdown.
    pub steps: &'static str,
    /// Verifies the learner's work; one line per check.
    pub check: fn(&Lab) -> Report,
    /// Applies the reference solution's part for one phase.
    pub solve: fn(&Lab, Phase) -> anyhow::Result<Solution>,
}

/// Every exercise, in course order.
pub fn all() -> &'static [Exercise] {
    exercises::ALL
}

/// The exercise with this id.
pub fn find(id: &str) -> Option<&'static Exercise> {
    all().iter().find(|e| e.id == id)
}
