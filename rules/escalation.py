"""Escalation: an alert nobody claims within its time goes up a level, up the queue and out again."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from rules import alert_queries as q
from rules.alerts import ENGINE_ACTOR, AlertChange, add_history, notify

MAX_ESCALATION_LEVEL = 3


async def escalate_unclaimed(*, connection: asyncpg.Connection, run: str, now: datetime) -> list[AlertChange]:
    """Escalate every alert still unclaimed past its escalation time (one level per interval)."""
    changes: list[AlertChange] = []
    async with connection.transaction():
        for row in await connection.fetch(q.DUE_ESCALATIONS, run, now, MAX_ESCALATION_LEVEL):
            bumped = await connection.fetchrow(q.ESCALATE, row["alert_id"], now)
            if bumped is None:
                continue
            await add_history(
                connection=connection, alert_id=row["alert_id"], action="escalated", actor=ENGINE_ACTOR,
                event_time=None, detail={"level": bumped["escalation_level"], "priority": bumped["priority"]},
            )
            await notify(connection=connection, run=run, alert_id=row["alert_id"], change="escalated")
            changes.append(AlertChange(row["alert_id"], "escalated"))
    return changes
