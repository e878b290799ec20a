//! The default store: one SQLite file in the coordinator's data directory,
//! nothing to install or run.
//!
//! Connections use WAL (readers never wait for the writer), `synchronous =
//! FULL` (a committed change survives a power cut), foreign keys on, and a 5 s
//! busy timeout. Write transactions start with `BEGIN IMMEDIATE`: they take
//! the write lock before reading anything, so two writers queue on the busy
//! timeout instead of one failing with `SQLITE_BUSY` when it upgrades a read.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::StoreError;
use crate::sql::impl_store;

/// The file [`SqliteStore::open_in`] uses inside the data directory.
pub const SQLITE_FILE_NAME: &str = "coordinator.sqlite3";

/// How long a connection waits for another's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The [`Store`](crate::Store) on SQLite.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    /// The connections; a local file, so they are kept open (no idle timeout),
    /// which also keeps a `sqlite::memory:` database alive as long as the store.
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating it if missing) the database at `url`, e.g.
    /// `sqlite:/var/lib/resist/coordinator.sqlite3` or `sqlite::memory:`, and
    /// applies the migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(SqliteConnectOptions::from_str(url)?).await
    }

    /// Opens `dir/coordinator.sqlite3`, creating the directory and the file if
    /// they are missing, and applies the migrations.
    ///
    /// The database holds node passwords, the canary key and the
    /// distribution secret, so the directory is made private to its owner
    /// (0700) and the file readable by its owner only (0600), also when they
    /// exist with wider modes; SQLite gives its `-wal` and `-shm` files the
    /// database file's mode.
    pub async fn open_in(dir: &Path) -> Result<Self, StoreError> {
        let file = dir.join(SQLITE_FILE_NAME);
        make_private(dir, &file).map_err(|source| StoreError::DataDir {
            path: dir.to_owned(),
            source,
        })?;
        Self::connect_with(SqliteConnectOptions::new().filename(file)).await
    }

    async fn connect_with(options: SqliteConnectOptions) -> Result<Self, StoreError> {
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await?;
        sqlx::migrate!("migrations/sqlite").run(&pool).await?;
        Ok(SqliteStore { pool })
    }

    /// Starts a write transaction holding the database's write lock.
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        self.pool.begin_with("BEGIN IMMEDIATE").await
    }

    /// The connection pool, for this crate's schema tests.
    #[cfg(test)]
    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// Creates `dir` (0700) and `file` in it (0600) if missing, and narrows their
/// modes to those if they are wider.
fn make_private(dir: &Path, file: &Path) -> std::io::Result<()> {
    use std::fs::{DirBuilder, OpenOptions, Permissions};
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
    DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    std::fs::set_permissions(dir, Permissions::from_mode(0o700))?;
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(file)?;
    for path in [
        file.to_owned(),
        file.with_extension("sqlite3-wal"),
        file.with_extension("sqlite3-shm"),
    ] {
        match std::fs::set_permissions(&path, Permissions::from_mode(0o600)) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            other => other?,
        }
    }
    Ok(())
}

impl_store!(SqliteStore, sqlx::Sqlite);
