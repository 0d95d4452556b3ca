"""What a review reads first: the period's changes named as episodes, and a plain-language summary.

The routine-change section covers the whole review period (not the last fortnight): the detector
scores each day as it would have each morning, its flagged days become episodes with a start, an end
and what changed; the median/MAD flags compare all the period's nights with the resident's own
nights before it. The summary counts nights in words, this period against the baseline.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from models.baseline import routine_flags
from models.changes import flag_days, flag_runs
from models.config import EvidenceConfig
from models.features import DayFeatures
from models.nightly import NightSummary

# Days flagged within this many days of each other are one episode.
EPISODE_GAP_DAYS = 7


def history_start(*, first: date, config: EvidenceConfig) -> date:
    """How far back features are needed for the detector to score the period's first day."""
    rules = config.detector
    return first - timedelta(days=rules.training_days + rules.guard_days + rules.retrain_every_days)


def change_episodes(*, resident_id: str, features: Sequence[DayFeatures], first: date, last: date,
                    config: EvidenceConfig) -> dict[str, Any]:
    """The detector over the period: episodes (start, end, what changed) or 'not enough data'."""
    result = flag_days(resident_id=resident_id, days=features, first=first, last=last, rules=config.detector)
    episodes = []
    for run in flag_runs(flagged=result.flagged, gap_days=EPISODE_GAP_DAYS):
        days = sorted(d for d in result.flagged if run.first <= d <= run.last)
        # "Since" is when the moved features began to move, which is before the window crossed the line.
        starts = [c.since for d in days for c in result.changes[d]]
        began = min([*starts, run.first])
        peak = max(days, key=lambda d: len(result.changes[d]))
        episodes.append({"start": began.isoformat(), "first_flagged": run.first.isoformat(),
                         "end": run.last.isoformat(), "days_flagged": len(days),
                         "what_changed": result.explanations[peak]})
    if result.days_scored == 0:
        status = "not_enough_data"
    elif episodes:
        status = "changes"
    else:
        status = "no_change"
    return {"detector": "robust_covariance", "status": status, "days_scored": result.days_scored,
            "days_not_enough_data": result.days_not_enough_data, "episodes": episodes}


def period_flags(*, own: Sequence[NightSummary], current: Sequence[NightSummary],
                 config: EvidenceConfig) -> list[dict[str, Any]]:
    """The median/MAD flags with every night of the period as 'recent' (not only the last 14)."""
    from dataclasses import asdict  # noqa: PLC0415

    return [asdict(f) for f in routine_flags(baseline=own, recent=current, rules=config.baseline)]


def _usual_onset(nights: Sequence[NightSummary]) -> float | None:
    onsets = [(n.sleep_onset - n.window_start).total_seconds() / 60 for n in nights
              if n.status == "ok" and n.sleep_onset is not None]
    return statistics.median(onsets) if onsets else None


def _count(nights: Sequence[NightSummary], test: Any) -> tuple[int, int]:
    known = [n for n in nights if n.status == "ok"]
    return sum(1 for n in known if test(n)), len(known)


def plain_summary(*, current: Sequence[NightSummary], baseline: Sequence[NightSummary], alerts: dict[str, Any],
                  episodes: dict[str, Any]) -> list[str]:
    """Sentences for the top of the pack: this period against the baseline, in nights."""
    usual = _usual_onset(baseline)
    lines = []
    checks: list[tuple[str, Any]] = [
        ("up for more than an hour in the night", lambda n: (n.minutes_out_of_bed or 0) > 60),
        ("out of the flat at night", lambda n: (n.door_exits or 0) > 0),
    ]
    if usual is not None:
        checks.insert(1, ("in bed more than an hour later than usual", lambda n: n.sleep_onset is not None
                          and (n.sleep_onset - n.window_start).total_seconds() / 60 > usual + 60))
    for words, test in checks:
        now, of = _count(current, test)
        before, of_before = _count(baseline, test)
        lines.append(f"{words[0].upper()}{words[1:]} on {now} of {of} nights; {before} of {of_before} "
                     "in the nights before this period.")
    unknown = sum(1 for n in current if n.status != "ok")
    if unknown:
        lines.append(f"{unknown} night{'s' if unknown != 1 else ''} could not be read (sensors not working) and "
                     "are left out of every count, not taken as quiet.")
    lines.append(f"{alerts['total']} alert{'s' if alerts['total'] != 1 else ''} in the period "
                 f"({alerts['at_night']} at night, {alerts['by_day']} by day)"
                 + (f"; first response after a median {alerts['response_s_median']:.0f} s"
                    if alerts["response_s_median"] is not None else "") + ".")
    if episodes["status"] == "changes":
        for episode in episodes["episodes"]:
            lines.append(f"A change of routine from {episode['start']} to {episode['end']}: {episode['what_changed']}")
    elif episodes["status"] == "not_enough_data":
        lines.append("Change detection: not enough history yet to learn this resident's usual days.")
    else:
        lines.append("Change detection found no change of routine in this period.")
    return lines
