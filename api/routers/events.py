"""Events: one resident's stored events over a period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from api import audit
from api.deps import Connection, CurrentPrincipal, client_address
from api.queries import events as event_q
from api.responses import AUTHENTICATED, error_responses
from api.routers.residents import visible_resident
from api.schemas import ID_PATTERN, EventOut, Moment

router = APIRouter(prefix="/api/residents", tags=["events"], responses=AUTHENTICATED)

ResidentId = Annotated[str, Path(pattern=ID_PATTERN)]


@router.get("/{resident_id}/events", operation_id="listResidentEvents", response_model=list[EventOut],
            responses=error_responses(404))
async def list_resident_events(
    *, resident_id: ResidentId, principal: CurrentPrincipal, connection: Connection, request: Request,
    since: Annotated[Moment | None, Query(description="default: 24 hours before `until`")] = None,
    until: Annotated[Moment | None, Query(description="default: now")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
) -> list[EventOut]:
    """One resident's events over a period, newest first."""
    resident = await visible_resident(connection=connection, principal=principal, resident_id=resident_id,
                                      request=request, action="events.list")
    end = _aware(until) or datetime.now(UTC)
    start = _aware(since) or end - timedelta(hours=24)
    rows = await connection.fetch(event_q.FOR_RESIDENT, resident_id, start, end, limit)
    await audit.record(connection=connection, principal=principal, action="events.list", resource_type="resident",
                       resource_id=resident_id, org_id=resident["org_id"], resident_id=resident_id,
                       client=client_address(request),
                       detail={"since": start.isoformat(), "until": end.isoformat(), "count": len(rows)})
    return [EventOut.model_validate(dict(row)) for row in rows]


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


