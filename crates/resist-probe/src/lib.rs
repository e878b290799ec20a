#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used)]

pub mod agent;
pub mod check;
pub mod key;
pub mod queue;

mod fsutil;

pub use agent::{Agent, AgentConfig, AgentError};
pub use check::{CheckError, CheckLimits, check_node};
pub use key::{KeyError, ProbeKey};
pub use queue::{Queue, QueueError, Queued};
