//! The treasury: a watch-only BDK wallet built from two public descriptors.

use std::sync::Arc;

use bdk_wallet::bitcoin::secp256k1::Secp256k1;
use bdk_wallet::bitcoin::{Address, Amount, BlockHash, OutPoint, ScriptBuf, Transaction, TxOut};
use bdk_wallet::chain::{BlockId, ConfirmationBlockTime, TxUpdate};
use bdk_wallet::miniscript::{Descriptor, DescriptorPublicKey};
use bdk_wallet::{KeychainKind, Update, Wallet};
use resist_ownership::Network;

use crate::PayoutError;

/// A watch-only descriptor wallet holding the grants budget.
///
/// Made from an external (receive) and an internal (change) descriptor with
/// extended *public* keys and key origins, e.g.
/// `tr([d34db33f/86'/0'/0']xpub…/0/*)` and `…/1/*` (or `wpkh(…)`). It is
/// created without persistence: the UTXO set comes from a chain source on
/// every run (tests inject funding with [`Treasury::apply_funding`]), so
/// building the same payout twice gives the same PSBT.
#[derive(Debug)]
pub struct Treasury {
    wallet: Wallet,
    network: Network,
    reserved: Vec<OutPoint>,
}

/// A block that confirms funding transactions, for [`Treasury::apply_funding`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FundingBlock {
    /// Its height.
    pub height: u32,
    /// Its hash.
    pub hash: BlockHash,
    /// Its timestamp (Unix seconds).
    pub time: u64,
}

impl Treasury {
    /// Creates the watch-only wallet. Refuses descriptors with private keys
    /// (extended `xprv`/`tprv` or WIF).
    pub fn new(external: &str, internal: &str, network: Network) -> Result<Self, PayoutError> {
        let secp = Secp256k1::new();
        for d in [external, internal] {
            let (_, secret_keys) = Descriptor::<DescriptorPublicKey>::parse_descriptor(&secp, d)
                .map_err(|e| PayoutError::Descriptor(e.to_string()))?;
            if !secret_keys.is_empty() {
                return Err(PayoutError::PrivateKeyInDescriptor);
            }
        }
        let wallet = Wallet::create(external.to_owned(), internal.to_owned())
            .network(network.to_bitcoin())
            .create_wallet_no_persist()
            .map_err(|e| PayoutError::Descriptor(e.to_string()))?;
        Ok(Treasury {
            wallet,
            network,
            reserved: Vec::new(),
        })
    }

    /// The network the treasury is on.
    pub fn network(&self) -> Network {
        self.network
    }

    /// The underlying BDK wallet (read-only: for balances, UTXOs, descriptors).
    pub fn wallet(&self) -> &Wallet {
        &self.wallet
    }

    /// Reveals the next receive address (to fund the treasury).
    pub fn reveal_receive_address(&mut self) -> Address {
        self.wallet
            .reveal_next_address(KeychainKind::External)
            .address
    }

    /// Reveals the scripts of `keychain` up to and including `index`, so that
    /// funding paying any of them counts. BDK only watches 25 scripts past
    /// the last revealed one: a chain source's gap-limit scan that finds a
    /// coin further out calls this before [`Treasury::apply_funding`]. The
    /// scripts themselves can be read with `wallet().peek_address`.
    pub fn reveal_to(&mut self, keychain: KeychainKind, index: u32) {
        self.wallet
            .reveal_addresses_to(keychain, index)
            .for_each(drop);
    }

    /// Whether `script` is one of the treasury's (revealed) scripts.
    pub fn is_mine(&self, script: &ScriptBuf) -> bool {
        self.wallet.is_mine(script.clone())
    }

    /// Confirmed and unconfirmed balance, in satoshis, without the outputs
    /// set aside with [`Treasury::exclude_spent`].
    pub fn balance(&self) -> Amount {
        let excluded: u64 = self
            .wallet
            .list_unspent()
            .filter(|u| self.wallet.is_outpoint_locked(u.outpoint))
            .map(|u| u.txout.value.to_sat())
            .sum();
        Amount::from_sat(
            self.wallet
                .balance()
                .total()
                .to_sat()
                .saturating_sub(excluded),
        )
    }

    /// Sets aside an output of an applied transaction that the chain source
    /// does not list as unspent: it was spent by a transaction the treasury
    /// does not hold (funding brings whole parent transactions, and a parent
    /// may pay the treasury twice and be spent once). The output is never
    /// selected for a payout (BDK's locked outpoints) and not counted in
    /// [`Treasury::balance`].
    pub fn exclude_spent(&mut self, outpoint: OutPoint) {
        self.wallet.lock_outpoint(outpoint);
    }

    /// The output `outpoint` of a transaction the treasury knows, if any.
    pub fn txout(&self, outpoint: OutPoint) -> Option<TxOut> {
        let tx = self.wallet.get_tx(outpoint.txid)?;
        let vout = usize::try_from(outpoint.vout).ok()?;
        tx.tx_node.tx.output.get(vout).cloned()
    }

    /// Adds transactions confirmed in `block` (funding of the treasury) and
    /// makes `block` part of the treasury's chain. Blocks must be applied in
    /// increasing height (a chain source does this later; tests fabricate
    /// them).
    pub fn apply_funding(
        &mut self,
        txs: impl IntoIterator<Item = Transaction>,
        block: FundingBlock,
    ) -> Result<(), PayoutError> {
        let block_id = BlockId {
            height: block.height,
            hash: block.hash,
        };
        let chain = self.wallet.latest_checkpoint().insert(block_id);
        let mut tx_update = TxUpdate::<ConfirmationBlockTime>::default();
        for tx in txs {
            let txid = tx.compute_txid();
            tx_update.txs.push(Arc::new(tx));
            tx_update.anchors.insert((
                ConfirmationBlockTime {
                    block_id,
                    confirmation_time: block.time,
                },
                txid,
            ));
        }
        self.wallet
            .apply_update(Update {
                chain: Some(chain),
                tx_update,
                ..Default::default()
            })
            .map_err(|e| PayoutError::Funding(e.to_string()))
    }

    /// Keeps payouts built from now on off these coins: they are spent by
    /// payouts built earlier (another epoch's batches, perhaps not yet
    /// broadcast), and spending them again would make the two conflict.
    pub fn reserve(&mut self, outpoints: impl IntoIterator<Item = OutPoint>) {
        self.reserved.extend(outpoints);
        self.reserved.sort_unstable();
        self.reserved.dedup();
    }

    /// The coins [`Treasury::reserve`] set aside.
    pub fn reserved(&self) -> &[OutPoint] {
        &self.reserved
    }

    pub(super) fn wallet_mut(&mut self) -> &mut Wallet {
        &mut self.wallet
    }
}
