//! Simulated hosts that run the broker's own code.

pub mod broker;
pub mod network;
