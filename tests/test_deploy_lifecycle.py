"""Data lifecycle against the real TimescaleDB: backup and restore, subject access and erasure, retention."""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from telecare.retention import apply_retention, set_policy
from telecare.subject_access import erase_resident, export_resident
from tests.conftest import ADMIN_URL
from tests.rules_helpers import provision_flat, store_event

REPO = Path(__file__).resolve().parent.parent


def _script(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(REPO / "deploy" / "scripts" / name), *args], capture_output=True, text=True,
                          timeout=300, check=False)


async def _tables(db: asyncpg.Connection) -> list[str]:
    rows = await db.fetch("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
                          " AND table_type = 'BASE TABLE' ORDER BY table_name")
    return [row["table_name"] for row in rows]


async def _fingerprints(db: asyncpg.Connection) -> dict[str, tuple[int, str]]:
    """Row count and a digest of every row, per table."""
    result = {}
    for table in await _tables(db):
        row = await db.fetchrow("SELECT count(*) AS n,"
                                " md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) AS digest"
                                f' FROM "{table}" t')
        assert row is not None
        result[table] = (int(row["n"]), str(row["digest"]))
    return result


async def _alert(db: asyncpg.Connection, *, unique: str, status: str, raised_at: datetime) -> int:
    alert_id: int = await db.fetchval(
        "INSERT INTO alerts (run, org_id, resident_id, subject_key, hub_id, condition, status, priority, base_priority,"
        " raised_at, detected_at, last_event_at, closed_at, outcome) VALUES ('live', $1, $2, $2, $3, 'fall', $4, 1, 1,"
        " $5, $5, $5, CASE WHEN $4 = 'closed' THEN $5::timestamptz + interval '1 hour' END,"
        " CASE WHEN $4 = 'closed' THEN 'reassured' END) RETURNING alert_id",
        f"o-{unique}", f"r-{unique}", f"h-{unique}", status, raised_at)
    await db.execute("INSERT INTO alert_history (alert_id, action, actor, to_status) VALUES ($1, 'raised', 'rules',"
                     " 'raised')", alert_id)
    return alert_id


async def _audit(db: asyncpg.Connection, *, unique: str, at: datetime | None = None) -> None:
    await db.execute(
        "INSERT INTO audit_log (at, user_id, role, action, resource_type, resource_id, org_id, resident_id, detail)"
        " VALUES (coalesce($4, clock_timestamp()), 'op-1', 'operator', 'read', 'resident', $1, $2, $1, $3::jsonb)",
        f"r-{unique}", f"o-{unique}", json.dumps({"viewed": f"r-{unique}"}), at)


async def _populate(db: asyncpg.Connection, unique: str) -> None:
    """A resident with three weeks of events (three chunks), alerts, a contact and audit rows."""
    await provision_flat(db=db, unique=unique)
    now = datetime.now(UTC)
    for day in range(21):
        await store_event(db=db, unique=unique, device="hall", kind="motion", at=now - timedelta(days=day, hours=1))
    await store_event(db=db, unique=unique, device="pendant", kind="personal_trigger", at=now - timedelta(hours=2))
    await _alert(db, unique=unique, status="raised", raised_at=now - timedelta(hours=2))
    await db.execute("INSERT INTO resident_contacts (resident_id, name, relationship, phone, call_order)"
                     " VALUES ($1, 'Daughter', 'family', '+447700900000', 1)", f"r-{unique}")
    await db.execute("INSERT INTO rule_config (resident_id, out_of_bed_min) VALUES ($1, 20)", f"r-{unique}")
    await _audit(db, unique=unique)


async def test_backup_and_restore_lose_nothing(fresh_database_url: str, tmp_path: Path) -> None:
    """backup.sh then restore.sh into a new database: every table holds exactly the same rows, and the
    restored events table is still a working hypertable."""
    db = await asyncpg.connect(fresh_database_url)
    restored_name = f"telecare_restore_{secrets.token_hex(4)}"
    restored_url = f"{ADMIN_URL.rsplit('/', 1)[0]}/{restored_name}"
    try:
        for _ in range(2):
            await _populate(db, secrets.token_hex(5))
        before = await _fingerprints(db)
        assert before["events"][0] == 44
        archive = tmp_path / "telecare.dump"
        backup = await asyncio.to_thread(_script, "backup.sh", fresh_database_url, str(archive))
        assert backup.returncode == 0, backup.stderr
        assert archive.stat().st_mode & 0o077 == 0
        done = await asyncio.to_thread(_script, "restore.sh", restored_url, str(archive))
        assert done.returncode == 0, done.stderr
        restored = await asyncpg.connect(restored_url)
        try:
            assert await _fingerprints(restored) == before
            chunks = await restored.fetchval("SELECT count(*) FROM timescaledb_information.chunks"
                                             " WHERE hypertable_name = 'events'")
            assert chunks >= 3
        finally:
            await restored.close()
        # Never over an existing database.
        again = await asyncio.to_thread(_script, "restore.sh", restored_url, str(archive))
        assert again.returncode == 1 and "already exists" in again.stderr
    finally:
        await db.close()
        admin = await asyncpg.connect(ADMIN_URL)
        await admin.execute(f'DROP DATABASE IF EXISTS "{restored_name}" WITH (FORCE)')
        await admin.close()


