#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used)]

pub mod action;
pub mod api;
pub mod endpoint;
pub mod ip;
pub mod region;

mod invalid;

pub use invalid::Invalid;
