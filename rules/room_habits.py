"""A night read from room activity, for homes without a bed sensor (or with a dead one).

Sleep shows as a long spell with nobody moving outside the bedroom: its start (the last activity
elsewhere before it) is when they settled, and the first activity elsewhere after the last long
quiet spell of the morning is when they rose. A spell that starts at the front door is an outing,
not sleep. The front door also shows a regular morning outing: the first time of the morning the
door moved and nobody was seen inside for a while after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from itertools import pairwise

import asyncpg

from rules import engine_queries as q
from telecare.vocabulary import EventKind

# Signs that someone is up and about (the bed's "occupied" is not: it is lying down).
LIFE_SIGNS = [k.value for k in (
    EventKind.MOTION, EventKind.PRESENCE, EventKind.DOOR_OPEN, EventKind.DOOR_CLOSED, EventKind.BED_VACATED,
    EventKind.APPLIANCE_ON, EventKind.APPLIANCE_OFF, EventKind.CHAIR_OCCUPIED, EventKind.CHAIR_VACATED,
    EventKind.BUTTON, EventKind.VIBRATION,
)]
# Nobody about outside the bedroom for this long, after the evening began: asleep.
SLEEP_QUIET = timedelta(hours=2)
# In the morning, a quiet spell this long before the first activity means they went back to sleep.
MORNING_QUIET = timedelta(minutes=75)
# Settled for the night: in bed this long, or (no bed sensor) quiet outside the bedroom this long
# after being last seen in it (two hours when no bedroom sensor can say where they went).
SETTLED_IN_BED = timedelta(minutes=30)
SETTLED_QUIET_AFTER_BEDROOM = timedelta(minutes=45)
# Gone out for the morning: nobody seen inside for this long after the door moved.
OUTING_QUIET = timedelta(minutes=20)
_NOON = time(12, 0)
_BEDROOM = "bedroom"


@dataclass(frozen=True, slots=True)
class Sign:
    """One sign of life: when, what and where."""

    at: datetime
    kind: str
    device_id: str
    location: str | None


@dataclass(frozen=True, slots=True)
class RoomNight:
    """What room activity says about one night (offsets after the local noon before it)."""

    settled: timedelta | None
    rose: timedelta | None
    went_out: timedelta | None


async def load_signs(*, connection: asyncpg.Connection, resident_id: str, since: datetime,
                     until: datetime) -> list[Sign]:
    """Signs of life of one resident in [since, until), oldest first."""
    rows = await connection.fetch(q.SIGNS_WITH_PLACE, resident_id, since, until, LIFE_SIGNS)
    return [Sign(at=row["time"], kind=row["kind"], device_id=row["device_id"], location=row["location"])
            for row in rows]


def read_night(*, signs: list[Sign], noon: datetime, evening: timedelta, morning_end: timedelta,
               front_doors: frozenset[str]) -> RoomNight:
    """Settle, rise and morning outing of one night from its signs (noon to noon, oldest first).

    `evening` is the offset from which settling counts; `morning_end` the latest offset a quiet spell
    may start at and still be the end of the night (later ones are a nap or an outing).
    """
    awake = [sign for sign in signs if sign.location != _BEDROOM]
    settled_at: datetime | None = None
    settle_index = -1
    for index, (before, after) in enumerate(pairwise(awake)):
        if before.at - noon < evening or before.device_id in front_doors:
            continue
        if after.at - before.at >= SLEEP_QUIET:
            settled_at, settle_index = before.at, index
            break
    if settled_at is None:
        return RoomNight(settled=None, rose=None, went_out=_outing(awake=awake, noon=noon, after=None,
                                                                     front_doors=front_doors))
    rose_at: datetime | None = None
    for before, after in pairwise(awake[settle_index:]):
        if before.at - noon > morning_end:
            break
        if after.at - before.at >= MORNING_QUIET and before.device_id not in front_doors:
            rose_at = after.at
    return RoomNight(settled=settled_at - noon, rose=rose_at - noon if rose_at is not None else None,
                     went_out=_outing(awake=awake, noon=noon, after=rose_at, front_doors=front_doors))


def _outing(*, awake: list[Sign], noon: datetime, after: datetime | None,
            front_doors: frozenset[str]) -> timedelta | None:
    """The first front-door departure of the morning (after the rise, before the next noon)."""
    morning_from = after if after is not None else noon + timedelta(hours=15)
    for index, sign in enumerate(awake):
        if sign.at < morning_from or sign.device_id not in front_doors or sign.kind != EventKind.DOOR_OPEN.value:
            continue
        if sign.at >= noon + timedelta(hours=24):
            return None
        inside = [later for later in awake[index + 1:] if later.device_id not in front_doors
                  and later.location not in {"hallway", "front_door"}]
        if not inside or inside[0].at - sign.at >= OUTING_QUIET:
            return sign.at - noon
    return None


def settled_tonight(*, signs: list[Sign], bed_signs: list[tuple[datetime, str]], until: datetime,
                    has_bed_sensor: bool, leaving_bed: bool = False, front_doors: frozenset[str] = frozenset()) -> bool:
    """Whether the person had settled for the night before `until` (signs from the evening on).

    With a bed sensor: in bed for `SETTLED_IN_BED` at a stretch (`leaving_bed`: judged for a bed exit
    at `until`, so with no bed report since the evening they had been in bed since before it).
    Without: last seen in the bedroom and then nobody about elsewhere for `SETTLED_QUIET_AFTER_BEDROOM`,
    or nobody about anywhere for two hours.
    """
    if has_bed_sensor:
        into: datetime | None = None
        if bed_signs and bed_signs[0][1] == EventKind.BED_VACATED.value:
            return True  # in bed since before the evening began: long enough
        if not bed_signs:
            return leaving_bed  # a bed exit with no report of getting in: in bed since before the evening
        for at, kind in bed_signs:
            if kind == EventKind.BED_OCCUPIED.value:
                into = into or at
            elif into is not None:
                if at - into >= SETTLED_IN_BED:
                    return True
                into = None
        return into is not None and until - into >= SETTLED_IN_BED
    elsewhere: datetime | None = None
    in_bedroom = went_out = False
    for sign in [*signs, Sign(at=until, kind="", device_id="", location=None)]:
        if sign.location == _BEDROOM:
            in_bedroom = True
            continue
        if elsewhere is not None and not went_out:
            quiet = SETTLED_QUIET_AFTER_BEDROOM if in_bedroom else SLEEP_QUIET
            if sign.at - elsewhere >= quiet:
                return True
        # A quiet spell that starts at the front door is an evening out, not settling.
        elsewhere, in_bedroom, went_out = sign.at, False, sign.device_id in front_doors
    return False


async def has_settled(*, connection: asyncpg.Connection, resident_id: str, has_bed_sensor: bool,
                      since: datetime, until: datetime, leaving_bed: bool, front_doors: frozenset[str]) -> bool:
    """Whether the resident had settled for the night between `since` (the evening) and `until`."""
    if has_bed_sensor:
        rows = await connection.fetch(q.BED_EVENTS, resident_id, since, until,
                                      [EventKind.BED_OCCUPIED.value, EventKind.BED_VACATED.value])
        return settled_tonight(signs=[], bed_signs=[(row["time"], row["kind"]) for row in rows], until=until,
                               has_bed_sensor=True, leaving_bed=leaving_bed)
    signs = await load_signs(connection=connection, resident_id=resident_id, since=since, until=until)
    return settled_tonight(signs=signs, bed_signs=[], until=until, has_bed_sensor=False, front_doors=front_doors)

