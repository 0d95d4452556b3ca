"""Writes one batch (events, dead letters, registry changes, counters) in a single transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
import orjson

from ingest.messages import BatchOutcome, DeadLetter
from ingest.registry import Registry
from telecare.vocabulary import DeviceType, Location

EVENTS_NOTIFY_CHANNEL = "telecare_events"

_EVENT_COLUMNS = (
    "time", "event_key", "received_at", "org_id", "resident_id", "hub_id", "device_id", "device_type",
    "location", "kind", "is_restore", "value", "source", "time_from_arrival",
)
_STAGING_DDL = (
    "CREATE TEMP TABLE IF NOT EXISTS events_staging ("
    " time timestamptz, event_key uuid, received_at timestamptz, org_id text, resident_id text,"
    " hub_id text, device_id text, device_type text, location text, kind text, is_restore boolean,"
    " value double precision, source text, time_from_arrival boolean) ON COMMIT DELETE ROWS"
)
# The whole batch (events, registry, redelivery bookkeeping, counters, wake-up of the rules) in one
# statement: one round trip instead of seven, which is most of a small batch's commit time.
# Parameters: $1 client id, $2 mids acknowledged since the last commit, $3 events staged,
# $4-$18 dirty devices, $19-$21 dirty hubs, $22 this batch's id, $23-$24 its (mid, digest).
_COMMIT_BATCH = (
    f"WITH inserted AS (INSERT INTO events ({', '.join(_EVENT_COLUMNS)})"
    f" SELECT {', '.join(_EVENT_COLUMNS)} FROM events_staging ORDER BY time"
    " ON CONFLICT DO NOTHING RETURNING ingest_seq),"
    " stats AS (SELECT count(*) AS stored, max(ingest_seq) AS max_seq FROM inserted),"
    " devices_written AS ("
    "INSERT INTO devices (device_id, hub_id, friendly_name, ieee_address, device_type, location, model,"
    " vendor, power_source, last_seen, battery, battery_low, availability, availability_at, last_state,"
    " removed_at)"
    " SELECT u.device_id, u.hub_id, u.friendly_name, u.ieee_address, u.device_type, u.location, u.model,"
    " u.vendor, u.power_source, u.last_seen, u.battery, u.battery_low, u.availability,"
    " CASE WHEN u.availability IS NULL THEN NULL ELSE now() END, u.last_state::jsonb,"
    " CASE WHEN u.removed THEN now() END"
    " FROM unnest($4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],"
    " $11::text[], $12::text[], $13::timestamptz[], $14::smallint[], $15::boolean[], $16::text[], $17::text[],"
    " $18::boolean[]) AS u(device_id, hub_id, friendly_name, ieee_address, device_type, location, model,"
    " vendor, power_source, last_seen, battery, battery_low, availability, last_state, removed)"
    " ON CONFLICT (device_id) DO UPDATE SET friendly_name = EXCLUDED.friendly_name,"
    " ieee_address = EXCLUDED.ieee_address, model = EXCLUDED.model, vendor = EXCLUDED.vendor,"
    " power_source = EXCLUDED.power_source,"
    " last_seen = GREATEST(devices.last_seen, EXCLUDED.last_seen), battery = EXCLUDED.battery,"
    " battery_low = EXCLUDED.battery_low,"
    " availability_at = CASE WHEN EXCLUDED.availability IS DISTINCT FROM devices.availability"
    "   THEN now() ELSE devices.availability_at END,"
    " availability = EXCLUDED.availability, last_state = EXCLUDED.last_state,"
    " removed_at = CASE WHEN EXCLUDED.removed_at IS NULL THEN NULL"
    "   ELSE COALESCE(devices.removed_at, EXCLUDED.removed_at) END"
    " RETURNING 1),"
    " hubs_written AS ("
    "UPDATE hubs AS h SET last_seen = GREATEST(h.last_seen, u.last_seen),"
    " bridge_state_at = CASE WHEN u.bridge_state IS DISTINCT FROM h.bridge_state THEN now()"
    "   ELSE h.bridge_state_at END,"
    " bridge_state = u.bridge_state"
    " FROM unnest($19::text[], $20::timestamptz[], $21::text[]) AS u(hub_id, last_seen, bridge_state)"
    " WHERE h.hub_id = u.hub_id RETURNING 1),"
    # Acknowledged packet ids leave every row that holds them (a stale row from before a reconnect
    # too); rows left empty go. This batch's row is not visible to these updates (one snapshot), so a
    # packet id acknowledged earlier and reused in this batch stays remembered.
    " forgotten AS (UPDATE ingest_unacked_batches SET entries = entries - $2::text[]"
    " WHERE client_id = $1 AND entries ?| $2::text[] AND entries - $2::text[] <> '{}'::jsonb RETURNING 1),"
    " emptied AS (DELETE FROM ingest_unacked_batches"
    " WHERE client_id = $1 AND entries ?| $2::text[] AND entries - $2::text[] = '{}'::jsonb RETURNING 1),"
    " remembered AS (INSERT INTO ingest_unacked_batches (client_id, batch_id, entries)"
    " SELECT $1, $22, jsonb_object($23::text[], $24::text[]) WHERE cardinality($23::text[]) > 0"
    " ON CONFLICT (client_id, batch_id) DO UPDATE"
    " SET entries = ingest_unacked_batches.entries || EXCLUDED.entries RETURNING 1),"
    " counted AS (UPDATE ingest_counters SET value = value + CASE name WHEN 'events_stored' THEN stats.stored"
    " ELSE $3::bigint - stats.stored END FROM stats WHERE name IN ('events_stored', 'duplicates_dropped')"
    " AND $3::bigint > 0 RETURNING 1)"
    f" SELECT stats.stored, stats.max_seq, CASE WHEN stats.max_seq IS NOT NULL"
    f" THEN pg_notify('{EVENTS_NOTIFY_CHANNEL}', stats.max_seq::text) END AS notified FROM stats"
)
_UPSERT_DEAD_LETTERS = (
    "INSERT INTO dead_letters (topic, payload, reason, detail, digest, occurrences, first_received_at,"
    " last_received_at)"
    " SELECT * FROM unnest($1::text[], $2::bytea[], $3::text[], $4::text[], $5::bytea[], $6::int[],"
    " $7::timestamptz[], $8::timestamptz[])"
    " ON CONFLICT (digest) DO UPDATE SET occurrences = dead_letters.occurrences + EXCLUDED.occurrences,"
    " last_received_at = EXCLUDED.last_received_at, reason = EXCLUDED.reason, detail = EXCLUDED.detail,"
    " status = 'pending', resolved_at = NULL"
)


@dataclass(frozen=True, slots=True)
class BatchWritten:
    """What the database made of a batch."""

    staged: int
    stored: int
    duplicates: int
    dead_letters: int
    max_seq: int | None


async def prepare_connection(connection: asyncpg.Connection) -> None:
    """Per-connection set-up: the staging table COPY writes into."""
    await connection.execute(_STAGING_DDL)


def _event_records(outcome: BatchOutcome, registry: Registry) -> list[tuple[object, ...]]:
    records: list[tuple[object, ...]] = []
    for event in outcome.events:
        hub = registry.hubs[event.hub_id]
        device = registry.devices_by_id.get(event.device_id)
        device_type = device.device_type if device else DeviceType.HUB.value
        location = device.location if device else Location.OTHER.value
        records.append((
            event.time, event.event_key, event.received_at, hub.org_id, hub.resident_id, event.hub_id,
            event.device_id, device_type, location, event.kind.value, event.is_restore, event.value,
            event.source.value, event.time_from_arrival,
        ))
    return records


def _storable_text(text: str) -> str:
    """PostgreSQL text cannot hold NUL, and a detail may quote a hostile field name: a dead letter must
    always be writable, or the message behind it could never be acknowledged."""
    return text.replace("\x00", "\\x00")


def _merge_dead_letters(dead_letters: Sequence[DeadLetter]) -> list[tuple[DeadLetter, int]]:
    merged: dict[bytes, tuple[DeadLetter, int]] = {}
    for letter in dead_letters:
        first, count = merged.get(letter.digest, (letter, 0))
        merged[letter.digest] = (letter if count else first, count + 1)
    return list(merged.values())


async def write_batch(
    *,
    connection: asyncpg.Connection,
    outcome: BatchOutcome,
    registry: Registry,
    client_id: str,
    batch_id: int,
    unacked: Sequence[tuple[int, bytes]],
    forget_mids: Sequence[int],
) -> BatchWritten:
    """Commit a batch; `unacked` are this batch's (mid, digest), `forget_mids` those acked before.

    Writes of the same `batch_id` (a batch stored one message at a time) add to one row.
    """
    records = _event_records(outcome, registry)
    devices = registry.dirty_devices()
    hubs = registry.dirty_hubs()
    async with connection.transaction():
        if records:
            await connection.copy_records_to_table("events_staging", records=records, columns=_EVENT_COLUMNS)
        if outcome.dead_letters:
            merged = _merge_dead_letters(outcome.dead_letters)
            await connection.execute(
                _UPSERT_DEAD_LETTERS,
                [_storable_text(letter.topic) for letter, _ in merged],
                [letter.payload for letter, _ in merged],
                [letter.reason.value for letter, _ in merged],
                [_storable_text(letter.detail) for letter, _ in merged],
                [letter.digest for letter, _ in merged],
                [count for _, count in merged],
                [letter.received_at for letter, _ in merged],
                [letter.received_at for letter, _ in merged],
            )
        row = await connection.fetchrow(
            _COMMIT_BATCH,
            client_id, [str(mid) for mid in forget_mids], len(records),
            [d.device_id for d in devices], [d.hub_id for d in devices], [d.friendly_name for d in devices],
            [d.ieee_address for d in devices], [d.device_type for d in devices],
            [d.location for d in devices], [d.model for d in devices], [d.vendor for d in devices],
            [d.power_source for d in devices], [d.last_seen for d in devices],
            [d.battery for d in devices], [d.battery_low for d in devices],
            [d.availability for d in devices],
            [orjson.dumps(d.last_state).decode() for d in devices], [d.removed for d in devices],
            [h.hub_id for h in hubs], [h.last_seen for h in hubs], [h.bridge_state for h in hubs],
            batch_id, [str(mid) for mid, _ in unacked], [digest.hex() for _, digest in unacked],
        )
        assert row is not None
        stored, max_seq = int(row["stored"]), row["max_seq"]
    duplicates = len(records) - stored
    registry.mark_committed()
    return BatchWritten(staged=len(records), stored=stored, duplicates=duplicates,
                        dead_letters=len(outcome.dead_letters), max_seq=max_seq)


async def load_unacked(*, connection: asyncpg.Connection, client_id: str) -> dict[int, bytes]:
    """Messages committed but perhaps never acknowledged, from before the last stop (later batches win)."""
    rows = await connection.fetch(
        "SELECT e.key, e.value FROM ingest_unacked_batches b, jsonb_each_text(b.entries) AS e"
        " WHERE b.client_id = $1 ORDER BY b.batch_id", client_id)
    return {int(row["key"]): bytes.fromhex(row["value"]) for row in rows}


async def record_takeovers(*, connection: asyncpg.Connection, client_id: str, count: int) -> None:
    """Record takeovers of this worker's MQTT session (read by the API's /readyz)."""
    await connection.execute(
        "INSERT INTO ingest_session_takeovers (client_id, takeovers) VALUES ($1, $2) ON CONFLICT (client_id)"
        " DO UPDATE SET last_at = now(), takeovers = ingest_session_takeovers.takeovers + EXCLUDED.takeovers",
        client_id, count)
# The priority lane stores alarm events only: no registry, no counters, no redelivery bookkeeping
# (its session is not the one of record). Same conflict rule as every batch: the natural key wins.
_INSERT_PRIORITY_EVENTS = (
    f"WITH inserted AS (INSERT INTO events ({', '.join(_EVENT_COLUMNS)})"
    f" SELECT {', '.join(_EVENT_COLUMNS)} FROM events_staging ORDER BY time"
    " ON CONFLICT DO NOTHING RETURNING ingest_seq)"
    f" SELECT count(*) AS stored, max(ingest_seq) AS max_seq, CASE WHEN max(ingest_seq) IS NOT NULL"
    f" THEN pg_notify('{EVENTS_NOTIFY_CHANNEL}', max(ingest_seq)::text) END AS notified FROM inserted"
)


async def write_priority_events(*, connection: asyncpg.Connection, outcome: BatchOutcome,
                                registry: Registry) -> int:
    """Store the outcome's events (and nothing else) at once; returns how many were new."""
    records = _event_records(outcome, registry)
    if not records:
        return 0
    async with connection.transaction():
        await connection.copy_records_to_table("events_staging", records=records, columns=_EVENT_COLUMNS)
        stored = await connection.fetchval(_INSERT_PRIORITY_EVENTS)
    return int(stored)
