"""SQL for control-centre KPIs scoped to the organisations a user may see (rules/kpi.py is unscoped)."""

from __future__ import annotations

SUMMARY = """
WITH a AS (
    SELECT * FROM alerts WHERE run = 'live' AND queued_at >= $2 AND queued_at < $3
        AND ($1::text[] IS NULL OR org_id = ANY($1)) AND ($4::text IS NULL OR org_id = $4)
), attended AS (
    -- When the responder attended (as the operator recorded it), not when the row was written.
    SELECT h.alert_id, min(COALESCE(h.event_time, h.at)) AS at FROM alert_history h JOIN a USING (alert_id)
    WHERE h.action = 'action:responder_attended' GROUP BY h.alert_id
)
SELECT count(*) AS alerts,
       count(*) FILTER (WHERE acknowledged_at IS NOT NULL) AS acknowledged,
       count(*) FILTER (WHERE status = 'closed') AS closed,
       count(*) FILTER (WHERE status <> 'closed') AS open,
       avg((acknowledged_at IS NOT NULL AND acknowledged_at - queued_at <= interval '60 seconds')::int)
           AS ack_within_60s,
       avg((acknowledged_at IS NOT NULL AND acknowledged_at - queued_at <= interval '180 seconds')::int)
           AS ack_within_180s,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM acknowledged_at - queued_at)) AS ack_s_p50,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM closed_at - queued_at)) AS close_s_p50,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM closed_at - queued_at)) AS close_s_p90,
       (SELECT count(*) FROM attended) AS attendances,
       (SELECT avg((attended.at - a2.queued_at <= interval '45 minutes')::int)
          FROM attended JOIN a a2 USING (alert_id)) AS attended_within_45min,
       (SELECT avg((attended.at - a2.queued_at <= interval '60 minutes')::int)
          FROM attended JOIN a a2 USING (alert_id)) AS attended_within_60min
FROM a
"""

FALSE_ALARMS_BY_DEVICE_TYPE = """
SELECT COALESCE(device_type, condition) AS key, count(*) AS closed,
       count(*) FILTER (WHERE outcome = 'false_alarm') AS false_alarms
FROM alerts WHERE run = 'live' AND queued_at >= $2 AND queued_at < $3 AND status = 'closed'
    AND ($1::text[] IS NULL OR org_id = ANY($1)) AND ($4::text IS NULL OR org_id = $4)
GROUP BY 1 ORDER BY 1
"""

OUTCOMES = """
SELECT outcome, count(*) AS closed
FROM alerts WHERE run = 'live' AND queued_at >= $2 AND queued_at < $3 AND status = 'closed'
    AND ($1::text[] IS NULL OR org_id = ANY($1)) AND ($4::text IS NULL OR org_id = $4)
GROUP BY 1 ORDER BY 1
"""
