#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod config;
mod connect;
pub mod credentials;
mod handshake;
pub mod limits;
pub mod metrics;
pub mod policy;
mod read;
pub mod relay;
mod server;
pub mod share;
mod udp;

pub use config::{NodeConfig, Settings};
pub use metrics::Metrics;
pub use server::{Node, bind, own_addresses};
