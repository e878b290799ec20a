#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

mod addr;
pub mod auth;
mod buf;
pub mod client;
mod err;
pub mod msg;
pub mod server;
pub mod udp;

#[doc(hidden)]
pub mod fuzzing;

pub use addr::{Address, DomainName};
pub use err::Error;
pub use msg::{Command, Method, ReplyCode};

/// The SOCKS protocol version this crate speaks (RFC 1928 §3).
pub const SOCKS_VERSION: u8 = 0x05;

/// The version byte of the username/password sub-negotiation (RFC 1929 §2).
pub const PASSWORD_AUTH_VERSION: u8 = 0x01;

/// The result of decoding a message from the front of a buffer.
///
/// `Ok(None)` means the buffer holds only a prefix of a valid message: read more.
/// `Ok(Some((msg, n)))` means the first `n` bytes were one complete message.
pub type Decoded<T> = Result<Option<(T, usize)>, Error>;
