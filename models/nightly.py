"""Nightly summaries: read each night of a resident from TimescaleDB and store the result."""

from __future__ import annotations

import bisect
import json
import logging
import statistics
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from models import queries as q
from models.config import EvidenceConfig
from models.coverage import Outage, night_coverage, outages_from_reports
from models.nights import night_window, nights_between, search_span
from models.sleep import BED_KINDS, Interval, NightEvent, read_sleep

log = logging.getLogger(__name__)

NIGHT_KINDS = [
    "bed_occupied", "bed_vacated", "motion", "presence", "door_open", "door_closed", "vibration",
    "appliance_on", "appliance_off", "chair_occupied", "chair_vacated", "button", "personal_trigger", "fall",
    "device_offline", "hub_offline",
]
ATTENDED_OUTCOMES = frozenset({"contact_attended", "responder_attended", "ambulance", "fire", "police"})


@dataclass(frozen=True, slots=True)
class Resident:
    """A resident as the evidence needs them."""

    resident_id: str
    org_id: str
    display_name: str
    flat: str | None
    timezone: str
    night_start: time
    night_end: time

    @property
    def tz(self) -> ZoneInfo:
        """The resident's time zone."""
        return ZoneInfo(self.timezone)


@dataclass(frozen=True, slots=True)
class NightAlert:
    """One alert raised during a night and what the operators did about it."""

    condition: str
    category: str
    raised_at: datetime
    response_s: float | None
    attended: bool
    # When the situation began (the exit, for out of bed and left the flat): the night it counts in.
    began_at: datetime


@dataclass(frozen=True, slots=True)
class NightSummary:
    """One stored night."""

    resident_id: str
    night_of: date
    window_start: datetime
    window_end: datetime
    status: str
    unknown_reason: str | None
    method: str
    coverage: float
    coverage_detail: dict[str, Any]
    sleep_onset: datetime | None
    wake: datetime | None
    time_in_bed_min: float | None
    bed_exits: int | None
    minutes_out_of_bed: float | None
    bathroom_visits: int | None
    door_exits: int | None
    minutes_out: float | None
    alerts_total: int
    alerts_by_type: dict[str, int]
    responses: int
    response_s: tuple[float, ...]
    attendances: int
    alerts_run: str
    exits: tuple[Interval, ...] = field(default=())

    def as_row(self) -> dict[str, Any]:
        """JSON-friendly form (for the API and CSV)."""
        return {
            "night_of": self.night_of.isoformat(), "status": self.status, "unknown_reason": self.unknown_reason,
            "method": self.method, "coverage": self.coverage,
            "sleep_onset": self.sleep_onset.isoformat() if self.sleep_onset else None,
            "wake": self.wake.isoformat() if self.wake else None,
            "time_in_bed_min": self.time_in_bed_min, "bed_exits": self.bed_exits,
            "minutes_out_of_bed": self.minutes_out_of_bed, "bathroom_visits": self.bathroom_visits,
            "door_exits": self.door_exits, "minutes_out": self.minutes_out, "alerts_total": self.alerts_total,
            "alerts_by_type": self.alerts_by_type, "responses": self.responses,
            "median_response_s": statistics.median(self.response_s) if self.response_s else None,
            "attendances": self.attendances,
        }


def response_seconds(*, raised_at: datetime, first_action_at: datetime | None) -> float | None:
    """From the alarm being raised to the first thing an operator did (claim, acknowledge or close).

    Both are event-time stamps of the same alert; `queued_at` is not used because it is the wall clock
    at insertion, which in a replay of past nights is days after an operator's (replayed) action.
    An action stamped before the alarm is a clock fault, not a response: None, never a negative time.
    """
    if first_action_at is None or first_action_at < raised_at:
        return None
    return round((first_action_at - raised_at).total_seconds(), 1)


def resident_from_row(row: asyncpg.Record) -> Resident:
    """A Resident from a `residents` row."""
    return Resident(row["resident_id"], row["org_id"], row["display_name"], row["flat"], row["timezone"],
                    row["night_start"], row["night_end"])


async def load_resident(*, connection: asyncpg.Connection, resident_id: str) -> Resident | None:
    """The resident, or None when unknown."""
    row = await connection.fetchrow(q.RESIDENT, resident_id)
    return resident_from_row(row) if row else None


def choose_method(devices: dict[str, tuple[str, str]]) -> str:
    """Bed pad when the flat has one; bedroom PIRs otherwise; nothing to go on without either."""
    kinds = set(devices.values())
    if ("bed_sensor", "bedroom") in kinds or any(kind == "bed_sensor" for kind, _ in kinds):
        return "bed_sensor"
    if ("pir", "bedroom") in kinds:
        return "pir"
    return "none"


