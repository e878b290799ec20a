-- Measurement windows, assignments and reports (issue 5), SQLite flavour.
-- Keep in step with ../postgres/0002_measurements.sql: same tables, columns,
-- constraint names and meaning; only the types differ.
--
-- `window` is a reserved word in PostgreSQL (window functions), so it is
-- always written quoted, "window", in both flavours and in src/sql.rs.

-- A planned window: the row exists once its assignments do (same transaction).
-- Its primary key is what two coordinators planning the same window race on.
CREATE TABLE windows (
    "window"   INTEGER NOT NULL PRIMARY KEY,
    planned_at INTEGER NOT NULL
) STRICT;

-- Which probe tests which node in which window.
CREATE TABLE assignments (
    "window" INTEGER NOT NULL REFERENCES windows ("window"),
    node_id  INTEGER NOT NULL REFERENCES nodes (id),
    probe_id INTEGER NOT NULL REFERENCES probes (id),
    CONSTRAINT assignments_pkey PRIMARY KEY ("window", node_id, probe_id)
) STRICT, WITHOUT ROWID;
-- assignments_for: one probe's nodes in one window.
CREATE INDEX assignments_probe ON assignments ("window", probe_id, node_id);

-- Verified reports, with the signed bytes as received. At most one per
-- assignment, and only for an assignment that exists.
CREATE TABLE reports (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    probe_id     INTEGER NOT NULL,
    report_id    BLOB    NOT NULL
        CONSTRAINT reports_report_id_length CHECK (length(report_id) = 16),
    "window"     INTEGER NOT NULL,
    node_id      INTEGER NOT NULL,
    measured_at  INTEGER NOT NULL,
    received_at  INTEGER NOT NULL,
    outcome      TEXT    NOT NULL CONSTRAINT reports_outcome_check CHECK (outcome IN (
        'relayed', 'connect_failed', 'handshake_failed', 'auth_failed',
        'connect_refused', 'canary_mismatch', 'timeout')),
    reply_code   INTEGER NOT NULL
        CONSTRAINT reports_reply_code_check CHECK (reply_code BETWEEN 0 AND 255),
    connect_us   INTEGER NOT NULL
        CONSTRAINT reports_connect_us_check CHECK (connect_us BETWEEN 0 AND 4294967295),
    handshake_us INTEGER NOT NULL
        CONSTRAINT reports_handshake_us_check CHECK (handshake_us BETWEEN 0 AND 4294967295),
    rtt_us       INTEGER NOT NULL
        CONSTRAINT reports_rtt_us_check CHECK (rtt_us BETWEEN 0 AND 4294967295),
    sample_bytes INTEGER NOT NULL
        CONSTRAINT reports_sample_bytes_check CHECK (sample_bytes BETWEEN 0 AND 4294967295),
    sample_us    INTEGER NOT NULL
        CONSTRAINT reports_sample_us_check CHECK (sample_us BETWEEN 0 AND 4294967295),
    signed       BLOB    NOT NULL,
    -- A resent report (same probe, same report id) is a duplicate, not a new row.
    CONSTRAINT reports_report_id_key UNIQUE (probe_id, report_id),
    -- One report per assignment. Columns in this order so the index also
    -- serves report_summaries (a window range, ordered by window, node, probe).
    CONSTRAINT reports_assignment_key UNIQUE ("window", node_id, probe_id),
    CONSTRAINT reports_assignment_fkey FOREIGN KEY ("window", node_id, probe_id)
        REFERENCES assignments ("window", node_id, probe_id)
) STRICT;
