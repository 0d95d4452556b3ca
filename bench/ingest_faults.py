"""No loss, no duplicates under faults: kill -9 the ingest or its MQTT receiver process, restart
PostgreSQL, restart the broker.

Runs a private Mosquitto and a private PostgreSQL (so restarting them disturbs nothing else), a real
`telecare ingest` process, and a publisher pushing a known set of messages. Mid-stream the chosen
fault is injected; afterwards the events hypertable must hold exactly the published set.

    python -m bench.ingest_faults --fault kill-ingest --events 100000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from telecare.db.migrate import migrate
from telecare.local_broker import LocalBroker
from telecare.local_postgres import LocalPostgres
from telecare.site import SiteFile, provision_site

FAULTS = ("none", "kill-ingest", "kill-receiver", "restart-postgres", "restart-broker")
_HUBS = 20
_MAX_OUTSTANDING = 20_000


@dataclass(frozen=True)
class PlannedMessage:
    """A message to publish and the event (if any) it must produce."""

    topic: str
    payload: bytes
    expected: tuple[str, str, str, str | None] | None  # (hub, device, kind, iso time or None)


def plan_messages(*, count: int, start: datetime) -> list[PlannedMessage]:
    """A mix of Z2M doors (with last_seen), Z2M PIRs (arrival time) and canonical events."""
    planned: list[PlannedMessage] = []
    door_state = [True] * _HUBS
    pir_state = [False] * _HUBS
    for index in range(count):
        hub = index % _HUBS
        moment = start + timedelta(milliseconds=index * 10)
        iso = moment.isoformat()
        flavour = (index // _HUBS) % 3
        if flavour == 0:
            door_state[hub] = not door_state[hub]
            kind = "door_closed" if door_state[hub] else "door_open"
            planned.append(PlannedMessage(f"z2m/zh{hub}/front door",
                                          orjson.dumps({"contact": door_state[hub], "last_seen": iso}),
                                          (f"zh{hub}", f"zh{hub}:front door", kind, iso)))
        elif flavour == 1:
            # No last_seen: the event time is the arrival time, so only the DUP bookkeeping and edge
            # detection stand between a redelivery and a duplicate.
            pir_state[hub] = not pir_state[hub]
            expected = (f"zh{hub}", f"zh{hub}:hall pir", "motion", None) if pir_state[hub] else None
            planned.append(PlannedMessage(f"z2m/zh{hub}/hall pir", orjson.dumps({"occupancy": pir_state[hub]}),
                                          expected))
        else:
            planned.append(PlannedMessage(f"telecare/v1/ch{hub}/events", orjson.dumps({
                "schema": "telecare.event/1", "event_id": f"e{index}", "time": iso,
                "device": {"id": "kitchen-pir", "type": "pir", "location": "kitchen"}, "kind": "motion"}),
                (f"ch{hub}", f"ch{hub}:kitchen-pir", "motion", iso)))
    return planned


def site_file() -> SiteFile:
    """Twenty Z2M hubs and twenty canonical hubs, one resident each."""
    residents = []
    for hub in range(_HUBS):
        residents.append({"id": f"rz{hub}", "name": f"Z resident {hub}", "hubs": [{"id": f"zh{hub}", "devices": [
            {"friendly_name": "front door", "type": "door", "location": "front_door"},
            {"friendly_name": "hall pir", "type": "pir", "location": "hallway"}]}]})
        residents.append({"id": f"rc{hub}", "name": f"C resident {hub}",
                          "hubs": [{"id": f"ch{hub}", "protocol": "canonical"}]})
    return SiteFile.model_validate({"organisation": {"id": "fault-org", "name": "Fault test"}, "residents": residents})


class Publisher:
    """A hub-like QoS 1 publisher with a persistent session that survives a broker restart."""

    def __init__(self, *, port: int, client_id: str = "fault-publisher") -> None:
        self.acked = 0
        self._lock = threading.Condition()
        self.client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=paho.MQTTv5)
        self.client.max_queued_messages_set(0)
        self.client.max_inflight_messages_set(2000)
        self.client.reconnect_delay_set(min_delay=1, max_delay=2)
        self.client.on_publish = self._on_publish
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = 3600
        self.client.connect("127.0.0.1", port, clean_start=False, properties=properties)
        self.client.loop_start()

    def _on_publish(self, *_args: object) -> None:
        with self._lock:
            self.acked += 1
            self._lock.notify_all()

    def publish(self, *, messages: list[PlannedMessage], on_progress: threading.Event | None = None,
                progress_at: int = 0) -> None:
        """Publish all, never more than `_MAX_OUTSTANDING` unacknowledged; may be called again."""
        with self._lock:
            base = self.acked  # every earlier call's messages are acknowledged by now
        for sent, message in enumerate(messages, start=1):
            with self._lock:
                while sent - (self.acked - base) > _MAX_OUTSTANDING:
                    self._lock.wait(timeout=1)
            self.client.publish(message.topic, message.payload, qos=1)
            if on_progress is not None and sent == progress_at:
                on_progress.set()
        with self._lock:
            while self.acked - base < len(messages):
                if not self._lock.wait(timeout=120):
                    raise TimeoutError(f"broker acknowledged only {self.acked - base} of {len(messages)}")

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()


def create_session(*, port: int, client_id: str, topics: list[str]) -> None:
    """Make the ingest's persistent session (and its subscriptions) exist before it first runs."""
    client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=paho.MQTTv5)
    subscribed = threading.Event()
    client.on_subscribe = lambda *_args: subscribed.set()
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = 7 * 24 * 3600
    client.connect("127.0.0.1", port, clean_start=False, properties=properties)
    client.loop_start()
    client.subscribe([(topic, 1) for topic in topics])
    if not subscribed.wait(timeout=10):
        raise RuntimeError("broker did not confirm the subscription")
    client.disconnect()
    client.loop_stop()


