//! The store for deployments that outgrow one machine: PostgreSQL, which
//! several coordinators may share.
//!
//! Transactions run at READ COMMITTED. That is enough because every rule that
//! concurrent coordinators could break is a constraint or a row lock: a second
//! insert of a taken payout address or endpoint waits for the first
//! transaction and then fails its unique index (a Conflict), and a second
//! `DELETE` of the same challenge waits for the first and then finds no row
//! (ChallengeInvalid). Migrations take sqlx's advisory lock, so coordinators
//! starting together apply them once.

use std::fmt;
use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::StoreError;
use crate::sql::impl_store;

/// The [`Store`](crate::Store) on PostgreSQL.
#[derive(Clone)]
pub struct PostgresStore {
    /// The connections (sqlx's defaults: at most 10, checked before use).
    pool: PgPool,
}

impl fmt::Debug for PostgresStore {
    // Written by hand so the connection options (with the password) can never
    // reach a log through it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("connections", &self.pool.size())
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user:password@host:port/database` or
    /// `postgresql://…`) and applies the migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new().connect_with(options).await?;
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        Ok(PostgresStore { pool })
    }

    /// Starts a write transaction.
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
        self.pool.begin().await
    }

    /// The connection pool, for this crate's schema tests.
    #[cfg(test)]
    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }
}

impl_store!(PostgresStore, sqlx::Postgres);
