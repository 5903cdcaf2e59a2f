//! kafka-lab-exercises: the course's labs — module 2 (partitions and keys; replication and
//! failover), module 4 (consumer groups), module 8 (the security lab), module 10 (a slow
//! consumer) — as exercises.
//!
//! Each exercise has written steps (Markdown, `steps/<id>.md`, in Russian `steps/ru/<id>.md`),
//! a checker that verifies the learner's running broker with real clients (librdkafka, OpenSSL,
//! the admin client) and says precisely what is wrong, and a reference solution. The security
//! lab works on a lab directory (`lab::Lab`); the other modules on a running cluster
//! (`cluster_lab::ClusterLab`). `kafka-lab lab …` (`cli.rs`) is the command line.

pub mod admin_ops;
pub mod cli;
pub mod client;
pub mod cluster_lab;
pub mod exercises;
pub mod lab;
pub mod member;
pub mod report;

pub use cluster_lab::ClusterLab;

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

/// One exercise of a lab: the security lab's work on a [`Lab`] directory, the other modules'
/// on a [`ClusterLab`].
pub struct Exercise<L: 'static = Lab> {
    /// Short id, used on the command line: `kafka-lab lab check acls`.
    pub id: &'static str,
    pub title: &'static str,
    /// The written steps, Markdown, in English.
    pub steps: &'static str,
    /// The same steps in Russian, with the same commands and code blocks.
    pub steps_ru: &'static str,
    /// Verifies the learner's work; one line per check.
    pub check: fn(&L) -> Report,
    /// Applies the reference solution's part for one phase (the cluster labs have no files:
    /// they do everything in `Admin`).
    pub solve: fn(&L, Phase) -> anyhow::Result<Solution>,
}

/// The security lab's exercises (course module 8), in course order.
pub fn all() -> &'static [Exercise] {
    exercises::ALL
}

/// The security lab's exercise with this id.
pub fn find(id: &str) -> Option<&'static Exercise> {
    all().iter().find(|e| e.id == id)
}

/// The language of the steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Lang {
    #[default]
    En,
    Ru,
}

/// A course module's lab: where its exercises work.
#[derive(Clone, Copy)]
pub enum Exercises {
    /// On a lab directory (`kafka-lab lab init`).
    Security(&'static [Exercise<Lab>]),
    /// On a running broker or cluster (`--bootstrap-server`).
    Cluster(&'static [Exercise<ClusterLab>]),
}

/// One module of the course with a lab.
pub struct Module {
    /// The course's module number.
    pub number: u8,
    pub title: &'static str,
    /// What the learner runs the exercises against.
    pub runs_on: &'static str,
    pub exercises: Exercises,
}

/// Every module with a lab, in course order.
pub static MODULES: &[Module] = &[
    Module {
        number: 2,
        title: "Topics, partitions and replication",
        runs_on: "2.1 on any broker, 2.2 on kafka-lab cluster up --brokers 3; --bootstrap-server, default 127.0.0.1:9092",
        exercises: Exercises::Cluster(exercises::MODULE_2),
    },
    Module {
        number: 4,
        title: "Consumers and consumer groups",
        runs_on: "any broker: kafka-lab up (or kafka-lab cluster up); --bootstrap-server, default 127.0.0.1:9092",
        exercises: Exercises::Cluster(exercises::MODULE_4),
    },
    Module {
        number: 8,
        title: "Security",
        runs_on: "your own broker in the lab directory: kafka-lab lab init (./security-lab)",
        exercises: Exercises::Security(exercises::ALL),
    },
    Module {
        number: 10,
        title: "Troubleshooting",
        runs_on: "kafka-lab up (broker, demo producer, lag exporter on 127.0.0.1:8000); failover: 2.2 replication",
        exercises: Exercises::Cluster(exercises::MODULE_10),
    },
];

/// One exercise of any module.
#[derive(Clone, Copy)]
pub enum Entry {
    Security(&'static Exercise<Lab>),
    Cluster(&'static Exercise<ClusterLab>),
}

impl Entry {
    pub fn id(&self) -> &'static str {
        match self {
            Entry::Security(e) => e.id,
            Entry::Cluster(e) => e.id,
        }
    }

    pub fn title(&self) -> &'static str {
        match self {
            Entry::Security(e) => e.title,
            Entry::Cluster(e) => e.title,
        }
    }

    /// The steps in `lang`.
    pub fn steps(&self, lang: Lang) -> &'static str {
        let (en, ru) = match self {
            Entry::Security(e) => (e.steps, e.steps_ru),
            Entry::Cluster(e) => (e.steps, e.steps_ru),
        };
        match lang {
            Lang::En => en,
            Lang::Ru => ru,
        }
    }
}

impl Module {
    /// The module's exercises in order.
    pub fn entries(&self) -> Vec<Entry> {
        match self.exercises {
            Exercises::Security(all) => all.iter().map(Entry::Security).collect(),
            Exercises::Cluster(all) => all.iter().map(Entry::Cluster).collect(),
        }
    }
}

/// Every exercise of the course, in course order, with its module and its number there
/// (`2.1`, `8.3`, …).
pub fn course() -> Vec<(&'static Module, usize, Entry)> {
    MODULES
        .iter()
        .flat_map(|m| m.entries().into_iter().enumerate().map(move |(i, e)| (m, i + 1, e)))
        .collect()
}

/// The exercise `id` of any module.
pub fn find_any(id: &str) -> Option<(&'static Module, usize, Entry)> {
    course().into_iter().find(|(_, _, e)| e.id() == id)
}
