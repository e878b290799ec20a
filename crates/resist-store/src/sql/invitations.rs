//! The funder's invitations for the distributor: a token hash, a label and
//! the time of revocation. Rows are never deleted.

use resist_clock::UnixTime;

use crate::{Invitation, InvitationId};

/// The columns of [`InvitationRow`], for `SELECT` and `RETURNING`.
macro_rules! invitation_columns {
    () => {
        "id, label, created_at, revoked_at"
    };
}

pub(crate) const INSERT: &str = concat!(
    "INSERT INTO invitations (token_hash, label, created_at) VALUES ($1, $2, $3) RETURNING ",
    invitation_columns!()
);
pub(crate) const ALL: &str = concat!(
    "SELECT ",
    invitation_columns!(),
    " FROM invitations ORDER BY id"
);
pub(crate) const BY_TOKEN: &str = concat!(
    "SELECT ",
    invitation_columns!(),
    " FROM invitations WHERE token_hash = $1"
);
/// Keeps the first revocation time: revoking twice is not an error and
/// changes nothing. A `now` before the creation (another coordinator's clock
/// behind) is taken as the creation time. (`CASE`, because `GREATEST` and
/// two-argument `MAX` are each one backend's.)
pub(crate) const REVOKE: &str = concat!(
    "UPDATE invitations \
     SET revoked_at = COALESCE(revoked_at, \
         CASE WHEN $2 > created_at THEN $2 ELSE created_at END) \
     WHERE id = $1 RETURNING ",
    invitation_columns!()
);

/// A row of `invitations` (without the token hash, which is only looked up).
#[derive(sqlx::FromRow)]
pub(crate) struct InvitationRow {
    id: i64,
    label: String,
    created_at: i64,
    revoked_at: Option<i64>,
}

impl From<InvitationRow> for Invitation {
    fn from(r: InvitationRow) -> Invitation {
        Invitation {
            id: InvitationId(r.id),
            label: r.label,
            created_at: UnixTime(r.created_at),
            revoked_at: r.revoked_at.map(UnixTime),
        }
    }
}

/// `impl InvitationStore for $store`.
macro_rules! impl_invitation_store {
    ($store:ty) => {
        impl $crate::InvitationStore for $store {
            async fn create_invitations(
                &self,
                invitations: &[$crate::NewInvitation],
                now: resist_clock::UnixTime,
            ) -> Result<Vec<$crate::Invitation>, $crate::StoreError> {
                let mut tx = self.begin_write().await?;
                let mut created = Vec::with_capacity(invitations.len());
                for new in invitations {
                    let row: $crate::sql::invitations::InvitationRow =
                        sqlx::query_as($crate::sql::invitations::INSERT)
                            .bind(&new.token_hash[..])
                            .bind(&new.label)
                            .bind(now.0)
                            .fetch_one(&mut *tx)
                            .await?;
                    created.push(row.into());
                }
                tx.commit().await?;
                Ok(created)
            }

            async fn invitations(&self) -> Result<Vec<$crate::Invitation>, $crate::StoreError> {
                let rows: Vec<$crate::sql::invitations::InvitationRow> =
                    sqlx::query_as($crate::sql::invitations::ALL)
                        .fetch_all(&self.pool)
                        .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn invitation_by_token(
                &self,
                token_hash: &[u8; 32],
            ) -> Result<Option<$crate::Invitation>, $crate::StoreError> {
                let row: Option<$crate::sql::invitations::InvitationRow> =
                    sqlx::query_as($crate::sql::invitations::BY_TOKEN)
                        .bind(&token_hash[..])
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.map(Into::into))
            }

            async fn revoke_invitation(
                &self,
                id: $crate::InvitationId,
                now: resist_clock::UnixTime,
            ) -> Result<$crate::Invitation, $crate::StoreError> {
                let row: Option<$crate::sql::invitations::InvitationRow> =
                    sqlx::query_as($crate::sql::invitations::REVOKE)
                        .bind(id.0)
                        .bind(now.0)
                        .fetch_optional(&self.pool)
                        .await?;
                row.map(Into::into)
                    .ok_or($crate::StoreError::NotFound { what: "invitation" })
            }
        }
    };
}

pub(crate) use impl_invitation_store;
