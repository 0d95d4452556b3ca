"""Per-resident routine parameters, drawn from a seeded distribution with configurable ranges."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ProfileRanges:
    """The ranges each resident's parameters are drawn from (minutes are after local midnight).

    Realism tests check the simulated nights against these, so they are part of the scenario.
    """

    bedtime_mean_min: tuple[float, float] = (21 * 60 + 30, 24 * 60 + 15)
    bedtime_sd_min: tuple[float, float] = (12.0, 35.0)
    wake_mean_min: tuple[float, float] = (6 * 60 + 15, 9 * 60 + 15)
    wake_sd_min: tuple[float, float] = (10.0, 30.0)
    weekend_shift_min: tuple[float, float] = (0.0, 75.0)
    night_exits_per_night: tuple[float, float] = (0.3, 2.0)
    bathroom_share: tuple[float, float] = (0.75, 0.95)
    outings_per_day: tuple[float, float] = (0.4, 2.0)
    weekend_outing_factor: tuple[float, float] = (0.5, 1.3)
    visits_per_day: tuple[float, float] = (0.05, 0.4)
    kettle_per_day: tuple[float, float] = (2.0, 6.0)
    day_bathroom_visits: tuple[float, float] = (3.0, 6.0)
    # Someone who goes out every weekday morning (and most weekend ones) this many minutes after
    # rising; None: nobody does (drawn only when set, so other scenarios stay as they were).
    morning_outing_after_rise_min: tuple[float, float] | None = None


@dataclass(frozen=True, slots=True)
class ResidentProfile:
    """One resident's habits; day-to-day variation is drawn around these each day."""

    bedtime_mean_min: float
    bedtime_sd_min: float
    wake_mean_min: float
    wake_sd_min: float
    weekend_shift_min: float
    night_exits_per_night: float
    bathroom_share: float
    outings_per_day: float
    weekend_outing_factor: float
    visits_per_day: float
    kettle_per_day: float
    day_bathroom_visits: float
    lunch_probability: float
    flat_temperature_c: float
    # Minutes after rising of the daily morning outing; 0: none.
    morning_outing_after_rise_min: float = 0.0

    def as_dict(self) -> dict[str, float]:
        """The parameters, for the truth file's header."""
        return {name: round(float(getattr(self, name)), 3) for name in self.__dataclass_fields__}


def draw_profile(*, rng: random.Random, ranges: ProfileRanges) -> ResidentProfile:
    """A resident's profile, every parameter uniform within its configured range."""

    def pick(bounds: tuple[float, float]) -> float:
        return rng.uniform(bounds[0], bounds[1])

    return ResidentProfile(
        bedtime_mean_min=pick(ranges.bedtime_mean_min),
        bedtime_sd_min=pick(ranges.bedtime_sd_min),
        wake_mean_min=pick(ranges.wake_mean_min),
        wake_sd_min=pick(ranges.wake_sd_min),
        weekend_shift_min=pick(ranges.weekend_shift_min),
        night_exits_per_night=pick(ranges.night_exits_per_night),
        bathroom_share=pick(ranges.bathroom_share),
        outings_per_day=pick(ranges.outings_per_day),
        weekend_outing_factor=pick(ranges.weekend_outing_factor),
        visits_per_day=pick(ranges.visits_per_day),
        kettle_per_day=pick(ranges.kettle_per_day),
        day_bathroom_visits=pick(ranges.day_bathroom_visits),
        lunch_probability=rng.uniform(0.5, 0.95),
        flat_temperature_c=rng.uniform(19.0, 22.5),
        morning_outing_after_rise_min=pick(ranges.morning_outing_after_rise_min)
        if ranges.morning_outing_after_rise_min is not None else 0.0,
    )


def poisson(*, rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth's method; the means here are small)."""
    if mean <= 0:
        return 0
    limit, product, count = pow(2.718281828459045, -mean), rng.random(), 0
    while product > limit:
        count += 1
        product *= rng.random()
    return count
