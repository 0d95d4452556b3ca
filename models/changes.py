"""Training and scoring runs, and the flags they turn into: pure helpers shared by the product and its bench."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from models.config import DetectorRules
from models.detector import ChangeModel, FeatureChange, NotEnoughData, WindowScore, score_window, train
from models.features import BY_NAME, DayFeatures


@dataclass(frozen=True, slots=True)
class FlagRun:
    """Days flagged close together: one suggestion for a reviewer, not one per day."""

    first: date
    last: date
    days: int


def flag_runs(*, flagged: Iterable[date], gap_days: int) -> list[FlagRun]:
    """Group flagged days into runs; a run ends after more than `gap_days` days without a flag."""
    runs: list[FlagRun] = []
    for day in sorted(flagged):
        if runs and (day - runs[-1].last).days <= gap_days + 1:
            runs[-1] = FlagRun(runs[-1].first, day, runs[-1].days + 1)
        else:
            runs.append(FlagRun(day, day, 1))
    return runs


def persistent(*, beyond: Sequence[bool], rules: DetectorRules) -> bool:
    """Whether the latest `persist_days` windows (oldest first in `beyond`) were all beyond the threshold."""
    tail = list(beyond)[-rules.persist_days:]
    return len(tail) == rules.persist_days and all(tail)


def training_span(*, as_of: date, rules: DetectorRules) -> tuple[date, date]:
    """The days a model trained on `as_of` learns from: `training_days` ending `guard_days` before."""
    last = as_of - timedelta(days=rules.guard_days)
    return last - timedelta(days=rules.training_days - 1), last


def train_on(*, resident_id: str, days: Sequence[DayFeatures], as_of: date, excluded: set[date],
             rules: DetectorRules) -> ChangeModel | NotEnoughData:
    """Train on the training span of `as_of`, leaving out `excluded` days (a change under review)."""
    first, last = training_span(as_of=as_of, rules=rules)
    chosen = [d for d in days if first <= d.day <= last and d.day not in excluded]
    return train(resident_id=resident_id, days=chosen, train_first=first, train_last=last, rules=rules)


def score_day(*, model: ChangeModel, days: Sequence[DayFeatures], day: date, rules: DetectorRules) -> WindowScore:
    """The window ending on `day` (days missing from `days` count as unknown)."""
    window = [d for d in days if day - timedelta(days=model.window_days - 1) <= d.day <= day]
    if not window or window[-1].day != day:
        return WindowScore(day, None, model.threshold, 0, ())
    return score_window(model=model, days=window, rules=rules)


@dataclass(frozen=True, slots=True)
class DayFlags:
    """Each day of a span scored as the product scores it each morning."""

    flagged: set[date]
    explanations: dict[date, str]
    changes: dict[date, tuple[FeatureChange, ...]]
    days_scored: int
    days_not_enough_data: int


def flag_days(*, resident_id: str, days: Sequence[DayFeatures], first: date, last: date,
              rules: DetectorRules, excluded: set[date] | None = None) -> DayFlags:
    """Score every day from `first` to `last`, retraining every `retrain_every_days` on the days before.

    A day is flagged once `persist_days` windows in a row are beyond the threshold; flagged days (and
    `excluded` ones, changes already under review) are left out of later trainings, so a change that
    lasts is not learnt as the new usual while it is being looked at.
    """
    left_out = set(excluded or ())
    flagged: set[date] = set()
    beyond: list[bool] = []
    explanations: dict[date, str] = {}
    changes: dict[date, tuple[FeatureChange, ...]] = {}
    model: ChangeModel | None = None
    scored = missing = 0
    day = first
    while day <= last:
        if (day - first).days % rules.retrain_every_days == 0:
            trained = train_on(resident_id=resident_id, days=days, as_of=day, excluded=left_out | flagged,
                               rules=rules)
            model = trained if isinstance(trained, ChangeModel) else None
        if model is None:
            missing += 1
            beyond.append(False)
        else:
            score = score_day(model=model, days=days, day=day, rules=rules)
            scored += score.score is not None
            beyond.append(score.flagged)
            if persistent(beyond=beyond, rules=rules):
                flagged.add(day)
                explanations[day] = explain(score.changes)
                changes[day] = score.changes
        day += timedelta(days=1)
    return DayFlags(flagged, explanations, changes, scored, missing)


def _amount(change: FeatureChange) -> str:
    feature = BY_NAME[change.feature]
    shift = change.recent - change.usual
    if feature.name in ("sleep_onset_min", "wake_min"):
        return f"{abs(shift):.0f} min {'later' if shift > 0 else 'earlier'} than usual"
    if feature.unit == "min":
        return f"{change.recent:.0f} min a day against a usual {change.usual:.0f} min"
    if feature.part == "rhythm":
        return f"{change.recent:.2f} against a usual {change.usual:.2f} ({'higher' if shift > 0 else 'lower'})"
    if change.usual > 0 and change.recent > 0:
        ratio = change.recent / change.usual
        return f"{ratio:.1f} times the usual" if ratio >= 1 else f"{1 / ratio:.1f} times less than usual"
    return f"{change.recent:.1f} against a usual {change.usual:.1f}"


def explain(changes: Sequence[FeatureChange]) -> str:
    """What moved, by how much, since when, in words a reviewer can read out."""
    if not changes:
        return "The week as a whole is unusual for this resident, though no single measure stands out."
    parts = [f"{BY_NAME[c.feature].words}: {_amount(c)} (since {c.since:%d %b})" for c in changes]
    return "; ".join(parts) + "."
