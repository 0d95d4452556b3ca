"""Control-centre KPIs computed from the alert lifecycle history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

_SUMMARY = """
WITH a AS (
    SELECT * FROM alerts WHERE run = $1 AND queued_at >= $2 AND queued_at < $3
), attended AS (
    -- When the responder attended (as the operator recorded it), not when the row was written.
    SELECT h.alert_id, min(COALESCE(h.event_time, h.at)) AS at FROM alert_history h JOIN a USING (alert_id)
    WHERE h.action = 'action:responder_attended' GROUP BY h.alert_id
)
SELECT count(*) AS alerts,
       count(*) FILTER (WHERE acknowledged_at IS NOT NULL) AS acknowledged,
       -- An alarm never acknowledged counts against the KPI; without the IS NOT NULL it would drop out.
       avg((acknowledged_at IS NOT NULL AND acknowledged_at - queued_at <= interval '60 seconds')::int)
           AS ack_within_60s,
       avg((acknowledged_at IS NOT NULL AND acknowledged_at - queued_at <= interval '180 seconds')::int)
           AS ack_within_180s,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM closed_at - queued_at)) AS close_s_p50,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM closed_at - queued_at)) AS close_s_p90,
       (SELECT count(*) FROM attended) AS attendances,
       (SELECT avg((attended.at - a2.queued_at <= interval '45 minutes')::int)
          FROM attended JOIN a a2 USING (alert_id)) AS attended_within_45min,
       (SELECT avg((attended.at - a2.queued_at <= interval '60 minutes')::int)
          FROM attended JOIN a a2 USING (alert_id)) AS attended_within_60min
FROM a
"""

_FALSE_ALARMS = """
SELECT {group} AS key, count(*) AS closed, count(*) FILTER (WHERE outcome = 'false_alarm') AS false_alarms
FROM alerts WHERE run = $1 AND queued_at >= $2 AND queued_at < $3 AND status = 'closed'
GROUP BY 1 ORDER BY 1
"""


async def compute_kpis(*, connection: asyncpg.Connection, since: datetime, until: datetime,
                       run: str = "live") -> dict[str, Any]:
    """Acknowledgement within 60/180 s, time to close, attendance times, false-alarm rates."""
    summary = dict(await connection.fetchrow(_SUMMARY, run, since, until) or {})
    result: dict[str, Any] = {k: (float(v) if v is not None and k not in {"alerts", "acknowledged", "attendances"}
                                  else v) for k, v in summary.items()}
    for name, group in (("false_alarm_rate_by_device_type", "COALESCE(device_type, condition)"),
                        ("false_alarm_rate_by_resident", "COALESCE(resident_id, subject_key)")):
        rows = await connection.fetch(_FALSE_ALARMS.format(group=group), run, since, until)
        result[name] = {row["key"]: {"closed": row["closed"], "false_alarms": row["false_alarms"],
                                     "rate": row["false_alarms"] / row["closed"]} for row in rows}
    return result
