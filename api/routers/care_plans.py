"""A resident's care plan (versioned, who changed what in the audit log) and what the rules learnt."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Path, Query, Request

from api import audit
from api.deps import Connection, CurrentPrincipal, client_address, not_found
from api.responses import AUTHENTICATED, error_responses
from api.routers.residents import CARE_PLAN_EDITORS, require_role_audited, visible_resident
from api.schemas import ID_PATTERN, CarePlanOut, CarePlanVersion, HabitsOut
from rules.habit_summary import current_habits
from telecare.care_plan import HISTORY_SQL, CarePlan, apply_care_plan, current_plan, plan_document

router = APIRouter(prefix="/api/residents", tags=["care plans"], responses=AUTHENTICATED)

ResidentId = Annotated[str, Path(pattern=ID_PATTERN)]


async def _plan_out(*, connection: asyncpg.Connection, resident_id: str, history_limit: int) -> CarePlanOut:
    plan = await current_plan(connection=connection, resident_id=resident_id)
    rows = await connection.fetch(HISTORY_SQL, resident_id, history_limit)
    history = [CarePlanVersion.model_validate({**dict(row), "plan": _json(row["plan"]),
                                               "changes": _json(row["changes"])}) for row in rows]
    return CarePlanOut(resident_id=resident_id, version=history[0].version if history else None,
                       plan=plan_document(plan=plan), history=history)


def _json(value: object) -> dict[str, Any]:
    loaded = json.loads(value) if isinstance(value, str) else value
    return loaded if isinstance(loaded, dict) else {}


@router.get("/{resident_id}/care-plan", operation_id="getCarePlan", response_model=CarePlanOut,
            responses=error_responses(404))
async def get_care_plan(*, resident_id: ResidentId, principal: CurrentPrincipal, connection: Connection,
                        request: Request, history: Annotated[int, Query(ge=1, le=200)] = 20) -> CarePlanOut:
    """The care plan in force (night window, in bed by, up by, out-of-bed limit, expected absences)."""
    resident = await visible_resident(connection=connection, principal=principal, resident_id=resident_id,
                                      request=request, action="residents.care_plan.get")
    out = await _plan_out(connection=connection, resident_id=resident_id, history_limit=history)
    await audit.record(connection=connection, principal=principal, action="residents.care_plan.get",
                       resource_type="resident", resource_id=resident_id, org_id=resident["org_id"],
                       resident_id=resident_id, client=client_address(request))
    return out


@router.put("/{resident_id}/care-plan", operation_id="setCarePlan", response_model=CarePlanOut,
            responses=error_responses(400, 403, 404))
async def set_care_plan(*, resident_id: ResidentId, body: CarePlan, principal: CurrentPrincipal,
                        connection: Connection, request: Request) -> CarePlanOut:
    """Replace the care plan: a new version when anything changed, with what changed in the audit log."""
    await require_role_audited(connection=connection, principal=principal, allowed=CARE_PLAN_EDITORS,
                               request=request, action="residents.care_plan.set", resident_id=resident_id)
    resident = await visible_resident(connection=connection, principal=principal, resident_id=resident_id,
                                      request=request, action="residents.care_plan.set")
    async with connection.transaction():
        version, changes = await apply_care_plan(connection=connection, resident_id=resident_id, plan=body,
                                                 changed_by=principal.user_id, source="api")
        await audit.record(connection=connection, principal=principal, action="residents.care_plan.set",
                           resource_type="resident", resource_id=resident_id, org_id=resident["org_id"],
                           resident_id=resident_id, client=client_address(request),
                           detail={"version": version, "changes": changes})
    return await _plan_out(connection=connection, resident_id=resident_id, history_limit=20)


@router.get("/{resident_id}/habits", operation_id="getLearntHabits", response_model=HabitsOut,
            responses=error_responses(404))
async def get_habits(*, resident_id: ResidentId, principal: CurrentPrincipal, connection: Connection,
                     request: Request) -> HabitsOut:
    """What the rules learnt of this person's nights ("usually up by 07:40, learnt from 12 nights")."""
    resident = await visible_resident(connection=connection, principal=principal, resident_id=resident_id,
                                      request=request, action="residents.habits.get")
    summary = await current_habits(connection=connection, resident_id=resident_id, now=datetime.now(UTC))
    await audit.record(connection=connection, principal=principal, action="residents.habits.get",
                       resource_type="resident", resource_id=resident_id, org_id=resident["org_id"],
                       resident_id=resident_id, client=client_address(request))
    if summary is None:
        raise not_found("resident")
    return HabitsOut(resident_id=resident_id, habits=summary)
