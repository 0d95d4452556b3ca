"""Helpers for the rules tests: a provisioned flat, stored events, and one engine step."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta

import asyncpg

from rules.clock import ManualClock
from rules.engine import RulesEngine
from rules.replay import ReplaySummary, replay_history
from rules.replay_operator import SimulatedOperator
from rules.stream import StreamFollower
from telecare.site import SiteFile, hub_device_id, provision_site

DEVICES = [
    ("pendant", "personal_trigger", "bedroom"),
    ("bed", "bed_sensor", "bedroom"),
    ("front", "door", "front_door"),
    ("hall", "pir", "hallway"),
    ("bath", "pir", "bathroom"),
    ("bedpir", "pir", "bedroom"),
    ("smoke", "smoke", "kitchen"),
    ("temp", "temperature", "living_room"),
    ("living", "pir", "living_room"),
    ("kettle", "plug", "kitchen"),
]


async def provision_flat(*, db: asyncpg.Connection, unique: str, tz: str = "UTC", without: frozenset[str] = frozenset(),
                         care_plan: dict[str, object] | None = None) -> tuple[str, str]:
    """One organisation, one resident, one hub with a typical set of devices; returns (resident, hub).

    `without` leaves devices out (a flat with no bed sensor); `care_plan` is written in the site file.
    """
    resident, hub = f"r-{unique}", f"h-{unique}"
    site = SiteFile.model_validate({
        "organisation": {"id": f"o-{unique}", "name": "Test org"},
        "residents": [{"id": resident, "name": "Test resident", "timezone": tz,
                       "night_window": {"start": "22:00", "end": "07:00"},
                       **({"care_plan": care_plan} if care_plan is not None else {}),
                       "hubs": [{"id": hub, "devices": [
                           {"friendly_name": n, "type": t, "location": loc} for n, t, loc in DEVICES
                           if n not in without]}]}],
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


async def store_hub_offline(*, db: asyncpg.Connection, unique: str, at: datetime, restore: bool = False) -> None:
    """Insert the hub's own offline report (or, with `restore`, its coming back) as ingest stores it."""
    await db.execute(
        "INSERT INTO events (time, event_key, received_at, org_id, resident_id, hub_id, device_id, device_type,"
        " location, kind, is_restore, source) VALUES ($1, $2, $1, $3, $4, $5, $6, 'hub', 'other', 'hub_offline',"
        " $7, 'z2m')",
        at, uuid.uuid4(), f"o-{unique}", f"r-{unique}", f"h-{unique}", hub_device_id(hub_id=f"h-{unique}"), restore,
    )


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


async def store_nights(*, db: asyncpg.Connection, unique: str, first: date, nights: int, bedtime: time, rise: time,
                       jitter_min: int = 10) -> None:
    """Ordinary days and nights (about at noon and six, in bed at `bedtime`, up at `rise`), a few minutes apart."""
    for index in range(nights):
        wobble = timedelta(minutes=(index * 7) % (2 * jitter_min + 1) - jitter_min)
        evening = first + timedelta(days=index)
        bed_day = evening if bedtime >= time(12) else evening + timedelta(days=1)
        went = datetime.combine(bed_day, bedtime, tzinfo=UTC) + wobble
        got_up = datetime.combine(evening + timedelta(days=1), rise, tzinfo=UTC) - wobble
        for hour in (12, 18):  # about during the day, so no inactivity rule fires
            await store_event(db=db, unique=unique, device="living", kind="motion",
                              at=datetime.combine(evening, time(hour), tzinfo=UTC) + wobble)
        await store_event(db=db, unique=unique, device="bed", kind="bed_occupied", at=went)
        await store_event(db=db, unique=unique, device="bed", kind="bed_vacated", at=got_up)
        await store_event(db=db, unique=unique, device="hall", kind="motion", at=got_up + timedelta(minutes=1))


async def store_moving_about(*, db: asyncpg.Connection, unique: str, start: datetime, minutes: int,
                             device: str = "living") -> None:
    """Motion in one room every ten minutes from `start` for `minutes`."""
    for minute in range(0, minutes + 1, 10):
        await store_event(db=db, unique=unique, device=device, kind="motion", at=start + timedelta(minutes=minute))


async def replay(*, db: asyncpg.Connection, resident: str, since: datetime, until: datetime, run: str,
                 operator: SimulatedOperator | None = None) -> ReplaySummary:
    """Replay one resident's stored events on event time (what `telecare rules replay` does)."""
    return await replay_history(connection=db, run=run, since=since, until=until, resident_ids=[resident],
                                operator=operator)
