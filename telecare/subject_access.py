"""One resident's data: a subject-access export, and erasure (UK GDPR articles 15 and 17; DSPT).

Both are audited. The export holds every row that names the resident, table by table. Erasure removes
every such row in one transaction and keeps only what the law needs of the audit trail: audit rows
about the resident lose the resident (who acted, what and when stay), and the erasure itself is
recorded under its case reference, never under the resident's id. Hubs and devices are equipment:
they stay, unassigned, for the next person in the flat.

Tables are found by their `resident_id` column, so a table added later is exported and erased too;
the few that name the resident otherwise (alerts by subject, their history) are listed here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

# Rows that belong to the resident's alerts but carry no resident_id of their own; removed first.
_ALERT_CHILDREN = {
    "alert_history": "alert_id IN (SELECT alert_id FROM alerts WHERE resident_id = $1 OR subject_key = $1)",
    "open_conditions": ("subject_key = $1 OR alert_id IN"
                        " (SELECT alert_id FROM alerts WHERE resident_id = $1 OR subject_key = $1)"),
}
# Handled on their own: the audit trail is de-identified, hubs unassigned, the resident row last.
_SPECIAL = {"audit_log", "hubs", "residents", "alerts"}
_ALERTS_WHERE = "resident_id = $1 OR subject_key = $1"
# The id as a whole JSON string ("r-12"), so that another resident's "r-123" is never matched.
_IN_DETAIL = "strpos(detail::text, to_jsonb($1::text)::text) > 0"
_AUDIT_WHERE = f"resident_id = $1 OR resource_id = $1 OR {_IN_DETAIL}"


class SubjectAccessError(LookupError):
    """No such resident, or a request that cannot be carried out."""


@dataclass(frozen=True, slots=True)
class Erasure:
    """What an erasure removed, by table."""

    case_reference: str
    rows_removed: dict[str, int]


async def _resident_tables(connection: asyncpg.Connection) -> list[str]:
    rows = await connection.fetch(
        "SELECT table_name FROM information_schema.columns WHERE table_schema = 'public'"
        " AND column_name = 'resident_id' AND table_name IN"
        " (SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        "  AND table_type = 'BASE TABLE') ORDER BY table_name")
    return [row["table_name"] for row in rows]


async def _require_resident(connection: asyncpg.Connection, resident_id: str) -> None:
    if not await connection.fetchval("SELECT 1 FROM residents WHERE resident_id = $1", resident_id):
        raise SubjectAccessError(f"no resident {resident_id!r}")


def _quoted(table: str) -> str:
    return '"' + table.replace('"', '""') + '"'


async def export_resident(*, connection: asyncpg.Connection, resident_id: str, actor: str,
                          case_reference: str) -> dict[str, Any]:
    """Every row naming the resident, by table; the export is audited."""
    await _require_resident(connection, resident_id)
    wheres = {table: "resident_id = $1" for table in await _resident_tables(connection)}
    wheres.update(_ALERT_CHILDREN)
    wheres["alerts"] = _ALERTS_WHERE
    wheres["audit_log"] = _AUDIT_WHERE
    wheres["hubs"] = "resident_id = $1"
    wheres["devices"] = "hub_id IN (SELECT hub_id FROM hubs WHERE resident_id = $1)"
    tables: dict[str, list[Any]] = {}
    async with connection.transaction(isolation="repeatable_read", readonly=False):
        for table, where in sorted(wheres.items()):
            rows = await connection.fetch(
                f"SELECT to_jsonb(t)::text AS row FROM {_quoted(table)} t WHERE {where}",
                resident_id)
            tables[table] = [json.loads(row["row"]) for row in rows]
        await _audit(connection=connection, actor=actor, action="subject_access_export", resident_id=resident_id,
                     detail={"case_reference": case_reference,
                             "rows": {table: len(rows) for table, rows in tables.items()}})
    return {"resident_id": resident_id, "case_reference": case_reference,
            "exported_at": datetime.now(UTC).isoformat(), "tables": tables}


async def _audit(*, connection: asyncpg.Connection, actor: str, action: str, resident_id: str | None,
                 detail: dict[str, Any]) -> None:
    await connection.execute(
        "INSERT INTO audit_log (user_id, role, action, resource_type, resource_id, resident_id, detail)"
        " VALUES ($1, 'admin', $2, 'resident', $3, $4, $5::jsonb)",
        actor, action, resident_id or "erased", resident_id, json.dumps(detail))


def _count(status: str) -> int:
    return int(status.rsplit(" ", 1)[-1])


async def erase_resident(*, connection: asyncpg.Connection, resident_id: str, actor: str,
                         case_reference: str) -> Erasure:
    """Remove every row of the resident in one transaction (all or nothing), audited by case reference."""
    if not case_reference.strip():
        raise SubjectAccessError("an erasure needs the case reference it answers")
    removed: dict[str, int] = {}
    async with connection.transaction():
        await _require_resident(connection, resident_id)
        # The append-only triggers (alert history, audit log) let this transaction, and only it, remove
        # the resident's alert history and take the resident out of audit rows.
        await connection.execute("SET LOCAL telecare.maintenance = 'erasure'")
        for table, where in _ALERT_CHILDREN.items():
            removed[table] = _count(await connection.execute(f"DELETE FROM {table} WHERE {where}",
                                                             resident_id))
        removed["alerts"] = _count(await connection.execute(f"DELETE FROM alerts WHERE {_ALERTS_WHERE}",
                                                            resident_id))
        for table in await _resident_tables(connection):
            if table in _SPECIAL:
                continue
            removed[table] = _count(await connection.execute(
                f"DELETE FROM {_quoted(table)} WHERE resident_id = $1", resident_id))
        removed["hubs_unassigned"] = _count(await connection.execute(
            "UPDATE hubs SET resident_id = NULL WHERE resident_id = $1", resident_id))
        removed["audit_rows_deidentified"] = _count(await connection.execute(
            "UPDATE audit_log SET resident_id = NULL,"
            " resource_id = CASE WHEN resource_id = $1 THEN 'erased' ELSE resource_id END,"
            f" detail = CASE WHEN {_IN_DETAIL} THEN jsonb_build_object('erased', $2::text)"
            "   ELSE detail END"
            f" WHERE {_AUDIT_WHERE}", resident_id, case_reference))
        await connection.execute("SET LOCAL telecare.maintenance = ''")
        removed["residents"] = _count(await connection.execute("DELETE FROM residents WHERE resident_id = $1",
                                                               resident_id))
        await connection.execute(
            "INSERT INTO erasures (case_reference, actor, rows_removed) VALUES ($1, $2, $3::jsonb)",
            case_reference, actor, json.dumps(removed))
        await _audit(connection=connection, actor=actor, action="erasure", resident_id=None,
                     detail={"case_reference": case_reference, "rows_removed": removed})
    return Erasure(case_reference=case_reference, rows_removed=removed)
