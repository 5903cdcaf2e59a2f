//! kafka-lab-broker: a Kafka-wire-compatible broker built to run both on a real machine and
//! inside the deterministic simulator. See ARCHITECTURE.md at the repository root.

pub mod clock;
pub mod group;
