//! Enrolled probes: key, region, and whether their reports are accepted.

use resist_clock::UnixTime;
use resist_proto::region::Region;

use crate::{Probe, ProbeId, StoreError};

/// The columns of [`ProbeRow`], for `SELECT` and `RETURNING`.
macro_rules! probe_columns {
    () => {
        "id, public_key, region, enabled, enrolled_at, updated_at"
    };
}

pub(crate) const INSERT: &str = concat!(
    "INSERT INTO probes (public_key, region, enabled, enrolled_at, updated_at) \
     VALUES ($1, $2, $3, $4, $4) RETURNING ",
    probe_columns!()
);
pub(crate) const ALL: &str = concat!("SELECT ", probe_columns!(), " FROM probes ORDER BY id");
pub(crate) const BY_KEY: &str = concat!(
    "SELECT ",
    probe_columns!(),
    " FROM probes WHERE public_key = $1"
);
pub(crate) const SET_ENABLED: &str = concat!(
    "UPDATE probes SET enabled = $2, updated_at = $3 WHERE id = $1 RETURNING ",
    probe_columns!()
);

/// A row of `probes`.
#[derive(sqlx::FromRow)]
pub(crate) struct ProbeRow {
    id: i64,
    public_key: Vec<u8>,
    region: String,
    enabled: bool,
    enrolled_at: i64,
    updated_at: i64,
}

impl TryFrom<ProbeRow> for Probe {
    type Error = StoreError;

    fn try_from(r: ProbeRow) -> Result<Probe, StoreError> {
        let id = r.id;
        Ok(Probe {
            id: ProbeId(id),
            public_key: r.public_key.try_into().map_err(|k: Vec<u8>| {
                StoreError::Corrupt(format!("probe {id}: public key of {} bytes", k.len()))
            })?,
            region: region(&r.region, id)?,
            enabled: r.enabled,
            enrolled_at: UnixTime(r.enrolled_at),
            updated_at: UnixTime(r.updated_at),
        })
    }
}

/// The stored region label of probe `id`, parsed.
pub(crate) fn region(label: &str, id: i64) -> Result<Region, StoreError> {
    label
        .parse()
        .map_err(|e| StoreError::Corrupt(format!("probe {id}: {e}")))
}

/// `impl ProbeStore for $store`.
macro_rules! impl_probe_store {
    ($store:ty) => {
        impl $crate::ProbeStore for $store {
            async fn enrol_probe(
                &self,
                probe: &$crate::NewProbe,
                now: resist_clock::UnixTime,
            ) -> Result<$crate::Probe, $crate::StoreError> {
                let row: $crate::sql::probes::ProbeRow =
                    sqlx::query_as($crate::sql::probes::INSERT)
                        .bind(&probe.public_key[..])
                        .bind(probe.region.to_string())
                        .bind(true)
                        .bind(now.0)
                        .fetch_one(&self.pool)
                        .await
                        .map_err(|e| $crate::sql::classify(e, "probe"))?;
                row.try_into()
            }

            async fn probes(&self) -> Result<Vec<$crate::Probe>, $crate::StoreError> {
                let rows: Vec<$crate::sql::probes::ProbeRow> =
                    sqlx::query_as($crate::sql::probes::ALL)
                        .fetch_all(&self.pool)
                        .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn probe_by_key(
                &self,
                public_key: &[u8; 32],
            ) -> Result<Option<$crate::Probe>, $crate::StoreError> {
                let row: Option<$crate::sql::probes::ProbeRow> =
                    sqlx::query_as($crate::sql::probes::BY_KEY)
                        .bind(&public_key[..])
                        .fetch_optional(&self.pool)
                        .await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn set_probe_enabled(
                &self,
                id: $crate::ProbeId,
                enabled: bool,
                now: resist_clock::UnixTime,
            ) -> Result<$crate::Probe, $crate::StoreError> {
                let row: Option<$crate::sql::probes::ProbeRow> =
                    sqlx::query_as($crate::sql::probes::SET_ENABLED)
                        .bind(id.0)
                        .bind(enabled)
                        .bind(now.0)
                        .fetch_optional(&self.pool)
                        .await?;
                match row {
                    Some(row) => row.try_into(),
                    None => Err($crate::StoreError::NotFound { what: "probe" }),
                }
            }
        }
    };
}

pub(crate) use impl_probe_store;
