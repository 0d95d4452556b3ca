"""The evidence pack: one resident, one period, against the previous period and a baseline."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg

from models import queries as q
from models.baseline import routine_flags
from models.config import EvidenceConfig
from models.costs import cost_context, load_support_periods
from models.nightly import NightSummary, Resident, ensure_nights, load_resident
from models.nights import night_window
from models.review import evaluate, load_decisions, load_triggers
from models.stats import period_stats


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
    routine_flags: list[dict[str, Any]]
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
    recent = current[-config.baseline.recent_nights:]
    # The resident's own recent baseline: the nights just before the recent window, unless one was chosen.
    if baseline is None:
        recent_first = recent[0].night_of if recent else first
        own = pick(recent_first - timedelta(days=config.baseline.baseline_nights), recent_first - timedelta(days=1))
    else:
        own = base
    flags = routine_flags(baseline=own, recent=recent, rules=config.baseline)
    triggers = [evaluate(trigger=t, nights=current)
                for t in await load_triggers(connection=connection, resident=resident)]
    window_first = night_window(night_of=first, start=resident.night_start, end=resident.night_end, tz=resident.tz)
    window_last = night_window(night_of=last, start=resident.night_start, end=resident.night_end, tz=resident.tz)
    alert_rows = await connection.fetch(q.ALERTS_IN_RANGE, resident.resident_id, config.alerts_run,
                                        window_first.start - timedelta(hours=12), window_last.end)
    alerts = [{"alert_id": r["alert_id"], "condition": r["condition"], "category": r["category"],
               "raised_at": r["raised_at"].astimezone(resident.tz).isoformat(), "status": r["status"],
               "outcome": r["outcome"], "priority": r["priority"]} for r in alert_rows]
    by_hour: dict[int, int] = dict.fromkeys(range(24), 0)
    for row in alert_rows:
        if row["category"] != "technical" and row["condition"] != "care_review":
            by_hour[row["raised_at"].astimezone(resident.tz).hour] += 1
    support = await load_support_periods(connection=connection, resident_id=resident_id, until=last)
    return EvidencePack(
        resident={"resident_id": resident.resident_id, "display_name": resident.display_name,
                  "flat": resident.flat, "org_id": resident.org_id, "timezone": resident.timezone,
                  "night_window": f"{resident.night_start:%H:%M}-{resident.night_end:%H:%M}"},
        period=_span(first, last), previous_period=_span(prev_first, prev_last),
        baseline_period=_span(base_first, base_last),
        current=period_stats(nights=current), previous=period_stats(nights=previous),
        baseline=period_stats(nights=base),
        routine_flags=[asdict(flag) for flag in flags],
        triggers=[{**asdict(r.trigger), "matching_nights": r.matching_nights, "nights_checked": r.nights_checked,
                   "met": r.met, "explanation": r.explanation} for r in triggers],
        decisions=await load_decisions(connection=connection, resident_id=resident_id),
        costs=cost_context(first=first, last=last, periods=support, rates=config.costs),
        nights=[{**n.as_row(), "local_onset": _local(n.sleep_onset, resident),
                 "local_wake": _local(n.wake, resident)} for n in current],
        activity=await activity_grid(connection=connection, resident=resident, first=first, last=last),
        alerts=alerts, alerts_by_hour=by_hour, generated_at=datetime.now(resident.tz).isoformat(timespec="seconds"),
    )


def _local(moment: datetime | None, resident: Resident) -> str | None:
    return moment.astimezone(resident.tz).strftime("%H:%M") if moment else None
