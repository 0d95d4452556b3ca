"""Liveness, readiness (database and broker reachable) and Prometheus metrics: no resident data here."""

from __future__ import annotations

import asyncio
import contextlib
from typing import cast

import asyncpg
from fastapi import APIRouter, Response, status
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import State
from api.schemas import Health

router = APIRouter(tags=["health"])

# How long /readyz stays "not ready" after the ingest last saw its MQTT session taken over.
_TAKEOVER_WINDOW_S = 600


@router.get("/healthz", operation_id="getHealth", response_model=Health)
async def healthz() -> Health:
    """The process is up and serving."""
    return Health(status="ok")


@router.get("/readyz", operation_id="getReadiness", response_model=Health,
            responses={503: {"model": Health, "description": "a dependency is unreachable"}})
async def readyz(*, state: State, response: Response) -> Health:
    """Whether the database, the broker and the live-queue listener are reachable, and no other MQTT client
    has lately taken over the ingest's session (its alarms would bypass the database)."""
    checks = {"database": await _database_ok(state=state),
              "broker": await _broker_ok(host=state.settings.mqtt_host, port=state.settings.mqtt_port),
              "live_feed": state.feed.listening.is_set(),
              "mqtt_session": await _session_ok(state=state)}
    ok = all(checks.values())
    if not ok:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return Health(status="ok" if ok else "unavailable", checks=checks)


@router.get("/metrics", operation_id="getMetrics", response_class=Response,
            responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}})
async def metrics(*, state: State) -> Response:
    """Prometheus metrics of this API process, and of the service's queue, rules and dead letters."""
    async with state.pool.acquire(timeout=5) as proxy:
        await state.metrics.service.refresh(connection=cast(asyncpg.Connection, proxy))
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


async def _database_ok(*, state: State) -> bool:
    try:
        async with state.pool.acquire(timeout=2) as connection:
            return bool(await asyncio.wait_for(connection.fetchval("SELECT 1"), timeout=2))
    except (OSError, TimeoutError, Exception):
        return False


async def _session_ok(*, state: State) -> bool:
    """No takeover of the ingest's MQTT session (client id TELECARE_MQTT_CLIENT_ID) in the last 10 minutes."""
    try:
        async with state.pool.acquire(timeout=2) as connection:
            recent = await asyncio.wait_for(connection.fetchval(
                "SELECT count(*) FROM ingest_session_takeovers WHERE client_id = $1"
                " AND last_at > now() - make_interval(secs => $2)",
                state.settings.mqtt_client_id, float(_TAKEOVER_WINDOW_S)), timeout=2)
    except (OSError, TimeoutError, Exception):
        return False
    return int(recent) == 0


async def _broker_ok(*, host: str, port: int) -> bool:
    """A TCP connect is enough to know the broker is there; MQTT auth is the ingest's concern."""
    try:
        _reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout=2)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True
