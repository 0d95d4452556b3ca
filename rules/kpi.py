"""Control-centre KPIs computed from the alert lifecycle history, optionally scoped to organisations.

One source for the figures: `telecare rules kpis` and the API's `/api/kpis` both call this.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

# $1 run, $2/$3 period, $4 organisations the caller may see (NULL: all), $5 one organisation (NULL: all).
_SCOPED_ALERTS = """
    SELECT * FROM alerts WHERE run = $1 AND queued_at >= $2 AND queued_at < $3
        AND ($4::text[] IS NULL OR org_id = ANY($4)) AND ($5::text IS NULL OR org_id = $5)
"""

_SUMMARY = f"""
WITH a AS ({_SCOPED_ALERTS}), attended AS (
    -- When the responder attended (as the operator recorded it), not when the row was written.
    SELECT h.alert_id, min(COALESCE(h.event_time, h.at)) AS at FROM alert_history h JOIN a USING (alert_id)
    WHERE h.action = 'action:responder_attended' GROUP BY h.alert_id
)
SELECT count(*) AS alerts,
       count(*) FILTER (WHERE acknowledged_at IS NOT NULL) AS acknowledged,
       count(*) FILTER (WHERE status = 'closed') AS closed,
       count(*) FILTER (WHERE status <> 'closed') AS open,
       -- An alarm never acknowledged counts against the KPI; without the IS NOT NULL it would drop out.
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

_CLOSED_BY = f"""
SELECT {{group}} AS key, count(*) AS closed, count(*) FILTER (WHERE outcome = 'false_alarm') AS false_alarms
FROM ({_SCOPED_ALERTS}) AS a WHERE status = 'closed'
GROUP BY 1 ORDER BY 1
"""

_COUNTS = frozenset({"alerts", "acknowledged", "closed", "open", "attendances"})


async def compute_kpis(*, connection: asyncpg.Connection, since: datetime, until: datetime, run: str = "live",
                       org_scope: Sequence[str] | None = None, org_id: str | None = None) -> dict[str, Any]:
    """Acknowledgement within 60/180 s, time to close, attendance times, outcomes, false-alarm rates.

    `org_scope` limits the figures to the organisations a caller may see (None: all of them).
    """
    scope = list(org_scope) if org_scope is not None else None
    params = (run, since, until, scope, org_id)
    summary = dict(await connection.fetchrow(_SUMMARY, *params) or {})
    result: dict[str, Any] = {k: (float(v) if v is not None and k not in _COUNTS else v) for k, v in summary.items()}
    outcomes = await connection.fetch(_CLOSED_BY.format(group="outcome"), *params)
    result["outcomes"] = {row["key"]: row["closed"] for row in outcomes}
    for name, group in (("false_alarm_rate_by_device_type", "COALESCE(device_type, condition)"),
                        ("false_alarm_rate_by_resident", "COALESCE(resident_id, subject_key)")):
        rows = await connection.fetch(_CLOSED_BY.format(group=group), *params)
        result[name] = {row["key"]: {"closed": row["closed"], "false_alarms": row["false_alarms"],
                                     "rate": row["false_alarms"] / row["closed"]} for row in rows}
    return result
