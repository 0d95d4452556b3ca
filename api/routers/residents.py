"""Residents: profile, devices, night window, away periods, contacts and response protocol."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Path, Query, Request, status

from api import audit
from api.auth import Principal, Role
from api.deps import Connection, CurrentPrincipal, client_address, not_found, require_role
from api.queries import alerts as alert_q
from api.queries import events as event_q
from api.queries import residents as q
from api.responses import AUTHENTICATED, error_responses
from api.schemas import (
    ID_PATTERN,
    AlertOut,
    AwayIn,
    AwayPeriod,
    Contact,
    ContactIn,
    DeviceOut,
    EventOut,
    OpenCondition,
    Protocol,
    ProtocolIn,
    ResidentDetail,
    ResidentSummary,
)

router = APIRouter(prefix="/api/residents", tags=["residents"], responses=AUTHENTICATED)

ResidentId = Annotated[str, Path(pattern=ID_PATTERN)]
AWAY_SETTERS = {Role.OPERATOR, Role.PROVIDER, Role.ADMIN}
CARE_PLAN_EDITORS = {Role.PROVIDER, Role.ADMIN}


@router.get("", operation_id="listResidents", response_model=list[ResidentSummary])
async def list_residents(
    *, principal: CurrentPrincipal, connection: Connection, request: Request,
    org_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[ResidentSummary]:
    """Residents the user may see."""
    rows = await connection.fetch(q.LIST, principal.org_scope, principal.resident_scope, org_id, limit)
    await audit.record(connection=connection, principal=principal, action="residents.list", resource_type="resident",
                       org_id=org_id, client=client_address(request), detail={"count": len(rows)})
    return [ResidentSummary.model_validate(dict(row)) for row in rows]


@router.get("/{resident_id}", operation_id="getResident", response_model=ResidentDetail,
            responses=error_responses(404))
async def get_resident(*, resident_id: ResidentId, principal: CurrentPrincipal, connection: Connection,
                       request: Request) -> ResidentDetail:
    """The resident panel: protocol, contacts, devices, away periods, open conditions and alerts, recent events."""
    resident = await visible_resident(connection=connection, principal=principal, resident_id=resident_id,
                                      request=request, action="residents.get")
    protocol = await connection.fetchrow(q.PROTOCOL, resident_id)
    alerts = await connection.fetch(alert_q.LIST, None, None, "open", resident_id, None, None, None, 50)
    now = datetime.now(UTC)
    events = await connection.fetch(event_q.FOR_RESIDENT, resident_id, now - timedelta(days=2), now, 30)
    detail = ResidentDetail(
        resident=ResidentSummary.model_validate({**dict(resident), "open_alerts": len(alerts)}),
        protocol=Protocol.model_validate(dict(protocol)) if protocol else None,
        contacts=[Contact.model_validate(dict(row)) for row in await connection.fetch(q.CONTACTS, resident_id)],
        devices=[DeviceOut.model_validate(dict(row)) for row in await connection.fetch(q.DEVICES, resident_id)],
        away_periods=[AwayPeriod.model_validate(dict(row))
                      for row in await connection.fetch(q.AWAY_PERIODS, resident_id)],
        open_conditions=[OpenCondition.model_validate(dict(row))
                         for row in await connection.fetch(q.OPEN_CONDITIONS, resident_id)],
        open_alerts=[AlertOut.model_validate(dict(row)) for row in alerts],
        recent_events=[EventOut.model_validate(dict(row)) for row in events],
    )
    await audit.record(connection=connection, principal=principal, action="residents.get", resource_type="resident",
                       resource_id=resident_id, org_id=resident["org_id"], resident_id=resident_id,
                       client=client_address(request))
    return detail


@router.post("/{resident_id}/away", operation_id="createAwayPeriod", response_model=AwayPeriod,
             status_code=status.HTTP_201_CREATED, responses=error_responses(400, 403, 404))
async def create_away_period(*, resident_id: ResidentId, body: AwayIn, principal: CurrentPrincipal,
                             connection: Connection, request: Request) -> AwayPeriod:
    """Record a planned absence (hospital, family visit): activity rules are held back meanwhile."""
    await require_role_audited(connection=connection, principal=principal, allowed=AWAY_SETTERS,
                                request=request, action="residents.away", resident_id=resident_id)
    resident = await visible_resident(connection=connection, principal=principal, resident_id=resident_id,
                                      request=request, action="residents.away")
    async with connection.transaction():
        row = await connection.fetchrow(q.INSERT_AWAY, resident_id, body.starts_at, body.ends_at, body.reason,
                                        principal.user_id)
        await audit.record(connection=connection, principal=principal, action="residents.away",
                           resource_type="resident", resource_id=resident_id, org_id=resident["org_id"],
                           resident_id=resident_id, client=client_address(request),
                           detail=json.loads(body.model_dump_json()))
    return AwayPeriod.model_validate(dict(row) if row else {})


@router.post("/{resident_id}/contacts", operation_id="addResidentContact", response_model=Contact,
             status_code=status.HTTP_201_CREATED, responses=error_responses(400, 403, 404))
async def add_contact(*, resident_id: ResidentId, body: ContactIn, principal: CurrentPrincipal,
                      connection: Connection, request: Request) -> Contact:
    """Add someone to call for the resident."""
    await require_role_audited(connection=connection, principal=principal, allowed=CARE_PLAN_EDITORS,
                                request=request, action="residents.contacts.add", resident_id=resident_id)
    resident = await visible_resident(connection=connection, principal=principal, resident_id=resident_id,
                                      request=request, action="residents.contacts.add")
    async with connection.transaction():
        row = await connection.fetchrow(q.INSERT_CONTACT, resident_id, body.name, body.relationship, body.phone,
                                        body.call_order, body.keyholder)
        await audit.record(connection=connection, principal=principal, action="residents.contacts.add",
                           resource_type="resident", resource_id=resident_id, org_id=resident["org_id"],
                           resident_id=resident_id, client=client_address(request))
    return Contact.model_validate(dict(row) if row else {})


@router.put("/{resident_id}/protocol", operation_id="setResidentProtocol", response_model=Protocol,
            responses=error_responses(400, 403, 404))
async def set_protocol(*, resident_id: ResidentId, body: ProtocolIn, principal: CurrentPrincipal,
                       connection: Connection, request: Request) -> Protocol:
    """Replace the resident's response protocol."""
    await require_role_audited(connection=connection, principal=principal, allowed=CARE_PLAN_EDITORS,
                                request=request, action="residents.protocol.set", resident_id=resident_id)
    resident = await visible_resident(connection=connection, principal=principal, resident_id=resident_id,
                                      request=request, action="residents.protocol.set")
    async with connection.transaction():
        row = await connection.fetchrow(q.UPSERT_PROTOCOL, resident_id, body.protocol, body.access_notes,
                                        body.medical_notes, principal.user_id)
        await audit.record(connection=connection, principal=principal, action="residents.protocol.set",
                           resource_type="resident", resource_id=resident_id, org_id=resident["org_id"],
                           resident_id=resident_id, client=client_address(request))
    return Protocol.model_validate(dict(row) if row else {})


async def visible_resident(*, connection: asyncpg.Connection, principal: Principal, resident_id: str,
                           request: Request, action: str) -> asyncpg.Record:
    """The resident row if the principal may see it; 404 (and an audited refusal) otherwise."""
    row = await connection.fetchrow(q.ONE, principal.org_scope, principal.resident_scope, resident_id)
    if row is None:
        await audit.record(connection=connection, principal=principal, action=action, resource_type="resident",
                           resource_id=resident_id, outcome="denied", client=client_address(request))
        raise not_found("resident")
    return row


async def require_role_audited(*, connection: asyncpg.Connection, principal: Principal, allowed: set[Role],
                               request: Request, action: str, resident_id: str) -> None:
    """Refuse (and audit the refusal) unless the principal's role is one of `allowed`."""
    if principal.role not in allowed:
        await audit.record(connection=connection, principal=principal, action=action, resource_type="resident",
                           resource_id=resident_id, outcome="denied", client=client_address(request))
    require_role(principal=principal, allowed=allowed)
