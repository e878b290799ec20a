//! Filling a fresh [`Treasury`] from a [`ChainSource`]: a gap-limit scan of
//! both keychains, then the funding applied block by block in increasing
//! height, as `Treasury::apply_funding` requires.
//!
//! The scan rule: a keychain's scripts are looked up in rounds. The first
//! round covers indexes `0..gap_limit`. While a round finds a coin at index
//! `u` with `u + gap_limit` at or past the end of what was scanned, the next
//! round covers up to `u + gap_limit` (inclusive), so the scan ends after
//! `gap_limit` consecutive scripts without a coin. "A coin" here means a
//! confirmed unspent output with enough confirmations: the chain sources
//! are asked for unspent outputs only (bitcoind's `scantxoutset` knows
//! nothing else), so an address whose coins were all spent counts as a gap.
//! Keep `gap_limit` above the longest run of spent or never-used addresses
//! between funded ones.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use bdk_wallet::KeychainKind;
use bdk_wallet::bitcoin::{Amount, BlockHash, OutPoint, ScriptBuf, Transaction, Txid};
use resist_payout::{FundingBlock, Treasury};

use crate::config::check_gap_limit;
use crate::error::ChainError;
use crate::source::ChainSource;
use crate::{MAX_SCAN_INDEX, MAX_UTXOS};

/// What [`sync_treasury`] found and applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncSummary {
    /// Unspent outputs applied.
    pub utxos: usize,
    /// Distinct parent transactions applied.
    pub transactions: usize,
    /// Distinct confirming blocks.
    pub blocks: usize,
    /// Sum of the outputs.
    pub total: Amount,
    /// Indexes of the external (receive) keychain looked up (`0..n`).
    pub external_scanned: u32,
    /// Indexes of the internal (change) keychain looked up (`0..n`).
    pub internal_scanned: u32,
    /// Outputs of the applied transactions that pay the treasury but were
    /// not listed as unspent (spent since, or past the scan): set aside
    /// with `Treasury::exclude_spent`, so the treasury holds exactly the
    /// listed coins.
    pub excluded: usize,
}

