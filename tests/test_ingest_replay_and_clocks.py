"""Bridge restarts that replay cached state, device clocks that are wrong, and the metrics endpoint."""

from __future__ import annotations

import asyncio
import urllib.request
from datetime import UTC, datetime, timedelta

import asyncpg

from ingest.service import run_ingest
from telecare.local_broker import LocalBroker, free_port
from telecare.settings import Settings
from tests.support import json_bytes, provision, publish_all, wait_until


async def _kinds(db: asyncpg.Connection, hub: str) -> list[tuple[str, bool, bool]]:
    rows = await db.fetch("SELECT kind, is_restore, time_from_arrival FROM events WHERE hub_id = $1"
                          " AND kind <> 'battery' ORDER BY ingest_seq", hub)
    return [(row["kind"], row["is_restore"], row["time_from_arrival"]) for row in rows]


async def test_bridge_restart_replay_of_cached_state_raises_nothing_new(
    db: asyncpg.Connection, broker: LocalBroker, running_ingest: Settings, unique: str
) -> None:
    hub = f"hub-{unique}"
    await provision(db=db, org_id=f"org-{unique}", resident_id=f"res-{unique}", hub_id=hub, devices=[
        {"friendly_name": "pir", "type": "pir", "location": "hallway"},
        {"friendly_name": "door", "type": "door", "location": "front_door"},
        {"friendly_name": "leak", "type": "flood", "location": "kitchen"},
    ])
    p = f"z2m/{hub}"
    cached = [
        (f"{p}/pir", json_bytes({"occupancy": True, "battery": 90})),
        (f"{p}/door", json_bytes({"contact": False, "battery": 90})),
        (f"{p}/leak", json_bytes({"water_leak": True, "battery": 90})),
    ]
    publish_all(url_port=broker.port, messages=[(f"{p}/bridge/state", json_bytes({"state": "online"})), *cached])

    async def three() -> bool:
        return len(await _kinds(db, hub)) >= 3

    await wait_until(three, what="the first three events")
    # Zigbee2MQTT stops before its 90 s clear, comes back and re-publishes its cache, stale occupancy
    # included: the hub outage is reported, the replay adds no motion, no door opening, no second flood.
    publish_all(url_port=broker.port, messages=[(f"{p}/bridge/state", json_bytes({"state": "offline"})),
                                                (f"{p}/bridge/state", json_bytes({"state": "online"})), *cached])

    async def hub_back() -> bool:
        return ("hub_offline", True, True) in await _kinds(db, hub)

    await wait_until(hub_back, what="the hub's restore")
    await asyncio.sleep(0.3)
    assert [kind for kind, _, _ in await _kinds(db, hub)] == [
        "motion", "door_open", "flood", "hub_offline", "hub_offline"]


async def test_wrong_device_clock_keeps_alarms_at_arrival_and_dead_letters_the_rest(
    db: asyncpg.Connection, broker: LocalBroker, running_ingest: Settings, unique: str
) -> None:
    hub = f"hub-{unique}"
    await provision(db=db, org_id=f"org-{unique}", resident_id=f"res-{unique}", hub_id=hub, devices=[
        {"friendly_name": "smoke", "type": "smoke", "location": "hallway"},
        {"friendly_name": "pir", "type": "pir", "location": "hallway"},
    ])
    future_ms = int((datetime.now(UTC) + timedelta(days=400)).timestamp() * 1000)
    recent_ms = int((datetime.now(UTC) - timedelta(minutes=2)).timestamp() * 1000)
    publish_all(url_port=broker.port, messages=[
        (f"z2m/{hub}/smoke", json_bytes({"smoke": True, "test": False, "last_seen": future_ms})),
        (f"z2m/{hub}/pir", json_bytes({"occupancy": True, "last_seen": future_ms})),
        (f"z2m/{hub}/pir", json_bytes({"occupancy": False, "last_seen": recent_ms})),
        (f"z2m/{hub}/pir", json_bytes({"occupancy": True, "last_seen": recent_ms + 1000})),
    ])

    async def settled() -> bool:
        letters = await db.fetchval("SELECT count(*) FROM dead_letters WHERE topic = $1", f"z2m/{hub}/pir")
        return len(await _kinds(db, hub)) >= 3 and letters == 1

    await wait_until(settled, what="the smoke alarm, one motion and one dead letter")
    # The report with a good clock that changed nothing is the sensor's check-in (kept for silence).
    assert sorted(await _kinds(db, hub)) == [("check_in", False, False), ("motion", False, False),
                                             ("smoke", False, True)]
    motion_time = await db.fetchval("SELECT time FROM events WHERE hub_id = $1 AND kind = 'motion'", hub)
    assert motion_time == datetime.fromtimestamp((recent_ms + 1000) / 1000, tz=UTC)
    reason = await db.fetchval("SELECT reason FROM dead_letters WHERE topic = $1", f"z2m/{hub}/pir")
    assert reason == "timestamp_out_of_range"


async def test_metrics_endpoint_counts_what_was_stored(db: asyncpg.Connection, broker: LocalBroker,
                                                       settings: Settings, unique: str) -> None:
    hub = f"hub-{unique}"
    await provision(db=db, org_id=f"org-{unique}", resident_id=f"res-{unique}", hub_id=hub, devices=[
        {"friendly_name": "pir", "type": "pir", "location": "hallway"}])
    port = free_port()
    stop, subscribed = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(run_ingest(settings=settings.model_copy(update={"metrics_port": port}), stop=stop,
                                          subscribed=subscribed))
    try:
        await asyncio.wait_for(subscribed.wait(), timeout=15)
        publish_all(url_port=broker.port, messages=[
            (f"z2m/{hub}/pir", json_bytes({"occupancy": True})), (f"z2m/{hub}/ghost", b"{}"),
        ])

        async def scraped() -> bool:
            text = await asyncio.to_thread(
                lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode())
            return ("telecare_ingest_events_stored_total 1.0" in text
                    and 'telecare_ingest_dead_letters_total{reason="unknown_device"} 1.0' in text
                    and "telecare_ingest_commit_seconds_count" in text)

        await wait_until(scraped, what="metrics showing one event stored and one dead letter")
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)
