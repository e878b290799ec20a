//! The conformance suite against both backends: SQLite in a temporary
//! directory (and in memory), and a real PostgreSQL started for this test
//! (one server, a fresh database per story).

use std::sync::atomic::{AtomicUsize, Ordering};

use resist_store::conformance::run_all;
use resist_store::{PostgresStore, SqliteStore};
use resist_testkit::postgres::TempPostgres;
use tokio::time::Instant;

#[tokio::test]
async fn sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let n = AtomicUsize::new(0);
    run_all(|| {
        let story_dir = dir
            .path()
            .join(n.fetch_add(1, Ordering::Relaxed).to_string());
        async move { SqliteStore::open_in(&story_dir).await.unwrap() }
    })
    .await;
}

#[tokio::test]
async fn postgres() {
    let started = Instant::now();
    let Some(pg) = TempPostgres::start().expect("PostgreSQL failed to start") else {
        return; // TempPostgres said why.
    };
    eprintln!("PostgreSQL started in {:?}", started.elapsed());
    let pg = &pg;
    run_all(|| async move {
        PostgresStore::connect(&pg.fresh_database().await)
            .await
            .unwrap()
    })
    .await;
    eprintln!("PostgreSQL conformance took {:?}", started.elapsed());
}

#[tokio::test]
async fn sqlite_in_memory() {
    run_all(|| async { SqliteStore::connect("sqlite::memory:").await.unwrap() }).await;
}
