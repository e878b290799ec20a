//! Grant epochs, from closing to broadcast, and their published reports.
//!
//! The funder's steps, each one admin request that can be repeated safely:
//!
//! 1. **close** (`POST /api/admin/epochs`): the next epoch takes every whole
//!    window since the previous one ended, is scored with the credits the
//!    previous one carried out, and its report is stored and published. The
//!    request names the epoch's number, so a repeated request finds it closed
//!    and changes nothing instead of closing the one after.
//! 2. **psbt** (`POST /api/admin/epochs/{n}/psbt`): the treasury's coins are
//!    read from the chain source and one unsigned PSBT per batch is built and
//!    recorded. Asking again returns the recorded PSBTs, byte for byte.
//! 3. **finalize** (`POST /api/admin/epochs/{n}/finalize`): a PSBT signed in
//!    the funder's wallet is checked against the recorded one (same inputs,
//!    exactly the payees, change to the treasury, every input through
//!    libbitcoinconsensus) and its transaction recorded.
//! 4. **broadcast** (`POST /api/admin/epochs/{n}/broadcast`): the recorded
//!    transactions go to the chain source.
//!
//! The database refuses any other order (see resist-store's migration 0003),
//! so an epoch is paid at most once even with several coordinators.
//! `GET /api/epochs` and `GET /api/epochs/{n}` publish the reports: node
//! addresses appear only as subnet pseudonyms (see [`crate::grants`]).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use resist_grants::Report;
use resist_payout::bitcoin::consensus::encode::{deserialize, serialize};
use resist_payout::bitcoin::hashes::Hash as _;
use resist_payout::bitcoin::{Address, OutPoint, Psbt, Transaction, TxOut, Txid};
use resist_payout::{
    Payee, PayoutError, Treasury, build_payout_psbt, check_signed, psbt_from_base64,
    psbt_from_bytes,
};
use resist_proto::Invalid;
use resist_proto::api::epochs::{
    BatchView, Broadcasted, CloseRequest, EpochDetail, EpochView, ExportedBatch, FinalizeRequest,
    Finalized, PsbtExport,
};
use resist_store::{
    Batch, ConflictKind, Epoch, EpochState, NewBatch, NewEpoch, Recorded, Store, StoreError,
};

use crate::config::PayoutSettings;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, BearerHash};
use crate::grants::{carried_out, epoch_inputs, whole_windows};
use crate::openapi::responses as r;
use crate::{AppState, handlers};

/// Range of the first epoch when the request names none.
const FIRST_EPOCH_RANGE: Duration = Duration::from_secs(7 * 24 * 3600);
/// Most windows one epoch may cover (a year of one-minute windows).
const MAX_EPOCH_WINDOWS: i64 = 366 * 24 * 60;
/// Latest time a request may name (2100-01-01, Unix seconds).
const LATEST_TIME: i64 = 4_102_444_800;
/// Largest signed PSBT taken back (a 3000-payee batch is about 130 kB).
pub const MAX_SIGNED_PSBT_BYTES: usize = 4 << 20;

pub(crate) fn routes<S: Store>() -> Router<Arc<AppState<S>>> {
    Router::new()
        .route("/api/epochs", get(list::<S>))
        .route("/api/epochs/{epoch}", get(show::<S>))
        .route("/api/admin/epochs", post(close::<S>))
        .route("/api/admin/epochs/{epoch}/psbt", post(export::<S>))
        .route(
            "/api/admin/epochs/{epoch}/finalize",
            post(finalize::<S>).layer(axum::extract::DefaultBodyLimit::max(
                MAX_SIGNED_PSBT_BYTES * 4 / 3 + 4096,
            )),
        )
        .route("/api/admin/epochs/{epoch}/broadcast", post(broadcast::<S>))
}

// --- handlers ------------------------------------------------------------------

/// Every closed epoch, oldest first (public).
#[utoipa::path(get, path = "/api/epochs", tag = "public",
    responses((status = 200, description = "Closed epochs", body = [EpochView]), r::Unavailable))]
pub(crate) async fn list<S: Store>(
    State(state): State<Arc<AppState<S>>>,
) -> Result<Json<Vec<EpochView>>, ApiError> {
    // Every batch in one read, not one query per epoch.
    let batches = state.store.batches().await?;
    let mut out = Vec::new();
    for e in state.store.epochs().await? {
        let own: Vec<Batch> = batches
            .iter()
            .filter(|b| b.epoch == e.epoch)
            .cloned()
            .collect();
        out.push(view(&state, &e, &own)?.0);
    }
    Ok(Json(out))
}

