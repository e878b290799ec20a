//! The public page of one operator, `/operator/{payout address}`: its nodes
//! by id, each with its status history, so an operator (or anyone checking a
//! grant report) can see how the nodes did without a token.
//!
//! Public because everything on it is published anyway: grant reports name
//! the payout address and each node's OK windows. Node endpoints are NOT on
//! it: a censor reads public pages too, and an address published is an
//! address blocked. The page is built from `history::Grid`, which holds no
//! endpoint, so it cannot show one.
//!
//! The page costs a query over the reports of every window shown, so it
//! spends the client's rate-limit budget and shows at most
//! [`MAX_PUBLIC_WINDOWS`].

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::response::Html;
use maud::html;
use resist_store::Store;

use crate::AppState;
use crate::extract::ClientKey;
use crate::web::chart::{self, badge, time};
use crate::web::error::WebError;
use crate::web::funder::history_section;
use crate::web::history::{self, DEFAULT_WINDOWS};
use crate::web::{layout, windows_param};

/// The most windows the public page shows (two days of 10-minute windows).
pub(crate) const MAX_PUBLIC_WINDOWS: u32 = 288;

/// `GET /operator/{address}`.
pub(crate) async fn page<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    client: ClientKey,
    Path(address): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Html<String>, WebError> {
    state.spend(client)?;
    let windows = windows_param(query.as_deref(), DEFAULT_WINDOWS, MAX_PUBLIC_WINDOWS)?;
    let network = state.settings.network;
    // Normalised as at registration (bech32 in lower case), or refused with
    // the parser's reason, which says what to paste instead.
    let parsed = resist_ownership::parse_address(&address, network).map_err(|e| {
        WebError::BadRequest(format!(
            "not a payout address of this coordinator ({network}): {e}"
        ))
    })?;
    let operator = state
        .store
        .operator_by_payout(parsed.as_str())
        .await?
        .ok_or_else(|| {
            WebError::NotFound(format!(
                "no operator is registered with payout address {}; check the address, or register with `resist operator register`",
                parsed.as_str()
            ))
        })?;
    let nodes = state.store.nodes_of(operator.id).await?;
    let grid = history::load(&state, &nodes, windows).await?;
    let bars = grid.bars();
    let body = html! {
        p {
            "Payout address " code { (operator.payout_address) } ", operator " (operator.id.0)
            ", registered " (time(operator.created_at.seconds())) ", "
            strong { (nodes.len()) " nodes" } "."
        }
        p.note #no-endpoints {
            "Node addresses (host and port) are not shown on this page: it is public, a censor reads it too, and a published address is a blocked one. Nodes are named by their number, as in grant reports. Operators see their endpoints with "
            code { "resist operator status" } "."
        }
        @if let Some(latest) = bars.last() {
            p #latest-counts { "Now: " (latest.counts.sentence()) "." }
        }
        table {
            thead { tr { th { "Node" } th { "Now" } th { "History (oldest left)" } th { "Windows" } } }
            tbody {
                @for h in &grid.nodes {
                    tr.node {
                        td.nowrap { a href={ "#node-" (h.node) } { "node " (h.node) } }
                        td { (badge(h.latest())) }
                        td { (chart::strip(&format!("node {}", h.node), &h.cells(), grid.windows.len(), chart::StripSize::Small)) }
                        td.muted { (h.totals().sentence()) }
                    }
                }
            }
        }
        (chart::legend())
        @for h in &grid.nodes {
            div id={ "node-" (h.node) } {
                (history_section(&format!("node {}", h.node), h, grid.windows.len(), false))
            }
        }
    };
    Ok(Html(
        layout::page(&format!("Operator {}", operator.id.0), body).into_string(),
    ))
}
