"""SQL for the service-wide metrics read at each Prometheus scrape (queue, rules, dead letters, stored events)."""

from __future__ import annotations

QUEUE_BY_PRIORITY = """
SELECT priority, count(*) AS alerts FROM alerts WHERE run = 'live' AND status <> 'closed' GROUP BY priority
"""

# Unanswered = not yet acknowledged (raised or claimed), as the 60 s answer target counts it.
OLDEST_UNANSWERED_S = """
SELECT COALESCE(extract(epoch FROM now() - min(queued_at)), 0)::float8 FROM alerts
WHERE run = 'live' AND status IN ('raised', 'claimed')
"""

ANSWER_TIMES = """
SELECT count(*) FILTER (WHERE acknowledged_at - queued_at <= interval '60 seconds') AS within_60s,
       count(*) FILTER (WHERE acknowledged_at - queued_at <= interval '180 seconds') AS within_180s,
       count(*) AS answered,
       COALESCE(sum(extract(epoch FROM acknowledged_at - queued_at)), 0)::float8 AS seconds
FROM alerts WHERE run = 'live' AND acknowledged_at IS NOT NULL
"""

RAISED_BY_CONDITION = "SELECT condition, count(*) AS alerts FROM alerts WHERE run = 'live' GROUP BY condition"

RULES_CURSOR = """
SELECT GREATEST((SELECT last_value FROM events_ingest_seq) - COALESCE(c.last_seq, 0), 0) AS events_behind,
       extract(epoch FROM now() - c.updated_at)::float8 AS since_moved_s
FROM (SELECT 1) AS one LEFT JOIN rule_cursors c ON c.run = 'live'
"""

TIMERS = """
SELECT count(*) FILTER (WHERE due_at <= now()) AS due, count(*) AS pending
FROM rule_timers WHERE run = 'live' AND state = 'pending'
"""

DEAD_LETTERS_PENDING = """
SELECT reason, count(*) AS letters FROM dead_letters WHERE status = 'pending' GROUP BY reason
"""

# The sequence only grows: a counter of events stored by every ingest worker together.
EVENTS_STORED = "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM events_ingest_seq"