def _slice(events: list[NightEvent], times: list[datetime], start: datetime, end: datetime) -> list[NightEvent]:
    return events[bisect.bisect_left(times, start):bisect.bisect_left(times, end)]


def summarise_night(
    *, resident: Resident, night_of: date, events: list[NightEvent], times: list[datetime],
    devices: dict[str, tuple[str, str]], outages: list[Outage], alerts: list[NightAlert], config: EvidenceConfig,
) -> NightSummary:
    """One night from the resident's events (sorted, with their `times`), outages and alerts."""
    rules = config.night
    window = night_window(night_of=night_of, start=resident.night_start, end=resident.night_end, tz=resident.tz)
    span_start, span_end = search_span(window=window, lead_hours=rules.lead_hours, tail_hours=rules.tail_hours)
    win, span = Interval(window.start, window.end), Interval(span_start, span_end)
    night_events = _slice(events, times, span_start, span_end)
    method = choose_method(devices)
    notes: dict[str, Any] = {}
    bed_seen = any(event.kind in BED_KINDS for event in night_events)
    activity = [e for e in night_events if e.kind not in ("device_offline", "hub_offline")]
    if method == "bed_sensor" and not bed_seen and any(e.location == "bedroom" for e in activity):
        # A pad that said nothing all night while the bedroom PIR saw the resident is silent or
        # off the bed: read this night from the PIRs and say so.
        method, notes["bed_sensor"] = "pir", "silent all night; read from PIRs"
    coverage = night_coverage(window=win, method=method, devices=devices, outages=outages)
    in_window = _slice(activity, [e.time for e in activity], window.start, window.end)
    status, reason = "ok", None
    if method == "none":
        status, reason = "unknown", "no bed sensor or bedroom PIR"
    elif coverage.share < rules.min_coverage:
        status, reason = "unknown", f"sensors working for {coverage.share:.0%} of the night"
    elif not activity:
        status, reason = "unknown", "no sensor reported anything around this night"
    night_alerts = [a for a in alerts if window.start <= a.began_at < window.end]
    care_alerts = [a for a in night_alerts if a.category != "technical"]
    by_type: dict[str, int] = {}
    for alert in night_alerts:
        by_type[alert.condition] = by_type.get(alert.condition, 0) + 1
    responses = tuple(a.response_s for a in care_alerts if a.response_s is not None)
    detail = {"share": coverage.share, "hub": coverage.hub, "devices": coverage.by_device,
              "events_in_window": len(in_window), **notes}
    common: dict[str, Any] = {
        "resident_id": resident.resident_id, "night_of": night_of, "window_start": window.start,
        "window_end": window.end, "status": status, "unknown_reason": reason, "method": method,
        "coverage": coverage.share, "coverage_detail": detail, "alerts_total": len(care_alerts),
        "alerts_by_type": by_type, "responses": len(responses), "response_s": responses,
        "attendances": sum(a.attended for a in care_alerts), "alerts_run": config.alerts_run,
    }
    if status != "ok":
        return NightSummary(**common, sleep_onset=None, wake=None, time_in_bed_min=None, bed_exits=None,
                            minutes_out_of_bed=None, bathroom_visits=None, door_exits=None, minutes_out=None)
    reading = read_sleep(events=activity, window=win, span=span, method=method, rules=rules)
    return NightSummary(
        **common, sleep_onset=reading.sleep_onset, wake=reading.wake, time_in_bed_min=reading.time_in_bed_min,
        bed_exits=len(reading.exits) if reading.sleep_onset else 0,
        minutes_out_of_bed=reading.minutes_out_of_bed if reading.sleep_onset else 0.0,
        bathroom_visits=reading.bathroom_visits, door_exits=len(reading.door_exits),
        minutes_out=reading.minutes_out, exits=reading.exits,
    )


