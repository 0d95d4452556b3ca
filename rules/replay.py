"""Replay stored history through the same engine on event time: the alerts it would have raised live."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from rules import engine_queries as q
from rules.clock import ManualClock
from rules.engine import RulesEngine, StoredEvent, event_from_row
from rules.replay_operator import OperatorDesk, SimulatedOperator

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ReplaySummary:
    """What one replay did."""

    run: str
    events: int
    alert_changes: int
    closed_by_operator: int = 0


async def replay_history(
    *, connection: asyncpg.Connection, run: str, since: datetime, until: datetime,
    resident_ids: list[str] | None = None, batch_size: int = 5000,
    watchdog_every: timedelta = timedelta(minutes=15), silence_watchdog: bool | None = None,
    operator: SimulatedOperator | None = None,
    progress: Callable[[datetime], None] | None = None,
) -> ReplaySummary:
    """Process events in [since, until) in event-time order under the run name `run`.

    Silence is judged on device time for every device that left check-ins in the replayed period
    (ingest stores a Zigbee2MQTT report that changes nothing as a `check_in` about hourly), so a
    backtest shows the no-contact alerts the live service would have raised. A device without any
    (history stored before check-ins were kept, canonical hubs) is not judged: from its events alone a
    quiet sensor would look dead. `silence_watchdog` True judges every device, False none. Replays
    also see the hubs' own offline reports (availability, bridge state).

    With an `operator`, every alert is answered and closed on event time as a control centre would,
    so a later incident for the same resident and condition raises an alert of its own.
    """
    if run == "live":
        raise ValueError("a replay must not write into the live run")
    clock = ManualClock(current=since)
    engine = RulesEngine(run=run, clock=clock, replay=True, plan_from=since)
    await engine.refresh(connection=connection)
    if resident_ids is not None:
        engine.residents = {rid: rules for rid, rules in engine.residents.items() if rid in resident_ids}
    if silence_watchdog is None:
        engine.silence_judged_for = frozenset(
            row["device_id"] for row in await connection.fetch(q.DEVICES_CHECKING_IN, since, until, resident_ids))
        silence_watchdog = bool(engine.silence_judged_for)
    desk = OperatorDesk(operator=operator, priorities=engine.priorities) if operator is not None else None
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
                batch_changes = await engine.process_events(connection=connection, events=pending)
            changes += len(batch_changes)
            pending.clear()
            next_due[0] = await engine.next_due(connection=connection)
            if desk is not None:
                await desk.take(connection=connection, changes=batch_changes)

    async def tick_until(moment: datetime) -> None:
        """Advance the clock to `moment`, stopping at every due timer, watchdog round and operator step."""
        nonlocal next_watchdog, changes
        while True:
            # Ticks also plan the daily timers, so they run every `watchdog_every` with or without it.
            operator_due = desk.next_due() if desk is not None else None
            step = min(d for d in (next_due[0], next_watchdog, operator_due) if d is not None)
            if step > moment:
                return
            if pending:
                # The held-back events may arm an earlier timer or raise an alert: look again after them.
                await flush()
                continue
            clock.advance_to(moment=step)
            if desk is not None and operator_due is not None and operator_due <= step:
                await desk.work_until(connection=connection, moment=step)
                continue
            round_due = step >= next_watchdog
            async with connection.transaction():
                tick_changes = await engine.tick(connection=connection, now=step,
                                                 with_watchdog=silence_watchdog and round_due)
            changes += len(tick_changes)
            if desk is not None:
                await desk.take(connection=connection, changes=tick_changes)
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
        if progress is not None:  # how far through the period, in event time (the CLI's progress bar)
            progress(rows[-1]["time"])
    await tick_until(until)
    await flush()
    closed = desk.closed if desk is not None else 0
    log.info("replay %s: %d events, %d alert changes, %d closed by the simulated operator",
             run, processed, changes, closed)
    return ReplaySummary(run=run, events=processed, alert_changes=changes, closed_by_operator=closed)
