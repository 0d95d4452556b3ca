"""Care-review evidence over HTTP: nightly summaries, evidence packs (JSON/CSV/HTML/PDF), the scheme view,
decisions. Mount with `app.include_router(reports.router)`.

AUTH PLACEHOLDER: `current_user` below must be replaced by the API's real dependency (role-scoped:
provider staff see their own residents only, DOMAIN.md section 6). The lead wires it at mount time with
`app.dependency_overrides[reports.current_user] = <real dependency>`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field

from models.config import EvidenceConfig
from models.nightly import ensure_nights, load_resident
from models.pack import UnknownResidentError
from models.review import record_decision
from models.scheme import scheme_view
from models.service import render_pack
from telecare.settings import Settings

router = APIRouter(prefix="/reports", tags=["reports"])


async def current_user() -> str:
    """AUTH PLACEHOLDER - replaced by the API's authentication dependency; refuses everyone until then."""
    raise HTTPException(status_code=401, detail="authentication is not wired for reports yet")


async def connection(request: Request) -> AsyncIterator[asyncpg.Connection]:
    """A connection from the app's pool (`app.state.pool`), else a short-lived one from the settings."""
    pool: asyncpg.Pool | None = getattr(request.app.state, "pool", None)
    if pool is not None:
        async with pool.acquire() as pooled:
            # The pool hands out a proxy with the Connection interface.
            yield pooled  # type: ignore[misc]
        return
    settings: Settings = request.app.state.settings
    single = await asyncpg.connect(settings.database_url)
    try:
        yield single
    finally:
        await single.close()


def evidence_config(request: Request) -> EvidenceConfig:
    """The app's EvidenceConfig if it set one, else the defaults."""
    config: EvidenceConfig | None = getattr(request.app.state, "evidence_config", None)
    return config or EvidenceConfig()


User = Annotated[str, Depends(current_user)]
Connection = Annotated[asyncpg.Connection, Depends(connection)]
Config = Annotated[EvidenceConfig, Depends(evidence_config)]


@router.get("/residents/{resident_id}/nights")
async def nights(*, resident_id: str, user: User, db: Connection, config: Config,
                 first: Annotated[date, Query(alias="from")], last: Annotated[date, Query(alias="to")],
                 ) -> list[dict[str, Any]]:
    """Nightly summaries (computed and stored on demand)."""
    resident = await load_resident(connection=db, resident_id=resident_id)
    if resident is None:
        raise HTTPException(status_code=404, detail="no such resident")
    if (last - first).days > 400:
        raise HTTPException(status_code=422, detail="at most 400 nights at a time")
    return [n.as_row() for n in await ensure_nights(connection=db, resident=resident, first=first, last=last,
                                                    config=config)]


@router.get("/residents/{resident_id}/pack")
async def pack(*, resident_id: str, user: User, db: Connection, config: Config,
               first: Annotated[date, Query(alias="from")], last: Annotated[date, Query(alias="to")],
               fmt: Annotated[Literal["json", "csv", "html", "pdf"], Query(alias="format")] = "json",
               baseline_from: date | None = None, baseline_to: date | None = None) -> Response:
    """The evidence pack in the asked format."""
    if last < first or (last - first).days > 400:
        raise HTTPException(status_code=422, detail="the period must be 1 to 400 nights")
    baseline = (baseline_from, baseline_to) if baseline_from and baseline_to else None
    try:
        body, media, _ = await render_pack(connection=db, resident_id=resident_id, first=first, last=last,
                                           config=config, fmt=fmt, baseline=baseline)
    except UnknownResidentError as exc:
        raise HTTPException(status_code=404, detail="no such resident") from exc
    headers = {}
    if fmt in ("csv", "pdf"):
        headers["Content-Disposition"] = f'attachment; filename="evidence-{resident_id}-{first}-{last}.{fmt}"'
    return Response(content=body, media_type=media, headers=headers)


@router.get("/orgs/{org_id}/scheme")
async def scheme(*, org_id: str, user: User, db: Connection, config: Config,
                 last: Annotated[date, Query(alias="to")]) -> list[dict[str, Any]]:
    """Every resident of the provider: stable or needs review, and why."""
    return await scheme_view(connection=db, org_id=org_id, last=last, config=config)


class DecisionIn(BaseModel):
    """A review decision as submitted."""

    decision: Literal["reduce", "maintain", "reactivate"]
    criteria: str = Field(min_length=3, max_length=4000)
    reviewer: str = Field(min_length=1, max_length=200)
    decided_on: date
    follow_up_on: date
    support_from: Literal["waking_night", "sleep_in", "telecare_only"] | None = None
    support_to: Literal["waking_night", "sleep_in", "telecare_only"] | None = None


@router.post("/residents/{resident_id}/decisions", status_code=201)
async def decide(*, resident_id: str, body: DecisionIn, user: User, db: Connection) -> dict[str, int]:
    """Record a decision (reduce / maintain / reactivate) with its criteria and follow-up date."""
    if await load_resident(connection=db, resident_id=resident_id) is None:
        raise HTTPException(status_code=404, detail="no such resident")
    decision_id = await record_decision(
        connection=db, resident_id=resident_id, decided_on=body.decided_on, decision=body.decision,
        criteria=body.criteria, reviewer=body.reviewer, follow_up_on=body.follow_up_on, recorded_by=user,
        support_from=body.support_from, support_to=body.support_to)
    return {"decision_id": decision_id}
