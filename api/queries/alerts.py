"""SQL for the API's scoped reads of alerts and alert_history (writes go through rules.lifecycle)."""

from __future__ import annotations

# Scope arguments everywhere: an org list (NULL = every organisation) and a resident list (NULL = any).
_SCOPE = "($1::text[] IS NULL OR a.org_id = ANY($1)) AND ($2::text[] IS NULL OR a.resident_id = ANY($2))"

ALERT_COLUMNS = """
a.alert_id, a.org_id, a.resident_id, r.display_name AS resident_name, r.flat, a.hub_id, a.device_id,
a.device_type, a.condition, a.status, a.priority, a.base_priority, a.repeat_count, a.escalation_level,
a.raised_at, a.queued_at, a.last_event_at, a.cleared_at, a.claimed_by, a.claimed_at, a.acknowledged_by,
a.acknowledged_at, a.escalated_at, a.closed_by, a.closed_at, a.outcome,
r.address, (SELECT p.access_notes FROM resident_protocols p WHERE p.resident_id = a.resident_id) AS access_notes
"""

LIST = f"""
SELECT {ALERT_COLUMNS} FROM alerts a LEFT JOIN residents r USING (resident_id)
WHERE a.run = 'live' AND {_SCOPE}
  AND CASE $3::text WHEN 'open' THEN a.status <> 'closed' WHEN 'closed' THEN a.status = 'closed' ELSE true END
  AND ($4::text IS NULL OR a.resident_id = $4)
  AND ($5::text IS NULL OR a.condition = $5)
  AND ($6::int IS NULL OR a.priority <= $6)
  AND ($7::text IS NULL OR a.org_id = $7)
ORDER BY (a.status = 'closed'), a.priority, a.queued_at, a.alert_id
LIMIT $8
"""

# The newest history id, so a console that loads the queue can stream from exactly that point.
STREAM_HEAD = "SELECT COALESCE(max(history_id), 0) FROM alert_history"

ONE = f"""
SELECT {ALERT_COLUMNS} FROM alerts a LEFT JOIN residents r USING (resident_id)
WHERE a.alert_id = $3 AND a.run = 'live' AND {_SCOPE}
"""

HISTORY = """
SELECT history_id, at, event_time, action, actor, from_status, to_status, detail
FROM alert_history WHERE alert_id = $1 ORDER BY history_id
"""

# Changes to live alerts after a history id, with the alert as it is now, in id order.
CHANGES_AFTER = f"""
SELECT h.history_id, h.action AS change, {ALERT_COLUMNS}
FROM alert_history h JOIN alerts a USING (alert_id) LEFT JOIN residents r USING (resident_id)
WHERE h.history_id > $3 AND a.run = 'live' AND {_SCOPE}
ORDER BY h.history_id
LIMIT $4
"""

CHANGES_BY_ID = f"""
SELECT h.history_id, h.action AS change, {ALERT_COLUMNS}
FROM alert_history h JOIN alerts a USING (alert_id) LEFT JOIN residents r USING (resident_id)
WHERE h.history_id = ANY($3::bigint[]) AND a.run = 'live' AND {_SCOPE}
ORDER BY h.history_id
"""

# The feed reads every run's history so ids written by replays count as seen, not as gaps.
FEED_AFTER = f"""
SELECT h.history_id, h.action AS change, a.run, {ALERT_COLUMNS}
FROM alert_history h JOIN alerts a USING (alert_id) LEFT JOIN residents r USING (resident_id)
WHERE h.history_id > $1
ORDER BY h.history_id
LIMIT $2
"""
