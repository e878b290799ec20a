//! The SQL both backends run, written once, and the one `impl Store` body that
//! runs it, stamped out for SQLite and PostgreSQL by [`impl_store!`].
//!
//! Both databases take `$1`-style numbered parameters (sqlx-sqlite binds
//! `$N` by number; a unit test checks it), `RETURNING`, and
//! `ON CONFLICT … DO NOTHING`, so every statement below is valid on both.
//! What differs lives in the migrations (types) and in each backend's
//! `begin_write` (SQLite takes the write lock up front with `BEGIN IMMEDIATE`).

// A macro rather than a function generic over `sqlx::Database`: the generic
// version needs a bound per bound type, per decoded type and for the executor
// (`for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>`, …), which
// buries the SQL under trait plumbing. The macro keeps the body plain Rust
// over concrete types, checked twice by the compiler.

use resist_clock::UnixTime;
use sqlx::error::{DatabaseError, ErrorKind};

use crate::{
    ConflictKind, Node, NodeId, Operator, OperatorId, Probe, ProbeId, ProofRecord, Protocol,
    StoreError,
};

/// Every statement, with `$N` parameters. Column lists are spelled out in each
/// so a statement can be read on its own.
pub(crate) mod q {
    pub(crate) const PING: &str = "SELECT 1";

    pub(crate) const META_INSERT: &str =
        "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING";
    pub(crate) const META_GET: &str = "SELECT value FROM meta WHERE key = $1";

    pub(crate) const CHALLENGE_INSERT: &str =
        "INSERT INTO challenges (nonce, created_at, expires_at) VALUES ($1, $2, $3)";
    pub(crate) const CHALLENGE_PURGE: &str = "DELETE FROM challenges WHERE expires_at <= $1";
    /// Deletes the challenge if it is still valid; one row affected means the
    /// nonce was good and is now used. On PostgreSQL a second transaction
    /// deleting the same row waits for the first and then finds nothing.
    pub(crate) const CHALLENGE_CONSUME: &str =
        "DELETE FROM challenges WHERE nonce = $1 AND expires_at > $2";

    pub(crate) const OPERATOR_INSERT: &str = "INSERT INTO operators \
         (payout_address, token_hash, created_at, updated_at) VALUES ($1, $2, $3, $3) \
         RETURNING id, payout_address, created_at, updated_at";
    pub(crate) const OPERATOR_BY_ID: &str =
        "SELECT id, payout_address, created_at, updated_at FROM operators WHERE id = $1";
    pub(crate) const OPERATOR_BY_PAYOUT: &str = "SELECT id, payout_address, created_at, updated_at \
         FROM operators WHERE payout_address = $1";
    pub(crate) const OPERATOR_BY_TOKEN: &str =
        "SELECT id, payout_address, created_at, updated_at FROM operators WHERE token_hash = $1";
    pub(crate) const OPERATORS: &str =
        "SELECT id, payout_address, created_at, updated_at FROM operators ORDER BY id";
    pub(crate) const OPERATOR_SET_PAYOUT: &str = "UPDATE operators \
         SET payout_address = $2, updated_at = $3 WHERE id = $1 \
         RETURNING id, payout_address, created_at, updated_at";
    pub(crate) const OPERATOR_SET_TOKEN: &str =
        "UPDATE operators SET token_hash = $2, updated_at = $3 WHERE id = $1";

    pub(crate) const NODE_INSERT: &str = "INSERT INTO nodes \
         (operator_id, host, port, protocol, username, password, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
         RETURNING id, operator_id, host, port, protocol, username, password, created_at, updated_at";
    /// `$3`/`$4`: new host and port, or NULL to keep them. `$5`: whether to
    /// replace the credentials with `$6`/`$7` (which may both be NULL).
    /// `WHERE … AND operator_id` makes another operator's node look absent.
    pub(crate) const NODE_UPDATE: &str = "UPDATE nodes SET \
         host = COALESCE($3, host), \
         port = COALESCE($4, port), \
         username = CASE WHEN $5 THEN $6 ELSE username END, \
         password = CASE WHEN $5 THEN $7 ELSE password END, \
         updated_at = $8 \
         WHERE id = $1 AND operator_id = $2 \
         RETURNING id, operator_id, host, port, protocol, username, password, created_at, updated_at";
    pub(crate) const NODE_BY_ID: &str = "SELECT id, operator_id, host, port, protocol, username, \
         password, created_at, updated_at FROM nodes WHERE id = $1";
    pub(crate) const NODES: &str = "SELECT id, operator_id, host, port, protocol, username, \
         password, created_at, updated_at FROM nodes ORDER BY id";
    pub(crate) const NODES_OF: &str = "SELECT id, operator_id, host, port, protocol, username, \
         password, created_at, updated_at FROM nodes WHERE operator_id = $1 ORDER BY id";

