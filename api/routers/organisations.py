"""Organisations the user serves or belongs to."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from api.auth import Role
from api.deps import Connection, CurrentPrincipal, not_found, require_role
from api.queries import organisations as q
from api.responses import AUTHENTICATED, error_responses
from api.schemas import ID_PATTERN, Organisation

router = APIRouter(prefix="/api/organisations", tags=["organisations"], responses=AUTHENTICATED)

# Reviewers work from assigned residents: organisation-wide counts are not theirs to see.
READERS = {Role.OPERATOR, Role.PROVIDER, Role.ADMIN}


@router.get("", operation_id="listOrganisations", response_model=list[Organisation],
            responses=error_responses(403))
async def list_organisations(*, principal: CurrentPrincipal, connection: Connection,
                             limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[Organisation]:
    """Organisations in the user's scope, with resident and open-alert counts."""
    require_role(principal=principal, allowed=READERS)
    rows = await connection.fetch(q.LIST, principal.org_scope, limit)
    return [Organisation.model_validate(dict(row)) for row in rows]


@router.get("/{org_id}", operation_id="getOrganisation", response_model=Organisation,
            responses=error_responses(403, 404))
async def get_organisation(*, org_id: Annotated[str, Path(pattern=ID_PATTERN)], principal: CurrentPrincipal,
                           connection: Connection) -> Organisation:
    """One organisation in the user's scope."""
    require_role(principal=principal, allowed=READERS)
    row = await connection.fetchrow(q.ONE, principal.org_scope, org_id)
    if row is None:
        raise not_found("organisation")
    return Organisation.model_validate(dict(row))
