-- Another MQTT client taking over an ingest worker's persistent session (the same client id) receives
-- that worker's messages, which then never reach the database. The worker records each takeover it
-- detects here; the API's /readyz reports "not ready" while one is recent.
CREATE TABLE ingest_session_takeovers (
    client_id   text PRIMARY KEY,
    first_at    timestamptz NOT NULL DEFAULT now(),
    last_at     timestamptz NOT NULL DEFAULT now(),
    takeovers   bigint NOT NULL DEFAULT 0
);
