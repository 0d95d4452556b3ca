"""Away periods, a resident's quiet hours and device maintenance: what holds an alert back, and why."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

import asyncpg

from rules import engine_queries as q
from rules.conditions import ACTIVITY_CONDITIONS, Condition


@dataclass(frozen=True, slots=True)
class Suppression:
    """One suppression row."""

    kind: str
    resident_id: str | None
    device_id: str | None
    starts_at: datetime | None
    ends_at: datetime | None
    local_start: time | None
    local_end: time | None
    reason: str

    def covers(self, *, moment: datetime, timezone: ZoneInfo) -> bool:
        """Whether this suppression is in force at `moment`."""
        if self.starts_at is not None and moment < self.starts_at:
            return False
        if self.ends_at is not None and moment >= self.ends_at:
            return False
        if self.kind != "quiet_hours" or self.local_start is None or self.local_end is None:
            return True
        clock = moment.astimezone(timezone).time()
        if self.local_start <= self.local_end:
            return self.local_start <= clock < self.local_end
        return clock >= self.local_start or clock < self.local_end


@dataclass(frozen=True, slots=True)
class Suppressions:
    """The suppressions that can matter for a batch of events or a tick."""

    rows: tuple[Suppression, ...]

    def reason_to_hold(
        self, *, resident_id: str | None, device_id: str | None, condition: Condition, moment: datetime,
        timezone: ZoneInfo,
    ) -> str | None:
        """Why an alert for `condition` must not be raised at `moment`, or None to raise it.

        Away and quiet hours hold back only the activity rules: a smoke alarm in an empty flat, or a
        pendant pressed during quiet hours, still reaches an operator. Maintenance silences a device.
        """
        for row in self.rows:
            if not row.covers(moment=moment, timezone=timezone):
                continue
            if row.kind == "maintenance" and device_id is not None and row.device_id == device_id:
                return f"maintenance: {row.reason}".rstrip(": ")
            if row.kind in {"away", "quiet_hours"} and row.resident_id == resident_id \
                    and condition in ACTIVITY_CONDITIONS:
                return f"{row.kind}: {row.reason}".rstrip(": ")
        return None

    def device_in_maintenance(self, *, device_id: str, moment: datetime) -> bool:
        """Whether the device is in maintenance at `moment`."""
        return any(
            row.kind == "maintenance" and row.device_id == device_id
            and row.covers(moment=moment, timezone=ZoneInfo("UTC"))
            for row in self.rows
        )


async def load_suppressions(
    *, connection: asyncpg.Connection, resident_ids: list[str], device_ids: list[str], since: datetime,
    until: datetime,
) -> Suppressions:
    """Suppressions for these residents and devices that overlap [since, until]."""
    rows = await connection.fetch(q.SUPPRESSIONS_FOR, resident_ids, device_ids, since, until)
    return Suppressions(tuple(Suppression(**dict(row)) for row in rows))


async def add_suppression(
    *, connection: asyncpg.Connection, kind: str, created_by: str, resident_id: str | None = None,
    device_id: str | None = None, starts_at: datetime | None = None, ends_at: datetime | None = None,
    local_start: time | None = None, local_end: time | None = None, reason: str = "",
) -> int:
    """Record an away period, quiet hours or a maintenance window; returns its id."""
    suppression_id: int = await connection.fetchval(
        q.ADD_SUPPRESSION, kind, resident_id, device_id, starts_at, ends_at, local_start, local_end, reason,
        created_by,
    )
    return suppression_id
