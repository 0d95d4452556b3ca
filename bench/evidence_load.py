"""Loading simulated and recorded homes for the evidence benchmarks and tests.

The simulator's MQTT messages go through the real ingest code in-process (the same MessageProcessor
and `write_batch` COPY path the live worker uses, with the broker left out): the stored events are
exactly what ingest would store, at about ten times the speed of a publish round trip. Each message
"arrives" at its simulated time, as it would have in a live run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from ingest.messages import InboundMessage
from ingest.processor import MessageProcessor
from ingest.registry import load_registry
from ingest.store import prepare_connection, write_batch
from telecare.settings import Settings
from telecare.site import SiteFile, provision_site


@dataclass(frozen=True, slots=True)
class Wire:
    """One simulated publication: when, where, what."""

    time: float
    topic: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class LoadResult:
    """What a load did."""

    messages: int
    events: int
    dead_letters: int
    seconds: float


async def provision(*, connection: asyncpg.Connection, site: dict[str, object]) -> None:
    """Register the organisation, residents, hubs and devices of a site document."""
    await provision_site(connection=connection, site=SiteFile.model_validate(site))


async def ingest_in_process(
    *, connection: asyncpg.Connection, settings: Settings, messages: Iterable[Wire], batch: int = 20_000,
) -> LoadResult:
    """Run messages through the ingest adapters and store what they produce with the ingest's COPY."""
    started = datetime.now(UTC)
    await prepare_connection(connection)
    registry = await load_registry(connection=connection)
    processor = MessageProcessor(settings=settings, registry=registry)
    pending: list[InboundMessage] = []
    total = events = dead = 0

    async def flush() -> None:
        nonlocal events, dead
        outcome = processor.process(messages=pending)
        written = await write_batch(connection=connection, outcome=outcome, registry=registry,
                                    client_id="evidence-loader", unacked=[], forget_mids=[])
        events += written.stored
        dead += written.dead_letters
        pending.clear()

    for message in messages:
        total += 1
        pending.append(InboundMessage(
            topic=message.topic, payload=message.payload, mid=0, qos=0, dup=False, connection_epoch=0,
            received_at=datetime.fromtimestamp(message.time, UTC),
        ))
        if len(pending) >= batch:
            await flush()
    if pending:
        await flush()
    return LoadResult(total, events, dead, (datetime.now(UTC) - started).total_seconds())
