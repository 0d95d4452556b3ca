"""SQL for the resident panel's look back: recent alarms with their outcome and the actions taken."""

from __future__ import annotations

from api.queries.alerts import ALERT_COLUMNS

# Live alarms only (a replay's alerts are nobody's calls); newest first.
RECENT_ALERTS = f"""
SELECT {ALERT_COLUMNS},
    COALESCE((SELECT array_agg(h.detail->>'action' ORDER BY h.history_id) FROM alert_history h
              WHERE h.alert_id = a.alert_id AND h.action LIKE 'action:%'), '{{}}') AS actions,
    -- An alert closed, reopened and closed again has several closes: the latest one's note stands.
    (SELECT h.detail->>'note' FROM alert_history h
     WHERE h.alert_id = a.alert_id AND h.action = 'close' ORDER BY h.history_id DESC LIMIT 1) AS close_note
FROM alerts a LEFT JOIN residents r USING (resident_id)
WHERE a.run = 'live' AND a.resident_id = $1 AND a.queued_at >= $2
ORDER BY a.queued_at DESC, a.alert_id DESC
LIMIT $3
"""
