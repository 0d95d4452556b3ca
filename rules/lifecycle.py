"""The operator's side of the alert lifecycle, for the control-centre API.

raised -> claimed -> acknowledged -> (actions) -> closed with an outcome code; reopen puts a closed
alert back in the queue. Every transition is timestamped, attributed and appended to alert_history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import asyncpg

from rules import alert_queries as q
from rules.alerts import add_history, notify


class Outcome(StrEnum):
    """How an alert ended (docs/domain.md section 3)."""

    FALSE_ALARM = "false_alarm"
    REASSURED = "reassured"
    CONTACT_ATTENDED = "contact_attended"
    RESPONDER_ATTENDED = "responder_attended"
    AMBULANCE = "ambulance"
    FIRE = "fire"
    POLICE = "police"
    EQUIPMENT_FAULT = "equipment_fault"
    TEST = "test"


class ActionCode(StrEnum):
    """What an operator did while handling an alert."""

    CALLED_RESIDENT = "called_resident"
    CALLED_CONTACT = "called_contact"
    DISPATCHED_RESPONDER = "dispatched_responder"
    RESPONDER_ATTENDED = "responder_attended"
    EMERGENCY_SERVICES = "emergency_services"
    NOTE = "note"


class AlertTransitionError(Exception):
    """The requested transition is not allowed from the alert's current state."""


class AlertNotFoundError(AlertTransitionError):
    """No alert with that id."""


@dataclass(frozen=True, slots=True)
class AlertView:
    """One alert as the queue shows it."""

    alert_id: int
    org_id: str
    resident_id: str | None
    condition: str
    status: str
    priority: int
    repeat_count: int
    escalation_level: int
    raised_at: datetime
    queued_at: datetime
    cleared_at: datetime | None
    claimed_by: str | None
    acknowledged_at: datetime | None
    closed_at: datetime | None
    outcome: str | None
    device_id: str | None
    device_type: str | None


def _view(row: asyncpg.Record) -> AlertView:
    return AlertView(**{name: row[name] for name in AlertView.__dataclass_fields__})


def _now(at: datetime | None) -> datetime:
    return at or datetime.now(UTC)


async def list_queue(*, connection: asyncpg.Connection, org_id: str | None = None, limit: int = 200,
                     run: str = "live") -> list[AlertView]:
    """Open alerts, most urgent first, then oldest first."""
    return [_view(row) for row in await connection.fetch(q.QUEUE, run, org_id, limit)]


async def get_alert(*, connection: asyncpg.Connection, alert_id: int) -> AlertView:
    """One alert."""
    row = await connection.fetchrow(q.ALERT_BY_ID, alert_id)
    if row is None:
        raise AlertNotFoundError(f"no alert {alert_id}")
    return _view(row)


async def _transition(
    *, connection: asyncpg.Connection, alert_id: int, user_id: str, allowed: set[str], action: str,
    to_status: str | None, sql: str, args: tuple[Any, ...], at: datetime, detail: dict[str, Any],
) -> AlertView:
    async with connection.transaction():
        row = await connection.fetchrow(q.ALERT_BY_ID_FOR_UPDATE, alert_id)
        if row is None:
            raise AlertNotFoundError(f"no alert {alert_id}")
        if row["status"] not in allowed:
            raise AlertTransitionError(f"cannot {action} alert {alert_id}: it is {row['status']}")
        if action == "claim" and row["status"] == "claimed" and row["claimed_by"] != user_id:
            raise AlertTransitionError(f"alert {alert_id} is claimed by {row['claimed_by']}")
        try:
            await connection.execute(sql, alert_id, *args)
        except asyncpg.UniqueViolationError as exc:
            raise AlertTransitionError(f"another alert for this resident and condition is active: {exc}") from exc
        await add_history(
            connection=connection, alert_id=alert_id, action=action, actor=user_id, event_time=at,
            from_status=row["status"], to_status=to_status or row["status"], detail=detail,
        )
        await notify(connection=connection, run=row["run"], alert_id=alert_id, change=action)
        updated = await connection.fetchrow(q.ALERT_BY_ID, alert_id)
    return _view(updated) if updated is not None else _view(row)


async def claim(
    *, connection: asyncpg.Connection, alert_id: int, user_id: str, at: datetime | None = None
) -> AlertView:
    """Take an alert so other operators see it is being handled."""
    moment = _now(at)
    return await _transition(connection=connection, alert_id=alert_id, user_id=user_id, allowed={"raised", "claimed"},
                             action="claim", to_status="claimed", sql=q.CLAIM, args=(user_id, moment), at=moment,
                             detail={})


async def release(
    *, connection: asyncpg.Connection, alert_id: int, user_id: str, at: datetime | None = None
) -> AlertView:
    """Give a claimed alert back to the queue."""
    moment = _now(at)
    return await _transition(connection=connection, alert_id=alert_id, user_id=user_id, allowed={"claimed"},
                             action="release", to_status="raised", sql=q.RELEASE, args=(), at=moment, detail={})


async def acknowledge(*, connection: asyncpg.Connection, alert_id: int, user_id: str,
                      at: datetime | None = None) -> AlertView:
    """The operator has answered the alert (the 60 s / 180 s KPI clock stops here)."""
    moment = _now(at)
    return await _transition(connection=connection, alert_id=alert_id, user_id=user_id,
                             allowed={"raised", "claimed"}, action="acknowledge", to_status="acknowledged",
                             sql=q.ACKNOWLEDGE, args=(user_id, moment), at=moment, detail={})


async def record_action(*, connection: asyncpg.Connection, alert_id: int, user_id: str, action: ActionCode,
                        note: str = "", at: datetime | None = None) -> AlertView:
    """Record what the operator did (call, dispatch, attendance...) against an acknowledged alert."""
    moment = _now(at)
    return await _transition(connection=connection, alert_id=alert_id, user_id=user_id, allowed={"acknowledged"},
                             action=f"action:{action.value}", to_status=None, sql="SELECT $1::bigint", args=(),
                             at=moment, detail={"action": action.value, "note": note})


async def close(*, connection: asyncpg.Connection, alert_id: int, user_id: str, outcome: Outcome,
                note: str = "", at: datetime | None = None) -> AlertView:
    """Close the alert with an outcome code."""
    moment = _now(at)
    return await _transition(connection=connection, alert_id=alert_id, user_id=user_id,
                             allowed={"raised", "claimed", "acknowledged"}, action="close", to_status="closed",
                             sql=q.CLOSE, args=(user_id, moment, outcome.value), at=moment,
                             detail={"outcome": outcome.value, "note": note})


async def reopen(*, connection: asyncpg.Connection, alert_id: int, user_id: str, reason: str,
                 at: datetime | None = None) -> AlertView:
    """Put a closed alert back in the queue."""
    moment = _now(at)
    return await _transition(connection=connection, alert_id=alert_id, user_id=user_id, allowed={"closed"},
                             action="reopen", to_status="raised", sql=q.REOPEN, args=(), at=moment,
                             detail={"reason": reason})


async def history(*, connection: asyncpg.Connection, alert_id: int) -> list[dict[str, Any]]:
    """Every transition of the alert, oldest first."""
    return [dict(row) for row in await connection.fetch(q.HISTORY, alert_id)]
