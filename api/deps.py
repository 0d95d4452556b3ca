"""Request dependencies: a pooled connection, the authenticated principal, role checks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, cast

import asyncpg
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.auth import FailedLoginLimiter, Principal, Role, hash_token, principal_for_token
from api.state import ApiState

_bearer = HTTPBearer(auto_error=False, description="A token from `telecare token create`.")


def api_state(request: Request) -> ApiState:
    """What create_app built for this application."""
    state: ApiState = request.app.state.api
    return state


def client_address(request: Request) -> str:
    """The peer address (a proxy in front should be trusted explicitly, not via headers here)."""
    return request.client.host if request.client else "unknown"


async def db_connection(state: Annotated[ApiState, Depends(api_state)]) -> AsyncIterator[asyncpg.Connection]:
    """A connection from the pool for the length of one request."""
    async with state.pool.acquire(timeout=5) as proxy:
        # The pool hands out a proxy that behaves as a Connection; the stubs type them apart.
        yield cast(asyncpg.Connection, proxy)


def _unauthorised(message: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, message, headers={"WWW-Authenticate": "Bearer"})


def _too_many(*, state: ApiState, wait_s: int) -> HTTPException:
    state.metrics.auth_failures.labels(reason="rate_limited").inc()
    return HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, "too many failed sign-ins; try again later",
                         headers={"Retry-After": str(wait_s)})


async def current_principal(
    request: Request,
    state: Annotated[ApiState, Depends(api_state)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The user behind the bearer token; 401 without a valid one, 429 after repeated failures.

    Failures are limited per client address and per credential, but a valid token is always looked up and
    always served: behind a reverse proxy every console shares one address, and an attacker's (or a
    misconfigured neighbour's) failures there must never lock an operator out at 3 a.m.
    """
    client_key = f"client:{client_address(request)}"
    limiter: FailedLoginLimiter = state.login_limiter
    if credentials is None or credentials.scheme.lower() != "bearer":
        wait_s = limiter.retry_after(key=client_key)
        if wait_s:
            raise _too_many(state=state, wait_s=wait_s)
        limiter.failed(key=client_key)
        state.metrics.auth_failures.labels(reason="missing").inc()
        raise _unauthorised("a bearer token is required")
    # The same wrong token tried again and again (from any number of addresses) is refused without a look-up.
    credential_key = "credential:" + hash_token(token=credentials.credentials)[:12].hex()
    wait_s = limiter.retry_after(key=credential_key)
    if wait_s:
        raise _too_many(state=state, wait_s=wait_s)
    # A short-lived connection of its own: a streaming route must not hold a pooled connection open.
    async with state.pool.acquire(timeout=5) as proxy:
        principal = await principal_for_token(connection=cast(asyncpg.Connection, proxy),
                                              token=credentials.credentials)
    if principal is not None:
        return principal
    wait_s = limiter.retry_after(key=client_key)
    limiter.failed(key=client_key)
    limiter.failed(key=credential_key)
    if wait_s:
        raise _too_many(state=state, wait_s=wait_s)
    state.metrics.auth_failures.labels(reason="invalid").inc()
    raise _unauthorised("the token is not valid")


def require_role(*, principal: Principal, allowed: set[Role]) -> None:
    """403 unless the principal's role is one of `allowed` (a role question never depends on a row)."""
    if principal.role not in allowed:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "your role may not do this")


def not_found(what: str) -> HTTPException:
    """404 for rows that do not exist or lie outside the caller's scope: the two must look the same."""
    return HTTPException(status.HTTP_404_NOT_FOUND, f"no such {what}")


Connection = Annotated[asyncpg.Connection, Depends(db_connection)]
CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
State = Annotated[ApiState, Depends(api_state)]
