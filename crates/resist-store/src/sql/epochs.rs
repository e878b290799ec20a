//! Grant epochs and their payout batches. Every state change is a
//! conditional `UPDATE` (… AND state = the state before), so of two
//! coordinators racing only one moves it; the triggers of migration 0003
//! refuse anything else.

use resist_clock::UnixTime;

use crate::{Batch, Epoch, NewBatch, StoreError};

pub(crate) const EPOCH_INSERT: &str = "INSERT INTO epochs \
     (epoch, prev_epoch, prev_last_window, first_window, last_window, budget_sat, report, \
     state, closed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'closed', $8)";
/// The columns of [`EpochRow`].
macro_rules! epoch_columns {
    () => {
        "epoch, first_window, last_window, budget_sat, report, state, batches, closed_at, \
         exported_at, signed_at, broadcast_at"
    };
}
pub(crate) const EPOCH_BY_NUMBER: &str =
    concat!("SELECT ", epoch_columns!(), " FROM epochs WHERE epoch = $1");
pub(crate) const EPOCHS: &str = concat!("SELECT ", epoch_columns!(), " FROM epochs ORDER BY epoch");
pub(crate) const EPOCH_EXPORT: &str = "UPDATE epochs \
     SET state = 'psbt_exported', batches = $2, exported_at = $3 \
     WHERE epoch = $1 AND state = 'closed'";
pub(crate) const EPOCH_SIGNED: &str = "UPDATE epochs SET state = 'signed', signed_at = $2 \
     WHERE epoch = $1 AND state = 'psbt_exported' AND batches = (SELECT count(*) \
         FROM payout_batches b WHERE b.epoch = $1 AND b.signed_tx IS NOT NULL)";
pub(crate) const EPOCH_BROADCAST: &str = "UPDATE epochs \
     SET state = 'broadcast', broadcast_at = $2 \
     WHERE epoch = $1 AND state = 'signed' AND batches = (SELECT count(*) \
         FROM payout_batches b WHERE b.epoch = $1 AND b.broadcast_at IS NOT NULL)";
pub(crate) const EPOCH_STATE: &str = "SELECT state FROM epochs WHERE epoch = $1";

pub(crate) const BATCH_INSERT: &str = "INSERT INTO payout_batches \
     (epoch, batch, psbt, txid, payees, amount_sat, fee_sat) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";
/// The columns of [`BatchRow`].
macro_rules! batch_columns {
    () => {
        "epoch, batch, psbt, txid, payees, amount_sat, fee_sat, signed_tx, signed_at, \
         broadcast_at"
    };
}
pub(crate) const BATCHES_OF: &str = concat!(
    "SELECT ",
    batch_columns!(),
    " FROM payout_batches WHERE epoch = $1 ORDER BY batch"
);
pub(crate) const BATCHES: &str = concat!(
    "SELECT ",
    batch_columns!(),
    " FROM payout_batches ORDER BY epoch, batch"
);
pub(crate) const BATCH_SIGN: &str = "UPDATE payout_batches \
     SET signed_tx = $3, signed_at = $4 \
     WHERE epoch = $1 AND batch = $2 AND signed_tx IS NULL";
pub(crate) const BATCH_BROADCAST: &str = "UPDATE payout_batches SET broadcast_at = $3 \
     WHERE epoch = $1 AND batch = $2 AND signed_tx IS NOT NULL AND broadcast_at IS NULL";
/// Whether the batch is signed; no row if there is no such batch.
pub(crate) const BATCH_SIGNED: &str =
    "SELECT signed_tx IS NOT NULL FROM payout_batches WHERE epoch = $1 AND batch = $2";

/// A row of `epochs` (without the chain columns, which only the schema reads).
#[derive(sqlx::FromRow)]
pub(crate) struct EpochRow {
    epoch: i64,
    first_window: i64,
    last_window: i64,
    budget_sat: i64,
    report: String,
    state: String,
    batches: Option<i64>,
    closed_at: i64,
    exported_at: Option<i64>,
    signed_at: Option<i64>,
    broadcast_at: Option<i64>,
}

impl TryFrom<EpochRow> for Epoch {
    type Error = StoreError;

    fn try_from(r: EpochRow) -> Result<Epoch, StoreError> {
        let n = r.epoch;
        Ok(Epoch {
            epoch: n,
            first_window: r.first_window,
            last_window: r.last_window,
            budget_sat: non_negative(r.budget_sat, "budget", n)?,
            report: r.report,
            state: crate::model::parse_epoch_state(&r.state)?,
            batches: r
                .batches
                .map(|b| non_negative(b, "batch count", n))
                .transpose()?,
            closed_at: UnixTime(r.closed_at),
            exported_at: r.exported_at.map(UnixTime),
            signed_at: r.signed_at.map(UnixTime),
            broadcast_at: r.broadcast_at.map(UnixTime),
        })
    }
}

