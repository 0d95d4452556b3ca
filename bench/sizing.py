"""Sizing: events per resident per day, database bytes per event, database size per 1,000 residents per
year, one ingest worker's drain rate, and report times, measured on simulated history.

`telecare simulate history` writes N residents x D days of Zigbee2MQTT traffic (the simulator's homes,
ground truth beside it); the messages are queued in a private broker for one `telecare ingest` (an
outage's backlog), drained into a fresh database, then `telecare report nightly` summarises every
night and `telecare report pack` builds one resident's evidence pack. Sizes come from PostgreSQL
(`hypertable_size`, `pg_total_relation_size`, indexes included). Extrapolation to 1,000 residents
for a year is linear in events: each resident's rows are separate (per-resident index, 7-day chunks),
which is also why a report reads one resident's rows whatever the database holds.

    python -m bench.sizing --residents 5 --days 14
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from bench.alarm_priority import queue_messages, start_service, stop_services
from bench.ingest_faults import create_session
from bench.scratch import ScratchStack, scratch_stack
from telecare.site import load_site_file, provision_site

TOPICS = ["z2m/#", "telecare/v1/#"]


def _telecare() -> str:
    return shutil.which("telecare") or str(Path(sys.executable).parent / "telecare")


def _simulate(*, residents: int, days: int, work: Path) -> dict[str, Any]:
    done = subprocess.run([_telecare(), "simulate", "history", "--residents", str(residents), "--days", str(days),
                           "--write-stream"], cwd=work, capture_output=True, text=True, check=True, timeout=1800,
                          env={**os.environ, "TELECARE_DEV_MODE": "true", "TELECARE_LOG_LEVEL": "WARNING"})
    summary: dict[str, Any] = json.loads(done.stdout)
    return summary


def _stream(path: Path) -> Iterator[tuple[str, bytes]]:
    with path.open("rb") as handle:
        for line in handle:
            _at, _flags, topic, payload = line.rstrip(b"\n").split(b"\t", 3)
            yield topic.decode(), payload


async def _drain(*, stack: ScratchStack, connection: asyncpg.Connection) -> dict[str, float]:
    """One ingest worker on the queued backlog; timed from its first stored event to the last."""
    env = {**os.environ, "TELECARE_DATABASE_URL": stack.database_url, "TELECARE_MQTT_URL": stack.broker.url,
           "TELECARE_MQTT_CLIENT_ID": "sizing-ingest", "TELECARE_DEV_MODE": "true", "TELECARE_LOG_LEVEL": "WARNING",
           "TELECARE_PRIORITY_LANE": "false", "TELECARE_MAX_EVENT_AGE_S": str(400 * 86400)}
    process = start_service(command="ingest", env=env, log=stack.work_dir / "ingest.log")
    first = last = 0.0
    stored = previous = 0
    try:
        while True:
            stored = int(await connection.fetchval("SELECT count(*) FROM events"))
            now = time.perf_counter()
            if stored and not first:
                first = now
            if stored != previous:
                last, previous = now, stored
            elif stored and now - last > 10:
                break
            if process.poll() is not None:
                raise RuntimeError("the ingest process ended")
            await asyncio.sleep(0.2)
    finally:
        stop_services([process])
    seconds = last - first
    return {"events": stored, "seconds": round(seconds, 1), "events_per_s": round(stored / seconds, 1)}


def _timed(args: list[str], *, stack: ScratchStack) -> float:
    env = {**os.environ, "TELECARE_DATABASE_URL": stack.database_url, "TELECARE_DEV_MODE": "true",
           "TELECARE_LOG_LEVEL": "WARNING"}
    started = time.perf_counter()
    subprocess.run([_telecare(), *args], env=env, capture_output=True, check=True, timeout=3600)
    return round(time.perf_counter() - started, 2)


async def run(*, residents: int, days: int) -> dict[str, Any]:
    """Simulate, ingest, summarise, measure; the JSON report."""
    work = Path(tempfile.mkdtemp(prefix="telecare-sizing-"))
    try:
        simulated = await asyncio.to_thread(_simulate, residents=residents, days=days, work=work)
        stream_path = work / simulated["stream"]
        site = load_site_file(path=work / simulated["site_file"])
        async with scratch_stack(prefix="sizing") as stack:
            connection = await asyncpg.connect(stack.database_url)
            try:
                await provision_site(connection=connection, site=site)
                create_session(port=stack.broker.port, client_id="sizing-ingest", topics=TOPICS)
                await asyncio.to_thread(queue_messages, port=stack.broker.port, messages=_stream(stream_path),
                                        count=int(simulated["messages"]))
                drain = await _drain(stack=stack, connection=connection)
                first = date.fromisoformat(simulated["start"])
                last = first + timedelta(days=days - 1)
                resident = site.residents[0].id
                nightly_s = await asyncio.to_thread(_timed, ["report", "nightly", "--org", site.organisation.id,
                                                             "--from", str(first), "--to", str(last), "--no-alerts"],
                                                    stack=stack)
                pack_s = await asyncio.to_thread(_timed, ["report", "pack", "--resident", resident, "--from",
                                                          str(first), "--to", str(last), "--out",
                                                          str(work / "pack.json")], stack=stack)
                sizes = await connection.fetchrow(
                    "SELECT hypertable_size('events') AS events_bytes,"
                    " pg_total_relation_size('nightly_summary') AS nightly_bytes,"
                    " (SELECT count(*) FROM nightly_summary) AS nights,"
                    " pg_total_relation_size('dead_letters') AS dead_letter_bytes,"
                    " pg_database_size(current_database()) AS database_bytes")
                dead_letters = int(await connection.fetchval("SELECT count(*) FROM dead_letters"))
            finally:
                await connection.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    assert sizes is not None
    events = drain["events"]
    events_per_resident_day = events / (residents * days)
    bytes_per_event = sizes["events_bytes"] / events
    nights = max(1, int(sizes["nights"]))
    bytes_per_night = sizes["nightly_bytes"] / nights
    per_thousand_year = 1000 * 365 * (events_per_resident_day * bytes_per_event + bytes_per_night)
    return {
        "benchmark": "sizing",
        "machine": {"cores": os.cpu_count(), "load_avg_1m_at_end": round(os.getloadavg()[0], 2),
                    "note": "2 cores shared with other engineers' tests and benchmarks running at the same time"},
        "residents": residents, "days": days, "messages": simulated["messages"],
        "messages_per_resident_day": round(simulated["messages"] / (residents * days), 1),
        "events_stored": events, "dead_letters": dead_letters,
        "events_per_resident_day": round(events_per_resident_day, 1),
        "events_hypertable_bytes": sizes["events_bytes"], "bytes_per_event_with_indexes": round(bytes_per_event, 1),
        "nightly_summaries": nights, "bytes_per_nightly_summary": round(bytes_per_night, 1),
        "one_ingest_worker_drain": drain,
        "report_nightly_all_residents_all_days_s": nightly_s,
        "report_pack_one_resident_s": pack_s,
        "extrapolated_database_gb_per_1000_residents_per_year": round(per_thousand_year / 1e9, 2),
        "extrapolated_events_per_1000_residents_per_year": round(1000 * 365 * events_per_resident_day),
    }


def main() -> None:
    """Run and print one JSON report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--residents", type=int, default=5)
    parser.add_argument("--days", type=int, default=14)
    args = parser.parse_args()
    sys.stdout.write(json.dumps(asyncio.run(run(residents=args.residents, days=args.days)), indent=2) + "\n")


if __name__ == "__main__":
    main()
