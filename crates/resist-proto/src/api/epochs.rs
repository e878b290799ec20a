//! The bodies of the grant-epoch endpoints: closing an epoch, its published
//! report and payout batches, the unsigned PSBTs, and what finalizing and
//! broadcasting recorded. `EpochDetail` carries the report in resist-grants'
//! own format, so `resist grants verify` reads what the coordinator
//! published without a second schema.

use resist_grants::Report;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where an epoch's payout stands. Only moves forward, in this order; the
/// coordinator's database refuses anything else.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EpochState {
    /// Scored and published; nothing exported yet.
    Closed,
    /// The unsigned payout batches are recorded (re-exporting returns them).
    PsbtExported,
    /// Every batch came back signed, was checked, and is recorded.
    Signed,
    /// Every batch was handed to the chain source.
    Broadcast,
}

impl EpochState {
    /// Every state, in the order an epoch goes through them.
    pub const ALL: [EpochState; 4] = [
        EpochState::Closed,
        EpochState::PsbtExported,
        EpochState::Signed,
        EpochState::Broadcast,
    ];

    /// The state's name: in the API, in the database and on pages.
    pub fn as_str(self) -> &'static str {
        match self {
            EpochState::Closed => "closed",
            EpochState::PsbtExported => "psbt_exported",
            EpochState::Signed => "signed",
            EpochState::Broadcast => "broadcast",
        }
    }

    /// The state named `name`, if there is one.
    pub fn from_name(name: &str) -> Option<EpochState> {
        EpochState::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl std::fmt::Display for EpochState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

fn state_schema() -> utoipa::openapi::Object {
    super::names_schema(
        "closed, psbt_exported, signed or broadcast.",
        EpochState::ALL.map(EpochState::as_str),
    )
}

/// Close the next epoch.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseRequest {
    /// The epoch to close: 1 for the first, then one more than the last
    /// closed. Naming it makes a repeated request harmless.
    #[schema(minimum = 1)]
    pub epoch: i64,
    /// Satoshis to distribute (credits carried in come on top).
    #[schema(minimum = 0, maximum = 2_100_000_000_000_000_i64)]
    pub budget_sat: u64,
    /// End of the epoch, Unix seconds (default and latest: now); only whole
    /// windows before it count.
    #[schema(minimum = 0, maximum = 4_102_444_800_i64)]
    pub to: Option<i64>,
    /// Start of the first epoch, Unix seconds (default: `to` minus 7 days).
    /// Later epochs start where the previous one ended; giving it for them is
    /// refused.
    #[schema(minimum = 0, maximum = 4_102_444_800_i64)]
    pub from: Option<i64>,
}

/// A closed epoch, as published.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EpochView {
    /// Its number.
    pub epoch: i64,
    /// closed, psbt_exported, signed or broadcast.
    #[schema(schema_with = state_schema)]
    pub state: EpochState,
    /// First window (Unix seconds of its start = window × window length).
    pub first_window: i64,
    /// Last window, inclusive.
    pub last_window: i64,
    /// When its first window starts (Unix seconds).
    pub starts_at: i64,
    /// When its last window ends (Unix seconds).
    pub ends_at: i64,
    /// Satoshis distributed (without credits carried in).
    pub budget_sat: u64,
    /// Satoshis paid to operators.
    pub paid_sat: u64,
    /// Satoshis carried over to the next epoch.
    pub carried_sat: u64,
    /// Rounding remainder, back to the treasury.
    pub remainder_sat: u64,
    /// When it was closed (Unix seconds).
    pub closed_at: i64,
    /// The payout transactions, once exported (txids, hex).
    pub txids: Vec<String>,
}

/// A closed epoch with its report and payout batches.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EpochDetail {
    /// The summary.
    #[serde(flatten)]
    pub summary: EpochView,
    /// The report (resist-grants format): every input and every amount;
    /// `resist grants verify` recomputes it.
    #[schema(value_type = Object)]
    pub report: Report,
    /// The payout batches, once exported.
    pub batches: Vec<BatchView>,
}

/// One payout transaction of an epoch.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BatchView {
    /// Its index in the epoch.
    pub batch: u32,
    /// Its txid (hex, as block explorers show it).
    pub txid: String,
    /// Payees it pays.
    pub payees: u32,
    /// What it pays them in all.
    pub amount_sat: u64,
    /// Its fee.
    pub fee_sat: u64,
    /// Whether its signed transaction is recorded.
    pub signed: bool,
    /// Whether it was broadcast.
    pub broadcast: bool,
}

/// The unsigned payout of an epoch.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PsbtExport {
    /// The epoch.
    pub epoch: i64,
    /// Its state after this request.
    #[schema(schema_with = state_schema)]
    pub state: EpochState,
    /// Whether this request built the PSBTs (false: they were recorded
    /// before and are returned unchanged).
    pub built_now: bool,
    /// One PSBT per batch.
    pub batches: Vec<ExportedBatch>,
}

/// One unsigned PSBT.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ExportedBatch {
    /// The batch's summary.
    #[serde(flatten)]
    pub batch: BatchView,
    /// The unsigned PSBT (BIP-174 version 0), base64.
    pub psbt: String,
}

/// A signed PSBT for one of the epoch's batches.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FinalizeRequest {
    /// The PSBT signed by the funder's wallet (base64), finalized or not.
    pub psbt: String,
}

/// What finalizing recorded.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Finalized {
    /// The epoch.
    pub epoch: i64,
    /// The batch the PSBT belongs to.
    pub batch: u32,
    /// The transaction's id.
    pub txid: String,
    /// The epoch's state after this request.
    #[schema(schema_with = state_schema)]
    pub state: EpochState,
    /// False when this batch was recorded signed before (the first signed
    /// transaction stands).
    pub recorded_now: bool,
    /// Batches of the epoch still to sign.
    pub unsigned_batches: u32,
    /// The checked transaction, hex (what `--broadcast` or any node sends).
    pub tx_hex: String,
}

/// What broadcasting did.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Broadcasted {
    /// The epoch.
    pub epoch: i64,
    /// Its state after this request.
    #[schema(schema_with = state_schema)]
    pub state: EpochState,
    /// The transactions sent (or found sent before).
    pub txids: Vec<String>,
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn states_are_named_as_on_the_wire() {
        for state in EpochState::ALL {
            let json = serde_json::to_string(&state).unwrap();
            assert_eq!(json, format!("\"{}\"", state.as_str()));
            assert_eq!(EpochState::from_name(state.as_str()), Some(state));
            assert_eq!(serde_json::from_str::<EpochState>(&json).unwrap(), state);
        }
        assert_eq!(EpochState::from_name("open"), None);
        assert!(EpochState::Closed < EpochState::Broadcast);
    }
}
