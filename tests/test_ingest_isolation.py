"""One message can never stop the ingest: isolation, per-topic limits, strict types (issue 13)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from ingest.adapters import z2m_fields
from telecare.local_broker import LocalBroker
from telecare.settings import Settings
from tests.support import drop_session, ingest_running, json_bytes, provision, publish_all, wait_until


def _nested(depth: int) -> bytes:
    """The hostile state from the issue: {"a":{"a":...1}} nested `depth` levels."""
    return b'{"a":' * depth + b"1" + b"}" * depth


async def _letter(db: asyncpg.Connection, topic: str) -> asyncpg.Record | None:
    return await db.fetchrow("SELECT reason, detail, occurrences FROM dead_letters WHERE topic = $1", topic)


async def _door_events(db: asyncpg.Connection, hub: str) -> int:
    return int(await db.fetchval("SELECT count(*) FROM events WHERE hub_id = $1 AND kind LIKE 'door_%'", hub))


async def test_a_state_nested_500_deep_is_dead_lettered_once_and_never_redelivered(
    db: asyncpg.Connection, broker: LocalBroker, settings: Settings, unique: str
) -> None:
    """Regression: this message used to fail the batch in orjson.dumps, end the process and, never
    acknowledged, come back on every restart (a crash loop for every home)."""
    hub = f"hub-{unique}"
    await provision(db=db, org_id=f"org-{unique}", resident_id=f"res-{unique}", hub_id=hub, devices=[
        {"friendly_name": "pir", "type": "pir", "location": "hallway"},
        {"friendly_name": "door", "type": "door", "location": "front_door"}])
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)

    def door(index: int) -> tuple[str, bytes]:
        return (f"z2m/{hub}/door", json_bytes({"contact": index % 2 == 1,
                                               "last_seen": (start + timedelta(seconds=index)).isoformat()}))

    try:
        async with ingest_running(settings) as task:
            publish_all(url_port=broker.port, messages=[door(0), (f"z2m/{hub}/pir", _nested(500)), door(1)])
            await wait_until(lambda: _has_letter_and_doors(db, f"z2m/{hub}/pir", hub, 2),
                             what="the deep state dead-lettered and both door events stored")
            letter = await _letter(db, f"z2m/{hub}/pir")
            assert letter is not None and letter["reason"] == "invalid_payload"
            assert "nested deeper" in letter["detail"]
            assert not task.done()
        # Restarted on the same persistent session: the message was acknowledged, so it is not seen
        # again (a redelivery would count up its occurrences before the door event after it is stored).
        async with ingest_running(settings) as task:
            publish_all(url_port=broker.port, messages=[door(2)])
            await wait_until(lambda: _door_count_is(db, hub, 3), what="the door event after the restart")
            letter = await _letter(db, f"z2m/{hub}/pir")
            assert letter is not None and letter["occurrences"] == 1
            assert not task.done()
    finally:
        drop_session(url_port=broker.port, client_id=settings.mqtt_client_id)


async def _has_letter_and_doors(db: asyncpg.Connection, topic: str, hub: str, doors: int) -> bool:
    return await _letter(db, topic) is not None and await _door_events(db, hub) == doors


async def _door_count_is(db: asyncpg.Connection, hub: str, doors: int) -> bool:
    return await _door_events(db, hub) == doors


async def test_rows_that_cannot_be_stored_cost_one_message_not_the_worker(
    db: asyncpg.Connection, broker: LocalBroker, running_ingest: Settings, unique: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Fault injection: with the depth check lifted, the deep state reaches the store, whose encoder
    refuses it; the batch is stored one by one and only that message is dead-lettered."""
    monkeypatch.setattr(z2m_fields, "MAX_STATE_DEPTH", 10_000)
    hub = f"hub-{unique}"
    await provision(db=db, org_id=f"org-{unique}", resident_id=f"res-{unique}", hub_id=hub, devices=[
        {"friendly_name": "pir", "type": "pir", "location": "hallway"},
        {"friendly_name": "door", "type": "door", "location": "front_door"}])
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    doors = [(f"z2m/{hub}/door", json_bytes({"contact": index % 2 == 1,
                                             "last_seen": (start + timedelta(seconds=index)).isoformat()}))
             for index in range(4)]
    before = (f"z2m/{hub}/pir", json_bytes({"occupancy": True, "battery": 90}))
    publish_all(url_port=broker.port, messages=[before])
    await wait_until(lambda: _kept_state_has(db, f"{hub}:pir", "battery"), what="the PIR's first state kept")
    publish_all(url_port=broker.port, messages=[*doors[:2], (f"z2m/{hub}/pir", _nested(500)), *doors[2:]])
    await wait_until(lambda: _has_letter_and_doors(db, f"z2m/{hub}/pir", hub, 4),
                     what="the unstorable state dead-lettered and the four door events stored")
    letter = await _letter(db, f"z2m/{hub}/pir")
    assert letter is not None and letter["reason"] == "unstorable"
    assert "could not be encoded" in letter["detail"]
    # The device's kept state is the last one stored, not the refused one.
    assert await _kept_state_has(db, f"{hub}:pir", "battery")
    assert not await _kept_state_has(db, f"{hub}:pir", "a")


