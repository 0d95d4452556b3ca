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


class ExistingUserError(AccessError):
    """A token was asked for an existing user with a different role or scope (creating never changes one)."""


@dataclass(frozen=True, slots=True)
class UserScope:
    """A user's role and what it reaches: organisations, and for reviewers the residents assigned."""

    role: Role
    org_ids: tuple[str, ...]
    resident_ids: tuple[str, ...]

    @classmethod
    def of(cls, *, role: Role, org_ids: list[str] | tuple[str, ...],
           resident_ids: list[str] | tuple[str, ...]) -> UserScope:
        """The scope in its one canonical form (sorted, without repeats), so two scopes compare as sets."""
        return cls(role=role, org_ids=tuple(sorted(set(org_ids))), resident_ids=tuple(sorted(set(resident_ids))))

    def describe(self) -> str:
        """In words, for messages."""
        words = f"{self.role.value} of {', '.join(self.org_ids) or 'every organisation'}"
        return words + (f" (residents {', '.join(self.resident_ids)})" if self.resident_ids else "")

    def problem(self) -> str | None:
        """Why this scope cannot be given (None when it can): the role rules of docs/api.md."""
        if self.role in (Role.OPERATOR, Role.PROVIDER, Role.REVIEWER) and not self.org_ids:
            return "--org is required for this role"
        if self.role is Role.PROVIDER and len(self.org_ids) != 1:
            return "provider staff belong to exactly one --org"
        if self.role is Role.REVIEWER and not self.resident_ids:
            return "reviewers need --residents"
        if self.resident_ids and len(self.org_ids) != 1:
            return "assigned residents need exactly one --org"
        return None


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated user of one request and what they may see."""

    user_id: str
    display_name: str
    role: Role
    org_ids: tuple[str, ...]
    resident_ids: tuple[str, ...]
    # The token this request came with: an open live stream is ended when it is revoked or expires.
    token_id: int = 0

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
                     org_ids=tuple(row["org_ids"]), resident_ids=tuple(row["resident_ids"]),
                     token_id=row["token_id"])


async def check_references(*, connection: asyncpg.Connection, scope: UserScope) -> None:
    """UnknownReferenceError unless every organisation exists and every resident lives in the one given."""
    for org_id in scope.org_ids:
        if not await connection.fetchval(q.ORGANISATION_EXISTS, org_id):
            raise UnknownReferenceError(f"no organisation {org_id!r}")
    if scope.resident_ids:
        if len(scope.org_ids) != 1:
            raise UnknownReferenceError("assigned residents need exactly one --org")
        outside = await connection.fetch(q.RESIDENTS_OUTSIDE, list(scope.resident_ids), scope.org_ids[0])
        if outside:
            raise UnknownReferenceError(f"no resident {outside[0]['resident_id']!r} in {scope.org_ids[0]!r}")


async def current_scope(*, connection: asyncpg.Connection, user_id: str) -> tuple[UserScope, bool] | None:
    """A user's scope now and whether they are disabled; None for an unknown user."""
    row = await connection.fetchrow(q.USER_SCOPE, user_id)
    if row is None:
        return None
    scope = UserScope.of(role=Role(row["role"]), org_ids=row["org_ids"], resident_ids=row["resident_ids"])
    return scope, row["disabled_at"] is not None


async def issue_token(
    *, connection: asyncpg.Connection, user_id: str, role: Role, org_ids: list[str], resident_ids: list[str],
    display_name: str | None = None, label: str = "", expires_at: datetime | None = None,
) -> str:
    """A new token (shown once, stored hashed) for a new user, or for an existing one with exactly this scope.

    Issuing a token never changes an existing user: a different role, organisation or resident list (or a
    disabled user) is refused with ExistingUserError, and `telecare user update` makes such changes, audited.
    """
    wanted = UserScope.of(role=role, org_ids=org_ids, resident_ids=resident_ids)
    async with connection.transaction():
        existing = await current_scope(connection=connection, user_id=user_id)
        if existing is None:
            await check_references(connection=connection, scope=wanted)
            await connection.execute(q.INSERT_USER, user_id, display_name or user_id, role.value)
            for org_id in wanted.org_ids:
                await connection.execute(q.ADD_ORGANISATION, user_id, org_id)
            for resident_id in wanted.resident_ids:
                await connection.execute(q.ADD_RESIDENT, user_id, resident_id)
        elif existing[1]:
            raise ExistingUserError(f"user {user_id!r} is disabled; token create does not re-enable users")
        elif existing[0] != wanted:
            raise ExistingUserError(
                f"user {user_id!r} already exists as {existing[0].describe()}, not {wanted.describe()}; "
                f"token create never changes a user's role, organisations or residents. Change them with "
                f"`telecare user update --user {user_id} ...` (audited), or ask for exactly the current access")
        token = new_token()
        await connection.execute(q.INSERT_KEY_HASH, hash_token(token=token), user_id, label, expires_at)
    return token


@dataclass(slots=True)
class FailedLoginLimiter:
    """Counts failed authentications per key (a client address, or a credential); past the limit, refuse a while.

    It only ever counts failures, and callers consult it only for requests without a valid token: a valid
    operator behind the same address (or reverse proxy) as an attacker is never refused by it.
    """

    max_failures: int = 10
    window_s: float = 60.0
    max_keys: int = 50_000
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def retry_after(self, *, key: str) -> int:
        """Seconds before this key may fail again without being refused (0 = not limited)."""
        recent = self._recent(key=key)
        if len(recent) < self.max_failures:
            return 0
        return max(1, int(recent[0] + self.window_s - time.monotonic()) + 1)

    def failed(self, *, key: str) -> None:
        """Record one failed attempt."""
        self._recent(key=key).append(time.monotonic())
        if len(self._failures) > self.max_keys:
            self._forget()

    def _forget(self) -> None:
        # Bound memory under a spray of addresses or random tokens: expired keys first, then the oldest.
        for key in [k for k, v in self._failures.items() if not v]:
            del self._failures[key]
        while len(self._failures) > self.max_keys:
            del self._failures[next(iter(self._failures))]

    def _recent(self, *, key: str) -> deque[float]:
        window = self._failures.setdefault(key, deque())
        horizon = time.monotonic() - self.window_s
        while window and window[0] < horizon:
            window.popleft()
        return window
