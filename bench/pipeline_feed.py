"""Feed simulator wire messages through the real ingest processing and store, in-process.

The ingest worker's own `MessageProcessor` (Z2M and canonical adapters, registry, edge detection,
dead letters) and `write_batch` (COPY, ON CONFLICT, device last_seen, NOTIFY) do the work; only the
MQTT hop is left out, so months of simulated history reach the events hypertable in minutes. Each
message arrives at its own simulated time (`received_at`), which is what a live hub would give.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import asyncpg

from ingest.messages import InboundMessage
from ingest.processor import MessageProcessor
from ingest.registry import load_registry
from ingest.store import prepare_connection, write_batch
from telecare.settings import Settings

FEED_CLIENT_ID = "bench-feed"


class TimedMessage(Protocol):
    """A publication at a known time: the simulators' wire messages and recorded-home replays."""

    @property
    def time(self) -> float: ...
    @property
    def topic(self) -> str: ...
    @property
    def payload(self) -> bytes: ...


@dataclass(frozen=True, slots=True)
class FeedStats:
    """What the feed did."""

    messages: int
    events: int
    dead_letters: int


async def feed_messages(
    *, connection: asyncpg.Connection, settings: Settings, messages: Iterable[TimedMessage], batch_size: int = 5000
) -> FeedStats:
    """Process and store `messages` (in time order) the way the ingest worker does."""
    await prepare_connection(connection)
    processor = MessageProcessor(settings=settings, registry=await load_registry(connection=connection))
    total = events = dead = 0
    chunk: list[InboundMessage] = []

    async def flush() -> None:
        nonlocal events, dead
        outcome = processor.process(messages=chunk)
        written = await write_batch(connection=connection, outcome=outcome, registry=processor.registry,
                                    client_id=FEED_CLIENT_ID, batch_id=0, unacked=[], forget_mids=[])
        events += written.stored
        dead += written.dead_letters
        chunk.clear()

    for message in messages:
        total += 1
        chunk.append(InboundMessage(
            topic=message.topic, payload=message.payload, mid=0, qos=1, dup=False, connection_epoch=0,
            received_at=datetime.fromtimestamp(message.time, UTC),
        ))
        if len(chunk) >= batch_size:
            await flush()
    if chunk:
        await flush()
    return FeedStats(messages=total, events=events, dead_letters=dead)
