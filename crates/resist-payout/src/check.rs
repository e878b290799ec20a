//! Checking a signed payout before it is recorded and broadcast.

use bdk_wallet::KeychainKind;
use bdk_wallet::bitcoin::bip32::ChildNumber;
use bdk_wallet::bitcoin::consensus::encode::serialize;
use bdk_wallet::bitcoin::secp256k1::Secp256k1;
use bdk_wallet::bitcoin::{Amount, Psbt, ScriptBuf, Transaction, TxOut, Txid};
use bdk_wallet::miniscript::psbt::PsbtExt;

use crate::build::resolve;
use crate::{Payee, PayoutError, Treasury};

/// A signed payout that passed every check of [`check_signed`].
#[derive(Debug, Clone)]
pub struct CheckedPayout {
    /// The final transaction, ready to broadcast.
    pub tx: Transaction,
    /// Its txid.
    pub txid: Txid,
    /// Σ spent outputs − Σ outputs.
    pub fee: Amount,
    /// The change back to the treasury (0 without change output).
    pub change: Amount,
}

/// Checks a PSBT signed by the funder against the unsigned one it came from
/// and the payees of its batch, and returns the transaction to broadcast.
///
/// `spent` are the outputs the inputs spend, in input order, as the chain
/// source reports them (not taken from the PSBT: a signer could have changed
/// them). In order, it refuses:
/// 1. a signed PSBT that spends other inputs than the unsigned one (other
///    outpoints, order, sequences, version or lock time);
/// 2. `spent` that does not match the inputs (count, or the UTXO the unsigned
///    PSBT recorded), or that spends anything but the treasury's outputs;
/// 3. outputs that do not pay exactly the payees: a payee's output with
///    another amount, a payee not paid, any output that is neither a payee
///    nor the one change output to the treasury;
/// 4. a PSBT that cannot be finalized (with miniscript's finalizer when the
///    signer left it unfinalized: it also checks the partial signatures) or
///    extracted; outputs above the inputs;
/// 5. any input whose script fails Bitcoin Core's interpreter
///    (libbitcoinconsensus 0.106, called with every spent output so that
///    taproot is checked: rust-bitcoin's own `verify` silently skips
///    taproot).
pub fn check_signed(
    treasury: &Treasury,
    unsigned: &Psbt,
    signed: &Psbt,
    payees: &[Payee],
    spent: &[TxOut],
) -> Result<CheckedPayout, PayoutError> {
    let resolved = resolve(treasury, payees)?;
    let expected_tx = &unsigned.unsigned_tx;

    // 1. Same inputs as the unsigned PSBT.
    same_inputs(expected_tx, &signed.unsigned_tx)?;

    // 2. The spent outputs.
    if spent.len() != expected_tx.input.len() {
        return Err(PayoutError::SpentOutputs(format!(
            "{} given for {} inputs",
            spent.len(),
            expected_tx.input.len()
        )));
    }
    for (i, (out, input)) in spent.iter().zip(&unsigned.inputs).enumerate() {
        let recorded = input.witness_utxo.as_ref().or_else(|| {
            let vout = usize::try_from(expected_tx.input[i].previous_output.vout).ok()?;
            input.non_witness_utxo.as_ref()?.output.get(vout)
        });
        if recorded.is_some_and(|r| r != out) {
            return Err(PayoutError::SpentOutputs(format!(
                "input {i}: the given output differs from the one in the unsigned PSBT"
            )));
        }
        if !treasury.is_mine(&out.script_pubkey) {
            return Err(PayoutError::SpentOutputs(format!(
                "input {i} does not spend an output of the treasury"
            )));
        }
    }

    // 3. Outputs (before finalizing, whose signature checks would hide
    // the reason): every payee once with its exact amount, plus at most one
    // change output to the treasury.
    let mut unpaid: Vec<Option<&crate::build::Resolved>> = resolved.iter().map(Some).collect();
    let mut change = None;
    for (vout, out) in signed.unsigned_tx.output.iter().enumerate() {
        let exact = unpaid
            .iter_mut()
            .find(|r| r.is_some_and(|r| r.script == out.script_pubkey && r.amount == out.value));
        if let Some(slot) = exact {
            *slot = None;
            continue;
        }
        if let Some(r) = unpaid
            .iter()
            .flatten()
            .find(|r| r.script == out.script_pubkey)
        {
            return Err(PayoutError::WrongAmount {
                vout,
                address: payees[r.index].address.clone(),
                expected: r.amount,
                found: out.value,
            });
        }
        if change.is_none() && treasury_owns(treasury, &out.script_pubkey, unsigned) {
            change = Some(out.value);
            continue;
        }
        return Err(PayoutError::ExtraOutput {
            vout,
            value: out.value,
        });
    }
    if let Some(r) = unpaid.iter().flatten().next() {
        return Err(PayoutError::MissingPayee {
            address: payees[r.index].address.clone(),
            amount: r.amount,
        });
    }
    // 4. Finalize if needed, extract.
    let mut psbt = signed.clone();
    let finalized = psbt
        .inputs
        .iter()
        .all(|i| i.final_script_witness.is_some() || i.final_script_sig.is_some());
    if !finalized {
        for (index, i) in psbt.inputs.iter().enumerate() {
            let has_signature = i.final_script_witness.is_some()
                || i.final_script_sig.is_some()
                || !i.partial_sigs.is_empty()
                || i.tap_key_sig.is_some()
                || !i.tap_script_sigs.is_empty();
            if !has_signature {
                return Err(PayoutError::Unsigned { index });
            }
        }
        let secp = Secp256k1::verification_only();
        psbt.finalize_mut(&secp).map_err(|errors| {
            PayoutError::Finalize(
                errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?;
    }
    let tx = psbt
        .extract_tx()
        .map_err(|e| PayoutError::Extract(e.to_string()))?;
    same_inputs(expected_tx, &tx)?;
    if tx.output != signed.unsigned_tx.output {
        return Err(PayoutError::TxChanged(
            "outputs changed on extraction".to_owned(),
        ));
    }

    let inputs_total: Amount = spent.iter().map(|o| o.value).sum();
    let outputs_total: Amount = tx.output.iter().map(|o| o.value).sum();
    let fee = inputs_total
        .checked_sub(outputs_total)
        .ok_or(PayoutError::NegativeFee {
            inputs: inputs_total,
            outputs: outputs_total,
        })?;

    // 5. Every input through Bitcoin Core's interpreter, with all spent
    // outputs (without them libbitcoinconsensus skips taproot).
    verify_scripts(&tx, spent)?;

    let txid = tx.compute_txid();
    Ok(CheckedPayout {
        tx,
        txid,
        fee,
        change: change.unwrap_or(Amount::ZERO),
    })
}

/// Runs libbitcoinconsensus 0.106 (Bitcoin Core 26.0) on every input of
/// `tx`, with all flags including taproot. `spent[i]` is what input `i`
/// spends.
pub fn verify_scripts(tx: &Transaction, spent: &[TxOut]) -> Result<(), PayoutError> {
    if spent.len() != tx.input.len() {
        return Err(PayoutError::SpentOutputs(format!(
            "{} given for {} inputs",
            spent.len(),
            tx.input.len()
        )));
    }
    let bytes = serialize(tx);
    let mut utxos = Vec::with_capacity(spent.len());
    for out in spent {
        let script = out.script_pubkey.as_bytes();
        utxos.push(bitcoinconsensus::Utxo {
            // Points into `spent`, which outlives every call below.
            script_pubkey: script.as_ptr(),
            script_pubkey_len: u32::try_from(script.len())
                .map_err(|_| PayoutError::SpentOutputs("script too long".to_owned()))?,
            value: i64::try_from(out.value.to_sat())
                .map_err(|_| PayoutError::SpentOutputs("amount too large".to_owned()))?,
        });
    }
    for (index, (input, out)) in tx.input.iter().zip(spent).enumerate() {
        bitcoinconsensus::verify(
            out.script_pubkey.as_bytes(),
            out.value.to_sat(),
            &bytes,
            Some(&utxos),
            index,
        )
        .map_err(|e| PayoutError::Script {
            index,
            outpoint: input.previous_output,
            reason: format!("{e:?}"),
        })?;
    }
    Ok(())
}

/// Whether `script` is the treasury's: one of its known scripts (revealed
/// or within BDK's lookahead), or derived from its descriptors at the index
/// that the unsigned PSBT's key origin for that output names (a treasury
/// loaded afresh has not revealed a change address far ahead).
fn treasury_owns(treasury: &Treasury, script: &ScriptBuf, unsigned: &Psbt) -> bool {
    if treasury.is_mine(script) {
        return true;
    }
    let wallet = treasury.wallet();
    unsigned
        .unsigned_tx
        .output
        .iter()
        .zip(&unsigned.outputs)
        .filter(|(o, _)| &o.script_pubkey == script)
        .flat_map(|(_, out)| {
            let ecdsa = out.bip32_derivation.values().map(|(_, path)| path);
            let schnorr = out.tap_key_origins.values().map(|(_, (_, path))| path);
            ecdsa.chain(schnorr)
        })
        .filter_map(|path| match path.into_iter().last() {
            Some(ChildNumber::Normal { index }) => Some(*index),
            _ => None,
        })
        .any(|index| {
            [KeychainKind::Internal, KeychainKind::External]
                .into_iter()
                .any(|k| wallet.peek_address(k, index).script_pubkey() == *script)
        })
}

fn same_inputs(expected: &Transaction, found: &Transaction) -> Result<(), PayoutError> {
    if expected.version != found.version {
        return Err(PayoutError::TxChanged("version".to_owned()));
    }
    if expected.lock_time != found.lock_time {
        return Err(PayoutError::TxChanged("lock time".to_owned()));
    }
    if expected.input.len() != found.input.len() {
        return Err(PayoutError::TxChanged(format!(
            "{} inputs instead of {}",
            found.input.len(),
            expected.input.len()
        )));
    }
    for (index, (e, f)) in expected.input.iter().zip(&found.input).enumerate() {
        if e.previous_output != f.previous_output {
            return Err(PayoutError::InputChanged {
                index,
                expected: e.previous_output,
                found: f.previous_output,
            });
        }
        if e.sequence != f.sequence {
            return Err(PayoutError::TxChanged(format!("sequence of input {index}")));
        }
    }
    Ok(())
}
