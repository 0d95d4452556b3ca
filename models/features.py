"""Daily features for change detection: one vector per resident per day (the day, then its night).

Day D is the daytime of D (from the end of the night before to the start of the night of D) and the
night of D. Night features come from the stored nightly summary; day features and the activity
rhythm come from the events. Coverage-aware: a night the summary calls unknown has no night features,
and a day with an unknown night on either side (hub or key sensors down) or with no event at all has
no day features. An unknown value is None and is never read as "quiet".
"""

from __future__ import annotations

import bisect
import itertools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from models.config import NightRules
from models.nightly import NightSummary
from models.nights import local_instant
from models.sleep import ACTIVITY_KINDS, Interval, NightEvent, door_exits


@dataclass(frozen=True, slots=True)
class Feature:
    """One feature: its name, the words a reviewer reads, its unit, and the smallest change that matters."""

    name: str
    words: str
    unit: str
    # The robust spread of a steady feature can be 0; this floor keeps one more visit from being infinite.
    floor: float
    part: str  # "night", "day" or "rhythm"


FEATURES: tuple[Feature, ...] = (
    Feature("sleep_onset_min", "bedtime", "min", 20.0, "night"),
    Feature("wake_min", "getting up", "min", 20.0, "night"),
    Feature("bedtime_change_min", "change of bedtime from the night before", "min", 15.0, "night"),
    Feature("bed_exits", "times up in the night", "", 0.5, "night"),
    Feature("minutes_out_of_bed", "time up in the night", "min", 5.0, "night"),
    Feature("night_activity", "movement around the flat at night", "activations", 3.0, "night"),
    Feature("night_bathroom_visits", "night bathroom visits", "", 0.5, "night"),
    Feature("night_minutes_out", "time out of the flat at night", "min", 5.0, "night"),
    Feature("day_minutes_out", "time out of the flat by day", "min", 30.0, "day"),
    Feature("kitchen_activity", "kitchen use by day", "activations", 5.0, "day"),
    Feature("bathroom_activity", "bathroom use by day", "activations", 3.0, "day"),
    Feature("interdaily_stability", "likeness of the day's rhythm to the week before", "", 0.05, "rhythm"),
    Feature("intradaily_variability", "fragmentation of the day (hour-to-hour changes)", "", 0.05, "rhythm"),
)
FEATURE_NAMES = tuple(feature.name for feature in FEATURES)
BY_NAME = {feature.name: feature for feature in FEATURES}
RHYTHM_DAYS = 7


@dataclass(frozen=True, slots=True)
class DayFeatures:
    """One resident's day: each feature's value, None when the sensors could not tell."""

    resident_id: str
    day: date
    values: dict[str, float | None]
    # Activations per local hour (0-23) of the calendar day: the rhythm features are read from these.
    hourly: tuple[int, ...]
    day_known: bool
    night_known: bool

    def vector(self) -> list[float | None]:
        """Values in FEATURE_NAMES order."""
        return [self.values.get(name) for name in FEATURE_NAMES]


def rhythm_likeness(*, day: Sequence[int], before: Sequence[Sequence[int]]) -> float | None:
    """The day-level form of inter-daily stability: how well this day's 24-hour profile matches the
    mean profile of the days before it (correlation, -1 to 1). A per-day value, so a detector's
    weekly mean is not built from overlapping weeks."""
    if len(before) < 3:
        return None
    usual = [statistics.fmean(other[hour] for other in before) for hour in range(24)]
    if statistics.pstdev(day) == 0 or statistics.pstdev(usual) == 0:
        return None
    return round(statistics.correlation(list(day), usual), 3)


def interdaily_stability(days: Sequence[Sequence[int]]) -> float | None:
    """IS (Witting et al. 1990): how alike the days' 24-hour profiles are, 0 (none) to 1 (identical)."""
    series = [value for day in days for value in day]
    if len(days) < 2 or not series:
        return None
    mean = statistics.fmean(series)
    total = sum((value - mean) ** 2 for value in series) / len(series)
    if total == 0:
        return None
    hourly_means = [statistics.fmean(day[hour] for day in days) for hour in range(24)]
    between = sum((value - mean) ** 2 for value in hourly_means) / 24
    return round(between / total, 3)


def intradaily_variability(days: Sequence[Sequence[int]]) -> float | None:
    """IV: hour-to-hour jumps against the overall spread; higher = a more broken-up day (about 0 to 2)."""
    series = [value for day in days for value in day]
    if len(series) < 2:
        return None
    mean = statistics.fmean(series)
    total = sum((value - mean) ** 2 for value in series) / len(series)
    if total == 0:
        return None
    jumps = sum((b - a) ** 2 for a, b in itertools.pairwise(series)) / (len(series) - 1)
    return round(jumps / total, 3)


