//! Building the batched, unsigned payout PSBTs.

use std::collections::VecDeque;

use bdk_wallet::bitcoin::secp256k1::rand::SeedableRng;
use bdk_wallet::bitcoin::secp256k1::rand::rngs::StdRng;
use bdk_wallet::bitcoin::{Amount, FeeRate, OutPoint, Psbt, ScriptBuf, Sequence, Txid, Weight};
use bdk_wallet::{KeychainKind, TxOrdering};
use resist_grants::{AddressType, EpochInputs, EpochResult, MAX_MONEY_SAT};
use resist_ownership::{AddressError, AddressKind, parse_address};

use crate::{PayoutError, Treasury};

/// Bitcoin Core's standardness limit for a transaction's weight
/// (`MAX_STANDARD_TX_WEIGHT`): heavier transactions are not relayed.
pub const MAX_STANDARD_TX_WEIGHT: u64 = 400_000;

/// The most a batch may weigh once signed, as estimated from the descriptors
/// (largest signatures): 1 % under [`MAX_STANDARD_TX_WEIGHT`], as a margin
/// for estimation (BDK builds oversized batches without complaint).
pub const BATCH_WEIGHT_LIMIT: u64 = 396_000;

/// Weight kept free for inputs and change when payees are first grouped into
/// batches (about 150 taproot or 90 P2WPKH inputs). A batch that still comes
/// out too heavy is split in two and rebuilt.
const INPUT_RESERVE_WEIGHT: u64 = 36_000;

/// One payment: an address and an amount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payee {
    /// The payout address, as the operator registered it.
    pub address: String,
    /// Satoshis to pay.
    pub amount_sat: u64,
    /// The address type recorded for the operator (what the scoring used for
    /// the dust limit). When set, an address of another type is refused.
    pub address_type: Option<AddressType>,
}

impl Payee {
    /// A payee without a recorded address type.
    pub fn new(address: impl Into<String>, amount_sat: u64) -> Self {
        Payee {
            address: address.into(),
            amount_sat,
            address_type: None,
        }
    }

    /// The payments of a scored epoch (every operator with `paid_sat > 0`,
    /// by operator id), with the address types of its inputs.
    pub fn from_epoch(inputs: &EpochInputs, result: &EpochResult) -> Vec<Payee> {
        result
            .payouts()
            .map(|(operator, address, paid)| Payee {
                address: address.to_owned(),
                amount_sat: paid,
                address_type: inputs
                    .operators
                    .iter()
                    .find(|o| o.operator == operator)
                    .map(|o| o.address_type),
            })
            .collect()
    }
}

impl From<(&str, u64)> for Payee {
    fn from((address, amount_sat): (&str, u64)) -> Self {
        Payee::new(address, amount_sat)
    }
}

/// One unsigned payout transaction.
#[derive(Debug, Clone)]
pub struct PayoutBatch {
    /// The PSBT (version 0): every input carries its UTXO and key origins,
    /// the change output its key origin, so a hardware wallet recognises it.
    pub psbt: Psbt,
    /// The payees of this batch, in output order (output `i` pays `payees[i]`).
    pub payees: Vec<Payee>,
    /// For each of `payees`, its position in the list given to
    /// [`build_payout_psbt`].
    pub payee_indices: Vec<usize>,
    /// The change output (always the last one), if any.
    pub change: Option<(u32, Amount)>,
    /// The fee.
    pub fee: Amount,
    /// The weight once signed, estimated with the largest signatures.
    pub estimated_weight: Weight,
}

impl PayoutBatch {
    /// The PSBT in base64, the usual text form.
    pub fn to_base64(&self) -> String {
        self.psbt.to_string()
    }

    /// The PSBT in binary (BIP-174), e.g. for a `.psbt` file.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.psbt.serialize()
    }

    /// The txid the transaction will have once signed (segwit inputs only:
    /// signatures do not change it).
    pub fn txid(&self) -> Txid {
        self.psbt.unsigned_tx.compute_txid()
    }
}

/// Parses a PSBT from base64 (surrounding whitespace allowed).
pub fn psbt_from_base64(s: &str) -> Result<Psbt, PayoutError> {
    s.trim()
        .parse::<Psbt>()
        .map_err(|e| PayoutError::PsbtParse(e.to_string()))
}

/// Parses a binary PSBT.
pub fn psbt_from_bytes(bytes: &[u8]) -> Result<Psbt, PayoutError> {
    Psbt::deserialize(bytes).map_err(|e| PayoutError::PsbtParse(e.to_string()))
}

/// A payee after validation.
#[derive(Debug, Clone)]
pub(super) struct Resolved {
    pub(super) index: usize,
    pub(super) script: ScriptBuf,
    pub(super) amount: Amount,
}

fn address_type(kind: AddressKind) -> Option<AddressType> {
    match kind {
        AddressKind::P2pkh => Some(AddressType::P2pkh),
        AddressKind::P2sh => Some(AddressType::P2sh),
        AddressKind::P2wpkh => Some(AddressType::P2wpkh),
        AddressKind::P2wsh => Some(AddressType::P2wsh),
        AddressKind::P2tr => Some(AddressType::P2tr),
        _ => None,
    }
}

