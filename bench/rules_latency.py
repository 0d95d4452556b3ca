"""Must-show 2: publish-to-alert latency for immediate alarms under 1,000 background events/s.

A private Mosquitto, a fresh database, a real `telecare ingest` and a real `telecare rules` process.
One publisher thread sends canonical motion events at the background rate across the background
flats and, every `--alarm-interval` seconds, one immediate alarm (pendant, fall or smoke, in turn)
from a flat of its own. This process LISTENs on `telecare_alerts`.

- publish -> alert row: `alerts.queued_at` (clock_timestamp() inside the rules transaction) minus the
  publish time; the row commits a moment later.
- publish -> notification: when this process received the NOTIFY, which PostgreSQL delivers only
  after the commit: an upper bound on publish -> committed.

    python -m bench.rules_latency --seconds 30 --rate 1000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from telecare.db.migrate import migrate
from telecare.local_broker import LocalBroker
from telecare.site import SiteFile, provision_site

ADMIN_URL = os.environ.get("TELECARE_BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
ALARMS = (("personal_trigger", "living_room", "pendant", "personal_trigger"),
          ("fall_detector", "bathroom", "fall radar", "fall"),
          ("smoke", "kitchen", "smoke", "smoke"))
BACKGROUND_FLATS = 50


def _site(*, alarm_flats: int) -> dict[str, Any]:
    residents = []
    for index in range(BACKGROUND_FLATS + alarm_flats):
        hub = f"lat-h{index:04d}"
        residents.append({"id": f"lat-r{index:04d}", "name": f"Resident {index}", "hubs": [{
            "id": hub, "protocol": "canonical", "devices": [
                {"friendly_name": "kitchen-pir", "type": "pir", "location": "kitchen"},
                {"friendly_name": "pendant", "type": "personal_trigger", "location": "living_room"},
                {"friendly_name": "fall-radar", "type": "fall_detector", "location": "bathroom"},
                {"friendly_name": "smoke", "type": "smoke", "location": "kitchen"},
            ]}]})
    return {"organisation": {"id": "lat-org", "name": "Latency bench"}, "residents": residents}


def _event(
    *, hub_index: int, event_id: str, device: str, device_type: str, location: str, kind: str
) -> tuple[str, bytes]:
    payload = orjson.dumps({"schema": "telecare.event/1", "event_id": event_id,
                            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
                            "device": {"id": device, "type": device_type, "location": location}, "kind": kind})
    return f"telecare/v1/lat-h{hub_index:04d}/events", payload


def _publisher(*, port: int, rate: float, seconds: float, alarm_interval: float,
               sent: dict[int, tuple[str, float]], done: threading.Event) -> None:
    """Background motion at `rate`/s, plus one alarm per `alarm_interval` s, each alarm flat used once."""
    client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="lat-publisher",
                         protocol=paho.MQTTv5)
    client.max_queued_messages_set(0)
    client.max_inflight_messages_set(2000)
    client.connect("127.0.0.1", port)
    sock = client.socket()
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no Nagle stalls on the alarm messages
    client.loop_start()
    start = time.monotonic()
    count = alarm = 0
    next_alarm = start + 1.0
    try:
        while (now := time.monotonic()) - start < seconds:
            if now >= next_alarm:
                flat = BACKGROUND_FLATS + alarm
                device_type, location, device, kind = ALARMS[alarm % len(ALARMS)]
                topic, payload = _event(hub_index=flat, event_id=f"alarm-{alarm}", device=device.replace(" ", "-"),
                                        device_type=device_type, location=location, kind=kind)
                sent[flat] = (kind, time.time())
                client.publish(topic, payload, qos=1)
                alarm += 1
                next_alarm += alarm_interval
            due = start + count / rate
            if now < due:
                time.sleep(min(due - now, 0.002))
                continue
            topic, payload = _event(hub_index=count % BACKGROUND_FLATS, event_id=f"bg-{count}", device="kitchen-pir",
                                    device_type="pir", location="kitchen", kind="motion")
            client.publish(topic, payload, qos=1)
            count += 1
    finally:
        sent[-1] = ("background", float(count))
        time.sleep(1.0)
        client.disconnect()
        client.loop_stop()
        done.set()


def _percentiles(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"count": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {"count": len(ordered), "p50_ms": round(statistics.median(ordered) * 1000, 1),
            "p99_ms": round(p99 * 1000, 1), "max_ms": round(ordered[-1] * 1000, 1)}


def _process(*, args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    telecare = shutil.which("telecare") or str(Path(sys.executable).parent / "telecare")
    handle = log.open("ab")
    return subprocess.Popen([telecare, *args], env=env, stdout=handle, stderr=handle)


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    alarm_flats = int(args.seconds / args.alarm_interval) + 2
    name = f"telecare_latency_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(ADMIN_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = f"{ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    work = Path(tempfile.mkdtemp(prefix="rules-latency-"))
    processes: list[subprocess.Popen[bytes]] = []
    try:
        await migrate(database_url=url)
        connection = await asyncpg.connect(url)
        await provision_site(connection=connection, site=SiteFile.model_validate(_site(alarm_flats=alarm_flats)))
        with LocalBroker(data_dir=work / "mosquitto") as broker:
            env = {**os.environ, "TELECARE_DATABASE_URL": url, "TELECARE_MQTT_URL": broker.url,
                   "TELECARE_DEV_MODE": "true", "TELECARE_MQTT_CLIENT_ID": "lat-ingest",
                   "TELECARE_LOG_LEVEL": "WARNING"}
            if args.linger_ms is not None:
                env["TELECARE_INGEST_BATCH_LINGER_MS"] = str(args.linger_ms)
            processes.append(_process(args=["ingest"], env=env, log=work / "ingest.log"))
            if args.profile_rules:
                # cProfile the rules worker (written when it stops on SIGTERM) to see where time goes.
                code = ("import cProfile, sys; from telecare.cli import main; "
                        f"cProfile.run('main([\"rules\"])', {str(args.profile_rules)!r})")
                handle = (work / "rules.log").open("ab")
                processes.append(subprocess.Popen(  # noqa: ASYNC220 - started once, before the measurement
                    [sys.executable, "-c", code], env=env, stdout=handle, stderr=handle))
            else:
                processes.append(_process(args=["rules"], env=env, log=work / "rules.log"))
            notified: dict[int, float] = {}

            def on_alert(_connection: object, _pid: int, _channel: str, payload: object) -> None:
                body = json.loads(str(payload))
                if body.get("change") == "raised":
                    notified.setdefault(int(body["alert_id"]), time.time())

            committed: list[tuple[int, float]] = []

            def on_events(_connection: object, _pid: int, _channel: str, payload: object) -> None:
                committed.append((int(str(payload)), time.time()))

            await connection.add_listener("telecare_alerts", on_alert)
            await connection.add_listener("telecare_events", on_events)
            await asyncio.sleep(args.warmup)  # both workers connected and subscribed
            sent: dict[int, tuple[str, float]] = {}
            done = threading.Event()
            thread = threading.Thread(target=_publisher, name="lat-publisher", kwargs={
                "port": broker.port, "rate": args.rate, "seconds": args.seconds,
                "alarm_interval": args.alarm_interval, "sent": sent, "done": done}, daemon=True)
            started = time.monotonic()
            thread.start()
            await asyncio.to_thread(done.wait, args.seconds + 60)
            elapsed = time.monotonic() - started
            await asyncio.sleep(args.drain)
            rows = await connection.fetch(
                "SELECT a.alert_id, a.resident_id, a.condition, a.trigger_seq,"
                " extract(epoch FROM a.queued_at) AS queued,"
                " extract(epoch FROM e.received_at) AS received FROM alerts a"
                " JOIN events e ON e.ingest_seq = a.trigger_seq WHERE a.run = 'live'")
            background_events = await connection.fetchval(
                "SELECT count(*) FROM events WHERE device_id LIKE '%kitchen-pir'")
            await connection.close()
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        admin = await asyncpg.connect(ADMIN_URL)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    by_flat = {int(str(row["resident_id"]).rsplit("r", 1)[1]): row for row in rows}
    to_row: dict[str, list[float]] = {"all": []}
    to_notify: dict[str, list[float]] = {"all": []}
    to_ingest: list[float] = []
    to_commit: list[float] = []
    ingest_to_row: list[float] = []
    missing = 0
    for flat, (kind, at) in sent.items():
        if flat < 0:
            continue
        row = by_flat.get(flat)
        if row is None or row["alert_id"] not in notified:
            missing += 1
            continue
        to_ingest.append(float(row["received"]) - at)
        # The ingest NOTIFYs each batch's max seq after its commit: the first at or past ours.
        commit_at = next((t for seq, t in committed if seq >= row["trigger_seq"]), None)
        if commit_at is not None:
            to_commit.append(commit_at - at)
        ingest_to_row.append(float(row["queued"]) - float(row["received"]))
        for bucket in ("all", kind):
            to_row.setdefault(bucket, []).append(float(row["queued"]) - at)
            to_notify.setdefault(bucket, []).append(notified[row["alert_id"]] - at)
    background_published = int(sent.get(-1, ("", 0.0))[1])
    return {
        "seconds": round(elapsed, 1),
        "background_published": background_published,
        "background_rate_per_s": round(background_published / elapsed, 1),
        "background_events_stored": background_events,
        "alarms_sent": len([f for f in sent if f >= 0]),
        "alarms_without_alert": missing,
        "ingest_batch_linger_ms": args.linger_ms,
        "publish_to_alert_row": {k: _percentiles(v) for k, v in to_row.items()},
        "publish_to_notification": {k: _percentiles(v) for k, v in to_notify.items()},
        # Where the time goes: MQTT hop to the ingest's receive, then ingest commit + rules to the row.
        "publish_to_ingest_receive": _percentiles(to_ingest),
        "ingest_receive_to_alert_row": _percentiles(ingest_to_row),
        "publish_to_event_committed_notify": _percentiles(to_commit),
        "target_p99_ms": 250,
    }


def main() -> None:
    """Entry point: parse the arguments, run, print JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=1000.0, help="background events per second")
    parser.add_argument("--alarm-interval", type=float, default=0.25)
    parser.add_argument("--linger-ms", type=int, default=None, help="TELECARE_INGEST_BATCH_LINGER_MS for ingest")
    parser.add_argument("--warmup", type=float, default=4.0)
    parser.add_argument("--drain", type=float, default=5.0)
    parser.add_argument("--profile-rules", type=Path, default=None, help="write a cProfile of the rules worker")
    args = parser.parse_args()
    sys.stdout.write(json.dumps(asyncio.run(_main(args)), indent=2) + "\n")


if __name__ == "__main__":
    main()
