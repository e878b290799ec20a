-- Grant epochs and their payout transactions (issue 6), SQLite flavour.
-- Keep in step with ../postgres/0003_grants.sql: same tables, columns,
-- constraint and trigger names and meaning; only the types and the trigger
-- syntax differ.
--
-- An epoch is paid at most once. The database, not only the code, enforces it:
-- - epochs form one chain of whole windows: epoch n+1 starts at the window
--   after epoch n's last (a foreign key), so no window is in two epochs;
-- - the state only moves forward, closed → psbt_exported → signed →
--   broadcast (trigger epochs_forward), and each state has exactly the
--   timestamps and batch count it implies (check epochs_state);
-- - the scored report, range and budget never change once closed, and an
--   epoch is never deleted (triggers epochs_frozen, epochs_kept);
-- - an epoch's payout batches are inserted once, together with the move to
--   psbt_exported, numbered below the recorded count (trigger
--   payout_batches_insert); a batch's unsigned PSBT and txid never change,
--   and its signed transaction is written once (trigger payout_batches_frozen).
--   "signed" needs every batch signed, "broadcast" every batch broadcast
--   (trigger epochs_complete).

CREATE TABLE epochs (
    epoch            INTEGER NOT NULL PRIMARY KEY
        CONSTRAINT epochs_epoch_check CHECK (epoch >= 1),
    prev_epoch       INTEGER,
    prev_last_window INTEGER,
    first_window     INTEGER NOT NULL,
    last_window      INTEGER NOT NULL,
    budget_sat       INTEGER NOT NULL
        CONSTRAINT epochs_budget_check CHECK (budget_sat BETWEEN 0 AND 2100000000000000),
    -- The published report (resist-grants JSON): inputs, result.
    report           TEXT    NOT NULL,
    state            TEXT    NOT NULL CONSTRAINT epochs_state_check CHECK (state IN (
        'closed', 'psbt_exported', 'signed', 'broadcast')),
    -- Set with psbt_exported: how many payout batches the epoch has.
    batches          INTEGER CONSTRAINT epochs_batches_check CHECK (batches >= 1),
    closed_at        INTEGER NOT NULL,
    exported_at      INTEGER,
    signed_at        INTEGER,
    broadcast_at     INTEGER,
    CONSTRAINT epochs_range CHECK (first_window <= last_window),
    CONSTRAINT epochs_chain CHECK (
        (epoch = 1 AND prev_epoch IS NULL AND prev_last_window IS NULL)
        OR (epoch > 1 AND prev_epoch IS NOT NULL AND prev_last_window IS NOT NULL
            AND prev_epoch = epoch - 1 AND first_window = prev_last_window + 1)),
    CONSTRAINT epochs_state CHECK (
        (state = 'closed' AND batches IS NULL AND exported_at IS NULL
            AND signed_at IS NULL AND broadcast_at IS NULL)
        OR (state = 'psbt_exported' AND batches IS NOT NULL AND exported_at IS NOT NULL
            AND signed_at IS NULL AND broadcast_at IS NULL)
        OR (state = 'signed' AND batches IS NOT NULL AND exported_at IS NOT NULL
            AND signed_at IS NOT NULL AND broadcast_at IS NULL)
        OR (state = 'broadcast' AND batches IS NOT NULL AND exported_at IS NOT NULL
            AND signed_at IS NOT NULL AND broadcast_at IS NOT NULL)),
    CONSTRAINT epochs_last_window_key UNIQUE (epoch, last_window),
    CONSTRAINT epochs_prev_fkey FOREIGN KEY (prev_epoch, prev_last_window)
        REFERENCES epochs (epoch, last_window)
) STRICT;

-- One unsigned payout transaction of an epoch, and what became of it.
CREATE TABLE payout_batches (
    epoch        INTEGER NOT NULL REFERENCES epochs (epoch),
    batch        INTEGER NOT NULL CONSTRAINT payout_batches_batch_check CHECK (batch >= 0),
    -- The unsigned PSBT (BIP-174 binary) exactly as exported.
    psbt         BLOB    NOT NULL,
    -- Its transaction id (segwit inputs only: signing does not change it).
    txid         BLOB    NOT NULL
        CONSTRAINT payout_batches_txid_length CHECK (length(txid) = 32),
    payees       INTEGER NOT NULL CONSTRAINT payout_batches_payees_check CHECK (payees >= 1),
    amount_sat   INTEGER NOT NULL CONSTRAINT payout_batches_amount_check CHECK (amount_sat >= 1),
    fee_sat      INTEGER NOT NULL CONSTRAINT payout_batches_fee_check CHECK (fee_sat >= 0),
    -- The checked, signed transaction (consensus encoding), once finalized.
    signed_tx    BLOB,
    signed_at    INTEGER,
    broadcast_at INTEGER,
    CONSTRAINT payout_batches_pkey PRIMARY KEY (epoch, batch),
    CONSTRAINT payout_batches_txid_key UNIQUE (txid),
    CONSTRAINT payout_batches_signed CHECK ((signed_tx IS NULL) = (signed_at IS NULL)),
    CONSTRAINT payout_batches_broadcast CHECK (broadcast_at IS NULL OR signed_tx IS NOT NULL)
) STRICT, WITHOUT ROWID;

