-- Control-centre API: users, bearer tokens (stored hashed), who may see which organisation or
-- resident, and the append-only audit log of every access to a resident's data and every alert action.

CREATE TABLE api_users (
    user_id       text PRIMARY KEY CHECK (user_id ~ '^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$'),
    display_name  text NOT NULL,
    role          text NOT NULL CHECK (role IN ('operator', 'provider', 'reviewer', 'admin')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    disabled_at   timestamptz
);

-- Only the SHA-256 of a token is kept: tokens are 32 random bytes, so a fast hash is enough and a
-- database dump does not hand out working credentials.
CREATE TABLE api_tokens (
    token_id      bigserial PRIMARY KEY,
    token_hash    bytea NOT NULL UNIQUE,
    user_id       text NOT NULL REFERENCES api_users (user_id),
    label         text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz,
    revoked_at    timestamptz,
    last_used_at  timestamptz
);

-- Operators: the organisations their control centre serves. Provider staff: their own organisation.
CREATE TABLE user_organisations (
    user_id  text NOT NULL REFERENCES api_users (user_id),
    org_id   text NOT NULL REFERENCES organisations (org_id),
    PRIMARY KEY (user_id, org_id)
);

-- Reviewers and social workers: the residents assigned to them.
CREATE TABLE reviewer_residents (
    user_id      text NOT NULL REFERENCES api_users (user_id),
    resident_id  text NOT NULL REFERENCES residents (resident_id),
    PRIMARY KEY (user_id, resident_id)
);

CREATE TABLE audit_log (
    audit_id       bigserial PRIMARY KEY,
    at             timestamptz NOT NULL DEFAULT clock_timestamp(),
    user_id        text NOT NULL,
    role           text NOT NULL,
    action         text NOT NULL,
    resource_type  text NOT NULL,
    resource_id    text,
    org_id         text,
    resident_id    text,
    outcome        text NOT NULL DEFAULT 'allowed' CHECK (outcome IN ('allowed', 'denied', 'failed')),
    client         text,
    detail         jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_resident ON audit_log (resident_id, audit_id) WHERE resident_id IS NOT NULL;
CREATE INDEX audit_log_user ON audit_log (user_id, audit_id);

CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();

-- Who to call, in order, and what the control centre does for this resident.
CREATE TABLE resident_contacts (
    contact_id    bigserial PRIMARY KEY,
    resident_id   text NOT NULL REFERENCES residents (resident_id),
    name          text NOT NULL,
    relationship  text NOT NULL DEFAULT '',
    phone         text NOT NULL,
    call_order    smallint NOT NULL DEFAULT 1 CHECK (call_order BETWEEN 1 AND 99),
    keyholder     boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX resident_contacts_resident ON resident_contacts (resident_id, call_order);

CREATE TABLE resident_protocols (
    resident_id   text PRIMARY KEY REFERENCES residents (resident_id),
    protocol      text NOT NULL DEFAULT '',
    access_notes  text NOT NULL DEFAULT '',
    medical_notes text NOT NULL DEFAULT '',
    updated_by    text NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