    pub(crate) const PROOF_INSERT: &str = "INSERT INTO proofs \
         (operator_id, action, address, message, signature, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)";
    pub(crate) const PROOFS_OF: &str = "SELECT operator_id, action, address, message, signature, \
         created_at FROM proofs WHERE operator_id = $1 ORDER BY id";

    pub(crate) const PROBE_INSERT: &str = "INSERT INTO probes \
         (public_key, region, enabled, enrolled_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
         RETURNING id, public_key, region, enabled, enrolled_at, updated_at";
    pub(crate) const PROBES: &str = "SELECT id, public_key, region, enabled, enrolled_at, \
         updated_at FROM probes ORDER BY id";
    pub(crate) const PROBE_BY_KEY: &str = "SELECT id, public_key, region, enabled, enrolled_at, \
         updated_at FROM probes WHERE public_key = $1";
    pub(crate) const PROBE_SET_ENABLED: &str = "UPDATE probes \
         SET enabled = $2, updated_at = $3 WHERE id = $1 \
         RETURNING id, public_key, region, enabled, enrolled_at, updated_at";
}

/// `id, payout_address, created_at, updated_at`
pub(crate) type OperatorRow = (i64, String, i64, i64);
/// `id, operator_id, host, port, protocol, username, password, created_at, updated_at`
pub(crate) type NodeRow = (
    i64,
    i64,
    String,
    i32,
    String,
    Option<String>,
    Option<String>,
    i64,
    i64,
);
/// `id, public_key, region, enabled, enrolled_at, updated_at`
pub(crate) type ProbeRow = (i64, Vec<u8>, String, bool, i64, i64);
/// `operator_id, action, address, message, signature, created_at`
pub(crate) type ProofRow = (i64, String, String, String, String, i64);

pub(crate) fn operator(r: OperatorRow) -> Operator {
    let (id, payout_address, created_at, updated_at) = r;
    Operator {
        id: OperatorId(id),
        payout_address,
        created_at: UnixTime(created_at),
        updated_at: UnixTime(updated_at),
    }
}

pub(crate) fn node(r: NodeRow) -> Result<Node, StoreError> {
    let (id, operator, host, port, protocol, username, password, created_at, updated_at) = r;
    Ok(Node {
        id: NodeId(id),
        operator: OperatorId(operator),
        host,
        port: u16::try_from(port)
            .map_err(|_| StoreError::Corrupt(format!("node {id}: port {port} out of range")))?,
        protocol: Protocol::from_name(&protocol).ok_or_else(|| {
            StoreError::Corrupt(format!("node {id}: unknown protocol {protocol:?}"))
        })?,
        username,
        password,
        created_at: UnixTime(created_at),
        updated_at: UnixTime(updated_at),
    })
}

pub(crate) fn probe(r: ProbeRow) -> Result<Probe, StoreError> {
    let (id, public_key, region, enabled, enrolled_at, updated_at) = r;
    Ok(Probe {
        id: ProbeId(id),
        public_key: public_key.try_into().map_err(|k: Vec<u8>| {
            StoreError::Corrupt(format!("probe {id}: public key of {} bytes", k.len()))
        })?,
        region,
        enabled,
        enrolled_at: UnixTime(enrolled_at),
        updated_at: UnixTime(updated_at),
    })
}

pub(crate) fn proof(r: ProofRow) -> ProofRecord {
    let (operator, action, address, message, signature, created_at) = r;
    ProofRecord {
        operator: OperatorId(operator),
        action,
        address,
        message,
        signature,
        created_at: UnixTime(created_at),
    }
}

/// Turns a failed change into a typed error: a unique violation becomes the
/// [`ConflictKind`] of the constraint it broke, a foreign-key violation means
/// the referenced `missing` row (an operator) does not exist.
pub(crate) fn classify(e: sqlx::Error, missing: &'static str) -> StoreError {
    if let sqlx::Error::Database(db) = &e {
        match db.kind() {
            ErrorKind::UniqueViolation => {
                if let Some(kind) = conflict_kind(db.as_ref()) {
                    return StoreError::Conflict(kind);
                }
            }
            ErrorKind::ForeignKeyViolation => return StoreError::NotFound { what: missing },
            _ => {}
        }
    }
    StoreError::Database(e)
}

/// Unique constraints a caller can run into, by the name PostgreSQL reports
/// and by the `table.column` list SQLite puts in its message
/// ("UNIQUE constraint failed: nodes.host, nodes.port").
const UNIQUE_RULES: &[(&str, &str, ConflictKind)] = &[
    (
        "operators_payout_address_key",
        "operators.payout_address",
        ConflictKind::PayoutAddress,
    ),
    (
        "operators_token_hash_key",
        "operators.token_hash",
        ConflictKind::AccessToken,
    ),
    (
        "nodes_endpoint_key",
        "nodes.host, nodes.port",
        ConflictKind::Endpoint,
    ),
    (
        "probes_public_key_key",
        "probes.public_key",
        ConflictKind::ProbeKey,
    ),
];

