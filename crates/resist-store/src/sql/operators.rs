//! Operators, their nodes and the proofs of their signed changes. Every
//! change here consumes a challenge and records its proof in the same
//! transaction.

use resist_clock::UnixTime;

use crate::{
    CheckedAddress, Node, NodeId, Operator, OperatorId, ProofRecord, Protocol, StoreError,
};

/// The columns of [`OperatorRow`], for `SELECT` and `RETURNING`.
macro_rules! operator_columns {
    () => {
        "id, payout_address, created_at, updated_at"
    };
}
/// The columns of [`NodeRow`], for `SELECT` and `RETURNING`.
macro_rules! node_columns {
    () => {
        "id, operator_id, host, port, protocol, username, password, created_at, updated_at"
    };
}

pub(crate) const OPERATOR_INSERT: &str = concat!(
    "INSERT INTO operators (payout_address, token_hash, created_at, updated_at) \
     VALUES ($1, $2, $3, $3) RETURNING ",
    operator_columns!()
);
pub(crate) const OPERATOR_BY_ID: &str = concat!(
    "SELECT ",
    operator_columns!(),
    " FROM operators WHERE id = $1"
);
pub(crate) const OPERATOR_BY_PAYOUT: &str = concat!(
    "SELECT ",
    operator_columns!(),
    " FROM operators WHERE payout_address = $1"
);
pub(crate) const OPERATOR_BY_TOKEN: &str = concat!(
    "SELECT ",
    operator_columns!(),
    " FROM operators WHERE token_hash = $1"
);
pub(crate) const OPERATORS: &str = concat!(
    "SELECT ",
    operator_columns!(),
    " FROM operators ORDER BY id"
);
pub(crate) const OPERATOR_SET_PAYOUT: &str = concat!(
    "UPDATE operators SET payout_address = $2, updated_at = $3 WHERE id = $1 RETURNING ",
    operator_columns!()
);
pub(crate) const OPERATOR_SET_TOKEN: &str =
    "UPDATE operators SET token_hash = $2, updated_at = $3 WHERE id = $1";

pub(crate) const NODE_INSERT: &str = concat!(
    "INSERT INTO nodes \
     (operator_id, host, port, protocol, username, password, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING ",
    node_columns!()
);
/// `$3`/`$4`: new host and port, or NULL to keep them. `$5`: whether to
/// replace the credentials with `$6`/`$7` (which may both be NULL).
/// `WHERE … AND operator_id` makes another operator's node look absent.
pub(crate) const NODE_UPDATE: &str = concat!(
    "UPDATE nodes SET \
     host = COALESCE($3, host), \
     port = COALESCE($4, port), \
     username = CASE WHEN $5 THEN $6 ELSE username END, \
     password = CASE WHEN $5 THEN $7 ELSE password END, \
     updated_at = $8 \
     WHERE id = $1 AND operator_id = $2 RETURNING ",
    node_columns!()
);
pub(crate) const NODE_BY_ID: &str =
    concat!("SELECT ", node_columns!(), " FROM nodes WHERE id = $1");
pub(crate) const NODES: &str = concat!("SELECT ", node_columns!(), " FROM nodes ORDER BY id");
pub(crate) const NODES_OF: &str = concat!(
    "SELECT ",
    node_columns!(),
    " FROM nodes WHERE operator_id = $1 ORDER BY id"
);

pub(crate) const PROOF_INSERT: &str = "INSERT INTO proofs \
     (operator_id, action, address, message, signature, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6)";
pub(crate) const PROOFS_OF: &str = "SELECT operator_id, action, address, message, signature, \
     created_at FROM proofs WHERE operator_id = $1 ORDER BY id";

/// A row of `operators` (without the token hash, which is only looked up).
#[derive(sqlx::FromRow)]
pub(crate) struct OperatorRow {
    id: i64,
    payout_address: String,
    created_at: i64,
    updated_at: i64,
}

