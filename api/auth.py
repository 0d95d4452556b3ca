"""Bearer tokens, the principal behind a request, what each role may see, and the failed-login limiter."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

import asyncpg

from api.queries import access as q

TOKEN_PREFIX = "tc_"  # noqa: S105 - a public prefix, not a secret


class Role(StrEnum):
    """Who a user is to the service (docs/domain.md section 6)."""

    OPERATOR = "operator"
    PROVIDER = "provider"
    REVIEWER = "reviewer"
    ADMIN = "admin"


class AccessError(Exception):
    """Base of the API's access errors."""


class UnknownReferenceError(AccessError):
    """A token was asked for an organisation or resident that does not exist (or not in that organisation)."""


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated user of one request and what they may see."""

    user_id: str
    display_name: str
    role: Role
    org_ids: tuple[str, ...]
    resident_ids: tuple[str, ...]

    @property
    def org_scope(self) -> list[str] | None:
        """Organisations visible (None = every one); reviewers are limited by resident instead."""
        if self.role in (Role.ADMIN, Role.REVIEWER):
            return None
        return list(self.org_ids)

    @property
    def resident_scope(self) -> list[str] | None:
        """Residents visible (None = any resident inside the organisation scope)."""
        return list(self.resident_ids) if self.role is Role.REVIEWER else None

    def sees(self, *, org_id: str | None, resident_id: str | None) -> bool:
        """Whether a row of this organisation and resident is inside the principal's scope."""
        orgs, residents = self.org_scope, self.resident_scope
        if orgs is not None and org_id not in orgs:
            return False
        return residents is None or (resident_id is not None and resident_id in residents)


def hash_token(*, token: str) -> bytes:
    """The stored form of a token: SHA-256 (tokens are 32 random bytes, so no slow hash is needed)."""
    return hashlib.sha256(token.encode("utf-8")).digest()


def new_token() -> str:
    """A fresh bearer token: a prefix (so leaked tokens are recognisable to scanners) and 32 random bytes."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


async def principal_for_token(*, connection: asyncpg.Connection, token: str) -> Principal | None:
    """The user behind a live token, or None for unknown, revoked or expired tokens."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    row = await connection.fetchrow(q.PRINCIPAL_BY_HASH, hash_token(token=token))
    if row is None:
        return None
    return Principal(user_id=row["user_id"], display_name=row["display_name"], role=Role(row["role"]),
                     org_ids=tuple(row["org_ids"]), resident_ids=tuple(row["resident_ids"]))


async def issue_token(
    *, connection: asyncpg.Connection, user_id: str, role: Role, org_ids: list[str], resident_ids: list[str],
    display_name: str | None = None, label: str = "", expires_at: datetime | None = None,
) -> str:
    """Create or update the user, record their scope, and return a new token (shown once, stored hashed)."""
    async with connection.transaction():
        for org_id in org_ids:
            if not await connection.fetchval(q.ORGANISATION_EXISTS, org_id):
                raise UnknownReferenceError(f"no organisation {org_id!r}")
        if resident_ids:
            if len(org_ids) != 1:
                raise UnknownReferenceError("assigned residents need exactly one --org")
            outside = await connection.fetch(q.RESIDENTS_OUTSIDE, resident_ids, org_ids[0])
            if outside:
                raise UnknownReferenceError(f"no resident {outside[0]['resident_id']!r} in {org_ids[0]!r}")
        await connection.execute(q.UPSERT_USER, user_id, display_name or user_id, role.value)
        for org_id in org_ids:
            await connection.execute(q.ADD_ORGANISATION, user_id, org_id)
        for resident_id in resident_ids:
            await connection.execute(q.ADD_RESIDENT, user_id, resident_id)
        token = new_token()
        await connection.execute(q.INSERT_KEY_HASH, hash_token(token=token), user_id, label, expires_at)
    return token


@dataclass(slots=True)
class FailedLoginLimiter:
    """Counts failed authentications per client; past the limit the client is refused for a while."""

    max_failures: int = 10
    window_s: float = 60.0
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def retry_after(self, *, client: str) -> int:
        """Seconds the client must wait before trying again (0 = may try now)."""
        recent = self._recent(client=client)
        if len(recent) < self.max_failures:
            return 0
        return max(1, int(recent[0] + self.window_s - time.monotonic()) + 1)

    def failed(self, *, client: str) -> None:
        """Record one failed attempt."""
        self._recent(client=client).append(time.monotonic())
        # Bound memory under a spray of addresses: forget clients whose failures have all expired.
        if len(self._failures) > 10_000:
            for key in [k for k, v in self._failures.items() if not v]:
                del self._failures[key]

    def _recent(self, *, client: str) -> deque[float]:
        window = self._failures.setdefault(client, deque())
        horizon = time.monotonic() - self.window_s
        while window and window[0] < horizon:
            window.popleft()
        return window
