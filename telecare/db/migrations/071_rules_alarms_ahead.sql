-- Life-safety alarms ahead of the rules cursor (rules/alarms_ahead.py): found through this partial
-- index however long the backlog behind the cursor is. The kinds must match ALARMS_AHEAD's literal list.
CREATE INDEX events_alarms_by_seq ON events (ingest_seq)
    WHERE kind IN ('personal_trigger', 'fall', 'smoke', 'co', 'flood', 'gas', 'heat') AND NOT is_restore;

-- Alarm events already applied ahead of the cursor, so that the cursor skips them when it gets there.
CREATE TABLE rule_alarms_ahead (
    run         text NOT NULL,
    ingest_seq  bigint NOT NULL,
    PRIMARY KEY (run, ingest_seq)
);
