//! Why a payout could not be built or a signed transaction was refused.

use bdk_wallet::bitcoin::{Amount, OutPoint};
use resist_grants::AddressType;

/// Everything [`crate::Treasury`], [`crate::build_payout_psbt`] and
/// [`crate::check_signed`] can refuse. Each message names the item and what
/// is wrong with it; none of them is a reason to retry unchanged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PayoutError {
    /// A treasury descriptor did not parse, or the two do not form a wallet.
    #[error("treasury descriptor refused: {0}")]
    Descriptor(String),

    /// A treasury descriptor holds a private key: the coordinator must never
    /// hold one (the funder signs offline).
    #[error(
        "the treasury descriptors contain a private key; give the watch-only (xpub/tpub) descriptors and keep the private key with the signer"
    )]
    PrivateKeyInDescriptor,

    /// Funding could not be connected to the treasury's chain.
    #[error("funding refused: {0}")]
    Funding(String),

    /// A payee's address did not parse for the treasury's network.
    #[error("payee {index} ({address}): {source}")]
    Address {
        /// Position in the payee list.
        index: usize,
        /// The address as given (as it was stored for the operator).
        address: String,
        /// Why (a user-facing message from `resist-ownership`).
        source: resist_ownership::AddressError,
    },

    /// A payee's address is of another type than recorded for the operator
    /// (the type decides the dust limit the scoring used).
    #[error(
        "payee {index} ({address}): the address is {found:?} but the operator's type is {expected:?}"
    )]
    AddressTypeMismatch {
        /// Position in the payee list.
        index: usize,
        /// The address.
        address: String,
        /// Recorded type.
        expected: AddressType,
        /// Type of the address.
        found: AddressType,
    },

    /// A payee amount below the dust limit of its address type (the node
    /// would not relay the transaction).
    #[error(
        "payee {index} ({address}): {amount_sat} sat is below the dust limit of {dust_limit_sat} sat for its address type"
    )]
    Dust {
        /// Position in the payee list.
        index: usize,
        /// The address.
        address: String,
        /// The amount.
        amount_sat: u64,
        /// The limit for the type.
        dust_limit_sat: u64,
    },

    /// A payee address belongs to the treasury itself: it could not be told
    /// apart from change.
    #[error("payee {index} ({address}) is an address of the treasury itself")]
    PayeeIsTreasury {
        /// Position in the payee list.
        index: usize,
        /// The address.
        address: String,
    },

    /// Nothing to pay.
    #[error("no payees: nothing to pay")]
    NoPayees,

    /// The fee rate is 0 or too large to represent.
    #[error("fee rate {0} sat/vB refused: give 1 or more")]
    FeeRate(u64),

    /// Σ payees above 21 million BTC.
    #[error("the payees add up to more than 21 million BTC")]
    TotalOverflow,

    /// BDK could not build a batch (usually: not enough confirmed funds).
    #[error("building batch {batch} ({payees} payees) failed: {message}")]
    Build {
        /// Index of the batch.
        batch: usize,
        /// Payees in it.
        payees: usize,
        /// BDK's error.
        message: String,
    },

    /// A single payee output is too heavy for a standard transaction.
    #[error("payee {index} alone does not fit in a standard transaction")]
    TooHeavy {
        /// Position in the payee list.
        index: usize,
    },

    /// A PSBT did not parse (base64 or binary).
    #[error("not a PSBT: {0}")]
    PsbtParse(String),

    /// The signed PSBT spends other inputs (or in another order, or with
    /// other sequence numbers) than the unsigned one.
    #[error("input {index} differs from the unsigned PSBT: expected {expected}, found {found}")]
    InputChanged {
        /// Input position.
        index: usize,
        /// Outpoint in the unsigned PSBT.
        expected: OutPoint,
        /// Outpoint in the signed one.
        found: OutPoint,
    },

    /// The signed transaction has another number of inputs, another version
    /// or lock time, or a sequence number that differs.
    #[error("the signed transaction differs from the unsigned PSBT: {0}")]
    TxChanged(String),

    /// The spent outputs given do not match the inputs.
    #[error("spent outputs: {0}")]
    SpentOutputs(String),

    /// A payee's output carries another amount than the payout.
    #[error("output {vout} pays {address} {found} instead of {expected}")]
    WrongAmount {
        /// Output position.
        vout: usize,
        /// The payee.
        address: String,
        /// What the epoch says.
        expected: Amount,
        /// What the transaction pays.
        found: Amount,
    },

    /// A payee is not paid by any output.
    #[error("payee {address} ({amount}) is not paid by the transaction")]
    MissingPayee {
        /// The payee.
        address: String,
        /// What it should receive.
        amount: Amount,
    },

    /// An output that is neither a payee nor change to the treasury (or a
    /// second change output).
    #[error("output {vout} ({value}) is neither a payee nor the treasury's change")]
    ExtraOutput {
        /// Output position.
        vout: usize,
        /// Its amount.
        value: Amount,
    },

    /// The outputs are worth more than the spent outputs.
    #[error("the outputs ({outputs}) exceed the spent outputs ({inputs})")]
    NegativeFee {
        /// Σ spent outputs.
        inputs: Amount,
        /// Σ outputs.
        outputs: Amount,
    },

    /// An input carries no signature at all (the signer did not recognise
    /// the key origin, or the unsigned PSBT was given as the signed one).
    #[error("input {index} is not signed: sign the PSBT with the treasury's key")]
    Unsigned {
        /// Input position.
        index: usize,
    },

    /// The signed PSBT could not be finalized (missing or unusable signatures).
    #[error("the signed PSBT could not be finalized: {0}")]
    Finalize(String),

    /// The transaction could not be extracted from the finalized PSBT.
    #[error("the transaction could not be extracted: {0}")]
    Extract(String),

    /// Bitcoin Core's script interpreter refused an input.
    #[error("input {index} ({outpoint}) fails Bitcoin Core's script check: {reason}")]
    Script {
        /// Input position.
        index: usize,
        /// What it spends.
        outpoint: OutPoint,
        /// libbitcoinconsensus's error.
        reason: String,
    },
}
