"""Users: who am I, and (administrators) everyone."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.auth import Role
from api.deps import Connection, CurrentPrincipal, require_role
from api.queries import access as q
from api.responses import AUTHENTICATED, error_responses
from api.schemas import ID_PATTERN, UserAdminView, UserOut

router = APIRouter(prefix="/api/users", tags=["users"], responses=AUTHENTICATED)


@router.get("/me", operation_id="getCurrentUser", response_model=UserOut)
async def current_user(*, principal: CurrentPrincipal) -> UserOut:
    """The signed-in user and their scope (the console's sign-in check)."""
    return UserOut(user_id=principal.user_id, display_name=principal.display_name, role=principal.role.value,
                   org_ids=list(principal.org_ids), resident_ids=list(principal.resident_ids))


@router.get("", operation_id="listUsers", response_model=list[UserAdminView], responses=error_responses(403))
async def list_users(*, principal: CurrentPrincipal, connection: Connection,
                     org_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
                     limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[UserAdminView]:
    """Every user (administrators only), optionally those serving one organisation."""
    require_role(principal=principal, allowed={Role.ADMIN})
    rows = await connection.fetch(q.LIST_USERS, [org_id] if org_id else None, limit)
    return [UserAdminView.model_validate(dict(row)) for row in rows]
