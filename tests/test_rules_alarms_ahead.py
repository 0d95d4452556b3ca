"""The rules apply a pendant press ahead of a backlog in their stream, and exactly once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from rules.alarms_ahead import apply_alarms_ahead
from rules.clock import WallClock
from rules.engine import RulesEngine
from rules.stream import StreamFollower
from tests.rules_helpers import alerts_for, provision_flat, store_event

BACKLOG = 3000


async def test_pendant_behind_a_backlog_is_an_alert_before_the_backlog_is_read(db: asyncpg.Connection) -> None:
    """3,000 motion events wait ahead of the cursor and the press comes after them: the press is an
    alert before the stream has read one of them, and still one alert, never repeated, once the
    stream has read them all and passed the press."""
    unique = uuid.uuid4().hex[:10]
    resident, hub = await provision_flat(db=db, unique=unique)
    run = f"ahead-{unique}"
    await db.execute("INSERT INTO rule_cursors (run, last_seq) VALUES ($1, (SELECT COALESCE(max(ingest_seq), 0)"
                     " FROM events))", run)
    start = datetime.now(UTC) - timedelta(hours=3)
    await db.execute(
        "INSERT INTO events (time, event_key, received_at, org_id, resident_id, hub_id, device_id, device_type,"
        " location, kind, source) SELECT $1::timestamptz + make_interval(secs => n * 3), gen_random_uuid(), now(),"
        " $2, $3, $4, $4 || ':hall', 'pir', 'hallway', 'motion', 'canonical' FROM generate_series(1, $5) AS n",
        start, f"o-{unique}", resident, hub, BACKLOG)
    await store_event(db=db, unique=unique, device="pendant", kind="personal_trigger", at=datetime.now(UTC))
    engine = RulesEngine(run=run, clock=WallClock(), replay=False)
    await engine.refresh(connection=db)
    follower = StreamFollower(run=run, batch_size=500)

    changes = await apply_alarms_ahead(connection=db, engine=engine, run=run)
    alerts = await alerts_for(db=db, resident=resident, run=run)
    assert [change.change for change in changes] == ["raised"] and len(alerts) == 1
    cursor = await db.fetchval("SELECT last_seq FROM rule_cursors WHERE run = $1", run)
    assert await db.fetchval("SELECT count(*) FROM events WHERE ingest_seq > $1", cursor) >= BACKLOG + 1
    pendant_condition = alerts[0]["condition"]
    # Applied once: asking again changes nothing.
    assert await apply_alarms_ahead(connection=db, engine=engine, run=run) == []

    read = 0
    while (consumed := (await follower.step(connection=db, engine=engine))[0]) > 0:
        read += consumed
    assert read >= BACKLOG + 1
    pendant_alerts = [alert for alert in await alerts_for(db=db, resident=resident, run=run)
                      if alert["condition"] == pendant_condition]
    assert [(alert["alert_id"], alert["repeat_count"]) for alert in pendant_alerts] == [(alerts[0]["alert_id"], 0)]
    assert await db.fetchval("SELECT count(*) FROM rule_alarms_ahead WHERE run = $1", run) == 0