/// One closed epoch with its report and payout transactions (public).
#[utoipa::path(get, path = "/api/epochs/{epoch}", tag = "public",
    params(("epoch" = i64, Path, minimum = 1, description = "The epoch's number")),
    responses((status = 200, description = "The epoch, its report and batches", body = EpochDetail),
        r::Invalid, r::NotFound, r::Unavailable))]
pub(crate) async fn show<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    ApiPath(epoch): ApiPath<i64>,
) -> Result<Json<EpochDetail>, ApiError> {
    Ok(Json(detail(&state, &find(&state, epoch).await?).await?))
}

/// Closes the next epoch and publishes its report (admin).
#[utoipa::path(post, path = "/api/admin/epochs", tag = "admin", request_body = CloseRequest,
    responses((status = 201, description = "Closed now", body = EpochDetail),
        (status = 200, description = "Closed before with the same budget; nothing changed", body = EpochDetail),
        r::Invalid, r::Unauthorized, r::Conflict, r::TooLarge, r::Unavailable),
    security(("admin_token" = [])))]
pub(crate) async fn close<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    bearer: BearerHash,
    ApiJson(req): ApiJson<CloseRequest>,
) -> Result<(StatusCode, Json<EpochDetail>), ApiError> {
    handlers::admin(&state, &bearer)?;
    if req.epoch < 1 {
        return Err(Invalid::new("epoch", "epochs are numbered from 1").into());
    }
    for (field, value) in [("to", req.to), ("from", req.from)] {
        if value.is_some_and(|t| !(0..=LATEST_TIME).contains(&t)) {
            return Err(Invalid::new(
                field,
                format!("a time in Unix seconds between 0 and {LATEST_TIME} (the year 2100)"),
            )
            .into());
        }
    }
    if req.budget_sat > 2_100_000_000_000_000 {
        return Err(Invalid::new("budget_sat", "more than 21 million bitcoin").into());
    }
    let epochs = state.store.epochs().await?;
    if let Some(done) = epochs.iter().find(|e| e.epoch == req.epoch) {
        return already_closed(&state, done, req.budget_sat).await;
    }
    let previous = epochs.last();
    let next = previous.map_or(1, |e| e.epoch + 1);
    if req.epoch != next {
        return Err(ApiError::Refused(format!(
            "epoch {} cannot be closed: the next epoch to close is {next}",
            req.epoch
        )));
    }
    let m = &state.settings.measurement;
    let now = state.clock.now().seconds();
    let to = req.to.unwrap_or(now).min(now);
    let first = match (previous, req.from) {
        (Some(_), Some(_)) => {
            return Err(Invalid::new(
                "from",
                "only the first epoch takes `from`; later ones start where the previous ended",
            )
            .into());
        }
        (Some(p), None) => p.last_window + 1,
        (None, from) => {
            let from = from.unwrap_or_else(|| to.saturating_sub(secs(FIRST_EPOCH_RANGE)));
            whole_windows(m, from, to).0
        }
    };
    let last = whole_windows(m, 0, to).1;
    if last < first {
        return Err(ApiError::Refused(format!(
            "epoch {next} has no whole window yet: it starts at {} (Unix seconds) and the first \
             window ends at {}; close it after that",
            m.window_start(first),
            m.window_start(first.saturating_add(1)),
        )));
    }
    if last - first >= MAX_EPOCH_WINDOWS {
        return Err(Invalid::new(
            "to",
            format!(
                "an epoch covers at most {MAX_EPOCH_WINDOWS} windows; close an earlier end first"
            ),
        )
        .into());
    }
    let credits = match previous {
        Some(p) => carried_out(p)?,
        None => BTreeMap::new(),
    };
    let mut inputs = epoch_inputs(&state, req.budget_sat, first, last, &credits).await?;
    inputs.epoch = u64::try_from(next).unwrap_or(0);
    let report = Report::new(inputs).map_err(|e| Invalid::new("budget_sat", e.to_string()))?;
    let text = report
        .to_json()
        .map_err(|e| ApiError::Internal(format!("report of epoch {next}: {e}")))?;
    let new = NewEpoch {
        epoch: next,
        first_window: first,
        last_window: last,
        budget_sat: req.budget_sat,
        report: text,
    };
    match state.store.close_epoch(&new, state.clock.now()).await {
        Ok(e) => {
            tracing::info!(
                epoch = e.epoch,
                first,
                last,
                budget_sat = e.budget_sat,
                "epoch closed"
            );
            Ok((StatusCode::CREATED, Json(detail(&state, &e).await?)))
        }
        // Another coordinator (or a request racing this one) closed it first.
        Err(StoreError::Conflict(ConflictKind::Epoch)) => {
            let done = find(&state, next).await?;
            already_closed(&state, &done, req.budget_sat).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn already_closed<S: Store>(
    state: &AppState<S>,
    done: &Epoch,
    budget_sat: u64,
) -> Result<(StatusCode, Json<EpochDetail>), ApiError> {
    if done.budget_sat == budget_sat {
        Ok((StatusCode::OK, Json(detail(state, done).await?)))
    } else {
        Err(ApiError::Refused(format!(
            "epoch {} is closed already, with a budget of {} sat (not {budget_sat}); nothing changed",
            done.epoch, done.budget_sat
        )))
    }
}

/// Builds and records the epoch's unsigned payout, or returns the recorded one (admin).
#[utoipa::path(post, path = "/api/admin/epochs/{epoch}/psbt", tag = "admin",
    params(("epoch" = i64, Path, minimum = 1, description = "The epoch's number")),
    responses((status = 200, description = "The unsigned PSBTs (recorded now or before)", body = PsbtExport),
        r::Invalid, r::Unauthorized, r::NotFound, r::Conflict, r::Unavailable),
    security(("admin_token" = [])))]
pub(crate) async fn export<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    bearer: BearerHash,
    ApiPath(epoch): ApiPath<i64>,
) -> Result<Json<PsbtExport>, ApiError> {
    handlers::admin(&state, &bearer)?;
    let e = find(&state, epoch).await?;
    if e.state != EpochState::Closed {
        return recorded_export(&state, &e, false).await;
    }
    let payout = payout_settings(&state)?;
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
    let mut treasury = treasury(&state, payout)?;
    chain
        .sync(&mut treasury)
        .await
        .map_err(ApiError::ChainUnavailable)?;
    // Coins another epoch's batches spend (perhaps not broadcast yet) stay out.
    let mut reserved = Vec::new();
    for b in state.store.batches().await? {
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
            payees: u32::try_from(b.payees.len()).map_err(|e| ApiError::Internal(e.to_string()))?,
            amount_sat: b.payees.iter().map(|p| p.amount_sat).sum(),
            fee_sat: b.fee.to_sat(),
        });
    }
    let recorded = state
        .store
        .record_export(epoch, &batches, state.clock.now())
        .await?;
    let e = find(&state, epoch).await?;
    if let Recorded::Now(_) = recorded {
        tracing::info!(epoch, batches = batches.len(), "payout exported");
    }
    recorded_export(&state, &e, matches!(recorded, Recorded::Now(_))).await
}

