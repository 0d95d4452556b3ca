"""Event rules and the alert lifecycle against the real database."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from rules import lifecycle
from rules.clock import ManualClock
from rules.engine import RulesEngine
from rules.stream import StreamFollower
from tests.rules_helpers import alerts_for, provision_flat, step, store_event

T0 = datetime(2026, 1, 12, 13, 0, tzinfo=UTC)  # daytime: the night rules stay out of these tests


async def _engine(db: asyncpg.Connection, run: str) -> tuple[RulesEngine, StreamFollower]:
    engine = RulesEngine(run=run, clock=ManualClock(current=T0), replay=False)
    await engine.refresh(connection=db)
    follower = StreamFollower(run=run)
    await follower.ensure_cursor(connection=db, start_at_end=True)
    return engine, follower


async def test_trigger_raises_one_alert_repeat_bumps_and_restore_clears(db: asyncpg.Connection, unique: str) -> None:
    resident, _ = await provision_flat(db=db, unique=unique)
    engine, follower = await _engine(db, f"t-{unique}")
    await store_event(db=db, unique=unique, device="smoke", kind="smoke_test", at=T0)
    await store_event(db=db, unique=unique, device="pendant", kind="personal_trigger", at=T0)
    await step(db=db, engine=engine, follower=follower, now=T0)
    [alert] = await alerts_for(db=db, resident=resident, run=f"t-{unique}")
    assert (alert["condition"], alert["priority"], alert["repeat_count"]) == ("personal_trigger", 2, 0)

    await store_event(db=db, unique=unique, device="pendant", kind="personal_trigger", at=T0 + timedelta(seconds=30))
    await store_event(db=db, unique=unique, device="pendant", kind="personal_trigger", at=T0 + timedelta(seconds=40),
                      restore=True)
    await step(db=db, engine=engine, follower=follower, now=T0 + timedelta(seconds=41))
    [alert] = await alerts_for(db=db, resident=resident, run=f"t-{unique}")
    assert (alert["repeat_count"], alert["priority"]) == (1, 1)  # a repeated activation goes up the queue
    assert alert["cleared_at"] == T0 + timedelta(seconds=40)
    assert alert["status"] == "raised"  # the restore never closes it for the operator


async def test_temperature_and_smoke_test_and_data(db: asyncpg.Connection, unique: str) -> None:
    resident, _ = await provision_flat(db=db, unique=unique)
    engine, follower = await _engine(db, f"t-{unique}")
    for minute, celsius in enumerate([19.0, 11.5, 11.0, 12.5, 13.5, 11.0]):
        await store_event(db=db, unique=unique, device="temp", kind="temperature",
                          at=T0 + timedelta(minutes=minute), value=celsius)
    await step(db=db, engine=engine, follower=follower, now=T0 + timedelta(minutes=6))
    [alert] = await alerts_for(db=db, resident=resident, run=f"t-{unique}")
    assert alert["condition"] == "temperature_low"
    # 12.5 is inside the hysteresis band: only 13.5 clears it; 11.0 afterwards re-opens the same alert.
    assert alert["repeat_count"] == 1 and alert["cleared_at"] is None


async def test_lifecycle_and_append_only_history(db: asyncpg.Connection, unique: str) -> None:
    resident, _ = await provision_flat(db=db, unique=unique)
    run = "live"
    engine, follower = await _engine(db, f"live-check-{unique}")
    engine.run = follower.run = run
    await follower.ensure_cursor(connection=db, start_at_end=True)
    await db.execute("UPDATE rule_cursors SET last_seq = (SELECT max(ingest_seq) FROM events) WHERE run = 'live'")
    notes: list[str] = []
    listener = await asyncpg.connect((db._addr and None) or None) if False else None
    del listener
    await db.add_listener("telecare_alerts", lambda *a: notes.append(a[3]))
    await store_event(db=db, unique=unique, device="smoke", kind="smoke", at=T0)
    await step(db=db, engine=engine, follower=follower, now=T0)
    [alert] = await alerts_for(db=db, resident=resident, run=run)
    alert_id = alert["alert_id"]
    await lifecycle.claim(connection=db, alert_id=alert_id, user_id="op-ann")
    with pytest.raises(lifecycle.AlertTransitionError):
        await lifecycle.claim(connection=db, alert_id=alert_id, user_id="op-bob")
    await lifecycle.acknowledge(connection=db, alert_id=alert_id, user_id="op-ann")
    await lifecycle.record_action(connection=db, alert_id=alert_id, user_id="op-ann",
                                  action=lifecycle.ActionCode.CALLED_RESIDENT)
    closed = await lifecycle.close(connection=db, alert_id=alert_id, user_id="op-ann",
                                   outcome=lifecycle.Outcome.FALSE_ALARM)
    assert closed.status == "closed" and closed.outcome == "false_alarm"
    steps = [(h["action"], h["actor"]) for h in await lifecycle.history(connection=db, alert_id=alert_id)]
    assert steps == [("raised", "rules"), ("claim", "op-ann"), ("acknowledge", "op-ann"),
                     ("action:called_resident", "op-ann"), ("close", "op-ann")]
    assert alert_id not in [a.alert_id for a in await lifecycle.list_queue(connection=db, limit=10_000)]
    with pytest.raises(asyncpg.PostgresError, match="append-only"):
        await db.execute("UPDATE alert_history SET actor = 'x' WHERE alert_id = $1", alert_id)
    with pytest.raises(asyncpg.PostgresError, match="append-only"):
        await db.execute("DELETE FROM alert_history WHERE alert_id = $1", alert_id)
    await db.execute("SELECT 1")  # let notifications arrive
    changes = [json.loads(n) for n in notes if json.loads(n)["alert_id"] == alert_id]
    assert [c["change"] for c in changes] == ["raised", "claim", "acknowledge", "action:called_resident", "close"]
    # A new smoke after closing is a new alert, not a reopened old one.
    await store_event(db=db, unique=unique, device="smoke", kind="smoke", at=T0 + timedelta(minutes=5))
    await step(db=db, engine=engine, follower=follower, now=T0 + timedelta(minutes=5))
    assert len(await alerts_for(db=db, resident=resident, run=run)) == 2
    with pytest.raises(lifecycle.AlertTransitionError):
        await lifecycle.reopen(connection=db, alert_id=alert_id, user_id="op-ann", reason="one active per condition")
