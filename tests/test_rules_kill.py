"""Must-show 3 with a real process: SIGKILL `telecare rules` while timers are pending, restart it."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from tests.rules_helpers import alerts_for, provision_flat, store_event

DUE_IN = timedelta(seconds=12)


def _start_worker(*, database_url: str, run: str, log: Path) -> subprocess.Popen[bytes]:
    telecare = shutil.which("telecare") or str(Path(sys.executable).parent / "telecare")
    env = {**os.environ, "TELECARE_DATABASE_URL": database_url, "TELECARE_DEV_MODE": "true"}
    handle = log.open("ab")
    return subprocess.Popen([telecare, "rules", "--run", run], env=env, stdout=handle, stderr=handle)


def _kill(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)


async def _wait_for(db: asyncpg.Connection, sql: str, *args: object, timeout_s: float = 30.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not await db.fetchval(sql, *args):  # noqa: ASYNC110 - polls the database
            await asyncio.sleep(0.1)


async def _two_flats_with_pending_timers(*, db: asyncpg.Connection, prefix: str,
                                         due_in: timedelta) -> tuple[str, list[str], datetime]:
    """Two flats in their night: one resident out of bed, one out of the front door, both alarms due in
    `due_in`; a fresh run whose cursor starts after them. Returns (run, residents, the time they left)."""
    import uuid  # noqa: PLC0415

    first, second = uuid.uuid4().hex[:10], uuid.uuid4().hex[:10]
    now = datetime.now(UTC)
    residents = []
    for unique in (first, second):
        resident, _ = await provision_flat(db=db, unique=unique)
        residents.append(resident)
        # The night is now, and the timers are a minute long, so the test runs on the wall clock.
        await db.execute(
            "UPDATE residents SET night_start = $2, night_end = $3 WHERE resident_id = $1", resident,
            (now - timedelta(hours=1)).time().replace(microsecond=0),
            (now + timedelta(hours=2)).time().replace(microsecond=0))
        await db.execute("INSERT INTO rule_config (resident_id, out_of_bed_min, out_of_bed_max_min, left_flat_min)"
                         " VALUES ($1, 1, 1, 1)", resident)
    run = f"{prefix}-{first}"
    await db.execute("INSERT INTO rule_cursors (run, last_seq)"
                     " VALUES ($1, (SELECT COALESCE(max(ingest_seq), 0) FROM events))", run)
    left_bed = now - timedelta(minutes=1) + due_in
    await store_event(db=db, unique=first, device="bed", kind="bed_occupied", at=left_bed - timedelta(minutes=30))
    await store_event(db=db, unique=first, device="bed", kind="bed_vacated", at=left_bed)
    await store_event(db=db, unique=second, device="bed", kind="bed_occupied", at=left_bed - timedelta(minutes=30))
    await store_event(db=db, unique=second, device="front", kind="door_open", at=left_bed)
    return run, residents, left_bed


async def test_sigkilled_worker_loses_and_doubles_no_due_alarm(
    database_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    run, residents, left_bed = await _two_flats_with_pending_timers(db=db, prefix="sigkill", due_in=DUE_IN)
    log = tmp_path / "rules.log"

    worker = _start_worker(database_url=database_url, run=run, log=log)
    try:
        await _wait_for(db, "SELECT count(*) = 2 FROM rule_timers WHERE run = $1 AND state = 'pending'"
                            " AND rule IN ('out_of_bed', 'left_flat')", run)
        _kill(worker)  # timers pending, nothing due yet
        assert await alerts_for(db=db, resident=residents[0], run=run) == []
        await asyncio.sleep(max(0.0, (left_bed + timedelta(minutes=1) - datetime.now(UTC)).total_seconds()) + 1)
        worker = _start_worker(database_url=database_url, run=run, log=log)  # restarted after the due time
        # (Only these two residents: the worker also watches the shared test database's other flats.)
        await _wait_for(db, "SELECT count(*) = 2 FROM alerts WHERE run = $1 AND resident_id = ANY($2::text[])",
                        run, residents)
        _kill(worker)  # straight after firing: a second restart must not fire them again
        worker = _start_worker(database_url=database_url, run=run, log=log)
        await asyncio.sleep(4.0)  # several ticks of the restarted worker
    finally:
        if worker.poll() is None:
            worker.terminate()
            worker.wait(timeout=15)
    due = left_bed + timedelta(minutes=1)
    for resident, condition in zip(residents, ("out_of_bed", "left_flat"), strict=True):
        alerts = await alerts_for(db=db, resident=resident, run=run)
        assert [(a["condition"], a["repeat_count"]) for a in alerts] == [(condition, 0)], log.read_text()[-2000:]
        assert alerts[0]["raised_at"] == due
        # Raised by the restarted worker, within its ingest lag and restart of the due time.
        assert timedelta(0) <= alerts[0]["detected_at"] - due <= timedelta(seconds=15)
    fired = await db.fetchval("SELECT count(*) FROM rule_timers WHERE run = $1 AND state = 'fired'"
                              " AND rule IN ('out_of_bed', 'left_flat')", run)
    assert fired == 2


async def _wait_for_line(*, logs: list[Path], line: str, timeout_s: float) -> Path:
    """The first log that contains `line`, waiting for one to."""
    async with asyncio.timeout(timeout_s):
        while True:
            for log in logs:
                if log.exists() and line in log.read_text(encoding="utf-8", errors="replace"):
                    return log
            await asyncio.sleep(0.1)


async def test_standby_takes_over_within_ten_seconds_of_the_active_worker_dying(
    database_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """Two workers for one run: SIGKILL the one holding the lock while timers are pending; the standby
    holds the lock within 10 s and raises each due alarm once, on time."""
    run, residents, left_bed = await _two_flats_with_pending_timers(db=db, prefix="standby",
                                                                    due_in=timedelta(seconds=20))
    logs = [tmp_path / "rules-a.log", tmp_path / "rules-b.log"]
    workers = [_start_worker(database_url=database_url, run=run, log=log) for log in logs]
    holds = f"rules worker holds the lock for run {run}"
    try:
        active_log = await _wait_for_line(logs=logs, line=holds, timeout_s=30)
        await _wait_for(db, "SELECT count(*) = 2 FROM rule_timers WHERE run = $1 AND state = 'pending'"
                            " AND rule IN ('out_of_bed', 'left_flat')", run)
        await asyncio.sleep(2.0)  # the standby is up and polling for the lock
        active = logs.index(active_log)
        _kill(workers[active])
        killed_at = asyncio.get_running_loop().time()
        standby_log = logs[1 - active]
        await _wait_for_line(logs=[standby_log], line=holds, timeout_s=15)
        handover_s = asyncio.get_running_loop().time() - killed_at
        await _wait_for(db, "SELECT count(*) = 2 FROM alerts WHERE run = $1 AND resident_id = ANY($2::text[])",
                        run, residents)
        await asyncio.sleep(3.0)  # more ticks: nothing may fire twice
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.terminate()
                worker.wait(timeout=15)
    assert handover_s <= 10.0, f"standby took over after {handover_s:.1f} s"
    due = left_bed + timedelta(minutes=1)
    for resident, condition in zip(residents, ("out_of_bed", "left_flat"), strict=True):
        alerts = await alerts_for(db=db, resident=resident, run=run)
        assert [(a["condition"], a["repeat_count"]) for a in alerts] == [(condition, 0)]
        assert alerts[0]["raised_at"] == due
        assert timedelta(0) <= alerts[0]["detected_at"] - due <= timedelta(seconds=10)
