-- Night-time evidence for care reviews (models/, issue 6): the stored nightly summary, review
-- decisions, reactivation triggers and the support-cost settings.

-- One row per resident per night. `night_of` is the evening's local date; the window bounds are
-- instants computed in the resident's time zone, so a DST night is 8 or 10 hours long, never wrong.
-- This table is the fallback for a continuous aggregate (the Apache edition has none) and holds
-- derived features that no aggregate could compute anyway (sleep onset, bed-exit pairing).
CREATE TABLE nightly_summary (
    resident_id          text NOT NULL REFERENCES residents (resident_id),
    night_of             date NOT NULL,
    window_start         timestamptz NOT NULL,
    window_end           timestamptz NOT NULL,
    -- 'ok': the night counts; 'unknown': too little sensor coverage to say anything (never "quiet").
    status               text NOT NULL CHECK (status IN ('ok', 'unknown')),
    unknown_reason       text,
    -- How sleep and bed exits were read: 'bed_sensor' (pressure pad) or 'pir' (bedroom + hallway PIRs).
    method               text NOT NULL CHECK (method IN ('bed_sensor', 'pir', 'none')),
    coverage             double precision NOT NULL CHECK (coverage BETWEEN 0 AND 1),
    coverage_detail      jsonb NOT NULL DEFAULT '{}'::jsonb,
    sleep_onset          timestamptz,
    wake                 timestamptz,
    time_in_bed_min      double precision,
    bed_exits            integer,
    minutes_out_of_bed   double precision,
    bathroom_visits      integer,
    door_exits           integer,
    minutes_out          double precision,
    alerts_total         integer NOT NULL DEFAULT 0,
    alerts_by_type       jsonb NOT NULL DEFAULT '{}'::jsonb,
    responses            integer NOT NULL DEFAULT 0,
    response_s           double precision[] NOT NULL DEFAULT '{}',
    attendances          integer NOT NULL DEFAULT 0,
    alerts_run           text NOT NULL DEFAULT 'live',
    computed_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (resident_id, night_of)
);

-- A review decision: what the review concluded, on which criteria, who decided, when to look again.
CREATE TABLE review_decisions (
    decision_id     bigserial PRIMARY KEY,
    resident_id     text NOT NULL REFERENCES residents (resident_id),
    decided_on      date NOT NULL,
    decision        text NOT NULL CHECK (decision IN ('reduce', 'maintain', 'reactivate')),
    support_from    text CHECK (support_from IN ('waking_night', 'sleep_in', 'telecare_only')),
    support_to      text CHECK (support_to IN ('waking_night', 'sleep_in', 'telecare_only')),
    criteria        text NOT NULL,
    reviewer        text NOT NULL,
    follow_up_on    date NOT NULL,
    period_start    date,
    period_end      date,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    recorded_by     text NOT NULL
);
CREATE INDEX review_decisions_resident ON review_decisions (resident_id, decided_on DESC);

-- Which night-time support model a resident had from a date (for the cost context).
CREATE TABLE support_periods (
    resident_id   text NOT NULL REFERENCES residents (resident_id),
    starts_on     date NOT NULL,
    model         text NOT NULL CHECK (model IN ('waking_night', 'sleep_in', 'telecare_only')),
    PRIMARY KEY (resident_id, starts_on)
);

-- Reactivation triggers: "at least `min_nights` of the last `window_nights` nights where `feature`
-- `comparison` `threshold`". resident_id NULL = applies to everyone in the organisation.
CREATE TABLE reactivation_triggers (
    trigger_id      bigserial PRIMARY KEY,
    org_id          text NOT NULL REFERENCES organisations (org_id),
    resident_id     text REFERENCES residents (resident_id),
    name            text NOT NULL,
    feature         text NOT NULL CHECK (feature IN (
                        'door_exits', 'bed_exits', 'minutes_out_of_bed', 'bathroom_visits', 'minutes_out',
                        'alerts_total', 'attendances', 'time_in_bed_min')),
    comparison      text NOT NULL DEFAULT '>=' CHECK (comparison IN ('>=', '>', '<=', '<')),
    threshold       double precision NOT NULL,
    min_nights      integer NOT NULL CHECK (min_nights > 0),
    window_nights   integer NOT NULL CHECK (window_nights >= min_nights),
    enabled         boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX reactivation_triggers_org ON reactivation_triggers (org_id);

-- A review alert goes through the rules' alert store (condition 'care_review'), so it appears in the
-- operator/provider queue with the same lifecycle; low priority, never escalated.
INSERT INTO alert_priorities (condition, priority, repeat_bump, escalate_after_s, category)
VALUES ('care_review', 8, 0, 0, 'activity')
ON CONFLICT (condition) DO NOTHING;
