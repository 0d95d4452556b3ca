"""An organisation's alarm priority table: read by the people who serve it, changed by administrators, audited.

The rules worker reloads the table every minute (rules.worker `refresh_interval_s`): a change applies to
alarms raised, repeated and escalated after that; alarms already on the queue keep their priority.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Path, Request

from api import audit
from api.auth import Principal, Role
from api.deps import Connection, CurrentPrincipal, client_address, not_found, require_role
from api.queries import organisations as org_q
from api.queries import priorities as q
from api.responses import AUTHENTICATED, error_responses
from api.schemas import ID_PATTERN
from api.schemas_panel import PriorityIn, PriorityRow

router = APIRouter(prefix="/api/organisations", tags=["organisations"], responses=AUTHENTICATED)

OrgId = Annotated[str, Path(pattern=ID_PATTERN)]
Condition = Annotated[str, Path(pattern=r"^[a-z_]{1,64}$")]
READERS = {Role.OPERATOR, Role.PROVIDER, Role.ADMIN}
EDITORS = {Role.ADMIN}


@router.get("/{org_id}/priorities", operation_id="getPriorityTable", response_model=list[PriorityRow],
            responses=error_responses(403, 404))
async def get_priorities(*, org_id: OrgId, principal: CurrentPrincipal, connection: Connection) -> list[PriorityRow]:
    """The priority table as it applies to this organisation's alarms, most urgent first."""
    require_role(principal=principal, allowed=READERS)
    await _visible_org(connection=connection, principal=principal, org_id=org_id)
    return [PriorityRow.model_validate(dict(row)) for row in await connection.fetch(q.EFFECTIVE, org_id, None)]


@router.put("/{org_id}/priorities/{condition}", operation_id="setPriority", response_model=PriorityRow,
            responses=error_responses(400, 403, 404))
async def set_priority(*, org_id: OrgId, condition: Condition, body: PriorityIn, principal: CurrentPrincipal,
                       connection: Connection, request: Request) -> PriorityRow:
    """Give this organisation its own priority, repeat bump and escalation time for one condition (admin)."""
    before = await _checked_row(connection=connection, principal=principal, org_id=org_id, condition=condition,
                                request=request, action="priorities.set")
    async with connection.transaction():
        await connection.execute(q.UPSERT, org_id, condition, body.priority, body.repeat_bump, body.escalate_after_s,
                                 principal.user_id)
        await _audit(connection=connection, principal=principal, request=request, action="priorities.set",
                     org_id=org_id, condition=condition, before=before, after=json.loads(body.model_dump_json()))
    return await _row(connection=connection, org_id=org_id, condition=condition)


@router.delete("/{org_id}/priorities/{condition}", operation_id="resetPriority", response_model=PriorityRow,
               responses=error_responses(403, 404))
async def reset_priority(*, org_id: OrgId, condition: Condition, principal: CurrentPrincipal,
                         connection: Connection, request: Request) -> PriorityRow:
    """Go back to the default row for one condition (admin)."""
    before = await _checked_row(connection=connection, principal=principal, org_id=org_id, condition=condition,
                                request=request, action="priorities.reset")
    async with connection.transaction():
        await connection.execute(q.DELETE, org_id, condition)
        await _audit(connection=connection, principal=principal, request=request, action="priorities.reset",
                     org_id=org_id, condition=condition, before=before, after=None)
    return await _row(connection=connection, org_id=org_id, condition=condition)


async def _visible_org(*, connection: asyncpg.Connection, principal: Principal, org_id: str) -> None:
    if await connection.fetchrow(org_q.ONE, principal.org_scope, org_id) is None:
        raise not_found("organisation")


async def _row(*, connection: asyncpg.Connection, org_id: str, condition: str) -> PriorityRow:
    row = await connection.fetchrow(q.EFFECTIVE, org_id, condition)
    if row is None:
        raise not_found("condition")
    return PriorityRow.model_validate(dict(row))


async def _checked_row(*, connection: asyncpg.Connection, principal: Principal, org_id: str, condition: str,
                       request: Request, action: str) -> dict[str, Any]:
    """The row before the change; a refused attempt is audited before the 403 or 404."""
    if principal.role not in EDITORS:
        await audit.record(connection=connection, principal=principal, action=action, resource_type="priority",
                           resource_id=condition, org_id=org_id, outcome="denied", client=client_address(request))
    require_role(principal=principal, allowed=EDITORS)
    await _visible_org(connection=connection, principal=principal, org_id=org_id)
    return (await _row(connection=connection, org_id=org_id, condition=condition)).model_dump(mode="json")


async def _audit(*, connection: asyncpg.Connection, principal: Principal, request: Request, action: str,
                 org_id: str, condition: str, before: dict[str, Any], after: dict[str, Any] | None) -> None:
    await audit.record(connection=connection, principal=principal, action=action, resource_type="priority",
                       resource_id=condition, org_id=org_id, client=client_address(request),
                       detail={"before": {k: before[k] for k in ("priority", "repeat_bump", "escalate_after_s")},
                               "after": after})
