"""A resident's day as a model: where they are from one morning's rise to the next.

A day is a list of contiguous stays (place, start, end). Daytime blocks (meals, tea, outings, visits,
bathroom) are drawn from the resident's profile and placed where they fit; gaps are spent in the
living room; moving between rooms passes through the hallway. The night is time in bed broken by
exits (bathroom, or wandering), and ends at the next rise.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from simulators.deterioration import DayModifiers
from simulators.profile import ResidentProfile, poisson


class Place(StrEnum):
    """Where the resident is."""

    BED = "bed"
    BEDROOM = "bedroom"
    BATHROOM = "bathroom"
    KITCHEN = "kitchen"
    LIVING_ROOM = "living_room"
    HALLWAY = "hallway"
    OUT = "out"


@dataclass(frozen=True, slots=True)
class Stay:
    """The resident in one place from `start` to `end` (epoch seconds)."""

    start: float
    end: float
    place: Place
    kettle: bool = False
    # Lying still (after a fall): no motion for any sensor to see.
    still: bool = False


@dataclass(frozen=True, slots=True)
class NightIncidents:
    """Incidents that change the shape of a night or a morning."""

    out_of_bed_too_long: bool = False
    left_flat_at_night: bool = False
    did_not_get_up: bool = False


@dataclass(frozen=True, slots=True)
class DayPlan:
    """One day: stays from this rise to the next, and what the truth file says about it."""

    day: date
    stays: tuple[Stay, ...]
    visits: tuple[tuple[float, float], ...]
    bedtime: float
    next_rise: float
    usual_rise: float
    notes: dict[str, float] = field(default_factory=dict)


def local_epoch(*, tz: ZoneInfo, day: date, minutes: float) -> float:
    """Epoch seconds of `minutes` after local midnight of `day` (may run into the next day)."""
    whole = datetime.combine(day, time(0), tzinfo=None) + timedelta(minutes=minutes)
    return whole.replace(tzinfo=tz).timestamp()


def is_weekend_night(day: date) -> bool:
    """Friday and Saturday nights run late."""
    return day.weekday() in (4, 5)


def is_weekend_morning(day: date) -> bool:
    """Saturday and Sunday mornings start late."""
    return day.weekday() in (5, 6)


def wake_minutes(*, profile: ResidentProfile, day: date, rng: random.Random, mods: DayModifiers) -> float:
    """When the resident gets up on `day`, in minutes after local midnight."""
    usual = usual_wake_minutes(profile=profile, day=day)
    noise = rng.gauss(0.0, profile.wake_sd_min * mods.variability_factor)
    return usual + mods.wake_shift_min + max(-90.0, min(120.0, noise))


def usual_wake_minutes(*, profile: ResidentProfile, day: date) -> float:
    """The resident's habitual rise on `day` (weekday or weekend), no noise."""
    return profile.wake_mean_min + (profile.weekend_shift_min if is_weekend_morning(day) else 0.0)


class _Timeline:
    """Non-overlapping blocks within a window; new blocks are dropped where they do not fit."""

    def __init__(self, *, start: float, end: float) -> None:
        self.start, self.end = start, end
        self.blocks: list[Stay] = []

    def fits(self, start: float, end: float, *, gap: float = 120.0) -> bool:
        if start < self.start or end > self.end or end <= start:
            return False
        return all(end + gap <= block.start or start >= block.end + gap for block in self.blocks)

    def add(self, stay: Stay, *, gap: float = 120.0) -> bool:
        if not self.fits(stay.start, stay.end, gap=gap):
            return False
        self.blocks.append(stay)
        return True

    def filled(self) -> list[Stay]:
        """The blocks with every gap spent in the living room."""
        out: list[Stay] = []
        cursor = self.start
        for block in sorted(self.blocks, key=lambda stay: stay.start):
            if block.start > cursor:
                out.append(Stay(cursor, block.start, Place.LIVING_ROOM))
            out.append(block)
            cursor = block.end
        if cursor < self.end:
            out.append(Stay(cursor, self.end, Place.LIVING_ROOM))
        return out


