"""The priority lane: a pendant pressed while a backlog drains is stored ahead of it, and only once."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta

import asyncpg
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ingest.service import run_ingest
from telecare.local_broker import LocalBroker
from telecare.settings import Settings
from tests.support import drop_session, json_bytes, provision, publish_all, wait_until

BACKLOG = 30_000


def _open_session(*, port: int, client_id: str) -> None:
    """The ingest's persistent session, subscribed, so that what is published now queues for it."""
    client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=paho.MQTTv5)
    subscribed = threading.Event()
    client.on_subscribe = lambda *_args: subscribed.set()
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = 3600
    client.connect("127.0.0.1", port, clean_start=True, properties=properties)
    client.loop_start()
    client.subscribe([("z2m/#", 1), ("telecare/v1/#", 1)])
    assert subscribed.wait(timeout=10)
    client.disconnect()
    client.loop_stop()


def _canonical(*, event_id: str, at: datetime, kind: str, device: str, device_type: str) -> bytes:
    return json_bytes({"schema": "telecare.event/1", "event_id": event_id, "time": at.isoformat(),
                       "device": {"id": device, "type": device_type, "location": "bedroom"}, "kind": kind})


async def _counts(db: asyncpg.Connection, hub: str) -> tuple[int, int, int]:
    row = await db.fetchrow(
        "SELECT count(*) FILTER (WHERE kind = 'motion') AS motion,"
        " count(DISTINCT event_key) FILTER (WHERE kind = 'motion') AS distinct_motion,"
        " count(*) FILTER (WHERE kind = 'personal_trigger') AS pendant FROM events WHERE hub_id = $1", hub)
    assert row is not None
    return int(row["motion"]), int(row["distinct_motion"]), int(row["pendant"])


async def _duplicates(db: asyncpg.Connection) -> int:
    return int(await db.fetchval("SELECT value FROM ingest_counters WHERE name = 'duplicates_dropped'"))


async def test_pendant_overtakes_a_queued_backlog_and_lands_once(db: asyncpg.Connection, broker: LocalBroker,
                                                                  settings: Settings, unique: str) -> None:
    """30,000 messages queued during an outage; a pendant pressed once the ingest is back is stored
    while most of the backlog still waits, and after the drain every message is there exactly once."""
    hub = f"hub-{unique}"
    await provision(db=db, org_id=f"org-{unique}", resident_id=f"res-{unique}", hub_id=hub, devices=[],
                    protocol="canonical")
    _open_session(port=broker.port, client_id=settings.mqtt_client_id)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    topic = f"telecare/v1/{hub}/events"
    backlog = [(topic, _canonical(event_id=f"m{index}", at=start + timedelta(milliseconds=100 * index),
                                  kind="motion", device="hall-pir", device_type="pir")) for index in range(BACKLOG)]
    await asyncio.to_thread(publish_all, url_port=broker.port, messages=backlog)

    duplicates_before = await _duplicates(db)
    stop, subscribed = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(run_ingest(settings=settings, stop=stop, subscribed=subscribed), name="lane-ingest")
    try:
        await asyncio.wait_for(subscribed.wait(), timeout=20)
        pendant = _canonical(event_id="press-1", at=datetime.now(UTC), kind="personal_trigger", device="pendant",
                             device_type="personal_trigger")
        await asyncio.to_thread(publish_all, url_port=broker.port, messages=[(topic, pendant)])

        async def pendant_stored() -> bool:
            return (await _counts(db, hub))[2] >= 1

        await wait_until(pendant_stored, timeout_s=10, what="the pendant press stored")
        motion_when_pendant_landed = (await _counts(db, hub))[0]
        assert motion_when_pendant_landed < BACKLOG // 2, (
            f"the pendant waited for {motion_when_pendant_landed} of {BACKLOG} queued messages")

        async def drained() -> bool:
            return (await _counts(db, hub))[0] >= BACKLOG

        await wait_until(drained, timeout_s=90, what="the whole backlog stored")

        async def second_copy_absorbed() -> bool:
            return await _duplicates(db) > duplicates_before

        # The persistent session's copy of the press came through too, and its natural key dropped it.
        await wait_until(second_copy_absorbed, timeout_s=10, what="the backlog's copy of the press dropped")
        assert await _counts(db, hub) == (BACKLOG, BACKLOG, 1)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)
        drop_session(url_port=broker.port, client_id=settings.mqtt_client_id)
