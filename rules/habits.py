"""A resident's usual bedtime, rise, time up at night and morning outing, learnt from recent nights.

From the bed sensor when it has taught enough nights; otherwise from room activity (rules/room_habits.py:
the last activity outside the bedroom before a long quiet spell, the first after it), so a home with
no bed sensor learns too. The regular morning outing is read from the front door either way.

A fixed "in bed by" time calls every night on someone who habitually goes to bed late, and a fixed
"last hour of the night is the morning rise" misses someone who got up at five and never went back.
Both rules read the person's own recent nights instead: the median, with a tolerance of several
robust standard deviations (scaled median absolute deviation), never less than a floor. Fewer
nights than `MIN_NIGHTS` with data (a new resident, a dead bed sensor): nothing is learnt and the
configured times apply. Only events before `now` are read, so a replay learns as live would have.
What is learnt only fills in what the care plan leaves open: a setting the team entered is never
relaxed by it (`ResidentRules.care_plan`; see rules/timer_rules.py).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import asyncpg

from rules import engine_queries as q
from rules.config import EVENING_BEFORE_NIGHT, ResidentRules
from rules.room_habits import Sign, load_signs, read_night
from telecare.vocabulary import EventKind

HABIT_NIGHTS = 14
MIN_NIGHTS = 5
# Scaled MAD: one standard deviation for normally distributed times.
_MAD_TO_SD = 1.4826
# "Did not go to bed" is a low-priority call that wakes nobody up when it is right, and annoys when
# it is wrong: four spreads past the usual bedtime, at least an hour.
BEDTIME_SPREADS = 4.0
BEDTIME_FLOOR = timedelta(minutes=60)
# Out of bed too long is a safety call: someone up at five and not back is flagged unless five is
# within three spreads (at least 90 minutes) of their usual rise.
RISE_SPREADS = 3.0
RISE_FLOOR = timedelta(minutes=90)
# ...and never more than two hours before it: a wide spread (weekend lie-ins mixed with weekdays) must
# not make 05:00 an ordinary morning for someone who usually rises at seven.
RISE_CEILING = timedelta(hours=2)
# Up and about at night for as long as on the second-longest of their recent nights (so one incident
# teaches nothing), and ten minutes more, is this person's own normal for now. Only activity is
# extended: someone out of bed and still is flagged after `out_of_bed` regardless.
EXIT_MARGIN = timedelta(minutes=10)
# A morning outing on at least this many of the recent days is a habit; the earliest usual one is the
# median less three spreads, at least 45 minutes (someone out at 08:30 most days is not called at 08:05).
OUTING_DAYS = 5
OUTING_SPREADS = 3.0
OUTING_FLOOR = timedelta(minutes=45)
# Confidence in what was learnt: "high" from this many nights with a rise spread under `STEADY_SPREAD`.
CONFIDENT_NIGHTS = 10
STEADY_SPREAD = timedelta(minutes=45)
_NOON = time(12, 0)


@dataclass(frozen=True, slots=True)
class Habits:
    """A resident's recent bedtimes and final rises, each as time after the local noon before the night."""

    bedtimes: tuple[timedelta, ...]
    rises: tuple[timedelta, ...]
    # The longest time out of bed (and back) on each night, between bedtime and the final rise.
    longest_exits: tuple[timedelta, ...] = ()
    # Where bedtimes and rises were read from: "bed_sensor", "room_activity" or "none".
    source: str = "none"
    # Each recent morning's first outing through the front door, as time after the noon before.
    outings: tuple[timedelta, ...] = ()

    def latest_usual_bedtime(self) -> timedelta | None:
        """How late after noon this person is usually in bed by, tolerance included; None if unknown."""
        centre, spread = _centre_and_spread(self.bedtimes)
        if centre is None:
            return None
        return centre + max(BEDTIME_FLOOR, BEDTIME_SPREADS * spread)

    def earliest_usual_rise(self) -> timedelta | None:
        """How soon after noon this person may get up for the day on an ordinary morning; None if unknown."""
        centre, spread = _centre_and_spread(self.rises)
        if centre is None:
            return None
        return centre - min(max(RISE_FLOOR, RISE_SPREADS * spread), RISE_CEILING)

    def usual_bedtime(self) -> timedelta | None:
        """The median bedtime after noon; None if unknown."""
        centre, _ = _centre_and_spread(self.bedtimes)
        return centre

    def earliest_usual_outing(self) -> timedelta | None:
        """How soon after noon this person may go out for the morning on an ordinary day; None if no habit."""
        if len(self.outings) < OUTING_DAYS:
            return None
        centre, spread = _centre_and_spread(self.outings)
        if centre is None:
            return None
        return centre - max(OUTING_FLOOR, OUTING_SPREADS * spread)

    def confidence(self) -> str:
        """How far what was learnt can be trusted: "high", "medium" or "none" (defaults apply)."""
        nights = min(len(self.bedtimes), len(self.rises))
        if nights < MIN_NIGHTS:
            return "none"
        _, spread = _centre_and_spread(self.rises)
        return "high" if nights >= CONFIDENT_NIGHTS and spread <= STEADY_SPREAD else "medium"

    def usual_longest_exit(self) -> timedelta | None:
        """How long this person has lately been up and about at night, margin included; None if unknown."""
        if len(self.longest_exits) < MIN_NIGHTS:
            return None
        return sorted(self.longest_exits)[-2] + EXIT_MARGIN


