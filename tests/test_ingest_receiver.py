"""The MQTT receiver process: replaced when it dies, gone when the ingest dies, nothing lost either way."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from bench.ingest_faults import receiver_pids, start_ingest_process
from ingest.service import run_ingest
from telecare.local_broker import LocalBroker
from telecare.settings import Settings
from tests.support import json_bytes, provision, publish_all, wait_until

RECEIVER_NAME = "telecare-mqtt-receiver"


def _door_messages(*, hub: str, start: datetime, count: int, offset: int) -> list[tuple[str, bytes]]:
    """Door changes with distinct device times: each one is exactly one event."""
    return [
        (f"z2m/{hub}/front door", json_bytes({
            # Opens on even indexes: a first "closed" from a door of unknown state is no change.
            "contact": index % 2 == 1,
            "last_seen": (start + timedelta(seconds=index)).isoformat(),
        }))
        for index in range(offset, offset + count)
    ]


def _receiver_pids() -> list[int]:
    return [child.pid for child in multiprocessing.active_children()
            if child.name == RECEIVER_NAME and child.pid is not None]


def _alive(pid: int) -> bool:
    """Running, not merely a zombie waiting for init to reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def test_a_killed_receiver_is_replaced_and_nothing_is_lost_or_doubled(
    db: asyncpg.Connection, broker: LocalBroker, settings: Settings, unique: str
) -> None:
    hub = f"hub-{unique}"
    await provision(db=db, org_id=f"org-{unique}", resident_id=f"res-{unique}", hub_id=hub, devices=[
        {"friendly_name": "front door", "type": "door", "location": "front_door"}])
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    stop, subscribed = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(run_ingest(settings=settings, stop=stop, subscribed=subscribed))
    try:
        await asyncio.wait_for(subscribed.wait(), timeout=15)
        [first_receiver] = _receiver_pids()
        await asyncio.to_thread(publish_all, url_port=broker.port,
                                messages=_door_messages(hub=hub, start=start, count=1500, offset=0))
        # Killed with part of the backlog received, committed or only forwarded.
        os.kill(first_receiver, signal.SIGKILL)
        await asyncio.to_thread(publish_all, url_port=broker.port,
                                messages=_door_messages(hub=hub, start=start, count=1500, offset=1500))

        async def all_stored() -> bool:
            count = await db.fetchval("SELECT count(*) FROM events WHERE hub_id = $1", hub)
            return int(count) >= 3000

        await wait_until(all_stored, timeout_s=60, what="all 3,000 door events after the receiver was replaced")
        await asyncio.sleep(1.0)
        rows = await db.fetch("SELECT time, count(*) AS n FROM events WHERE hub_id = $1 GROUP BY time", hub)
        assert len(rows) == 3000
        assert all(row["n"] == 1 for row in rows)
        assert _receiver_pids() and first_receiver not in _receiver_pids()
        assert not task.done()
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)
    assert _receiver_pids() == []


@pytest.mark.slow
async def test_the_receiver_does_not_outlive_a_killed_ingest(
    database_url: str, broker: LocalBroker, unique: str, tmp_path: Path
) -> None:
    """An orphan would keep the MQTT session and fight the restarted ingest for it."""
    process = start_ingest_process(database_url=database_url, mqtt_url=broker.url, log_path=tmp_path / "ingest.log",
                                   client_id=f"orphan-{unique}")
    try:
        receivers: list[int] = []
        for _ in range(200):
            receivers = receiver_pids(process.pid)
            if receivers:
                break
            await asyncio.sleep(0.05)
        assert receivers, "the ingest started no receiver process"
        await asyncio.sleep(0.5)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    for _ in range(100):
        if not any(_alive(pid) for pid in receivers):
            break
        await asyncio.sleep(0.05)
    assert not any(_alive(pid) for pid in receivers), "the receiver outlived its ingest"
