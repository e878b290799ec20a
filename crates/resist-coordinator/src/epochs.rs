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

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use resist_grants::Report;
use resist_payout::bitcoin::Txid;
use resist_payout::bitcoin::hashes::Hash as _;
use resist_proto::Invalid;
use resist_proto::api::epochs::{
    BatchView, Broadcasted, CloseRequest, EpochDetail, EpochView, ExportedBatch, FinalizeRequest,
    Finalized, PsbtExport,
};
use resist_store::{Batch, Epoch, Store};

use crate::AppState;
use crate::auth::Admin;
use crate::error::ApiError;
use crate::error::responses as r;
use crate::extract::{ApiJson, ApiPath};
use crate::ledger::Closing;

/// Latest time a request may name (2100-01-01, Unix seconds).
const LATEST_TIME: i64 = 4_102_444_800;
/// Largest signed PSBT taken back (a 3000-payee batch is about 130 kB).
pub const MAX_SIGNED_PSBT_BYTES: usize = 4 << 20;

// --- handlers ------------------------------------------------------------------

/// Every closed epoch, oldest first (public).
#[utoipa::path(get, path = "/api/epochs", tag = "public",
    responses((status = 200, description = "Closed epochs", body = [EpochView]), r::Unavailable))]
pub(crate) async fn list<S: Store>(
    State(state): State<Arc<AppState<S>>>,
) -> Result<Json<Vec<EpochView>>, ApiError> {
    Ok(Json(summaries(&state).await?))
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
    Ok(Json(
        detail(&state, &state.ledger().find(epoch).await?).await?,
    ))
}

/// Closes the next epoch and publishes its report (admin).
#[utoipa::path(post, path = "/api/admin/epochs", tag = "admin", request_body = CloseRequest,
    responses((status = 201, description = "Closed now", body = EpochDetail),
        (status = 200, description = "Closed before with the same budget; nothing changed", body = EpochDetail),
        r::Invalid, r::Unauthorized, r::Conflict, r::TooLarge, r::Unavailable),
    security(("admin_token" = [])))]
pub(crate) async fn close<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    _: Admin,
    ApiJson(req): ApiJson<CloseRequest>,
) -> Result<(StatusCode, Json<EpochDetail>), ApiError> {
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
    let (status, closed) = match state
        .ledger()
        .close(req.epoch, req.budget_sat, req.from, req.to)
        .await?
    {
        Closing::Now(e) => (StatusCode::CREATED, e),
        Closing::Before(e) => (StatusCode::OK, e),
    };
    Ok((status, Json(detail(&state, &closed).await?)))
}

/// Builds and records the epoch's unsigned payout, or returns the recorded one (admin).
#[utoipa::path(post, path = "/api/admin/epochs/{epoch}/psbt", tag = "admin",
    params(("epoch" = i64, Path, minimum = 1, description = "The epoch's number")),
    responses((status = 200, description = "The unsigned PSBTs (recorded now or before)", body = PsbtExport),
        r::Invalid, r::Unauthorized, r::NotFound, r::Conflict, r::Unavailable),
    security(("admin_token" = [])))]
pub(crate) async fn export<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    _: Admin,
    ApiPath(epoch): ApiPath<i64>,
) -> Result<Json<PsbtExport>, ApiError> {
    let (e, built_now) = state.ledger().export(epoch).await?;
    recorded_export(&state, &e, built_now).await
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
    _: Admin,
    ApiPath(epoch): ApiPath<i64>,
    ApiJson(req): ApiJson<FinalizeRequest>,
) -> Result<Json<Finalized>, ApiError> {
    let signed = state.ledger().finalize(epoch, &req.psbt).await?;
    Ok(Json(Finalized {
        epoch,
        batch: signed.batch,
        txid: signed.txid.to_string(),
        state: signed.state,
        recorded_now: signed.recorded_now,
        unsigned_batches: signed.unsigned_batches,
        tx_hex: hex::encode(signed.tx),
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
    _: Admin,
    ApiPath(epoch): ApiPath<i64>,
) -> Result<Json<Broadcasted>, ApiError> {
    let (e, txids) = state.ledger().broadcast(epoch).await?;
    Ok(Json(Broadcasted {
        epoch,
        state: e.state,
        txids: txids.iter().map(ToString::to_string).collect(),
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

fn stored_report(e: &Epoch) -> Result<Report, ApiError> {
    Report::from_json(&e.report)
        .map_err(|err| ApiError::Internal(format!("stored report of epoch {}: {err}", e.epoch)))
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
            state: e.state,
            first_window: e.first_window,
            last_window: e.last_window,
            starts_at: m.windows().start(e.first_window),
            ends_at: m.windows().end(e.last_window),
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
        state: e.state,
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
