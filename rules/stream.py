"""Follow the events stream with a cursor stored in the database.

Ingest allocates `ingest_seq` from a sequence and commits in batches. With several ingest writers a
lower seq can commit after a higher one, so the cursor never steps over a missing seq while any
transaction that was running when the gap was first seen may still commit it: a gap is passed once
the snapshot's xmin has moved beyond the xmax recorded at first sight (every transaction that could
hold it has ended), or after `settle` as a backstop. Sequence values burnt by rollbacks or by
ON CONFLICT DO NOTHING leave permanent gaps, which this passes within one transaction's lifetime.
"""

from __future__ import annotations

import time as monotonic_time
from dataclasses import dataclass, field
from datetime import timedelta

import asyncpg

from rules import engine_queries as q
from rules.alarms_ahead import applied_ahead
from rules.alerts import AlertChange
from rules.engine import RulesEngine, event_from_row


@dataclass(frozen=True, slots=True)
class GapWatch:
    """When a missing seq was first seen, and the snapshot xmax at that moment."""

    first_seen: float
    xmax_then: int


@dataclass(slots=True)
class StreamFollower:
    """Moves one run's cursor through `events`, applying the engine to each batch."""

    run: str
    batch_size: int = 2000
    settle: timedelta = timedelta(seconds=5)
    gaps: dict[int, GapWatch] = field(default_factory=dict)

    async def ensure_cursor(self, *, connection: asyncpg.Connection, start_at_end: bool) -> None:
        """Create the cursor if missing: at the end of the stream (live) or the beginning."""
        start = await connection.fetchval(q.MAX_SEQ) if start_at_end else 0
        await connection.execute(q.ENSURE_CURSOR, self.run, start)

    async def step(self, *, connection: asyncpg.Connection, engine: RulesEngine) -> tuple[int, list[AlertChange]]:
        """Process the next batch; returns how many events it consumed and the alert changes."""
        async with connection.transaction():
            # The row lock fences a second worker: whoever holds it owns this step of the cursor.
            cursor = await connection.fetchrow(q.CURSOR_FOR_UPDATE, self.run)
            if cursor is None:
                raise LookupError(f"no cursor for run {self.run!r}")
            last_seq: int = cursor["last_seq"]
            rows = await connection.fetch(q.EVENTS_AFTER_SEQ, last_seq, self.batch_size)
            if not rows:
                return 0, []
            snapshot = await connection.fetchrow(q.SNAPSHOT)
            accepted = []
            expected = last_seq + 1
            for row in rows:
                if row["ingest_seq"] != expected and not self._gap_passable(seq=expected, snapshot=snapshot):
                    break
                accepted.append(row)
                expected = row["ingest_seq"] + 1
            if not accepted:
                return 0, []
            self.gaps = {seq: gap for seq, gap in self.gaps.items() if seq > expected}
            # Alarms already applied ahead of the cursor (rules/alarms_ahead.py) are not applied twice.
            ahead = await applied_ahead(connection=connection, run=self.run, up_to=accepted[-1]["ingest_seq"])
            events = [event_from_row(row) for row in accepted if row["ingest_seq"] not in ahead]
            changes = await engine.process_events(connection=connection, events=events)
            await connection.execute(
                q.ADVANCE_CURSOR, self.run, accepted[-1]["ingest_seq"], max(row["time"] for row in accepted)
            )
            return len(accepted), changes

    def _gap_passable(self, *, seq: int, snapshot: asyncpg.Record | None) -> bool:
        if snapshot is None:
            return False
        xmin: int = snapshot["xmin"]
        xmax: int = snapshot["xmax"]
        gap = self.gaps.get(seq)
        if gap is None:
            self.gaps[seq] = GapWatch(monotonic_time.monotonic(), xmax)
            return xmin >= xmax  # nothing in flight at all
        waited = monotonic_time.monotonic() - gap.first_seen
        return xmin >= gap.xmax_then or waited > self.settle.total_seconds()
