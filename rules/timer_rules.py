"""Timer rules: what a due timer means when it fires, and the daily timers planned for each night."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

import asyncpg

from rules import engine_queries as q
from rules.conditions import BED_DEVICE_TYPES, Condition
from rules.config import BY_THE_DOOR, DOOR_SETTLE, EVENING_BEFORE_NIGHT, OUT_OF_BED_LIMIT_KEY, ResidentRules
from rules.habits import learn_habits, night_noon
from rules.room_habits import LIFE_SIGNS
from rules.settling import settled_for_the_night
from telecare.vocabulary import EventKind

if TYPE_CHECKING:
    from rules.engine import Batch, RulesEngine
    from rules.timers import Timer

# A daily timer planned this late is history (a new resident, a replay starting mid-night): skip it.
PLAN_LATE_LIMIT = timedelta(minutes=10)
# "Got up" counts from this long before the end of the night.
UP_WINDOW_BEFORE_NIGHT_END = timedelta(minutes=60)
# Without a bed sensor, "up" is a sign of them outside the bedroom within this long before "up by".
UP_SEEN_WITHIN = timedelta(minutes=90)
# Before anything is learnt, someone up and about (not still) this close to the end of the night is
# taken to have risen for the day: an early riser's ordinary morning is not an alarm on the first nights.
# Someone out of bed and still is still called up to the last hour (`UP_WINDOW_BEFORE_NIGHT_END`).
DEFAULT_MORNING_BEFORE_NIGHT_END = timedelta(hours=3)
# A learnt "in bed by" is never later than this before the night ends: past it, it is a morning matter.
LEARNT_BED_BY_BEFORE_NIGHT_END = timedelta(hours=3)
# Before anything is learnt, and with no care plan, "not in bed by" waits this much past the default.
FIRST_NIGHTS_BED_BY_EXTRA = timedelta(hours=1)
# How far back the bed mat's last report is looked for when judging whether an outage hid a bedtime.
BED_REPORT_LOOKBACK = timedelta(days=3)


async def fire_timer(*, engine: RulesEngine, batch: Batch, timer: Timer, detected_at: datetime) -> None:
    """Decide what a timer that fell due means, and raise its alert if it means one."""
    resident = engine.residents.get(timer.resident_id)
    if resident is None:
        return
    connection = batch.connection
    condition: Condition
    not_judged: str | None = None
    if timer.rule == "out_of_bed":
        if await _rose_for_the_day(connection=connection, resident=resident, timer=timer):
            return  # the morning rise: "not up by" judges mornings
        limit = await _own_out_of_bed_limit(connection=connection, resident=resident, timer=timer)
        if limit is not None:
            # Up and about, and this person is lately up this long at night: their own limit applies,
            # and stillness still counts from the last sign of them.
            last = await _last_sign(connection=connection, resident_id=resident.resident_id, until=timer.due_at,
                                    since=timer.armed_at)
            still_due = (last["time"] if last is not None else timer.armed_at) + resident.out_of_bed
            batch.timers.arm(timer=replace(
                timer, due_at=min(timer.armed_at + limit, max(still_due, timer.due_at)), timer_id=None,
                state="pending", detail={**timer.detail, OUT_OF_BED_LIMIT_KEY: limit.total_seconds()}))
            return
        condition = Condition.OUT_OF_BED
    elif timer.rule == "left_flat":
        later = await _left_flat_deadline(connection=connection, resident=resident, timer=timer)
        if later is False:
            return  # out for the morning, after this person's ordinary rise
        if isinstance(later, datetime):
            # Out for the evening before their usual bedtime: only not back by then is the night rule's.
            batch.timers.arm(timer=replace(timer, due_at=later, timer_id=None, state="pending",
                                           detail={**timer.detail, "postponed_to_usual_bedtime": True}))
            return
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
        # In bed now, or been to bed since the evening (up for the bathroom when the timer fell due).
        last_bed = await connection.fetchval(q.LAST_KIND, resident.resident_id, timer.due_at,
                                             night_start - timedelta(hours=6),
                                             [EventKind.BED_OCCUPIED.value, EventKind.BED_VACATED.value])
        if last_bed == EventKind.BED_OCCUPIED.value or await connection.fetchval(
                q.KIND_EXISTS, resident.resident_id, night_start - EVENING_BEFORE_NIGHT, timer.due_at,
                [EventKind.BED_OCCUPIED.value]):
            return
        if await _is_out(connection=connection, resident_id=resident.resident_id, doors=resident.front_door_devices,
                         until=timer.due_at, since=night_start - timedelta(hours=12)):
            return  # out for the evening; the left-the-flat rule covers the night
        condition = Condition.NOT_IN_BED
        if await _bedtime_unheard(connection=connection, resident=resident, evening=night_start - EVENING_BEFORE_NIGHT,
                                  until=timer.due_at):
            not_judged = "the bed mat or its hub was offline since the mat last reported"
    elif timer.rule == "not_up":
        _, night_end = resident.night_bounds(night=datetime.fromisoformat(timer.subject).date())
        if resident.has_bed_sensor:
            # Up means out of bed now, however early they rose: the last bed event decides.
            last_bed = await connection.fetchval(q.LAST_KIND, resident.resident_id, timer.due_at,
                                                 timer.due_at - timedelta(days=1),
                                                 [EventKind.BED_OCCUPIED.value, EventKind.BED_VACATED.value])
            if last_bed != EventKind.BED_OCCUPIED.value:
                return
        elif await connection.fetchval(q.SIGN_AWAY_FROM_BED, resident.resident_id,
                                       max(night_end - UP_WINDOW_BEFORE_NIGHT_END, timer.due_at - UP_SEEN_WITHIN),
                                       timer.due_at, LIFE_SIGNS):
            # Up means seen about outside the bedroom lately: moving in bed (the bedroom PIR) or one
            # bathroom trip at six and back to bed is not up by nine.
            return
        elif await _is_out(connection=connection, resident_id=resident.resident_id, doors=resident.front_door_devices,
                           until=timer.due_at, since=night_end - timedelta(hours=12)):
            return  # up and gone out early (a morning outing): not "not up"
        condition = Condition.NOT_UP
    else:
        return
    await engine.raise_activity(
        batch=batch, resident=resident, condition=condition, subject=timer.subject or timer.rule,
        event_time=timer.due_at, detected_at=detected_at,
        detail={**timer.detail, "rule": timer.rule, "armed_at": timer.armed_at.isoformat(),
                "due_at": timer.due_at.isoformat()},
        not_judged=not_judged,
    )


async def _rose_for_the_day(*, connection: asyncpg.Connection, resident: ResidentRules, timer: Timer) -> bool:
    """Whether the bed exit behind a due out-of-bed timer was this person's ordinary morning rise.

    Judged against their own recent rises when the bed sensor has taught us them: someone up at five
    who usually rises at eight is flagged, someone up at six who usually rises at half past is not.
    Without them (the first nights, or too few nights with data): up and about from three hours before
    the end of the night window (at most its second half), or due in its last hour, is up for the day.
    """
    night = resident.night_of(moment=timer.armed_at)
    if night is None:
        return False
    habits = await learn_habits(connection=connection, resident=resident, night=night, now=timer.armed_at)
    earliest_rise = habits.earliest_usual_rise()
    if earliest_rise is not None:
        return timer.armed_at >= night_noon(resident=resident, night=night) + earliest_rise
    night_start, night_end = resident.night_bounds(night=night)
    up_and_about = timer.due_at >= timer.armed_at + resident.out_of_bed_max
    # Never more than the second half of the window, however short the night window is.
    morning_from = max(night_end - DEFAULT_MORNING_BEFORE_NIGHT_END, night_start + (night_end - night_start) / 2)
    return timer.due_at >= night_end - UP_WINDOW_BEFORE_NIGHT_END or (up_and_about and timer.armed_at >= morning_from)


async def _own_out_of_bed_limit(
    *, connection: asyncpg.Connection, resident: ResidentRules, timer: Timer
) -> timedelta | None:
    """A longer limit for an out-of-bed timer that reached its cap while they were up and about, or None.

    Only a timer that ran to the cap (kept going by activity) is extended, never one that fell due
    because they were out of bed and still; and only once, to how long their recent nights ran. Never
    when the care plan sets the cap: the team's limit stands, and the drift goes to the care review.
    """
    night = resident.night_of(moment=timer.armed_at)
    if (night is None or "out_of_bed_max" in resident.care_plan or OUT_OF_BED_LIMIT_KEY in timer.detail
            or timer.due_at < timer.armed_at + resident.out_of_bed_max):
        return None
    habits = await learn_habits(connection=connection, resident=resident, night=night, now=timer.armed_at)
    usual = habits.usual_longest_exit()
    return usual if usual is not None and usual > resident.out_of_bed_max else None


async def _left_flat_deadline(
    *, connection: asyncpg.Connection, resident: ResidentRules, timer: Timer
) -> datetime | bool:
    """For a due left-the-flat timer: True to raise now, False if it is no night outing, or a later due time.

    The night window is the same for everyone; this person's own night runs from their usual bedtime
    to their usual rise. Gone out after their ordinary rise, at their regular morning outing or at a
    time the care plan expects them out: out for the morning. Gone out before they had settled and
    before their usual bedtime: out for the evening, judged at that bedtime.
    """
    night = resident.night_of(moment=timer.armed_at)
    if night is None or timer.detail.get("postponed_to_usual_bedtime"):
        return True
    if resident.expected_out(moment=timer.armed_at):
        return False  # an outing the care plan expects ("out most weekday mornings from 08:30")
    habits = await learn_habits(connection=connection, resident=resident, night=night, now=timer.armed_at)
    noon = night_noon(resident=resident, night=night)
    earliest_rise = habits.earliest_usual_rise()
    earliest_outing = habits.earliest_usual_outing()
    if earliest_rise is not None and timer.armed_at >= noon + earliest_rise:
        return False
    if earliest_outing is not None and timer.armed_at >= noon + earliest_outing:
        return False  # their regular morning outing, learnt from the front door
    _, night_end = resident.night_bounds(night=night)
    if earliest_rise is None and timer.armed_at >= night_end - UP_WINDOW_BEFORE_NIGHT_END:
        return False  # nothing learnt yet: the last hour of the night is taken as the morning
    # The evening ends at the care plan's "in bed by" when the team set one, else at the usual bedtime.
    usual_bedtime = (resident.night_clock(night=night, clock=resident.bed_by) - noon if "bed_by" in resident.care_plan
                     else habits.latest_usual_bedtime())
    if usual_bedtime is None or noon + usual_bedtime <= timer.due_at:
        return True
    night_start, _ = resident.night_bounds(night=night)
    # Been to bed (even briefly), or settled in the bedroom where no bed sensor says so: a night departure.
    been_to_bed = await connection.fetchval(q.KIND_EXISTS, resident.resident_id, night_start - EVENING_BEFORE_NIGHT,
                                            timer.due_at, [EventKind.BED_OCCUPIED.value]) \
        or await settled_for_the_night(connection=connection, resident=resident, night=night, moment=timer.armed_at,
                                       known=set())
    return True if been_to_bed else noon + usual_bedtime


async def _bedtime_unheard(
    *, connection: asyncpg.Connection, resident: ResidentRules, evening: datetime, until: datetime
) -> bool:
    """Whether an outage of the bed mat's path may have swallowed their getting into bed tonight.

    A hub that is down drops the mat's report, and the mat does not repeat it when the hub is back:
    so the path being down at any time between the evening and the due time, with no bed report
    since it came back, leaves bedtime unknown. The mat reports changes only: once an outage has
    swallowed their getting up, it still says "occupied" and tonight's getting into bed is no change,
    so then any outage since its last report counts. An outage that ended before the evening, after
    a last report of "vacated", hides nothing: their getting into bed would be a change, and heard.
    """
    bed_kinds = [EventKind.BED_OCCUPIED.value, EventKind.BED_VACATED.value]
    last = await connection.fetchrow(q.LAST_EVENT_OF_KIND, resident.resident_id, until, until - BED_REPORT_LOOKBACK,
                                     bed_kinds)
    outages = await connection.fetch(q.BED_PATH_OUTAGES, resident.resident_id,
                                      last["time"] if last is not None else until - BED_REPORT_LOOKBACK, until,
                                      list(BED_DEVICE_TYPES))
    if not outages:
        return False
    if last is not None and last["kind"] == EventKind.BED_OCCUPIED.value:
        return True
    down: set[str] = set()
    touched_evening = False
    for outage in outages:
        touched_evening = touched_evening or outage["time"] >= evening
        if outage["is_restore"]:
            down.discard(outage["device_id"])
        else:
            down.add(outage["device_id"])
    if down:
        return True  # still down: nothing can be heard
    if not touched_evening:
        return False  # over before the evening, after a last report of "vacated": tonight's bedtime is a change
    # Back by now. Seen up and about away from the bedroom since it came back: a bedtime lost in the
    # outage was followed by getting up, and getting into bed again would have been heard, so the rule
    # judges (a short evening blip must not silence it for the night).
    return not await connection.fetchval(q.SIGN_AWAY_FROM_BED, resident.resident_id, outages[-1]["time"], until,
                                         LIFE_SIGNS)


async def _last_sign(
    *, connection: asyncpg.Connection, resident_id: str, until: datetime, since: datetime
) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await connection.fetchrow(
        q.LAST_ACTIVITY, resident_id, until, since, [*LIFE_SIGNS, "bed_occupied"])
    return row


async def _is_out(
    *, connection: asyncpg.Connection, resident_id: str, doors: frozenset[str], until: datetime, since: datetime
) -> bool:
    """Whether the front door moved last, bar the hallway seeing them on their way out just after it."""
    if not doors:
        return False
    rows = await connection.fetch(q.SIGNS_SINCE_LAST_DOOR, resident_id, until, since,
                                  [*LIFE_SIGNS, EventKind.BED_OCCUPIED.value], list(doors))
    if not rows or rows[0]["device_id"] not in doors:
        return False
    door_at = rows[0]["time"]
    return all(row["device_id"] in doors or (row["location"] in BY_THE_DOOR and row["time"] < door_at + DOOR_SETTLE)
               for row in rows[1:])


async def plan_daily_timers(*, engine: RulesEngine, connection: asyncpg.Connection, now: datetime) -> None:
    """Make sure tonight's "not in bed by" and this morning's "not up by" timers exist (idempotent)."""
    for resident in engine.residents.values():
        today = resident.local(moment=now).date()
        for night in (today - timedelta(days=1), today):
            # Tonight's bedtime is planned from noon, when last night (and its rise) is history to learn from.
            if resident.has_bed_sensor and Condition.NOT_IN_BED in resident.enabled \
                    and now >= night_noon(resident=resident, night=night):
                await _plan(engine=engine, connection=connection, now=now, resident=resident, rule="not_in_bed",
                            night=night, due=_bed_deadline)
            if Condition.NOT_UP in resident.enabled:
                await _plan(engine=engine, connection=connection, now=now, resident=resident, rule="not_up",
                            night=night, due=_up_deadline)


class _Deadline(Protocol):
    async def __call__(self, *, connection: asyncpg.Connection, resident: ResidentRules, night: date,
                       now: datetime) -> tuple[datetime, dict[str, str]]: ...


async def _plan(*, engine: RulesEngine, connection: asyncpg.Connection, now: datetime, resident: ResidentRules,
                rule: str, night: date, due: _Deadline) -> None:
    key = (resident.resident_id, rule, night.isoformat())
    if key in engine.planned:
        return
    engine.planned.add(key)
    due_at, detail = await due(connection=connection, resident=resident, night=night, now=now)
    if due_at < now - PLAN_LATE_LIMIT or (engine.plan_from is not None and due_at < engine.plan_from):
        return
    await connection.execute(q.INSERT_TIMER, engine.run, resident.resident_id, rule, night.isoformat(), now, due_at,
                             "pending", None, json.dumps(detail))


async def _bed_deadline(*, connection: asyncpg.Connection, resident: ResidentRules, night: date,
                        now: datetime) -> tuple[datetime, dict[str, str]]:
    """The care plan's "in bed by"; without one, the default or later for someone whose recent nights run later."""
    configured = resident.night_clock(night=night, clock=resident.bed_by)
    if "bed_by" in resident.care_plan:
        return configured, {"bed_by": "care plan"}
    habits = await learn_habits(connection=connection, resident=resident, night=night, now=now)
    usual = habits.latest_usual_bedtime()
    if usual is None:
        # Nothing learnt yet and no care plan: a conservative default, an hour past the usual one, so
        # a late settler's first nights are not called (recorded homes: in bed at 02:15, window from 23:00).
        latest = resident.night_bounds(night=night)[1] - LEARNT_BED_BY_BEFORE_NIGHT_END
        return max(configured, min(configured + FIRST_NIGHTS_BED_BY_EXTRA, latest)), {"bed_by": "default, first nights"}
    latest = resident.night_bounds(night=night)[1] - LEARNT_BED_BY_BEFORE_NIGHT_END
    learnt = min(night_noon(resident=resident, night=night) + usual, latest)
    if learnt <= configured:
        return configured, {"bed_by": "configured"}
    return learnt, {"bed_by": "learnt", "nights": str(len(habits.bedtimes))}


async def _up_deadline(*, connection: asyncpg.Connection, resident: ResidentRules, night: date,
                       now: datetime) -> tuple[datetime, dict[str, str]]:
    """The configured "up by" on the morning after `night`."""
    _, night_end = resident.night_bounds(night=night)
    return resident.at_local(day=night_end.astimezone(resident.timezone).date(), clock=resident.up_by), {}
