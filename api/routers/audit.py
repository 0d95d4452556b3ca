"""The audit log (administrators only)."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Query

from api import audit
from api.auth import Role
from api.deps import Connection, CurrentPrincipal, require_role
from api.responses import AUTHENTICATED, error_responses
from api.schemas import ID_PATTERN, AuditEntry

router = APIRouter(prefix="/api/audit", tags=["audit"], responses=AUTHENTICATED)


@router.get("", operation_id="listAuditLog", response_model=list[AuditEntry], responses=error_responses(403))
async def list_audit_log(
    *, principal: CurrentPrincipal, connection: Connection,
    resident_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    user_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    before: Annotated[int | None, Query(ge=1, le=2**62, description="page: audit ids below this")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditEntry]:
    """Who saw or changed what, newest first."""
    require_role(principal=principal, allowed={Role.ADMIN})
    rows = await audit.entries(connection=connection, resident_id=resident_id, user_id=user_id, before=before,
                               limit=limit)
    return [AuditEntry.model_validate({**dict(row), "detail": json.loads(row["detail"])}) for row in rows]
