"""The engine's side of the alert store: open and clear conditions, raise and repeat alerts.

Called inside the engine's transaction, so an alert, its history row, its NOTIFY and the cursor or
timer that caused it commit together or not at all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from rules import alert_queries as q
from rules.priorities import PriorityTable

ENGINE_ACTOR = "rules"


@dataclass(frozen=True, slots=True)
class ConditionReport:
    """A condition that a rule found true (or cleared) for one subject."""

    run: str
    org_id: str
    resident_id: str | None
    hub_id: str | None
    device_id: str | None
    device_type: str | None
    condition: str
    subject: str
    event_time: datetime
    detected_at: datetime
    seq: int | None = None
    detail: dict[str, Any] | None = None

    @property
    def subject_key(self) -> str:
        """Who the alert is about: the resident, or the hub when none is assigned."""
        return self.resident_id or f"hub:{self.hub_id}"


@dataclass(frozen=True, slots=True)
class AlertChange:
    """What happened to an alert, for logs and tests."""

    alert_id: int
    change: str


async def notify(*, connection: asyncpg.Connection, run: str, alert_id: int, change: str) -> None:
    """Queue a `telecare_alerts` notification; PostgreSQL delivers it when the transaction commits."""
    if run != "live":
        return
    await connection.execute(q.NOTIFY, json.dumps({"alert_id": alert_id, "change": change}))


async def add_history(
    *, connection: asyncpg.Connection, alert_id: int, action: str, actor: str, event_time: datetime | None,
    from_status: str | None = None, to_status: str | None = None, detail: dict[str, Any] | None = None,
) -> None:
    """Append one row to the alert's history."""
    await connection.execute(
        q.INSERT_HISTORY, alert_id, event_time, action, actor, from_status, to_status, json.dumps(detail or {})
    )


async def open_condition(
    *, connection: asyncpg.Connection, priorities: PriorityTable, report: ConditionReport,
    activation: bool, already_open: bool,
) -> AlertChange | None:
    """Record the condition as open and raise its alert, or bump the active one on a repeat."""
    if already_open and not activation:
        return None
    active = await connection.fetchrow(q.ACTIVE_FOR_UPDATE, report.run, report.subject_key, report.condition)
    rule = priorities.for_condition(condition=report.condition, org_id=report.org_id)
    detail = {"subject": report.subject, "device_id": report.device_id, **(report.detail or {})}
    if active is None:
        alert_id: int = await connection.fetchval(
            q.INSERT_ALERT, report.run, report.org_id, report.resident_id, report.subject_key, report.hub_id,
            report.device_id, report.device_type, report.condition, rule.priority, report.event_time,
            report.detected_at, report.seq, json.dumps(detail),
        )
        await add_history(
            connection=connection, alert_id=alert_id, action="raised", actor=ENGINE_ACTOR,
            event_time=report.event_time, to_status="raised", detail=detail,
        )
        change = AlertChange(alert_id, "raised")
    else:
        alert_id = active["alert_id"]
        bump = rule.repeat_bump if activation else 0
        bumped = await connection.fetchrow(q.REPEAT_ALERT, alert_id, bump, report.event_time)
        if bumped is None:
            raise LookupError(f"alert {alert_id} vanished while locked")
        # A condition that comes back after its restore, before anyone closed the alert, is a new
        # episode on the same alert; the history says so, so evidence can count episodes.
        await add_history(
            connection=connection, alert_id=alert_id, action="repeated", actor=ENGINE_ACTOR,
            event_time=report.event_time,
            detail={**detail, "priority": bumped["priority"], "repeat_count": bumped["repeat_count"],
                    "after_clear": active["cleared_at"] is not None,
                    "detected_at": report.detected_at.isoformat()},
        )
        change = AlertChange(alert_id, "repeated")
    await connection.execute(
        q.UPSERT_OPEN_CONDITION, report.run, report.subject_key, report.condition, report.subject, alert_id,
        report.event_time,
    )
    await notify(connection=connection, run=report.run, alert_id=alert_id, change=change.change)
    return change


async def attach_condition(
    *, connection: asyncpg.Connection, alert_id: int, report: ConditionReport, note: str,
) -> AlertChange:
    """Record the condition against an existing alert (same incident) without raising a new one."""
    await connection.execute(
        q.UPSERT_OPEN_CONDITION, report.run, report.subject_key, report.condition, report.subject, alert_id,
        report.event_time,
    )
    await add_history(
        connection=connection, alert_id=alert_id, action="related", actor=ENGINE_ACTOR,
        event_time=report.event_time,
        detail={"condition": report.condition, "subject": report.subject, "note": note},
    )
    return AlertChange(alert_id, "related")


async def clear_condition(*, connection: asyncpg.Connection, report: ConditionReport) -> AlertChange | None:
    """Mark the condition cleared; the alert is cleared (not closed) once none of its conditions is open."""
    alert_id = await connection.fetchval(
        q.DELETE_OPEN_CONDITION, report.run, report.subject_key, report.condition, report.subject
    )
    if alert_id is None:
        return None
    remaining: int = await connection.fetchval(q.ALERT_STILL_OPEN_CONDITIONS, alert_id)
    await add_history(
        connection=connection, alert_id=alert_id, action="restored", actor=ENGINE_ACTOR,
        event_time=report.event_time,
        detail={"condition": report.condition, "subject": report.subject, "still_open": remaining},
    )
    if remaining:
        return AlertChange(alert_id, "restored")
    status = await connection.fetchval(q.MARK_CLEARED, alert_id, report.event_time)
    if status is None:
        return AlertChange(alert_id, "restored")
    await notify(connection=connection, run=report.run, alert_id=alert_id, change="cleared")
    return AlertChange(alert_id, "cleared")