/// Parses and checks every payee: address of the treasury's network, of a
/// payable type, of the recorded type if any, not below its dust limit, not
/// the treasury's own.
pub(super) fn resolve(treasury: &Treasury, payees: &[Payee]) -> Result<Vec<Resolved>, PayoutError> {
    let mut total: u64 = 0;
    let mut out = Vec::with_capacity(payees.len());
    for (index, p) in payees.iter().enumerate() {
        let parsed = parse_address(&p.address, treasury.network()).map_err(|source| {
            PayoutError::Address {
                index,
                address: p.address.clone(),
                source,
            }
        })?;
        let found = address_type(parsed.kind()).ok_or_else(|| PayoutError::Address {
            index,
            address: p.address.clone(),
            source: AddressError::Unsupported {
                what: parsed.kind().to_string(),
            },
        })?;
        if let Some(expected) = p.address_type
            && expected != found
        {
            return Err(PayoutError::AddressTypeMismatch {
                index,
                address: p.address.clone(),
                expected,
                found,
            });
        }
        let script = parsed.script_pubkey();
        // The type's limit, and what rust-bitcoin computes for the script
        // (the same numbers; both, in case one of them changes).
        let dust_limit_sat = found
            .dust_limit_sat()
            .max(script.minimal_non_dust().to_sat());
        if p.amount_sat < dust_limit_sat {
            return Err(PayoutError::Dust {
                index,
                address: p.address.clone(),
                amount_sat: p.amount_sat,
                dust_limit_sat,
            });
        }
        if treasury.is_mine(&script) {
            return Err(PayoutError::PayeeIsTreasury {
                index,
                address: p.address.clone(),
            });
        }
        total = total
            .checked_add(p.amount_sat)
            .filter(|t| *t <= MAX_MONEY_SAT)
            .ok_or(PayoutError::TotalOverflow)?;
        out.push(Resolved {
            index,
            script,
            amount: Amount::from_sat(p.amount_sat),
        });
    }
    Ok(out)
}

/// The weight of one transaction output paying `script`.
fn output_weight(script: &ScriptBuf) -> u64 {
    let len = script.len() as u64;
    let varint = if len < 0xfd { 1 } else { 3 };
    (8 + varint + len) * 4
}

/// Builds the unsigned payout transaction(s) paying every payee exactly once.
///
/// - **One batch** when it fits: every payee output, then the change output
///   (to the treasury's next unused change address) if the change is not
///   dust. Payee outputs are ordered by script (its bytes) and amount, then
///   by position in `payees`; BDK is told not to reorder
///   (`TxOrdering::Untouched`).
/// - **Several batches** when one transaction would weigh more than
///   [`BATCH_WEIGHT_LIMIT`] once signed: consecutive runs of that order.
///   Batches spend disjoint UTXOs and use consecutive change addresses; all
///   of them are needed to pay everyone.
/// - Every input signals RBF (nSequence `0xFFFFFFFD`), so a stuck batch can
///   be fee-bumped (with another signature). Lock time is the treasury's tip
///   height (BDK's anti fee sniping).
/// - `fee_rate_sat_per_vb` is the target; with signatures other than the
///   largest the real rate comes out slightly higher or lower (signatures
///   from `Psbt::sign` are not low-R ground).
/// - Deterministic: coin selection's random fallback is seeded with `seed`
///   (BDK's `finish()` would draw it at random), so the same treasury state, payees, fee rate and seed give
///   byte-identical PSBTs. Nothing of the treasury is marked used: building
///   again is safe and gives the same result.
pub fn build_payout_psbt(
    treasury: &mut Treasury,
    payees: &[Payee],
    fee_rate_sat_per_vb: u64,
    seed: u64,
) -> Result<Vec<PayoutBatch>, PayoutError> {
    if payees.is_empty() {
        return Err(PayoutError::NoPayees);
    }
    let fee_rate = FeeRate::from_sat_per_vb(fee_rate_sat_per_vb)
        .filter(|_| fee_rate_sat_per_vb > 0)
        .ok_or(PayoutError::FeeRate(fee_rate_sat_per_vb))?;
    let mut resolved = resolve(treasury, payees)?;
    resolved.sort_by(|a, b| {
        (a.script.as_bytes(), a.amount, a.index).cmp(&(b.script.as_bytes(), b.amount, b.index))
    });

    // First grouping: by output weight.
    let budget = BATCH_WEIGHT_LIMIT - INPUT_RESERVE_WEIGHT;
    let mut chunks: VecDeque<Vec<Resolved>> = VecDeque::new();
    let mut current: Vec<Resolved> = Vec::new();
    let mut weight = 0;
    for r in resolved {
        let w = output_weight(&r.script);
        if !current.is_empty() && weight + w > budget {
            chunks.push_back(std::mem::take(&mut current));
            weight = 0;
        }
        weight += w;
        current.push(r);
    }
    chunks.push_back(current);

    // The change addresses: the first unused one, then the next ones.
    let first_change = {
        let index = treasury.wallet().spk_index();
        index
            .unused_keychain_spks(KeychainKind::Internal)
            .next()
            .map(|(i, _)| i)
            .unwrap_or_else(|| {
                index
                    .next_index(KeychainKind::Internal)
                    .map_or(0, |(i, _)| i)
            })
    };

    let mut batches = Vec::new();
    // Coins reserved by earlier payouts, then those of the batches built here.
    let mut spent: Vec<OutPoint> = treasury.reserved().to_vec();
    while let Some(chunk) = chunks.pop_front() {
        let batch_no = batches.len();
        let change_index = first_change
            .checked_add(u32::try_from(batch_no).unwrap_or(u32::MAX))
            .ok_or_else(|| PayoutError::Build {
                batch: batch_no,
                payees: chunk.len(),
                message: "change index overflow".to_owned(),
            })?;
        let batch = build_one(
            treasury,
            &chunk,
            fee_rate,
            seed,
            batch_no,
            change_index,
            &spent,
        )?;
        if batch.estimated_weight.to_wu() > BATCH_WEIGHT_LIMIT {
            if chunk.len() == 1 {
                return Err(PayoutError::TooHeavy {
                    index: chunk[0].index,
                });
            }
            let mut first = chunk;
            let second = first.split_off(first.len() / 2);
            chunks.push_front(second);
            chunks.push_front(first);
            continue;
        }
        spent.extend(
            batch
                .psbt
                .unsigned_tx
                .input
                .iter()
                .map(|i| i.previous_output),
        );
        batches.push(batch.with_payees(payees));
    }
    Ok(batches)
}

