//! The funder's steps through a grant epoch — close, export, finalize,
//! broadcast — as plain functions over the store, the settings and a clock.
//!
//! Nothing here knows HTTP: the handlers in `epochs` parse a request, call
//! one step and map its answer to a body and a status, and anything else
//! that can reach a [`Store`] (a simulation, a command) can call the same
//! steps. Each step can be repeated safely: the store's conditional changes
//! decide races between coordinators, and a step that finds its work done
//! says so instead of doing it twice.

use std::collections::BTreeMap;
use std::time::Duration;

use resist_clock::Clock;
use resist_grants::{EpochRange, RangeError, RangeRequest, RangeRules, Report};
use resist_payout::bitcoin::consensus::encode::{deserialize, serialize};
use resist_payout::bitcoin::hashes::Hash as _;
use resist_payout::bitcoin::{Address, OutPoint, Psbt, Transaction, TxOut, Txid};
use resist_payout::{
    Payee, PayoutError, Treasury, build_payout_psbt, check_signed, psbt_from_base64,
    psbt_from_bytes,
};
use resist_proto::Invalid;
use resist_store::{
    Batch, ConflictKind, Epoch, EpochState, NewBatch, NewEpoch, Recorded, Store, StoreError,
};

use crate::config::{PayoutSettings, Settings};
use crate::error::ApiError;
use crate::grants::{carried_out, epoch_inputs};

/// Range of the first epoch when the request names none.
const FIRST_EPOCH_RANGE: Duration = Duration::from_secs(7 * 24 * 3600);
/// Most windows one epoch may cover (a year of one-minute windows).
const MAX_EPOCH_WINDOWS: i64 = 366 * 24 * 60;

/// The epochs of one store, with the settings and clock they are kept by.
pub struct Ledger<'a, S> {
    store: &'a S,
    settings: &'a Settings,
    clock: &'a dyn Clock,
}

impl<S> std::fmt::Debug for Ledger<'_, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger").finish_non_exhaustive()
    }
}

/// What closing did.
#[derive(Debug)]
pub enum Closing {
    /// This call closed the epoch.
    Now(Epoch),
    /// It was closed before with the same budget; nothing changed.
    Before(Epoch),
}

/// A signed batch as recorded.
#[derive(Debug)]
pub struct SignedBatch {
    /// Its index in the epoch.
    pub batch: u32,
    /// The id of the transaction checked by this call.
    pub txid: Txid,
    /// The epoch's state afterwards.
    pub state: EpochState,
    /// False when the batch was recorded signed before (the first stands).
    pub recorded_now: bool,
    /// Batches of the epoch still to sign.
    pub unsigned_batches: u32,
    /// The recorded transaction (consensus encoding).
    pub tx: Vec<u8>,
}

impl<'a, S: Store> Ledger<'a, S> {
    /// The ledger over `store`.
    pub fn new(store: &'a S, settings: &'a Settings, clock: &'a dyn Clock) -> Self {
        Self {
            store,
            settings,
            clock,
        }
    }

    /// The closed epoch with this number.
    pub async fn find(&self, epoch: i64) -> Result<Epoch, ApiError> {
        if epoch < 1 {
            return Err(Invalid::new("epoch", "epochs are numbered from 1").into());
        }
        self.store
            .epoch(epoch)
            .await?
            .ok_or(ApiError::NotFound("epoch"))
    }

