"""Dead letters: list them, re-drive them once their cause is fixed, or discard them."""

from __future__ import annotations

from typing import Any

import asyncpg

from ingest.messages import BatchOutcome, InboundMessage
from ingest.processor import MessageProcessor
from ingest.registry import load_registry
from ingest.store import prepare_connection, write_batch
from telecare.events import TelecareEvent
from telecare.settings import Settings

_SELECT = (
    "SELECT dead_letter_id, topic, payload, reason, detail, occurrences, first_received_at, last_received_at,"
    " status FROM dead_letters WHERE status = 'pending'"
    " AND ($1::text IS NULL OR reason = $1) AND ($2::bigint[] IS NULL OR dead_letter_id = ANY($2))"
    " ORDER BY first_received_at, dead_letter_id LIMIT $3"
)


async def list_dead_letters(*, connection: asyncpg.Connection, reason: str | None, ids: list[int] | None,
                            limit: int) -> list[dict[str, Any]]:
    """Pending dead letters, oldest first, with a printable preview of the payload."""
    rows = await connection.fetch(_SELECT, reason, ids, limit)
    return [
        {
            "id": row["dead_letter_id"],
            "topic": row["topic"],
            "reason": row["reason"],
            "detail": row["detail"],
            "occurrences": row["occurrences"],
            "first_received_at": row["first_received_at"].isoformat(),
            "last_received_at": row["last_received_at"].isoformat(),
            "payload_preview": bytes(row["payload"][:200]).decode("utf-8", errors="replace"),
            "payload_bytes": len(row["payload"]),
        }
        for row in rows
    ]


async def redrive_dead_letters(*, connection: asyncpg.Connection, settings: Settings, reason: str | None,
                               ids: list[int] | None, limit: int) -> dict[str, Any]:
    """Run pending dead letters through the adapters again, in arrival order.

    Each is read as if first seen (no prior device state) at its original arrival time, so the events
    it yields are the ones the live ingest would have stored; the device state the live ingest keeps
    for edge detection is left alone.
    """
    rows = await connection.fetch(_SELECT, reason, ids, limit)
    registry = await load_registry(connection=connection)
    for device in registry.devices.values():
        device.last_state = {}
    processor = MessageProcessor(settings=settings, registry=registry)
    events: list[TelecareEvent] = []
    resolved: list[int] = []
    still_failing: list[tuple[int, str, str]] = []
    for row in rows:
        message = InboundMessage(topic=row["topic"], payload=bytes(row["payload"]), mid=0, qos=0, dup=False,
                                 connection_epoch=0, received_at=row["first_received_at"])
        outcome = processor.process(messages=[message])
        if outcome.dead_letters:
            letter = outcome.dead_letters[0]
            still_failing.append((row["dead_letter_id"], letter.reason.value, letter.detail))
        else:
            events.extend(outcome.events)
            resolved.append(row["dead_letter_id"])
    for device in registry.devices.values():
        device.dirty = device.is_new
    for hub in registry.hubs.values():
        hub.dirty = False
    await prepare_connection(connection)
    async with connection.transaction():
        written = await write_batch(connection=connection, outcome=BatchOutcome(events=events), registry=registry,
                                    client_id="dlq-redrive", batch_id=0, unacked=[], forget_mids=[])
        await connection.execute(
            "UPDATE dead_letters SET status = 'redriven', resolved_at = now() WHERE dead_letter_id = ANY($1)",
            resolved,
        )
        for letter_id, new_reason, detail in still_failing:
            await connection.execute(
                "UPDATE dead_letters SET reason = $2, detail = $3 WHERE dead_letter_id = $1",
                letter_id, new_reason, detail,
            )
    return {
        "examined": len(rows),
        "redriven": len(resolved),
        "still_failing": len(still_failing),
        "events_stored": written.stored,
        "duplicates_dropped": written.duplicates,
    }


async def discard_dead_letters(*, connection: asyncpg.Connection, reason: str | None, ids: list[int] | None,
                               limit: int) -> int:
    """Mark pending dead letters as discarded (kept for the record, never re-driven)."""
    rows = await connection.fetch(_SELECT, reason, ids, limit)
    chosen = [row["dead_letter_id"] for row in rows]
    await connection.execute(
        "UPDATE dead_letters SET status = 'discarded', resolved_at = now() WHERE dead_letter_id = ANY($1)", chosen
    )
    return len(chosen)
