"""Life-safety alarms never wait behind a backlog in the rules either.

The worker follows the events stream in commit order. After an outage the stream holds hours of
backlog, and the priority lane (ingest/priority_lane.py) commits a pendant press early, but still
behind whatever the ingest committed just before it: thousands of events the rules must read first.
Before each step of the stream the worker therefore applies, at once, the alarm events (new, not
restores) anywhere ahead of its cursor, and notes them; the cursor skips them when it gets there,
so each is applied exactly once. Only the alarm itself is applied: due timers keep their turn.
"""

from __future__ import annotations

import asyncpg

from rules import engine_queries as q
from rules.alerts import AlertChange
from rules.engine import RulesEngine, event_from_row

# The literal list of the partial index events_alarms_by_seq (migration 071): keep them equal.
ALARMS_AHEAD = f"""
SELECT {q.EVENT_COLUMNS} FROM events e
WHERE ingest_seq > $2
  AND kind IN ('personal_trigger', 'fall', 'smoke', 'co', 'flood', 'gas', 'heat') AND NOT is_restore
  AND NOT EXISTS (SELECT 1 FROM rule_alarms_ahead a WHERE a.run = $1 AND a.ingest_seq = e.ingest_seq)
ORDER BY ingest_seq LIMIT 100
"""
NOTE_APPLIED = "INSERT INTO rule_alarms_ahead (run, ingest_seq) SELECT $1, unnest($2::bigint[]) ON CONFLICT DO NOTHING"
APPLIED_UP_TO = "SELECT ingest_seq FROM rule_alarms_ahead WHERE run = $1 AND ingest_seq <= $2"
FORGET_UP_TO = "DELETE FROM rule_alarms_ahead WHERE run = $1 AND ingest_seq <= $2"


async def apply_alarms_ahead(*, connection: asyncpg.Connection, engine: RulesEngine, run: str) -> list[AlertChange]:
    """Apply the alarm events ahead of the cursor that are not applied yet; returns the alert changes."""
    async with connection.transaction():
        # The cursor's row lock fences a second worker, as for a step of the stream.
        cursor = await connection.fetchrow(q.CURSOR_FOR_UPDATE, run)
        if cursor is None:
            return []
        rows = await connection.fetch(ALARMS_AHEAD, run, cursor["last_seq"])
        if not rows:
            return []
        changes = await engine.process_alarms(connection=connection, events=[event_from_row(row) for row in rows])
        await connection.execute(NOTE_APPLIED, run, [row["ingest_seq"] for row in rows])
        return changes


async def applied_ahead(*, connection: asyncpg.Connection, run: str, up_to: int) -> set[int]:
    """Seqs up to `up_to` already applied ahead of the cursor, forgotten as the cursor passes them."""
    seqs = {row["ingest_seq"] for row in await connection.fetch(APPLIED_UP_TO, run, up_to)}
    if seqs:
        await connection.execute(FORGET_UP_TO, run, up_to)
    return seqs
