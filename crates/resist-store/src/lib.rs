#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used)]

mod any;
#[cfg(feature = "testing")]
pub mod conformance;
mod error;
mod model;
mod postgres;
mod sql;
mod sqlite;
#[cfg(test)]
mod test;
mod traits;

pub use any::AnyStore;
pub use error::{ConflictKind, StoreError};
pub use model::{
    AssignmentRow, Batch, ChangeProof, CheckedAddress, Epoch, EpochState, Ingested, Invitation,
    InvitationId, NewBatch, NewEpoch, NewInvitation, NewNode, NewOperator, NewProbe, NewReport,
    Node, NodeId, NodeUpdate, Operator, OperatorId, Probe, ProbeId, ProofRecord, Protocol,
    Recorded, ReportSummary, Signature, StoredReport,
};
pub use postgres::PostgresStore;
pub use sqlite::{SQLITE_FILE_NAME, SqliteStore};
pub use traits::{
    ChallengeStore, EpochStore, InvitationStore, MeasurementStore, MetaStore, OperatorStore,
    ProbeStore, Store,
};

/// Every store trait, for callers that use a concrete store (`SqliteStore`,
/// `AnyStore`) rather than a type generic over [`Store`]:
/// `use resist_store::prelude::*;` brings every method into scope.
pub mod prelude {
    pub use crate::traits::{
        ChallengeStore as _, EpochStore as _, InvitationStore as _, MeasurementStore as _,
        MetaStore as _, OperatorStore as _, ProbeStore as _, Store,
    };
}
