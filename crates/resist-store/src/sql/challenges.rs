//! Challenge nonces: created with an expiry, consumed once by the signed
//! change that answers them (inside that change's transaction), purged when
//! expired.

pub(crate) const INSERT: &str =
    "INSERT INTO challenges (nonce, created_at, expires_at) VALUES ($1, $2, $3)";
pub(crate) const PURGE: &str = "DELETE FROM challenges WHERE expires_at <= $1";
/// Deletes the challenge if it is still valid; one row affected means the
/// nonce was good and is now used. On PostgreSQL a second transaction
/// deleting the same row waits for the first and then finds nothing.
pub(crate) const CONSUME: &str = "DELETE FROM challenges WHERE nonce = $1 AND expires_at > $2";

/// `impl ChallengeStore for $store`, and `consume_challenge` for the signed
/// changes of the other concepts.
macro_rules! impl_challenge_store {
    ($store:ty, $db:ty) => {
        impl $store {
            /// Deletes the proof's challenge if it is valid at `now`.
            async fn consume_challenge(
                tx: &mut sqlx::Transaction<'static, $db>,
                nonce: &str,
                now: resist_clock::UnixTime,
            ) -> Result<(), $crate::StoreError> {
                let done = sqlx::query($crate::sql::challenges::CONSUME)
                    .bind(nonce)
                    .bind(now.0)
                    .execute(&mut **tx)
                    .await?;
                if done.rows_affected() == 1 {
                    Ok(())
                } else {
                    Err($crate::StoreError::ChallengeInvalid)
                }
            }
        }

        impl $crate::ChallengeStore for $store {
            async fn create_challenge(
                &self,
                nonce: &str,
                now: resist_clock::UnixTime,
                expires_at: resist_clock::UnixTime,
            ) -> Result<(), $crate::StoreError> {
                sqlx::query($crate::sql::challenges::INSERT)
                    .bind(nonce)
                    .bind(now.0)
                    .bind(expires_at.0)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn purge_expired_challenges(
                &self,
                now: resist_clock::UnixTime,
            ) -> Result<u64, $crate::StoreError> {
                let done = sqlx::query($crate::sql::challenges::PURGE)
                    .bind(now.0)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected())
            }
        }
    };
}

pub(crate) use impl_challenge_store;
