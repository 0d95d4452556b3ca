"""`telecare ingest`: the MQTT consumer, the batch pipeline and the registry listener in one TaskGroup."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg
from prometheus_client import CollectorRegistry, start_http_server

from ingest.metrics import IngestMetrics
from ingest.pipeline import CONNECTION_ERRORS, IngestPipeline, backoff_delay, is_transient
from ingest.priority_lane import run_priority_lane
from ingest.receiver_process import ReceiverProcess
from telecare.settings import Settings

log = logging.getLogger(__name__)

REGISTRY_NOTIFY_CHANNEL = "telecare_registry"
_LANE_START_TIMEOUT_S = 5.0


async def _listen_for_registry_changes(*, settings: Settings, pipeline: IngestPipeline,
                                       stop: asyncio.Event, listening: asyncio.Event) -> None:
    """Reload the registry cache when `telecare site import` (or the API) changes hubs or devices."""
    attempt = 0
    while not stop.is_set():
        try:
            connection = await asyncpg.connect(settings.database_url, timeout=10)
        except (*CONNECTION_ERRORS, asyncpg.PostgresError):
            # Includes the client-side errors of a server going away mid-handshake (a restart).
            await asyncio.sleep(backoff_delay(attempt=attempt))
            attempt += 1
            continue
        attempt = 0
        lost = asyncio.Event()

        def _request_reload(*_args: object) -> None:
            pipeline.reload_requested = True

        try:
            connection.add_termination_listener(lambda _connection, lost=lost: lost.set())
            await connection.add_listener(REGISTRY_NOTIFY_CHANNEL, _request_reload)
            # Changes made while we were not listening are picked up by one reload now.
            pipeline.reload_requested = True
            listening.set()
            while not stop.is_set() and not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=5)
                if not lost.is_set() and connection.is_closed():
                    lost.set()
        except (*CONNECTION_ERRORS, asyncpg.PostgresError) as exc:
            # The database went away between connecting and LISTEN (a restart): listen again.
            if not is_transient(exc):
                raise
            log.warning("registry listener lost the database (%s); reconnecting", type(exc).__name__)
            await asyncio.sleep(backoff_delay(attempt=attempt))
            attempt += 1
        finally:
            connection.terminate()


async def run_ingest(*, settings: Settings, stop: asyncio.Event,
                     metrics_registry: CollectorRegistry | None = None,
                     subscribed: asyncio.Event | None = None) -> None:
    """Run one ingest worker until `stop` is set; `subscribed` is set once the broker confirms."""
    registry = metrics_registry or CollectorRegistry()
    metrics = IngestMetrics.create(registry=registry)
    if settings.metrics_port:
        start_http_server(settings.metrics_port, registry=registry)
    client = ReceiverProcess(settings=settings, subscribed=subscribed)
    pipeline = IngestPipeline(settings=settings, client=client, metrics=metrics)
    # The registry must be loaded before the first message is read.
    if not await pipeline.connect(stop=stop):
        return
    listening = asyncio.Event()
    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(
                _listen_for_registry_changes(settings=settings, pipeline=pipeline, stop=stop, listening=listening),
                name="ingest-registry-listener",
            )
            # Registrations made from now on reach the cache before messages that depend on them.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(listening.wait(), timeout=30)
            if settings.priority_lane:
                # Up before the persistent session starts draining: an alarm pressed during the drain must
                # not wait. A lane the broker refuses delays the ingest by a few seconds, never stops it.
                lane_subscribed = asyncio.Event()
                group.create_task(run_priority_lane(settings=settings, stop=stop, subscribed=lane_subscribed),
                                  name="ingest-priority-lane")
                try:
                    await asyncio.wait_for(lane_subscribed.wait(), timeout=_LANE_START_TIMEOUT_S)
                except TimeoutError:
                    log.warning("priority lane not subscribed after %.0f s; ingest starts without waiting",
                                _LANE_START_TIMEOUT_S)
            client.start()
            log.info("ingest consuming %s", ", ".join(topic for topic, _ in client.subscriptions()))
            group.create_task(pipeline.run(stop=stop), name="ingest-pipeline")
    finally:
        await client.stop()
        await pipeline.close()
