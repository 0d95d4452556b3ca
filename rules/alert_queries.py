"""SQL for alerts, alert_history, open_conditions and alert_priorities: the one place it lives."""

from __future__ import annotations

PRIORITIES = "SELECT condition, priority, repeat_bump, escalate_after_s, category FROM alert_priorities"

# Organisations' own rows (the category stays the default's).
PRIORITY_OVERRIDES = """
SELECT o.org_id, o.condition, o.priority, o.repeat_bump, o.escalate_after_s, p.category
FROM alert_priority_overrides o JOIN alert_priorities p USING (condition)
"""

SET_PRIORITY = """
INSERT INTO alert_priorities (condition, priority, repeat_bump, escalate_after_s, category)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (condition) DO UPDATE SET priority = EXCLUDED.priority, repeat_bump = EXCLUDED.repeat_bump,
    escalate_after_s = EXCLUDED.escalate_after_s, category = EXCLUDED.category
"""

ACTIVE_FOR_UPDATE = """
SELECT alert_id, status, priority, repeat_count, raised_at, cleared_at FROM alerts
WHERE run = $1 AND subject_key = $2 AND condition = $3 AND status <> 'closed'
FOR UPDATE
"""

ACTIVE_CONDITIONS_FOR_SUBJECT = """
SELECT alert_id, condition, raised_at FROM alerts
WHERE run = $1 AND subject_key = $2 AND status <> 'closed'
"""

INSERT_ALERT = """
INSERT INTO alerts (run, org_id, resident_id, subject_key, hub_id, device_id, device_type, condition,
                    priority, base_priority, raised_at, detected_at, last_event_at, trigger_seq, detail)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10, $11, $10, $12, $13::jsonb)
RETURNING alert_id
"""

REPEAT_ALERT = """
UPDATE alerts SET repeat_count = repeat_count + 1, priority = GREATEST(1, priority - $2),
    last_event_at = GREATEST(last_event_at, $3), cleared_at = NULL
WHERE alert_id = $1
RETURNING priority, repeat_count
"""

INSERT_HISTORY = """
INSERT INTO alert_history (alert_id, event_time, action, actor, from_status, to_status, detail)
VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)
"""

OPEN_CONDITIONS_FOR = """
SELECT subject_key, condition, subject, alert_id, opened_at FROM open_conditions
WHERE run = $1 AND subject_key = ANY($2::text[])
"""

UPSERT_OPEN_CONDITION = """
INSERT INTO open_conditions (run, subject_key, condition, subject, alert_id, opened_at)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (run, subject_key, condition, subject) DO UPDATE SET alert_id = EXCLUDED.alert_id
"""

DELETE_OPEN_CONDITION = """
DELETE FROM open_conditions WHERE run = $1 AND subject_key = $2 AND condition = $3 AND subject = $4
RETURNING alert_id
"""

# Conditions attached from another rule (same incident) do not hold the alert's own restore back.
ALERT_STILL_OPEN_CONDITIONS = """
SELECT count(*) FROM open_conditions o JOIN alerts a USING (alert_id)
WHERE o.alert_id = $1 AND o.condition = a.condition
"""

MARK_CLEARED = """
UPDATE alerts SET cleared_at = $2 WHERE alert_id = $1 AND cleared_at IS NULL AND status <> 'closed'
RETURNING status
"""

NOTIFY = "SELECT pg_notify('telecare_alerts', $1)"

# Operator side.
QUEUE = """
SELECT * FROM alerts
WHERE run = $1 AND status <> 'closed' AND ($2::text IS NULL OR org_id = $2)
ORDER BY priority, queued_at, alert_id
LIMIT $3
"""

ALERT_BY_ID = "SELECT * FROM alerts WHERE alert_id = $1"
ALERT_BY_ID_FOR_UPDATE = "SELECT * FROM alerts WHERE alert_id = $1 FOR UPDATE"

CLAIM = "UPDATE alerts SET status = 'claimed', claimed_by = $2, claimed_at = $3 WHERE alert_id = $1"
RELEASE = "UPDATE alerts SET status = 'raised', claimed_by = NULL, claimed_at = NULL WHERE alert_id = $1"
ACKNOWLEDGE = """
UPDATE alerts SET status = 'acknowledged', acknowledged_by = $2, acknowledged_at = $3,
    claimed_by = COALESCE(claimed_by, $2), claimed_at = COALESCE(claimed_at, $3)
WHERE alert_id = $1
"""
CLOSE = "UPDATE alerts SET status = 'closed', closed_by = $2, closed_at = $3, outcome = $4 WHERE alert_id = $1"
REOPEN = """
UPDATE alerts SET status = 'raised', closed_by = NULL, closed_at = NULL, outcome = NULL,
    claimed_by = NULL, claimed_at = NULL, acknowledged_by = NULL, acknowledged_at = NULL
WHERE alert_id = $1
"""
HISTORY = "SELECT * FROM alert_history WHERE alert_id = $1 ORDER BY history_id"

DUE_ESCALATIONS = """
SELECT a.alert_id, a.priority, a.escalation_level FROM alerts a
JOIN alert_priorities p USING (condition)
LEFT JOIN alert_priority_overrides o ON o.org_id = a.org_id AND o.condition = a.condition
WHERE a.run = $1 AND a.status = 'raised' AND COALESCE(o.escalate_after_s, p.escalate_after_s) > 0
  AND a.escalation_level < $3
  AND a.queued_at + make_interval(secs => COALESCE(o.escalate_after_s, p.escalate_after_s)
                                          * (a.escalation_level + 1)) <= $2
ORDER BY a.priority, a.queued_at
FOR UPDATE OF a SKIP LOCKED
"""

ESCALATE = """
UPDATE alerts SET escalation_level = escalation_level + 1, escalated_at = $2, priority = GREATEST(1, priority - 1)
WHERE alert_id = $1 AND status = 'raised'
RETURNING priority, escalation_level
"""
