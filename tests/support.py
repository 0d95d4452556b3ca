"""Helpers for tests: publishing over a real broker, waiting for outcomes, provisioning homes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client import CollectorRegistry

from ingest.service import run_ingest
from telecare.settings import Settings
from telecare.site import SiteFile, provision_site


def publish_all(*, url_port: int, messages: Sequence[tuple[str, bytes | str]], qos: int = 1,
                retain: bool = False, client_id: str = "") -> None:
    """Publish every message at `qos` and wait until the broker has acknowledged each one."""
    client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=paho.MQTTv5)
    client.max_queued_messages_set(0)
    client.max_inflight_messages_set(1000)
    client.connect("127.0.0.1", url_port)
    client.loop_start()
    try:
        infos = [client.publish(topic, payload, qos=qos, retain=retain) for topic, payload in messages]
        for info in infos:
            info.wait_for_publish(timeout=60)
            assert info.is_published(), "broker did not acknowledge a publish"
    finally:
        client.disconnect()
        client.loop_stop()


def json_bytes(value: Any) -> bytes:
    """Compact JSON, as devices send it."""
    return orjson.dumps(value)


async def wait_until(check: Callable[[], Awaitable[bool]], *, timeout_s: float = 20.0, what: str = "condition") -> None:
    """Poll `check` until it is true; fail the test with `what` if it never is."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


async def provision(*, db: asyncpg.Connection, org_id: str, resident_id: str, hub_id: str,
                    devices: Sequence[dict[str, Any]], protocol: str = "z2m") -> None:
    """Register one organisation, resident and hub with the given devices."""
    site = SiteFile.model_validate({
        "organisation": {"id": org_id, "name": f"Org {org_id}"},
        "residents": [{"id": resident_id, "name": f"Resident {resident_id}",
                       "hubs": [{"id": hub_id, "protocol": protocol, "devices": list(devices)}]}],
    })
    await provision_site(connection=db, site=site)


def drop_session(*, url_port: int, client_id: str) -> None:
    """Delete a persistent MQTT session so the broker stops queueing for a finished test's worker."""
    client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=paho.MQTTv5)
    client.connect("127.0.0.1", url_port, clean_start=True)
    client.loop_start()
    client.disconnect()
    client.loop_stop()


@asynccontextmanager
async def ingest_running(settings: Settings, *,
                         metrics_registry: CollectorRegistry | None = None) -> AsyncIterator[asyncio.Task[None]]:
    """An ingest worker of the test's own (restartable on the same session); yields its task."""
    stop, subscribed = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(run_ingest(settings=settings, stop=stop, subscribed=subscribed,
                                          metrics_registry=metrics_registry), name="test-own-ingest")
    await asyncio.wait_for(subscribed.wait(), timeout=15)
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)
