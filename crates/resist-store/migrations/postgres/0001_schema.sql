-- resist coordinator schema, PostgreSQL flavour. Keep in step with
-- ../sqlite/0001_schema.sql: same tables, columns, constraint names and
-- meaning; only the types differ (BIGINT seconds, BYTEA, BOOLEAN, identity ids).
--
-- Constraint names matter: src/sql.rs maps unique violations to a ConflictKind
-- by them.

-- Values coordinators sharing a database agree on (first writer wins).
CREATE TABLE meta (
    key   TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
);

-- Single-use nonces for signed changes.
CREATE TABLE challenges (
    nonce      TEXT   NOT NULL PRIMARY KEY,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    CONSTRAINT challenges_expiry_check CHECK (expires_at > created_at)
);
CREATE INDEX challenges_expires_at ON challenges (expires_at);

CREATE TABLE operators (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    payout_address TEXT   NOT NULL CHECK (payout_address <> ''),
    token_hash     BYTEA  NOT NULL CHECK (octet_length(token_hash) = 32),
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    CONSTRAINT operators_payout_address_key UNIQUE (payout_address),
    CONSTRAINT operators_token_hash_key UNIQUE (token_hash)
);

CREATE TABLE nodes (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    operator_id BIGINT  NOT NULL REFERENCES operators (id),
    host        TEXT    NOT NULL CHECK (host <> ''),
    port        INTEGER NOT NULL CONSTRAINT nodes_port_check CHECK (port BETWEEN 1 AND 65535),
    protocol    TEXT    NOT NULL CONSTRAINT nodes_protocol_check CHECK (protocol IN ('socks5')),
    username    TEXT,
    password    TEXT,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL,
    CONSTRAINT nodes_endpoint_key UNIQUE (host, port),
    CONSTRAINT nodes_credentials_check CHECK ((username IS NULL) = (password IS NULL))
);
CREATE INDEX nodes_operator_id ON nodes (operator_id);

CREATE TABLE probes (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    public_key  BYTEA   NOT NULL CONSTRAINT probes_public_key_length CHECK (octet_length(public_key) = 32),
    region      TEXT    NOT NULL CHECK (region <> ''),
    enabled     BOOLEAN NOT NULL,
    enrolled_at BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL,
    CONSTRAINT probes_public_key_key UNIQUE (public_key)
);

-- The audit trail: one row per signature over each signed change.
CREATE TABLE proofs (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    operator_id BIGINT NOT NULL REFERENCES operators (id),
    action      TEXT   NOT NULL,
    address     TEXT   NOT NULL,
    message     TEXT   NOT NULL,
    signature   TEXT   NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX proofs_operator_id ON proofs (operator_id, id);
