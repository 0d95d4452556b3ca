"""The live queue over real HTTP: delivery within a second, scope, and gap-free resume by Last-Event-ID."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx

from rules import lifecycle
from tests.api_helpers import ApiServer, World, api_server, build_world, raise_alert  # noqa: F401 - fixture


async def _read_events(response: httpx.Response, into: asyncio.Queue[dict[str, Any]]) -> None:
    event_id = None
    async for line in response.aiter_lines():
        if line.startswith("id: "):
            event_id = int(line[4:])
        elif line.startswith("data: "):
            await into.put({"id": event_id, **json.loads(line[6:]), "received": time.monotonic()})


@contextlib.asynccontextmanager
async def _console(server: ApiServer, world: World, who: str, last_event_id: int | None = None,
                   ) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
    headers = world.headers(who) | ({"Last-Event-ID": str(last_event_id)} if last_event_id is not None else {})
    events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    async with httpx.AsyncClient(base_url=server.base_url, timeout=None) as http, \
            http.stream("GET", "/api/alerts/stream", headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        reader = asyncio.create_task(_read_events(response, events))
        await asyncio.sleep(0.2)
        try:
            yield events
        finally:
            reader.cancel()


async def _next(events: asyncio.Queue[dict[str, Any]], wait_s: float = 3.0) -> dict[str, Any]:
    return await asyncio.wait_for(events.get(), timeout=wait_s)


async def test_changes_stream_within_a_second_and_only_to_those_who_may_see(
    db: asyncpg.Connection, unique: str, api_server: ApiServer,  # noqa: F811
) -> None:
    world = await build_world(db=db, unique=unique)
    async with _console(api_server, world, "operator_a") as seen_a, _console(api_server, world, "operator_b") as seen_b:
        raised_at = time.monotonic()
        alert_a = await raise_alert(db=db, org_id=world.org_a, resident_id=world.resident_a)
        event = await _next(seen_a)
        assert event["alert"]["alert_id"] == alert_a and event["change"] == "raised"
        assert event["received"] - raised_at < 1.0
        await lifecycle.claim(connection=db, alert_id=alert_a, user_id="someone")
        event = await _next(seen_a)
        assert (event["change"], event["alert"]["status"], event["alert"]["claimed_by"]) == (
            "claim", "claimed", "someone")
        alert_b = await raise_alert(db=db, org_id=world.org_b, resident_id=world.resident_b)
        assert (await _next(seen_b))["alert"]["alert_id"] == alert_b
        # A's console is told nothing about B's alarm.
        await asyncio.sleep(0.5)
        assert seen_a.empty()


async def test_reconnect_with_last_event_id_misses_nothing(db: asyncpg.Connection, unique: str,
                                                           api_server: ApiServer) -> None:  # noqa: F811
    world = await build_world(db=db, unique=unique)
    async with _console(api_server, world, "operator_a") as events:
        first = await raise_alert(db=db, org_id=world.org_a, resident_id=world.resident_a)
        last_seen = (await _next(events))["id"]
    # While the console is away: a new alarm, and the first one is claimed and acknowledged.
    second = await raise_alert(db=db, org_id=world.org_a, resident_id=world.resident_a, condition="smoke", priority=3)
    await lifecycle.claim(connection=db, alert_id=first, user_id="colleague")
    await lifecycle.acknowledge(connection=db, alert_id=first, user_id="colleague")
    await raise_alert(db=db, org_id=world.org_b, resident_id=world.resident_b)
    async with _console(api_server, world, "operator_a", last_event_id=last_seen) as events:
        missed = [await _next(events) for _ in range(3)]
        assert [(e["alert"]["alert_id"], e["change"]) for e in missed] == [
            (second, "raised"), (first, "claim"), (first, "acknowledge")]
        assert [e["id"] for e in missed] == sorted(e["id"] for e in missed)
        # Then live again, with no duplicates of what the catch-up sent.
        third = await raise_alert(db=db, org_id=world.org_a, resident_id=world.resident_a, condition="flood")
        event = await _next(events)
        assert (event["alert"]["alert_id"], event["change"]) == (third, "raised")
        await asyncio.sleep(0.3)
        assert events.empty()


async def test_queue_snapshot_gives_the_point_to_stream_from(db: asyncpg.Connection, unique: str,
                                                            api_server: ApiServer) -> None:  # noqa: F811
    world = await build_world(db=db, unique=unique)
    alert = await raise_alert(db=db, org_id=world.org_a, resident_id=world.resident_a)
    async with httpx.AsyncClient(base_url=api_server.base_url, headers=world.headers("operator_a")) as http:
        queue = (await http.get("/api/alerts")).json()
    assert [a["alert_id"] for a in queue["alerts"]] == [alert]
    await lifecycle.claim(connection=db, alert_id=alert, user_id="colleague")
    async with _console(api_server, world, "operator_a", last_event_id=queue["stream_after"]) as events:
        event = await _next(events)
        assert (event["alert"]["alert_id"], event["change"]) == (alert, "claim")
