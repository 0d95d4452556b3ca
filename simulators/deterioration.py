"""Deterioration episodes: weeks of later and broken sleep, more night activity, withdrawal, neglect.

Early warning signs of relapse come on gradually, so each episode ramps from nothing to its full
effect over days, holds, and ends; the truth file records all three dates and the magnitudes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any


@dataclass(frozen=True, slots=True)
class DayModifiers:
    """How one day departs from the resident's own baseline (all neutral for a stable day)."""

    severity: float = 0.0
    bedtime_shift_min: float = 0.0
    wake_shift_min: float = 0.0
    variability_factor: float = 1.0
    extra_night_exits: float = 0.0
    night_wander_share: float = 0.0
    outing_factor: float = 1.0
    kitchen_factor: float = 1.0


NEUTRAL = DayModifiers()


@dataclass(frozen=True, slots=True)
class DeteriorationEpisode:
    """One episode: from `start` it builds up to full effect at `full_at` and lasts until `end`."""

    start: date
    full_at: date
    end: date
    bedtime_shift_min: float
    wake_shift_min: float
    variability_factor: float
    extra_night_exits: float
    night_wander_share: float
    outing_factor: float
    kitchen_factor: float
    # Which signs this episode shows: "mixed" (all of them) or one of EPISODE_KINDS' narrower kinds.
    kind: str = "mixed"

    def severity(self, day: date) -> float:
        """0 outside the episode, rising linearly to 1 at `full_at`, 1 until `end`."""
        if day < self.start or day > self.end:
            return 0.0
        if day >= self.full_at:
            return 1.0
        ramp = (self.full_at - self.start).days
        return (day - self.start).days / ramp if ramp else 1.0

    def modifiers(self, day: date) -> DayModifiers:
        """The day's departures from baseline."""
        level = self.severity(day)
        if level == 0.0:
            return NEUTRAL
        return DayModifiers(
            severity=level,
            bedtime_shift_min=level * self.bedtime_shift_min,
            wake_shift_min=level * self.wake_shift_min,
            variability_factor=1.0 + level * (self.variability_factor - 1.0),
            extra_night_exits=level * self.extra_night_exits,
            night_wander_share=level * self.night_wander_share,
            outing_factor=1.0 - level * (1.0 - self.outing_factor),
            kitchen_factor=1.0 - level * (1.0 - self.kitchen_factor),
        )

    def truth(self) -> dict[str, object]:
        """The episode as a truth record's fields."""
        return {
            "kind": self.kind,
            "start": self.start.isoformat(),
            "full_at": self.full_at.isoformat(),
            "end": self.end.isoformat(),
            "features": {
                "sleep_onset_later_min": round(self.bedtime_shift_min, 1),
                "wake_later_min": round(self.wake_shift_min, 1),
                "sleep_variability_factor": round(self.variability_factor, 2),
                "extra_night_bed_exits": round(self.extra_night_exits, 2),
                "night_wandering_share": round(self.night_wander_share, 2),
                "outings_factor": round(self.outing_factor, 2),
                "kitchen_use_factor": round(self.kitchen_factor, 2),
            },
        }


# Narrower kinds keep only some of the signs (the rest stay at the resident's own baseline), so a
# detector is tried on a change of sleep timing alone, broken nights alone, or withdrawal by day alone.
EPISODE_KINDS = ("mixed", "sleep_timing", "broken_nights", "withdrawal")


def narrowed(episode: DeteriorationEpisode, *, kind: str) -> DeteriorationEpisode:
    """The same episode showing only the signs of `kind` (unknown kinds are refused)."""
    if kind == "mixed":
        return replace(episode, kind=kind)
    quiet_sleep = {"bedtime_shift_min": 0.0, "wake_shift_min": 0.0, "variability_factor": 1.0}
    quiet_night = {"extra_night_exits": 0.0, "night_wander_share": 0.0}
    quiet_day = {"outing_factor": 1.0, "kitchen_factor": 1.0}
    keep: dict[str, dict[str, Any]] = {
        "sleep_timing": {**quiet_night, **quiet_day},
        "broken_nights": {**quiet_sleep, **quiet_day},
        "withdrawal": {**quiet_sleep, **quiet_night},
    }
    if kind not in keep:
        raise ValueError(f"unknown deterioration kind {kind!r}; expected one of {EPISODE_KINDS}")
    return replace(episode, kind=kind, **keep[kind])


def draw_episode(*, rng: random.Random, first_day: date, days: int,
                 earliest_day: int | None = None) -> DeteriorationEpisode | None:
    """An episode of 2-4 weeks placed inside the simulated period, or None if the period is too short.

    `earliest_day` holds the onset back (a detector needs weeks of history first); None keeps the
    default of the first quarter, at most two weeks.
    """
    if days < 10:
        return None
    length = min(rng.randint(14, 28), days - 3)
    earliest = min(14, days // 4) if earliest_day is None else min(earliest_day, max(0, days - length - 1))
    start_offset = rng.randint(earliest, max(earliest, days - length - 1))
    start = first_day + timedelta(days=start_offset)
    ramp = max(2, round(length * rng.uniform(0.3, 0.5)))
    return DeteriorationEpisode(
        start=start,
        full_at=start + timedelta(days=ramp),
        end=start + timedelta(days=length - 1),
        bedtime_shift_min=rng.uniform(45.0, 120.0),
        wake_shift_min=rng.uniform(20.0, 75.0),
        variability_factor=rng.uniform(1.6, 2.5),
        extra_night_exits=rng.uniform(1.2, 2.5),
        night_wander_share=rng.uniform(0.3, 0.6),
        outing_factor=rng.uniform(0.15, 0.45),
        kitchen_factor=rng.uniform(0.3, 0.6),
    )