def _daytime(
    *,
    profile: ResidentProfile,
    day: date,
    tz: ZoneInfo,
    rise: float,
    bedtime: float,
    rng: random.Random,
    mods: DayModifiers,
    visits: list[tuple[float, float]],
) -> list[Stay]:
    """Stays from rise to bedtime."""
    line = _Timeline(start=rise, end=bedtime)
    cursor = rise
    kitchen = mods.kitchen_factor
    for place, minutes, kettle in (
        (Place.BEDROOM, rng.uniform(2, 6), False),
        (Place.BATHROOM, rng.uniform(5, 15), False),
        (Place.KITCHEN, rng.uniform(8, 20) * kitchen, rng.random() < 0.85 * kitchen),
    ):
        line.add(Stay(cursor, cursor + minutes * 60, place, kettle=kettle), gap=0)
        cursor += minutes * 60
    if profile.morning_outing_after_rise_min > 0 and (day.weekday() < 5 or rng.random() < 0.5):
        # The daily morning outing (a walk, the paper, a day centre): out a while after rising.
        out_at = max(cursor, rise + (profile.morning_outing_after_rise_min + rng.uniform(-8, 8)) * 60)
        line.add(Stay(out_at, out_at + rng.uniform(60, 150) * 60, Place.OUT), gap=0)
    evening_bedroom = bedtime - rng.uniform(2, 6) * 60
    evening_bathroom = evening_bedroom - rng.uniform(5, 12) * 60
    line.add(Stay(evening_bedroom, bedtime, Place.BEDROOM), gap=0)
    line.add(Stay(evening_bathroom, evening_bedroom, Place.BATHROOM), gap=0)

    weekend_factor = profile.weekend_outing_factor if day.weekday() >= 5 else 1.0
    for _ in range(poisson(rng=rng, mean=profile.outings_per_day * weekend_factor * mods.outing_factor)):
        length = min(300.0, max(15.0, rng.lognormvariate(4.2, 0.6))) * 60
        start = rng.uniform(rise + 45 * 60, max(rise + 45 * 60, bedtime - 90 * 60 - length))
        line.add(Stay(start, start + length, Place.OUT))
    if rng.random() < profile.visits_per_day * mods.outing_factor**0.5:
        arrive = local_epoch(tz=tz, day=day, minutes=rng.uniform(10 * 60, 19 * 60))
        length = rng.uniform(30, 120) * 60
        # The resident spends a visit in the living room with the visitor.
        if line.add(Stay(arrive, arrive + length, Place.LIVING_ROOM)):
            visits.append((arrive, arrive + length))
    meals: tuple[tuple[float, float, float, float], ...] = (
        (13 * 60, profile.lunch_probability, 10, 30),
        (18 * 60, 0.9, 20, 45),
    )
    for centre, probability, shortest, longest in meals:
        if rng.random() < probability * kitchen:
            start = local_epoch(tz=tz, day=day, minutes=centre + rng.gauss(0, 40))
            length = rng.uniform(shortest, longest) * 60 * (0.5 + 0.5 * kitchen)
            line.add(Stay(start, start + length, Place.KITCHEN, kettle=rng.random() < 0.3))
    for _ in range(poisson(rng=rng, mean=max(0.0, profile.kettle_per_day - 1) * kitchen)):
        start = rng.uniform(rise, bedtime)
        line.add(Stay(start, start + rng.uniform(4, 8) * 60, Place.KITCHEN, kettle=True))
    for _ in range(poisson(rng=rng, mean=profile.day_bathroom_visits)):
        start = rng.uniform(rise, bedtime)
        line.add(Stay(start, start + rng.uniform(2, 8) * 60, Place.BATHROOM), gap=60)
    return line.filled()


def _night(
    *,
    profile: ResidentProfile,
    bedtime: float,
    next_rise: float,
    rng: random.Random,
    mods: DayModifiers,
    incidents: NightIncidents,
) -> list[Stay]:
    """Stays from bedtime to the next rise: in bed, broken by exits."""
    exits: list[tuple[float, float, Place]] = []
    span_start, span_end = bedtime + 20 * 60, next_rise - 20 * 60
    count = poisson(rng=rng, mean=profile.night_exits_per_night + mods.extra_night_exits)
    special: tuple[float, Place] | None = None
    if incidents.left_flat_at_night:
        special = (rng.uniform(120, 300) * 60, Place.OUT)
    elif incidents.out_of_bed_too_long:
        special = (rng.uniform(60, 150) * 60, Place.LIVING_ROOM)
    candidates: list[tuple[float, Place]] = []
    if special is not None:
        candidates.append(special)
    for _ in range(count):
        if rng.random() < profile.bathroom_share * (1.0 - mods.night_wander_share):
            candidates.append((rng.uniform(3, 10) * 60, Place.BATHROOM))
        else:
            wander = rng.uniform(5, 25) * (1.0 + 2.0 * mods.severity)
            candidates.append((wander * 60, rng.choice((Place.LIVING_ROOM, Place.KITCHEN))))
    for length, place in candidates:
        for _attempt in range(6):
            start = rng.uniform(span_start, max(span_start, span_end - length))
            end = start + length + 40
            if end < span_end and all(end + 600 < s or start > e + 600 for s, e, _ in exits):
                exits.append((start, end, place))
                break
    stays: list[Stay] = []
    cursor = bedtime
    for start, end, place in sorted(exits):
        stays.append(Stay(cursor, start, Place.BED))
        stays.append(Stay(start, start + 20, Place.BEDROOM))
        stays.append(Stay(start + 20, end - 20, place, kettle=place is Place.KITCHEN and rng.random() < 0.3))
        stays.append(Stay(end - 20, end, Place.BEDROOM))
        cursor = end
    stays.append(Stay(cursor, next_rise, Place.BED))
    return stays


