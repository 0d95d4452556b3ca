"""Comparing stored nightly summaries with ground truth (simulator or labelled recording)."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from bench.night_worker import ALERT_FOR_CALL

# The sensors the night rules read (the bed mat, the front door; the PIRs are matched by "/motion").
NIGHT_RULE_SENSORS = frozenset({"bedroom/bed mat", "front door"})


# Alert kinds a night worker is called for (technical ones, such as a low battery, are not care alerts).
CARE_ALERT_KINDS = frozenset({*ALERT_FOR_CALL.values(), "co", "temperature_high", "not_up", "inactivity"})


@dataclass(frozen=True, slots=True)
class TruthNight:
    """What really happened in one night (the fields compared)."""

    resident_id: str
    night_of: str
    sleep_onset: datetime
    wake: datetime
    bed_exits: int
    minutes_out_of_bed: float
    bathroom_visits: int
    door_exits: int
    alarm: bool | None
    alarm_kinds: tuple[str, ...] = ()
    # Inside a simulated deterioration episode (reported apart: most changed nights are in one).
    in_episode: bool = False
    # Why the alert night cannot be judged (a sensor the night rules read was broken), if it cannot.
    sensors_down: str | None = None


def _quantiles(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    ordered = sorted(values)

    def at(share: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))], 2)

    return {"n": len(ordered), "p50": at(0.5), "p90": at(0.9), "p95": at(0.95), "max": round(ordered[-1], 2),
            "mean": round(statistics.fmean(ordered), 2)}


class MeasuredNight(Protocol):
    """What the yardstick reads of the product's nightly summary (named here, not imported from models/)."""

    @property
    def status(self) -> str: ...
    @property
    def method(self) -> str: ...
    @property
    def sleep_onset(self) -> datetime | None: ...
    @property
    def wake(self) -> datetime | None: ...
    @property
    def bed_exits(self) -> int | None: ...
    @property
    def bathroom_visits(self) -> int | None: ...
    @property
    def door_exits(self) -> int | None: ...
    @property
    def minutes_out_of_bed(self) -> float | None: ...
    @property
    def alerts_total(self) -> int: ...
    @property
    def alerts_by_type(self) -> dict[str, int]: ...


