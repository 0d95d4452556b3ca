"""Retention per data class: raw events, dead letters, nightly summaries, alerts and audit.

Raw events use TimescaleDB's own retention policy where the edition has one (the Timescale licence of
the official image); the Apache edition has none, so the service drops whole chunks older than the
limit itself (`drop_chunks`), when `telecare lifecycle retention` runs (daily: systemd timer or the
compose service). A chunk goes only once all of it is older than the limit (7-day chunks, so events
are kept up to a week longer than the policy says). The other classes are ordinary rows.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import timedelta

import asyncpg

log = logging.getLogger(__name__)

DATA_CLASSES = ("raw_events", "dead_letters", "nightly_summaries", "alerts", "audit")
LIFECYCLE_ACTOR = "telecare-lifecycle"
_TIMESCALE_LICENCE = "timescale"

# Closed alerts only: an alert still being handled is never removed, however old.
_OLD_CLOSED_ALERTS = "SELECT alert_id FROM alerts WHERE status = 'closed' AND raised_at < now() - $1::interval"
_DELETES = {
    "dead_letters": ["DELETE FROM dead_letters WHERE last_received_at < now() - $1::interval"],
    "nightly_summaries": ["DELETE FROM nightly_summary WHERE night_of < (now() - $1::interval)::date"],
    "alerts": [
        f"DELETE FROM open_conditions WHERE alert_id IN ({_OLD_CLOSED_ALERTS})",
        f"DELETE FROM alert_history WHERE alert_id IN ({_OLD_CLOSED_ALERTS})",
        "DELETE FROM rule_suppressed WHERE at < now() - $1::interval",
        "DELETE FROM alerts WHERE status = 'closed' AND raised_at < now() - $1::interval",
    ],
}


class RetentionError(ValueError):
    """A retention setting that cannot be used."""


@dataclass(frozen=True, slots=True)
class ClassOutcome:
    """What retention did to one data class."""

    data_class: str
    keep_days: int
    method: str
    removed: int


async def policies(*, connection: asyncpg.Connection) -> dict[str, timedelta]:
    """How long each data class is kept."""
    rows = await connection.fetch("SELECT data_class, keep FROM retention_policies ORDER BY data_class")
    return {row["data_class"]: row["keep"] for row in rows}


async def set_policy(*, connection: asyncpg.Connection, data_class: str, keep: timedelta) -> None:
    """Change how long one data class is kept (at least 30 days; the database refuses less)."""
    if data_class not in DATA_CLASSES:
        raise RetentionError(f"unknown data class {data_class!r}; one of {', '.join(DATA_CLASSES)}")
    try:
        await connection.execute("UPDATE retention_policies SET keep = $2, updated_at = now() WHERE data_class = $1",
                                 data_class, keep)
    except asyncpg.CheckViolationError as exc:
        raise RetentionError(f"{data_class}: keep at least 30 days") from exc


async def _raw_events(*, connection: asyncpg.Connection, keep: timedelta) -> tuple[str, int]:
    licence = await connection.fetchval("SELECT current_setting('timescaledb.license', true)")
    if licence == _TIMESCALE_LICENCE:
        # The database runs it from now on; re-adding keeps it in line with a changed policy.
        await connection.execute("SELECT remove_retention_policy('events', if_exists => true)")
        await connection.execute("SELECT add_retention_policy('events', drop_after => $1::interval)", keep)
        return "timescaledb_retention_policy", 0
    dropped = await connection.fetch("SELECT drop_chunks('events', older_than => now() - $1::interval)", keep)
    return "drop_chunks", len(dropped)


async def _delete(*, connection: asyncpg.Connection, statements: list[str], keep: timedelta) -> int:
    removed = 0
    for statement in statements:
        status = await connection.execute(statement, keep)
        removed += int(status.rsplit(" ", 1)[-1])
    return removed


async def apply_retention(*, connection: asyncpg.Connection) -> list[ClassOutcome]:
    """Remove what every data class keeps no longer, in one transaction, and audit it."""
    outcomes: list[ClassOutcome] = []
    async with connection.transaction():
        kept = await policies(connection=connection)
        # The append-only triggers (audit log, alert history) let this transaction, and only it,
        # remove expired rows; the audit log's checks the age itself.
        await connection.execute("SET LOCAL telecare.maintenance = 'retention'")
        for data_class in DATA_CLASSES:
            keep = kept[data_class]
            if data_class == "raw_events":
                method, removed = await _raw_events(connection=connection, keep=keep)
            elif data_class == "audit":
                method, removed = "delete", await _delete(
                    connection=connection, statements=["DELETE FROM audit_log WHERE at < now() - $1::interval"],
                    keep=keep)
            else:
                method, removed = "delete", await _delete(connection=connection, statements=_DELETES[data_class],
                                                          keep=keep)
            outcomes.append(ClassOutcome(data_class=data_class, keep_days=keep.days, method=method, removed=removed))
        await connection.execute("SET LOCAL telecare.maintenance = ''")
        await connection.execute(
            "INSERT INTO audit_log (user_id, role, action, resource_type, detail)"
            " VALUES ($1, 'service', 'retention', 'data_lifecycle', $2::jsonb)",
            LIFECYCLE_ACTOR, json.dumps({outcome.data_class: outcome.removed for outcome in outcomes}))
    for outcome in outcomes:
        log.info("retention %s: kept %d days, %s removed %d", outcome.data_class, outcome.keep_days, outcome.method,
                 outcome.removed)
    return outcomes
