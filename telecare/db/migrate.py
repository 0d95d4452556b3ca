"""Versioned, idempotent schema migrations from the SQL files beside this module."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources

import asyncpg

log = logging.getLogger(__name__)

# Any fixed number: only one migrator may run at a time, on any machine.
MIGRATION_LOCK_ID = 7_310_001
_FILE_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    """One numbered SQL file."""

    version: int
    name: str
    sql: str


def available_migrations() -> list[Migration]:
    """Every migration shipped with the package, in version order."""
    found: list[Migration] = []
    for entry in resources.files("telecare.db.migrations").iterdir():
        match = _FILE_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text(encoding="utf-8")))
    return sorted(found, key=lambda migration: migration.version)


async def migrate(*, database_url: str) -> list[int]:
    """Apply every migration not yet applied; returns the versions applied now."""
    connection = await asyncpg.connect(database_url)
    applied_now: list[int] = []
    try:
        await connection.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_ID)
        await connection.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {row["version"] for row in await connection.fetch("SELECT version FROM schema_migrations")}
        for migration in available_migrations():
            if migration.version in done:
                continue
            async with connection.transaction():
                await connection.execute(migration.sql)
                await connection.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                    migration.version,
                    migration.name,
                )
            log.info("applied migration %03d_%s", migration.version, migration.name)
            applied_now.append(migration.version)
    finally:
        try:
            await connection.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_ID)
        finally:
            await connection.close()
    return applied_now


async def ensure_database(*, database_url: str) -> bool:
    """Create the database named in the URL if it does not exist; returns True when it was created."""
    try:
        connection = await asyncpg.connect(database_url)
    except asyncpg.InvalidCatalogNameError:
        pass
    else:
        await connection.close()
        return False
    base, _, name = database_url.rpartition("/")
    name = name.split("?", 1)[0]
    if not re.fullmatch(r"[A-Za-z0-9_]+", name):
        raise ValueError(f"refusing to create a database with the name {name!r}")
    admin = await asyncpg.connect(f"{base}/postgres")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return True
