"""Timer rules on event time, and a worker killed while timers are pending."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg

from rules.clock import ManualClock
from rules.engine import RulesEngine
from rules.stream import StreamFollower
from rules.suppression import add_suppression
from rules.worker import WorkerOptions, run_worker
from tests.rules_helpers import alerts_for, provision_flat, step, store_event

NIGHT = datetime(2026, 1, 12, 23, 0, tzinfo=UTC)  # 23:00 local (UTC resident), inside 22:00-07:00


async def _engine(db: asyncpg.Connection, run: str, at: datetime) -> tuple[RulesEngine, StreamFollower]:
    engine = RulesEngine(run=run, clock=ManualClock(current=at), replay=False)
    await engine.refresh(connection=db)
    follower = StreamFollower(run=run)
    await follower.ensure_cursor(connection=db, start_at_end=True)
    return engine, follower


async def test_out_of_bed_is_extended_by_activity_and_fires_once(db: asyncpg.Connection, unique: str) -> None:
    resident, _ = await provision_flat(db=db, unique=unique)
    # The extension is capped (60 min by default, see test_rules_gaps); this resident's cap is 2 h.
    await db.execute("INSERT INTO rule_config (resident_id, out_of_bed_max_min) VALUES ($1, 120)", resident)
    run = f"t-{unique}"
    engine, follower = await _engine(db, run, NIGHT)
    await store_event(db=db, unique=unique, device="bed", kind="bed_occupied", at=NIGHT)
    await store_event(db=db, unique=unique, device="bed", kind="bed_vacated", at=NIGHT + timedelta(hours=2))
    # Bathroom visits keep pushing the 30-minute timer back.
    for minute in (5, 25, 50):
        await store_event(db=db, unique=unique, device="bath", kind="motion",
                          at=NIGHT + timedelta(hours=2, minutes=minute))
    await step(db=db, engine=engine, follower=follower, now=NIGHT + timedelta(hours=3, minutes=19))
    assert await alerts_for(db=db, resident=resident, run=run) == []
    due = NIGHT + timedelta(hours=2, minutes=80)
    await step(db=db, engine=engine, follower=follower, now=due + timedelta(seconds=1))
    await step(db=db, engine=engine, follower=follower, now=due + timedelta(minutes=30))
    [alert] = await alerts_for(db=db, resident=resident, run=run)
    assert alert["condition"] == "out_of_bed"
    assert alert["raised_at"] == due and alert["detected_at"] - due <= timedelta(seconds=5)
    # Back to bed: the condition is restored, the alert stays for the operator.
    await store_event(db=db, unique=unique, device="bed", kind="bed_occupied", at=due + timedelta(minutes=31))
    await step(db=db, engine=engine, follower=follower, now=due + timedelta(minutes=32))
    [alert] = await alerts_for(db=db, resident=resident, run=run)
    assert alert["cleared_at"] == due + timedelta(minutes=31) and alert["status"] == "raised"


async def test_left_flat_fires_and_a_return_cancels(db: asyncpg.Connection, unique: str) -> None:
    resident, _ = await provision_flat(db=db, unique=unique)
    run = f"t-{unique}"
    engine, follower = await _engine(db, run, NIGHT)
    await store_event(db=db, unique=unique, device="bed", kind="bed_occupied", at=NIGHT - timedelta(minutes=5))
    # Night 1: out and back in 20 minutes (hallway motion right after closing is the person leaving).
    t = NIGHT + timedelta(hours=1)
    await store_event(db=db, unique=unique, device="front", kind="door_open", at=t)
    await store_event(db=db, unique=unique, device="front", kind="door_closed", at=t + timedelta(seconds=10))
    await store_event(db=db, unique=unique, device="hall", kind="motion", at=t + timedelta(seconds=20))
    await store_event(db=db, unique=unique, device="front", kind="door_open", at=t + timedelta(minutes=20))
    await store_event(db=db, unique=unique, device="front", kind="door_closed", at=t + timedelta(minutes=20, seconds=5))
    await store_event(db=db, unique=unique, device="hall", kind="motion", at=t + timedelta(minutes=22))
    await step(db=db, engine=engine, follower=follower, now=t + timedelta(hours=1))
    assert await alerts_for(db=db, resident=resident, run=run) == []
    # Then out again and not back.
    t2 = t + timedelta(hours=1, minutes=5)
    await store_event(db=db, unique=unique, device="front", kind="door_open", at=t2)
    await store_event(db=db, unique=unique, device="front", kind="door_closed", at=t2 + timedelta(seconds=8))
    await store_event(db=db, unique=unique, device="hall", kind="motion", at=t2 + timedelta(seconds=15))
    await step(db=db, engine=engine, follower=follower, now=t2 + timedelta(minutes=31))
    assert [a["condition"] for a in await alerts_for(db=db, resident=resident, run=run)] == ["left_flat"]


async def test_away_suppresses_activity_rules_but_not_smoke(db: asyncpg.Connection, unique: str) -> None:
    resident, _ = await provision_flat(db=db, unique=unique)
    run = f"t-{unique}"
    engine, follower = await _engine(db, run, NIGHT)
    await add_suppression(connection=db, kind="away", created_by="op", resident_id=resident,
                          starts_at=NIGHT - timedelta(hours=1), ends_at=NIGHT + timedelta(days=2), reason="holiday")
    await store_event(db=db, unique=unique, device="bed", kind="bed_vacated", at=NIGHT)
    await store_event(db=db, unique=unique, device="smoke", kind="smoke", at=NIGHT + timedelta(hours=1))
    await step(db=db, engine=engine, follower=follower, now=NIGHT + timedelta(minutes=90))
    assert [a["condition"] for a in await alerts_for(db=db, resident=resident, run=run)] == ["smoke"]
    held = await db.fetch("SELECT condition, reason FROM rule_suppressed WHERE run = $1", run)
    assert {r["condition"] for r in held} >= {"out_of_bed"} and all("away" in r["reason"] for r in held)


async def test_dead_hub_is_one_incident_and_not_inactivity(db: asyncpg.Connection, unique: str) -> None:
    resident, _ = await provision_flat(db=db, unique=unique)
    run = f"t-{unique}"
    engine, follower = await _engine(db, run, NIGHT)
    engine.replay = True  # the watchdog reads event time only, as in a replay
    for device in ("bath", "hall", "temp", "bed"):
        await store_event(db=db, unique=unique, device=device, kind="battery", at=NIGHT, value=90)
    await store_event(db=db, unique=unique, device="bed", kind="bed_occupied", at=NIGHT)
    for hours in range(1, 15):
        await step(db=db, engine=engine, follower=follower, now=NIGHT + timedelta(hours=hours))
    alerts = await alerts_for(db=db, resident=resident, run=run)
    assert [a["condition"] for a in alerts] == ["hub_offline"]
    related = await db.fetch("SELECT detail->>'condition' AS c FROM alert_history WHERE alert_id = $1"
                             " AND action = 'related'", alerts[0]["alert_id"])
    assert {"device_offline", "data_gap"} <= {r["c"] for r in related}


async def test_killed_worker_loses_and_doubles_nothing(database_url: str, db: asyncpg.Connection,
                                                       unique: str) -> None:
    resident, _ = await provision_flat(db=db, unique=unique)
    run = f"kill-{unique}"
    clock = ManualClock(current=NIGHT)
    options = WorkerOptions(run=run, poll_interval_s=0.05, tick_interval_s=0.05, lock_retry_s=0.05)
    await store_event(db=db, unique=unique, device="bed", kind="bed_occupied", at=NIGHT - timedelta(minutes=1))
    await db.execute("INSERT INTO rule_cursors (run, last_seq) VALUES ($1, (SELECT max(ingest_seq) - 1 FROM events))",
                     run)
    stop_a, stop_b = asyncio.Event(), asyncio.Event()
    worker_a = asyncio.create_task(run_worker(database_url=database_url, options=options, stop=stop_a, clock=clock),
                                   name="worker-a")
    worker_b = asyncio.create_task(run_worker(database_url=database_url, options=options, stop=stop_b, clock=clock),
                                   name="worker-b")  # a standby: waits for the advisory lock
    await store_event(db=db, unique=unique, device="bed", kind="bed_vacated", at=NIGHT)
    await store_event(db=db, unique=unique, device="front", kind="door_open", at=NIGHT + timedelta(minutes=1))
    async with asyncio.timeout(10):
        while not await db.fetchval("SELECT count(*) FROM rule_timers WHERE run = $1 AND rule = 'left_flat'", run):  # noqa: ASYNC110 - polls the database
            await asyncio.sleep(0.05)
    # Kill whichever worker holds the lock, mid-flight, with timers pending.
    worker_a.cancel()
    await asyncio.gather(worker_a, return_exceptions=True)
    # Both timers are now overdue, yet the hub has been quiet for less than its 2 h no-contact limit.
    clock.advance_to(moment=NIGHT + timedelta(hours=1))
    async with asyncio.timeout(15):
        while not await db.fetchval("SELECT count(*) FROM alerts WHERE run = $1", run):  # noqa: ASYNC110 - polls the database
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
    stop_b.set()
    await asyncio.wait_for(worker_b, timeout=10)
    alerts = await alerts_for(db=db, resident=resident, run=run)
    # Going out cancelled the out-of-bed timer: one incident, one alert, raised once, on time in event time.
    assert [(a["condition"], a["repeat_count"]) for a in alerts] == [("left_flat", 0)]
    assert alerts[0]["raised_at"] == NIGHT + timedelta(minutes=31)
    settled = await db.fetch("SELECT rule, state FROM rule_timers WHERE run = $1 AND resident_id = $2"
                             " AND rule IN ('left_flat', 'out_of_bed') ORDER BY rule", run, resident)
    assert [(t["rule"], t["state"]) for t in settled if t["state"] != "cancelled"] == [("left_flat", "fired")]
