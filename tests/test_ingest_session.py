"""Another client using the ingest's MQTT client id is detected and shown loudly (issue 13)."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client import CollectorRegistry

from telecare.local_broker import LocalBroker
from telecare.settings import Settings
from tests.api_helpers import start_api
from tests.support import ingest_running, json_bytes, provision, publish_all, wait_until


async def _takeovers(db: asyncpg.Connection, client_id: str) -> int:
    value = await db.fetchval("SELECT takeovers FROM ingest_session_takeovers WHERE client_id = $1", client_id)
    return int(value or 0)


async def _readiness(base_url: str) -> tuple[int, dict[str, bool]]:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        response = await client.get("/readyz")
    return response.status_code, response.json()["checks"]


async def test_a_session_takeover_is_detected_within_10_s_and_a_broker_restart_is_not_one(
    db: asyncpg.Connection, settings: Settings, unique: str, tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    hub = f"chub-{unique}"
    await provision(db=db, org_id=f"org-{unique}", resident_id=f"res-{unique}", hub_id=hub, devices=[],
                    protocol="canonical")
    topic = f"telecare/v1/{hub}/events"

    def event(event_id: str) -> tuple[str, bytes]:
        return (topic, json_bytes({"schema": "telecare.event/1", "event_id": event_id, "kind": "personal_trigger",
                                   "time": datetime.now(UTC).isoformat(),
                                   "device": {"id": "pendant", "type": "personal_trigger"}}))

    async def stored(count: int) -> bool:
        return int(await db.fetchval("SELECT count(*) FROM events WHERE hub_id = $1", hub)) == count

    metrics = CollectorRegistry()
    # A broker of this test's own: it is restarted, and the takeover must not touch other tests' sessions.
    with LocalBroker(data_dir=tmp_path / "mosquitto") as broker:
        own = settings.model_copy(update={"mqtt_url": broker.url})
        api, stop_api, api_task = await start_api(settings=own)
        try:
            async with ingest_running(own, metrics_registry=metrics) as ingest:
                assert await _readiness(api.base_url) == (200, {"database": True, "broker": True, "live_feed": True,
                                                                "mqtt_session": True})
                # A broker restart also drops the connection and publishes its will: not a takeover.
                broker.restart()
                await asyncio.sleep(0.5)
                publish_all(url_port=broker.port, messages=[event("after-restart")])
                await wait_until(lambda: stored(1), what="the alarm after the broker restart")
                await asyncio.sleep(2)
                assert await _takeovers(db, own.mqtt_client_id) == 0

                # A second client with the ingest's id, reconnecting as a copy of the service would.
                rogue = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=own.mqtt_client_id,
                                    protocol=paho.MQTTv5)
                rogue.reconnect_delay_set(min_delay=1, max_delay=2)
                started = time.monotonic()
                rogue.connect("127.0.0.1", broker.port, clean_start=False)
                rogue.loop_start()
                try:
                    await wait_until(lambda: _has_takeover(db, own.mqtt_client_id), timeout_s=10,
                                     what="the takeover recorded")
                    detected_after = time.monotonic() - started
                finally:
                    rogue.disconnect()
                    rogue.loop_stop()
                print(f"session takeover recorded {detected_after:.1f} s after the second client connected")
                assert detected_after < 10
                status, checks = await _readiness(api.base_url)
                assert status == 503 and checks["mqtt_session"] is False
                assert (metrics.get_sample_value("telecare_ingest_session_takeovers_total") or 0) >= 1
                assert any(record.levelno == logging.ERROR and "took over its session" in record.getMessage()
                           for record in caplog.records)
                # The ingest took its session back and goes on storing alarms.
                publish_all(url_port=broker.port, messages=[event("after-takeover")])
                await wait_until(lambda: stored(2), what="the alarm after the takeover")
                assert not ingest.done()
        finally:
            stop_api.set()
            await asyncio.wait_for(api_task, timeout=15)


async def _has_takeover(db: asyncpg.Connection, client_id: str) -> bool:
    return await _takeovers(db, client_id) > 0
