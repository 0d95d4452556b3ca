"""Escalation, KPIs, the no-contact watchdog, data gaps, quiet hours, maintenance, the bedroom-PIR fallback."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import asyncpg

from rules.clock import ManualClock
from rules.engine import RulesEngine
from rules.escalation import escalate_unclaimed
from rules.kpi import compute_kpis
from rules.lifecycle import ActionCode, Outcome, acknowledge, claim, close, record_action
from rules.replay_operator import SimulatedOperator
from rules.stream import StreamFollower
from rules.suppression import add_suppression
from tests.rules_helpers import alerts_for, provision_flat, replay, step, store_event, store_hub_offline

NIGHT = datetime(2026, 1, 12, 23, 0, tzinfo=UTC)


async def _engine(db: asyncpg.Connection, run: str, at: datetime, *, replay: bool = False) -> tuple[
        RulesEngine, StreamFollower]:
    engine = RulesEngine(run=run, clock=ManualClock(current=at), replay=replay)
    await engine.refresh(connection=db)
    follower = StreamFollower(run=run)
    await follower.ensure_cursor(connection=db, start_at_end=True)
    return engine, follower


async def test_bedroom_pir_stands_in_for_a_missing_bed_sensor(db: asyncpg.Connection, unique: str) -> None:
    resident, _ = await provision_flat(db=db, unique=unique)
    await db.execute("UPDATE devices SET removed_at = now() WHERE device_id = $1", f"h-{unique}:bed")
    run = f"pir-{unique}"
    engine, follower = await _engine(db, run, NIGHT)
    # Night 1: a ten-minute bathroom trip, back to the bedroom: nothing to raise.
    await store_event(db=db, unique=unique, device="bedpir", kind="motion", at=NIGHT)
    await store_event(db=db, unique=unique, device="hall", kind="motion", at=NIGHT + timedelta(hours=1))
    await store_event(db=db, unique=unique, device="bath", kind="motion", at=NIGHT + timedelta(hours=1, minutes=3))
    await store_event(db=db, unique=unique, device="bedpir", kind="motion", at=NIGHT + timedelta(hours=1, minutes=10))
    await step(db=db, engine=engine, follower=follower, now=NIGHT + timedelta(hours=2))
    assert await alerts_for(db=db, resident=resident, run=run) == []
    # Then out of the bedroom, moving about elsewhere but never back: raised at the 60-minute cap.
    left = NIGHT + timedelta(hours=3)
    for minute in (0, 20, 40, 58):
        await store_event(db=db, unique=unique, device="bath" if minute % 40 else "hall", kind="motion",
                          at=left + timedelta(minutes=minute))
    await step(db=db, engine=engine, follower=follower, now=left + timedelta(minutes=61))
    [alert] = await alerts_for(db=db, resident=resident, run=run)
    assert alert["condition"] == "out_of_bed" and alert["raised_at"] == left + timedelta(minutes=60)
    await store_event(db=db, unique=unique, device="bedpir", kind="motion", at=left + timedelta(minutes=70))
    await step(db=db, engine=engine, follower=follower, now=left + timedelta(minutes=71))
    [alert] = await alerts_for(db=db, resident=resident, run=run)
    assert alert["cleared_at"] == left + timedelta(minutes=70)


async def test_unclaimed_alert_escalates_and_is_pushed(database_url: str, db: asyncpg.Connection,
                                                       unique: str) -> None:
    resident, _ = await provision_flat(db=db, unique=unique)
    engine, follower = await _engine(db, "live", NIGHT)
    pushed: list[dict[str, object]] = []
    listener = await asyncpg.connect(database_url)
    await listener.add_listener("telecare_alerts", lambda *a: pushed.append(json.loads(str(a[3]))))
    try:
        await store_event(db=db, unique=unique, device="pendant", kind="personal_trigger", at=NIGHT)
        await store_event(db=db, unique=unique, device="smoke", kind="smoke", at=NIGHT)
        await step(db=db, engine=engine, follower=follower, now=NIGHT + timedelta(seconds=1))
        pendant, smoke = await alerts_for(db=db, resident=resident, run="live")
        await claim(connection=db, alert_id=smoke["alert_id"], user_id="op-1")  # claimed: must not escalate
        await escalate_unclaimed(connection=db, run="live", now=datetime.now(UTC) + timedelta(seconds=30))
        assert (await alerts_for(db=db, resident=resident, run="live"))[0]["escalation_level"] == 0
        await escalate_unclaimed(connection=db, run="live", now=datetime.now(UTC) + timedelta(seconds=61))
        pendant_now, smoke_now = await alerts_for(db=db, resident=resident, run="live")
        assert pendant_now["escalation_level"] == 1 and pendant_now["priority"] == pendant["priority"] - 1
        assert smoke_now["escalation_level"] == 0
        await asyncio.sleep(0.3)
        assert {"alert_id": pendant["alert_id"], "change": "escalated"} in pushed
        assert {"alert_id": pendant["alert_id"], "change": "raised"} in pushed
        # The operator's queue, as JSON from the CLI: the escalated pendant alert is in it.
        telecare = shutil.which("telecare") or str(Path(sys.executable).parent / "telecare")
        done = subprocess.run(  # noqa: ASYNC221 - the CLI is the thing under test
            [telecare, "alerts", "--limit", "1000", "--json"], capture_output=True, text=True, timeout=60,
                              env={**os.environ, "TELECARE_DATABASE_URL": database_url, "TELECARE_DEV_MODE": "true"},
                              check=True)
        queue = {item["alert_id"]: item for item in json.loads(done.stdout)}
        assert queue[pendant["alert_id"]]["escalation_level"] == 1
        assert queue[smoke["alert_id"]]["claimed_by"] == "op-1"
        for alert in (pendant, smoke):
            await close(connection=db, alert_id=alert["alert_id"], user_id="op-1", outcome=Outcome.TEST)
    finally:
        await listener.close()


async def test_kpis_from_the_lifecycle(db: asyncpg.Connection, unique: str) -> None:
    resident, _ = await provision_flat(db=db, unique=unique)
    run = f"kpi-{unique}"
    engine, follower = await _engine(db, run, NIGHT)
    for device, kind in (("pendant", "personal_trigger"), ("smoke", "smoke"), ("bath", "flood")):
        await store_event(db=db, unique=unique, device=device, kind=kind, at=NIGHT)
    await step(db=db, engine=engine, follower=follower, now=NIGHT + timedelta(seconds=1))
    pendant, smoke, flood = await alerts_for(db=db, resident=resident, run=run)
    plans = ((pendant, 30, Outcome.FALSE_ALARM), (smoke, 120, Outcome.RESPONDER_ATTENDED),
             (flood, 300, Outcome.REASSURED))
    for alert, ack_after, outcome in plans:
        queued = alert["queued_at"]
        await acknowledge(connection=db, alert_id=alert["alert_id"], user_id="op",
                          at=queued + timedelta(seconds=ack_after))
        if outcome == Outcome.RESPONDER_ATTENDED:
            await record_action(connection=db, alert_id=alert["alert_id"], user_id="op",
                                action=ActionCode.RESPONDER_ATTENDED, at=queued + timedelta(minutes=50))
        await close(connection=db, alert_id=alert["alert_id"], user_id="op", outcome=outcome,
                    at=queued + timedelta(minutes=ack_after))
    kpis = await compute_kpis(connection=db, since=NIGHT - timedelta(days=3650), until=NIGHT + timedelta(days=3650),
                              run=run)
    assert kpis["alerts"] == 3 and kpis["acknowledged"] == 3
    assert abs(kpis["ack_within_60s"] - 1 / 3) < 1e-9 and abs(kpis["ack_within_180s"] - 2 / 3) < 1e-9
    assert kpis["close_s_p50"] == 120 * 60
    assert kpis["attendances"] == 1 and kpis["attended_within_45min"] == 0 and kpis["attended_within_60min"] == 1
    by_type = kpis["false_alarm_rate_by_device_type"]
    assert by_type["personal_trigger"]["rate"] == 1.0 and by_type["smoke"]["rate"] == 0.0
    assert kpis["false_alarm_rate_by_resident"][resident] == {"closed": 3, "false_alarms": 1, "rate": 1 / 3}


async def test_live_watchdog_reads_last_seen_groups_by_hub_and_restores(db: asyncpg.Connection, unique: str) -> None:
    resident, hub = await provision_flat(db=db, unique=unique)
    run = f"dog-{unique}"
    start = NIGHT - timedelta(hours=5)
    engine, follower = await _engine(db, run, start)
    for device in ("hall", "bath", "bedpir", "temp", "front", "smoke", "pendant", "bed"):
        await store_event(db=db, unique=unique, device=device, kind="battery", at=start, value=90)
    await store_event(db=db, unique=unique, device="bed", kind="bed_occupied", at=start)
    await step(db=db, engine=engine, follower=follower, now=start)

    async def heard(at: datetime, *, devices: list[str] | None = None, bridge: bool = True) -> None:
        names = devices or ["hall", "bath", "bedpir", "temp", "front", "smoke", "pendant", "bed"]
        await db.execute("UPDATE devices SET last_seen = $2 WHERE device_id = ANY($1::text[])",
                         [f"{hub}:{name}" for name in names], at)
        if bridge:
            await db.execute("UPDATE hubs SET last_seen = $2 WHERE hub_id = $1", hub, at)

    # Check-ins (no events) keep everything alive except the hallway PIR, silent for over 3 h.
    await heard(NIGHT - timedelta(minutes=10), devices=["bath", "bedpir", "temp", "front", "smoke", "pendant", "bed"])
    async with db.transaction():
        await engine.tick(connection=db, now=NIGHT, with_watchdog=True)
    [alert] = await alerts_for(db=db, resident=resident, run=run)
    assert (alert["condition"], alert["device_id"]) == ("device_offline", f"{hub}:hall")
    await heard(NIGHT + timedelta(minutes=1), devices=["hall"], bridge=False)
    async with db.transaction():
        await engine.tick(connection=db, now=NIGHT + timedelta(minutes=2), with_watchdog=True)
    [alert] = await alerts_for(db=db, resident=resident, run=run)
    assert alert["cleared_at"] is not None and alert["status"] == "raised"  # restored, still for an operator
    # Then the whole hub goes quiet: one hub_offline alert, not one per device.
    later = NIGHT + timedelta(hours=6)
    async with db.transaction():
        await engine.tick(connection=db, now=later, with_watchdog=True)
    alerts = await alerts_for(db=db, resident=resident, run=run)
    assert [a["condition"] for a in alerts] == ["device_offline", "hub_offline"]
    await heard(later + timedelta(minutes=1))
    async with db.transaction():
        await engine.tick(connection=db, now=later + timedelta(minutes=2), with_watchdog=True)
    assert all(a["cleared_at"] is not None for a in await alerts_for(db=db, resident=resident, run=run))


async def test_quiet_hours_hold_activity_rules_not_alarms(db: asyncpg.Connection, unique: str) -> None:
    resident, _ = await provision_flat(db=db, unique=unique)
    run = f"quiet-{unique}"
    engine, follower = await _engine(db, run, NIGHT)
    await add_suppression(connection=db, kind="quiet_hours", created_by="op", resident_id=resident,
                          local_start=time(22, 30), local_end=time(6, 0), reason="own routine")
    await store_event(db=db, unique=unique, device="bed", kind="bed_occupied", at=NIGHT - timedelta(hours=1))
    await store_event(db=db, unique=unique, device="bed", kind="bed_vacated", at=NIGHT)
    await store_event(db=db, unique=unique, device="pendant", kind="personal_trigger", at=NIGHT + timedelta(hours=2))
    await step(db=db, engine=engine, follower=follower, now=NIGHT + timedelta(hours=3))
    assert [a["condition"] for a in await alerts_for(db=db, resident=resident, run=run)] == ["personal_trigger"]
    # (This resident's only: the engine also watches other tests' flats in the shared database.)
    held = await db.fetch("SELECT condition, reason FROM rule_suppressed WHERE run = $1 AND resident_id = $2",
                          run, resident)
    assert [(r["condition"], r["reason"]) for r in held] == [("out_of_bed", "quiet_hours: own routine")]


async def test_maintenance_silences_one_device_for_its_window(db: asyncpg.Connection, unique: str) -> None:
    resident, hub = await provision_flat(db=db, unique=unique)
    run = f"maint-{unique}"
    engine, follower = await _engine(db, run, NIGHT)
    await add_suppression(connection=db, kind="maintenance", created_by="tech", device_id=f"{hub}:smoke",
                          starts_at=NIGHT - timedelta(minutes=5), ends_at=NIGHT + timedelta(minutes=30),
                          reason="detector replaced")
    await store_event(db=db, unique=unique, device="smoke", kind="smoke", at=NIGHT)
    await store_event(db=db, unique=unique, device="pendant", kind="personal_trigger", at=NIGHT + timedelta(minutes=1))
    await step(db=db, engine=engine, follower=follower, now=NIGHT + timedelta(minutes=2))
    assert [a["condition"] for a in await alerts_for(db=db, resident=resident, run=run)] == ["personal_trigger"]
    await store_event(db=db, unique=unique, device="smoke", kind="smoke", at=NIGHT + timedelta(minutes=45))
    await step(db=db, engine=engine, follower=follower, now=NIGHT + timedelta(minutes=46))
    assert [a["condition"] for a in await alerts_for(db=db, resident=resident, run=run)] == [
        "personal_trigger", "smoke"]


async def test_only_a_silent_sensor_the_rule_reads_makes_a_data_gap(db: asyncpg.Connection, unique: str) -> None:
    resident, _ = await provision_flat(db=db, unique=unique)
    await db.execute("INSERT INTO rule_config (resident_id, enabled_rules, bed_by) VALUES ($1, $2, '01:00')",
                     resident, ["out_of_bed", "not_in_bed", "device_offline", "data_gap"])
    # The kettle plug drops off the network in the evening and stays away.
    await store_event(db=db, unique=unique, device="kettle", kind="device_offline", at=NIGHT - timedelta(hours=3))
    # Night 1: out of bed at one, not back: still "out of bed too long", the kettle says nothing about it.
    await store_event(db=db, unique=unique, device="bed", kind="bed_occupied", at=NIGHT)
    await store_event(db=db, unique=unique, device="bed", kind="bed_vacated", at=NIGHT + timedelta(hours=2))
    await store_event(db=db, unique=unique, device="bed", kind="bed_occupied", at=NIGHT + timedelta(hours=4))
    # Next evening the bed mat goes quiet too: "not in bed by 01:00" cannot be judged, and says so.
    await store_event(db=db, unique=unique, device="bed", kind="device_offline",
                      at=NIGHT + timedelta(hours=20))
    await store_event(db=db, unique=unique, device="hall", kind="motion", at=NIGHT + timedelta(hours=27))
    run = f"gap-{unique}"
    await replay(db=db, resident=resident, since=NIGHT - timedelta(hours=4), until=NIGHT + timedelta(hours=28),
                 run=run, operator=SimulatedOperator(close_after=timedelta(minutes=20)))
    alerts = await alerts_for(db=db, resident=resident, run=run)
    assert [(a["condition"], a["raised_at"]) for a in alerts] == [
        ("device_offline", NIGHT - timedelta(hours=3)),
        ("out_of_bed", NIGHT + timedelta(hours=2, minutes=30)),
        ("device_offline", NIGHT + timedelta(hours=20)),
        ("data_gap", NIGHT + timedelta(hours=26)),
    ]


async def _bedtime_flat(*, db: asyncpg.Connection, unique: str, up_at: datetime) -> str:
    """A flat watched for "not in bed by" (01:00 in the care plan) and its hub, whose resident got up at `up_at`."""
    resident, _ = await provision_flat(db=db, unique=unique)
    # The care plan's "in bed by 01:00" (without one, the first nights wait an hour longer).
    await db.execute("INSERT INTO rule_config (resident_id, enabled_rules, bed_by) VALUES ($1, $2, '01:00')",
                     resident, ["not_in_bed", "hub_offline", "data_gap"])
    await store_event(db=db, unique=unique, device="bed", kind="bed_vacated", at=up_at)
    return resident


async def test_a_bedtime_lost_in_a_hub_outage_is_a_data_gap_not_not_in_bed(db: asyncpg.Connection,
                                                                          unique: str) -> None:
    """Three nights, "in bed by 01:00": the mat's report lost in an outage is not "not in bed"; a working mat is."""
    day1 = datetime(2026, 1, 10, tzinfo=UTC)
    resident = await _bedtime_flat(db=db, unique=unique, up_at=day1 + timedelta(hours=7))
    # Night 1: the hub is down 21:00-23:30 and they go to bed at 22:30; the mat's report is lost with
    # it and not repeated, and with the mat still "vacated" their rise at seven is no change either.
    await store_hub_offline(db=db, unique=unique, at=day1 + timedelta(hours=21))
    await store_event(db=db, unique=unique, device="bedpir", kind="motion", at=day1 + timedelta(hours=23, minutes=35))
    await store_hub_offline(db=db, unique=unique, at=day1 + timedelta(hours=23, minutes=30), restore=True)
    # Night 2: a short outage in the afternoon, then everything works and they never go to bed
    # (up in the living room until three): that is "not in bed by 01:00", outage or not.
    day2 = day1 + timedelta(days=1)
    await store_hub_offline(db=db, unique=unique, at=day2 + timedelta(hours=14))
    await store_hub_offline(db=db, unique=unique, at=day2 + timedelta(hours=14, minutes=30), restore=True)
    for hour in (23, 24, 25, 26):
        await store_event(db=db, unique=unique, device="living", kind="motion", at=day2 + timedelta(hours=hour))
    await store_event(db=db, unique=unique, device="bed", kind="bed_occupied", at=day2 + timedelta(hours=27))
    # Night 3: the morning outage swallows their rise, so the mat still says "occupied" and their getting
    # into bed at 22:30 is no change it reports.
    day3 = day2 + timedelta(days=1)
    await store_hub_offline(db=db, unique=unique, at=day3 + timedelta(hours=6))
    await store_hub_offline(db=db, unique=unique, at=day3 + timedelta(hours=8), restore=True)
    await store_event(db=db, unique=unique, device="bedpir", kind="motion", at=day3 + timedelta(hours=22, minutes=25))
    run = f"bedgap-{unique}"
    await replay(db=db, resident=resident, since=day1 + timedelta(hours=6), until=day3 + timedelta(hours=27),
                 run=run, operator=SimulatedOperator(close_after=timedelta(minutes=20)))
    alerts = await alerts_for(db=db, resident=resident, run=run)
    assert [(a["condition"], a["raised_at"]) for a in alerts] == [
        ("hub_offline", day1 + timedelta(hours=21)),
        ("data_gap", day1 + timedelta(hours=25)),
        ("hub_offline", day2 + timedelta(hours=14)),
        ("not_in_bed", day2 + timedelta(hours=25)),
        ("hub_offline", day3 + timedelta(hours=6)),
        ("data_gap", day3 + timedelta(hours=25)),
    ]
    assert json.loads(alerts[1]["detail"])["not_judged"].startswith("the bed mat or its hub was offline")


