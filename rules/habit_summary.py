"""What was learnt of a resident's nights, in words an operator or a reviewer reads at a glance."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import asyncpg

from rules.config import load_resident_rules
from rules.habits import Habits, learn_habits

_NOON = datetime(2000, 1, 1, 12, tzinfo=UTC)
_SOURCE_WORDS = {"bed_sensor": "the bed sensor", "room_activity": "room activity", "none": "nothing yet"}


@dataclass(frozen=True, slots=True)
class HabitSummary:
    """Learnt habits as local clock times ("07:40"), with how many nights they rest on."""

    source: str
    nights: int
    confidence: str
    usual_bedtime: str | None
    latest_usual_bedtime: str | None
    usual_rise: str | None
    earliest_usual_rise: str | None
    usual_morning_outing: str | None
    earliest_usual_outing: str | None
    outing_days: int
    summary: str


def _clock(offset: timedelta | None) -> str | None:
    """An offset after noon as a local clock time."""
    return None if offset is None else (_NOON + offset).strftime("%H:%M")


def _median(values: tuple[timedelta, ...]) -> timedelta | None:
    return timedelta(seconds=statistics.median(v.total_seconds() for v in values)) if values else None


def summarise(*, habits: Habits) -> HabitSummary:
    """The learnt habits in clock times, and one sentence saying what the rules now do with them."""
    nights = min(len(habits.bedtimes), len(habits.rises))
    confidence = habits.confidence()
    usual_rise = _clock(_median(habits.rises))
    usual_bedtime = _clock(_median(habits.bedtimes))
    outing = _clock(_median(habits.outings)) if habits.earliest_usual_outing() is not None else None
    if confidence == "none":
        summary = f"nothing learnt yet ({nights} nights with data): the care plan and defaults apply"
    else:
        summary = (f"usually in bed by {usual_bedtime} and up by {usual_rise}, learnt from {nights} nights "
                   f"of {_SOURCE_WORDS[habits.source]} ({confidence} confidence)")
    if outing is not None:
        summary += f"; usually goes out in the morning about {outing} ({len(habits.outings)} days)"
    return HabitSummary(
        source=habits.source, nights=nights, confidence=confidence, usual_bedtime=usual_bedtime,
        latest_usual_bedtime=_clock(habits.latest_usual_bedtime()), usual_rise=usual_rise,
        earliest_usual_rise=_clock(habits.earliest_usual_rise()), usual_morning_outing=outing,
        earliest_usual_outing=_clock(habits.earliest_usual_outing()), outing_days=len(habits.outings),
        summary=summary)


async def current_habits(*, connection: asyncpg.Connection, resident_id: str, now: datetime) -> HabitSummary | None:
    """What the rules would use tonight for this resident (None for an unknown resident)."""
    residents = await load_resident_rules(connection=connection, resident_ids=[resident_id])
    resident = residents.get(resident_id)
    if resident is None:
        return None
    local = resident.local(moment=now)
    tonight: date = local.date() if local.time() >= time(12) else local.date() - timedelta(days=1)
    habits = await learn_habits(connection=connection, resident=resident, night=tonight, now=now)
    return summarise(habits=habits)
