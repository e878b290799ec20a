//! Grant previews: an epoch's scoring inputs gathered from the measurements
//! (OK windows and throughput per node, operators and their payout addresses),
//! scored by resist-grants, and returned as the report a funder would publish.
//!
//! A window counts when it lies wholly inside the requested range. A node's
//! OK windows are the windows `resist_measure::classify` calls OK; its
//! throughput samples come from every relayed report's canary sample. Node
//! host names are resolved (5 s at most) for /24 and /48 diversity; a name
//! that does not resolve is grouped at 0.0.0.0, with every other such name.
//! A preview carries in the credits the last closed epoch carried out, as
//! closing would.
//!
//! Node addresses are never published: each /24 or /48 enters the scoring
//! as a pseudonym, an IPv6 unique-local /48 (`fdXX:XXXX:XXXX::1`) whose 40
//! bits are a keyed hash of the real prefix. Two nodes share a pseudonym
//! exactly when they share a subnet, so anyone can recompute the amounts,
//! and nobody without the coordinator's key learns where a node is.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use resist_grants::{AddressType, EpochInputs, NodeInput, OperatorInput, Report};
use resist_measure::{Tally, throughput_bps};
use resist_ownership::AddressKind;
use resist_proto::Invalid;
use resist_store::{Node, NodeId, Store};
use serde::Deserialize;

use crate::AppState;
use crate::auth::Admin;
use crate::config::Settings;
use crate::error::ApiError;
use crate::error::responses as r;
use crate::extract::ApiQuery;

/// Longest range a preview may cover.
const MAX_RANGE: Duration = Duration::from_secs(366 * 24 * 3600);
/// Range when none is given.
const DEFAULT_RANGE: Duration = Duration::from_secs(7 * 24 * 3600);
/// Time allowed to resolve one node's host name.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// `?budget_sat=N&from=T&to=T`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PreviewQuery {
    /// Satoshis to distribute.
    #[param(minimum = 0, maximum = 2_100_000_000_000_000_i64)]
    budget_sat: u64,
    /// Start of the range, Unix seconds (default: `to` minus 7 days; a range
    /// longer than 366 days is cut to its last 366 days; from ≥ to is empty).
    from: Option<i64>,
    /// End of the range, Unix seconds (default: now). Only whole windows inside count.
    to: Option<i64>,
}

/// What an epoch over a range would pay (admin). Changes nothing.
#[utoipa::path(get, path = "/api/admin/grants/preview", tag = "admin", params(PreviewQuery),
    responses((status = 200, description = "An epoch report (resist-grants format_version 1): inputs and result; `resist grants verify` checks it", body = Object),
        r::Invalid, r::Unauthorized, r::Unavailable),
    security(("admin_token" = [])))]
pub(crate) async fn preview<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    _: Admin,
    ApiQuery(q): ApiQuery<PreviewQuery>,
) -> Result<Json<Report>, ApiError> {
    let now = state.clock.now().seconds();
    let to = q.to.unwrap_or(now);
    // A range longer than 366 days is cut to its last 366 days; an empty or
    // reversed range has no windows (and pays nothing).
    let from = q
        .from
        .unwrap_or_else(|| to.saturating_sub(secs(DEFAULT_RANGE)))
        .max(to.saturating_sub(secs(MAX_RANGE)));
    let (first, last) = state.settings.measurement.windows().whole_in(from, to);
    let credits = match state.store.epochs().await?.last() {
        Some(e) => carried_out(e)?,
        None => BTreeMap::new(),
    };
    let inputs = epoch_inputs(
        &state.store,
        &state.settings,
        q.budget_sat,
        first,
        last,
        &credits,
    )
    .await?;
    let report = Report::new(inputs).map_err(|e| Invalid::new("budget_sat", e.to_string()))?;
    Ok(Json(report))
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// What a closed epoch carried out, per operator: the next epoch's credits.
pub(crate) fn carried_out(epoch: &resist_store::Epoch) -> Result<BTreeMap<i64, u64>, ApiError> {
    let report = Report::from_json(&epoch.report)
        .map_err(|e| ApiError::Internal(format!("stored report of epoch {}: {e}", epoch.epoch)))?;
    Ok(report
        .result
        .per_operator
        .iter()
        .filter(|o| o.carried_out_sat > 0)
        .map(|o| (o.operator, o.carried_out_sat))
        .collect())
}

/// The scoring inputs of windows `first..=last` (none when first > last),
/// with `credits` carried in per operator. Operators take part when they
/// have a node or a credit.
pub async fn epoch_inputs<S: Store>(
    store: &S,
    settings: &Settings,
    budget_sat: u64,
    first: i64,
    last: i64,
    credits: &BTreeMap<i64, u64>,
) -> Result<EpochInputs, ApiError> {
    let group_key = group_key(store).await?;
    let nodes = store.nodes().await?;
    let mut tally = Tally::new();
    let mut samples: BTreeMap<NodeId, Vec<u64>> = BTreeMap::new();
    if first <= last {
        for s in store.report_summaries(first, last).await? {
            let relayed = s.outcome.relayed();
            tally.record(s.node, s.window, s.observation());
            if let Some(bps) = throughput_bps(s.sample_bytes, s.sample_us).filter(|_| relayed) {
                samples.entry(s.node).or_default().push(bps);
            }
        }
    }
    let operators = store.operators().await?;
    let with_nodes: BTreeSet<i64> = nodes.iter().map(|n| n.operator.0).collect();
    let mut op_inputs = Vec::new();
    for o in operators
        .iter()
        .filter(|o| with_nodes.contains(&o.id.0) || credits.contains_key(&o.id.0))
    {
        let address = resist_ownership::parse_address(o.payout_address.as_str(), settings.network)
            .map_err(|e| {
                ApiError::Internal(format!("payout address of operator {}: {e}", o.id.0))
            })?;
        op_inputs.push(OperatorInput {
            operator: o.id.0,
            payout_address: o.payout_address.to_string(),
            address_type: address_type(address.kind())?,
            credit_sat: credits.get(&o.id.0).copied().unwrap_or(0),
        });
    }
    let mut node_inputs = Vec::with_capacity(nodes.len());
    for n in &nodes {
        node_inputs.push(NodeInput {
            node: n.id.0,
            operator: n.operator.0,
            ip: pseudonym(&group_key, ip_of(n).await),
            ok_windows: tally.ok_windows(&n.id),
            throughput_samples_bps: samples.remove(&n.id).unwrap_or_default(),
        });
    }
    Ok(EpochInputs {
        epoch: 0,
        budget_sat,
        params: settings.grants,
        operators: op_inputs,
        nodes: node_inputs,
    })
}

fn address_type(kind: AddressKind) -> Result<AddressType, ApiError> {
    Ok(match kind {
        AddressKind::P2pkh => AddressType::P2pkh,
        AddressKind::P2sh => AddressType::P2sh,
        AddressKind::P2wpkh => AddressType::P2wpkh,
        AddressKind::P2wsh => AddressType::P2wsh,
        AddressKind::P2tr => AddressType::P2tr,
        other => {
            return Err(ApiError::Internal(format!(
                "no dust limit known for {other:?}"
            )));
        }
    })
}

/// The node's address for diversity grouping.
async fn ip_of(n: &Node) -> IpAddr {
    if let Ok(ip) = n.host.parse::<IpAddr>() {
        return ip;
    }
    match tokio::time::timeout(
        RESOLVE_TIMEOUT,
        tokio::net::lookup_host((n.host.as_str(), n.port)),
    )
    .await
    {
        Ok(Ok(mut addrs)) => addrs
            .next()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip()),
        _ => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    }
}

