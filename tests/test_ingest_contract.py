"""The rest of the MQTT contract: registry, availability, bridge state, alarms, canonical events, redelivery."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg

from telecare.local_broker import LocalBroker
from telecare.settings import Settings
from tests.support import json_bytes, provision, publish_all, wait_until


async def _rows(db: asyncpg.Connection, hub_id: str) -> list[asyncpg.Record]:
    return await db.fetch(
        "SELECT device_id, kind, is_restore, value, time, time_from_arrival, source FROM events"
        " WHERE hub_id = $1 AND kind <> 'battery' ORDER BY ingest_seq", hub_id
    )


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def test_bridge_devices_registers_names_with_slashes_and_availability(
    db: asyncpg.Connection, broker: LocalBroker, running_ingest: Settings, unique: str
) -> None:
    hub = f"hub-{unique}"
    await provision(db=db, org_id=f"org-{unique}", resident_id=f"res-{unique}", hub_id=hub, devices=[])
    devices = [
        {"ieee_address": "0x00158d0001", "friendly_name": "Coordinator", "type": "Coordinator"},
        {"ieee_address": "0x00158d0002", "friendly_name": "flat 3/kitchen/motion", "type": "EndDevice",
         "power_source": "Battery", "definition": {"model": "RTCGQ11LM", "vendor": "Aqara", "exposes": []}},
        {"ieee_address": "0x00158d0003", "friendly_name": "flat 3/sos", "type": "EndDevice",
         "definition": {"model": "TS0215A_sos", "vendor": "Tuya", "exposes": []}},
        {"ieee_address": "0x00158d0004", "friendly_name": "mystery", "type": "EndDevice",
         "definition": {"model": "XYZ", "vendor": "Acme", "exposes": [{"type": "binary", "property": "water_leak"}]}},
    ]
    prefix = f"z2m/{hub}"
    publish_all(url_port=broker.port, messages=[
        (f"{prefix}/bridge/state", json_bytes({"state": "online"})),
        (f"{prefix}/bridge/devices", json_bytes(devices)),
        (f"{prefix}/flat 3/kitchen/motion", json_bytes({"occupancy": True, "battery": 97})),
        (f"{prefix}/flat 3/kitchen/motion/availability", json_bytes({"state": "offline"})),
        (f"{prefix}/flat 3/kitchen/motion/availability", b"online"),  # Z2M 1.x plain payload
        (f"{prefix}/flat 3/sos", json_bytes({"action": None, "battery": 100})),
        (f"{prefix}/flat 3/sos", json_bytes({"action": "", "battery": 100})),
        (f"{prefix}/flat 3/sos", json_bytes({"action": "emergency", "battery": 100})),
        (f"{prefix}/mystery", json_bytes({"water_leak": True, "battery_low": False})),
        (f"{prefix}/mystery", json_bytes({"water_leak": False, "battery_low": True})),
        (f"{prefix}/bridge/state", json_bytes({"state": "offline"})),
        (f"{prefix}/bridge/state", b"online"),
        (f"{prefix}/bridge/info", json_bytes({"version": "2.1.0"})),
        (f"{prefix}/flat 3/sos/set", json_bytes({"state": "ON"})),
    ])
    await wait_until(lambda: _count_at_least(db, hub, 9), what="nine events")
    rows = await _rows(db, hub)
    summary = [(row["device_id"].removeprefix(f"{hub}:"), row["kind"], row["is_restore"]) for row in rows]
    assert summary == [
        ("flat 3/kitchen/motion", "motion", False),
        ("flat 3/kitchen/motion", "device_offline", False),
        ("flat 3/kitchen/motion", "device_offline", True),
        ("flat 3/sos", "personal_trigger", False),
        ("mystery", "flood", False),
        ("mystery", "flood", True),
        ("mystery", "battery_low", False),
        ("$hub", "hub_offline", False),
        ("$hub", "hub_offline", True),
    ]
    registered = await db.fetch("SELECT friendly_name, device_type, model FROM devices WHERE hub_id = $1"
                                " ORDER BY friendly_name", hub)
    assert [(r["friendly_name"], r["device_type"]) for r in registered] == [
        ("flat 3/kitchen/motion", "pir"), ("flat 3/sos", "personal_trigger"), ("mystery", "flood"),
    ]
    assert await db.fetchval("SELECT count(*) FROM dead_letters WHERE topic LIKE $1", f"{prefix}/%") == 0


async def _count_at_least(db: asyncpg.Connection, hub: str, at_least: int) -> bool:
    count = await db.fetchval("SELECT count(*) FROM events WHERE hub_id = $1 AND kind <> 'battery'", hub)
    return int(count) >= at_least


async def test_smoke_test_is_not_a_fire_and_alarms_restore(db: asyncpg.Connection, broker: LocalBroker,
                                                           running_ingest: Settings, unique: str) -> None:
    hub = f"hub-{unique}"
    await provision(db=db, org_id=f"org-{unique}", resident_id=f"res-{unique}", hub_id=hub, devices=[
        {"friendly_name": "smoke", "type": "smoke", "location": "hallway"},
        {"friendly_name": "co", "type": "co", "location": "kitchen"},
        {"friendly_name": "fall", "type": "fall_detector", "location": "bathroom"},
        {"friendly_name": "temp", "type": "temperature", "location": "living_room"},
    ])
    p = f"z2m/{hub}"
    publish_all(url_port=broker.port, messages=[
        (f"{p}/smoke", json_bytes({"smoke": True, "test": True, "battery_low": False, "tamper": False})),
        (f"{p}/smoke", json_bytes({"smoke": False, "test": False, "battery_low": False, "tamper": False})),
        (f"{p}/smoke", json_bytes({"smoke": True, "test": False, "battery_low": False, "tamper": True})),
        (f"{p}/smoke", json_bytes({"smoke": False, "test": False, "battery_low": False, "tamper": False})),
        (f"{p}/co", json_bytes({"carbon_monoxide": True})),
        (f"{p}/co", json_bytes({"carbon_monoxide": False})),
        (f"{p}/fall", json_bytes({"fall_down_status": "fall"})),
        (f"{p}/fall", json_bytes({"fall_down_status": "normal"})),
        (f"{p}/temp", json_bytes({"temperature": 19.0, "humidity": 50})),
        (f"{p}/temp", json_bytes({"temperature": 19.2, "humidity": 50})),  # under 0.5 degC: no event
        (f"{p}/temp", json_bytes({"temperature": 14.2, "humidity": 55})),
    ])
    await wait_until(lambda: _count_at_least(db, hub, 11), what="eleven events")
    kinds = [(row["kind"], row["is_restore"], row["value"]) for row in await _rows(db, hub)]
    assert kinds == [
        ("smoke_test", False, None),
        ("smoke", False, None), ("tamper", False, None),
        ("smoke", True, None), ("tamper", True, None),
        ("co", False, None), ("co", True, None),
        ("fall", False, None), ("fall", True, None),
        ("temperature", False, 19.0), ("temperature", False, 14.2),
    ]


async def test_canonical_events_are_stored_once_however_often_delivered(
    db: asyncpg.Connection, broker: LocalBroker, running_ingest: Settings, unique: str
) -> None:
    hub = f"hub-{unique}"
    await provision(db=db, org_id=f"org-{unique}", resident_id=f"res-{unique}", hub_id=hub, devices=[],
                    protocol="canonical")
    when = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    trigger = {"schema": "telecare.event/1", "event_id": "seq-1", "time": _iso(when),
               "device": {"id": "pendant-1", "type": "personal_trigger", "location": "bedroom"},
               "kind": "personal_trigger", "battery": 88}
    restore = {**trigger, "event_id": "seq-2", "time": int((when + timedelta(seconds=30)).timestamp() * 1000),
               "restore": True}
    before = await db.fetchval("SELECT value FROM ingest_counters WHERE name = 'duplicates_dropped'")
    topic = f"telecare/v1/{hub}/events"
    publish_all(url_port=broker.port, messages=[(topic, json_bytes(trigger)), (topic, json_bytes(restore)),
                                                (topic, json_bytes(trigger)), (f"telecare/v1/{hub}/status",
                                                json_bytes({"state": "online", "mains": False}))])
    publish_all(url_port=broker.port, messages=[(topic, json_bytes(trigger)), (topic, json_bytes(restore))])
    await wait_until(lambda: _duplicates_grew(db, before, 3), what="three duplicates counted")
    rows = await _rows(db, hub)
    assert [(r["kind"], r["is_restore"], r["time"]) for r in rows if r["kind"] == "personal_trigger"] == [
        ("personal_trigger", False, when), ("personal_trigger", True, when + timedelta(seconds=30))]
    assert [(r["kind"], r["is_restore"]) for r in rows if r["kind"] == "mains_fail"] == [("mains_fail", False)]
    battery = await db.fetchval("SELECT battery FROM devices WHERE device_id = $1", f"{hub}:pendant-1")
    assert battery == 88


async def _duplicates_grew(db: asyncpg.Connection, before: int, by: int) -> bool:
    now = await db.fetchval("SELECT value FROM ingest_counters WHERE name = 'duplicates_dropped'")
    return int(now) - int(before) >= by
