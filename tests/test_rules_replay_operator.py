"""A replay with a simulated operator: alerts are worked through the real lifecycle on event time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg

from rules import lifecycle
from rules.replay_operator import SimulatedOperator
from tests.rules_helpers import alerts_for, provision_flat, replay, store_event

DAY = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


async def test_operator_closes_each_alert_so_a_later_press_is_a_new_alert(db: asyncpg.Connection,
                                                                          unique: str) -> None:
    resident, _ = await provision_flat(db=db, unique=unique)
    # A resident with only the alarm rules on: a week of empty nights would raise the activity ones.
    await db.execute("INSERT INTO rule_config (resident_id, enabled_rules) VALUES ($1, $2)", resident,
                     ["personal_trigger", "battery_low"])
    week_later = DAY + timedelta(days=7)
    for at in (DAY, week_later):
        await store_event(db=db, unique=unique, device="pendant", kind="personal_trigger", at=at)
        await store_event(db=db, unique=unique, device="hall", kind="motion", at=at + timedelta(hours=2))
    await store_event(db=db, unique=unique, device="smoke", kind="battery_low", at=DAY + timedelta(days=3))
    since, until = DAY - timedelta(hours=1), week_later + timedelta(hours=3)

    # Nobody answering: the second press only bumps the first alert, which is what a live centre never shows.
    await replay(db=db, resident=resident, since=since, until=until, run=f"alone-{unique}")
    alone = await alerts_for(db=db, resident=resident, run=f"alone-{unique}")
    assert [(a["condition"], a["repeat_count"], a["status"]) for a in alone] == [
        ("personal_trigger", 1, "raised"), ("battery_low", 0, "raised")]

    operator = SimulatedOperator(close_after=timedelta(minutes=20))
    summary = await replay(db=db, resident=resident, since=since, until=until, run=f"desk-{unique}",
                           operator=operator)
    worked = await alerts_for(db=db, resident=resident, run=f"desk-{unique}")
    assert [(a["condition"], a["repeat_count"], a["status"], a["outcome"]) for a in worked] == [
        ("personal_trigger", 0, "closed", "reassured"), ("battery_low", 0, "closed", "equipment_fault"),
        ("personal_trigger", 0, "closed", "reassured")]
    assert summary.closed_by_operator == 3
    first = worked[0]
    assert first["acknowledged_at"] == DAY + timedelta(seconds=30)
    assert first["closed_at"] == DAY + timedelta(minutes=20)
    steps = [(h["action"], h["actor"], h["event_time"])
             for h in await lifecycle.history(connection=db, alert_id=first["alert_id"])]
    assert steps == [("raised", "rules", DAY),
                     ("claim", "replay-operator", DAY + timedelta(seconds=30)),
                     ("acknowledge", "replay-operator", DAY + timedelta(seconds=30)),
                     ("close", "replay-operator", DAY + timedelta(minutes=20))]



async def test_up_for_hours_without_a_bed_sensor_is_one_alert_though_it_is_closed(db: asyncpg.Connection,
                                                                                   unique: str) -> None:
    resident, _ = await provision_flat(db=db, unique=unique)
    await db.execute("UPDATE devices SET removed_at = now() WHERE device_id = $1", f"h-{unique}:bed")
    await db.execute("INSERT INTO rule_config (resident_id, enabled_rules) VALUES ($1, $2)", resident,
                     ["out_of_bed"])
    night = datetime(2026, 3, 2, 23, 0, tzinfo=UTC)
    await store_event(db=db, unique=unique, device="bedpir", kind="motion", at=night)
    # Out of the bedroom at one and about in the hall for three hours, then back to the bedroom.
    for minute in range(0, 181, 10):
        await store_event(db=db, unique=unique, device="hall", kind="motion",
                          at=night + timedelta(hours=2, minutes=minute))
    await store_event(db=db, unique=unique, device="bedpir", kind="motion", at=night + timedelta(hours=5, minutes=5))
    run = f"pir-{unique}"
    await replay(db=db, resident=resident, since=night - timedelta(hours=1), until=night + timedelta(hours=6), run=run,
                 operator=SimulatedOperator(close_after=timedelta(minutes=15)))
    alerts = await alerts_for(db=db, resident=resident, run=run)
    # The operator closed it a quarter of an hour later; the same night out of the bedroom is not raised again.
    assert [(a["condition"], a["raised_at"], a["status"]) for a in alerts] == [
        ("out_of_bed", night + timedelta(hours=3), "closed")]
