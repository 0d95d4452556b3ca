"""Hostile and malformed input: every bad message dead-lettered with its reason, every good one stored."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime, timedelta

import asyncpg

from simulators.hostile import hostile_corpus
from telecare.local_broker import LocalBroker
from telecare.settings import Settings
from tests.support import json_bytes, provision, publish_all, wait_until


def _cli(settings: Settings, *args: str) -> dict[str, object] | list[object]:
    env = {**os.environ, "TELECARE_DATABASE_URL": settings.database_url, "TELECARE_MQTT_URL": settings.mqtt_url,
           "TELECARE_DEV_MODE": "true"}
    done = subprocess.run([".venv/bin/telecare", *args], env=env, capture_output=True, text=True, timeout=60,
                          check=True)
    result: dict[str, object] | list[object] = json.loads(done.stdout)
    return result


async def test_hostile_corpus_is_dead_lettered_and_good_data_kept(
    db: asyncpg.Connection, broker: LocalBroker, running_ingest: Settings, unique: str
) -> None:
    z2m_hub, canonical_hub = f"hub-{unique}", f"chub-{unique}"
    await provision(db=db, org_id=f"org-{unique}", resident_id=f"res-{unique}", hub_id=z2m_hub, devices=[
        {"friendly_name": "hall/pir", "type": "pir", "location": "hallway"},
        {"friendly_name": "door", "type": "door", "location": "front_door"},
    ])
    await provision(db=db, org_id=f"org-{unique}", resident_id=f"res2-{unique}", hub_id=canonical_hub,
                    devices=[], protocol="canonical")
    corpus = hostile_corpus(z2m_hub=z2m_hub, canonical_hub=canonical_hub, pir="hall/pir", door="door")
    assert len(corpus) >= 50
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    messages: list[tuple[str, bytes]] = []
    for index, bad in enumerate(corpus):
        moment = start + timedelta(seconds=10 * index)
        # A good message either side of every bad one: a door edge and a canonical event.
        messages.append((f"z2m/{z2m_hub}/door", json_bytes({"contact": index % 2 == 1, "last_seen":
                                                             moment.isoformat()})))
        messages.append((bad.topic, bad.payload))
        messages.append((f"telecare/v1/{canonical_hub}/events", json_bytes({
            "schema": "telecare.event/1", "event_id": f"good-{index}", "time": moment.isoformat(),
            "device": {"id": "hall-pir", "type": "pir", "location": "hallway"}, "kind": "motion"})))
    publish_all(url_port=broker.port, messages=messages)

    async def all_accounted() -> bool:
        letters = await db.fetchval("SELECT count(*) FROM dead_letters WHERE topic LIKE ANY($1)",
                                    [f"%{z2m_hub}%", f"%{canonical_hub}%", "%no-such-hub%"])
        good = await db.fetchval("SELECT count(*) FROM events WHERE hub_id = ANY($1) AND kind IN"
                                 " ('door_open', 'door_closed', 'motion')", [z2m_hub, canonical_hub])
        return int(letters) >= len(corpus) and int(good) >= 2 * len(corpus)

    await wait_until(all_accounted, timeout_s=30, what="every message stored or dead-lettered")
    stored_reasons = {
        (row["topic"], bytes(row["payload"])): (row["reason"], row["detail"])
        for row in await db.fetch("SELECT topic, payload, reason, detail FROM dead_letters")
    }
    wrong = []
    for bad in corpus:
        key = (bad.topic, bad.payload[: 16_384 * 4])
        reason, detail = stored_reasons.get(key, ("missing", ""))
        if reason != bad.reason:
            wrong.append(f"{bad.what}: expected {bad.reason}, got {reason} ({detail})")
        assert detail and "Traceback" not in detail
    assert not wrong, "\n".join(wrong)
    doors = await db.fetchval("SELECT count(*) FROM events WHERE hub_id = $1 AND kind LIKE 'door_%'", z2m_hub)
    motions = await db.fetchval("SELECT count(*) FROM events WHERE hub_id = $1 AND kind = 'motion'", canonical_hub)
    # The first door message is contact=false (open) and every later one flips it.
    assert (doors, motions) == (len(corpus), len(corpus))

    # Still alive: a message after the storm is stored.
    publish_all(url_port=broker.port, messages=[(f"z2m/{z2m_hub}/hall/pir", json_bytes({"occupancy": True}))])

    async def motion_seen() -> bool:
        return bool(await db.fetchval("SELECT count(*) FROM events WHERE hub_id = $1 AND kind = 'motion'", z2m_hub))

    await wait_until(motion_seen, what="a motion after the hostile corpus")
    stats = _cli(running_ingest, "stats", "--json")
    assert isinstance(stats, dict)
    by_reason = stats["dead_letters_by_reason"]
    assert isinstance(by_reason, dict) and by_reason["invalid_payload"]["pending"] >= 30


async def test_dead_letters_from_an_unregistered_device_are_redriven_after_registration(
    db: asyncpg.Connection, broker: LocalBroker, running_ingest: Settings, unique: str
) -> None:
    hub = f"hub-{unique}"
    await provision(db=db, org_id=f"org-{unique}", resident_id=f"res-{unique}", hub_id=hub, devices=[])
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    topic = f"z2m/{hub}/new bed mat"
    publish_all(url_port=broker.port, messages=[
        (topic, json_bytes({"pressure": True, "last_seen": base.isoformat()})),
        (topic, json_bytes({"pressure": False, "last_seen": (base + timedelta(minutes=5)).isoformat()})),
    ])

    async def two_letters() -> bool:
        return int(await db.fetchval("SELECT count(*) FROM dead_letters WHERE topic = $1 AND status = 'pending'",
                                     topic)) == 2

    await wait_until(two_letters, what="two unknown_device dead letters")
    listed = _cli(running_ingest, "dlq", "list", "--reason", "unknown_device", "--limit", "10000")
    assert isinstance(listed, list) and any(entry["topic"] == topic for entry in listed)

    await provision(db=db, org_id=f"org-{unique}", resident_id=f"res-{unique}", hub_id=hub, devices=[
        {"friendly_name": "new bed mat", "type": "bed_sensor", "location": "bedroom"}])
    ids = [str(row["dead_letter_id"]) for row in await db.fetch(
        "SELECT dead_letter_id FROM dead_letters WHERE topic = $1", topic)]
    result = _cli(running_ingest, "dlq", "redrive", *[arg for i in ids for arg in ("--id", i)])
    assert isinstance(result, dict) and result["redriven"] == 2 and result["events_stored"] == 2
    rows = await db.fetch("SELECT kind, time FROM events WHERE hub_id = $1 ORDER BY time", hub)
    assert [(r["kind"], r["time"]) for r in rows] == [("bed_occupied", base),
                                                       ("bed_vacated", base + timedelta(minutes=5))]
    # Re-driving again finds nothing pending and stores nothing twice.
    again = _cli(running_ingest, "dlq", "redrive", *[arg for i in ids for arg in ("--id", i)])
    assert isinstance(again, dict) and again["examined"] == 0
