"""Rule timers on event time: loaded per batch, changed in memory, written back with the cursor."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import asyncpg

from rules import engine_queries as q


@dataclass(frozen=True, slots=True)
class Timer:
    """One timer: `rule` fires for `resident_id` at `due_at` unless cancelled first."""

    resident_id: str
    rule: str
    subject: str
    armed_at: datetime
    due_at: datetime
    detail: dict[str, Any]
    timer_id: int | None = None
    state: str = "pending"
    settled_at: datetime | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        """The identity of a pending timer."""
        return (self.resident_id, self.rule, self.subject)


def timer_from_row(row: asyncpg.Record) -> Timer:
    """Build a Timer from a rule_timers row."""
    detail = row["detail"]
    return Timer(
        resident_id=row["resident_id"], rule=row["rule"], subject=row["subject"], armed_at=row["armed_at"],
        due_at=row["due_at"], detail=json.loads(detail) if isinstance(detail, str) else dict(detail),
        timer_id=row["timer_id"],
    )


@dataclass(slots=True)
class TimerBook:
    """The pending timers of the residents in one batch, and what the batch did to them."""

    pending: dict[tuple[str, str, str], Timer] = field(default_factory=dict)
    changed: dict[tuple[str, str, str], Timer] = field(default_factory=dict)
    settled: list[Timer] = field(default_factory=list)

    def get(self, *, resident_id: str, rule: str, subject: str = "") -> Timer | None:
        """The pending timer, if any."""
        return self.pending.get((resident_id, rule, subject))

    def arm(self, *, timer: Timer) -> None:
        """Add or replace a pending timer."""
        self.pending[timer.key] = timer
        self.changed[timer.key] = timer

    def push_back(self, *, resident_id: str, rule: str, subject: str, due_at: datetime,
                  armed_at: datetime) -> None:
        """Move a timer's due time later, arming it if none is pending."""
        current = self.get(resident_id=resident_id, rule=rule, subject=subject)
        if current is None:
            self.arm(timer=Timer(resident_id, rule, subject, armed_at, due_at, {}))
        elif due_at > current.due_at:
            self.arm(timer=replace(current, due_at=due_at))

    def settle(self, *, timer: Timer, state: str, at: datetime) -> Timer:
        """Take a timer out of the pending set as fired or cancelled."""
        self.pending.pop(timer.key, None)
        self.changed.pop(timer.key, None)
        done = replace(timer, state=state, settled_at=at)
        self.settled.append(done)
        return done

    def cancel(self, *, resident_id: str, rule: str, subject: str = "", at: datetime) -> None:
        """Cancel the pending timer, if any."""
        current = self.get(resident_id=resident_id, rule=rule, subject=subject)
        if current is not None:
            self.settle(timer=current, state="cancelled", at=at)

    def due(self, *, resident_id: str | None, until: datetime) -> list[Timer]:
        """Pending timers due by `until` (for one resident, or all), earliest first."""
        found = [
            timer for timer in self.pending.values()
            if timer.due_at <= until and (resident_id is None or timer.resident_id == resident_id)
        ]
        return sorted(found, key=lambda timer: timer.due_at)


async def load_timer_book(*, connection: asyncpg.Connection, run: str, resident_ids: list[str]) -> TimerBook:
    """Pending timers of these residents."""
    rows = await connection.fetch(q.PENDING_TIMERS_FOR, run, resident_ids)
    book = TimerBook()
    for row in rows:
        timer = timer_from_row(row)
        book.pending[timer.key] = timer
    return book


async def claim_timer_fire(*, connection: asyncpg.Connection, run: str, timer: Timer, at: datetime) -> bool:
    """Mark the timer fired in the database; False if another worker already settled it."""
    if timer.timer_id is None:
        await connection.execute(
            q.INSERT_TIMER, run, timer.resident_id, timer.rule, timer.subject, timer.armed_at, timer.due_at,
            "fired", at, json.dumps(timer.detail),
        )
        return True
    return await connection.fetchval(q.SETTLE_TIMER, timer.timer_id, "fired", at) is not None


async def save_timer_book(*, connection: asyncpg.Connection, run: str, book: TimerBook) -> None:
    """Write what the batch did to its timers (fired ones were written when they fired)."""
    for timer in book.settled:
        if timer.state == "cancelled" and timer.timer_id is not None:
            await connection.execute(q.SETTLE_TIMER, timer.timer_id, "cancelled", timer.settled_at)
    for timer in book.changed.values():
        if timer.timer_id is None:
            await connection.execute(
                q.INSERT_TIMER, run, timer.resident_id, timer.rule, timer.subject, timer.armed_at, timer.due_at,
                "pending", None, json.dumps(timer.detail),
            )
        else:
            await connection.execute(q.UPDATE_PENDING_TIMER, timer.timer_id, timer.due_at, json.dumps(timer.detail))