async def compute_nights(
    *, connection: asyncpg.Connection, resident: Resident, first: date, last: date, config: EvidenceConfig,
) -> list[NightSummary]:
    """Read nights `first`..`last` from the events with a few range queries (not one per night)."""
    rules = config.night
    nights = nights_between(first=first, last=last)
    if not nights:
        return []
    first_window = night_window(night_of=first, start=resident.night_start, end=resident.night_end, tz=resident.tz)
    last_window = night_window(night_of=last, start=resident.night_start, end=resident.night_end, tz=resident.tz)
    start, _ = search_span(window=first_window, lead_hours=rules.lead_hours, tail_hours=rules.tail_hours)
    _, end = search_span(window=last_window, lead_hours=rules.lead_hours, tail_hours=rules.tail_hours)
    device_rows = await connection.fetch(q.RESIDENT_DEVICES, resident.resident_id)
    devices = {row["device_id"]: (row["device_type"], row["location"]) for row in device_rows}
    rows = await connection.fetch(q.NIGHT_EVENTS, resident.resident_id, start, end, NIGHT_KINDS)
    events = [NightEvent(r["time"], r["kind"], r["location"], r["device_type"], r["device_id"], r["is_restore"])
              for r in rows]
    before = await connection.fetch(q.AVAILABILITY_BEFORE, resident.resident_id, start)
    reports = [(r["time"], r["kind"], r["device_id"], r["is_restore"]) for r in before]
    reports += [(e.time, e.kind, e.device_id, e.is_restore) for e in events
                if e.kind in ("device_offline", "hub_offline")]
    outages = outages_from_reports(reports=sorted(reports), until=end)
    times = [event.time for event in events]
    heard_at = [e.time for e in events if e.kind not in ("device_offline", "hub_offline")]
    for gap in await connection.fetch(q.WATCHDOG_GAPS, resident.resident_id, config.alerts_run, start, end):
        stop = gap["cleared_at"] or gap["closed_at"] or end
        # A silence alert can stay open long after the hub spoke again (until an operator closes it, or
        # when a replay never clears it): the first event heard after it was raised ends the gap.
        heard = bisect.bisect_right(heard_at, gap["raised_at"])
        if heard < len(heard_at):
            stop = min(stop, heard_at[heard])
        outages.append(Outage(None if gap["condition"] != "device_offline" else gap["device_id"],
                              gap["raised_at"], stop))
    alert_rows = await connection.fetch(q.NIGHT_ALERTS, resident.resident_id, config.alerts_run, start, end)
    alerts = [
        NightAlert(
            r["condition"], r["category"] or "other", r["raised_at"],
            response_seconds(raised_at=r["raised_at"], first_action_at=r["first_action_at"]),
            bool(r["attended"]) or (r["outcome"] in ATTENDED_OUTCOMES),
            r["began_at"],
        )
        for r in alert_rows
    ]
    return [
        summarise_night(resident=resident, night_of=night_of, events=events, times=times, devices=devices,
                        outages=outages, alerts=alerts, config=config)
        for night_of in nights
    ]


async def store_nights(*, connection: asyncpg.Connection, nights: list[NightSummary]) -> int:
    """Upsert the nights into `nightly_summary`; returns how many were written."""
    await connection.executemany(q.UPSERT_SUMMARY, [
        (n.resident_id, n.night_of, n.window_start, n.window_end, n.status, n.unknown_reason, n.method,
         n.coverage, json.dumps(n.coverage_detail), n.sleep_onset, n.wake, n.time_in_bed_min, n.bed_exits,
         n.minutes_out_of_bed, n.bathroom_visits, n.door_exits, n.minutes_out, n.alerts_total,
         json.dumps(n.alerts_by_type), n.responses, list(n.response_s), n.attendances, n.alerts_run)
        for n in nights
    ])
    return len(nights)


def summary_from_row(row: asyncpg.Record) -> NightSummary:
    """A NightSummary from a stored `nightly_summary` row."""
    return NightSummary(
        resident_id=row["resident_id"], night_of=row["night_of"], window_start=row["window_start"],
        window_end=row["window_end"], status=row["status"], unknown_reason=row["unknown_reason"],
        method=row["method"], coverage=row["coverage"], coverage_detail=json.loads(row["coverage_detail"]),
        sleep_onset=row["sleep_onset"], wake=row["wake"], time_in_bed_min=row["time_in_bed_min"],
        bed_exits=row["bed_exits"], minutes_out_of_bed=row["minutes_out_of_bed"],
        bathroom_visits=row["bathroom_visits"], door_exits=row["door_exits"], minutes_out=row["minutes_out"],
        alerts_total=row["alerts_total"], alerts_by_type=json.loads(row["alerts_by_type"]),
        responses=row["responses"], response_s=tuple(row["response_s"]), attendances=row["attendances"],
        alerts_run=row["alerts_run"],
    )


async def ensure_nights(
    *, connection: asyncpg.Connection, resident: Resident, first: date, last: date, config: EvidenceConfig,
) -> list[NightSummary]:
    """Stored nights for the range, computing and storing any that are missing or were read too early."""
    fresh = {row["night_of"] for row in await connection.fetch(
        q.FRESH_NIGHTS, resident.resident_id, first, last, config.alerts_run, config.night.tail_hours)}
    missing = [night for night in nights_between(first=first, last=last) if night not in fresh]
    if missing:
        computed = await compute_nights(connection=connection, resident=resident, first=missing[0],
                                        last=missing[-1], config=config)
        wanted = set(missing)
        await store_nights(connection=connection, nights=[n for n in computed if n.night_of in wanted])
        log.debug("computed %d nights for %s", len(missing), resident.resident_id)
    rows = await connection.fetch(q.SUMMARIES, resident.resident_id, first, last)
    return [summary_from_row(row) for row in rows]
