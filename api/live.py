"""The live queue feed: LISTEN `telecare_alerts`, read alert_history in id order, fan out to consoles.

One database listener per application, however many consoles are connected. A history id is the
SSE event id, so a console that reconnects with Last-Event-ID is sent exactly what it missed.
History ids come from a sequence and can commit out of order: an id missing below ones already seen
is re-read for a short while before it is taken as burnt (a rolled-back transaction).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from api.auth import Principal
from api.metrics import ApiMetrics
from api.queries import access as access_q
from api.queries import alerts as q

log = logging.getLogger(__name__)

CHANNEL = "telecare_alerts"
# How long an id below the newest seen may still commit (longer than any lifecycle transaction).
GAP_GRACE_S = 5.0
FETCH_LIMIT = 1000
SUBSCRIBER_QUEUE = 2000
# How often open streams' tokens are re-checked when no alert is moving (revocation ends a stream this fast).
TOKEN_CHECK_S = 2.0


@dataclass(frozen=True, slots=True)
class AlertChange:
    """One row of alert_history, with its alert as it is now, ready to send."""

    history_id: int
    org_id: str
    resident_id: str | None
    payload: bytes


def change_from_row(*, row: asyncpg.Record) -> AlertChange:
    """Serialise once; every console that may see it gets the same bytes."""
    alert = {k: v for k, v in row.items() if k not in ("history_id", "change", "run")}
    body = {"history_id": row["history_id"], "change": row["change"], "alert": alert}
    return AlertChange(history_id=row["history_id"], org_id=row["org_id"], resident_id=row["resident_id"],
                       payload=orjson.dumps(body, default=_json_default))


def _json_default(value: object) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def sse_frame(*, change: AlertChange) -> bytes:
    """One Server-Sent Events message carrying the change, with its history id as the event id."""
    return b"id: %d\nevent: alert\ndata: %s\n\n" % (change.history_id, change.payload)


@dataclass(eq=False, slots=True)
class Subscriber:
    """One connected console: its scope and its queue of changes to send."""

    principal: Principal
    queue: asyncio.Queue[AlertChange | None] = field(default_factory=lambda: asyncio.Queue(SUBSCRIBER_QUEUE))
    overflowed: bool = False
    # Why the stream was ended by the server (token revoked or expired, scope changed), if it was.
    ended: str | None = None

    def end(self, *, reason: str) -> None:
        """Stop sending to this console: its next read sees the end, whatever is queued before it."""
        self.ended = reason
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(None)


class AlertFeed:
    """Follows alert_history for the live run and hands each change to the consoles that may see it."""

    def __init__(self, *, pool: asyncpg.Pool, database_url: str, metrics: ApiMetrics) -> None:
        self._pool = pool
        self._database_url = database_url
        self._metrics = metrics
        self._subscribers: set[Subscriber] = set()
        self._wake = asyncio.Event()
        self._cursor = 0
        self._delivered: set[int] = set()
        self._gap_seen_at: dict[int, float] = {}
        self._tokens_checked_at = 0.0
        self.listening = asyncio.Event()

    def subscribe(self, *, principal: Principal) -> Subscriber:
        """Register a console; changes committed from now on are queued for it."""
        subscriber = Subscriber(principal=principal)
        self._subscribers.add(subscriber)
        self._metrics.stream_clients.set(len(self._subscribers))
        return subscriber

    def unsubscribe(self, *, subscriber: Subscriber) -> None:
        """Forget a console that has gone."""
        self._subscribers.discard(subscriber)
        self._metrics.stream_clients.set(len(self._subscribers))

    async def run(self, *, stop: asyncio.Event) -> None:
        """Listen and fan out until stopped; reconnect with capped, jittered backoff."""
        async with self._pool.acquire() as connection:
            self._cursor = await connection.fetchval(q.STREAM_HEAD)
        backoff = 0.5
        while not stop.is_set():
            try:
                await self._listen(stop=stop)
                backoff = 0.5
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                self.listening.clear()
                log.warning("alert feed lost its database connection (%s); retrying in %.1f s", exc, backoff)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=backoff * (0.5 + random.random()))
                backoff = min(backoff * 2, 10.0)
        for subscriber in list(self._subscribers):
            with contextlib.suppress(asyncio.QueueFull):
                subscriber.queue.put_nowait(None)

    async def _listen(self, *, stop: asyncio.Event) -> None:
        listener = await asyncpg.connect(self._database_url, timeout=10)
        try:
            await listener.add_listener(CHANNEL, self._on_notify)
            self.listening.set()
            # Anything committed while we were not listening is read now.
            self._wake.set()
            while not stop.is_set():
                timeout = 1.0 if self._gap_seen_at else TOKEN_CHECK_S if self._subscribers else 5.0
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=timeout)
                self._wake.clear()
                await self._drain()
                if time.monotonic() - self._tokens_checked_at >= TOKEN_CHECK_S:
                    await self._check_tokens()
                if listener.is_closed():
                    raise asyncpg.InterfaceError("listener connection closed")
                # A cheap liveness check: a dead listener would otherwise leave consoles silently stale.
                await asyncio.wait_for(listener.fetchval("SELECT 1"), timeout=5.0)
        finally:
            self.listening.clear()
            with contextlib.suppress(Exception):
                await listener.close(timeout=2)

    def nudge(self) -> None:
        """Wake the feed now (at shutdown, so it sees the stop without waiting out its poll)."""
        self._wake.set()

    def _on_notify(self, _connection: object, _pid: int, _channel: str, _payload: object) -> None:
        self._wake.set()

    async def _drain(self) -> None:
        """Read every change after the cursor (and re-read young gaps) and fan it out."""
        while True:
            async with self._pool.acquire() as connection:
                rows = await connection.fetch(q.FEED_AFTER, self._cursor, FETCH_LIMIT)
            if any(row["run"] == "live" for row in rows):
                # Read after the changes: a token revoked before an alert committed never receives that alert.
                await self._check_tokens()
            for row in rows:
                if row["history_id"] in self._delivered:
                    continue
                if row["run"] == "live":
                    self._fan_out(change=change_from_row(row=row))
                self._delivered.add(row["history_id"])
            self._advance(seen=[row["history_id"] for row in rows])
            if len(rows) < FETCH_LIMIT:
                return

    def _advance(self, *, seen: list[int]) -> None:
        """Move the cursor over delivered ids; hold it at a gap until the gap is older than the grace."""
        now = time.monotonic()
        top = max(seen, default=self._cursor)
        for missing in set(range(self._cursor + 1, top)) - self._delivered - set(self._gap_seen_at):
            self._gap_seen_at[missing] = now
        while True:
            following = self._cursor + 1
            if following in self._delivered:
                self._delivered.discard(following)
                self._cursor = following
            elif following in self._gap_seen_at and now - self._gap_seen_at[following] > GAP_GRACE_S:
                del self._gap_seen_at[following]
                self._cursor = following
            else:
                break
        for stale in [gap for gap in self._gap_seen_at if gap <= self._cursor]:
            del self._gap_seen_at[stale]

    async def _check_tokens(self) -> None:
        """End the streams whose token was revoked or expired, or whose user's scope has changed since."""
        self._tokens_checked_at = time.monotonic()
        if not self._subscribers:
            return
        token_ids = sorted({subscriber.principal.token_id for subscriber in self._subscribers})
        async with self._pool.acquire() as connection:
            rows = await connection.fetch(access_q.LIVE_TOKENS, token_ids)
        scopes = {row["token_id"]: (row["role"], tuple(row["org_ids"]), tuple(row["resident_ids"])) for row in rows}
        for subscriber in list(self._subscribers):
            principal = subscriber.principal
            scope = scopes.get(principal.token_id)
            if scope is None:
                self._end(subscriber=subscriber, reason="the token was revoked or has expired")
            elif scope != (principal.role.value, principal.org_ids, principal.resident_ids):
                self._end(subscriber=subscriber, reason="your access has changed; sign in again")

    def _end(self, *, subscriber: Subscriber, reason: str) -> None:
        subscriber.end(reason=reason)
        self.unsubscribe(subscriber=subscriber)
        self._metrics.stream_ended.inc()
        log.info("live stream of %s ended: %s", subscriber.principal.user_id, reason)

    def _fan_out(self, *, change: AlertChange) -> None:
        for subscriber in list(self._subscribers):
            if subscriber.overflowed or not subscriber.principal.sees(org_id=change.org_id,
                                                                     resident_id=change.resident_id):
                continue
            try:
                subscriber.queue.put_nowait(change)
            except asyncio.QueueFull:
                # The console reconnects with its Last-Event-ID and catches up from the database.
                subscriber.overflowed = True
                self._metrics.stream_dropped.inc()
                continue
            self._metrics.stream_events.inc()


async def catch_up(*, pool: asyncpg.Pool, principal: Principal, after: int) -> list[AlertChange]:
    """Changes after `after` that the principal may see, oldest first (a reconnecting console's gap)."""
    changes: list[AlertChange] = []
    cursor = after
    async with pool.acquire() as connection:
        while True:
            rows = await connection.fetch(q.CHANGES_AFTER, principal.org_scope, principal.resident_scope, cursor,
                                          FETCH_LIMIT)
            changes.extend(change_from_row(row=row) for row in rows)
            if len(rows) < FETCH_LIMIT:
                return changes
            cursor = rows[-1]["history_id"]
