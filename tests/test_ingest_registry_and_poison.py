"""Device renames and swaps from Zigbee2MQTT, and a message the database refuses amid good ones."""

from __future__ import annotations

import asyncpg

from telecare.local_broker import LocalBroker
from telecare.settings import Settings
from tests.support import json_bytes, provision, publish_all, wait_until


def _device(ieee: str, name: str, model: str) -> dict[str, object]:
    return {"ieee_address": ieee, "friendly_name": name, "type": "EndDevice",
            "definition": {"model": model, "vendor": "Aqara", "exposes": []}}


async def test_swapping_two_device_names_keeps_each_device_its_own_events(
    db: asyncpg.Connection, broker: LocalBroker, running_ingest: Settings, unique: str
) -> None:
    hub = f"hub-{unique}"
    await provision(db=db, org_id=f"org-{unique}", resident_id=f"res-{unique}", hub_id=hub, devices=[])
    p = f"z2m/{hub}"
    publish_all(url_port=broker.port, messages=[
        (f"{p}/bridge/devices", json_bytes([_device("0xa", "kitchen", "RTCGQ11LM"),
                                            _device("0xb", "front door", "MCCGQ11LM")])),
    ])

    async def both_registered() -> bool:
        return int(await db.fetchval("SELECT count(*) FROM devices WHERE hub_id = $1", hub)) == 2

    await wait_until(both_registered, what="two devices registered")
    # The installer swaps the two names in Zigbee2MQTT; state then arrives under the new names.
    publish_all(url_port=broker.port, messages=[
        (f"{p}/bridge/devices", json_bytes([_device("0xa", "front door", "RTCGQ11LM"),
                                            _device("0xb", "kitchen", "MCCGQ11LM")])),
        (f"{p}/front door", json_bytes({"occupancy": True})),
        (f"{p}/kitchen", json_bytes({"contact": False})),
    ])

    async def two_events() -> bool:
        return int(await db.fetchval("SELECT count(*) FROM events WHERE hub_id = $1", hub)) == 2

    await wait_until(two_events, what="a motion and a door opening")
    rows = await db.fetch("SELECT d.ieee_address, d.friendly_name, e.kind FROM events e"
                          " JOIN devices d USING (device_id) WHERE e.hub_id = $1 ORDER BY d.ieee_address", hub)
    assert [(r["ieee_address"], r["friendly_name"], r["kind"]) for r in rows] == [
        ("0xa", "front door", "motion"), ("0xb", "kitchen", "door_open")]
    assert await db.fetchval("SELECT count(*) FROM dead_letters WHERE topic LIKE $1", f"{p}/%") == 0


async def test_a_message_the_database_refuses_is_dead_lettered_and_the_rest_stored(
    db: asyncpg.Connection, broker: LocalBroker, running_ingest: Settings, unique: str
) -> None:
    hub = f"hub-{unique}"
    await provision(db=db, org_id=f"org-{unique}", resident_id=f"res-{unique}", hub_id=hub, devices=[],
                    protocol="canonical")
    # Fault injection in the real database: a trigger that refuses one device's rows.
    await db.execute(f"""
        CREATE OR REPLACE FUNCTION refuse_poison_{unique}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.device_id = '{hub}:poison' THEN RAISE EXCEPTION 'internal-poison-text' USING ERRCODE = '23514'; END IF;
          RETURN NEW;
        END $$""")
    await db.execute(f"CREATE TRIGGER refuse_poison_{unique} BEFORE INSERT ON events FOR EACH ROW"
                     f" EXECUTE FUNCTION refuse_poison_{unique}()")
    try:
        events = [
            {"schema": "telecare.event/1", "event_id": f"e{index}", "time": "2026-11-25T00:00:00Z",
             "device": {"id": "poison" if index == 3 else "pir", "type": "pir"}, "kind": "motion"}
            for index in range(8)
        ]
        for event in events:
            event["time"] = f"{(await db.fetchval('SELECT now()')).isoformat()}"
        publish_all(url_port=broker.port, messages=[(f"telecare/v1/{hub}/events", json_bytes(e)) for e in events])

        async def settled() -> bool:
            stored = await db.fetchval("SELECT count(*) FROM events WHERE hub_id = $1", hub)
            letters = await db.fetchval("SELECT count(*) FROM dead_letters WHERE topic = $1"
                                        " AND reason = 'unstorable'", f"telecare/v1/{hub}/events")
            return int(stored) == 7 and int(letters) == 1

        await wait_until(settled, what="seven events stored and one unstorable dead letter")
        detail = await db.fetchval("SELECT detail FROM dead_letters WHERE reason = 'unstorable' AND topic = $1",
                                   f"telecare/v1/{hub}/events")
        assert "23514" in detail and "internal-poison-text" not in detail  # the SQLSTATE, never the database's text
        # The worker carries on after the refusal.
        publish_all(url_port=broker.port, messages=[(f"telecare/v1/{hub}/events", json_bytes(
            {**events[0], "event_id": "after", "time": (await db.fetchval("SELECT now()")).isoformat()}))])

        async def eight() -> bool:
            return int(await db.fetchval("SELECT count(*) FROM events WHERE hub_id = $1", hub)) == 8

        await wait_until(eight, what="the event after the refusal")
    finally:
        await db.execute(f"DROP TRIGGER refuse_poison_{unique} ON events")
