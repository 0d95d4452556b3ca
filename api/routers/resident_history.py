"""The resident panel's look back: recent alarms with their outcomes and the actions taken."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from api import audit
from api.deps import Connection, CurrentPrincipal, client_address
from api.queries import resident_history as q
from api.responses import AUTHENTICATED, error_responses
from api.routers.residents import visible_resident
from api.schemas import ID_PATTERN
from api.schemas_panel import PastAlert, ResidentHistory

router = APIRouter(prefix="/api/residents", tags=["residents"], responses=AUTHENTICATED)


@router.get("/{resident_id}/history", operation_id="getResidentHistory", response_model=ResidentHistory,
            responses=error_responses(404))
async def get_resident_history(
    *, resident_id: Annotated[str, Path(pattern=ID_PATTERN)], principal: CurrentPrincipal, connection: Connection,
    request: Request,
    days: Annotated[int, Query(ge=1, le=365, description="how far back to list alarms")] = 30,
) -> ResidentHistory:
    """Recent alarms of the resident, newest first, with outcome, actions taken and closing note."""
    resident = await visible_resident(connection=connection, principal=principal, resident_id=resident_id,
                                      request=request, action="residents.history")
    since = datetime.now(UTC) - timedelta(days=days)
    alert_rows = await connection.fetch(q.RECENT_ALERTS, resident_id, since, 50)
    await audit.record(connection=connection, principal=principal, action="residents.history",
                       resource_type="resident", resource_id=resident_id, org_id=resident["org_id"],
                       resident_id=resident_id, client=client_address(request),
                       detail={"alerts": len(alert_rows), "days": days})
    return ResidentHistory(
        resident_id=resident_id, since=since,
        alerts=[PastAlert.model_validate(dict(row)) for row in alert_rows],
    )