async def test_a_short_evening_blip_does_not_silence_not_in_bed(db: asyncpg.Connection, unique: str) -> None:
    day = datetime(2026, 1, 20, tzinfo=UTC)
    resident = await _bedtime_flat(db=db, unique=unique, up_at=day + timedelta(hours=7))
    # Five minutes of hub outage at 19:00, then the flat is heard again and they are up in the living room
    # until three: a bedtime lost in the blip would have been followed by this, so 01:00 is judged.
    await store_hub_offline(db=db, unique=unique, at=day + timedelta(hours=19))
    await store_hub_offline(db=db, unique=unique, at=day + timedelta(hours=19, minutes=5), restore=True)
    for hour in (20, 22, 24, 26):
        await store_event(db=db, unique=unique, device="living", kind="motion", at=day + timedelta(hours=hour))
    await store_event(db=db, unique=unique, device="bed", kind="bed_occupied", at=day + timedelta(hours=27))
    run = f"blip-{unique}"
    await replay(db=db, resident=resident, since=day + timedelta(hours=6), until=day + timedelta(hours=28),
                 run=run, operator=SimulatedOperator(close_after=timedelta(minutes=20)))
    alerts = await alerts_for(db=db, resident=resident, run=run)
    assert [(a["condition"], a["raised_at"]) for a in alerts] == [
        ("hub_offline", day + timedelta(hours=19)),
        ("not_in_bed", day + timedelta(hours=25)),
    ]
