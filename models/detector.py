"""A per-resident change detector: a robust covariance model (scikit-learn MinCovDet) of the resident's days.

Each feature is centred on the resident's own median and scaled by their own robust spread, so one
bad night moves neither. MinCovDet then learns how the features usually move together (later to
bed and later up is one habit, not two changes), ignoring the odd unusual day. A window of recent
days is scored by how far its mean lies from the usual, in that model's units (a Mahalanobis
distance); the threshold is calibrated per resident to a target false-flag rate by drawing windows
from the resident's own training days. Pure functions: no database, nothing at import time.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

from models.config import DetectorRules
from models.features import BY_NAME, FEATURE_NAMES, DayFeatures

DETECTOR = "robust_covariance"


@dataclass(frozen=True, slots=True)
class NotEnoughData:
    """Too little history to learn this resident's usual days: say so, never guess."""

    days_known: int
    days_needed: int
    train_first: date
    train_last: date

    def as_params(self) -> dict[str, Any]:
        """JSON for `change_models.params`."""
        return {"days_known": self.days_known, "days_needed": self.days_needed}


@dataclass(frozen=True, slots=True)
class ChangeModel:
    """One resident's usual days: centre, spread, precision matrix and the calibrated threshold."""

    resident_id: str
    train_first: date
    train_last: date
    days_used: int
    features: tuple[str, ...]
    median: tuple[float, ...]
    scale: tuple[float, ...]
    precision: tuple[tuple[float, ...], ...]
    threshold: float
    window_days: int
    target_false_flags_per_60_days: float

    def as_params(self) -> dict[str, Any]:
        """JSON for `change_models.params`."""
        return {"features": list(self.features), "median": list(self.median), "scale": list(self.scale),
                "precision": [list(row) for row in self.precision], "threshold": self.threshold,
                "window_days": self.window_days,
                "target_false_flags_per_60_days": self.target_false_flags_per_60_days}

    @classmethod
    def from_params(cls, *, resident_id: str, train_first: date, train_last: date, days_used: int,
                    params: dict[str, Any]) -> ChangeModel:
        """The model back from its stored JSON."""
        return cls(resident_id=resident_id, train_first=train_first, train_last=train_last, days_used=days_used,
                   features=tuple(params["features"]), median=tuple(params["median"]),
                   scale=tuple(params["scale"]), precision=tuple(tuple(r) for r in params["precision"]),
                   threshold=float(params["threshold"]), window_days=int(params["window_days"]),
                   target_false_flags_per_60_days=float(params["target_false_flags_per_60_days"]))


@dataclass(frozen=True, slots=True)
class FeatureChange:
    """How far one feature's recent mean sits from the resident's usual, and since when."""

    feature: str
    usual: float
    recent: float
    z: float
    since: date


@dataclass(frozen=True, slots=True)
class WindowScore:
    """The score of the window ending on `day`."""

    day: date
    score: float | None
    threshold: float
    known_days: int
    changes: tuple[FeatureChange, ...]

    @property
    def flagged(self) -> bool:
        """Beyond the resident's own threshold."""
        return self.score is not None and self.score > self.threshold


# Counts and durations are skewed (most nights nobody goes out, the odd one for an hour): a square
# root evens the tail so one long outing weighs like a moderate change, not like a crisis.
_ROOTED = frozenset({"bed_exits", "minutes_out_of_bed", "night_activity", "night_bathroom_visits", "night_minutes_out",
                     "day_minutes_out", "kitchen_activity", "bathroom_activity", "bedtime_change_min"})


def _matrix(days: Sequence[DayFeatures], names: Sequence[str]) -> np.ndarray:
    rows = [[np.nan if (value := d.values.get(n)) is None else float(value) for n in names] for d in days]
    data = np.array(rows, dtype=float).reshape(len(days), len(names))
    for i, name in enumerate(names):
        if name in _ROOTED:
            data[:, i] = np.sqrt(np.maximum(data[:, i], 0.0))
    return data


def train(*, resident_id: str, days: Sequence[DayFeatures], train_first: date, train_last: date,
          rules: DetectorRules) -> ChangeModel | NotEnoughData:
    """Learn the resident's usual days from `days` (unknown values are skipped, never read as zero)."""
    names = FEATURE_NAMES
    data = _matrix(days, names)
    complete = data[~np.isnan(data).any(axis=1)] if len(days) else data
    if len(complete) < rules.min_training_days:
        return NotEnoughData(len(complete), rules.min_training_days, train_first, train_last)
    median = np.median(complete, axis=0)
    floors = np.array([np.sqrt(BY_NAME[n].floor) if n in _ROOTED else BY_NAME[n].floor for n in names])
    # Mostly-zero features (time out at night) have a MAD of 0; the 10-90 % spread still sees that
    # the odd night out is part of this person's usual, so a single one is not a change.
    spread = (np.quantile(complete, 0.9, axis=0) - np.quantile(complete, 0.1, axis=0)) / 2.563
    scale = np.maximum(np.maximum(1.4826 * np.median(np.abs(complete - median), axis=0), spread), floors)
    standard = np.clip((complete - median) / scale, -rules.clip_z, rules.clip_z)
    # Features that did not vary at all in training (nobody went out at night) cannot enter a
    # covariance fit; they are tested on their own, at the floor's scale.
    varying = np.array([np.ptp(standard[:, i]) > 1e-9 for i in range(len(names))])
    covariance = np.eye(len(names))
    if varying.sum() >= 2:
        # Imported here: scikit-learn takes about a second and 100 MiB to load, and every `telecare`
        # process (the ingest too) reaches this module through the command line's parser.
        from sklearn.covariance import MinCovDet  # noqa: PLC0415

        fit = MinCovDet(random_state=0, support_fraction=rules.support_fraction).fit(standard[:, varying])
        inner = fit.covariance_ + rules.ridge * np.eye(int(varying.sum()))
        index = np.flatnonzero(varying)
        covariance[np.ix_(index, index)] = inner
    precision = np.linalg.inv(covariance)
    spread = np.sqrt(np.diag(covariance))
    threshold = _calibrate(standard=standard, precision=precision, spread=spread, rules=rules, seed=resident_id)
    return ChangeModel(
        resident_id=resident_id, train_first=train_first, train_last=train_last, days_used=len(complete),
        features=tuple(names), median=tuple(round(float(v), 4) for v in median),
        scale=tuple(round(float(v), 4) for v in scale),
        precision=tuple(tuple(round(float(v), 6) for v in row) for row in precision), threshold=threshold,
        window_days=rules.window_days, target_false_flags_per_60_days=rules.target_false_flags_per_60_days)


