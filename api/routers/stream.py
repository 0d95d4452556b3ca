"""The live queue: Server-Sent Events fed by LISTEN `telecare_alerts`, resumable by Last-Event-ID."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, cast

import asyncpg
import orjson
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from api import audit
from api.auth import Principal
from api.deps import CurrentPrincipal, State, client_address
from api.live import AlertChange, Subscriber, catch_up, sse_frame
from api.responses import AUTHENTICATED
from api.state import ApiState

router = APIRouter(prefix="/api/alerts", tags=["alerts"], responses=AUTHENTICATED)

KEEPALIVE_S = 15.0


@router.get(
    "/stream", operation_id="streamAlerts", response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}},
                     "description": "`event: alert` messages; `id` is the alert-history id to resume from"}},
)
async def stream_alerts(
    *, principal: CurrentPrincipal, state: State, request: Request,
    last_event_id: Annotated[int | None, Header(ge=0, le=2**62)] = None,
    after: Annotated[int | None, Query(ge=0, le=2**62, description="history id to start after")] = None,
) -> StreamingResponse:
    """New, escalated and changed alerts as they happen; a reconnect with Last-Event-ID misses nothing."""
    async with state.pool.acquire(timeout=5) as proxy:
        await audit.record(connection=cast(asyncpg.Connection, proxy), principal=principal, action="alerts.stream",
                           resource_type="alert", client=client_address(request))
    # Subscribe before reading the gap, so nothing committed in between falls through.
    subscriber = state.feed.subscribe(principal=principal)
    start = last_event_id if last_event_id is not None else after
    return StreamingResponse(
        _events(state=state, principal=principal, subscriber=subscriber, start=start),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _events(*, state: ApiState, principal: Principal, subscriber: Subscriber,
                  start: int | None) -> AsyncIterator[bytes]:
    sent: set[int] = set()
    try:
        yield b"retry: 1000\n: connected\n\n"
        if start is not None:
            for missed in await catch_up(pool=state.pool, principal=principal, after=start):
                sent.add(missed.history_id)
                yield sse_frame(change=missed)
        while not subscriber.overflowed:
            try:
                change: AlertChange | None = await asyncio.wait_for(subscriber.queue.get(), timeout=KEEPALIVE_S)
            except TimeoutError:
                # Keeps proxies from closing an idle stream and lets a dead client be noticed.
                yield b": keepalive\n\n"
                continue
            if change is None or subscriber.ended is not None:
                if subscriber.ended is not None:
                    # Said once, so the console knows to stop rather than reconnect with the same token.
                    yield b"event: end\ndata: %s\n\n" % orjson.dumps({"reason": subscriber.ended})
                return
            # Only catch-up ids can repeat: the feed itself never hands out an id twice.
            if change.history_id in sent:
                continue
            yield sse_frame(change=change)
    finally:
        state.feed.unsubscribe(subscriber=subscriber)