/// Checks a signed PSBT against the recorded batch and records its transaction (admin).
#[utoipa::path(post, path = "/api/admin/epochs/{epoch}/finalize", tag = "admin",
    params(("epoch" = i64, Path, minimum = 1, description = "The epoch's number")),
    request_body = FinalizeRequest,
    responses((status = 200, description = "Checked and recorded (now or before)", body = Finalized),
        r::Invalid, r::Unauthorized, r::NotFound, r::Conflict, r::TooLarge, r::Unavailable),
    security(("admin_token" = [])))]
pub(crate) async fn finalize<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    bearer: BearerHash,
    ApiPath(epoch): ApiPath<i64>,
    ApiJson(req): ApiJson<FinalizeRequest>,
) -> Result<Json<Finalized>, ApiError> {
    handlers::admin(&state, &bearer)?;
    let e = find(&state, epoch).await?;
    if e.state == EpochState::Closed {
        return Err(ApiError::Refused(format!(
            "epoch {epoch} has no payout yet: export it first (`resist grants psbt --epoch {epoch}`)"
        )));
    }
    let payout = payout_settings(&state)?;
    let signed = psbt_from_base64(&req.psbt).map_err(|e| Invalid::new("psbt", e.to_string()))?;
    let batches = state.store.batches_of(epoch).await?;
    let first_input = signed.unsigned_tx.input.first().map(|i| i.previous_output);
    let Some(batch) = batches.iter().find(|b| {
        unsigned_of(b)
            .is_ok_and(|u| u.unsigned_tx.input.first().map(|i| i.previous_output) == first_input)
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
    let treasury = treasury(&state, payout)?;
    let payees = batch_payees(&state, &treasury, &unsigned, &stored_report(&e)?)?;
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
    let recorded = state
        .store
        .record_signed(
            epoch,
            batch.unsigned.batch,
            &serialize(&checked.tx),
            state.clock.now(),
        )
        .await?;
    let (recorded_now, epoch_state) = match recorded {
        Recorded::Now(s) => (true, s),
        Recorded::Already(s) => (false, s),
    };
    let after = state.store.batches_of(epoch).await?;
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
    Ok(Json(Finalized {
        epoch,
        batch: batch.unsigned.batch,
        txid: checked.txid.to_string(),
        state: epoch_state.to_string(),
        recorded_now,
        unsigned_batches: u32::try_from(unsigned_batches).unwrap_or(u32::MAX),
        tx_hex: hex::encode(stored),
    }))
}

/// Sends the epoch's signed transactions through the chain source (admin).
#[utoipa::path(post, path = "/api/admin/epochs/{epoch}/broadcast", tag = "admin",
    params(("epoch" = i64, Path, minimum = 1, description = "The epoch's number")),
    responses((status = 200, description = "Every batch sent (now or before)", body = Broadcasted),
        r::Invalid, r::Unauthorized, r::NotFound, r::Conflict, r::Unavailable),
    security(("admin_token" = [])))]
