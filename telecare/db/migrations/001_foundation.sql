-- Foundation: registry (organisations, residents, hubs, devices), the events hypertable,
-- dead letters and ingest counters.
CREATE EXTENSION IF NOT EXISTS timescaledb;

CREATE TABLE organisations (
    org_id      text PRIMARY KEY,
    name        text NOT NULL,
    timezone    text NOT NULL DEFAULT 'Europe/London',
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Residents are known by pseudonymous ids in telemetry; names live only here.
CREATE TABLE residents (
    resident_id   text PRIMARY KEY,
    org_id        text NOT NULL REFERENCES organisations (org_id),
    display_name  text NOT NULL,
    flat          text,
    timezone      text NOT NULL DEFAULT 'Europe/London',
    night_start   time NOT NULL DEFAULT '22:00',
    night_end     time NOT NULL DEFAULT '07:00',
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX residents_org ON residents (org_id);

-- A hub is one Zigbee2MQTT bridge or one telecare hub, normally one per flat.
CREATE TABLE hubs (
    hub_id           text PRIMARY KEY,
    org_id           text NOT NULL REFERENCES organisations (org_id),
    resident_id      text REFERENCES residents (resident_id),
    protocol         text NOT NULL DEFAULT 'z2m' CHECK (protocol IN ('z2m', 'canonical')),
    bridge_state     text,
    bridge_state_at  timestamptz,
    last_seen        timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE devices (
    device_id        text PRIMARY KEY,
    hub_id           text NOT NULL REFERENCES hubs (hub_id),
    friendly_name    text NOT NULL,
    ieee_address     text,
    device_type      text NOT NULL,
    location         text NOT NULL DEFAULT 'other',
    model            text,
    vendor           text,
    power_source     text,
    -- When the device last spoke, its battery, and availability as Z2M reports it.
    last_seen        timestamptz,
    battery          smallint,
    battery_low      boolean,
    availability     text,
    availability_at  timestamptz,
    -- The last full Z2M state, for edge detection across restarts.
    last_state       jsonb NOT NULL DEFAULT '{}'::jsonb,
    removed_at       timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    -- Deferred: Zigbee2MQTT users swap names, which passes through a moment with two equal names.
    CONSTRAINT devices_hub_name UNIQUE (hub_id, friendly_name) DEFERRABLE INITIALLY DEFERRED
);
CREATE UNIQUE INDEX devices_hub_ieee ON devices (hub_id, ieee_address) WHERE ieee_address IS NOT NULL;

-- Commit order of events, for workers that follow the stream (rules) with a cursor.
CREATE SEQUENCE events_ingest_seq;

CREATE TABLE events (
    time               timestamptz NOT NULL,
    ingest_seq         bigint NOT NULL DEFAULT nextval('events_ingest_seq'),
    event_key          uuid NOT NULL,
    received_at        timestamptz NOT NULL,
    org_id             text NOT NULL,
    resident_id        text,
    hub_id             text NOT NULL,
    device_id          text NOT NULL,
    device_type        text NOT NULL,
    location           text NOT NULL,
    kind               text NOT NULL,
    is_restore         boolean NOT NULL DEFAULT false,
    value              double precision,
    source             text NOT NULL,
    time_from_arrival  boolean NOT NULL DEFAULT false,
    PRIMARY KEY (event_key, time)
);
SELECT create_hypertable('events', 'time', chunk_time_interval => interval '7 days');
-- "One resident over a period" is the query every report and rule makes.
CREATE INDEX events_resident_time ON events (resident_id, time DESC);
CREATE INDEX events_device_time ON events (device_id, time DESC);
CREATE INDEX events_by_ingest_seq ON events (ingest_seq);

CREATE TABLE dead_letters (
    dead_letter_id     bigserial PRIMARY KEY,
    topic              text NOT NULL,
    payload            bytea NOT NULL,
    reason             text NOT NULL,
    detail             text NOT NULL,
    -- One row per distinct (topic, payload); repeats count up instead of piling up rows.
    digest             bytea NOT NULL UNIQUE,
    occurrences        integer NOT NULL DEFAULT 1,
    first_received_at  timestamptz NOT NULL,
    last_received_at   timestamptz NOT NULL,
    status             text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'redriven', 'discarded')),
    resolved_at        timestamptz
);
CREATE INDEX dead_letters_pending ON dead_letters (reason, first_received_at) WHERE status = 'pending';

CREATE TABLE ingest_counters (
    name   text PRIMARY KEY,
    value  bigint NOT NULL DEFAULT 0
);
INSERT INTO ingest_counters (name) VALUES ('events_stored'), ('duplicates_dropped');

-- Messages whose events are committed but whose MQTT acknowledgement may not have reached the broker.
-- After a crash the broker redelivers them flagged DUP with the same packet id; this table lets the
-- ingest recognise them even when the event time is the arrival time (Z2M without last_seen).
CREATE TABLE ingest_unacked (
    client_id  text NOT NULL,
    mid        integer NOT NULL,
    digest     bytea NOT NULL,
    PRIMARY KEY (client_id, mid)
);