/// A row of `payout_batches`.
#[derive(sqlx::FromRow)]
pub(crate) struct BatchRow {
    epoch: i64,
    batch: i64,
    psbt: Vec<u8>,
    txid: Vec<u8>,
    payees: i64,
    amount_sat: i64,
    fee_sat: i64,
    signed_tx: Option<Vec<u8>>,
    signed_at: Option<i64>,
    broadcast_at: Option<i64>,
}

impl TryFrom<BatchRow> for Batch {
    type Error = StoreError;

    fn try_from(r: BatchRow) -> Result<Batch, StoreError> {
        let n = r.epoch;
        Ok(Batch {
            epoch: n,
            unsigned: NewBatch {
                batch: non_negative(r.batch, "batch index", n)?,
                psbt: r.psbt,
                txid: r
                    .txid
                    .try_into()
                    .map_err(|_| StoreError::Corrupt(format!("txid of a batch of epoch {n}")))?,
                payees: non_negative(r.payees, "payee count", n)?,
                amount_sat: non_negative(r.amount_sat, "batch amount", n)?,
                fee_sat: non_negative(r.fee_sat, "batch fee", n)?,
            },
            signed_tx: r.signed_tx,
            signed_at: r.signed_at.map(UnixTime),
            broadcast_at: r.broadcast_at.map(UnixTime),
        })
    }
}

fn non_negative<T: TryFrom<i64>>(value: i64, what: &str, epoch: i64) -> Result<T, StoreError> {
    T::try_from(value).map_err(|_| StoreError::Corrupt(format!("{what} {value} of epoch {epoch}")))
}

