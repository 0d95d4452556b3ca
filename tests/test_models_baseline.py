"""Routine-change flags: robust to the odd bad night, and explained in words a reviewer can read out."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from models.baseline import routine_flags
from models.config import BaselineRules
from models.nightly import NightSummary

START = date(2024, 2, 1)


def _night(*, index: int, out_of_bed: float, onset_shift_min: float = 0.0, status: str = "ok") -> NightSummary:
    night_of = START + timedelta(days=index)
    window_start = datetime(night_of.year, night_of.month, night_of.day, 22, tzinfo=UTC)
    onset = window_start + timedelta(minutes=45 + onset_shift_min)
    return NightSummary(
        resident_id="r1", night_of=night_of, window_start=window_start, window_end=window_start + timedelta(hours=9),
        status=status, unknown_reason=None, method="bed_sensor", coverage=1.0, coverage_detail={},
        sleep_onset=onset, wake=window_start + timedelta(hours=8, minutes=30), time_in_bed_min=465.0,
        bed_exits=1, minutes_out_of_bed=out_of_bed, bathroom_visits=1, door_exits=0, minutes_out=0.0,
        alerts_total=0, alerts_by_type={}, responses=0, response_s=(), attendances=0, alerts_run="live",
    )


def _baseline() -> list[NightSummary]:
    # Four weeks of about ten minutes out of bed, with one very bad night in the middle.
    nights = [_night(index=i, out_of_bed=9.0 + (i % 3)) for i in range(28)]
    nights[14] = _night(index=14, out_of_bed=180.0)
    return nights


def test_a_run_of_longer_nights_is_flagged_in_words() -> None:
    """9 of 14 recent nights three times longer out of bed than usual: one flag, said the way a reviewer would."""
    recent = [_night(index=28 + i, out_of_bed=30.0 if i % 3 else 10.0) for i in range(14)]
    assert sum(n.minutes_out_of_bed == 30.0 for n in recent) == 9  # type: ignore[misc]
    flags = routine_flags(baseline=_baseline(), recent=recent, rules=BaselineRules())
    assert [(f.feature, f.direction) for f in flags] == [("minutes_out_of_bed", "higher")]
    assert flags[0].explanation == "out of bed 3.0x longer than usual for 9 of the last 14 nights"
    # The bad baseline night did not drag the baseline up.
    assert flags[0].baseline_median == 10.0


def test_the_odd_bad_night_is_not_a_change_of_routine() -> None:
    """Two bad nights in fourteen stay below the flag; unknown nights are neither evidence for nor against."""
    recent = [_night(index=28 + i, out_of_bed=120.0 if i in (3, 9) else 10.0) for i in range(14)]
    recent += [_night(index=42 + i, out_of_bed=300.0, status="unknown") for i in range(6)]
    assert routine_flags(baseline=_baseline(), recent=recent, rules=BaselineRules()) == []


def test_later_bedtimes_are_said_in_minutes() -> None:
    """Going to bed 75 minutes later on most recent nights reads as minutes later, not as a ratio."""
    recent = [_night(index=28 + i, out_of_bed=10.0, onset_shift_min=75.0 if i < 10 else 0.0) for i in range(14)]
    flags = routine_flags(baseline=_baseline(), recent=recent, rules=BaselineRules())
    assert [f.explanation for f in flags] == ["went to bed 75 min later than usual for 10 of the last 14 nights"]