    /// Closes epoch `epoch` over the whole windows up to `to` (and from
    /// `from`, for the first), distributing `budget_sat` plus the credits the
    /// previous epoch carried out. Repeating it with the same budget finds it
    /// closed and changes nothing.
    pub async fn close(
        &self,
        epoch: i64,
        budget_sat: u64,
        from: Option<i64>,
        to: Option<i64>,
    ) -> Result<Closing, ApiError> {
        let epochs = self.store.epochs().await?;
        if let Some(done) = epochs.iter().find(|e| e.epoch == epoch) {
            return already_closed(done, budget_sat);
        }
        let previous = epochs.last();
        let next = previous.map_or(1, |e| e.epoch + 1);
        if epoch != next {
            return Err(ApiError::Refused(format!(
                "epoch {} cannot be closed: the next epoch to close is {next}",
                epoch
            )));
        }
        let now = self.clock.now().seconds();
        let rules = RangeRules {
            windows: self.settings.measurement.windows(),
            first_epoch_span: FIRST_EPOCH_RANGE,
            max_windows: MAX_EPOCH_WINDOWS,
        };
        let EpochRange { first, last } = rules
            .next(RangeRequest {
                previous_last: previous.map(|p| p.last_window),
                from,
                to: to.unwrap_or(now).min(now),
            })
            .map_err(|e| match e {
                RangeError::StartOfALaterEpoch => Invalid::new("from", e.to_string()).into(),
                RangeError::NoWholeWindowYet { .. } => ApiError::Refused(format!(
                    "epoch {next} has no whole window yet: {e}; close it after that"
                )),
                _ => Invalid::new("to", e.to_string()).into(),
            })?;
        let credits = match previous {
            Some(p) => carried_out(p)?,
            None => BTreeMap::new(),
        };
        let mut inputs =
            epoch_inputs(self.store, self.settings, budget_sat, first, last, &credits).await?;
        inputs.epoch = u64::try_from(next).unwrap_or(0);
        let report = Report::new(inputs).map_err(|e| Invalid::new("budget_sat", e.to_string()))?;
        let text = report
            .to_json()
            .map_err(|e| ApiError::Internal(format!("report of epoch {next}: {e}")))?;
        let new = NewEpoch {
            epoch: next,
            first_window: first,
            last_window: last,
            budget_sat,
            report: text,
        };
        match self.store.close_epoch(&new, self.clock.now()).await {
            Ok(e) => {
                tracing::info!(
                    epoch = e.epoch,
                    first,
                    last,
                    budget_sat = e.budget_sat,
                    "epoch closed"
                );
                Ok(Closing::Now(e))
            }
            // Another coordinator (or a request racing this one) closed it first.
            Err(StoreError::Conflict(ConflictKind::Epoch)) => {
                let done = self.find(next).await?;
                already_closed(&done, budget_sat)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Builds and records the epoch's unsigned payout batches, or finds them
    /// recorded. Returns the epoch afterwards and whether this call built them.
    pub async fn export(&self, epoch: i64) -> Result<(Epoch, bool), ApiError> {
        let e = self.find(epoch).await?;
        if e.state != EpochState::Closed {
            return Ok((e, false));
        }
        let payout = self.payout_settings()?;
        let Some(chain) = payout.chain.as_ref() else {
            return Err(ApiError::NotConfigured(
                "no chain source: set [payout.chain] in the coordinator's configuration to read the treasury's coins"
                    .into(),
            ));
        };
        let report = stored_report(&e)?;
        let payees = Payee::from_epoch(&report.inputs, &report.result);
        if payees.is_empty() {
            return Err(ApiError::Refused(format!(
                "epoch {epoch} pays nobody (every amount is carried over to the next epoch): there is nothing to sign"
            )));
        }
        let mut treasury = self.treasury(payout)?;
        chain
            .sync(&mut treasury)
            .await
            .map_err(ApiError::ChainUnavailable)?;
        // Coins another epoch's batches spend (perhaps not broadcast yet) stay out.
        let mut reserved = Vec::new();
        for b in self.store.batches().await? {
            if b.epoch != epoch {
                reserved.extend(inputs_of(&b)?);
            }
        }
        treasury.reserve(reserved);
        let seed = u64::try_from(epoch).unwrap_or(0);
        let built = build_payout_psbt(&mut treasury, &payees, payout.fee_rate_sat_per_vb, seed)
            .map_err(|e| build_refusal(&treasury, &e))?;
        let mut batches = Vec::with_capacity(built.len());
        for (i, b) in built.iter().enumerate() {
            batches.push(NewBatch {
                batch: u32::try_from(i).map_err(|e| ApiError::Internal(e.to_string()))?,
                psbt: b.to_bytes(),
                txid: b.txid().to_byte_array(),
                payees: u32::try_from(b.payees.len())
                    .map_err(|e| ApiError::Internal(e.to_string()))?,
                amount_sat: b.payees.iter().map(|p| p.amount_sat).sum(),
                fee_sat: b.fee.to_sat(),
            });
        }
        let recorded = self
            .store
            .record_export(epoch, &batches, self.clock.now())
            .await?;
        let e = self.find(epoch).await?;
        if let Recorded::Now(_) = recorded {
            tracing::info!(epoch, batches = batches.len(), "payout exported");
        }
        Ok((e, matches!(recorded, Recorded::Now(_))))
    }

    /// Checks a PSBT signed in the funder's wallet (base64) against the
    /// recorded batch it spends from and records its transaction.
    pub async fn finalize(&self, epoch: i64, signed_psbt: &str) -> Result<SignedBatch, ApiError> {
        let e = self.find(epoch).await?;
        if e.state == EpochState::Closed {
            return Err(ApiError::Refused(format!(
                "epoch {epoch} has no payout yet: export it first (`resist grants psbt --epoch {epoch}`)"
            )));
        }
        let payout = self.payout_settings()?;
        let signed =
            psbt_from_base64(signed_psbt).map_err(|e| Invalid::new("psbt", e.to_string()))?;
        let batches = self.store.batches_of(epoch).await?;
        let first_input = signed.unsigned_tx.input.first().map(|i| i.previous_output);
        let Some(batch) = batches.iter().find(|b| {
            unsigned_of(b).is_ok_and(|u| {
                u.unsigned_tx.input.first().map(|i| i.previous_output) == first_input
            })
        }) else {
            return Err(Invalid::new(
                "psbt",
                format!(
                    "this PSBT spends none of the coins of epoch {epoch}'s batches: is it from another epoch, or rebuilt by the wallet?"
                ),
            )
            .into());
        };
        let unsigned = unsigned_of(batch)?;
        let treasury = self.treasury(payout)?;
        let payees = self.batch_payees(&treasury, &unsigned, &stored_report(&e)?)?;
        let spent: Vec<TxOut> = unsigned
            .inputs
            .iter()
            .map(|i| i.witness_utxo.clone())
            .collect::<Option<_>>()
            .ok_or_else(|| {
                ApiError::Internal(format!(
                    "batch {} of epoch {epoch} without witness UTXOs",
                    batch.unsigned.batch
                ))
            })?;
        let checked = check_signed(&treasury, &unsigned, &signed, &payees, &spent)
            .map_err(|e| Invalid::new("psbt", e.to_string()))?;
        let recorded = self
            .store
            .record_signed(
                epoch,
                batch.unsigned.batch,
                &serialize(&checked.tx),
                self.clock.now(),
            )
            .await?;
        let (recorded_now, epoch_state) = match recorded {
            Recorded::Now(s) => (true, s),
            Recorded::Already(s) => (false, s),
        };
        let after = self.store.batches_of(epoch).await?;
        let unsigned_batches = after.iter().filter(|b| b.signed_tx.is_none()).count();
        // The transaction recorded first stands: show that one.
        let stored = after
            .into_iter()
            .find(|b| b.unsigned.batch == batch.unsigned.batch)
            .and_then(|b| b.signed_tx)
            .unwrap_or_else(|| serialize(&checked.tx));
        if recorded_now {
            tracing::info!(epoch, batch = batch.unsigned.batch, txid = %checked.txid, "payout signed");
        }
        Ok(SignedBatch {
            batch: batch.unsigned.batch,
            txid: checked.txid,
            state: epoch_state,
            recorded_now,
            unsigned_batches: u32::try_from(unsigned_batches).unwrap_or(u32::MAX),
            tx: stored,
        })
    }

    /// Sends each signed batch not sent yet through the chain source. Returns
    /// the epoch afterwards and every batch's txid.
    pub async fn broadcast(&self, epoch: i64) -> Result<(Epoch, Vec<Txid>), ApiError> {
        let e = self.find(epoch).await?;
        if e.state < EpochState::Signed {
            let batches = self.store.batches_of(epoch).await?;
            let signed = batches.iter().filter(|b| b.signed_tx.is_some()).count();
            return Err(ApiError::Refused(format!(
                "epoch {epoch} is {}: {signed} of {} batches signed; finalize every batch before broadcasting",
                e.state,
                batches.len()
            )));
        }
        let mut txids = Vec::new();
        for b in self.store.batches_of(epoch).await? {
            let Some(raw) = b.signed_tx.as_deref() else {
                return Err(ApiError::Internal(format!(
                    "epoch {epoch} signed without batch {}",
                    b.unsigned.batch
                )));
            };
            let tx: Transaction = deserialize(raw).map_err(|e| {
                ApiError::Internal(format!("stored transaction of epoch {epoch}: {e}"))
            })?;
            if b.broadcast_at.is_none() {
                let chain = self.payout_settings()?
                    .chain
                    .as_ref()
                    .ok_or_else(|| ApiError::NotConfigured(
                        "no chain source: set [payout.chain], or broadcast the recorded transaction (`resist grants show`) with any Bitcoin node".into(),
                    ))?;
                let txid = chain
                    .broadcast(&tx)
                    .await
                    .map_err(ApiError::ChainUnavailable)?;
                if txid != tx.compute_txid() {
                    return Err(ApiError::ChainUnavailable(format!(
                        "the chain source answered txid {txid} for {}",
                        tx.compute_txid()
                    )));
                }
                self.store
                    .record_broadcast(epoch, b.unsigned.batch, self.clock.now())
                    .await?;
                tracing::info!(epoch, batch = b.unsigned.batch, %txid, "payout broadcast");
            }
            txids.push(tx.compute_txid());
        }
        Ok((self.find(epoch).await?, txids))
    }

    fn payout_settings(&self) -> Result<&'a PayoutSettings, ApiError> {
        self.settings.payout.as_ref().ok_or_else(|| {
            ApiError::NotConfigured(
                "no treasury: set [payout] treasury_external and treasury_internal in the coordinator's configuration"
                    .into(),
            )
        })
    }

    fn treasury(&self, payout: &PayoutSettings) -> Result<Treasury, ApiError> {
        Treasury::new(
            &payout.treasury_external,
            &payout.treasury_internal,
            self.settings.network,
        )
        .map_err(|e| ApiError::Internal(format!("treasury descriptors: {e}")))
    }

    /// The payees of a recorded batch: its outputs but the change, each of which
    /// must be one of the report's payments (the batch was built from them).
    fn batch_payees(
        &self,
        treasury: &Treasury,
        unsigned: &Psbt,
        report: &Report,
    ) -> Result<Vec<Payee>, ApiError> {
        let due = Payee::from_epoch(&report.inputs, &report.result);
        let network = self.settings.network.to_bitcoin();
        let mut payees = Vec::new();
        for out in &unsigned.unsigned_tx.output {
            if treasury.is_mine(&out.script_pubkey) {
                continue;
            }
            let address = Address::from_script(&out.script_pubkey, network).map_err(|e| {
                ApiError::Internal(format!("recorded batch pays a script without address: {e}"))
            })?;
            let payee = due
                .iter()
                .find(|p| {
                    p.amount_sat == out.value.to_sat()
                        && p.address
                            .parse::<Address<_>>()
                            .is_ok_and(|a| a.assume_checked().script_pubkey() == out.script_pubkey)
                })
                .ok_or_else(|| {
                    ApiError::Internal(format!("recorded batch pays {address}, not in the report"))
                })?;
            payees.push(payee.clone());
        }
        Ok(payees)
    }
}

/// A repeated close: the same budget finds the epoch as it was closed;
/// another budget is refused (a second epoch is never closed by mistake).
fn already_closed(done: &Epoch, budget_sat: u64) -> Result<Closing, ApiError> {
    if done.budget_sat == budget_sat {
        Ok(Closing::Before(done.clone()))
    } else {
        Err(ApiError::Refused(format!(
            "epoch {} is closed already, with a budget of {} sat (not {budget_sat}); nothing changed",
            done.epoch, done.budget_sat
        )))
    }
}

fn stored_report(e: &Epoch) -> Result<Report, ApiError> {
    Report::from_json(&e.report)
        .map_err(|err| ApiError::Internal(format!("stored report of epoch {}: {err}", e.epoch)))
}

fn unsigned_of(b: &Batch) -> Result<Psbt, ApiError> {
    psbt_from_bytes(&b.unsigned.psbt).map_err(|e| {
        ApiError::Internal(format!(
            "stored PSBT of epoch {} batch {}: {e}",
            b.epoch, b.unsigned.batch
        ))
    })
}

fn inputs_of(b: &Batch) -> Result<Vec<OutPoint>, ApiError> {
    Ok(unsigned_of(b)?
        .unsigned_tx
        .input
        .iter()
        .map(|i| i.previous_output)
        .collect())
}

fn build_refusal(treasury: &Treasury, e: &PayoutError) -> ApiError {
    match e {
        PayoutError::Build { .. } | PayoutError::NoPayees => ApiError::Refused(format!(
            "cannot build the payout: {e} (the treasury holds {} sat in confirmed coins not reserved by other epochs; fund it or lower the fee rate)",
            treasury.balance().to_sat()
        )),
        other => ApiError::Internal(format!("building the payout: {other}")),
    }
}
