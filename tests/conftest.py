"""Shared fixtures: a real TimescaleDB database and a real Mosquitto broker per test session."""

from __future__ import annotations

import asyncio
import os
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest

from ingest.service import run_ingest
from telecare.db.migrate import migrate
from telecare.local_broker import LocalBroker
from telecare.settings import Settings

ADMIN_URL = os.environ.get("TELECARE_TEST_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _database_url(name: str) -> str:
    base = ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{name}"


@asynccontextmanager
async def _migrated_database() -> AsyncIterator[str]:
    """Create a uniquely named database, migrate it, and drop it afterwards."""
    name = f"telecare_test_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(ADMIN_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    try:
        url = _database_url(name)
        await migrate(database_url=url)
        yield url
    finally:
        admin = await asyncpg.connect(ADMIN_URL)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(scope="session")
async def database_url() -> AsyncIterator[str]:
    """A fresh, migrated database for this test session, dropped afterwards."""
    async with _migrated_database() as url:
        yield url


@pytest.fixture
async def fresh_database_url() -> AsyncIterator[str]:
    """A database of this test's own, for checks that count everything in it (accuracy against truth)."""
    async with _migrated_database() as url:
        yield url


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection to the test session's database."""
    connection = await asyncpg.connect(database_url)
    yield connection
    await connection.close()


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    """A private Mosquitto (persistent, big queues) for this test session."""
    with LocalBroker(data_dir=tmp_path_factory.mktemp("mosquitto")) as local_broker:
        yield local_broker


@pytest.fixture
def unique() -> str:
    """A short unique token for topics, hub ids and client ids, so tests never see each other's data."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
def settings(database_url: str, broker: LocalBroker, unique: str) -> Settings:
    """Settings pointing at the test database and broker, with a client id of this test's own."""
    return Settings(
        database_url=database_url,
        mqtt_url=broker.url,
        mqtt_client_id=f"test-ingest-{unique}",
        dev_mode=True,
        ingest_batch_linger_ms=5,
    )


def artifacts_dir() -> Path:
    """Where tests leave screenshots and reports for a person to look at."""
    path = Path(os.environ.get("TELECARE_TEST_ARTIFACTS", "test-artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
async def running_ingest(settings: Settings, broker: LocalBroker) -> AsyncIterator[Settings]:
    """An ingest worker consuming from the test broker into the test database, for one test."""
    stop = asyncio.Event()
    subscribed = asyncio.Event()
    task = asyncio.create_task(run_ingest(settings=settings, stop=stop, subscribed=subscribed), name="test-ingest")
    await asyncio.wait_for(subscribed.wait(), timeout=15)
    yield settings
    stop.set()
    await asyncio.wait_for(task, timeout=30)
    from tests.support import drop_session  # noqa: PLC0415 - conftest is imported before tests/ is a package

    drop_session(url_port=broker.port, client_id=settings.mqtt_client_id)