CREATE TRIGGER epochs_forward BEFORE UPDATE OF state ON epochs
WHEN NOT (NEW.state = OLD.state
    OR (OLD.state = 'closed' AND NEW.state = 'psbt_exported')
    OR (OLD.state = 'psbt_exported' AND NEW.state = 'signed')
    OR (OLD.state = 'signed' AND NEW.state = 'broadcast'))
BEGIN
    SELECT RAISE(ABORT, 'epochs_forward: an epoch''s state only moves forward');
END;

CREATE TRIGGER epochs_frozen BEFORE UPDATE ON epochs
WHEN NEW.epoch IS NOT OLD.epoch OR NEW.prev_epoch IS NOT OLD.prev_epoch
    OR NEW.prev_last_window IS NOT OLD.prev_last_window
    OR NEW.first_window IS NOT OLD.first_window OR NEW.last_window IS NOT OLD.last_window
    OR NEW.budget_sat IS NOT OLD.budget_sat OR NEW.report IS NOT OLD.report
    OR NEW.closed_at IS NOT OLD.closed_at
    OR (OLD.batches IS NOT NULL AND NEW.batches IS NOT OLD.batches)
BEGIN
    SELECT RAISE(ABORT, 'epochs_frozen: a closed epoch''s range, budget and report never change');
END;

CREATE TRIGGER epochs_kept BEFORE DELETE ON epochs
BEGIN
    SELECT RAISE(ABORT, 'epochs_kept: closed epochs are never deleted');
END;

CREATE TRIGGER epochs_complete BEFORE UPDATE OF state ON epochs
WHEN (NEW.state = 'signed' AND NEW.state IS NOT OLD.state AND (
        (SELECT count(*) FROM payout_batches b
            WHERE b.epoch = NEW.epoch AND b.signed_tx IS NOT NULL) <> NEW.batches))
    OR (NEW.state = 'broadcast' AND NEW.state IS NOT OLD.state AND (
        (SELECT count(*) FROM payout_batches b
            WHERE b.epoch = NEW.epoch AND b.broadcast_at IS NOT NULL) <> NEW.batches))
BEGIN
    SELECT RAISE(ABORT, 'epochs_complete: every batch must be signed (broadcast) first');
END;

CREATE TRIGGER payout_batches_insert BEFORE INSERT ON payout_batches
WHEN NOT EXISTS (SELECT 1 FROM epochs e WHERE e.epoch = NEW.epoch
    AND e.state = 'psbt_exported' AND NEW.batch < e.batches
    AND NOT EXISTS (SELECT 1 FROM payout_batches b
        WHERE b.epoch = NEW.epoch AND b.signed_tx IS NOT NULL))
BEGIN
    SELECT RAISE(ABORT, 'payout_batches_insert: batches are recorded once, with the export');
END;

CREATE TRIGGER payout_batches_frozen BEFORE UPDATE ON payout_batches
WHEN NEW.epoch IS NOT OLD.epoch OR NEW.batch IS NOT OLD.batch OR NEW.psbt IS NOT OLD.psbt
    OR NEW.txid IS NOT OLD.txid OR NEW.payees IS NOT OLD.payees
    OR NEW.amount_sat IS NOT OLD.amount_sat OR NEW.fee_sat IS NOT OLD.fee_sat
    OR (OLD.signed_tx IS NOT NULL AND (NEW.signed_tx IS NOT OLD.signed_tx
        OR NEW.signed_at IS NOT OLD.signed_at))
    OR (OLD.broadcast_at IS NOT NULL AND NEW.broadcast_at IS NOT OLD.broadcast_at)
BEGIN
    SELECT RAISE(ABORT, 'payout_batches_frozen: a batch is exported once and signed once');
END;

CREATE TRIGGER payout_batches_kept BEFORE DELETE ON payout_batches
BEGIN
    SELECT RAISE(ABORT, 'payout_batches_kept: payout batches are never deleted');
END;