def _night_span(*, night_of: date, start: time, end: time, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The care plan's night (evening of `night_of` to next morning), worked out here from the plan's hours.

    Written apart from models/: a yardstick that borrowed the product's window would share its mistakes."""
    end_day = night_of + timedelta(days=1) if end <= start else night_of
    return datetime.combine(night_of, start, tzinfo=tz), datetime.combine(end_day, end, tzinfo=tz)


def compare(*, truth: list[TruthNight], summaries: Mapping[tuple[str, str], MeasuredNight],
            tolerance_min: float = 15.0) -> dict[str, Any]:
    """Accuracy figures and error distributions for every truth night with a summary."""
    unknown = missing = 0
    onset_err: list[float] = []
    wake_err: list[float] = []
    exit_diff: Counter[int] = Counter()
    bath_diff: Counter[int] = Counter()
    door_diff: Counter[int] = Counter()
    out_err: list[float] = []
    alarm_nights = alarm_exact = alarm_true = alarm_found = alarm_both = 0
    alarm_misses: list[dict[str, Any]] = []
    measured_only_in_episode = called_in_episode = sensors_down_agree = kinds_agree = 0
    sensors_down: Counter[str] = Counter()
    methods: Counter[str] = Counter()
    for night in truth:
        summary = summaries.get((night.resident_id, night.night_of))
        if summary is None:
            missing += 1
            continue
        if summary.status != "ok":
            unknown += 1
            continue
        methods[summary.method] += 1
        onset_err.append(abs((summary.sleep_onset - night.sleep_onset).total_seconds()) / 60
                         if summary.sleep_onset else float("inf"))
        wake_err.append(abs((summary.wake - night.wake).total_seconds()) / 60 if summary.wake else float("inf"))
        exit_diff[(summary.bed_exits or 0) - night.bed_exits] += 1
        bath_diff[(summary.bathroom_visits or 0) - night.bathroom_visits] += 1
        door_diff[(summary.door_exits or 0) - night.door_exits] += 1
        out_err.append(abs((summary.minutes_out_of_bed or 0) - night.minutes_out_of_bed))
        if night.alarm is not None and night.sensors_down is not None:
            # No system sees through a dead sensor: such nights are listed with their agreement, not judged.
            found = summary.alerts_total > 0
            sensors_down[night.sensors_down] += 1
            sensors_down_agree += found == night.alarm
        elif night.alarm is not None:
            alarm_nights += 1
            found = summary.alerts_total > 0
            alarm_exact += found == night.alarm
            alarm_true += night.alarm
            alarm_found += found
            alarm_both += found and night.alarm
            if found and night.alarm:
                # Both say "alert": the same kinds too (a smoke alarm is no answer to a night up)?
                wanted = {ALERT_FOR_CALL.get(kind, kind) for kind in night.alarm_kinds}
                kinds_agree += wanted == {kind for kind in summary.alerts_by_type if kind in CARE_ALERT_KINDS}
            measured_only_in_episode += found and not night.alarm and night.in_episode
            called_in_episode += night.alarm and night.in_episode
            if found != night.alarm:
                alarm_misses.append({"resident_id": night.resident_id, "night_of": night.night_of,
                                     "truth_called_for": list(night.alarm_kinds),
                                     "measured_alerts": summary.alerts_by_type})
    judged = len(onset_err)

    def share(count: int, of: int) -> float | None:
        return round(100 * count / of, 2) if of else None

    finite = [v for v in onset_err if v != float("inf")]
    return {
        "truth_nights": len(truth), "judged_nights": judged, "unknown_nights": unknown,
        "nights_without_summary": missing, "methods": dict(methods),
        "bed_exits_exact_pct": share(exit_diff[0], judged),
        "sleep_onset_within_pct": share(sum(v <= tolerance_min for v in onset_err), judged),
        "wake_within_pct": share(sum(v <= tolerance_min for v in wake_err), judged),
        "tolerance_min": tolerance_min,
        "bathroom_visits_exact_pct": share(bath_diff[0], judged),
        "door_exits_exact_pct": share(door_diff[0], judged),
        "alert_nights": {
            "judged": alarm_nights, "exact_pct": share(alarm_exact, alarm_nights),
            "truth_pct_nights_with_alarm": share(alarm_true, alarm_nights),
            "measured_pct_nights_with_alert": share(alarm_found, alarm_nights),
            # Nights, not alerts: both say alarm / only the truth / only the measurement / neither.
            "confusion": {"both": alarm_both, "truth_only": alarm_true - alarm_both,
                          "measured_only": alarm_found - alarm_both,
                          "neither": alarm_nights - alarm_true - alarm_found + alarm_both},
            "both_with_the_same_alert_kinds": kinds_agree,
            "measured_only_in_deterioration_episodes": measured_only_in_episode,
            "truth_alarm_nights_in_deterioration_episodes": called_in_episode,
            "not_judged_sensor_down": {"nights": sum(sensors_down.values()), "agree": sensors_down_agree,
                                       "by_reason": dict(sensors_down)},
            "disagreements": alarm_misses,
        },
        "errors": {
            "sleep_onset_abs_min": _quantiles(finite),
            "sleep_onset_not_found": len(onset_err) - len(finite),
            "wake_abs_min": _quantiles([v for v in wake_err if v != float("inf")]),
            "minutes_out_of_bed_abs": _quantiles(out_err),
            "bed_exits_measured_minus_truth": dict(sorted(exit_diff.items())),
            "bathroom_visits_measured_minus_truth": dict(sorted(bath_diff.items())),
            "door_exits_measured_minus_truth": dict(sorted(door_diff.items())),
        },
    }


def truth_nights(*, truth: Any, called: dict[date, list[str]] | None = None,
                 night_hours: tuple[time, time] = (time(22), time(7)),
                 timezone: str = "Europe/London") -> list[TruthNight]:
    """TruthNight records from a loaded `ResidentTruth` (simulators.truth).

    `called`: the nights a night worker following the care plan was called (`bench.night_worker`), from
    the same night window the product counts night alerts in; None leaves alert nights unjudged."""
    out: list[TruthNight] = []
    tz = ZoneInfo(timezone)
    for night in truth.nights:
        window_start, window_end = _night_span(night_of=night.night_of, start=night_hours[0], end=night_hours[1],
                                               tz=tz)
        in_episode = any(e.start < window_end and (e.end is None or e.end > window_start) for e in truth.episodes)
        kinds = tuple(called.get(night.night_of, ())) if called is not None else ()
        evening = window_start - timedelta(hours=4)
        down = [fault for fault in truth.faults if fault.kind in ("hub_offline", "device_offline")
                and (fault.kind == "hub_offline" or str(fault.detail.get("device")) in NIGHT_RULE_SENSORS
                     or str(fault.detail.get("device")).endswith("/motion"))
                and fault.start < window_end and (fault.end is None or fault.end > evening)]
        out.append(TruthNight(
            resident_id=truth.resident_id, night_of=night.night_of.isoformat(), sleep_onset=night.sleep_onset,
            wake=night.wake, bed_exits=len(night.bed_exits), minutes_out_of_bed=night.minutes_out_of_bed,
            bathroom_visits=night.bathroom_visits, door_exits=len(night.door_exits),
            alarm=bool(kinds) if called is not None else None, alarm_kinds=kinds, in_episode=in_episode,
            sensors_down=", ".join(sorted({f"{f.kind} {f.detail.get('device') or 'hub'}" for f in down})) or None,
        ))
    return out
