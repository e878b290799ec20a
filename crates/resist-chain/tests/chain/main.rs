//! resist-chain against fixture servers that speak the real protocols
//! (Esplora REST, Electrum JSON-RPC over TCP, Bitcoin Core JSON-RPC over
//! HTTP) over a fabricated regtest chain: one test binary, one module per
//! subject.

mod backends;
mod config;
mod fixture;
mod sync;
