"""Replay stored history through the same engine on event time: the alerts it would have raised live."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from rules import engine_queries as q
from rules.clock import ManualClock
from rules.engine import RulesEngine, StoredEvent, event_from_row

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ReplaySummary:
    """What one replay did."""

    run: str
    events: int
    alert_changes: int


async def replay_history(
    *, connection: asyncpg.Connection, run: str, since: datetime, until: datetime,
    resident_ids: list[str] | None = None, batch_size: int = 5000,
    watchdog_every: timedelta = timedelta(minutes=15), silence_watchdog: bool = False,
) -> ReplaySummary:
    """Process events in [since, until) in event-time order under the run name `run`.

    The silence watchdog is off by default: a Zigbee2MQTT check-in that changes nothing leaves no
    event (only `devices.last_seen`, which holds today's value, not history's), so judged from stored
    events alone every motion sensor of a sleeping flat looks dead. Replays still see the hubs' own
    offline reports (availability, bridge state); silence is judged live, from last_seen.
    """
    if run == "live":
        raise ValueError("a replay must not write into the live run")
    clock = ManualClock(current=since)
    engine = RulesEngine(run=run, clock=clock, replay=True)
    await engine.refresh(connection=connection)
    if resident_ids is not None:
        engine.residents = {rid: rules for rid, rules in engine.residents.items() if rid in resident_ids}
    processed = changes = 0
    next_watchdog = since
    after: tuple[datetime, int] = (since - timedelta(microseconds=1), 0)
    pending: list[StoredEvent] = []
    # Timers change only when a batch is flushed or a tick runs; a timer armed by a pending event and
    # due before the flush still fires with its own due time (replay stamps detection at the due time).
    next_due: list[datetime | None] = [await engine.next_due(connection=connection)]

    async def flush() -> None:
        nonlocal changes
        if pending:
            async with connection.transaction():
                changes += len(await engine.process_events(connection=connection, events=pending))
            pending.clear()
            next_due[0] = await engine.next_due(connection=connection)

    async def tick_until(moment: datetime) -> None:
        """Advance the clock to `moment`, stopping at every due timer and watchdog round on the way."""
        nonlocal next_watchdog, changes
        while True:
            # Ticks also plan the daily timers, so they run every `watchdog_every` with or without it.
            step = min(d for d in (next_due[0], next_watchdog) if d is not None)
            if step > moment:
                return
            await flush()
            clock.advance_to(moment=step)
            round_due = step >= next_watchdog
            async with connection.transaction():
                changes += len(await engine.tick(connection=connection, now=step,
                                                 with_watchdog=silence_watchdog and round_due))
            if round_due:
                next_watchdog = step + watchdog_every
            next_due[0] = await engine.next_due(connection=connection)

    while True:
        rows = await connection.fetch(q.EVENTS_BY_TIME, since, until, after[0], after[1], resident_ids, batch_size)
        if not rows:
            break
        for row in rows:
            event = event_from_row(row)
            if event.resident_id is None or (resident_ids is not None and event.resident_id not in resident_ids):
                continue
            await tick_until(event.time)
            clock.advance_to(moment=event.time)
            pending.append(event)
            processed += 1
        after = (rows[-1]["time"], rows[-1]["ingest_seq"])
        await flush()
    await tick_until(until)
    await flush()
    log.info("replay %s: %d events, %d alert changes", run, processed, changes)
    return ReplaySummary(run=run, events=processed, alert_changes=changes)
