"""A throw-away stack for one benchmark: a migrated database on the shared cluster and a private broker."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from telecare.db.migrate import migrate
from telecare.local_broker import LocalBroker

ADMIN_URL = os.environ.get("TELECARE_BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@dataclass(frozen=True)
class ScratchStack:
    """Where the benchmark's database, broker and files are."""

    database_url: str
    broker: LocalBroker
    work_dir: Path


@asynccontextmanager
async def scratch_database(*, prefix: str) -> AsyncIterator[str]:
    """A migrated database of its own on the shared cluster, dropped afterwards whatever happened."""
    name = f"telecare_{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    admin = await asyncpg.connect(ADMIN_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    try:
        database_url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
        await migrate(database_url=database_url)
        yield database_url
    finally:
        admin = await asyncpg.connect(ADMIN_URL)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@asynccontextmanager
async def scratch_stack(*, prefix: str) -> AsyncIterator[ScratchStack]:
    """Create, migrate and start everything; drop and delete it all afterwards, whatever happened."""
    work_dir = Path(tempfile.mkdtemp(prefix=f"telecare-{prefix}-"))
    broker = LocalBroker(data_dir=work_dir / "mosquitto")
    try:
        async with scratch_database(prefix=prefix) as database_url:
            broker.start()
            yield ScratchStack(database_url=database_url, broker=broker, work_dir=work_dir)
    finally:
        broker.stop()
        shutil.rmtree(work_dir, ignore_errors=True)
