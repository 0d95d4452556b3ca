"""Alarms never wait behind a backlog: pendant press to alert row while a queued backlog drains.

For each scenario, on a private broker and a fresh database: with the ingest offline, N canonical
motion events from 40 flats are queued in its persistent session (an outage). A real `telecare rules`
worker runs; a real `telecare ingest` process starts; 1 s later one pendant press is published for a
flat of its own. Measured: publish -> alert row (`alerts.queued_at`, stamped inside the rules
transaction), how much of the backlog had landed by then, the drain time, and that the backlog landed
exactly once (rows = distinct natural keys = messages published; one pendant event; one alert).
The press is published 1 s after the drain started (first backlog row committed): one published while
the ingest process is still starting, before it has any session connected, is part of the backlog.

Scenarios in one run, so that the comparison shares the machine's load:
- the full backlog with the priority lane (the design: ingest/priority_lane.py);
- a smaller backlog without it (TELECARE_PRIORITY_LANE=false): the pendant waits its turn.

Truth is what this script published; nothing is taken from the code under test.

    python -m bench.alarm_priority --backlog 1000000 --baseline-backlog 100000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from bench.ingest_faults import create_session
from bench.scratch import scratch_stack
from telecare.site import SiteFile, provision_site

TOPICS = ["z2m/#", "telecare/v1/#"]
FLATS = 40
INGEST_ID = "prio-ingest"
ALARM_HUB = "prio-alarm-hub"
ALARM_RESIDENT = "prio-alarm-res"
_MAX_OUTSTANDING = 20_000


def _site() -> SiteFile:
    residents: list[dict[str, Any]] = [
        {"id": f"prio-r{flat:02d}", "name": f"Resident {flat}",
         "hubs": [{"id": f"prio-h{flat:02d}", "protocol": "canonical"}]} for flat in range(FLATS)]
    residents.append({"id": ALARM_RESIDENT, "name": "Pendant wearer", "hubs": [{
        "id": ALARM_HUB, "protocol": "canonical",
        "devices": [{"friendly_name": "pendant", "type": "personal_trigger", "location": "bedroom"}]}]})
    return SiteFile.model_validate({"organisation": {"id": "prio-org", "name": "Priority bench"},
                                    "residents": residents})


def _backlog(*, count: int, start: datetime) -> Iterator[tuple[str, bytes]]:
    for index in range(count):
        flat = index % FLATS
        moment = start + timedelta(milliseconds=10 * index)
        yield f"telecare/v1/prio-h{flat:02d}/events", orjson.dumps({
            "schema": "telecare.event/1", "event_id": f"b{index}", "time": moment.isoformat(),
            "device": {"id": "hall-pir", "type": "pir", "location": "hallway"}, "kind": "motion"})


def queue_messages(*, port: int, messages: Iterator[tuple[str, bytes]], count: int) -> float:
    """Publish `count` messages at QoS 1, never more than `_MAX_OUTSTANDING` unacknowledged; seconds taken."""
    acked = [0]
    lock = threading.Condition()

    def on_publish(*_args: object) -> None:
        with lock:
            acked[0] += 1
            lock.notify_all()

    client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="prio-backlog",
                         protocol=paho.MQTTv5)
    client.max_queued_messages_set(0)
    client.max_inflight_messages_set(2000)
    client.on_publish = on_publish
    client.connect("127.0.0.1", port)
    client.loop_start()
    started = time.perf_counter()
    for sent, (topic, payload) in enumerate(messages, start=1):
        with lock:
            while sent - acked[0] > _MAX_OUTSTANDING:
                lock.wait(timeout=1)
        client.publish(topic, payload, qos=1)
    with lock:
        while acked[0] < count:
            if not lock.wait(timeout=120):
                raise TimeoutError(f"broker acknowledged {acked[0]} of {count}")
    client.disconnect()
    client.loop_stop()
    return time.perf_counter() - started


def _press_pendant(*, port: int) -> float:
    """One pendant press at QoS 1 with TCP_NODELAY; returns the wall-clock time it was sent."""
    client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="prio-pendant",
                         protocol=paho.MQTTv5)
    client.connect("127.0.0.1", port)
    sock = client.socket()
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    client.loop_start()
    payload = orjson.dumps({"schema": "telecare.event/1", "event_id": "press-1",
                            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
                            "device": {"id": "pendant", "type": "personal_trigger", "location": "bedroom"},
                            "kind": "personal_trigger"})
    sent_at = time.time()
    client.publish(f"telecare/v1/{ALARM_HUB}/events", payload, qos=1).wait_for_publish(timeout=10)
    client.disconnect()
    client.loop_stop()
    return sent_at


def start_service(*, command: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    telecare = shutil.which("telecare") or str(Path(sys.executable).parent / "telecare")
    with log.open("ab") as handle:
        return subprocess.Popen([telecare, command], env=env, stdout=handle, stderr=handle)


def stop_services(processes: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM every process, then wait for each (SIGKILL one that does not stop in 30 s)."""
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