/// A batch before its payees are copied in.
struct Built {
    psbt: Psbt,
    indices: Vec<usize>,
    change: Option<(u32, Amount)>,
    fee: Amount,
    estimated_weight: Weight,
}

impl Built {
    fn with_payees(self, payees: &[Payee]) -> PayoutBatch {
        PayoutBatch {
            payees: self.indices.iter().map(|&i| payees[i].clone()).collect(),
            psbt: self.psbt,
            payee_indices: self.indices,
            change: self.change,
            fee: self.fee,
            estimated_weight: self.estimated_weight,
        }
    }
}

fn build_one(
    treasury: &mut Treasury,
    chunk: &[Resolved],
    fee_rate: FeeRate,
    seed: u64,
    batch_no: usize,
    change_index: u32,
    already_spent: &[OutPoint],
) -> Result<Built, PayoutError> {
    let build_err = |message: String| PayoutError::Build {
        batch: batch_no,
        payees: chunk.len(),
        message,
    };
    let wallet = treasury.wallet_mut();
    // Revealed, so that BDK adds the change output's key origin to the PSBT.
    wallet
        .reveal_addresses_to(KeychainKind::Internal, change_index)
        .for_each(drop);
    let change_script = wallet
        .peek_address(KeychainKind::Internal, change_index)
        .script_pubkey();

    let mut builder = wallet.build_tx();
    for r in chunk {
        builder.add_recipient(r.script.clone(), r.amount);
    }
    builder
        .fee_rate(fee_rate)
        .ordering(TxOrdering::Untouched)
        .set_exact_sequence(Sequence::ENABLE_RBF_NO_LOCKTIME)
        .drain_to(change_script.clone())
        .unspendable(already_spent.to_vec());
    let mut rng = StdRng::seed_from_u64(seed ^ (batch_no as u64).rotate_left(32));
    let psbt = builder
        .finish_with_aux_rand(&mut rng)
        .map_err(|e| build_err(e.to_string()))?;

    // What BDK built must be exactly what we asked for, in our order.
    let outputs = &psbt.unsigned_tx.output;
    let change = match outputs.len().checked_sub(chunk.len()) {
        Some(0) => None,
        Some(1) if outputs[chunk.len()].script_pubkey == change_script => {
            let vout = u32::try_from(chunk.len()).map_err(|e| build_err(e.to_string()))?;
            Some((vout, outputs[chunk.len()].value))
        }
        _ => return Err(build_err("unexpected outputs".to_owned())),
    };
    for (o, r) in outputs.iter().zip(chunk) {
        if o.script_pubkey != r.script || o.value != r.amount {
            return Err(build_err("outputs out of order".to_owned()));
        }
    }
    let fee = psbt.fee().map_err(|e| build_err(e.to_string()))?;

    // Weight once signed: the unsigned transaction, the segwit marker and
    // flag, and for each input its witness stack count and largest
    // satisfaction.
    let wallet = treasury.wallet();
    let mut wu = psbt.unsigned_tx.weight().to_wu() + 2;
    for input in &psbt.unsigned_tx.input {
        let utxo = wallet
            .get_utxo(input.previous_output)
            .ok_or_else(|| build_err(format!("input {} unknown", input.previous_output)))?;
        let satisfaction = wallet
            .public_descriptor(utxo.keychain)
            .max_weight_to_satisfy()
            .map_err(|e| build_err(e.to_string()))?;
        wu += 1 + satisfaction.to_wu();
    }
    Ok(Built {
        indices: chunk.iter().map(|r| r.index).collect(),
        psbt,
        change,
        fee,
        estimated_weight: Weight::from_wu(wu),
    })
}