def _centre_and_spread(values: tuple[timedelta, ...]) -> tuple[timedelta | None, timedelta]:
    if len(values) < MIN_NIGHTS:
        return None, timedelta(0)
    seconds = [value.total_seconds() for value in values]
    centre = statistics.median(seconds)
    spread = _MAD_TO_SD * statistics.median(abs(value - centre) for value in seconds)
    return timedelta(seconds=centre), timedelta(seconds=spread)


def night_noon(*, resident: ResidentRules, night: date) -> datetime:
    """Local noon on the day the night starts: the origin habits are measured from."""
    return datetime.combine(night, _NOON, tzinfo=resident.timezone)


def _night_date(*, resident: ResidentRules, moment: datetime) -> date:
    local = resident.local(moment=moment)
    return local.date() if local.time() >= _NOON else local.date() - timedelta(days=1)


async def learn_habits(
    *, connection: asyncpg.Connection, resident: ResidentRules, night: date, now: datetime
) -> Habits:
    """What the `HABIT_NIGHTS` nights before `night` teach, from events before `now` only."""
    from_bed = await _learn_from_bed(connection=connection, resident=resident, night=night, now=now)
    first = night - timedelta(days=HABIT_NIGHTS)
    signs = await load_signs(connection=connection, resident_id=resident.resident_id,
                             since=night_noon(resident=resident, night=first),
                             until=min(now, night_noon(resident=resident, night=night)))
    by_night: dict[date, list[Sign]] = {}
    for sign in signs:
        by_night.setdefault(_night_date(resident=resident, moment=sign.at), []).append(sign)
    evening = _evening_offset(resident=resident)
    morning_end = _morning_end_offset(resident=resident)
    settled: list[timedelta] = []
    rose: list[timedelta] = []
    outings: list[timedelta] = []
    for day in sorted(by_night):
        if day >= night:
            continue
        read = read_night(signs=by_night[day], noon=night_noon(resident=resident, night=day),
                          evening=evening, morning_end=morning_end, front_doors=resident.front_door_devices)
        if read.settled is not None and read.rose is not None:
            settled.append(read.settled)
            rose.append(read.rose)
        if read.went_out is not None:
            outings.append(read.went_out)
    if len(from_bed.bedtimes) >= MIN_NIGHTS or len(settled) < MIN_NIGHTS:
        return Habits(bedtimes=from_bed.bedtimes, rises=from_bed.rises, longest_exits=from_bed.longest_exits,
                      source="bed_sensor" if from_bed.bedtimes else "none", outings=tuple(outings))
    return Habits(bedtimes=tuple(settled), rises=tuple(rose), source="room_activity", outings=tuple(outings))


async def _learn_from_bed(
    *, connection: asyncpg.Connection, resident: ResidentRules, night: date, now: datetime
) -> Habits:
    """Bedtimes and rises of the `HABIT_NIGHTS` nights before `night`, from bed events before `now`."""
    if not resident.has_bed_sensor:
        return Habits(bedtimes=(), rises=())
    first = night - timedelta(days=HABIT_NIGHTS)
    rows = await connection.fetch(
        q.BED_EVENTS, resident.resident_id, night_noon(resident=resident, night=first),
        min(now, night_noon(resident=resident, night=night)),
        [EventKind.BED_OCCUPIED.value, EventKind.BED_VACATED.value])
    by_night: dict[date, list[tuple[timedelta, str]]] = {}
    for row in rows:
        day = _night_date(resident=resident, moment=row["time"])
        # Wall-clock difference (both in the resident's zone), so a DST night is measured as lived.
        offset = resident.local(moment=row["time"]).replace(tzinfo=None) - datetime.combine(day, _NOON)
        by_night.setdefault(day, []).append((offset, row["kind"]))
    evening = _evening_offset(resident=resident)
    bedtimes: list[timedelta] = []
    rises: list[timedelta] = []
    longest_exits: list[timedelta] = []
    for events in by_night.values():
        occupied = [offset for offset, kind in events if kind == EventKind.BED_OCCUPIED.value and offset >= evening]
        if not occupied:
            continue
        bedtimes.append(occupied[0])
        # Up for the day: the last time the bed was left before noon, with no return to it after.
        last_kind = events[-1][1]
        if last_kind == EventKind.BED_VACATED.value and events[-1][0] > occupied[0]:
            rises.append(events[-1][0])
        longest_exits.append(_longest_exit(events=events, bedtime=occupied[0]))
    return Habits(bedtimes=tuple(bedtimes), rises=tuple(rises), longest_exits=tuple(longest_exits))


def _longest_exit(*, events: list[tuple[timedelta, str]], bedtime: timedelta) -> timedelta:
    """The longest time between leaving the bed and getting back into it, after `bedtime`."""
    longest = timedelta(0)
    left: timedelta | None = None
    for offset, kind in events:
        if offset < bedtime:
            continue
        if kind == EventKind.BED_VACATED.value:
            left = offset
        elif left is not None:
            longest = max(longest, offset - left)
            left = None
    return longest


def _evening_offset(*, resident: ResidentRules) -> timedelta:
    """Time after noon from which getting into bed counts as going to bed for the night."""
    start = datetime.combine(date(2000, 1, 1), resident.night_start) - EVENING_BEFORE_NIGHT
    offset = start - datetime.combine(date(2000, 1, 1), _NOON)
    return offset if offset >= timedelta(0) else offset + timedelta(days=1)


def _morning_end_offset(*, resident: ResidentRules) -> timedelta:
    """Time after noon by which a morning quiet spell must have begun to still be the night's sleep."""
    end = datetime.combine(date(2000, 1, 2), resident.night_end) + timedelta(hours=3)
    return min(end - datetime.combine(date(2000, 1, 1), _NOON), timedelta(hours=23))