async def _kept_state_has(db: asyncpg.Connection, device_id: str, key: str) -> bool:
    return bool(await db.fetchval("SELECT last_state ? $2 FROM devices WHERE device_id = $1", device_id, key))


def _exposes(*, properties: list[str]) -> list[dict[str, Any]]:
    """Z2M `exposes` as a real device list carries them: a feature per property, with descriptions."""
    return [{"type": "binary", "name": name, "property": name, "access": 1, "value_on": True, "value_off": False,
             "description": f"Indicates whether the device detected {name} " + "(see the vendor manual) " * 12,
             "label": name.replace("_", " ").title()} for name in properties] + [
        {"type": "numeric", "name": f"setting_{index}", "property": f"setting_{index}", "access": 7,
         "value_min": 0, "value_max": 255, "unit": "s", "label": f"Setting {index}",
         "description": "A configuration parameter of the device " + "with a long explanation " * 15}
        for index in range(40)]


def _device_entry(*, name: str, ieee: str, model: str, properties: list[str]) -> dict[str, Any]:
    return {"friendly_name": name, "ieee_address": ieee, "type": "EndDevice", "power_source": "Battery",
            "supported": True, "interview_completed": True,
            "definition": {"model": model, "vendor": "Vendor", "description": "A sensor",
                           "exposes": _exposes(properties=properties), "options": []}}


async def test_a_real_size_device_list_registers_and_a_list_with_a_name_twice_is_refused(
    db: asyncpg.Connection, broker: LocalBroker, running_ingest: Settings, unique: str
) -> None:
    hub = f"hub-{unique}"
    await provision(db=db, org_id=f"org-{unique}", resident_id=f"res-{unique}", hub_id=hub, devices=[])
    kinds = [("RTCGQ11LM", ["occupancy", "battery_low"]), ("MCCGQ11LM", ["contact", "battery_low"]),
             ("HS1SA", ["smoke", "test"]), ("SJCGQ11LM", ["water_leak"]), ("TS0215A_sos", ["action"]),
             ("SPM915", ["occupancy"]), ("WSDCGQ11LM", ["temperature"]), ("ZNCZ02LM", ["power"])]
    listed = [{"friendly_name": "Coordinator", "ieee_address": "0x00", "type": "Coordinator"}] + [
        _device_entry(name=f"sensor {index}", ieee=f"0x00158d00000{index:05d}", model=model, properties=props)
        for index, (model, props) in enumerate(kinds * 3)]
    payload = json_bytes(listed)
    assert len(payload) > 200_000, "a device list of an ordinary flat with exposes is hundreds of kB"
    duplicate = json_bytes([*listed[:3], {**listed[5], "ieee_address": "0xdddd"}, {**listed[3],
                                                                                  "friendly_name": "sensor 4"}])
    publish_all(url_port=broker.port, messages=[(f"z2m/{hub}/bridge/devices", duplicate),
                                                (f"z2m/{hub}/bridge/devices", payload)])

    async def registered() -> bool:
        return int(await db.fetchval("SELECT count(*) FROM devices WHERE hub_id = $1", hub)) == len(kinds) * 3

    await wait_until(registered, what="every device of the large list registered")
    letter = await db.fetchrow("SELECT reason, detail, length(payload) AS size FROM dead_letters WHERE topic = $1",
                               f"z2m/{hub}/bridge/devices")
    assert letter is not None and letter["reason"] == "invalid_payload"
    assert "'sensor 4' twice" in letter["detail"] and letter["size"] == len(duplicate)


