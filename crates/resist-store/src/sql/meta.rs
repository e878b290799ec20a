//! The database's liveness and the shared settings (`meta`): one key, one
//! value, first writer wins.

pub(crate) const PING: &str = "SELECT 1";
pub(crate) const INSERT: &str =
    "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING";
pub(crate) const GET: &str = "SELECT value FROM meta WHERE key = $1";

/// `impl MetaStore for $store`.
macro_rules! impl_meta_store {
    ($store:ty) => {
        impl $crate::MetaStore for $store {
            async fn ping(&self) -> Result<(), $crate::StoreError> {
                sqlx::query($crate::sql::meta::PING)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn meta_get_or_insert(
                &self,
                key: &str,
                value: &str,
            ) -> Result<String, $crate::StoreError> {
                // Two statements, no transaction: the insert either stores our
                // value or (on PostgreSQL, after waiting for a concurrent
                // inserter to commit) does nothing; the read then sees the winner.
                sqlx::query($crate::sql::meta::INSERT)
                    .bind(key)
                    .bind(value)
                    .execute(&self.pool)
                    .await?;
                let stored: String = sqlx::query_scalar($crate::sql::meta::GET)
                    .bind(key)
                    .fetch_one(&self.pool)
                    .await?;
                Ok(stored)
            }
        }
    };
}

pub(crate) use impl_meta_store;