pub(crate) async fn broadcast<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    bearer: BearerHash,
    ApiPath(epoch): ApiPath<i64>,
) -> Result<Json<Broadcasted>, ApiError> {
    handlers::admin(&state, &bearer)?;
    let e = find(&state, epoch).await?;
    if e.state < EpochState::Signed {
        let batches = state.store.batches_of(epoch).await?;
        let signed = batches.iter().filter(|b| b.signed_tx.is_some()).count();
        return Err(ApiError::Refused(format!(
            "epoch {epoch} is {}: {signed} of {} batches signed; finalize every batch before broadcasting",
            e.state,
            batches.len()
        )));
    }
    let mut txids = Vec::new();
    for b in state.store.batches_of(epoch).await? {
        let Some(raw) = b.signed_tx.as_deref() else {
            return Err(ApiError::Internal(format!(
                "epoch {epoch} signed without batch {}",
                b.unsigned.batch
            )));
        };
        let tx: Transaction = deserialize(raw)
            .map_err(|e| ApiError::Internal(format!("stored transaction of epoch {epoch}: {e}")))?;
        if b.broadcast_at.is_none() {
            let chain = payout_settings(&state)?
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
            state
                .store
                .record_broadcast(epoch, b.unsigned.batch, state.clock.now())
                .await?;
            tracing::info!(epoch, batch = b.unsigned.batch, %txid, "payout broadcast");
        }
        txids.push(tx.compute_txid().to_string());
    }
    let e = find(&state, epoch).await?;
    Ok(Json(Broadcasted {
        epoch,
        state: e.state.to_string(),
        txids,
    }))
}

// --- helpers -------------------------------------------------------------------