def _clock(moment: datetime | None, night: NightSummary) -> float | None:
    return None if moment is None else (moment - night.window_start).total_seconds() / 60


def _hourly(events: Sequence[NightEvent], *, day: date, tz: ZoneInfo) -> tuple[int, ...]:
    counts = [0] * 24
    for event in events:
        local = event.time.astimezone(tz)
        if local.date() == day:
            counts[local.hour] += 1
    return tuple(counts)


def day_features(
    *, resident_id: str, day: date, night: NightSummary | None, night_before: NightSummary | None,
    daytime: Interval, events: Sequence[NightEvent], tz: ZoneInfo, rhythm: Sequence[Sequence[int]],
    hourly: tuple[int, ...], rules: NightRules,
) -> DayFeatures:
    """The features of one day from its night, the night before, the day's events and the week's rhythm.

    `events` are the resident's activity events (no restores) from the start of the day to the end of
    the night; `rhythm` the hourly counts of the last RHYTHM_DAYS known days, this one included.
    """
    values: dict[str, float | None] = dict.fromkeys(FEATURE_NAMES)
    night_known = night is not None and night.status == "ok"
    if night is not None and night_known:
        onset = _clock(night.sleep_onset, night)
        values["sleep_onset_min"] = onset
        values["wake_min"] = _clock(night.wake, night)
        previous = _clock(night_before.sleep_onset, night_before) if night_before and night_before.status == "ok" \
            else None
        values["bedtime_change_min"] = abs(onset - previous) if onset is not None and previous is not None else None
        values["bed_exits"] = None if night.bed_exits is None else float(night.bed_exits)
        values["minutes_out_of_bed"] = night.minutes_out_of_bed
        values["night_bathroom_visits"] = None if night.bathroom_visits is None else float(night.bathroom_visits)
        values["night_minutes_out"] = night.minutes_out
        values["night_activity"] = float(sum(
            1 for e in events if night.window_start <= e.time < night.window_end
            and e.kind in ("motion", "presence") and e.location != "bedroom"))
    in_day = [e for e in events if daytime.start <= e.time < daytime.end]
    day_known = (bool(in_day) and night_known and night_before is not None and night_before.status == "ok")
    if day_known:
        outside = door_exits(events=list(events), window=daytime, span=Interval(daytime.start, night.window_end
                                                                               if night else daytime.end),
                             rules=rules)
        values["day_minutes_out"] = round(sum(item.minutes for item in outside), 1)
        values["kitchen_activity"] = float(sum(1 for e in in_day if e.location == "kitchen"))
        values["bathroom_activity"] = float(sum(1 for e in in_day if e.location == "bathroom"))
        values["interdaily_stability"] = rhythm_likeness(day=hourly, before=list(rhythm)[:-1])
        values["intradaily_variability"] = intradaily_variability([hourly])
    return DayFeatures(resident_id=resident_id, day=day, values=values, hourly=hourly, day_known=day_known,
                       night_known=night_known)


def features_for_days(
    *, resident_id: str, days: Sequence[date], nights: dict[date, NightSummary], daytimes: dict[date, Interval],
    events: Sequence[NightEvent], tz: ZoneInfo, rules: NightRules, earlier_hourly: Sequence[tuple[int, ...]] = (),
) -> list[DayFeatures]:
    """Features of consecutive days; `earlier_hourly` are the known days' hourly counts before the first."""
    activity = [e for e in events if e.kind in ACTIVITY_KINDS and not e.is_restore]
    times = [e.time for e in activity]
    rhythm: list[tuple[int, ...]] = list(earlier_hourly)[-(RHYTHM_DAYS - 1):]
    out: list[DayFeatures] = []
    for day in days:
        daytime = daytimes[day]
        night = nights.get(day)
        end = night.window_end if night is not None else daytime.end + timedelta(hours=9)
        slice_ = activity[bisect.bisect_left(times, daytime.start):bisect.bisect_left(times, end)]
        midnight = local_instant(day=day, at=time(0), tz=tz)
        next_midnight = local_instant(day=day + timedelta(days=1), at=time(0), tz=tz)
        hourly = _hourly(activity[bisect.bisect_left(times, midnight):bisect.bisect_left(times, next_midnight)],
                         day=day, tz=tz)
        night_before = nights.get(day - timedelta(days=1))
        known_rhythm = [*rhythm, hourly]
        features = day_features(resident_id=resident_id, day=day, night=night, night_before=night_before,
                                daytime=daytime, events=slice_, tz=tz, rhythm=known_rhythm[-RHYTHM_DAYS:],
                                hourly=hourly, rules=rules)
        if features.day_known:
            rhythm = known_rhythm[-(RHYTHM_DAYS - 1):]
        out.append(features)
    return out
