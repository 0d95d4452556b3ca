"""Settled for the night: from when getting up is "up at night", not the evening going on.

Out of bed at night is a night worker's call only once the person has gone to bed for the night. An
evening lie-down on the bed, or the television after it inside the night window, is not that.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import asyncpg

from rules import engine_queries as q
from rules.config import EVENING_BEFORE_NIGHT, ResidentRules
from rules.habits import learn_habits, night_noon
from rules.room_habits import has_settled
from telecare.vocabulary import EventKind

# Getting into bed this long before the usual bedtime (or later) is going to bed for the night.
USUAL_BEDTIME_EARLY = timedelta(minutes=60)


async def settled_for_the_night(*, connection: asyncpg.Connection, resident: ResidentRules, night: date,
                                moment: datetime, known: set[tuple[str, date]], leaving_bed: bool = False) -> bool:
    """Whether, at `moment` of `night`, the person counts as settled: up after that is "up at night".

    Settled once they have been in bed (or quiet after the bedroom) for a while this evening, or got
    into bed at about their usual bedtime, or in any case from their "in bed by" (by then they should
    be). `known` remembers the nights already found settled, so an evening of motion does not read
    the evening again at every event.
    """
    key = (resident.resident_id, night)
    if key in known:
        return True
    if moment >= resident.night_clock(night=night, clock=resident.bed_by):
        return True
    night_start, _ = resident.night_bounds(night=night)
    evening = night_start - EVENING_BEFORE_NIGHT
    settled = await has_settled(connection=connection, resident_id=resident.resident_id,
                                has_bed_sensor=resident.has_bed_sensor, since=evening, until=moment,
                                leaving_bed=leaving_bed, front_doors=resident.front_door_devices)
    if not settled and leaving_bed and resident.has_bed_sensor:
        settled = await _into_bed_at_usual_time(connection=connection, resident=resident, night=night,
                                                evening=evening, moment=moment)
    if settled:
        known.add(key)
    return settled


async def _into_bed_at_usual_time(*, connection: asyncpg.Connection, resident: ResidentRules, night: date,
                                  evening: datetime, moment: datetime) -> bool:
    """Whether they last got into bed at about their usual bedtime or later: going to bed for the night,
    however soon they got up again (a bad night, not an evening lie-down)."""
    into = await connection.fetchval(q.LAST_EVENT_TIME_OF_KIND, resident.resident_id, moment, evening,
                                     [EventKind.BED_OCCUPIED.value])
    if into is None:
        return False
    habits = await learn_habits(connection=connection, resident=resident, night=night, now=moment)
    usual = habits.usual_bedtime()
    return usual is not None and into >= night_noon(resident=resident, night=night) + usual - USUAL_BEDTIME_EARLY
