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