/// Every closed epoch's summary, oldest first (every batch in one read, not
/// one query per epoch). Shared by the JSON list and the `/epochs` page.
pub(crate) async fn summaries<S: Store>(state: &AppState<S>) -> Result<Vec<EpochView>, ApiError> {
    let batches = state.store.batches().await?;
    let mut out = Vec::new();
    for e in state.store.epochs().await? {
        let own: Vec<Batch> = batches
            .iter()
            .filter(|b| b.epoch == e.epoch)
            .cloned()
            .collect();
        out.push(view(state, &e, &own)?.0);
    }
    Ok(out)
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

pub(crate) async fn find<S: Store>(state: &AppState<S>, epoch: i64) -> Result<Epoch, ApiError> {
    if epoch < 1 {
        return Err(Invalid::new("epoch", "epochs are numbered from 1").into());
    }
    state
        .store
        .epoch(epoch)
        .await?
        .ok_or(ApiError::NotFound("epoch"))
}

fn stored_report(e: &Epoch) -> Result<Report, ApiError> {
    Report::from_json(&e.report)
        .map_err(|err| ApiError::Internal(format!("stored report of epoch {}: {err}", e.epoch)))
}

fn payout_settings<S>(state: &AppState<S>) -> Result<&PayoutSettings, ApiError> {
    state.settings.payout.as_ref().ok_or_else(|| {
        ApiError::NotConfigured(
            "no treasury: set [payout] treasury_external and treasury_internal in the coordinator's configuration"
                .into(),
        )
    })
}

fn treasury<S>(state: &AppState<S>, payout: &PayoutSettings) -> Result<Treasury, ApiError> {
    Treasury::new(
        &payout.treasury_external,
        &payout.treasury_internal,
        state.settings.network,
    )
    .map_err(|e| ApiError::Internal(format!("treasury descriptors: {e}")))
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

/// The payees of a recorded batch: its outputs but the change, each of which
/// must be one of the report's payments (the batch was built from them).
fn batch_payees<S>(
    state: &AppState<S>,
    treasury: &Treasury,
    unsigned: &Psbt,
    report: &Report,
) -> Result<Vec<Payee>, ApiError> {
    let due = Payee::from_epoch(&report.inputs, &report.result);
    let network = state.settings.network.to_bitcoin();
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

fn build_refusal(treasury: &Treasury, e: &PayoutError) -> ApiError {
    match e {
        PayoutError::Build { .. } | PayoutError::NoPayees => ApiError::Refused(format!(
            "cannot build the payout: {e} (the treasury holds {} sat in confirmed coins not reserved by other epochs; fund it or lower the fee rate)",
            treasury.balance().to_sat()
        )),
        other => ApiError::Internal(format!("building the payout: {other}")),
    }
}

fn txid_hex(b: &Batch) -> String {
    Txid::from_byte_array(b.unsigned.txid).to_string()
}

fn batch_view(b: &Batch) -> BatchView {
    BatchView {
        batch: b.unsigned.batch,
        txid: txid_hex(b),
        payees: b.unsigned.payees,
        amount_sat: b.unsigned.amount_sat,
        fee_sat: b.unsigned.fee_sat,
        signed: b.signed_tx.is_some(),
        broadcast: b.broadcast_at.is_some(),
    }
}

fn view<S>(
    state: &AppState<S>,
    e: &Epoch,
    batches: &[Batch],
) -> Result<(EpochView, Report), ApiError> {
    let report = stored_report(e)?;
    let r = &report.result;
    let m = &state.settings.measurement;
    Ok((
        EpochView {
            epoch: e.epoch,
            state: e.state.to_string(),
            first_window: e.first_window,
            last_window: e.last_window,
            starts_at: m.window_start(e.first_window),
            ends_at: m.window_start(e.last_window.saturating_add(1)),
            budget_sat: e.budget_sat,
            paid_sat: r.per_operator.iter().map(|o| o.paid_sat).sum(),
            carried_sat: r.per_operator.iter().map(|o| o.carried_out_sat).sum(),
            remainder_sat: r.remainder_sat,
            closed_at: e.closed_at.seconds(),
            txids: batches.iter().map(txid_hex).collect(),
        },
        report,
    ))
}

pub(crate) async fn detail<S: Store>(
    state: &AppState<S>,
    e: &Epoch,
) -> Result<EpochDetail, ApiError> {
    let batches = state.store.batches_of(e.epoch).await?;
    let (summary, report) = view(state, e, &batches)?;
    Ok(EpochDetail {
        summary,
        report,
        batches: batches.iter().map(batch_view).collect(),
    })
}

async fn recorded_export<S: Store>(
    state: &AppState<S>,
    e: &Epoch,
    built_now: bool,
) -> Result<Json<PsbtExport>, ApiError> {
    use base64::Engine as _;
    let batches = state.store.batches_of(e.epoch).await?;
    Ok(Json(PsbtExport {
        epoch: e.epoch,
        state: e.state.to_string(),
        built_now,
        batches: batches
            .iter()
            .map(|b| ExportedBatch {
                batch: batch_view(b),
                psbt: base64::engine::general_purpose::STANDARD.encode(&b.unsigned.psbt),
            })
            .collect(),
    }))
}
