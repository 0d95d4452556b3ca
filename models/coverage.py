"""Sensor coverage of a night: which sensors were working for how much of it.

Sources of "not working": availability reports (device offline / hub offline and their restores)
and the rules' watchdog alerts for silent devices, hubs and data gaps. A night whose key sensors
were working for less than `min_coverage` of it is 'unknown' — silence from a dead sensor is never
read as a quiet night.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from models.sleep import Interval

# The sensors each method cannot do without.
KEY_SENSORS: dict[str, tuple[tuple[str, str], ...]] = {
    "bed_sensor": (("bed_sensor", "bedroom"),),
    "pir": (("pir", "bedroom"), ("pir", "hallway")),
}
HUB_SUBJECT = "hub"


@dataclass(frozen=True, slots=True)
class Outage:
    """A device (or the whole hub when `device_id` is None) not reporting from `start` to `end`."""

    device_id: str | None
    start: datetime
    end: datetime


def outages_from_reports(*, reports: list[tuple[datetime, str, str, bool]], until: datetime) -> list[Outage]:
    """Offline spans from (time, kind, device_id, is_restore) availability reports in time order."""
    open_since: dict[str, tuple[datetime, str]] = {}
    found: list[Outage] = []
    for at, kind, device_id, is_restore in reports:
        key = HUB_SUBJECT if kind == "hub_offline" else device_id
        if not is_restore:
            open_since.setdefault(key, (at, device_id))
        elif key in open_since:
            start, _ = open_since.pop(key)
            found.append(Outage(None if key == HUB_SUBJECT else device_id, start, at))
    for key, (start, device_id) in open_since.items():
        found.append(Outage(None if key == HUB_SUBJECT else device_id, start, until))
    return found


def covered_share(*, window: Interval, outages: list[Outage]) -> float:
    """Share of the window not inside any of the outages (overlaps counted once)."""
    spans = sorted((max(o.start, window.start), min(o.end, window.end)) for o in outages
                   if o.end > window.start and o.start < window.end)
    lost = 0.0
    cursor = window.start
    for span_start, end in spans:
        start = max(span_start, cursor)
        if end > start:
            lost += (end - start).total_seconds()
            cursor = end
    total = (window.end - window.start).total_seconds()
    return max(0.0, 1.0 - lost / total) if total > 0 else 0.0


@dataclass(frozen=True, slots=True)
class Coverage:
    """Per-sensor working share of the night and the share for the method's key sensors."""

    share: float
    by_device: dict[str, float]
    hub: float


def night_coverage(*, window: Interval, method: str, devices: dict[str, tuple[str, str]],
                   outages: list[Outage]) -> Coverage:
    """Coverage of one night. `devices` maps device_id to (device_type, location)."""
    hub_outages = [o for o in outages if o.device_id is None]
    hub = covered_share(window=window, outages=hub_outages)
    by_device = {
        device_id: covered_share(window=window, outages=hub_outages + [o for o in outages if o.device_id == device_id])
        for device_id in devices
    }
    keys = KEY_SENSORS.get(method, ())
    shares: list[float] = []
    for wanted in keys:
        matching = [by_device[d] for d, kind in devices.items() if kind == wanted]
        # With two PIRs in the bedroom the better one counts; a missing key sensor counts as nothing.
        shares.append(max(matching) if matching else (0.0 if method == "bed_sensor" else hub))
    share = min(shares) if shares else hub
    return Coverage(share=round(share, 4), by_device={k: round(v, 4) for k, v in by_device.items()},
                    hub=round(hub, 4))
