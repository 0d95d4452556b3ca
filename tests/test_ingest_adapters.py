"""Zigbee2MQTT and canonical messages through a real broker into the events hypertable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg

from telecare.local_broker import LocalBroker
from telecare.settings import Settings
from tests.support import json_bytes, provision, publish_all, wait_until


async def _kinds(db: asyncpg.Connection, hub_id: str) -> list[tuple[str, str, bool]]:
    rows = await db.fetch(
        "SELECT device_id, kind, is_restore FROM events WHERE hub_id = $1 ORDER BY time, kind", hub_id
    )
    return [(row["device_id"].split(":", 1)[1], row["kind"], row["is_restore"]) for row in rows]


async def _event_count(db: asyncpg.Connection, hub_id: str) -> int:
    return int(await db.fetchval("SELECT count(*) FROM events WHERE hub_id = $1", hub_id))


async def test_z2m_state_changes_become_events_once(db: asyncpg.Connection, broker: LocalBroker,
                                                    running_ingest: Settings, unique: str) -> None:
    hub = f"hub-{unique}"
    await provision(db=db, org_id=f"org-{unique}", resident_id=f"res-{unique}", hub_id=hub, devices=[
        {"friendly_name": "bedroom/pir", "type": "pir", "location": "bedroom"},
        {"friendly_name": "front door", "type": "door", "location": "front_door"},
        {"friendly_name": "bed", "type": "bed_sensor", "location": "bedroom"},
    ])
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)

    def at(seconds: int) -> str:
        return (base + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")

    prefix = f"z2m/{hub}"
    publish_all(url_port=broker.port, messages=[
        (f"{prefix}/bed", json_bytes({"pressure": True, "battery": 90, "last_seen": at(0)})),
        (f"{prefix}/bed", json_bytes({"pressure": False, "battery": 90, "last_seen": at(60)})),
        (f"{prefix}/bedroom/pir", json_bytes({"occupancy": True, "illuminance": 3, "battery": 100,
                                              "voltage": 3025, "last_seen": at(61)})),
        # The whole cached state again (a battery report): not a second motion.
        (f"{prefix}/bedroom/pir", json_bytes({"occupancy": True, "illuminance": 3, "battery": 100,
                                              "voltage": 3025, "last_seen": at(70)})),
        (f"{prefix}/bedroom/pir", json_bytes({"occupancy": False, "battery": 100, "last_seen": at(151)})),
        # contact false = open, true = closed.
        (f"{prefix}/front door", json_bytes({"contact": False, "battery": 80, "last_seen": at(200)})),
        (f"{prefix}/front door", json_bytes({"contact": True, "battery": 80, "last_seen": at(230)})),
        (f"{prefix}/bed", json_bytes({"pressure": True, "battery": 90, "last_seen": at(300)})),
    ])
    # 6 activity events + one battery reading per device.
    await wait_until(lambda: _event_count_is(db, hub, 9), what="nine events")
    rows = await db.fetch("SELECT kind, time, resident_id, location FROM events WHERE hub_id = $1 ORDER BY time",
                          hub)
    motion = [row for row in rows if row["kind"] == "motion"]
    assert len(motion) == 1 and motion[0]["time"] == base + timedelta(seconds=61)
    assert motion[0]["resident_id"] == f"res-{unique}" and motion[0]["location"] == "bedroom"
    kinds = [row["kind"] for row in rows if row["kind"] != "battery"]
    assert kinds == ["bed_occupied", "bed_vacated", "motion", "door_open", "door_closed", "bed_occupied"]
    device = await db.fetchrow("SELECT battery, last_seen FROM devices WHERE device_id = $1", f"{hub}:front door")
    assert device is not None and device["battery"] == 80 and device["last_seen"] is not None


async def _event_count_is(db: asyncpg.Connection, hub: str, at_least: int) -> bool:
    return await _event_count(db, hub) >= at_least
