-- Rules and the alert lifecycle. Every table that the engine writes carries `run`: 'live' is the
-- control-centre queue; a replay writes under its own run name so history can be re-processed
-- without touching what operators see.

-- Priority table: 1 is the most urgent. A repeat lowers the number by `repeat_bump` (never below 1);
-- an unclaimed alert escalates after `escalate_after_s` seconds (0 = never).
CREATE TABLE alert_priorities (
    condition         text PRIMARY KEY,
    priority          smallint NOT NULL CHECK (priority BETWEEN 1 AND 9),
    repeat_bump       smallint NOT NULL DEFAULT 0 CHECK (repeat_bump >= 0),
    escalate_after_s  integer NOT NULL DEFAULT 120 CHECK (escalate_after_s >= 0),
    category          text NOT NULL CHECK (category IN ('emergency', 'environment', 'activity', 'technical'))
);
-- Defaults follow Camden Careline practice (docs/domain.md section 3): emergency calls, repeated
-- activations and fallers first, then fire, other alarms, technical faults last.
INSERT INTO alert_priorities (condition, priority, repeat_bump, escalate_after_s, category) VALUES
    ('personal_trigger', 2, 1, 60, 'emergency'),
    ('fall',             2, 1, 60, 'emergency'),
    ('smoke',            3, 1, 60, 'environment'),
    ('co',               3, 1, 60, 'environment'),
    ('gas',              3, 1, 60, 'environment'),
    ('heat',             3, 1, 60, 'environment'),
    ('flood',            4, 1, 120, 'environment'),
    ('temperature_low',  4, 0, 180, 'environment'),
    ('temperature_high', 4, 0, 180, 'environment'),
    ('out_of_bed',       4, 1, 120, 'activity'),
    ('left_flat',        4, 1, 120, 'activity'),
    ('not_up',           4, 0, 180, 'activity'),
    ('inactivity',       4, 0, 180, 'activity'),
    ('not_in_bed',       5, 0, 300, 'activity'),
    ('tamper',           6, 1, 600, 'technical'),
    ('mains_fail',       6, 0, 900, 'technical'),
    ('hub_offline',      6, 0, 900, 'technical'),
    ('data_gap',         6, 0, 900, 'technical'),
    ('device_offline',   7, 0, 0, 'technical'),
    ('battery_low',      8, 0, 0, 'technical');

-- Per-resident rule settings; NULL means "use the default" (see rules/config.py).
CREATE TABLE rule_config (
    resident_id          text PRIMARY KEY REFERENCES residents (resident_id),
    out_of_bed_min       integer CHECK (out_of_bed_min > 0),
    left_flat_min        integer CHECK (left_flat_min > 0),
    bed_by               time,
    up_by                time,
    inactivity_min       integer CHECK (inactivity_min > 0),
    temperature_low_c    double precision,
    temperature_high_c   double precision,
    device_silence_min   integer CHECK (device_silence_min > 0),
    hub_silence_min      integer CHECK (hub_silence_min > 0),
    enabled_rules        text[],
    updated_at           timestamptz NOT NULL DEFAULT now()
);

-- Away periods, planned absences and device maintenance are ranges; quiet hours repeat daily in the
-- resident's local time.
CREATE TABLE rule_suppressions (
    suppression_id  bigserial PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('away', 'quiet_hours', 'maintenance')),
    resident_id     text REFERENCES residents (resident_id),
    device_id       text REFERENCES devices (device_id),
    starts_at       timestamptz,
    ends_at         timestamptz,
    local_start     time,
    local_end       time,
    reason          text NOT NULL DEFAULT '',
    created_by      text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (kind <> 'maintenance' OR device_id IS NOT NULL),
    CHECK (kind <> 'away' OR (resident_id IS NOT NULL AND starts_at IS NOT NULL)),
    CHECK (kind <> 'quiet_hours' OR (resident_id IS NOT NULL AND local_start IS NOT NULL AND local_end IS NOT NULL))
);
CREATE INDEX rule_suppressions_resident ON rule_suppressions (resident_id) WHERE resident_id IS NOT NULL;
CREATE INDEX rule_suppressions_device ON rule_suppressions (device_id) WHERE device_id IS NOT NULL;