impl From<OperatorRow> for Operator {
    fn from(r: OperatorRow) -> Operator {
        Operator {
            id: OperatorId(r.id),
            payout_address: CheckedAddress::new(r.payout_address),
            created_at: UnixTime(r.created_at),
            updated_at: UnixTime(r.updated_at),
        }
    }
}

/// A row of `nodes`.
#[derive(sqlx::FromRow)]
pub(crate) struct NodeRow {
    id: i64,
    operator_id: i64,
    host: String,
    port: i32,
    protocol: String,
    username: Option<String>,
    password: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<NodeRow> for Node {
    type Error = StoreError;

    fn try_from(r: NodeRow) -> Result<Node, StoreError> {
        let id = r.id;
        Ok(Node {
            id: NodeId(id),
            operator: OperatorId(r.operator_id),
            host: r.host,
            port: u16::try_from(r.port).map_err(|_| {
                StoreError::Corrupt(format!("node {id}: port {} out of range", r.port))
            })?,
            protocol: Protocol::from_name(&r.protocol).ok_or_else(|| {
                StoreError::Corrupt(format!("node {id}: unknown protocol {:?}", r.protocol))
            })?,
            username: r.username,
            password: r.password,
            created_at: UnixTime(r.created_at),
            updated_at: UnixTime(r.updated_at),
        })
    }
}

/// A row of `proofs`.
#[derive(sqlx::FromRow)]
pub(crate) struct ProofRow {
    operator_id: i64,
    action: String,
    address: String,
    message: String,
    signature: String,
    created_at: i64,
}

impl From<ProofRow> for ProofRecord {
    fn from(r: ProofRow) -> ProofRecord {
        ProofRecord {
            operator: OperatorId(r.operator_id),
            action: r.action,
            address: r.address,
            message: r.message,
            signature: r.signature,
            created_at: UnixTime(r.created_at),
        }
    }
}

/// `impl OperatorStore for $store`.
macro_rules! impl_operator_store {
    ($store:ty, $db:ty) => {
        impl $store {
            /// One `proofs` row per signature.
            async fn record_proof(
                tx: &mut sqlx::Transaction<'static, $db>,
                operator: $crate::OperatorId,
                proof: &$crate::ChangeProof,
                now: resist_clock::UnixTime,
            ) -> Result<(), $crate::StoreError> {
                for sig in &proof.signatures {
                    sqlx::query($crate::sql::operators::PROOF_INSERT)
                        .bind(operator.0)
                        .bind(&proof.action)
                        .bind(&sig.address)
                        .bind(&proof.message)
                        .bind(&sig.signature)
                        .bind(now.0)
                        .execute(&mut **tx)
                        .await
                        .map_err(|e| $crate::sql::classify(e, "operator"))?;
                }
                Ok(())
            }

            async fn insert_node(
                tx: &mut sqlx::Transaction<'static, $db>,
                operator: $crate::OperatorId,
                node: &$crate::NewNode,
                now: resist_clock::UnixTime,
            ) -> Result<$crate::Node, $crate::StoreError> {
                let row: $crate::sql::operators::NodeRow =
                    sqlx::query_as($crate::sql::operators::NODE_INSERT)
                        .bind(operator.0)
                        .bind(&node.host)
                        .bind(i32::from(node.port))
                        .bind(node.protocol.as_str())
                        .bind(node.username.as_deref())
                        .bind(node.password.as_deref())
                        .bind(now.0)
                        .fetch_one(&mut **tx)
                        .await
                        .map_err(|e| $crate::sql::classify(e, "operator"))?;
                row.try_into()
            }
        }

        impl $crate::OperatorStore for $store {
            async fn register_operator(
                &self,
                operator: &$crate::NewOperator,
                nodes: &[$crate::NewNode],
                proof: &$crate::ChangeProof,
                now: resist_clock::UnixTime,
            ) -> Result<($crate::Operator, Vec<$crate::Node>), $crate::StoreError> {
                let mut tx = self.begin_write().await?;
                Self::consume_challenge(&mut tx, &proof.nonce, now).await?;
                let row: $crate::sql::operators::OperatorRow =
                    sqlx::query_as($crate::sql::operators::OPERATOR_INSERT)
                        .bind(operator.payout_address.as_str())
                        .bind(&operator.token_hash[..])
                        .bind(now.0)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(|e| $crate::sql::classify(e, "operator"))?;
                let created = $crate::Operator::from(row);
                // Insert in (host, port) order, so that two registrations naming
                // the same endpoints take their index locks in the same order:
                // on PostgreSQL the later one then waits and gets a Conflict
                // instead of a deadlock error. The answer keeps the caller's order.
                let mut order: Vec<usize> = (0..nodes.len()).collect();
                order.sort_by(|&a, &b| {
                    (&nodes[a].host, nodes[a].port).cmp(&(&nodes[b].host, nodes[b].port))
                });
                let mut added: Vec<Option<$crate::Node>> = vec![None; nodes.len()];
                for i in order {
                    added[i] = Some(Self::insert_node(&mut tx, created.id, &nodes[i], now).await?);
                }
                Self::record_proof(&mut tx, created.id, proof, now).await?;
                tx.commit().await?;
                Ok((created, added.into_iter().flatten().collect()))
            }

            async fn operator(
                &self,
                id: $crate::OperatorId,
            ) -> Result<Option<$crate::Operator>, $crate::StoreError> {
                let row: Option<$crate::sql::operators::OperatorRow> =
                    sqlx::query_as($crate::sql::operators::OPERATOR_BY_ID)
                        .bind(id.0)
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.map(Into::into))
            }

            async fn operator_by_payout(
                &self,
                address: &str,
            ) -> Result<Option<$crate::Operator>, $crate::StoreError> {
                let row: Option<$crate::sql::operators::OperatorRow> =
                    sqlx::query_as($crate::sql::operators::OPERATOR_BY_PAYOUT)
                        .bind(address)
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.map(Into::into))
            }

            async fn operator_by_token(
                &self,
                token_hash: &[u8; 32],
            ) -> Result<Option<$crate::Operator>, $crate::StoreError> {
                let row: Option<$crate::sql::operators::OperatorRow> =
                    sqlx::query_as($crate::sql::operators::OPERATOR_BY_TOKEN)
                        .bind(&token_hash[..])
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.map(Into::into))
            }

