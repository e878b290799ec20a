-- Grant epochs and their payout transactions (issue 6), PostgreSQL flavour.
-- Keep in step with ../sqlite/0003_grants.sql (which explains every rule):
-- same tables, columns, constraint and trigger names and meaning; only the
-- types and the trigger syntax (PL/pgSQL) differ.

CREATE TABLE epochs (
    epoch            BIGINT  NOT NULL PRIMARY KEY
        CONSTRAINT epochs_epoch_check CHECK (epoch >= 1),
    prev_epoch       BIGINT,
    prev_last_window BIGINT,
    first_window     BIGINT  NOT NULL,
    last_window      BIGINT  NOT NULL,
    budget_sat       BIGINT  NOT NULL
        CONSTRAINT epochs_budget_check CHECK (budget_sat BETWEEN 0 AND 2100000000000000),
    report           TEXT    NOT NULL,
    state            TEXT    NOT NULL CONSTRAINT epochs_state_check CHECK (state IN (
        'closed', 'psbt_exported', 'signed', 'broadcast')),
    batches          BIGINT  CONSTRAINT epochs_batches_check CHECK (batches >= 1),
    closed_at        BIGINT  NOT NULL,
    exported_at      BIGINT,
    signed_at        BIGINT,
    broadcast_at     BIGINT,
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
);

CREATE TABLE payout_batches (
    epoch        BIGINT  NOT NULL REFERENCES epochs (epoch),
    batch        BIGINT  NOT NULL CONSTRAINT payout_batches_batch_check CHECK (batch >= 0),
    psbt         BYTEA   NOT NULL,
    txid         BYTEA   NOT NULL
        CONSTRAINT payout_batches_txid_length CHECK (length(txid) = 32),
    payees       BIGINT  NOT NULL CONSTRAINT payout_batches_payees_check CHECK (payees >= 1),
    amount_sat   BIGINT  NOT NULL CONSTRAINT payout_batches_amount_check CHECK (amount_sat >= 1),
    fee_sat      BIGINT  NOT NULL CONSTRAINT payout_batches_fee_check CHECK (fee_sat >= 0),
    signed_tx    BYTEA,
    signed_at    BIGINT,
    broadcast_at BIGINT,
    CONSTRAINT payout_batches_pkey PRIMARY KEY (epoch, batch),
    CONSTRAINT payout_batches_txid_key UNIQUE (txid),
    CONSTRAINT payout_batches_signed CHECK ((signed_tx IS NULL) = (signed_at IS NULL)),
    CONSTRAINT payout_batches_broadcast CHECK (broadcast_at IS NULL OR signed_tx IS NOT NULL)
);

CREATE FUNCTION epochs_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'epochs_kept: closed epochs are never deleted'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF NOT (NEW.state = OLD.state
        OR (OLD.state = 'closed' AND NEW.state = 'psbt_exported')
        OR (OLD.state = 'psbt_exported' AND NEW.state = 'signed')
        OR (OLD.state = 'signed' AND NEW.state = 'broadcast')) THEN
        RAISE EXCEPTION 'epochs_forward: an epoch''s state only moves forward'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF NEW.epoch IS DISTINCT FROM OLD.epoch OR NEW.prev_epoch IS DISTINCT FROM OLD.prev_epoch
        OR NEW.prev_last_window IS DISTINCT FROM OLD.prev_last_window
        OR NEW.first_window IS DISTINCT FROM OLD.first_window
        OR NEW.last_window IS DISTINCT FROM OLD.last_window
        OR NEW.budget_sat IS DISTINCT FROM OLD.budget_sat
        OR NEW.report IS DISTINCT FROM OLD.report
        OR NEW.closed_at IS DISTINCT FROM OLD.closed_at
        OR (OLD.batches IS NOT NULL AND NEW.batches IS DISTINCT FROM OLD.batches) THEN
        RAISE EXCEPTION 'epochs_frozen: a closed epoch''s range, budget and report never change'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF (NEW.state = 'signed' AND NEW.state IS DISTINCT FROM OLD.state AND
            (SELECT count(*) FROM payout_batches b
                WHERE b.epoch = NEW.epoch AND b.signed_tx IS NOT NULL) <> NEW.batches)
        OR (NEW.state = 'broadcast' AND NEW.state IS DISTINCT FROM OLD.state AND
            (SELECT count(*) FROM payout_batches b
                WHERE b.epoch = NEW.epoch AND b.broadcast_at IS NOT NULL) <> NEW.batches) THEN
        RAISE EXCEPTION 'epochs_complete: every batch must be signed (broadcast) first'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER epochs_guard BEFORE UPDATE OR DELETE ON epochs
    FOR EACH ROW EXECUTE FUNCTION epochs_guard();

CREATE FUNCTION payout_batches_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'payout_batches_kept: payout batches are never deleted'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF TG_OP = 'INSERT' THEN
        IF NOT EXISTS (SELECT 1 FROM epochs e WHERE e.epoch = NEW.epoch
                AND e.state = 'psbt_exported' AND NEW.batch < e.batches
                AND NOT EXISTS (SELECT 1 FROM payout_batches b
                    WHERE b.epoch = NEW.epoch AND b.signed_tx IS NOT NULL)) THEN
            RAISE EXCEPTION 'payout_batches_insert: batches are recorded once, with the export'
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN NEW;
    END IF;
    IF NEW.epoch IS DISTINCT FROM OLD.epoch OR NEW.batch IS DISTINCT FROM OLD.batch
        OR NEW.psbt IS DISTINCT FROM OLD.psbt OR NEW.txid IS DISTINCT FROM OLD.txid
        OR NEW.payees IS DISTINCT FROM OLD.payees
        OR NEW.amount_sat IS DISTINCT FROM OLD.amount_sat
        OR NEW.fee_sat IS DISTINCT FROM OLD.fee_sat
        OR (OLD.signed_tx IS NOT NULL AND (NEW.signed_tx IS DISTINCT FROM OLD.signed_tx
            OR NEW.signed_at IS DISTINCT FROM OLD.signed_at))
        OR (OLD.broadcast_at IS NOT NULL AND NEW.broadcast_at IS DISTINCT FROM OLD.broadcast_at) THEN
        RAISE EXCEPTION 'payout_batches_frozen: a batch is exported once and signed once'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER payout_batches_guard BEFORE INSERT OR UPDATE OR DELETE ON payout_batches
    FOR EACH ROW EXECUTE FUNCTION payout_batches_guard();
