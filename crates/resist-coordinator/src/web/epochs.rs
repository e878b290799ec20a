//! The published grant reports as pages: `/epochs` lists every closed epoch,
//! `/epochs/{n}` shows one: what each operator was paid and why (each node's
//! OK windows, capacity and subnet group), what carried over, and the payout
//! transactions. Public, like the JSON at `/api/epochs/{n}` it renders: node
//! addresses appear only as the subnet pseudonyms the report carries.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Html;
use maud::{Markup, html};
use resist_proto::api::epochs::EpochView;
use resist_store::Store;

use crate::AppState;
use crate::epochs::{detail, summaries};
use crate::extract::ClientKey;
use crate::web::chart::time;
use crate::web::error::WebError;
use crate::web::layout;

/// `GET /epochs`.
pub(crate) async fn list<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    client: ClientKey,
) -> Result<Html<String>, WebError> {
    state.spend(client)?;
    let mut rows = summaries(&state).await?;
    rows.reverse();
    let body = html! {
        @if rows.is_empty() {
            p { "No epoch is closed yet. The funder closes one with " code { "resist grants close" } "." }
        } @else {
            p { "Every amount can be recomputed from the report: save it from "
                code { "/api/epochs/N" } " and run " code { "resist grants verify" } "." }
            table {
                thead { tr { th { "epoch" } th { "windows" } th { "state" } th.num { "budget sat" }
                    th.num { "paid sat" } th.num { "carried sat" } th { "transactions" } } }
                tbody { @for e in &rows { (row(e)) } }
            }
        }
    };
    Ok(Html(layout::page("Grant epochs", body).into_string()))
}

fn row(e: &EpochView) -> Markup {
    html! {
        tr {
            td { a href={ "/epochs/" (e.epoch) } { "epoch " (e.epoch) } }
            td { (time(e.starts_at)) " – " (time(e.ends_at)) }
            td { (e.state) }
            td.num { (e.budget_sat) }
            td.num { (e.paid_sat) }
            td.num { (e.carried_sat) }
            td { @for t in &e.txids { code { (t) } " " } }
        }
    }
}

/// `GET /epochs/{n}`.
pub(crate) async fn page<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    client: ClientKey,
    Path(epoch): Path<String>,
) -> Result<Html<String>, WebError> {
    state.spend(client)?;
    let n: i64 = epoch.parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
        WebError::BadRequest(format!("{epoch:?} is not an epoch number (1, 2, …)"))
    })?;
    let e = state.ledger().find(n).await.map_err(|_| {
        WebError::NotFound(format!(
            "epoch {n} is not closed; the closed ones are at /epochs"
        ))
    })?;
    let d = detail(&state, &e).await?;
    let r = &d.report;
    let s = &d.summary;
    let body = html! {
        p {
            "Windows " (time(s.starts_at)) " – " (time(s.ends_at)) ", state " strong { (s.state) }
            ". Budget " (s.budget_sat) " sat: paid " (s.paid_sat) ", carried over " (s.carried_sat)
            ", rounding remainder " (s.remainder_sat) "."
        }
        p { "Recompute it: save " a href={ "/api/epochs/" (n) } { "the report (JSON)" }
            " and run " code { "resist grants verify FILE" } ". Node addresses are shown as subnet pseudonyms (one per /24 or /48): the amounts follow from them exactly." }
        h2 { "Operators" }
        table {
            thead { tr { th { "operator" } th { "payout address" } th.num { "points" } th.num { "credit in" }
                th.num { "paid sat" } th.num { "carried out" } } }
            tbody {
                @for o in &r.result.per_operator {
                    tr {
                        td { (o.operator) }
                        td { a href={ "/operator/" (o.payout_address) } { code { (o.payout_address) } } }
                        td.num { (o.points) }
                        td.num { (o.credit_in_sat) }
                        td.num { (o.paid_sat) @if o.capped { " (capped)" } }
                        td.num { (o.carried_out_sat) }
                    }
                }
            }
        }
        h2 { "Nodes" }
        table {
            thead { tr { th { "node" } th { "operator" } th { "subnet pseudonym" } th.num { "OK windows" }
                th.num { "throughput samples" } } }
            tbody {
                @for node in &r.inputs.nodes {
                    tr {
                        td { (node.node) }
                        td { (node.operator) }
                        td { code { (node.ip) } }
                        td.num { (node.ok_windows) }
                        td.num { (node.throughput_samples_bps.len()) }
                    }
                }
            }
        }
        h2 { "Payout" }
        @if d.batches.is_empty() {
            p { "Not exported yet." }
        } @else {
            table {
                thead { tr { th { "batch" } th { "txid" } th.num { "payees" } th.num { "amount sat" }
                    th.num { "fee sat" } th { "state" } } }
                tbody {
                    @for b in &d.batches {
                        tr {
                            td { (b.batch) }
                            td { code { (b.txid) } }
                            td.num { (b.payees) }
                            td.num { (b.amount_sat) }
                            td.num { (b.fee_sat) }
                            td { @if b.broadcast { "broadcast" } @else if b.signed { "signed" } @else { "awaiting signature" } }
                        }
                    }
                }
            }
        }
    };
    Ok(Html(
        layout::page(&format!("Grant epoch {n}"), body).into_string(),
    ))
}