            async fn operators(&self) -> Result<Vec<$crate::Operator>, $crate::StoreError> {
                let rows: Vec<$crate::sql::operators::OperatorRow> =
                    sqlx::query_as($crate::sql::operators::OPERATORS)
                        .fetch_all(&self.pool)
                        .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn change_payout(
                &self,
                operator: $crate::OperatorId,
                new_address: &$crate::CheckedAddress,
                proof: &$crate::ChangeProof,
                now: resist_clock::UnixTime,
            ) -> Result<$crate::Operator, $crate::StoreError> {
                let mut tx = self.begin_write().await?;
                Self::consume_challenge(&mut tx, &proof.nonce, now).await?;
                let row: Option<$crate::sql::operators::OperatorRow> =
                    sqlx::query_as($crate::sql::operators::OPERATOR_SET_PAYOUT)
                        .bind(operator.0)
                        .bind(new_address.as_str())
                        .bind(now.0)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(|e| $crate::sql::classify(e, "operator"))?;
                let Some(row) = row else {
                    return Err($crate::StoreError::NotFound { what: "operator" });
                };
                Self::record_proof(&mut tx, operator, proof, now).await?;
                tx.commit().await?;
                Ok(row.into())
            }

            async fn set_operator_token(
                &self,
                operator: $crate::OperatorId,
                token_hash: &[u8; 32],
                proof: &$crate::ChangeProof,
                now: resist_clock::UnixTime,
            ) -> Result<(), $crate::StoreError> {
                let mut tx = self.begin_write().await?;
                Self::consume_challenge(&mut tx, &proof.nonce, now).await?;
                let done = sqlx::query($crate::sql::operators::OPERATOR_SET_TOKEN)
                    .bind(operator.0)
                    .bind(&token_hash[..])
                    .bind(now.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| $crate::sql::classify(e, "operator"))?;
                if done.rows_affected() != 1 {
                    return Err($crate::StoreError::NotFound { what: "operator" });
                }
                Self::record_proof(&mut tx, operator, proof, now).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn add_node(
                &self,
                operator: $crate::OperatorId,
                node: &$crate::NewNode,
                proof: &$crate::ChangeProof,
                now: resist_clock::UnixTime,
            ) -> Result<$crate::Node, $crate::StoreError> {
                let mut tx = self.begin_write().await?;
                Self::consume_challenge(&mut tx, &proof.nonce, now).await?;
                let added = Self::insert_node(&mut tx, operator, node, now).await?;
                Self::record_proof(&mut tx, operator, proof, now).await?;
                tx.commit().await?;
                Ok(added)
            }

            async fn update_node(
                &self,
                operator: $crate::OperatorId,
                node: $crate::NodeId,
                update: &$crate::NodeUpdate,
                proof: &$crate::ChangeProof,
                now: resist_clock::UnixTime,
            ) -> Result<$crate::Node, $crate::StoreError> {
                let (host, port) = match &update.endpoint {
                    Some((host, port)) => (Some(host.as_str()), Some(i32::from(*port))),
                    None => (None, None),
                };
                let (set_credentials, username, password) = match &update.credentials {
                    None => (false, None, None),
                    Some(None) => (true, None, None),
                    Some(Some((user, pass))) => (true, Some(user.as_str()), Some(pass.as_str())),
                };
                let mut tx = self.begin_write().await?;
                Self::consume_challenge(&mut tx, &proof.nonce, now).await?;
                let row: Option<$crate::sql::operators::NodeRow> =
                    sqlx::query_as($crate::sql::operators::NODE_UPDATE)
                        .bind(node.0)
                        .bind(operator.0)
                        .bind(host)
                        .bind(port)
                        .bind(set_credentials)
                        .bind(username)
                        .bind(password)
                        .bind(now.0)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(|e| $crate::sql::classify(e, "node"))?;
                let Some(row) = row else {
                    return Err($crate::StoreError::NotFound { what: "node" });
                };
                Self::record_proof(&mut tx, operator, proof, now).await?;
                tx.commit().await?;
                row.try_into()
            }

            async fn node(
                &self,
                id: $crate::NodeId,
            ) -> Result<Option<$crate::Node>, $crate::StoreError> {
                let row: Option<$crate::sql::operators::NodeRow> =
                    sqlx::query_as($crate::sql::operators::NODE_BY_ID)
                        .bind(id.0)
                        .fetch_optional(&self.pool)
                        .await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn nodes(&self) -> Result<Vec<$crate::Node>, $crate::StoreError> {
                let rows: Vec<$crate::sql::operators::NodeRow> =
                    sqlx::query_as($crate::sql::operators::NODES)
                        .fetch_all(&self.pool)
                        .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn nodes_of(
                &self,
                operator: $crate::OperatorId,
            ) -> Result<Vec<$crate::Node>, $crate::StoreError> {
                let rows: Vec<$crate::sql::operators::NodeRow> =
                    sqlx::query_as($crate::sql::operators::NODES_OF)
                        .bind(operator.0)
                        .fetch_all(&self.pool)
                        .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn proofs_of(
                &self,
                operator: $crate::OperatorId,
            ) -> Result<Vec<$crate::ProofRecord>, $crate::StoreError> {
                let rows: Vec<$crate::sql::operators::ProofRow> =
                    sqlx::query_as($crate::sql::operators::PROOFS_OF)
                        .bind(operator.0)
                        .fetch_all(&self.pool)
                        .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }
        }
    };
}

pub(crate) use impl_operator_store;