/// `impl EpochStore for $store`.
macro_rules! impl_epoch_store {
    ($store:ty) => {
        impl $store {
            /// Records a batch signed (`signed_tx`) or, without it, broadcast,
            /// and moves the epoch on when it was its last batch, in one
            /// transaction. A batch recorded before stays as it was.
            async fn batch_step(
                &self,
                epoch: i64,
                batch: u32,
                signed_tx: Option<&[u8]>,
                now: resist_clock::UnixTime,
            ) -> Result<$crate::Recorded, $crate::StoreError> {
                let mut tx = self.begin_write().await?;
                let step = match signed_tx {
                    Some(signed) => sqlx::query($crate::sql::epochs::BATCH_SIGN)
                        .bind(epoch)
                        .bind(i64::from(batch))
                        .bind(signed)
                        .bind(now.0),
                    None => sqlx::query($crate::sql::epochs::BATCH_BROADCAST)
                        .bind(epoch)
                        .bind(i64::from(batch))
                        .bind(now.0),
                };
                let fresh = step.execute(&mut *tx).await?.rows_affected() == 1;
                if !fresh {
                    let signed: Option<bool> =
                        sqlx::query_scalar($crate::sql::epochs::BATCH_SIGNED)
                            .bind(epoch)
                            .bind(i64::from(batch))
                            .fetch_optional(&mut *tx)
                            .await?;
                    // Signing needs the batch; broadcasting needs it signed.
                    let (exists, what) = match signed_tx {
                        Some(_) => (signed.is_some(), "payout batch"),
                        None => (signed == Some(true), "signed payout batch"),
                    };
                    if !exists {
                        tx.rollback().await?;
                        return Err($crate::StoreError::NotFound { what });
                    }
                }
                // Moves the epoch when no batch is left behind (no-op otherwise).
                let advance = if signed_tx.is_some() {
                    $crate::sql::epochs::EPOCH_SIGNED
                } else {
                    $crate::sql::epochs::EPOCH_BROADCAST
                };
                sqlx::query(advance)
                    .bind(epoch)
                    .bind(now.0)
                    .execute(&mut *tx)
                    .await?;
                let state: String = sqlx::query_scalar($crate::sql::epochs::EPOCH_STATE)
                    .bind(epoch)
                    .fetch_one(&mut *tx)
                    .await?;
                tx.commit().await?;
                let state = $crate::model::parse_epoch_state(&state)?;
                Ok(if fresh {
                    $crate::Recorded::Now(state)
                } else {
                    $crate::Recorded::Already(state)
                })
            }
        }

        impl $crate::EpochStore for $store {
            async fn close_epoch(
                &self,
                epoch: &$crate::NewEpoch,
                now: resist_clock::UnixTime,
            ) -> Result<$crate::Epoch, $crate::StoreError> {
                let budget = i64::try_from(epoch.budget_sat)
                    .map_err(|_| $crate::StoreError::Corrupt("budget above i64".into()))?;
                let mut tx = self.begin_write().await?;
                // Taken first: a repeated or racing close of the same number is
                // a Conflict, whatever its range.
                let taken: Option<String> = sqlx::query_scalar($crate::sql::epochs::EPOCH_STATE)
                    .bind(epoch.epoch)
                    .fetch_optional(&mut *tx)
                    .await?;
                if taken.is_some() {
                    tx.rollback().await?;
                    return Err($crate::StoreError::Conflict($crate::ConflictKind::Epoch));
                }
                let (prev, prev_last) = if epoch.epoch > 1 {
                    (
                        Some(epoch.epoch - 1),
                        Some(epoch.first_window.saturating_sub(1)),
                    )
                } else {
                    (None, None)
                };
                sqlx::query($crate::sql::epochs::EPOCH_INSERT)
                    .bind(epoch.epoch)
                    .bind(prev)
                    .bind(prev_last)
                    .bind(epoch.first_window)
                    .bind(epoch.last_window)
                    .bind(budget)
                    .bind(&epoch.report)
                    .bind(now.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| $crate::sql::classify(e, "previous epoch"))?;
                let row: $crate::sql::epochs::EpochRow =
                    sqlx::query_as($crate::sql::epochs::EPOCH_BY_NUMBER)
                        .bind(epoch.epoch)
                        .fetch_one(&mut *tx)
                        .await?;
                tx.commit().await?;
                row.try_into()
            }

            async fn epoch(&self, epoch: i64) -> Result<Option<$crate::Epoch>, $crate::StoreError> {
                let row: Option<$crate::sql::epochs::EpochRow> =
                    sqlx::query_as($crate::sql::epochs::EPOCH_BY_NUMBER)
                        .bind(epoch)
                        .fetch_optional(&self.pool)
                        .await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn epochs(&self) -> Result<Vec<$crate::Epoch>, $crate::StoreError> {
                let rows: Vec<$crate::sql::epochs::EpochRow> =
                    sqlx::query_as($crate::sql::epochs::EPOCHS)
                        .fetch_all(&self.pool)
                        .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn record_export(
                &self,
                epoch: i64,
                batches: &[$crate::NewBatch],
                now: resist_clock::UnixTime,
            ) -> Result<$crate::Recorded, $crate::StoreError> {
                let count = i64::try_from(batches.len())
                    .map_err(|_| $crate::StoreError::Corrupt("too many batches".into()))?;
                let mut tx = self.begin_write().await?;
                // The state change first: on PostgreSQL it locks the row, so a
                // racing export waits here and then changes nothing.
                let moved = sqlx::query($crate::sql::epochs::EPOCH_EXPORT)
                    .bind(epoch)
                    .bind(count)
                    .bind(now.0)
                    .execute(&mut *tx)
                    .await?;
                if moved.rows_affected() == 0 {
                    let state: Option<String> =
                        sqlx::query_scalar($crate::sql::epochs::EPOCH_STATE)
                            .bind(epoch)
                            .fetch_optional(&mut *tx)
                            .await?;
                    tx.rollback().await?;
                    return match state {
                        Some(s) => Ok($crate::Recorded::Already($crate::model::parse_epoch_state(
                            &s,
                        )?)),
                        None => Err($crate::StoreError::NotFound { what: "epoch" }),
                    };
                }
                for b in batches {
                    sqlx::query($crate::sql::epochs::BATCH_INSERT)
                        .bind(epoch)
                        .bind(i64::from(b.batch))
                        .bind(&b.psbt)
                        .bind(&b.txid[..])
                        .bind(i64::from(b.payees))
                        .bind(i64::try_from(b.amount_sat).unwrap_or(i64::MAX))
                        .bind(i64::try_from(b.fee_sat).unwrap_or(i64::MAX))
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok($crate::Recorded::Now($crate::EpochState::PsbtExported))
            }

            async fn batches_of(
                &self,
                epoch: i64,
            ) -> Result<Vec<$crate::Batch>, $crate::StoreError> {
                let rows: Vec<$crate::sql::epochs::BatchRow> =
                    sqlx::query_as($crate::sql::epochs::BATCHES_OF)
                        .bind(epoch)
                        .fetch_all(&self.pool)
                        .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn batches(&self) -> Result<Vec<$crate::Batch>, $crate::StoreError> {
                let rows: Vec<$crate::sql::epochs::BatchRow> =
                    sqlx::query_as($crate::sql::epochs::BATCHES)
                        .fetch_all(&self.pool)
                        .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn record_signed(
                &self,
                epoch: i64,
                batch: u32,
                signed_tx: &[u8],
                now: resist_clock::UnixTime,
            ) -> Result<$crate::Recorded, $crate::StoreError> {
                self.batch_step(epoch, batch, Some(signed_tx), now).await
            }

            async fn record_broadcast(
                &self,
                epoch: i64,
                batch: u32,
                now: resist_clock::UnixTime,
            ) -> Result<$crate::Recorded, $crate::StoreError> {
                self.batch_step(epoch, batch, None, now).await
            }
        }
    };
}

pub(crate) use impl_epoch_store;
