"""Changing an existing user's role, organisations or residents: said before it is done, audited when it is."""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from typing import Any

import asyncpg

from api import audit
from api.auth import AccessError, Principal, Role, UserScope, check_references, current_scope
from api.queries import access as q


class UnknownUserError(AccessError):
    """No such user."""


class InvalidScopeError(AccessError):
    """The asked-for scope breaks the role rules."""


@dataclass(frozen=True, slots=True)
class ScopeChange:
    """A user's scope before and after a change."""

    user_id: str
    before: UserScope
    after: UserScope

    def as_dict(self) -> dict[str, Any]:
        """What changes, field by field (empty when nothing does)."""
        changes: dict[str, Any] = {}
        if self.before.role is not self.after.role:
            changes["role"] = {"from": self.before.role.value, "to": self.after.role.value}
        for name in ("org_ids", "resident_ids"):
            old, new = set(getattr(self.before, name)), set(getattr(self.after, name))
            if old != new:
                changes[name] = {"added": sorted(new - old), "removed": sorted(old - new)}
        return changes


def cli_actor() -> Principal:
    """Who the audit log names for a change made from the command line: the operating-system user."""
    return Principal(user_id=f"cli:{getpass.getuser()}", display_name="command line", role=Role.ADMIN,
                     org_ids=(), resident_ids=())


async def change_user_scope(
    *, connection: asyncpg.Connection, user_id: str, role: Role | None, org_ids: list[str] | None,
    resident_ids: list[str] | None, actor: Principal, apply: bool,
) -> ScopeChange:
    """Work out (and when `apply`, make and audit, in one transaction) a change to a user's scope.

    Unnamed parts stay as they are, except that residents only belong to reviewers: a user who stops
    being a reviewer loses their assigned residents unless new ones are named.
    """
    async with connection.transaction():
        existing = await current_scope(connection=connection, user_id=user_id)
        if existing is None:
            raise UnknownUserError(f"no user {user_id!r}")
        before = existing[0]
        new_role = role or before.role
        default_residents = before.resident_ids if new_role is Role.REVIEWER else ()
        after = UserScope.of(role=new_role, org_ids=org_ids if org_ids is not None else before.org_ids,
                             resident_ids=resident_ids if resident_ids is not None else default_residents)
        problem = after.problem()
        if problem is not None:
            raise InvalidScopeError(problem)
        await check_references(connection=connection, scope=after)
        change = ScopeChange(user_id=user_id, before=before, after=after)
        if apply and change.as_dict():
            await connection.execute(q.SET_ROLE, user_id, after.role.value)
            await connection.execute(q.REMOVE_ORGANISATIONS_EXCEPT, user_id, list(after.org_ids))
            for org_id in after.org_ids:
                await connection.execute(q.ADD_ORGANISATION, user_id, org_id)
            await connection.execute(q.REMOVE_RESIDENTS_EXCEPT, user_id, list(after.resident_ids))
            for resident_id in after.resident_ids:
                await connection.execute(q.ADD_RESIDENT, user_id, resident_id)
            await audit.record(connection=connection, principal=actor, action="users.scope.change",
                               resource_type="user", resource_id=user_id, client="cli",
                               detail={"changes": change.as_dict(), "before": before.describe(),
                                       "after": after.describe()})
    return change
