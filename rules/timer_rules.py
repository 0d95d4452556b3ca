"""Timer rules: what a due timer means when it fires, and the daily timers planned for each night."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import asyncpg

from rules import engine_queries as q
from rules.conditions import Condition
from telecare.vocabulary import EventKind

if TYPE_CHECKING:
    from rules.engine import Batch, RulesEngine
    from rules.timers import Timer

# A daily timer planned this late is history (a new resident, a replay starting mid-night): skip it.
PLAN_LATE_LIMIT = timedelta(minutes=10)
# "Got up" counts from this long before the end of the night.
UP_WINDOW_BEFORE_NIGHT_END = timedelta(minutes=60)
_LIFE_SIGNS = [k.value for k in (
    EventKind.MOTION, EventKind.PRESENCE, EventKind.DOOR_OPEN, EventKind.DOOR_CLOSED, EventKind.BED_VACATED,
    EventKind.APPLIANCE_ON, EventKind.APPLIANCE_OFF, EventKind.CHAIR_OCCUPIED, EventKind.CHAIR_VACATED,
    EventKind.BUTTON, EventKind.VIBRATION,
)]


async def fire_timer(*, engine: RulesEngine, batch: Batch, timer: Timer, detected_at: datetime) -> None:
    """Decide what a timer that fell due means, and raise its alert if it means one."""
    resident = engine.residents.get(timer.resident_id)
    if resident is None:
        return
    connection = batch.connection
    condition: Condition
    if timer.rule == "out_of_bed":
        night = resident.night_of(moment=timer.armed_at)
        if night is not None and timer.due_at >= resident.night_bounds(night=night)[1] - UP_WINDOW_BEFORE_NIGHT_END:
            return  # up and about in the last hour of the night: up for the day, which "not up by" judges
        condition = Condition.OUT_OF_BED
    elif timer.rule == "left_flat":
        condition = Condition.LEFT_FLAT
    elif timer.rule == "inactivity":
        last = await _last_sign(connection=connection, resident_id=resident.resident_id, until=timer.due_at,
                                since=timer.due_at - resident.inactivity - timedelta(days=1))
        if last is not None and last["device_id"] in resident.front_door_devices:
            return  # last seen going out of the front door: out, not inactive
        if last is not None and last["kind"] == EventKind.BED_OCCUPIED.value:
            return  # asleep in bed: a long lie-in is the "not up by" rule's to judge, not inactivity
        condition = Condition.INACTIVITY
    elif timer.rule == "not_in_bed":
        night_start, _ = resident.night_bounds(night=datetime.fromisoformat(timer.subject).date())
        # In bed now, whether they went to bed before the night window opened or during it.
        last_bed = await connection.fetchval(q.LAST_KIND, resident.resident_id, timer.due_at,
                                             night_start - timedelta(hours=6),
                                             [EventKind.BED_OCCUPIED.value, EventKind.BED_VACATED.value])
        if last_bed == EventKind.BED_OCCUPIED.value or await connection.fetchval(
                q.KIND_EXISTS, resident.resident_id, night_start, timer.due_at, [EventKind.BED_OCCUPIED.value]):
            return
        if await _is_out(connection=connection, resident_id=resident.resident_id, doors=resident.front_door_devices,
                         until=timer.due_at, since=night_start - timedelta(hours=12)):
            return  # out for the evening; the left-the-flat rule covers the night
        condition = Condition.NOT_IN_BED
    elif timer.rule == "not_up":
        _, night_end = resident.night_bounds(night=datetime.fromisoformat(timer.subject).date())
        if resident.has_bed_sensor:
            # Up means out of bed now, however early they rose: the last bed event decides.
            last_bed = await connection.fetchval(q.LAST_KIND, resident.resident_id, timer.due_at,
                                                 timer.due_at - timedelta(days=1),
                                                 [EventKind.BED_OCCUPIED.value, EventKind.BED_VACATED.value])
            if last_bed != EventKind.BED_OCCUPIED.value:
                return
        elif await connection.fetchval(q.KIND_EXISTS, resident.resident_id,
                                       night_end - UP_WINDOW_BEFORE_NIGHT_END, timer.due_at, _LIFE_SIGNS):
            return
        condition = Condition.NOT_UP
    else:
        return
    await engine.raise_activity(
        batch=batch, resident=resident, condition=condition, subject=timer.subject or timer.rule,
        event_time=timer.due_at, detected_at=detected_at,
        detail={"rule": timer.rule, "armed_at": timer.armed_at.isoformat(), "due_at": timer.due_at.isoformat()},
    )


async def _last_sign(
    *, connection: asyncpg.Connection, resident_id: str, until: datetime, since: datetime
) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await connection.fetchrow(
        q.LAST_ACTIVITY, resident_id, until, since, [*_LIFE_SIGNS, "bed_occupied"])
    return row


async def _is_out(
    *, connection: asyncpg.Connection, resident_id: str, doors: frozenset[str], until: datetime, since: datetime
) -> bool:
    if not doors:
        return False
    last = await _last_sign(connection=connection, resident_id=resident_id, until=until, since=since)
    return last is not None and last["device_id"] in doors


async def plan_daily_timers(*, engine: RulesEngine, connection: asyncpg.Connection, now: datetime) -> None:
    """Make sure tonight's "not in bed by" and this morning's "not up by" timers exist (idempotent)."""
    for resident in engine.residents.values():
        today = resident.local(moment=now).date()
        for night in (today - timedelta(days=1), today):
            plans: list[tuple[str, datetime]] = []
            if resident.has_bed_sensor and Condition.NOT_IN_BED in resident.enabled:
                plans.append(("not_in_bed", resident.night_clock(night=night, clock=resident.bed_by)))
            if Condition.NOT_UP in resident.enabled:
                _, night_end = resident.night_bounds(night=night)
                up_day = night_end.astimezone(resident.timezone).date()
                plans.append(("not_up", resident.at_local(day=up_day, clock=resident.up_by)))
            for rule, due_at in plans:
                key = (resident.resident_id, rule, night.isoformat())
                if key in engine.planned:
                    continue
                engine.planned.add(key)
                if due_at < now - PLAN_LATE_LIMIT:
                    continue
                await connection.execute(
                    q.INSERT_TIMER, engine.run, resident.resident_id, rule, night.isoformat(), now, due_at,
                    "pending", None, "{}",
                )
