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


@router.get("/healthz", operation_id="getHealth", response_model=Health)
async def healthz() -> Health:
    """The process is up and serving."""
    return Health(status="ok")


@router.get("/readyz", operation_id="getReadiness", response_model=Health,
            responses={503: {"model": Health, "description": "a dependency is unreachable"}})
async def readyz(*, state: State, response: Response) -> Health:
    """Whether the database, the broker and the live-queue listener are reachable."""
    checks = {"database": await _database_ok(state=state),
              "broker": await _broker_ok(host=state.settings.mqtt_host, port=state.settings.mqtt_port),
              "live_feed": state.feed.listening.is_set()}
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
