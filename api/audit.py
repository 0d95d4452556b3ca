"""The append-only audit log: who saw or changed which resident's data, and who was refused."""

from __future__ import annotations

import json
from typing import Any, Literal

import asyncpg

from api.auth import Principal
from api.queries import audit as q


async def record(
    *, connection: asyncpg.Connection, principal: Principal, action: str, resource_type: str,
    resource_id: str | None = None, org_id: str | None = None, resident_id: str | None = None,
    outcome: Literal["allowed", "denied", "failed"] = "allowed", client: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one audit row."""
    await connection.execute(
        q.INSERT, principal.user_id, principal.role.value, action, resource_type, resource_id, org_id, resident_id,
        outcome, client, json.dumps(detail or {}, default=str),
    )


async def entries(*, connection: asyncpg.Connection, resident_id: str | None, user_id: str | None,
                  before: int | None, limit: int) -> list[asyncpg.Record]:
    """Newest audit rows first, optionally for one resident or user, paged by `before`."""
    return list(await connection.fetch(q.LIST, resident_id, user_id, before, limit))
