"""The evidence pack: one resident, one period, against the previous period and a baseline."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg

from models import queries as q
from models.change_store import list_suggestions
from models.config import EvidenceConfig
from models.costs import cost_context, load_support_periods
from models.feature_store import compute_features, load_features, store_features
from models.nightly import NightSummary, Resident, ensure_nights, load_resident, response_seconds
from models.nights import night_window
from models.period_review import change_episodes, history_start, period_flags, plain_summary
from models.review import evaluate, load_decisions, load_triggers
from models.stats import percentile, period_stats


class UnknownResidentError(LookupError):
    """No such resident."""


@dataclass(frozen=True, slots=True)
class EvidencePack:
    """Everything a care review looks at, ready for JSON, CSV, HTML and PDF."""

    resident: dict[str, Any]
    period: dict[str, str]
    previous_period: dict[str, str]
    baseline_period: dict[str, str]
    current: dict[str, Any]
    previous: dict[str, Any]
    baseline: dict[str, Any]
    summary: list[str]
    review_question: str
    routine_flags: list[dict[str, Any]]
    change_detection: dict[str, Any]
    alert_counts: dict[str, Any]
    suggestions: list[dict[str, Any]]
    triggers: list[dict[str, Any]]
    decisions: list[dict[str, Any]]
    costs: dict[str, Any]
    nights: list[dict[str, Any]]
    activity: dict[str, Any]
    alerts: list[dict[str, Any]]
    alerts_by_hour: dict[int, int]
    generated_at: str

    def as_json(self) -> dict[str, Any]:
        """Plain data for the API."""
        return asdict(self)


def _span(first: date, last: date) -> dict[str, str]:
    return {"first_night": first.isoformat(), "last_night": last.isoformat(),
            "nights": str((last - first).days + 1)}


async def activity_grid(*, connection: asyncpg.Connection, resident: Resident, first: date, last: date,
                        ) -> dict[str, Any]:
    """Activations per local half hour, days down and time of day across (day = local calendar day)."""
    start = night_window(night_of=first, start=datetime.min.time(), end=datetime.min.time(), tz=resident.tz).start
    end = night_window(night_of=last + timedelta(days=1), start=datetime.min.time(), end=datetime.min.time(),
                       tz=resident.tz).start
    rows = await connection.fetch(q.ACTIVITY_GRID, resident.resident_id, start, end, resident.timezone)
    days: dict[str, list[int]] = {}
    bedroom: dict[str, list[int]] = {}
    for row in rows:
        local = row["bucket"].astimezone(resident.tz)
        key = local.date().isoformat()
        slot = local.hour * 2 + local.minute // 30
        days.setdefault(key, [0] * 48)[slot] += row["activations"]
        bedroom.setdefault(key, [0] * 48)[slot] += row["bedroom"]
    day = first
    while day <= last:
        days.setdefault(day.isoformat(), [0] * 48)
        bedroom.setdefault(day.isoformat(), [0] * 48)
        day += timedelta(days=1)
    return {"slot_minutes": 30, "timezone": resident.timezone, "days": dict(sorted(days.items())),
            "bedroom": dict(sorted(bedroom.items()))}


async def build_pack(
    *, connection: asyncpg.Connection, resident_id: str, first: date, last: date, config: EvidenceConfig,
    baseline: tuple[date, date] | None = None,
) -> EvidencePack:
    """The pack for nights `first`..`last`; the baseline defaults to the period before the previous one."""
    resident = await load_resident(connection=connection, resident_id=resident_id)
    if resident is None:
        raise UnknownResidentError(resident_id)
    length = (last - first).days + 1
    prev_first, prev_last = first - timedelta(days=length), first - timedelta(days=1)
    base_first, base_last = baseline or (prev_first - timedelta(days=config.baseline.baseline_nights),
                                         prev_first - timedelta(days=1))
    # One fetch of stored nights covering all three periods (computing only the missing ones).
    lo, hi = min(first, prev_first, base_first), max(last, base_last)
    stored = await ensure_nights(connection=connection, resident=resident, first=lo, last=hi, config=config)

    def pick(a: date, b: date) -> list[NightSummary]:
        return [n for n in stored if a <= n.night_of <= b]

    current, previous, base = pick(first, last), pick(prev_first, prev_last), pick(base_first, base_last)
    # The resident's own nights before the period, unless a baseline was chosen.
    own = pick(first - timedelta(days=config.baseline.baseline_nights), first - timedelta(days=1)) \
        if baseline is None else base
    flags = period_flags(own=own, current=current, config=config)
    features = await _features(connection=connection, resident=resident, first=history_start(first=first,
                               config=config), last=last, config=config)
    episodes = change_episodes(resident_id=resident.resident_id, features=features, first=first, last=last,
                               config=config)
    triggers = [evaluate(trigger=t, nights=current)
                for t in await load_triggers(connection=connection, resident=resident)]
    windows = [night_window(night_of=n, start=resident.night_start, end=resident.night_end, tz=resident.tz)
               for n in (first, last)]
    alert_rows = await connection.fetch(q.ALERTS_IN_RANGE, resident.resident_id, config.alerts_run,
                                        windows[0].start, windows[1].end)
    alerts, counts = _alerts(rows=alert_rows, resident=resident, first=first, last=last)
    by_hour: dict[int, int] = dict.fromkeys(range(24), 0)
    for alert in alerts:
        if alert["counted"]:
            by_hour[int(alert["raised_at"][11:13])] += 1
    current_stats = period_stats(nights=current)
    support = await load_support_periods(connection=connection, resident_id=resident_id, until=last)
    return EvidencePack(
        resident={"resident_id": resident.resident_id, "display_name": resident.display_name,
                  "flat": resident.flat, "org_id": resident.org_id, "timezone": resident.timezone,
                  "night_window": f"{resident.night_start:%H:%M}-{resident.night_end:%H:%M}"},
        period=_span(first, last), previous_period=_span(prev_first, prev_last),
        baseline_period=_span(base_first, base_last),
        current=current_stats, previous=period_stats(nights=previous),
        baseline=period_stats(nights=base),
        summary=plain_summary(current=current, baseline=own, alerts=counts, episodes=episodes),
        review_question=REVIEW_QUESTION,
        routine_flags=flags, change_detection=episodes, alert_counts=counts,
        suggestions=[{"suggestion_id": r["suggestion_id"], "first_day": r["first_day"].isoformat(),
                      "last_day": r["last_day"].isoformat(), "since": r["since"].isoformat(),
                      "explanation": r["explanation"], "status": r["status"], "reviewed_by": r["reviewed_by"],
                      "review_note": r["review_note"], "model_version": r["version"]}
                     for r in await list_suggestions(connection=connection, resident_id=resident.resident_id)],
        triggers=[{**asdict(r.trigger), "matching_nights": r.matching_nights, "nights_checked": r.nights_checked,
                   "met": r.met, "explanation": r.explanation} for r in triggers],
        decisions=await load_decisions(connection=connection, resident_id=resident_id),
        costs=cost_context(first=first, last=last, periods=support, rates=config.costs),
        nights=[{**n.as_row(), "local_onset": _local(n.sleep_onset, resident),
                 "local_wake": _local(n.wake, resident)} for n in current],
        activity=await activity_grid(connection=connection, resident=resident, first=first, last=last),
        alerts=alerts, alerts_by_hour=by_hour, generated_at=datetime.now(resident.tz).isoformat(timespec="seconds"),
    )


REVIEW_QUESTION = ("For the reviewer to decide: does this evidence support bringing waking-night support back, "
                   "keeping the current support as it is, or reducing it? Nothing in this pack decides that.")


async def _features(*, connection: asyncpg.Connection, resident: Resident, first: date, last: date,
                    config: EvidenceConfig) -> list[Any]:
    """Stored daily features for the span, computing (and storing) the ones that are missing."""
    stored = {f.day: f for f in await load_features(connection=connection, resident_id=resident.resident_id,
                                                     first=first, last=last)}
    missing = [first + timedelta(days=i) for i in range((last - first).days + 1)
               if first + timedelta(days=i) not in stored]
    if missing:
        computed = await compute_features(connection=connection, resident=resident, first=missing[0],
                                          last=missing[-1], config=config)
        await store_features(connection=connection, features=computed)
        stored.update({f.day: f for f in computed})
    return [stored[d] for d in sorted(stored)]


def _alerts(*, rows: list[asyncpg.Record], resident: Resident, first: date, last: date,
            ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The period's one alert list, and every count the pack shows, all taken from it."""
    night_of: dict[date, tuple[datetime, datetime]] = {}
    day = first
    while day <= last:
        window = night_window(night_of=day, start=resident.night_start, end=resident.night_end, tz=resident.tz)
        night_of[day] = (window.start, window.end)
        day += timedelta(days=1)
    alerts = []
    for r in rows:
        night = next((d for d, (a, b) in night_of.items() if a <= r["began_at"] < b), None)
        care = r["category"] != "technical" and r["condition"] != "care_review"
        alerts.append({
            "alert_id": r["alert_id"], "condition": r["condition"], "category": r["category"],
            "raised_at": r["raised_at"].astimezone(resident.tz).isoformat(), "status": r["status"],
            "outcome": r["outcome"], "priority": r["priority"],
            "night_of": night.isoformat() if night else None, "counted": care,
            "response_s": response_seconds(raised_at=r["raised_at"], first_action_at=r["first_action_at"]),
        })
    counted = [a for a in alerts if a["counted"]]
    responses = [a["response_s"] for a in counted if a["response_s"] is not None]
    by_type: dict[str, int] = {}
    for alert in counted:
        by_type[alert["condition"]] = by_type.get(alert["condition"], 0) + 1
    counts = {
        "total": len(counted), "at_night": sum(1 for a in counted if a["night_of"]),
        "by_day": sum(1 for a in counted if not a["night_of"]),
        "technical": sum(1 for a in alerts if a["category"] == "technical"),
        "care_reviews": sum(1 for a in alerts if a["condition"] == "care_review"),
        "by_type": dict(sorted(by_type.items())),
        "responded": len(responses), "unanswered": len(counted) - len(responses),
        "response_s_median": percentile(responses, 0.5), "response_s_p90": percentile(responses, 0.9),
    }
    return alerts, counts


def _local(moment: datetime | None, resident: Resident) -> str | None:
    return moment.astimezone(resident.tz).strftime("%H:%M") if moment else None
