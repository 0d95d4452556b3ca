"""Period statistics over stored nights: what a review compares between periods."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from models.baseline import FEATURES
from models.nightly import NightSummary


def percentile(values: Sequence[float], share: float) -> float | None:
    """Nearest-rank percentile, None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(share * len(ordered) + 0.5) - 1))
    return round(ordered[index], 1)


def trend_per_week(points: Sequence[tuple[float, float]]) -> float | None:
    """Least-squares slope (per 7 days) of (day index, value) points; None with fewer than 7."""
    if len(points) < 7:
        return None
    xs = [x for x, _ in points]
    ys = [y for _, y in points]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    denominator = sum((x - mean_x) ** 2 for x in xs)
    if denominator == 0:
        return None
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / denominator
    return round(slope * 7, 2)


def period_stats(*, nights: Sequence[NightSummary]) -> dict[str, Any]:
    """Nights monitored, alert and intervention rates, response times, sleep regularity, feature levels."""
    monitored = [n for n in nights if n.status == "ok"]
    count = len(monitored)
    with_alert = sum(1 for n in nights if n.alerts_total > 0)
    with_intervention = sum(1 for n in nights if n.attendances > 0)
    responses = [s for n in nights for s in n.response_s]
    by_type: dict[str, int] = {}
    for night in nights:
        for condition, number in night.alerts_by_type.items():
            by_type[condition] = by_type.get(condition, 0) + number
    features: dict[str, Any] = {}
    first_day = nights[0].night_of if nights else None
    for feature, _words, read in FEATURES:
        values = [(n, read(n)) for n in monitored]
        present = [(n, v) for n, v in values if v is not None]
        plain = [v for _, v in present]
        features[feature] = {
            "median": round(statistics.median(plain), 1) if plain else None,
            "p90": percentile(plain, 0.9),
            "sd": round(statistics.stdev(plain), 1) if len(plain) > 1 else None,
            "trend_per_week": trend_per_week(
                [((n.night_of - first_day).days, v) for n, v in present]) if first_day else None,
        }
    methods: dict[str, int] = {}
    for night in monitored:
        methods[night.method] = methods.get(night.method, 0) + 1
    return {
        "nights": len(nights),
        "nights_monitored": count,
        "nights_unknown": len(nights) - count,
        "coverage_median": round(statistics.median([n.coverage for n in nights]), 3) if nights else None,
        "methods": methods,
        "pct_nights_any_alert": round(100 * with_alert / len(nights), 1) if nights else None,
        "pct_nights_intervention": round(100 * with_intervention / len(nights), 1) if nights else None,
        "alerts_total": sum(n.alerts_total for n in nights),
        "alerts_by_type": dict(sorted(by_type.items())),
        "response_s_median": percentile(responses, 0.5),
        "response_s_p90": percentile(responses, 0.9),
        "attendances": sum(n.attendances for n in nights),
        # Sleep regularity: the spread of bedtimes and rising times (smaller = more regular).
        "sleep_regularity": {
            "onset_sd_min": features["sleep_onset_min"]["sd"],
            "wake_sd_min": features["wake_min"]["sd"],
        },
        "features": features,
    }