/// The key of the subnet pseudonyms, made once and shared through the
/// database by every coordinator.
async fn group_key<S: Store>(store: &S) -> Result<[u8; 32], ApiError> {
    let fresh: [u8; 32] = rand::random();
    let stored = store
        .meta_get_or_insert("grants_group_key", &hex::encode(fresh))
        .await?;
    let mut key = [0u8; 32];
    hex::decode_to_slice(stored.trim(), &mut key)
        .map_err(|e| ApiError::Internal(format!("stored grants_group_key: {e}")))?;
    Ok(key)
}

/// The published stand-in for `ip`: the unique-local address `fdXX:XXXX:XXXX::1`
/// whose 40 bits are HMAC-SHA256(key, the address's /24 or /48). Same subnet,
/// same pseudonym; the pseudonyms' own /48s are all different (up to a
/// 2⁻⁴⁰ collision), so the scoring groups exactly as it would on the real
/// addresses.
pub fn pseudonym(key: &[u8; 32], ip: IpAddr) -> IpAddr {
    use hmac::{Hmac, Mac};
    use std::net::Ipv6Addr;
    let prefix = match ip {
        IpAddr::V4(v4) => v4_prefix(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4_prefix(v4),
            None => {
                let [a, b, c, ..] = v6.segments();
                format!("v6 {a:x}:{b:x}:{c:x}::/48")
            }
        },
    };
    let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(key) else {
        unreachable!("HMAC takes keys of any length")
    };
    mac.update(b"resist grants subnet pseudonym v1\0");
    mac.update(prefix.as_bytes());
    let h = mac.finalize().into_bytes();
    let seg = |i: usize| u16::from_be_bytes([h[i], h[i + 1]]);
    IpAddr::V6(Ipv6Addr::new(
        0xfd00 | u16::from(h[0]),
        seg(1),
        seg(3),
        0,
        0,
        0,
        0,
        1,
    ))
}

fn v4_prefix(v4: Ipv4Addr) -> String {
    let [a, b, c, _] = v4.octets();
    format!("v4 {a}.{b}.{c}.0/24")
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn pseudonyms_group_like_subnets_and_hide_them() {
        let key = [7u8; 32];
        let p = |s: &str| pseudonym(&key, s.parse().unwrap());
        assert_eq!(p("203.0.113.7"), p("203.0.113.250"));
        assert_eq!(p("203.0.113.7"), p("::ffff:203.0.113.9"));
        assert_ne!(p("203.0.113.7"), p("203.0.114.7"));
        assert_eq!(p("2001:db8:1:2::1"), p("2001:db8:1:ffff::9"));
        assert_ne!(p("2001:db8:1::1"), p("2001:db8:2::1"));
        for s in ["203.0.113.7", "2001:db8:1::1"] {
            let IpAddr::V6(v6) = p(s) else {
                panic!("IPv6 pseudonym")
            };
            assert_eq!(v6.segments()[0] & 0xff00, 0xfd00, "unique-local");
            assert!(!v6.to_string().contains("203"), "{v6}");
        }
        // Another key, other pseudonyms.
        assert_ne!(
            pseudonym(&[8u8; 32], "203.0.113.7".parse().unwrap()),
            p("203.0.113.7")
        );
    }
}
