"""Device time: a sensor silent 30 hours shows in `rules replay` as live; backfilled history stays out of the queue."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg

from rules.clock import ManualClock
from rules.replay import replay_history
from rules.worker import WorkerOptions, run_worker
from telecare.local_broker import LocalBroker
from telecare.settings import Settings
from tests.rules_helpers import alerts_for, provision_flat, store_event
from tests.support import json_bytes, provision, publish_all, wait_until

CHECK_IN = timedelta(minutes=30)


async def test_a_sensor_silent_for_30_hours_is_flagged_in_replay_on_device_time(
    db: asyncpg.Connection, broker: LocalBroker, running_ingest: Settings, unique: str
) -> None:
    hub, resident = f"hub-{unique}", f"res-{unique}"
    await provision(db=db, org_id=f"org-{unique}", resident_id=resident, hub_id=hub, devices=[
        {"friendly_name": "hall pir", "type": "pir", "location": "hallway"},
        {"friendly_name": "front door", "type": "door", "location": "front_door"},
    ])
    # Two and a half days of history, delivered now (a backlog): both sensors check in every 30 min
    # of device time, except the PIR, silent from hour 10 to hour 40.
    start = (datetime.now(UTC) - timedelta(days=3)).replace(microsecond=0)
    silent_from, silent_to = start + timedelta(hours=10), start + timedelta(hours=40)
    messages: list[tuple[str, bytes | str]] = []
    moment = start
    while moment < start + timedelta(hours=60):
        ms = int(moment.timestamp() * 1000)
        messages.append((f"z2m/{hub}/front door", json_bytes({"contact": True, "battery": 90, "last_seen": ms})))
        if not silent_from <= moment < silent_to:
            messages.append((f"z2m/{hub}/hall pir", json_bytes({"occupancy": False, "battery": 90, "last_seen": ms})))
        moment += CHECK_IN
    publish_all(url_port=broker.port, messages=messages)
    last_pir = int((start + timedelta(hours=60) - CHECK_IN).timestamp() * 1000)

    async def stored() -> bool:
        seen = await db.fetchval("SELECT last_seen FROM devices WHERE device_id = $1", f"{hub}:hall pir")
        return seen is not None and int(seen.timestamp() * 1000) == last_pir

    # Heard at the device's own time, not when the backlog arrived.
    await wait_until(stored, what="the PIR's last check-in on device time")
    run = f"silence-{unique}"
    await replay_history(connection=db, run=run, since=start, until=start + timedelta(hours=60),
                         resident_ids=[resident])
    # (No activity at all in this flat: the activity rules' own calls are not what this test is about.)
    alerts = await db.fetch("SELECT condition, device_id, raised_at, cleared_at FROM alerts WHERE run = $1"
                            " AND condition IN ('device_offline', 'hub_offline')", run)
    assert [(a["condition"], a["device_id"]) for a in alerts] == [("device_offline", f"{hub}:hall pir")]
    # Due three hours (an hourly reporter's limit) after it was last heard; cleared when it spoke again.
    last_heard = silent_from - CHECK_IN
    assert alerts[0]["raised_at"] == last_heard + timedelta(hours=3)
    assert alerts[0]["cleared_at"] == silent_to
    # Unchanged reports are check-ins (the first one's battery reading aside), never activity.
    kinds = {row["kind"]: row["n"] for row in await db.fetch(
        "SELECT kind, count(*) AS n FROM events WHERE hub_id = $1 GROUP BY kind", hub)}
    assert set(kinds) == {"check_in", "battery"} and kinds["battery"] == 2


async def test_backfilled_history_never_reaches_the_live_queue(database_url: str, db: asyncpg.Connection,
                                                               unique: str) -> None:
    resident, _ = await provision_flat(db=db, unique=unique)
    now = datetime.now(UTC)
    run = f"live-{unique}"
    await db.execute("INSERT INTO rule_cursors (run, last_seq) VALUES ($1, (SELECT COALESCE(max(ingest_seq), 0)"
                     " FROM events))", run)
    # A recorded week replayed through the pipeline today: a pendant press three days ago is history.
    await store_event(db=db, unique=unique, device="pendant", kind="personal_trigger", at=now - timedelta(days=3))
    await store_event(db=db, unique=unique, device="smoke", kind="smoke", at=now - timedelta(seconds=5))
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(
        database_url=database_url, stop=stop, clock=ManualClock(current=now),
        options=WorkerOptions(run=run, poll_interval_s=0.05, tick_interval_s=0.05, lock_retry_s=0.05)))

    async def smoke_raised() -> bool:
        return bool(await db.fetchval("SELECT count(*) FROM alerts WHERE run = $1", run))

    await wait_until(smoke_raised, what="the live smoke alarm")
    stop.set()
    await asyncio.wait_for(worker, timeout=10)
    assert [a["condition"] for a in await alerts_for(db=db, resident=resident, run=run)] == ["smoke"]
    held = await db.fetch("SELECT condition, reason FROM rule_suppressed WHERE run = $1 AND resident_id = $2",
                          run, resident)
    # The old press, and what its silence afterwards would have meant three days ago, are all history.
    assert "personal_trigger" in {h["condition"] for h in held}
    assert all(h["reason"].startswith("history") for h in held)
