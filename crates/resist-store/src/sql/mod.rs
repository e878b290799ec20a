//! The SQL both backends run, written once, by concept, and the store
//! implementations that run it, stamped out for SQLite and PostgreSQL by
//! [`impl_store!`].
//!
//! Both databases take `$1`-style numbered parameters (sqlx-sqlite binds
//! `$N` by number; a unit test checks it), `RETURNING`, and
//! `ON CONFLICT … DO NOTHING`, so every statement is valid on both. What
//! differs lives in the migrations (types) and in each backend's
//! `begin_write` (SQLite takes the write lock up front with `BEGIN IMMEDIATE`).
//!
//! Each concept module holds its statements (column lists spelled out, so a
//! statement can be read on its own), its rows as named structs
//! (`sqlx::FromRow`) with their conversion to the model, where a value that
//! does not read back (an unknown region, outcome or protocol, a number out of
//! range) is [`StoreError::Corrupt`], and a macro implementing its trait.

// Macros rather than functions generic over `sqlx::Database`: the generic
// version needs a bound per bound type, per decoded type and for the executor
// (`for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>`, …), which
// buries the SQL under trait plumbing. The macros keep the bodies plain Rust
// over concrete types, checked twice by the compiler.

use sqlx::error::{DatabaseError, ErrorKind};

use crate::{ConflictKind, StoreError};

pub(crate) mod challenges;
pub(crate) mod epochs;
pub(crate) mod invitations;
pub(crate) mod measurements;
pub(crate) mod meta;
pub(crate) mod operators;
pub(crate) mod probes;

/// Every store trait for `$store`, which has a `pool` field and an inherent
/// `async fn begin_write(&self) -> Result<sqlx::Transaction<'static, $db>, sqlx::Error>`.
macro_rules! impl_store {
    ($store:ty, $db:ty) => {
        $crate::sql::meta::impl_meta_store!($store);
        $crate::sql::challenges::impl_challenge_store!($store, $db);
        $crate::sql::operators::impl_operator_store!($store, $db);
        $crate::sql::probes::impl_probe_store!($store);
        $crate::sql::measurements::impl_measurement_store!($store);
        $crate::sql::epochs::impl_epoch_store!($store);
        $crate::sql::invitations::impl_invitation_store!($store);
    };
}

pub(crate) use impl_store;

/// Turns a failed change into a typed error: a unique violation becomes the
/// [`ConflictKind`] of the constraint it broke, a foreign-key violation means
/// the referenced `missing` row (an operator, an assignment, …) does not exist.
pub(crate) fn classify(e: sqlx::Error, missing: &'static str) -> StoreError {
    if let sqlx::Error::Database(db) = &e {
        match db.kind() {
            ErrorKind::UniqueViolation => {
                if let Some(kind) = conflict_kind(db.as_ref()) {
                    return StoreError::Conflict(kind);
                }
            }
            ErrorKind::ForeignKeyViolation => return StoreError::NotFound { what: missing },
            _ => {}
        }
    }
    StoreError::Database(e)
}

/// Unique constraints a caller can run into, by the name PostgreSQL reports
/// and by the `table.column` list SQLite puts in its message
/// ("UNIQUE constraint failed: nodes.host, nodes.port").
const UNIQUE_RULES: &[(&str, &str, ConflictKind)] = &[
    (
        "operators_payout_address_key",
        "operators.payout_address",
        ConflictKind::PayoutAddress,
    ),
    (
        "operators_token_hash_key",
        "operators.token_hash",
        ConflictKind::AccessToken,
    ),
    (
        "nodes_endpoint_key",
        "nodes.host, nodes.port",
        ConflictKind::Endpoint,
    ),
    (
        "probes_public_key_key",
        "probes.public_key",
        ConflictKind::ProbeKey,
    ),
    ("epochs_pkey", "epochs.epoch", ConflictKind::Epoch),
    (
        "reports_assignment_key",
        "reports.window, reports.node_id, reports.probe_id",
        ConflictKind::AlreadyReported,
    ),
];

fn conflict_kind(db: &dyn DatabaseError) -> Option<ConflictKind> {
    let found = match db.constraint() {
        Some(name) => UNIQUE_RULES.iter().find(|(pg, _, _)| *pg == name),
        None => {
            let columns = db.message().rsplit(": ").next().unwrap_or_default();
            UNIQUE_RULES.iter().find(|(_, lite, _)| *lite == columns)
        }
    };
    found.map(|(_, _, kind)| *kind)
}
