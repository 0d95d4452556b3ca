"""Alerts: the queue, one alert with its history, and the lifecycle actions."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Literal

import asyncpg
import orjson
from fastapi import APIRouter, HTTPException, Path, Query, Request, Response, status

from api import audit
from api.auth import Principal, Role
from api.deps import Connection, CurrentPrincipal, client_address, not_found, require_role
from api.queries import alerts as q
from api.responses import AUTHENTICATED, error_responses
from api.schemas import ID_PATTERN, ActionIn, AlertDetail, AlertOut, AlertQueue, CloseIn, HistoryEntry, ReopenIn
from rules import lifecycle

router = APIRouter(prefix="/api/alerts", tags=["alerts"], responses=AUTHENTICATED)

AlertId = Annotated[int, Path(ge=1, le=2**62)]
HANDLERS = {Role.OPERATOR, Role.ADMIN}
ACTION_ERRORS = error_responses(403, 404, 409)
BODY_ACTION_ERRORS = error_responses(400, 403, 404, 409)


@router.get("", operation_id="listAlerts", response_model=AlertQueue)
async def list_alerts(
    *, principal: CurrentPrincipal, connection: Connection, request: Request,
    state: Annotated[Literal["open", "closed", "all"], Query(alias="status", description="open: not closed")] = "open",
    resident_id: Annotated[str | None, Query(pattern=ID_PATTERN, description="one resident's alerts")] = None,
    org_id: Annotated[str | None, Query(pattern=ID_PATTERN, description="one organisation's alerts")] = None,
    condition: Annotated[str | None, Query(pattern=r"^[a-z_]{1,40}$", description="e.g. fall, smoke")] = None,
    max_priority: Annotated[int | None, Query(ge=1, le=9, description="1 = most urgent only")] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="most alerts returned")] = 500,
) -> Response:
    """Alerts most urgent first, then oldest first; open ones by default."""
    async with connection.transaction(isolation="repeatable_read", readonly=True):
        # Same snapshot for both: the stream cursor is exactly the state the list shows.
        head = await connection.fetchval(q.STREAM_HEAD)
        rows = await connection.fetch(q.LIST, principal.org_scope, principal.resident_scope, state, resident_id,
                                      condition, max_priority, org_id, limit)
    await audit.record(connection=connection, principal=principal, action="alerts.list", resource_type="alert",
                       org_id=org_id, resident_id=resident_id, client=client_address(request),
                       detail={"status": state, "count": len(rows)})
    # The queue is the hottest read (every console, every reconnect): rows go straight to JSON, skipping a
    # second pydantic pass; the columns are exactly AlertOut's, which the OpenAPI document describes.
    body = orjson.dumps({"alerts": [dict(row) for row in rows], "stream_after": head})
    return Response(body, media_type="application/json")


@router.get("/{alert_id}", operation_id="getAlert", response_model=AlertDetail, responses=error_responses(404))
async def get_alert(*, alert_id: AlertId, principal: CurrentPrincipal, connection: Connection,
                    request: Request) -> AlertDetail:
    """One alert and every step of its history."""
    row = await _visible_alert(connection=connection, principal=principal, alert_id=alert_id, request=request,
                               action="alerts.get")
    history = [HistoryEntry.model_validate({**dict(h), "detail": json.loads(h["detail"])})
               for h in await connection.fetch(q.HISTORY, alert_id)]
    await audit.record(connection=connection, principal=principal, action="alerts.get", resource_type="alert",
                       resource_id=str(alert_id), org_id=row["org_id"], resident_id=row["resident_id"],
                       client=client_address(request))
    return AlertDetail(alert=AlertOut.model_validate(dict(row)), history=history)


@router.post("/{alert_id}/claim", operation_id="claimAlert", response_model=AlertOut, responses=ACTION_ERRORS)
async def claim_alert(*, alert_id: AlertId, principal: CurrentPrincipal, connection: Connection,
                      request: Request) -> AlertOut:
    """Take the alert: other operators see it is being handled."""
    return await _act(connection=connection, principal=principal, alert_id=alert_id, request=request,
                      action="claim", detail={},
                      step=lambda: lifecycle.claim(connection=connection, alert_id=alert_id,
                                                   user_id=principal.user_id))


@router.post("/{alert_id}/release", operation_id="releaseAlert", response_model=AlertOut, responses=ACTION_ERRORS)
async def release_alert(*, alert_id: AlertId, principal: CurrentPrincipal, connection: Connection,
                        request: Request) -> AlertOut:
    """Give a claimed alert back to the queue."""
    return await _act(connection=connection, principal=principal, alert_id=alert_id, request=request,
                      action="release", detail={},
                      step=lambda: lifecycle.release(connection=connection, alert_id=alert_id,
                                                     user_id=principal.user_id))


@router.post("/{alert_id}/acknowledge", operation_id="acknowledgeAlert", response_model=AlertOut,
             responses=ACTION_ERRORS)
async def acknowledge_alert(*, alert_id: AlertId, principal: CurrentPrincipal, connection: Connection,
                            request: Request) -> AlertOut:
    """The operator has answered the alarm (the 60 s / 180 s KPI clock stops here)."""
    return await _act(connection=connection, principal=principal, alert_id=alert_id, request=request,
                      action="acknowledge", detail={},
                      step=lambda: lifecycle.acknowledge(connection=connection, alert_id=alert_id,
                                                         user_id=principal.user_id))


@router.post("/{alert_id}/actions", operation_id="recordAlertAction", response_model=AlertOut,
             responses=BODY_ACTION_ERRORS)
async def record_alert_action(*, alert_id: AlertId, body: ActionIn, principal: CurrentPrincipal,
                              connection: Connection, request: Request) -> AlertOut:
    """Record a call, a dispatch, an attendance or a note against an acknowledged alert."""
    return await _act(connection=connection, principal=principal, alert_id=alert_id, request=request,
                      action=f"action:{body.action.value}", detail={"note": body.note},
                      step=lambda: lifecycle.record_action(connection=connection, alert_id=alert_id,
                                                           user_id=principal.user_id, action=body.action,
                                                           note=body.note))


@router.post("/{alert_id}/close", operation_id="closeAlert", response_model=AlertOut, responses=BODY_ACTION_ERRORS)
async def close_alert(*, alert_id: AlertId, body: CloseIn, principal: CurrentPrincipal, connection: Connection,
                      request: Request) -> AlertOut:
    """Close the alert with an outcome code."""
    return await _act(connection=connection, principal=principal, alert_id=alert_id, request=request,
                      action="close", detail={"outcome": body.outcome.value},
                      step=lambda: lifecycle.close(connection=connection, alert_id=alert_id,
                                                   user_id=principal.user_id, outcome=body.outcome,
                                                   note=body.note))


@router.post("/{alert_id}/reopen", operation_id="reopenAlert", response_model=AlertOut, responses=BODY_ACTION_ERRORS)
async def reopen_alert(*, alert_id: AlertId, body: ReopenIn, principal: CurrentPrincipal, connection: Connection,
                       request: Request) -> AlertOut:
    """Put a closed alert back in the queue."""
    return await _act(connection=connection, principal=principal, alert_id=alert_id, request=request,
                      action="reopen", detail={"reason": body.reason},
                      step=lambda: lifecycle.reopen(connection=connection, alert_id=alert_id,
                                                    user_id=principal.user_id, reason=body.reason))


async def _visible_alert(*, connection: asyncpg.Connection, principal: Principal, alert_id: int, request: Request,
                         action: str) -> asyncpg.Record:
    row = await connection.fetchrow(q.ONE, principal.org_scope, principal.resident_scope, alert_id)
    if row is None:
        await audit.record(connection=connection, principal=principal, action=action, resource_type="alert",
                           resource_id=str(alert_id), outcome="denied", client=client_address(request))
        raise not_found("alert")
    return row


async def _act(*, connection: asyncpg.Connection, principal: Principal, alert_id: int, request: Request,
               action: str, detail: dict[str, str],
               step: Callable[[], Awaitable[lifecycle.AlertView]]) -> AlertOut:
    """Check role and scope, apply one lifecycle step and audit it in the same transaction."""
    if principal.role not in HANDLERS:
        await audit.record(connection=connection, principal=principal, action=f"alerts.{action}",
                           resource_type="alert", resource_id=str(alert_id), outcome="denied",
                           client=client_address(request))
    require_role(principal=principal, allowed=HANDLERS)
    row = await _visible_alert(connection=connection, principal=principal, alert_id=alert_id, request=request,
                               action=f"alerts.{action}")
    try:
        async with connection.transaction():
            await step()
            await audit.record(connection=connection, principal=principal, action=f"alerts.{action}",
                               resource_type="alert", resource_id=str(alert_id), org_id=row["org_id"],
                               resident_id=row["resident_id"], client=client_address(request), detail=detail)
    except lifecycle.AlertNotFoundError as exc:
        raise not_found("alert") from exc
    except lifecycle.AlertTransitionError as exc:
        # The lifecycle's own message may carry database text; the operator gets a plain one.
        message = str(exc)
        if not message.startswith(f"alert {alert_id} is claimed by "):
            message = f"this alert cannot be given '{action}' now: someone may have handled it already"
        raise HTTPException(status.HTTP_409_CONFLICT, message) from exc
    updated = await connection.fetchrow(q.ONE, principal.org_scope, principal.resident_scope, alert_id)
    if updated is None:
        raise not_found("alert")
    return AlertOut.model_validate(dict(updated))