fn conflict_kind(db: &dyn DatabaseError) -> Option<ConflictKind> {
    let found = match db.constraint() {
        Some(name) => UNIQUE_RULES.iter().find(|(pg, _, _)| *pg == name),
        None => {
            let columns = db.message().rsplit(": ").next().unwrap_or_default();
            UNIQUE_RULES.iter().find(|(_, lite, _)| *lite == columns)
        }
    };
    found.map(|(_, _, kind)| *kind)
}

/// `impl Store for $store`, where `$store` has a `pool` field and an inherent
/// `async fn begin_write(&self) -> Result<sqlx::Transaction<'static, _>, sqlx::Error>`.
macro_rules! impl_store {
    ($store:ty, $db:ty) => {
        impl $store {
            /// Deletes the proof's challenge if it is valid at `now`.
            async fn consume_challenge(
                tx: &mut sqlx::Transaction<'static, $db>,
                nonce: &str,
                now: resist_clock::UnixTime,
            ) -> Result<(), $crate::StoreError> {
                let done = sqlx::query($crate::sql::q::CHALLENGE_CONSUME)
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

            /// One `proofs` row per signature.
            async fn record_proof(
                tx: &mut sqlx::Transaction<'static, $db>,
                operator: $crate::OperatorId,
                proof: &$crate::ChangeProof,
                now: resist_clock::UnixTime,
            ) -> Result<(), $crate::StoreError> {
                for sig in &proof.signatures {
                    sqlx::query($crate::sql::q::PROOF_INSERT)
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
                let row: $crate::sql::NodeRow = sqlx::query_as($crate::sql::q::NODE_INSERT)
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
                $crate::sql::node(row)
            }
        }

        impl $crate::Store for $store {
            async fn ping(&self) -> Result<(), $crate::StoreError> {
                sqlx::query($crate::sql::q::PING)
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
                sqlx::query($crate::sql::q::META_INSERT)
                    .bind(key)
                    .bind(value)
                    .execute(&self.pool)
                    .await?;
                let (stored,): (String,) = sqlx::query_as($crate::sql::q::META_GET)
                    .bind(key)
                    .fetch_one(&self.pool)
                    .await?;
                Ok(stored)
            }

            async fn create_challenge(
                &self,
                nonce: &str,
                now: resist_clock::UnixTime,
                expires_at: resist_clock::UnixTime,
            ) -> Result<(), $crate::StoreError> {
                sqlx::query($crate::sql::q::CHALLENGE_INSERT)
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
                let done = sqlx::query($crate::sql::q::CHALLENGE_PURGE)
                    .bind(now.0)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected())
            }

            async fn register_operator(
                &self,
                operator: &$crate::NewOperator,
                nodes: &[$crate::NewNode],
                proof: &$crate::ChangeProof,
                now: resist_clock::UnixTime,
            ) -> Result<($crate::Operator, Vec<$crate::Node>), $crate::StoreError> {
                let mut tx = self.begin_write().await?;
                Self::consume_challenge(&mut tx, &proof.nonce, now).await?;
                let row: $crate::sql::OperatorRow = sqlx::query_as($crate::sql::q::OPERATOR_INSERT)
                    .bind(&operator.payout_address)
                    .bind(&operator.token_hash[..])
                    .bind(now.0)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|e| $crate::sql::classify(e, "operator"))?;
                let created = $crate::sql::operator(row);
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
                let row: Option<$crate::sql::OperatorRow> =
                    sqlx::query_as($crate::sql::q::OPERATOR_BY_ID)
                        .bind(id.0)
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.map($crate::sql::operator))
            }

            async fn operator_by_payout(
                &self,
                address: &str,
            ) -> Result<Option<$crate::Operator>, $crate::StoreError> {
                let row: Option<$crate::sql::OperatorRow> =
                    sqlx::query_as($crate::sql::q::OPERATOR_BY_PAYOUT)
                        .bind(address)
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.map($crate::sql::operator))
            }

            async fn operator_by_token(
                &self,
                token_hash: &[u8; 32],
            ) -> Result<Option<$crate::Operator>, $crate::StoreError> {
                let row: Option<$crate::sql::OperatorRow> =
                    sqlx::query_as($crate::sql::q::OPERATOR_BY_TOKEN)
                        .bind(&token_hash[..])
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.map($crate::sql::operator))
            }

            async fn operators(&self) -> Result<Vec<$crate::Operator>, $crate::StoreError> {
                let rows: Vec<$crate::sql::OperatorRow> = sqlx::query_as($crate::sql::q::OPERATORS)
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows.into_iter().map($crate::sql::operator).collect())
            }

            async fn change_payout(
                &self,
                operator: $crate::OperatorId,
                new_address: &str,
                proof: &$crate::ChangeProof,
                now: resist_clock::UnixTime,
            ) -> Result<$crate::Operator, $crate::StoreError> {
                let mut tx = self.begin_write().await?;
                Self::consume_challenge(&mut tx, &proof.nonce, now).await?;
                let row: Option<$crate::sql::OperatorRow> =
                    sqlx::query_as($crate::sql::q::OPERATOR_SET_PAYOUT)
                        .bind(operator.0)
                        .bind(new_address)
                        .bind(now.0)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(|e| $crate::sql::classify(e, "operator"))?;
                let Some(row) = row else {
                    return Err($crate::StoreError::NotFound { what: "operator" });
                };
                Self::record_proof(&mut tx, operator, proof, now).await?;
                tx.commit().await?;
                Ok($crate::sql::operator(row))
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
                let done = sqlx::query($crate::sql::q::OPERATOR_SET_TOKEN)
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
                let row: Option<$crate::sql::NodeRow> = sqlx::query_as($crate::sql::q::NODE_UPDATE)
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
                $crate::sql::node(row)
            }

            async fn node(
                &self,
                id: $crate::NodeId,
            ) -> Result<Option<$crate::Node>, $crate::StoreError> {
                let row: Option<$crate::sql::NodeRow> = sqlx::query_as($crate::sql::q::NODE_BY_ID)
                    .bind(id.0)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map($crate::sql::node).transpose()
            }

            async fn nodes(&self) -> Result<Vec<$crate::Node>, $crate::StoreError> {
                let rows: Vec<$crate::sql::NodeRow> = sqlx::query_as($crate::sql::q::NODES)
                    .fetch_all(&self.pool)
                    .await?;
                rows.into_iter().map($crate::sql::node).collect()
            }

            async fn nodes_of(
                &self,
                operator: $crate::OperatorId,
            ) -> Result<Vec<$crate::Node>, $crate::StoreError> {
                let rows: Vec<$crate::sql::NodeRow> = sqlx::query_as($crate::sql::q::NODES_OF)
                    .bind(operator.0)
                    .fetch_all(&self.pool)
                    .await?;
                rows.into_iter().map($crate::sql::node).collect()
            }

            async fn proofs_of(
                &self,
                operator: $crate::OperatorId,
            ) -> Result<Vec<$crate::ProofRecord>, $crate::StoreError> {
                let rows: Vec<$crate::sql::ProofRow> = sqlx::query_as($crate::sql::q::PROOFS_OF)
                    .bind(operator.0)
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows.into_iter().map($crate::sql::proof).collect())
            }

            async fn enrol_probe(
                &self,
                probe: &$crate::NewProbe,
                now: resist_clock::UnixTime,
            ) -> Result<$crate::Probe, $crate::StoreError> {
                let row: $crate::sql::ProbeRow = sqlx::query_as($crate::sql::q::PROBE_INSERT)
                    .bind(&probe.public_key[..])
                    .bind(&probe.region)
                    .bind(true)
                    .bind(now.0)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(|e| $crate::sql::classify(e, "probe"))?;
                $crate::sql::probe(row)
            }

            async fn probes(&self) -> Result<Vec<$crate::Probe>, $crate::StoreError> {
                let rows: Vec<$crate::sql::ProbeRow> = sqlx::query_as($crate::sql::q::PROBES)
                    .fetch_all(&self.pool)
                    .await?;
                rows.into_iter().map($crate::sql::probe).collect()
            }

            async fn probe_by_key(
                &self,
                public_key: &[u8; 32],
            ) -> Result<Option<$crate::Probe>, $crate::StoreError> {
                let row: Option<$crate::sql::ProbeRow> =
                    sqlx::query_as($crate::sql::q::PROBE_BY_KEY)
                        .bind(&public_key[..])
                        .fetch_optional(&self.pool)
                        .await?;
                row.map($crate::sql::probe).transpose()
            }

            async fn set_probe_enabled(
                &self,
                id: $crate::ProbeId,
                enabled: bool,
                now: resist_clock::UnixTime,
            ) -> Result<$crate::Probe, $crate::StoreError> {
                let row: Option<$crate::sql::ProbeRow> =
                    sqlx::query_as($crate::sql::q::PROBE_SET_ENABLED)
                        .bind(id.0)
                        .bind(enabled)
                        .bind(now.0)
                        .fetch_optional(&self.pool)
                        .await?;
                match row {
                    Some(row) => $crate::sql::probe(row),
                    None => Err($crate::StoreError::NotFound { what: "probe" }),
                }
            }
        }
    };
}

pub(crate) use impl_store;
