//! The checks on what a chain source sends, kept apart from the three
//! protocols so that every backend gets the same ones: a transaction must
//! hash to the txid asked for, a header to the block hash it was sent for,
//! and a listed unspent output must be what its transaction says. A lying or
//! broken server yields an error here, never a wrong wallet.

use bdk_wallet::bitcoin::block::Header;
use bdk_wallet::bitcoin::consensus::encode::deserialize;
use bdk_wallet::bitcoin::hex::FromHex;
use bdk_wallet::bitcoin::{Amount, BlockHash, OutPoint, ScriptBuf, Transaction, TxOut, Txid};

use crate::error::ChainError;

/// Size of a serialized block header.
pub(crate) const HEADER_BYTES: usize = 80;

/// Decodes hex sent by `backend` in answer to `what`.
pub(crate) fn hex_bytes(
    backend: &'static str,
    what: &str,
    hex: &str,
) -> Result<Vec<u8>, ChainError> {
    Vec::<u8>::from_hex(hex.trim()).map_err(|e| ChainError::Malformed {
        backend,
        what: what.to_owned(),
        detail: format!("not hex: {e}"),
    })
}

/// A transaction from its raw bytes, which must hash to `txid`.
pub(crate) fn transaction(
    backend: &'static str,
    txid: Txid,
    raw: &[u8],
) -> Result<Transaction, ChainError> {
    let tx: Transaction = deserialize(raw).map_err(|e| ChainError::Malformed {
        backend,
        what: format!("transaction {txid}"),
        detail: format!("not a transaction: {e}"),
    })?;
    let got = tx.compute_txid();
    if got != txid {
        return Err(ChainError::TxidMismatch {
            backend,
            requested: txid,
            got,
        });
    }
    Ok(tx)
}

/// A block header from its 80 bytes, which must hash to `hash`.
pub(crate) fn header(
    backend: &'static str,
    hash: BlockHash,
    raw: &[u8],
) -> Result<Header, ChainError> {
    if raw.len() != HEADER_BYTES {
        return Err(ChainError::Malformed {
            backend,
            what: format!("the header of block {hash}"),
            detail: format!("{} bytes, a header has {HEADER_BYTES}", raw.len()),
        });
    }
    let header: Header = deserialize(raw).map_err(|e| ChainError::Malformed {
        backend,
        what: format!("the header of block {hash}"),
        detail: e.to_string(),
    })?;
    let got = header.block_hash();
    if got != hash {
        return Err(ChainError::HeaderMismatch {
            backend,
            claimed: hash,
            got,
        });
    }
    Ok(header)
}

/// The output `outpoint` of `tx`, which must pay `script` the `value` the
/// server listed.
pub(crate) fn output(
    backend: &'static str,
    tx: &Transaction,
    outpoint: OutPoint,
    script: &ScriptBuf,
    value: Amount,
) -> Result<TxOut, ChainError> {
    let mismatch = |detail: String| ChainError::OutputMismatch {
        backend,
        outpoint,
        detail,
    };
    let txout = usize::try_from(outpoint.vout)
        .ok()
        .and_then(|vout| tx.output.get(vout))
        .ok_or_else(|| {
            mismatch(format!(
                "the transaction has only {} outputs",
                tx.output.len()
            ))
        })?;
    if &txout.script_pubkey != script {
        return Err(mismatch(
            "the output pays another script than the one asked about".into(),
        ));
    }
    if txout.value != value {
        return Err(mismatch(format!(
            "the output is {} sat, not the {} sat listed",
            txout.value.to_sat(),
            value.to_sat()
        )));
    }
    Ok(txout.clone())
}