async def test_canonical_numbers_and_types_are_strict(
    db: asyncpg.Connection, broker: LocalBroker, running_ingest: Settings, unique: str
) -> None:
    hub = f"chub-{unique}"
    await provision(db=db, org_id=f"org-{unique}", resident_id=f"res-{unique}", hub_id=hub, devices=[],
                    protocol="canonical")
    now = datetime.now(UTC).replace(microsecond=0)
    good = {"schema": "telecare.event/1", "time": now.isoformat(), "kind": "temperature", "value": 21.5,
            "device": {"id": "thermo", "type": "temperature", "location": "bedroom"}}
    not_json = {
        "NaN": json_bytes({**good, "event_id": "nan"}).replace(b"21.5", b"NaN"),
        "Infinity": json_bytes({**good, "event_id": "inf"}).replace(b"21.5", b"-Infinity"),
        "1e999": json_bytes({**good, "event_id": "big"}).replace(b"21.5", b"1e999"),
    }
    refused: dict[str, bytes] = {
        **not_json,
        "true as value": json_bytes({**good, "event_id": "bool", "value": True}),
        "text as value": json_bytes({**good, "event_id": "text", "value": "21.5"}),
        "text battery": json_bytes({**good, "event_id": "battery", "battery": "87"}),
        "epoch ms as text": json_bytes({**good, "event_id": "epoch", "time": str(int(now.timestamp() * 1000))}),
        "epoch s as text": json_bytes({**good, "event_id": "epoch-s", "time": str(int(now.timestamp()))}),
        "float epoch": json_bytes({**good, "event_id": "float", "time": now.timestamp() * 1000 + 0.5}),
    }
    topic = f"telecare/v1/{hub}/events"
    accepted = [json_bytes({**good, "event_id": "ok-iso"}),
                json_bytes({**good, "event_id": "ok-ms", "value": 22, "time": int(now.timestamp() * 1000) - 60_000})]
    publish_all(url_port=broker.port, messages=[(topic, payload) for payload in [*refused.values(), *accepted]])

    async def settled() -> bool:
        letters = int(await db.fetchval("SELECT count(*) FROM dead_letters WHERE topic = $1", topic))
        stored = int(await db.fetchval("SELECT count(*) FROM events WHERE hub_id = $1", hub))
        return letters == len(refused) and stored == len(accepted)

    await wait_until(settled, what="every non-strict event dead-lettered and the two good ones stored")
    reasons = {bytes(row["payload"]): row["reason"] for row in await db.fetch(
        "SELECT payload, reason FROM dead_letters WHERE topic = $1", topic)}
    assert {what: reasons.get(payload) for what, payload in refused.items()} == {
        what: "invalid_json" if what in not_json else "invalid_payload" for what in refused}
    values = [row["value"] for row in await db.fetch("SELECT value FROM events WHERE hub_id = $1 ORDER BY value",
                                                     hub)]
    assert values == [21.5, 22.0]