async def _wait(connection: asyncpg.Connection, query: str, *, timeout_s: float, what: str,
                processes: list[subprocess.Popen[bytes]]) -> float:
    """Poll until `query` returns a number; returns the wall-clock time it first did."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = await connection.fetchval(query)
        if value:
            return time.time()
        if any(process.poll() is not None for process in processes):
            raise RuntimeError(f"a service process ended while waiting for {what}")
        await asyncio.sleep(0.05)
    raise TimeoutError(f"{what} did not happen within {timeout_s} s")


async def scenario(*, backlog: int, lane: bool) -> dict[str, Any]:
    """One outage-and-recovery with or without the priority lane; the JSON of what happened."""
    async with scratch_stack(prefix="alarm_priority") as stack:
        connection = await asyncpg.connect(stack.database_url)
        processes: list[subprocess.Popen[bytes]] = []
        try:
            await provision_site(connection=connection, site=_site())
            create_session(port=stack.broker.port, client_id=INGEST_ID, topics=TOPICS)
            start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=backlog // 100 + 600)
            queue_seconds = await asyncio.to_thread(queue_messages, port=stack.broker.port,
                                                    messages=_backlog(count=backlog, start=start), count=backlog)
            env = {**os.environ, "TELECARE_DATABASE_URL": stack.database_url, "TELECARE_MQTT_URL": stack.broker.url,
                   "TELECARE_MQTT_CLIENT_ID": INGEST_ID, "TELECARE_DEV_MODE": "true", "TELECARE_LOG_LEVEL": "INFO",
                   "TELECARE_PRIORITY_LANE": "true" if lane else "false"}
            processes.append(start_service(command="rules", env=env, log=stack.work_dir / "rules.log"))
            await _wait(connection, "SELECT count(*) FROM rule_cursors WHERE run = 'live'", timeout_s=60,
                        what="the rules worker's cursor", processes=processes)
            ingest_started = time.time()
            processes.append(start_service(command="ingest", env=env, log=stack.work_dir / "ingest.log"))
            # "During the drain": 1 s after the first backlog row is committed. A press published while
            # the process is still starting (before any session of it is connected) is part of the backlog.
            drain_started = await _wait(connection, "SELECT count(*) FROM events", timeout_s=120,
                                        what="the drain to start", processes=processes)
            await asyncio.sleep(1.0)
            pressed = await asyncio.to_thread(_press_pendant, port=stack.broker.port)
            seen = await _wait(connection, f"SELECT count(*) FROM alerts WHERE resident_id = '{ALARM_RESIDENT}'",
                               timeout_s=1800, what="the pendant's alert", processes=processes)
            backlog_when_alerted = int(await connection.fetchval(
                "SELECT count(*) FROM events WHERE kind = 'motion'"))
            queued_at = float(await connection.fetchval(
                "SELECT extract(epoch FROM min(queued_at)) FROM alerts WHERE resident_id = $1", ALARM_RESIDENT))
            drained = await _wait(connection, f"SELECT count(*) >= {backlog + 1} FROM events", timeout_s=1800,
                                  what="the whole backlog stored", processes=processes)
            await asyncio.sleep(2.0)  # the persistent session's copy of the press, and any late alert
            counts = await connection.fetchrow(
                "SELECT count(*) AS rows, count(DISTINCT event_key) AS keys,"
                " count(*) FILTER (WHERE kind = 'motion') AS motion,"
                " count(*) FILTER (WHERE kind = 'personal_trigger') AS pendant FROM events")
            alerts = int(await connection.fetchval("SELECT count(*) FROM alerts WHERE resident_id = $1",
                                                   ALARM_RESIDENT))
            duplicates = int(await connection.fetchval(
                "SELECT value FROM ingest_counters WHERE name = 'duplicates_dropped'"))
            lane_log = [line.split(": ", 1)[-1] for line in
                        (stack.work_dir / "ingest.log").read_text(encoding="utf-8", errors="replace").splitlines()
                        if "priority lane" in line][:5]
        finally:
            stop_services(processes)
            await connection.close()
    assert counts is not None
    return {
        "priority_lane": lane,
        "backlog_messages": backlog,
        "queue_publish_seconds": round(queue_seconds, 1),
        "ingest_process_start_to_drain_start_s": round(drain_started - ingest_started, 2),
        "pendant_published_after_drain_start_s": round(pressed - drain_started, 2),
        "pendant_publish_to_alert_row_s": round(queued_at - pressed, 3),
        "pendant_publish_to_alert_seen_by_poller_s": round(seen - pressed, 3),
        "backlog_stored_when_alert_seen": backlog_when_alerted,
        "backlog_drain_seconds_from_ingest_start": round(drained - ingest_started, 1),
        "drain_rate_msg_per_s": round(backlog / (drained - ingest_started), 1),
        "events_rows": int(counts["rows"]),
        "distinct_natural_keys": int(counts["keys"]),
        "motion_events": int(counts["motion"]),
        "pendant_events": int(counts["pendant"]),
        "pendant_alerts": alerts,
        "duplicates_dropped_by_key": duplicates,
        "backlog_landed_exactly_once": int(counts["motion"]) == backlog == int(counts["keys"]) - 1,
        "ingest_log_priority_lane": lane_log,
    }


async def run(*, backlog: int, baseline_backlog: int) -> dict[str, Any]:
    """Both scenarios; the JSON report."""
    baseline = await scenario(backlog=baseline_backlog, lane=False) if baseline_backlog else None
    with_lane = await scenario(backlog=backlog, lane=True)
    return {
        "benchmark": "alarm_priority",
        "machine": {"cores": os.cpu_count(), "load_avg_1m_at_end": round(os.getloadavg()[0], 2),
                    "note": "2 cores shared with other engineers' tests and benchmarks running at the same time"},
        "target_s": 5.0,
        "with_priority_lane": with_lane,
        "without_priority_lane": baseline,
    }


def main() -> None:
    """Run and print one JSON report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backlog", type=int, default=1_000_000)
    parser.add_argument("--baseline-backlog", type=int, default=100_000,
                        help="backlog of the run without the lane (0 to skip)")
    args = parser.parse_args()
    report = asyncio.run(run(backlog=args.backlog, baseline_backlog=args.baseline_backlog))
    sys.stdout.write(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