def start_ingest_process(*, database_url: str, mqtt_url: str, log_path: Path,
                         client_id: str = "fault-ingest") -> subprocess.Popen[bytes]:
    """`telecare ingest` as a separate process, logging to `log_path`."""
    env = {**os.environ, "TELECARE_DATABASE_URL": database_url, "TELECARE_MQTT_URL": mqtt_url,
           "TELECARE_MQTT_CLIENT_ID": client_id, "TELECARE_DEV_MODE": "true", "TELECARE_LOG_LEVEL": "WARNING"}
    telecare = shutil.which("telecare") or str(Path(sys.executable).parent / "telecare")
    with log_path.open("ab") as log_file:
        return subprocess.Popen([telecare, "ingest"], env=env, stdout=log_file, stderr=log_file)


def receiver_pids(ingest_pid: int) -> list[int]:
    """The MQTT receiver process(es) an ingest process started (its children, from /proc)."""
    children: list[int] = []
    for task in Path(f"/proc/{ingest_pid}/task").iterdir():
        children.extend(int(pid) for pid in (task / "children").read_text().split())
    return children


async def _count(database_url: str) -> int:
    connection = await asyncpg.connect(database_url)
    try:
        return int(await connection.fetchval("SELECT count(*) FROM events"))
    finally:
        await connection.close()


async def _wait_for_count(*, database_url: str, expected: int, timeout_s: float) -> int:
    deadline = time.monotonic() + timeout_s
    last, stable_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        try:
            count = await _count(database_url)
        except (OSError, asyncpg.PostgresError):
            await asyncio.sleep(0.5)
            continue
        if count != last:
            last, stable_since = count, time.monotonic()
        elif count >= expected and time.monotonic() - stable_since > 3:
            return count
        await asyncio.sleep(0.25)
    return last


