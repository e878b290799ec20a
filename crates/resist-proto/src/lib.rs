#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used)]

pub mod action;
pub mod api;
pub mod canary;
pub mod distribution;
pub mod endpoint;
pub mod ip;
pub mod probe_auth;
pub mod region;
pub mod report;
pub mod share;

mod invalid;

pub use invalid::Invalid;