def with_hallway(stays: list[Stay], *, rng: random.Random) -> list[Stay]:
    """Insert the hallway between rooms: a few seconds, longer around the front door."""
    out: list[Stay] = []
    for stay in stays:
        previous = out[-1] if out else None
        if (
            previous is None
            or previous.place == stay.place
            or {previous.place, stay.place} == {Place.BED, Place.BEDROOM}
        ):
            if previous is not None and previous.place == stay.place and previous.kettle == stay.kettle:
                out[-1] = Stay(
                    previous.start, stay.end, stay.place, stay.kettle, previous.still or stay.still
                )
                continue
            out.append(stay)
            continue
        if Place.BED in (previous.place, stay.place):
            out.append(stay)
            continue
        door = Place.OUT in (previous.place, stay.place)
        walk = rng.uniform(20, 60) if door else rng.uniform(5, 15)
        length = stay.end - stay.start
        walk = min(walk, length / 3)
        out.append(Stay(stay.start, stay.start + walk, Place.HALLWAY))
        out.append(Stay(stay.start + walk, stay.end, stay.place, stay.kettle, stay.still))
    return out


def plan_day(
    *,
    profile: ResidentProfile,
    day: date,
    tz: ZoneInfo,
    rise: float,
    rng: random.Random,
    mods: DayModifiers,
    next_mods: DayModifiers,
    incidents: NightIncidents,
) -> DayPlan:
    """The stays from `rise` on `day` to the rise on the following morning."""
    bed_mean = profile.bedtime_mean_min + (profile.weekend_shift_min if is_weekend_night(day) else 0.0)
    noise = rng.gauss(0.0, profile.bedtime_sd_min * mods.variability_factor)
    bed_minutes = bed_mean + mods.bedtime_shift_min + max(-120.0, min(150.0, noise))
    bedtime = max(rise + 10 * 3600, local_epoch(tz=tz, day=day, minutes=bed_minutes))
    tomorrow = day + timedelta(days=1)
    wake = wake_minutes(profile=profile, day=tomorrow, rng=rng, mods=next_mods)
    usual_rise = local_epoch(tz=tz, day=tomorrow, minutes=usual_wake_minutes(profile=profile, day=tomorrow))
    if incidents.did_not_get_up:
        wake = usual_wake_minutes(profile=profile, day=tomorrow) + rng.uniform(240, 420)
    next_rise = max(bedtime + 4 * 3600, local_epoch(tz=tz, day=tomorrow, minutes=wake))
    visits: list[tuple[float, float]] = []
    stays = _daytime(
        profile=profile, day=day, tz=tz, rise=rise, bedtime=bedtime, rng=rng, mods=mods, visits=visits
    )
    stays += _night(
        profile=profile, bedtime=bedtime, next_rise=next_rise, rng=rng, mods=mods, incidents=incidents
    )
    return DayPlan(
        day=day,
        stays=tuple(with_hallway(stays, rng=rng)),
        visits=tuple(visits),
        bedtime=bedtime,
        next_rise=next_rise,
        usual_rise=usual_rise,
    )


def apply_fall(stays: tuple[Stay, ...], *, at: float, lie_s: float) -> tuple[tuple[Stay, ...], Place] | None:
    """Make the resident fall at `at` and lie still for `lie_s`; None if they are out or in bed then.

    Whatever the plan said for the time on the floor is replaced; the day resumes afterwards.
    """
    place = next((stay.place for stay in stays if stay.start <= at < stay.end), None)
    if place is None or place in (Place.OUT, Place.BED, Place.HALLWAY):
        return None
    until = at + lie_s
    out: list[Stay] = []
    for stay in stays:
        if stay.end <= at or stay.start >= until:
            out.append(stay)
            continue
        if stay.start < at:
            out.append(Stay(stay.start, at, stay.place, stay.kettle))
        if stay.start <= at < stay.end:
            out.append(Stay(at, until, place, still=True))
        if stay.end > until:
            out.append(Stay(until, stay.end, stay.place))
    return tuple(out), place
