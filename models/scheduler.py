"""Every morning, last night's summary for each resident, and the reactivation triggers checked.

Runs inside `telecare run` and as `telecare report worker`. A night is read once it is over for that
resident: the night window's end plus the tail the sleep search looks at, in the resident's own time
zone, so each flat is read when its own night has ended. A night read too early is read again. A
pass only computes what is missing, so a restart or a missed morning just catches up (up to
`catch_up_nights`). One scheduler at a time holds an advisory lock; a second one waits as a standby.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import asyncpg

from models import queries as q
from models.change_store import morning_changes
from models.config import EvidenceConfig
from models.nightly import Resident, resident_from_row
from models.nights import night_window
from models.service import NightlyRun, run_nightly
from telecare.settings import Settings

log = logging.getLogger(__name__)

EVIDENCE_LOCK_CLASS = 7_310_060
_CONNECTION_ERRORS = (OSError, TimeoutError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
                      asyncpg.CannotConnectNowError, asyncpg.AdminShutdownError)


@dataclass(frozen=True, slots=True)
class SchedulerOptions:
    """How often the scheduler looks, and how far back it catches up."""

    interval_s: float = 300.0
    catch_up_nights: int = 3
    pass_timeout_s: float = 1800.0
    org_id: str | None = None


def nights_due(*, resident: Resident, now: datetime, tail_hours: float, catch_up_nights: int) -> list[date]:
    """The recent nights of this resident that are over (window end plus tail), oldest first."""
    local_today = now.astimezone(resident.tz).date()
    due: list[date] = []
    for back in range(catch_up_nights, -1, -1):
        night_of = local_today - timedelta(days=back)
        window = night_window(night_of=night_of, start=resident.night_start, end=resident.night_end,
                              tz=resident.tz)
        if window.end + timedelta(hours=tail_hours) <= now:
            due.append(night_of)
    return due


async def morning_pass(*, connection: asyncpg.Connection, config: EvidenceConfig, now: datetime,
                       options: SchedulerOptions) -> list[NightlyRun]:
    """Compute every due night not yet read (or read too early); check triggers where nights were added."""
    runs: list[NightlyRun] = []
    for row in await connection.fetch(q.RESIDENTS_FOR_MORNING_RUN, options.org_id):
        resident = resident_from_row(row)
        due = nights_due(resident=resident, now=now, tail_hours=config.night.tail_hours,
                         catch_up_nights=options.catch_up_nights)
        if not due:
            continue
        fresh = {r["night_of"] for r in await connection.fetch(
            q.FRESH_NIGHTS, resident.resident_id, due[0], due[-1], config.alerts_run, config.night.tail_hours)}
        missing = [night for night in due if night not in fresh]
        if missing:
            runs.extend(await run_nightly(connection=connection, resident_ids=[resident.resident_id],
                                          first=missing[0], last=missing[-1], config=config, raise_alerts=True))
    return runs


async def _hold_lock(*, connection: asyncpg.Connection, stop: asyncio.Event, retry_s: float) -> bool:
    while not stop.is_set():
        if await connection.fetchval("SELECT pg_try_advisory_lock($1, 0)", EVIDENCE_LOCK_CLASS):
            return True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=retry_s)
    return False


async def run_scheduler(*, database_url: str, config: EvidenceConfig, stop: asyncio.Event,
                        options: SchedulerOptions | None = None,
                        clock: Callable[[], datetime] | None = None) -> None:
    """Run morning passes every `interval_s` until `stop` is set; survives the database going away."""
    options = options or SchedulerOptions()
    now = clock or (lambda: datetime.now(UTC))
    while not stop.is_set():
        try:
            connection = await asyncpg.connect(database_url, timeout=10)
        except _CONNECTION_ERRORS as exc:
            log.warning("evidence scheduler cannot reach the database (%s); retrying", type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=options.interval_s / 10)
            continue
        try:
            if not await _hold_lock(connection=connection, stop=stop, retry_s=options.interval_s / 10):
                return
            while not stop.is_set():
                runs = await asyncio.wait_for(
                    morning_pass(connection=connection, config=config, now=now(), options=options),
                    timeout=options.pass_timeout_s)
                if runs:
                    # Change detection runs here, after the nights are read, never in the ingest path.
                    changes = await asyncio.wait_for(morning_changes(
                        connection=connection, resident_ids=sorted({run.resident_id for run in runs}),
                        config=config), timeout=options.pass_timeout_s)
                    log.info("change detection: %s", changes)
                    log.info("read %d nights for %d residents (%d unknown); %d review alerts",
                             sum(run.nights for run in runs), len(runs), sum(run.unknown for run in runs),
                             sum(len(run.review_alerts) for run in runs))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=options.interval_s)
        except _CONNECTION_ERRORS as exc:
            log.warning("evidence scheduler lost the database (%s); reconnecting", type(exc).__name__)
        finally:
            connection.terminate()


async def run_evidence_scheduler(*, settings: Settings, stop: asyncio.Event) -> None:
    """The scheduler with default evidence settings, as `telecare run` starts it."""
    await run_scheduler(database_url=settings.database_url, config=EvidenceConfig(), stop=stop)
