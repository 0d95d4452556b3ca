"""Control-centre KPIs for the organisations the user may see."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from api.auth import Role
from api.deps import Connection, CurrentPrincipal, not_found, require_role
from api.responses import AUTHENTICATED, error_responses
from api.schemas import ID_PATTERN, FalseAlarmRate, Kpis, Moment
from rules.kpi import compute_kpis

router = APIRouter(prefix="/api/kpis", tags=["kpis"], responses=AUTHENTICATED)

READERS = {Role.OPERATOR, Role.PROVIDER, Role.ADMIN}


@router.get("", operation_id="getKpis", response_model=Kpis, responses=error_responses(403, 404))
async def get_kpis(
    *, principal: CurrentPrincipal, connection: Connection,
    since: Annotated[Moment | None, Query(description="default: 24 hours before `until`")] = None,
    until: Annotated[Moment | None, Query(description="default: now")] = None,
    org_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
) -> Kpis:
    """Acknowledged within 60/180 s, time to close, attendance, outcomes and false-alarm rate per device type."""
    require_role(principal=principal, allowed=READERS)
    scope = principal.org_scope
    if org_id is not None and scope is not None and org_id not in scope:
        raise not_found("organisation")
    end = until or datetime.now(UTC)
    end = end if end.tzinfo else end.replace(tzinfo=UTC)
    start = since or end - timedelta(hours=24)
    start = start if start.tzinfo else start.replace(tzinfo=UTC)
    kpis = await compute_kpis(connection=connection, since=start, until=end, org_scope=scope, org_id=org_id)
    by_device_type = kpis.pop("false_alarm_rate_by_device_type")
    kpis.pop("false_alarm_rate_by_resident")
    return Kpis(
        since=start, until=end, **kpis,
        false_alarm_rate_by_device_type={key: FalseAlarmRate(**rate) for key, rate in by_device_type.items()},
    )
