"""Two ingest workers on one MQTT 5 shared subscription: drain rate of one and of two, and no loss
and no duplicates when one of them is killed mid-stream.

On a private broker, three shared-subscription groups are made before anything is published, so the
same N-message canonical stream (40 flats, each message one event with its own event id) is queued
three times, split by Mosquitto between each group's sessions. Then, one after the other, with the
events table emptied in between:
1. one worker drains group `solo`;
2. two workers drain group `pair` (the drain rate of two);
3. two workers drain group `kill`; when 30 % of the events are stored, worker A is killed with SIGKILL
   (its MQTT receiver dies with it) and restarted 2 s later with the same client id, as systemd's
   `Restart=always` would: what A held unacknowledged is redelivered to its session.
Each drain is timed from the first stored event to the last; truth is the set this script published.

    python -m bench.ingest_shared --messages 200000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson

from bench.alarm_priority import FLATS, queue_messages, start_service, stop_services
from bench.ingest_faults import create_session
from bench.scratch import ScratchStack, scratch_stack
from telecare.site import SiteFile, provision_site

TOPIC = "telecare/v1/#"


def _site() -> SiteFile:
    return SiteFile.model_validate({"organisation": {"id": "shared-org", "name": "Shared bench"}, "residents": [
        {"id": f"prio-r{flat:02d}", "name": f"Resident {flat}",
         "hubs": [{"id": f"prio-h{flat:02d}", "protocol": "canonical"}]} for flat in range(FLATS)]})


def _stream(*, count: int) -> Iterator[tuple[str, bytes]]:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=count // 100 + 600)
    for index in range(count):
        yield f"telecare/v1/prio-h{index % FLATS:02d}/events", orjson.dumps({
            "schema": "telecare.event/1", "event_id": f"s{index}",
            "time": (start + timedelta(milliseconds=10 * index)).isoformat(),
            "device": {"id": "hall-pir", "type": "pir", "location": "hallway"}, "kind": "motion"})


def _env(*, stack: ScratchStack, client_id: str, group: str) -> dict[str, str]:
    # The priority lane is off: this measures the drain of the sessions of record alone.
    return {**os.environ, "TELECARE_DATABASE_URL": stack.database_url, "TELECARE_MQTT_URL": stack.broker.url,
            "TELECARE_MQTT_CLIENT_ID": client_id, "TELECARE_MQTT_SHARE_GROUP": group, "TELECARE_DEV_MODE": "true",
            "TELECARE_LOG_LEVEL": "WARNING", "TELECARE_PRIORITY_LANE": "false"}


async def _drain(*, stack: ScratchStack, group: str, workers: int, expected: int,
                 kill_at: float | None) -> dict[str, Any]:
    connection = await asyncpg.connect(stack.database_url)
    await connection.execute("TRUNCATE events")
    await connection.execute("UPDATE ingest_counters SET value = 0")
    ids = [f"{group}-{index}" for index in range(workers)]
    processes = {client_id: start_service(command="ingest", env=_env(stack=stack, client_id=client_id, group=group),
                                          log=stack.work_dir / f"{client_id}.log") for client_id in ids}
    first = 0.0
    killed: dict[str, Any] = {}
    started = time.perf_counter()
    try:
        while True:
            stored = int(await connection.fetchval("SELECT count(*) FROM events"))
            now = time.perf_counter()
            if stored and not first:
                first = now
            if stored >= expected:
                break
            if kill_at is not None and not killed and stored >= kill_at * expected:
                victim = processes[ids[0]]
                victim.send_signal(signal.SIGKILL)
                await asyncio.to_thread(victim.wait, 30)
                killed = {"worker": ids[0], "killed_at_events": stored}
                await asyncio.sleep(2.0)
                processes[ids[0]] = start_service(command="ingest",
                                                  env=_env(stack=stack, client_id=ids[0], group=group),
                                                  log=stack.work_dir / f"{ids[0]}.log")
                killed["restarted_after_s"] = 2.0
            if now - started > 1800:
                raise TimeoutError(f"{group}: stored {stored} of {expected}")
            await asyncio.sleep(0.05)
        await asyncio.sleep(3.0)  # anything redelivered late would show up as a duplicate attempt
        row = await connection.fetchrow("SELECT count(*) AS rows, count(DISTINCT event_key) AS keys FROM events")
        duplicates = int(await connection.fetchval(
            "SELECT value FROM ingest_counters WHERE name = 'duplicates_dropped'"))
    finally:
        stop_services(list(processes.values()))
        await connection.close()
    assert row is not None
    seconds = now - first
    return {"group": group, "workers": workers, "events_expected": expected, "events_rows": int(row["rows"]),
            "distinct_natural_keys": int(row["keys"]), "redeliveries_dropped_by_key": duplicates,
            "no_loss_no_duplicates": int(row["rows"]) == int(row["keys"]) == expected,
            "drain_seconds": round(seconds, 2), "drain_rate_events_per_s": round(expected / seconds, 1),
            **({"killed": killed} if killed else {})}


async def run(*, messages: int) -> dict[str, Any]:
    """All three drains in one run; the JSON report."""
    async with scratch_stack(prefix="ingest_shared") as stack:
        connection = await asyncpg.connect(stack.database_url)
        await provision_site(connection=connection, site=_site())
        await connection.close()
        for group, workers in (("solo", 1), ("pair", 2), ("kill", 2)):
            for index in range(workers):
                create_session(port=stack.broker.port, client_id=f"{group}-{index}",
                               topics=[f"$share/{group}/{TOPIC}"])
        queue_seconds = await asyncio.to_thread(queue_messages, port=stack.broker.port,
                                                messages=_stream(count=messages), count=messages)
        solo = await _drain(stack=stack, group="solo", workers=1, expected=messages, kill_at=None)
        pair = await _drain(stack=stack, group="pair", workers=2, expected=messages, kill_at=None)
        kill = await _drain(stack=stack, group="kill", workers=2, expected=messages, kill_at=0.3)
    return {
        "benchmark": "ingest_shared",
        "machine": {"cores": os.cpu_count(), "load_avg_1m_at_end": round(os.getloadavg()[0], 2),
                    "note": "2 cores shared with other engineers' tests and benchmarks running at the same time"},
        "messages": messages,
        "queue_publish_seconds_for_three_copies": round(queue_seconds, 1),
        "one_worker": solo,
        "two_workers": pair,
        "two_workers_one_killed_mid_stream": kill,
        "ratio_two_to_one_workers": round(pair["drain_rate_events_per_s"] / solo["drain_rate_events_per_s"], 3),
    }


def main() -> None:
    """Run and print one JSON report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=200_000)
    args = parser.parse_args()
    sys.stdout.write(json.dumps(asyncio.run(run(messages=args.messages)), indent=2) + "\n")


if __name__ == "__main__":
    main()

