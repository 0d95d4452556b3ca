"""Devices: the health board (status, battery, last seen, availability)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from api import audit
from api.deps import Connection, CurrentPrincipal, client_address, not_found
from api.queries import devices as q
from api.responses import AUTHENTICATED, error_responses
from api.schemas import ID_PATTERN, DeviceHealth

router = APIRouter(prefix="/api/devices", tags=["devices"], responses=AUTHENTICATED)


@router.get("", operation_id="listDevices", response_model=list[DeviceHealth])
async def list_devices(
    *, principal: CurrentPrincipal, connection: Connection, request: Request,
    org_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    resident_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
) -> list[DeviceHealth]:
    """Devices the user may see, offline and low-battery first."""
    rows = await connection.fetch(q.LIST, principal.org_scope, principal.resident_scope, org_id, resident_id, limit)
    await audit.record(connection=connection, principal=principal, action="devices.list", resource_type="device",
                       org_id=org_id, resident_id=resident_id, client=client_address(request),
                       detail={"count": len(rows)})
    return [DeviceHealth.model_validate(dict(row)) for row in rows]


@router.get("/{device_id}", operation_id="getDevice", response_model=DeviceHealth, responses=error_responses(404))
async def get_device(*, device_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@ -]{0,300}$")],
                     principal: CurrentPrincipal, connection: Connection, request: Request) -> DeviceHealth:
    """One device's health."""
    row = await connection.fetchrow(q.ONE, principal.org_scope, principal.resident_scope, device_id)
    if row is None:
        await audit.record(connection=connection, principal=principal, action="devices.get", resource_type="device",
                           resource_id=device_id, outcome="denied", client=client_address(request))
        raise not_found("device")
    await audit.record(connection=connection, principal=principal, action="devices.get", resource_type="device",
                       resource_id=device_id, org_id=row["org_id"], resident_id=row["resident_id"],
                       client=client_address(request))
    return DeviceHealth.model_validate(dict(row))