def _statistic(*, mean: np.ndarray, known_days: int, precision: np.ndarray, spread: np.ndarray, kind: str) -> float:
    """How unusual a window mean is: the Mahalanobis distance, or the largest single-feature shift."""
    if kind == "max":
        return float(known_days * np.max((mean / spread) ** 2))
    return float(known_days * mean @ precision @ mean)


def _calibrate(*, standard: np.ndarray, precision: np.ndarray, spread: np.ndarray, rules: DetectorRules,
               seed: str) -> float:
    """The distance a window of the resident's own usual days exceeds at the target false-flag rate.

    Windows are drawn as runs of consecutive training days (keeping weekday/weekend patterns and
    day-to-day dependence) plus resampled days; one window in `window_days` is independent, so the
    per-window tail share is the target rate per 60 days over 60 / window_days windows.
    """
    rng = random.Random(f"calibrate/{seed}")
    n, window = len(standard), rules.window_days
    distances = []
    for _ in range(rules.calibration_draws):
        start = rng.randrange(0, max(1, n - window + 1))
        rows = [start + offset for offset in range(min(window, n))]
        # Half the days of each draw come from elsewhere in training, so a short history still gives spread.
        rows = [row if rng.random() >= rules.calibration_mix else rng.randrange(n) for row in rows]
        mean = standard[rows].mean(axis=0)
        distances.append(_statistic(mean=mean, known_days=len(rows), precision=precision, spread=spread,
                                    kind=rules.statistic))
    tail = rules.target_false_flags_per_60_days / (60 / window)
    quantile = float(np.quantile(distances, 1 - tail))
    return round(max(quantile, rules.min_threshold), 3)


def score_window(*, model: ChangeModel, days: Sequence[DayFeatures], rules: DetectorRules) -> WindowScore:
    """Score the last `window_days` of `days` (oldest first) against the model."""
    window = list(days)[-model.window_days:]
    end = window[-1].day
    names = model.features
    median, scale = np.array(model.median), np.array(model.scale)
    # One extreme day counts at most `clip_z` robust SDs: a run of changed days is what moves the mean.
    standard = np.clip((_matrix(window, names) - median) / scale, -rules.clip_z, rules.clip_z)
    known = ~np.isnan(standard)
    counts = known.sum(axis=0)
    known_days = int(np.sum(known.any(axis=1)))
    if known_days < rules.min_window_days:
        return WindowScore(end, None, model.threshold, known_days, ())
    # An unknown value contributes nothing: its feature's mean is taken over the days that were known,
    # and a feature unknown all window sits at the usual.
    mean = np.where(counts > 0, np.nansum(standard, axis=0) / np.maximum(counts, 1), 0.0)
    precision = np.array(model.precision)
    spread = np.sqrt(np.diag(np.linalg.inv(precision)))
    score = _statistic(mean=mean, known_days=known_days, precision=precision, spread=spread, kind=rules.statistic)
    changes = []
    for i in np.argsort(-np.abs(mean)):
        if abs(mean[i]) < rules.explain_z or counts[i] == 0:
            continue
        # Since when: the earliest day of the unbroken run, back from the end, on which this feature was
        # already beyond half the explained shift in the same direction.
        column = standard[:, i]
        since = end
        for day, value in zip(reversed([d.day for d in window]), reversed(column.tolist()), strict=True):
            if np.isnan(value):
                continue
            if np.sign(value) == np.sign(mean[i]) and abs(value) >= rules.explain_z / 2:
                since = day
            else:
                break
        # In the reviewer's units: the usual (median) day against the plain mean of the days since it moved.
        raw = [v for d in window if d.day >= since and (v := d.values.get(names[i])) is not None]
        usual = float(median[i]) ** 2 if names[i] in _ROOTED else float(median[i])
        changes.append(FeatureChange(feature=names[i], usual=round(usual, 2),
                                     recent=round(sum(raw) / len(raw), 2) if raw else usual,
                                     z=round(float(mean[i]), 2), since=since))
    return WindowScore(end, round(score, 3), model.threshold, known_days, tuple(changes[:rules.explain_top]))
