#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used)]
#![deny(clippy::expect_used)]
#![deny(clippy::panic)]
// Tests may panic to fail; clippy.toml already allows unwrap/expect there.
#![cfg_attr(test, allow(clippy::panic))]

mod address;
pub mod fuzzing;
mod legacy;
mod network;
mod sign;
mod verify;

pub use address::{
    AddressError, AddressKind, AddressNetwork, MAX_ADDRESS_INPUT_LEN, PayoutAddress, parse_address,
};
pub use network::{Network, UnknownNetwork};
pub use sign::{SignError, address_for_test_wif, generate_test_wif, sign_for_test_network};
pub use verify::{MAX_MESSAGE_LEN, MAX_SIGNATURE_LEN, ProofError, ProofKind, verify};
