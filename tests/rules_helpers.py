"""Helpers for the rules tests: a provisioned flat, stored events, and one engine step."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from rules.clock import ManualClock
from rules.engine import RulesEngine
from rules.stream import StreamFollower
from telecare.site import SiteFile, provision_site

DEVICES = [
    ("pendant", "personal_trigger", "bedroom"),
    ("bed", "bed_sensor", "bedroom"),
    ("front", "door", "front_door"),
    ("hall", "pir", "hallway"),
    ("bath", "pir", "bathroom"),
    ("bedpir", "pir", "bedroom"),
    ("smoke", "smoke", "kitchen"),
    ("temp", "temperature", "living_room"),
]


async def provision_flat(*, db: asyncpg.Connection, unique: str, tz: str = "UTC") -> tuple[str, str]:
    """One organisation, one resident, one hub with a typical set of devices; returns (resident, hub)."""
    resident, hub = f"r-{unique}", f"h-{unique}"
    site = SiteFile.model_validate({
        "organisation": {"id": f"o-{unique}", "name": "Test org"},
        "residents": [{"id": resident, "name": "Test resident", "timezone": tz,
                       "night_window": {"start": "22:00", "end": "07:00"},
                       "hubs": [{"id": hub, "devices": [
                           {"friendly_name": n, "type": t, "location": loc} for n, t, loc in DEVICES]}]}],
    })
    await provision_site(connection=db, site=site)
    return resident, hub


async def store_event(*, db: asyncpg.Connection, unique: str, device: str, kind: str, at: datetime,
                      restore: bool = False, value: float | None = None) -> int:
    """Insert one event row as ingest would; returns its ingest_seq."""
    device_type, location = {n: (t, loc) for n, t, loc in DEVICES}[device]
    seq: int = await db.fetchval(
        "INSERT INTO events (time, event_key, received_at, org_id, resident_id, hub_id, device_id, device_type,"
        " location, kind, is_restore, value, source) VALUES ($1,$2,$1,$3,$4,$5,$6,$7,$8,$9,$10,$11,'canonical')"
        " RETURNING ingest_seq",
        at, uuid.uuid4(), f"o-{unique}", f"r-{unique}", f"h-{unique}", f"h-{unique}:{device}", device_type,
        location, kind, restore, value,
    )
    return seq


async def step(*, db: asyncpg.Connection, engine: RulesEngine, follower: StreamFollower, now: datetime) -> None:
    """Consume the stream, then tick the clock to `now` (what the live loop does)."""
    assert isinstance(engine.clock, ManualClock)
    engine.clock.advance_to(moment=now)
    while (await follower.step(connection=db, engine=engine))[0]:
        pass
    async with db.transaction():
        await engine.tick(connection=db, now=now)


async def alerts_for(*, db: asyncpg.Connection, resident: str, run: str) -> list[asyncpg.Record]:
    """The resident's alerts in a run, oldest first."""
    return await db.fetch("SELECT * FROM alerts WHERE resident_id = $1 AND run = $2 ORDER BY alert_id", resident, run)
