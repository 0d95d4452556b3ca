-- An organisation's own priorities: a row here replaces the default (alert_priorities) for that
-- organisation's alarms of one condition. Edited by administrators in the console, audited in audit_log.
CREATE TABLE alert_priority_overrides (
    org_id            text NOT NULL REFERENCES organisations (org_id),
    condition         text NOT NULL REFERENCES alert_priorities (condition),
    priority          smallint NOT NULL CHECK (priority BETWEEN 1 AND 9),
    repeat_bump       smallint NOT NULL CHECK (repeat_bump >= 0),
    escalate_after_s  integer NOT NULL CHECK (escalate_after_s >= 0),
    updated_by        text NOT NULL,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, condition)
);
