"""What the ingest has done, read from the database (so it survives restarts and spans workers)."""

from __future__ import annotations

from typing import Any

import asyncpg


async def read_stats(*, connection: asyncpg.Connection) -> dict[str, Any]:
    """Events stored, duplicates dropped and dead letters by reason and status."""
    counters = {row["name"]: int(row["value"]) for row in await connection.fetch(
        "SELECT name, value FROM ingest_counters")}
    by_reason: dict[str, dict[str, int]] = {}
    for row in await connection.fetch(
        "SELECT reason, status, count(*) AS letters, sum(occurrences) AS messages"
        " FROM dead_letters GROUP BY reason, status ORDER BY reason, status"
    ):
        entry = by_reason.setdefault(row["reason"], {})
        entry[row["status"]] = int(row["letters"])
        entry[f"{row['status']}_messages"] = int(row["messages"])
    pending = sum(entry.get("pending", 0) for entry in by_reason.values())
    return {
        "events_stored": counters.get("events_stored", 0),
        "duplicates_dropped": counters.get("duplicates_dropped", 0),
        "dead_letters_pending": pending,
        "dead_letters_by_reason": by_reason,
    }
