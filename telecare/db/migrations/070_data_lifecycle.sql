-- Data lifecycle: how long each class of data is kept, the record of erasures, and the two
-- maintenance jobs that may touch the otherwise append-only audit log.

-- `telecare lifecycle retention` applies these (a TimescaleDB retention policy for raw events where
-- the edition has one, the service's own drop_chunks otherwise). Defaults are a starting point for
-- the provider's records policy, not advice.
CREATE TABLE retention_policies (
    data_class  text PRIMARY KEY
                CHECK (data_class IN ('raw_events', 'dead_letters', 'nightly_summaries', 'alerts', 'audit')),
    keep        interval NOT NULL CHECK (keep >= interval '30 days'),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO retention_policies (data_class, keep) VALUES
    ('raw_events', interval '400 days'),
    ('dead_letters', interval '90 days'),
    ('nightly_summaries', interval '8 years'),
    ('alerts', interval '8 years'),
    ('audit', interval '8 years');

-- One row per erasure (UK GDPR article 17): the case reference and how many rows went, never whose.
CREATE TABLE erasures (
    erasure_id      bigserial PRIMARY KEY,
    erased_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    case_reference  text NOT NULL,
    actor           text NOT NULL,
    rows_removed    jsonb NOT NULL
);

-- Still append-only for everything else. Retention may delete rows older than the audit class keeps;
-- erasure may remove the resident from a row (who acted, what and when stay). Each job says so for
-- its own transaction only (SET LOCAL telecare.maintenance).
CREATE OR REPLACE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('telecare.maintenance', true) = 'retention'
       AND OLD.at < now() - (SELECT keep FROM retention_policies WHERE data_class = 'audit') THEN
        RETURN OLD;
    END IF;
    IF TG_OP = 'UPDATE' AND current_setting('telecare.maintenance', true) = 'erasure'
       AND NEW.resident_id IS NULL AND NEW.audit_id = OLD.audit_id AND NEW.at = OLD.at
       AND NEW.user_id = OLD.user_id AND NEW.role = OLD.role AND NEW.action = OLD.action
       AND NEW.resource_type = OLD.resource_type AND NEW.outcome = OLD.outcome THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;

-- An alert's history goes with its alert and no other way: retention removes closed alerts past the
-- alerts class's keep, erasure removes the erased resident's alerts.
CREATE OR REPLACE FUNCTION alert_history_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('telecare.maintenance', true) IN ('retention', 'erasure') THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'alert_history is append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;
