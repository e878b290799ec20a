-- Distribution (issue 7): invitations the funder hands out, PostgreSQL flavour.
-- Keep in step with ../sqlite/0004_distribution.sql: same table, columns,
-- constraint names and meaning; only the types differ (BIGINT, BYTEA, identity ids).
--
-- An invitation is a requester key of its own: whoever presents its token
-- gets that invitation's bucket of proxies. Only the token's SHA-256 is kept;
-- the token itself is shown once, when it is created. Revoking sets
-- revoked_at, which the coordinator checks on every request, so a revoked
-- token stops working at once; the row stays, for the funder's records.
CREATE TABLE invitations (
    id         BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_hash BYTEA   NOT NULL
        CONSTRAINT invitations_token_hash_length CHECK (octet_length(token_hash) = 32),
    label      TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    revoked_at BIGINT,
    CONSTRAINT invitations_token_hash_key UNIQUE (token_hash),
    CONSTRAINT invitations_revoked_check CHECK (revoked_at IS NULL OR revoked_at >= created_at)
);
