-- The care plan as the care team writes it (site file or API): versioned, every version kept with who
-- made it. rule_config keeps the settings the rules read; care_plan_versions is the history behind them.
ALTER TABLE rule_config
    ADD COLUMN expected_absences jsonb NOT NULL DEFAULT '[]'::jsonb,
    ADD COLUMN care_plan_version integer;

CREATE TABLE care_plan_versions (
    resident_id  text NOT NULL REFERENCES residents (resident_id),
    version      integer NOT NULL CHECK (version > 0),
    plan         jsonb NOT NULL,
    changes      jsonb NOT NULL DEFAULT '{}'::jsonb,
    changed_by   text NOT NULL,
    source       text NOT NULL CHECK (source IN ('site_file', 'api')),
    changed_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (resident_id, version)
);

CREATE FUNCTION care_plan_versions_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'care_plan_versions is append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER care_plan_versions_append_only BEFORE UPDATE OR DELETE ON care_plan_versions
    FOR EACH ROW EXECUTE FUNCTION care_plan_versions_refuse_change();
