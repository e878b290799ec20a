//! The conformance suite against every backend, one test per story: SQLite
//! in a temporary directory and in memory, and a real PostgreSQL (one server
//! for this test binary, a fresh database per story).

use resist_store::{PostgresStore, SqliteStore};
use resist_testkit::postgres::TempPostgres;
use tempfile::TempDir;

async fn sqlite_file() -> Option<(SqliteStore, TempDir)> {
    let dir = tempfile::tempdir().unwrap();
    Some((SqliteStore::open_in(dir.path()).await.unwrap(), dir))
}

async fn sqlite_memory() -> Option<(SqliteStore, ())> {
    Some((SqliteStore::connect("sqlite::memory:").await.unwrap(), ()))
}

async fn postgres() -> Option<(PostgresStore, ())> {
    let pg = TempPostgres::shared()?; // `None`: it said why.
    let url = pg.fresh_database().await;
    Some((PostgresStore::connect(&url).await.unwrap(), ()))
}

mod sqlite_file {
    resist_store::conformance_tests!(super::sqlite_file);
}

mod sqlite_memory {
    resist_store::conformance_tests!(super::sqlite_memory);
}

mod postgres {
    resist_store::conformance_tests!(super::postgres);
}
