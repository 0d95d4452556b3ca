-- Change detection (models/, issue 12): daily features, versioned per-resident models, and the
-- review suggestions they raise. Scoring runs outside the ingest path (`telecare models ...` and
-- the evidence scheduler); nothing here is written by ingest.

-- One row per resident per day (the daytime of `day` and the night that follows it). A null value
-- means the sensors could not tell (an unknown night, a day with its hub down): never "quiet".
CREATE TABLE daily_features (
    resident_id   text NOT NULL REFERENCES residents (resident_id),
    day           date NOT NULL,
    day_known     boolean NOT NULL,
    night_known   boolean NOT NULL,
    features      jsonb NOT NULL,
    hourly        integer[] NOT NULL,
    computed_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (resident_id, day)
);

-- A trained model: one resident, one detector, one training window. Versions only grow; the newest
-- is used for scoring and older ones stay so a past suggestion can be traced to what raised it.
CREATE TABLE change_models (
    model_id       bigserial PRIMARY KEY,
    resident_id    text NOT NULL REFERENCES residents (resident_id),
    detector       text NOT NULL,
    version        integer NOT NULL,
    train_first    date NOT NULL,
    train_last     date NOT NULL,
    days_used      integer NOT NULL,
    -- 'ready', or 'not_enough_data' (then `params` says how many days there were and how many are needed).
    status         text NOT NULL CHECK (status IN ('ready', 'not_enough_data')),
    params         jsonb NOT NULL,
    trained_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (resident_id, detector, version)
);
CREATE INDEX change_models_latest ON change_models (resident_id, detector, version DESC);

-- A review suggestion: the detector saw a change. It is a question for a person, never a conclusion;
-- a reviewer confirms or dismisses it and that answer is shown the next time.
CREATE TABLE review_suggestions (
    suggestion_id  bigserial PRIMARY KEY,
    resident_id    text NOT NULL REFERENCES residents (resident_id),
    org_id         text NOT NULL,
    model_id       bigint NOT NULL REFERENCES change_models (model_id),
    detector       text NOT NULL,
    first_day      date NOT NULL,
    last_day       date NOT NULL,
    -- The day the change appears to have begun (the explanation's "since").
    since          date NOT NULL,
    score          double precision NOT NULL,
    threshold      double precision NOT NULL,
    explanation    text NOT NULL,
    changes        jsonb NOT NULL,
    status         text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'confirmed', 'dismissed')),
    reviewed_by    text,
    reviewed_at    timestamptz,
    review_note    text,
    created_at     timestamptz NOT NULL DEFAULT now()
);
-- One open suggestion per resident: a change that persists extends it instead of raising another.
CREATE UNIQUE INDEX review_suggestions_one_open ON review_suggestions (resident_id) WHERE status = 'open';
CREATE INDEX review_suggestions_org ON review_suggestions (org_id, status, last_day DESC);
