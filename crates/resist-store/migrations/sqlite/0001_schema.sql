-- resist coordinator schema, SQLite flavour. Keep in step with
-- ../postgres/0001_schema.sql: same tables, columns, constraint names and
-- meaning; only the types differ. Tables are STRICT, so a value of the wrong
-- type is refused instead of stored.
--
-- Constraint names matter: src/sql.rs maps unique violations to a ConflictKind
-- by them (PostgreSQL reports the name, SQLite the table and columns).

-- Values coordinators sharing a database agree on (first writer wins).
CREATE TABLE meta (
    key   TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

-- Single-use nonces for signed changes.
CREATE TABLE challenges (
    nonce      TEXT    NOT NULL PRIMARY KEY,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    CONSTRAINT challenges_expiry_check CHECK (expires_at > created_at)
) STRICT;
CREATE INDEX challenges_expires_at ON challenges (expires_at);

CREATE TABLE operators (
    -- AUTOINCREMENT: ids are never reused, so an audit trail that names an
    -- id names one operator forever.
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    payout_address TEXT    NOT NULL CHECK (payout_address <> ''),
    token_hash     BLOB    NOT NULL CHECK (length(token_hash) = 32),
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    CONSTRAINT operators_payout_address_key UNIQUE (payout_address),
    CONSTRAINT operators_token_hash_key UNIQUE (token_hash)
) STRICT;

CREATE TABLE nodes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    operator_id INTEGER NOT NULL REFERENCES operators (id),
    host        TEXT    NOT NULL CHECK (host <> ''),
    port        INTEGER NOT NULL CONSTRAINT nodes_port_check CHECK (port BETWEEN 1 AND 65535),
    protocol    TEXT    NOT NULL CONSTRAINT nodes_protocol_check CHECK (protocol IN ('socks5')),
    username    TEXT,
    password    TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    CONSTRAINT nodes_endpoint_key UNIQUE (host, port),
    CONSTRAINT nodes_credentials_check CHECK ((username IS NULL) = (password IS NULL))
) STRICT;
CREATE INDEX nodes_operator_id ON nodes (operator_id);

CREATE TABLE probes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    public_key  BLOB    NOT NULL CONSTRAINT probes_public_key_length CHECK (length(public_key) = 32),
    region      TEXT    NOT NULL CHECK (region <> ''),
    enabled     INTEGER NOT NULL CONSTRAINT probes_enabled_check CHECK (enabled IN (0, 1)),
    enrolled_at INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    CONSTRAINT probes_public_key_key UNIQUE (public_key)
) STRICT;

-- The audit trail: one row per signature over each signed change.
CREATE TABLE proofs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    operator_id INTEGER NOT NULL REFERENCES operators (id),
    action      TEXT    NOT NULL,
    address     TEXT    NOT NULL,
    message     TEXT    NOT NULL,
    signature   TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX proofs_operator_id ON proofs (operator_id, id);