/// Looks up the treasury's confirmed coins with `source` and applies them.
///
/// `treasury` must be fresh (no transactions yet, as after
/// `Treasury::new`): sync adds coins and cannot remove spent ones, so a
/// second sync of the same treasury is refused
/// ([`ChainError::TreasuryNotFresh`]). The source must follow the
/// treasury's network ([`ChainError::WrongNetwork`]). See the module notes
/// for the gap-limit rule; `gap_limit` is usually
/// [`crate::ChainConfig::gap_limit`].
///
/// Afterwards the treasury holds exactly the listed coins: outputs of the
/// applied transactions that were not listed are set aside
/// (`Treasury::exclude_spent`, counted in [`SyncSummary::excluded`]).
/// After an error the treasury may hold part of the funding: drop it.
pub async fn sync_treasury(
    treasury: &mut Treasury,
    source: &ChainSource,
    gap_limit: u32,
) -> Result<SyncSummary, ChainError> {
    check_gap_limit(gap_limit)?;
    if treasury.wallet().transactions().next().is_some() {
        return Err(ChainError::TreasuryNotFresh);
    }
    source.check_network(treasury.network()).await?;

    let mut found = Vec::new();
    let mut scanned = [0u32; 2];
    for (slot, keychain) in [KeychainKind::External, KeychainKind::Internal]
        .into_iter()
        .enumerate()
    {
        let (end, last_used) = scan(treasury, source, keychain, gap_limit, &mut found).await?;
        scanned[slot] = end;
        if let Some(index) = last_used {
            treasury.reveal_to(keychain, index);
        }
    }

    // Group by block, one copy of each transaction, in increasing height.
    let mut blocks: BTreeMap<u32, (FundingBlock, Vec<Arc<Transaction>>)> = BTreeMap::new();
    let mut tx_block: HashMap<Txid, BlockHash> = HashMap::new();
    let mut total = Amount::ZERO;
    for f in &found {
        total = total
            .checked_add(f.txout.value)
            .ok_or_else(|| ChainError::InconsistentChain {
                backend: "sync",
                detail: "the outputs add up to more than 21 million bitcoin".into(),
            })?;
        let entry = blocks
            .entry(f.block.height)
            .or_insert_with(|| (f.block, Vec::new()));
        if entry.0 != f.block {
            return Err(ChainError::InconsistentChain {
                backend: "sync",
                detail: format!("two blocks at height {} in two lookups", f.block.height),
            });
        }
        let txid = f.outpoint.txid;
        match tx_block.insert(txid, f.block.hash) {
            None => entry.1.push(Arc::clone(&f.tx)),
            Some(hash) if hash == f.block.hash => {}
            Some(hash) => {
                return Err(ChainError::InconsistentChain {
                    backend: "sync",
                    detail: format!("transaction {txid} in blocks {hash} and {}", f.block.hash),
                });
            }
        }
    }
    let mut summary = SyncSummary {
        utxos: found.len(),
        transactions: tx_block.len(),
        blocks: blocks.len(),
        total,
        external_scanned: scanned[0],
        internal_scanned: scanned[1],
        excluded: 0,
    };
    for (block, txs) in blocks.into_values() {
        treasury.apply_funding(txs.iter().map(|tx| Transaction::clone(tx)), block)?;
    }

    // A parent transaction brings all its outputs: those to the treasury
    // that were not listed are spent (by a transaction not applied) and
    // must not be paid from. Those listed must be unspent in the result.
    let listed: HashSet<OutPoint> = found.iter().map(|f| f.outpoint).collect();
    let held: HashSet<OutPoint> = treasury
        .wallet()
        .list_unspent()
        .map(|u| u.outpoint)
        .collect();
    if let Some(missing) = listed.difference(&held).next() {
        return Err(ChainError::InconsistentChain {
            backend: "sync",
            detail: format!(
                "output {missing} is listed as unspent, but another listed transaction spends it"
            ),
        });
    }
    for outpoint in held.difference(&listed) {
        treasury.exclude_spent(*outpoint);
        summary.excluded += 1;
    }
    tracing::info!(
        utxos = summary.utxos,
        excluded = summary.excluded,
        total_sat = summary.total.to_sat(),
        blocks = summary.blocks,
        "treasury synced"
    );
    Ok(summary)
}

/// Scans one keychain; returns the end of the scanned range and the highest
/// funded index.
async fn scan(
    treasury: &Treasury,
    source: &ChainSource,
    keychain: KeychainKind,
    gap_limit: u32,
    found: &mut Vec<crate::Funding>,
) -> Result<(u32, Option<u32>), ChainError> {
    let wallet = treasury.wallet();
    // A descriptor without a wildcard has one script.
    let wildcard = wallet.public_descriptor(keychain).has_wildcard();
    let mut start = 0u32;
    let mut end = if wildcard { gap_limit } else { 1 };
    let mut last_used: Option<u32> = None;
    loop {
        let scripts: Vec<ScriptBuf> = (start..end)
            .map(|i| wallet.peek_address(keychain, i).script_pubkey())
            .collect();
        let index_of: HashMap<&ScriptBuf, u32> = scripts.iter().zip(start..).collect();
        for funding in source.funding(&scripts).await? {
            if let Some(&index) = index_of.get(&funding.txout.script_pubkey) {
                last_used = last_used.max(Some(index));
            }
            found.push(funding);
            if found.len() > MAX_UTXOS {
                return Err(ChainError::TooManyUtxos {
                    backend: "sync",
                    limit: MAX_UTXOS,
                });
            }
        }
        let wanted = match last_used {
            Some(u) if wildcard => u.saturating_add(gap_limit).saturating_add(1),
            _ => end,
        };
        if wanted <= end {
            return Ok((end, last_used));
        }
        if wanted > MAX_SCAN_INDEX {
            return Err(ChainError::ScanTooDeep {
                keychain: match keychain {
                    KeychainKind::External => "external",
                    KeychainKind::Internal => "internal",
                },
                limit: MAX_SCAN_INDEX,
            });
        }
        start = end;
        end = wanted;
    }
}
