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

from bench.pipeline_feed import feed_messages
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
    stats = await feed_messages(connection=connection, settings=settings, messages=messages, batch_size=batch)
    return LoadResult(stats.messages, stats.events, stats.dead_letters,
                      (datetime.now(UTC) - started).total_seconds())