async def run_fault_scenario(*, fault: str, events: int, work_dir: Path | None = None) -> dict[str, object]:
    """Publish `events` messages, inject `fault` mid-stream, and compare what was stored."""
    if fault not in FAULTS:
        raise ValueError(f"fault must be one of {FAULTS}")
    base = Path(work_dir or tempfile.mkdtemp(prefix="telecare-faults-"))
    postgres = LocalPostgres()
    postgres.init()
    postgres.start()
    broker = LocalBroker(data_dir=base / "mosquitto")
    broker.start()
    ingest: subprocess.Popen[bytes] | None = None
    publisher: Publisher | None = None
    try:
        admin = await asyncpg.connect(postgres.admin_url)
        await admin.execute("CREATE DATABASE faults")
        await admin.close()
        database_url = postgres.url("faults")
        await migrate(database_url=database_url)
        connection = await asyncpg.connect(database_url)
        await provision_site(connection=connection, site=site_file())
        await connection.close()

        log_path = base / "ingest.log"
        create_session(port=broker.port, client_id="fault-ingest", topics=["z2m/#", "telecare/v1/#"])
        ingest = start_ingest_process(database_url=database_url, mqtt_url=broker.url, log_path=log_path)
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=6)
        planned = plan_messages(count=events, start=start)
        # A first message proves the ingest's persistent session exists before the real stream.
        sentinel = PlannedMessage("telecare/v1/ch0/events", orjson.dumps({
            "schema": "telecare.event/1", "event_id": "sentinel", "time": (start - timedelta(minutes=1)).isoformat(),
            "device": {"id": "kitchen-pir", "type": "pir", "location": "kitchen"}, "kind": "motion"}), None)
        publisher = Publisher(port=broker.port)
        publisher.publish(messages=[sentinel])
        if await _wait_for_count(database_url=database_url, expected=1, timeout_s=30) < 1:
            raise RuntimeError("ingest never stored the sentinel event")

        fault_point = threading.Event()
        started = time.monotonic()
        publish_thread = threading.Thread(
            target=publisher.publish, kwargs={"messages": planned, "on_progress": fault_point,
                                              "progress_at": int(len(planned) * 0.4)}, daemon=True)
        publish_thread.start()
        await asyncio.to_thread(fault_point.wait, 300)
        in_db_at_fault = await _count(database_url)
        if fault == "kill-ingest":
            ingest.send_signal(signal.SIGKILL)
            ingest.wait(timeout=10)
            await asyncio.sleep(1)
            ingest = start_ingest_process(database_url=database_url, mqtt_url=broker.url, log_path=log_path)
        elif fault == "kill-receiver":
            # The ingest must replace its receiver process by itself, without a restart.
            for receiver in receiver_pids(ingest.pid):
                os.kill(receiver, signal.SIGKILL)
        elif fault == "restart-postgres":
            postgres.stop(mode="fast")
            await asyncio.sleep(2)
            postgres.start()
        elif fault == "restart-broker":
            broker.restart()
        await asyncio.to_thread(publish_thread.join, 600)
        expected_events = [message.expected for message in planned if message.expected is not None]
        await _wait_for_count(database_url=database_url, expected=len(expected_events) + 1,
                                       timeout_s=max(120.0, events / 500))
        elapsed = time.monotonic() - started

        connection = await asyncpg.connect(database_url)
        rows = await connection.fetch("SELECT hub_id, device_id, kind, time, time_from_arrival FROM events")
        dead = int(await connection.fetchval("SELECT count(*) FROM dead_letters"))
        duplicates_dropped = int(await connection.fetchval(
            "SELECT value FROM ingest_counters WHERE name = 'duplicates_dropped'"))
        await connection.close()
        stored_keys = Counter(
            (row["hub_id"], row["device_id"], row["kind"],
             None if row["time_from_arrival"] else row["time"].isoformat())
            for row in rows
        )
        expected_keys = Counter(expected_events)
        expected_keys[("ch0", "ch0:kitchen-pir", "motion", (start - timedelta(minutes=1)).isoformat())] += 1
        missing = expected_keys - stored_keys
        extra = stored_keys - expected_keys
        # Messages without last_seen or an event id have no identity: when the *publisher* resends them
        # after a broker restart (QoS 1 is at-least-once on that leg too), nobody downstream can tell
        # a resend from a repeat. Those are counted apart from everything else.
        extra_identified = sum(count for key, count in extra.items() if key[3] is not None)
        extra_unidentified = sum(count for key, count in extra.items() if key[3] is None)
        return {
            "fault": fault,
            "messages_published": len(planned),
            "events_expected": sum(expected_keys.values()),
            "events_stored": len(rows),
            "missing": sum(missing.values()),
            "duplicated_or_unexpected": extra_identified + extra_unidentified,
            "duplicated_identified": extra_identified,
            "duplicated_without_identity": extra_unidentified,
            "dead_letters": dead,
            "duplicates_dropped_by_key": duplicates_dropped,
            "stored_before_fault": in_db_at_fault,
            "seconds": round(elapsed, 1),
            "exact": not missing and not extra and dead == 0,
            # A worker that died on the fault would show up as missing events; say so plainly.
            "ingest_alive_at_end": ingest.poll() is None,
            "examples_missing": [list(key) for key in list(missing)[:3]],
            "examples_extra": [list(key) for key in list(extra)[:3]],
            # Why it stopped, if it did: the log's end, so a rare failure can be read from the report.
            "ingest_log_tail": "" if ingest.poll() is None else log_path.read_text(errors="replace")[-4000:],
        }
    finally:
        if publisher is not None:
            publisher.close()
        if ingest is not None and ingest.poll() is None:
            ingest.send_signal(signal.SIGTERM)
            try:
                ingest.wait(timeout=20)
            except subprocess.TimeoutExpired:
                ingest.kill()
        broker.stop()
        postgres.destroy()
        if work_dir is None:
            shutil.rmtree(base, ignore_errors=True)


def main() -> None:
    """Run the chosen faults and print one JSON report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fault", choices=(*FAULTS, "all"), default="all")
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    faults = [fault for fault in FAULTS if fault != "none"] if args.fault == "all" else [args.fault]
    results = [asyncio.run(run_fault_scenario(fault=fault, events=args.events)) for fault in faults]
    sys.stdout.write(json.dumps({"benchmark": "ingest_faults", "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
