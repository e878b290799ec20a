//! Why a store operation failed, in terms the coordinator can map to an HTTP
//! status without looking at database error texts.

/// Which uniqueness rule a change ran into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConflictKind {
    /// Another operator already uses this payout address.
    PayoutAddress,
    /// Another node already has this host and port.
    Endpoint,
    /// A probe with this public key is already enrolled.
    ProbeKey,
    /// This probe already reported on this node in this window (with another
    /// report id): one report per assignment.
    AlreadyReported,
    /// Another operator already has this access token hash. Tokens are
    /// random, so this means the caller reused one: generate a fresh token.
    AccessToken,
    /// This epoch is closed already (by another coordinator, or by an
    /// earlier run of the same command).
    Epoch,
}

impl std::fmt::Display for ConflictKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ConflictKind::PayoutAddress => "this payout address is already registered",
            ConflictKind::Endpoint => "a node with this host and port is already registered",
            ConflictKind::ProbeKey => "a probe with this public key is already enrolled",
            ConflictKind::AccessToken => "this access token is already in use",
            ConflictKind::Epoch => "this epoch is closed already",
            ConflictKind::AlreadyReported => {
                "this probe already reported on this node in this window"
            }
        })
    }
}

/// A store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The change would break a uniqueness rule; nothing was stored.
    #[error("{0}")]
    Conflict(ConflictKind),
    /// The thing to change does not exist (or is not the caller's).
    #[error("{what} not found")]
    NotFound {
        /// What was looked for: "operator", "node", "probe".
        what: &'static str,
    },
    /// The challenge nonce is unknown, already used, or expired; ask for a new one.
    #[error("the challenge is unknown, used or expired; request a new one")]
    ChallengeInvalid,
    /// The database could not be reached or answered with an error; the
    /// message is for logs, never for HTTP clients.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Applying the migrations failed (a damaged or foreign database, or one
    /// written by a newer resist).
    #[error("cannot migrate the database: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// A stored value cannot be read back (a bug or a hand-edited database).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The database URL names a scheme this crate does not speak. Use
    /// `sqlite:PATH`, `postgres://…` or `postgresql://…`, or no URL at all for
    /// the SQLite file in the data directory. Only the scheme is kept, since
    /// the rest of a URL may hold a password.
    #[error(
        "unsupported database URL scheme {scheme:?}: use sqlite:PATH, postgres://… or postgresql://…"
    )]
    UnsupportedUrl {
        /// The scheme found before the first `:`, or empty if there was none.
        scheme: String,
    },
    /// The data directory for the default SQLite file cannot be created;
    /// check the path and its permissions.
    #[error("cannot create the data directory {}: {source}", path.display())]
    DataDir {
        /// The directory.
        path: std::path::PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
}
