"""One database connection for one command, closed however the command ends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg


@asynccontextmanager
async def connected(*, database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """Connect, hand the connection to the block, and close it on the way out (errors included)."""
    connection = await asyncpg.connect(database_url)
    try:
        yield connection
    finally:
        await connection.close()
