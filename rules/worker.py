"""The live rules worker: one at a time per run (advisory lock), a second one waits as a standby."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time as monotonic_time
from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from rules.alarms_ahead import apply_alarms_ahead
from rules.clock import Clock, WallClock
from rules.engine import RulesEngine
from rules.escalation import escalate_unclaimed
from rules.stream import StreamFollower
from telecare.settings import Settings

log = logging.getLogger(__name__)

RULES_LOCK_CLASS = 7_310_010
EVENTS_CHANNEL = "telecare_events"


class RulesWorkerError(RuntimeError):
    """The worker lost what it needs to run safely (its lock or its database)."""


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    """How often the live worker does what."""

    run: str = "live"
    poll_interval_s: float = 1.0
    tick_interval_s: float = 1.0
    watchdog_interval_s: float = 30.0
    refresh_interval_s: float = 60.0
    lock_retry_s: float = 1.0
    # Timers fire this long after due, so events still inside ingest can cancel them first.
    ingest_lag_s: float = 2.0
    batch_size: int = 2000
    # Conditions older than this (event time) when read are history, kept out of the live queue.
    history_limit_s: float = 24 * 3600.0


async def acquire_run_lock(*, connection: asyncpg.Connection, run: str, retry_s: float,
                           stop: asyncio.Event) -> bool:
    """Wait (as a standby) until this process holds the run's advisory lock; False if stopped first."""
    while not stop.is_set():
        if await connection.fetchval("SELECT pg_try_advisory_lock($1, hashtext($2))", RULES_LOCK_CLASS, run):
            return True
        try:
            await asyncio.wait_for(stop.wait(), timeout=retry_s)
        except TimeoutError:
            continue
    return False


async def run_worker(*, database_url: str, options: WorkerOptions, stop: asyncio.Event,
                     clock: Clock | None = None) -> None:
    """Run the rules for `options.run` until `stop` is set."""
    lock_connection = await asyncpg.connect(database_url)
    try:
        if not await acquire_run_lock(connection=lock_connection, run=options.run, retry_s=options.lock_retry_s,
                                      stop=stop):
            return
        log.info("rules worker holds the lock for run %s", options.run)
        work = await asyncpg.connect(database_url)
        wake = asyncio.Event()

        def on_events(_connection: object, _pid: int, _channel: str, _payload: object) -> None:
            wake.set()

        await work.add_listener(EVENTS_CHANNEL, on_events)
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(
                    _engine_loop(connection=work, options=options, stop=stop, wake=wake,
                                 clock=clock or WallClock(lag=timedelta(seconds=options.ingest_lag_s))),
                    name="rules-engine",
                )
                tasks.create_task(_hold_lock(connection=lock_connection, stop=stop), name="rules-lock-keeper")
        finally:
            await work.close()
    finally:
        await lock_connection.close()


async def _hold_lock(*, connection: asyncpg.Connection, stop: asyncio.Event) -> None:
    """Check the lock's session is alive; losing it means another worker may start, so stop."""
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), timeout=5.0)
        except TimeoutError:
            await asyncio.wait_for(connection.fetchval("SELECT 1"), timeout=5.0)


async def _engine_loop(*, connection: asyncpg.Connection, options: WorkerOptions, stop: asyncio.Event,
                       wake: asyncio.Event, clock: Clock) -> None:
    """Stream, timers, watchdog and escalation in one sequence, so they never race each other."""
    engine = RulesEngine(run=options.run, clock=clock, replay=False,
                         history_limit=timedelta(seconds=options.history_limit_s))
    follower = StreamFollower(run=options.run, batch_size=options.batch_size)
    await follower.ensure_cursor(connection=connection, start_at_end=True)
    await engine.refresh(connection=connection)
    last_tick = last_watchdog = last_refresh = 0.0
    while not stop.is_set():
        wake.clear()
        while True:
            # Alarms first, wherever they are in a backlog; then the next step of the stream.
            changes = await apply_alarms_ahead(connection=connection, engine=engine, run=options.run)
            consumed, stream_changes = await follower.step(connection=connection, engine=engine)
            changes += stream_changes
            for change in changes:
                log.info("alert %s %s", change.alert_id, change.change)
            if consumed < options.batch_size:
                break
        mono = monotonic_time.monotonic()
        if mono - last_tick >= options.tick_interval_s:
            last_tick = mono
            now = clock.now()
            with_watchdog = mono - last_watchdog >= options.watchdog_interval_s
            async with connection.transaction():
                changes = await engine.tick(connection=connection, now=now, with_watchdog=with_watchdog)
            if with_watchdog:
                last_watchdog = mono
            changes += await escalate_unclaimed(connection=connection, run=options.run, now=now + timedelta(
                seconds=options.ingest_lag_s))
            for change in changes:
                log.info("alert %s %s", change.alert_id, change.change)
        if mono - last_refresh >= options.refresh_interval_s:
            last_refresh = mono
            await engine.refresh(connection=connection)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=options.poll_interval_s)


async def run_rules_worker(*, settings: Settings, stop: asyncio.Event, run: str = "live") -> None:
    """The live rules worker for `telecare run`: holds the run's lock (or waits as a standby) until stopped."""
    await run_worker(database_url=settings.database_url, options=WorkerOptions(run=run), stop=stop)