CREATE TABLE alerts (
    alert_id          bigserial PRIMARY KEY,
    run               text NOT NULL DEFAULT 'live',
    org_id            text NOT NULL,
    resident_id       text,
    -- Who the alert is about: the resident, or the hub when no resident is assigned.
    subject_key       text NOT NULL,
    hub_id            text,
    device_id         text,
    device_type       text,
    condition         text NOT NULL,
    status            text NOT NULL DEFAULT 'raised'
                      CHECK (status IN ('raised', 'claimed', 'acknowledged', 'closed')),
    priority          smallint NOT NULL,
    base_priority     smallint NOT NULL,
    repeat_count      integer NOT NULL DEFAULT 0,
    escalation_level  smallint NOT NULL DEFAULT 0,
    -- Event time: when the condition happened (a timer rule: when it fell due).
    raised_at         timestamptz NOT NULL,
    -- Engine clock when the rule detected it (event time in replay, wall clock live).
    detected_at       timestamptz NOT NULL,
    -- Wall clock when the alert entered the queue: the start of every operator KPI.
    queued_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    last_event_at     timestamptz NOT NULL,
    cleared_at        timestamptz,
    claimed_by        text,
    claimed_at        timestamptz,
    acknowledged_by   text,
    acknowledged_at   timestamptz,
    escalated_at      timestamptz,
    closed_by         text,
    closed_at         timestamptz,
    outcome           text,
    trigger_seq       bigint,
    detail            jsonb NOT NULL DEFAULT '{}'::jsonb,
    CHECK (status <> 'closed' OR (closed_at IS NOT NULL AND outcome IS NOT NULL))
);
-- One active alert per resident and condition: a repeat bumps the counter instead of adding a row.
CREATE UNIQUE INDEX alerts_one_active ON alerts (run, subject_key, condition) WHERE status <> 'closed';
CREATE INDEX alerts_queue ON alerts (run, priority, queued_at) WHERE status <> 'closed';
CREATE INDEX alerts_resident ON alerts (resident_id, raised_at DESC);

-- Append-only: every transition, timestamped and attributed.
CREATE TABLE alert_history (
    history_id   bigserial PRIMARY KEY,
    alert_id     bigint NOT NULL REFERENCES alerts (alert_id),
    at           timestamptz NOT NULL DEFAULT clock_timestamp(),
    event_time   timestamptz,
    action       text NOT NULL,
    actor        text NOT NULL,
    from_status  text,
    to_status    text,
    detail       jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX alert_history_alert ON alert_history (alert_id, history_id);

CREATE FUNCTION alert_history_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'alert_history is append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER alert_history_append_only BEFORE UPDATE OR DELETE ON alert_history
    FOR EACH ROW EXECUTE FUNCTION alert_history_refuse_change();
CREATE TRIGGER alert_history_no_truncate BEFORE TRUNCATE ON alert_history
    FOR EACH STATEMENT EXECUTE FUNCTION alert_history_refuse_change();

-- A condition currently true for a subject (a device, a hub, a timer rule), linked to the alert that
-- carries it. An alert is "cleared" when none of its conditions is still open.
CREATE TABLE open_conditions (
    run          text NOT NULL,
    subject_key  text NOT NULL,
    condition    text NOT NULL,
    subject      text NOT NULL,
    alert_id     bigint REFERENCES alerts (alert_id),
    opened_at    timestamptz NOT NULL,
    PRIMARY KEY (run, subject_key, condition, subject)
);
CREATE INDEX open_conditions_alert ON open_conditions (alert_id);

-- Pending timers on event time. One pending timer per (resident, rule, subject); firing flips the
-- state in the same transaction that raises the alert, so a timer fires at most once.
CREATE TABLE rule_timers (
    timer_id     bigserial PRIMARY KEY,
    run          text NOT NULL,
    resident_id  text NOT NULL,
    rule         text NOT NULL,
    subject      text NOT NULL DEFAULT '',
    armed_at     timestamptz NOT NULL,
    due_at       timestamptz NOT NULL,
    state        text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'fired', 'cancelled')),
    settled_at   timestamptz,
    detail       jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE UNIQUE INDEX rule_timers_one_pending ON rule_timers (run, resident_id, rule, subject) WHERE state = 'pending';
CREATE INDEX rule_timers_due ON rule_timers (run, due_at) WHERE state = 'pending';
-- Daily timers (one per night) are planned once: a fired or cancelled one is not planned again.
CREATE UNIQUE INDEX rule_timers_daily ON rule_timers (run, resident_id, rule, subject)
    WHERE rule IN ('not_in_bed', 'not_up');

-- Where each run has got to in the event stream, and its event-time clock.
CREATE TABLE rule_cursors (
    run          text PRIMARY KEY,
    last_seq     bigint NOT NULL DEFAULT 0,
    event_clock  timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Last event time per device as the rules saw it (event time, so replay can see silences too).
CREATE TABLE rule_device_watch (
    run            text NOT NULL,
    device_id      text NOT NULL,
    hub_id         text NOT NULL,
    resident_id    text,
    org_id         text NOT NULL,
    device_type    text NOT NULL,
    last_event_at  timestamptz NOT NULL,
    PRIMARY KEY (run, device_id)
);
CREATE INDEX rule_device_watch_hub ON rule_device_watch (run, hub_id);

-- A would-be alert that a suppression held back, kept for the care review and for audit.
CREATE TABLE rule_suppressed (
    run          text NOT NULL,
    at           timestamptz NOT NULL,
    resident_id  text,
    device_id    text,
    condition    text NOT NULL,
    reason       text NOT NULL
);
CREATE INDEX rule_suppressed_resident ON rule_suppressed (resident_id, at);
