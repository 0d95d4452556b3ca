"""Routine-change flags: each nightly feature against the resident's own recent baseline.

Median and MAD (median absolute deviation) rather than mean and standard deviation, so one bad
night neither moves the baseline nor hides a run of changed nights. Flags go to a human review with
the reason in words; nothing here concludes anything on its own.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from models.config import BaselineRules
from models.nightly import NightSummary

# Feature name, words for the sentence, how to read it from a night.
FEATURES: tuple[tuple[str, str, Callable[[NightSummary], float | None]], ...] = (
    ("minutes_out_of_bed", "out of bed", lambda n: n.minutes_out_of_bed),
    ("bed_exits", "up in the night", lambda n: None if n.bed_exits is None else float(n.bed_exits)),
    ("sleep_onset_min", "went to bed", lambda n: _clock_minutes(n, onset=True)),
    ("wake_min", "got up", lambda n: _clock_minutes(n, onset=False)),
    ("time_in_bed_min", "time in bed", lambda n: n.time_in_bed_min),
    ("bathroom_visits", "night bathroom visits", lambda n: None if n.bathroom_visits is None
     else float(n.bathroom_visits)),
    ("minutes_out", "out of the flat at night", lambda n: n.minutes_out),
)
# The MAD of a steady feature can be 0; a floor keeps "1 more bathroom visit" from being infinite.
_SCALE_FLOOR = {"minutes_out_of_bed": 5.0, "bed_exits": 0.5, "sleep_onset_min": 20.0, "wake_min": 20.0,
                "time_in_bed_min": 20.0, "bathroom_visits": 0.5, "minutes_out": 5.0}


def _clock_minutes(night: NightSummary, *, onset: bool) -> float | None:
    """Minutes from the window start (so 23:30 and 00:30 compare as an hour apart, not 23 hours)."""
    moment = night.sleep_onset if onset else night.wake
    if moment is None:
        return None
    return (moment - night.window_start).total_seconds() / 60


@dataclass(frozen=True, slots=True)
class RoutineFlag:
    """One feature that moved away from the resident's own baseline."""

    feature: str
    direction: str
    unusual_nights: int
    recent_nights: int
    baseline_median: float
    recent_median: float
    explanation: str


def _robust_scale(values: Sequence[float], floor: float) -> tuple[float, float]:
    median = statistics.median(values)
    mad = statistics.median([abs(v - median) for v in values])
    # 1.4826 x MAD estimates a standard deviation for normal data.
    return median, max(1.4826 * mad, floor)


def _explain(*, words: str, feature: str, direction: str, base: float, recent: float, unusual: int,
             of: int) -> str:
    if feature in ("sleep_onset_min", "wake_min"):
        shift = abs(recent - base)
        change = f"{shift:.0f} min {'later' if direction == 'higher' else 'earlier'} than usual"
    elif base > 0 and recent > 0:
        ratio = recent / base
        longer, shorter = ("longer", "shorter") if feature.startswith(("minutes", "time")) else ("more", "less")
        change = f"{ratio:.1f}x {longer} than usual" if ratio >= 1 else f"{1 / ratio:.1f}x {shorter} than usual"
    else:
        change = f"{'more' if direction == 'higher' else 'less'} than usual ({base:g} -> {recent:g})"
    return f"{words} {change} for {unusual} of the last {of} nights"


def routine_flags(*, baseline: Sequence[NightSummary], recent: Sequence[NightSummary],
                  rules: BaselineRules) -> list[RoutineFlag]:
    """Features where at least `min_unusual_nights` of the recent nights sit beyond `z_threshold`."""
    flags: list[RoutineFlag] = []
    base_ok = [n for n in baseline if n.status == "ok"]
    recent_ok = [n for n in recent if n.status == "ok"]
    if len(base_ok) < rules.min_baseline_nights or not recent_ok:
        return flags
    for feature, words, read in FEATURES:
        base_values = [v for v in (read(n) for n in base_ok) if v is not None]
        recent_values = [v for v in (read(n) for n in recent_ok) if v is not None]
        if len(base_values) < rules.min_baseline_nights or not recent_values:
            continue
        median, scale = _robust_scale(base_values, _SCALE_FLOOR[feature])
        high = sum((v - median) / scale > rules.z_threshold for v in recent_values)
        low = sum((median - v) / scale > rules.z_threshold for v in recent_values)
        for direction, count in (("higher", high), ("lower", low)):
            if count >= rules.min_unusual_nights:
                recent_median = statistics.median(recent_values)
                flags.append(RoutineFlag(
                    feature=feature, direction=direction, unusual_nights=count, recent_nights=len(recent_values),
                    baseline_median=round(median, 1), recent_median=round(recent_median, 1),
                    explanation=_explain(words=words, feature=feature, direction=direction, base=median,
                                         recent=recent_median, unusual=count, of=len(recent_values)),
                ))
    return flags
