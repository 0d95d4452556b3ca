"""`telecare run`: the whole service with a simulated scheme, as a new user starts it."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import asyncpg

from telecare.local_broker import LocalBroker, free_port
from tests.conftest import ADMIN_URL


async def test_run_starts_ingest_rules_api_and_a_simulated_scheme_whose_events_are_stored() -> None:
    name = f"telecare_run_{secrets.token_hex(4)}"
    database_url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    api_port, broker_port = free_port(), free_port()
    env = {**os.environ, "TELECARE_DATABASE_URL": database_url, "TELECARE_DEV_MODE": "true",
           "TELECARE_API_PORT": str(api_port), "TELECARE_MQTT_CLIENT_ID": f"run-{name}"}
    process = await asyncio.to_thread(
        subprocess.Popen,
        [".venv/bin/telecare", "run", "--local-broker", "--broker-port", str(broker_port), "--simulate-flats", "2",
             # Sped up: in real time two flats can be quiet for minutes (an afternoon nap), and the test
             # would depend on the time of day it runs at.
             "--speed", "30"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        deadline = time.monotonic() + 90
        events = tokens = alarms = 0
        # Stop only once events are stored, the console token has been issued (and so printed) and the demo's
        # first pendant press (20 s of simulated time after start) is on the live queue.
        while time.monotonic() < deadline and (events == 0 or tokens == 0 or alarms == 0):
            await asyncio.sleep(1)
            try:
                connection = await asyncpg.connect(database_url)
            except (OSError, asyncpg.PostgresError):
                continue
            try:
                events = int(await connection.fetchval("SELECT count(*) FROM events"))
                tokens = int(await connection.fetchval("SELECT count(*) FROM api_tokens"))
                alarms = int(await connection.fetchval(
                    "SELECT count(*) FROM alerts WHERE run = 'live' AND condition = 'personal_trigger'"))
            except asyncpg.UndefinedTableError:
                events = tokens = alarms = 0
            finally:
                await connection.close()
        assert events > 0, "no simulated event reached the hypertable"
        assert alarms > 0, "no alarm on the live queue for the newcomer to handle"
        body = await asyncio.to_thread(
            lambda: urllib.request.urlopen(f"http://127.0.0.1:{api_port}/readyz", timeout=5).read())
        ready = json.loads(body)
        assert ready["status"] == "ok"
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = await asyncio.to_thread(process.communicate, timeout=60)
        admin = await asyncpg.connect(ADMIN_URL)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    assert process.returncode == 0
    assert f"Console: http://127.0.0.1:{api_port}/console/" in output and "token" in output


async def test_run_refuses_a_local_broker_port_someone_elses_broker_holds(tmp_path: Path) -> None:
    name = f"telecare_run_refused_{secrets.token_hex(4)}"
    with LocalBroker(data_dir=tmp_path / "theirs") as theirs:
        started = time.monotonic()
        try:
            done = await asyncio.to_thread(
                subprocess.run,
                [".venv/bin/telecare", "run", "--local-broker", "--broker-port", str(theirs.port), "--no-api"],
                env={**os.environ, "TELECARE_DEV_MODE": "true",
                     "TELECARE_DATABASE_URL": ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"},
                capture_output=True, text=True, timeout=60,
            )
        finally:
            admin = await asyncpg.connect(ADMIN_URL)
            created = await admin.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", name)
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()
        assert done.returncode == 2
        lines = done.stderr.strip().splitlines()
        assert lines[-1].startswith("telecare run: local broker not started: port")
        assert f"port {theirs.port} is already in use" in lines[-1]
        assert time.monotonic() - started < 30
        # Refused before anything else started (no database created), and their broker carries on.
        assert created == 0
        assert theirs.process is not None and theirs.process.poll() is None