async def _rows_naming(db: asyncpg.Connection, resident_id: str) -> dict[str, int]:
    """Every row, in every table, with a text column equal to the id or JSON holding it as a string."""
    columns = await db.fetch(
        "SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c"
        " JOIN information_schema.tables t USING (table_schema, table_name)"
        " WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'"
        " AND c.data_type IN ('text', 'character varying', 'jsonb', 'json')")
    found: dict[str, int] = {}
    for column in columns:
        table, name = column["table_name"], column["column_name"]
        test = (f'"{name}" = $1' if column["data_type"] in ("text", "character varying")
                else f'strpos("{name}"::text, to_jsonb($1::text)::text) > 0')
        count = int(await db.fetchval(f'SELECT count(*) FROM "{table}" WHERE {test}', resident_id))
        if count:
            found[f"{table}.{name}"] = count
    return found


async def test_export_then_erasure_leaves_no_row_of_the_resident(fresh_database_url: str) -> None:
    """The export holds the resident's rows and is audited; the erasure leaves no row naming them in
    any table, keeps the other resident whole, and is itself audited by case reference only."""
    db = await asyncpg.connect(fresh_database_url)
    try:
        erased, kept = secrets.token_hex(5), secrets.token_hex(5)
        await _populate(db, erased)
        await _populate(db, kept)
        kept_before = await _rows_naming(db, f"r-{kept}")
        export = await export_resident(connection=db, resident_id=f"r-{erased}", actor="dpo-1",
                                       case_reference="SAR-2026-17")
        assert len(export["tables"]["events"]) == 22
        assert [contact["name"] for contact in export["tables"]["resident_contacts"]] == ["Daughter"]
        assert len(export["tables"]["alerts"]) == 1 and len(export["tables"]["audit_log"]) == 1
        assert await db.fetchval("SELECT count(*) FROM audit_log WHERE action = 'subject_access_export'"
                                 " AND resident_id = $1 AND user_id = 'dpo-1'", f"r-{erased}") == 1
        assert (await _rows_naming(db, f"r-{erased}")).get("residents.resident_id") == 1

        erasure = await erase_resident(connection=db, resident_id=f"r-{erased}", actor="dpo-1",
                                       case_reference="ERA-2026-03")
        assert erasure.rows_removed["events"] == 22 and erasure.rows_removed["residents"] == 1
        assert await _rows_naming(db, f"r-{erased}") == {}
        assert await _rows_naming(db, f"r-{kept}") == kept_before
        record = await db.fetchrow("SELECT user_id, detail FROM audit_log WHERE action = 'erasure'")
        assert record is not None and record["user_id"] == "dpo-1"
        assert json.loads(record["detail"])["case_reference"] == "ERA-2026-03"
        # Who looked at the erased resident, and when, is still on record, without the resident.
        assert await db.fetchval("SELECT count(*) FROM audit_log WHERE action = 'read' AND resident_id IS NULL"
                                 " AND resource_id = 'erased'") == 1
        # And the audit log is as append-only as before for anything else.
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await db.execute("UPDATE audit_log SET resident_id = NULL WHERE resident_id = $1", f"r-{kept}")
    finally:
        await db.close()


async def test_retention_drops_what_each_class_keeps_no_longer(fresh_database_url: str) -> None:
    """With raw events kept 30 days: whole chunks older than that go (drop_chunks on this edition),
    recent events, open alerts and recent audit rows stay; the run is audited."""
    db = await asyncpg.connect(fresh_database_url)
    try:
        unique = secrets.token_hex(5)
        await provision_flat(db=db, unique=unique)
        now = datetime.now(UTC)
        for days in (90, 80, 2, 1):
            await store_event(db=db, unique=unique, device="hall", kind="motion", at=now - timedelta(days=days))
        old_closed = await _alert(db, unique=unique, status="closed", raised_at=now - timedelta(days=100))
        old_open = await _alert(db, unique=unique, status="raised", raised_at=now - timedelta(days=100))
        await _audit(db, unique=unique, at=now - timedelta(days=100))
        await _audit(db, unique=unique)
        for data_class in ("raw_events", "alerts", "audit"):
            await set_policy(connection=db, data_class=data_class, keep=timedelta(days=30))
        outcomes = {outcome.data_class: outcome for outcome in await apply_retention(connection=db)}
        assert outcomes["raw_events"].method == "drop_chunks" and outcomes["raw_events"].removed >= 1
        ages = [row["age"] for row in await db.fetch(
            "SELECT extract(day FROM now() - time)::int AS age FROM events ORDER BY time")]
        assert ages == [2, 1]
        assert [row["alert_id"] for row in await db.fetch("SELECT alert_id FROM alerts ORDER BY alert_id")] == [
            old_open]
        assert await db.fetchval("SELECT count(*) FROM alert_history WHERE alert_id = $1", old_closed) == 0
        assert await db.fetchval("SELECT count(*) FROM audit_log WHERE action = 'read'") == 1
        assert await db.fetchval("SELECT count(*) FROM audit_log WHERE action = 'retention'") == 1
    finally:
        await db.close()
