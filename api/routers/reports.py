"""Care-review evidence: nightly summaries, evidence packs (JSON/CSV/HTML/PDF), the scheme view, decisions.

Scope is the rest of the API's: provider staff see their own organisation's residents, reviewers (social
workers) their assigned residents, operators the organisations their centre serves, administrators all.
A resident or organisation outside the caller's scope answers 404 exactly like one that does not exist,
and every read, write and refusal is audited.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, HTTPException, Path, Query, Request, Response, status
from pydantic import BaseModel, Field

from api import audit
from api.auth import Principal, Role
from api.deps import Connection, CurrentPrincipal, State, client_address, not_found, require_role
from api.queries import organisations as org_q
from api.responses import AUTHENTICATED, error_responses
from api.routers.residents import visible_resident
from api.schemas import ID_PATTERN, Day, InputModel, Line, Text
from models.change_store import SuggestionNotOpenError, list_suggestions, review_suggestion
from models.nightly import ensure_nights, load_resident
from models.pack import UnknownResidentError
from models.review import record_decision
from models.scheme import scheme_view
from models.service import render_pack

router = APIRouter(prefix="/api/reports", tags=["reports"], responses=AUTHENTICATED)

ResidentId = Annotated[str, Path(pattern=ID_PATTERN)]
OrgId = Annotated[str, Path(pattern=ID_PATTERN)]
# Night windows are built in the resident's zone; far-off dates overflow datetime arithmetic, and no
# service has data outside this range.
EARLIEST, LATEST = date(2000, 1, 1), date(2099, 12, 31)
MAX_NIGHTS = 400
# A chosen baseline may lie up to two years before the period (last year's review, say), no further.
MAX_BASELINE_LEAD_DAYS = 731
FIRST = Annotated[Day, Query(alias="from", description="first night (the evening's date), inclusive")]
LAST = Annotated[Day, Query(alias="to", description="last night (the evening's date), inclusive")]
# Organisation-wide views are for staff who serve the organisation; reviewers work from assigned residents.
SCHEME_READERS = {Role.OPERATOR, Role.PROVIDER, Role.ADMIN}
# A care-review decision is the reviewer's or the provider's to record; operators answer alarms.
DECIDERS = {Role.PROVIDER, Role.REVIEWER, Role.ADMIN}
SupportModel = Literal["waking_night", "sleep_in", "telecare_only"]


def _check_period(*, first: date, last: date, name: str = "period") -> None:
    if not (EARLIEST <= first <= last <= LATEST):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"the {name} must run forwards between {EARLIEST} and {LATEST}")
    if (last - first).days + 1 > MAX_NIGHTS:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"the {name} must be 1 to {MAX_NIGHTS} nights")


def _baseline(*, first: date, baseline_from: date | None, baseline_to: date | None) -> tuple[date, date] | None:
    if baseline_from is None and baseline_to is None:
        return None
    if baseline_from is None or baseline_to is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "give both baseline_from and baseline_to")
    _check_period(first=baseline_from, last=baseline_to, name="baseline")
    if baseline_to >= first or (first - baseline_from).days > MAX_BASELINE_LEAD_DAYS:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"the baseline must end before the period and start at most "
                            f"{MAX_BASELINE_LEAD_DAYS} days before it")
    return baseline_from, baseline_to


async def _refuse_role(*, connection: asyncpg.Connection, principal: Principal, allowed: set[Role],
                       request: Request, action: str, resource_type: str, resource_id: str) -> None:
    if principal.role not in allowed:
        await audit.record(connection=connection, principal=principal, action=action, resource_type=resource_type,
                           resource_id=resource_id, outcome="denied", client=client_address(request))
    require_role(principal=principal, allowed=allowed)


class NightOut(BaseModel):
    """One stored nightly summary; the features are null on a night with too little sensor coverage."""

    night_of: date
    status: Literal["ok", "unknown"]
    unknown_reason: str | None
    method: str = Field(description="bed_sensor, or pir (bedroom and hallway motion only)")
    coverage: float = Field(description="share of the night the sensors the method needs were online")
    sleep_onset: str | None
    wake: str | None
    time_in_bed_min: float | None
    bed_exits: int | None
    minutes_out_of_bed: float | None
    bathroom_visits: int | None
    door_exits: int | None
    minutes_out: float | None = Field(description="minutes out of the home at night")
    alerts_total: int
    alerts_by_type: dict[str, int]
    responses: int
    median_response_s: float | None
    attendances: int


@router.get("/residents/{resident_id}/nights", operation_id="listResidentNights", response_model=list[NightOut],
            responses=error_responses(404))
async def nights(*, resident_id: ResidentId, first: FIRST, last: LAST, principal: CurrentPrincipal,
                 connection: Connection, state: State, request: Request) -> list[dict[str, Any]]:
    """Nightly summaries for the resident (computed from events and stored the first time they are asked for)."""
    _check_period(first=first, last=last)
    row = await visible_resident(connection=connection, principal=principal, resident_id=resident_id,
                                 request=request, action="reports.nights")
    resident = await load_resident(connection=connection, resident_id=resident_id)
    if resident is None:  # removed between the two reads
        raise not_found("resident")
    summaries = await ensure_nights(connection=connection, resident=resident, first=first, last=last,
                                    config=state.evidence)
    await audit.record(connection=connection, principal=principal, action="reports.nights", resource_type="resident",
                       resource_id=resident_id, org_id=row["org_id"], resident_id=resident_id,
                       client=client_address(request), detail={"from": first, "to": last})
    return [summary.as_row() for summary in summaries]


@router.get("/residents/{resident_id}/pack", operation_id="getEvidencePack",
            response_class=Response, responses={200: {"content": {
                "application/json": {}, "text/csv": {}, "text/html": {}, "application/pdf": {}},
                "description": "The evidence pack in the asked format (docs/evidence.md)"}, **error_responses(404)})
async def pack(*, resident_id: ResidentId, first: FIRST, last: LAST, principal: CurrentPrincipal,
               connection: Connection, state: State, request: Request,
               fmt: Annotated[Literal["json", "csv", "html", "pdf"], Query(alias="format")] = "json",
               baseline_from: Day | None = None, baseline_to: Day | None = None) -> Response:
    """The evidence pack for a period, against the previous period and a baseline (default: the one before)."""
    _check_period(first=first, last=last)
    baseline = _baseline(first=first, baseline_from=baseline_from, baseline_to=baseline_to)
    row = await visible_resident(connection=connection, principal=principal, resident_id=resident_id,
                                 request=request, action="reports.pack")
    try:
        body, media, _ = await render_pack(connection=connection, resident_id=resident_id, first=first, last=last,
                                           config=state.evidence, fmt=fmt, baseline=baseline)
    except UnknownResidentError as exc:  # removed between the two reads
        raise not_found("resident") from exc
    await audit.record(connection=connection, principal=principal, action="reports.pack", resource_type="resident",
                       resource_id=resident_id, org_id=row["org_id"], resident_id=resident_id,
                       client=client_address(request),
                       detail={"from": first, "to": last, "format": fmt, "baseline": baseline})
    headers = {"Cache-Control": "no-store"}
    if fmt in ("csv", "pdf"):
        headers["Content-Disposition"] = f'attachment; filename="evidence-{resident_id}-{first}-{last}.{fmt}"'
    return Response(content=body, media_type=media, headers=headers)


class SchemeRow(BaseModel):
    """One resident of the scheme: stable or needs a review, and why (in words)."""

    resident_id: str
    display_name: str | None
    flat: str | None
    status: Literal["stable", "review"]
    reasons: list[str]
    nights_monitored: int
    pct_nights_any_alert: float | None
    pct_nights_intervention: float | None
    last_decision: str | None
    follow_up_on: str | None


@router.get("/organisations/{org_id}/scheme", operation_id="getSchemeView", response_model=list[SchemeRow],
            responses=error_responses(403, 404))
async def scheme(*, org_id: OrgId, last: LAST, principal: CurrentPrincipal, connection: Connection, state: State,
                 request: Request) -> list[dict[str, Any]]:
    """Every resident of the provider over the recent nights ending `to`: who is stable, who needs a review."""
    _check_period(first=last, last=last)
    await _refuse_role(connection=connection, principal=principal, allowed=SCHEME_READERS, request=request,
                       action="reports.scheme", resource_type="organisation", resource_id=org_id)
    if await connection.fetchrow(org_q.ONE, principal.org_scope, org_id) is None:
        await audit.record(connection=connection, principal=principal, action="reports.scheme",
                           resource_type="organisation", resource_id=org_id, outcome="denied",
                           client=client_address(request))
        raise not_found("organisation")
    rows = await scheme_view(connection=connection, org_id=org_id, last=last, config=state.evidence)
    await audit.record(connection=connection, principal=principal, action="reports.scheme",
                       resource_type="organisation", resource_id=org_id, org_id=org_id,
                       client=client_address(request),
                       detail={"to": last, "residents": len(rows),
                               "review": [r["resident_id"] for r in rows if r["status"] == "review"]})
    return rows


class DecisionIn(InputModel):
    """A review decision as submitted (unknown fields are refused)."""

    decision: Literal["reduce", "maintain", "reactivate"] = Field(
        description="Reduce the night support, keep it, or bring it back.", examples=["reduce"])
    criteria: Text = Field(min_length=3, max_length=4000, description="What the decision rests on, in words.",
                           examples=["no night-time falls or calls in 12 weeks; settles by 23:00"])
    reviewer: Line = Field(min_length=1, max_length=200, examples=["J. Okafor, social worker"])
    decided_on: Day = Field(examples=["2026-03-02"])
    follow_up_on: Day = Field(description="not before `decided_on`", examples=["2026-06-01"])
    support_from: SupportModel | None = Field(default=None, description="Night support before the decision.",
                                              examples=["waking_night"])
    support_to: SupportModel | None = Field(default=None, description="Night support after it.",
                                            examples=["sleep_in"])


class DecisionOut(BaseModel):
    """The recorded decision's id."""

    decision_id: int


@router.post("/residents/{resident_id}/decisions", operation_id="recordReviewDecision", response_model=DecisionOut,
             status_code=status.HTTP_201_CREATED, responses=error_responses(400, 403, 404))
async def decide(*, resident_id: ResidentId, body: DecisionIn, principal: CurrentPrincipal, connection: Connection,
                 request: Request) -> DecisionOut:
    """Record a decision (reduce / maintain / reactivate) with its criteria, reviewer and follow-up date."""
    if body.follow_up_on < body.decided_on:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "the follow-up must not be before the decision")
    await _refuse_role(connection=connection, principal=principal, allowed=DECIDERS, request=request,
                       action="reports.decide", resource_type="resident", resource_id=resident_id)
    row = await visible_resident(connection=connection, principal=principal, resident_id=resident_id,
                                 request=request, action="reports.decide")
    async with connection.transaction():
        decision_id = await record_decision(
            connection=connection, resident_id=resident_id, decided_on=body.decided_on, decision=body.decision,
            criteria=body.criteria, reviewer=body.reviewer, follow_up_on=body.follow_up_on,
            recorded_by=principal.user_id, support_from=body.support_from, support_to=body.support_to)
        await audit.record(connection=connection, principal=principal, action="reports.decide",
                           resource_type="resident", resource_id=resident_id, org_id=row["org_id"],
                           resident_id=resident_id, client=client_address(request),
                           detail={"decision_id": decision_id, **body.model_dump(mode="json")})
    return DecisionOut(decision_id=decision_id)



class SuggestionReviewIn(InputModel):
    """A reviewer's answer to a review suggestion."""

    decision: Literal["confirmed", "dismissed"]
    reviewer: Line = Field(min_length=1, max_length=200)
    note: Text | None = Field(default=None, max_length=4000)


@router.get("/residents/{resident_id}/suggestions", operation_id="listReviewSuggestions",
            responses=error_responses(404))
async def suggestions(*, resident_id: ResidentId, principal: CurrentPrincipal, connection: Connection,
                      request: Request) -> list[dict[str, Any]]:
    """The resident's review suggestions from change detection, open first, with any reviewer's answer."""
    row = await visible_resident(connection=connection, principal=principal, resident_id=resident_id,
                                 request=request, action="reports.suggestions")
    rows = await list_suggestions(connection=connection, resident_id=resident_id)
    await audit.record(connection=connection, principal=principal, action="reports.suggestions",
                       resource_type="resident", resource_id=resident_id, org_id=row["org_id"],
                       resident_id=resident_id, client=client_address(request), detail={"count": len(rows)})
    return [{k: (v.isoformat() if isinstance(v, date) else v) for k, v in r.items()} for r in rows]


@router.post("/residents/{resident_id}/suggestions/{suggestion_id}/review", operation_id="reviewSuggestion",
             status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(400, 403, 404, 409))
async def review(*, resident_id: ResidentId, suggestion_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
                 body: SuggestionReviewIn,
                 principal: CurrentPrincipal, connection: Connection, request: Request) -> Response:
    """Confirm or dismiss an open suggestion: a person's answer, stored and shown next time."""
    await _refuse_role(connection=connection, principal=principal, allowed=DECIDERS, request=request,
                       action="reports.review_suggestion", resource_type="resident", resource_id=resident_id)
    row = await visible_resident(connection=connection, principal=principal, resident_id=resident_id,
                                 request=request, action="reports.review_suggestion")
    owner = await connection.fetchval("SELECT resident_id FROM review_suggestions WHERE suggestion_id = $1",
                                      suggestion_id)
    if owner != resident_id:
        raise not_found("suggestion")
    async with connection.transaction():
        try:
            await review_suggestion(connection=connection, suggestion_id=suggestion_id, decision=body.decision,
                                    reviewer=body.reviewer, note=body.note)
        except SuggestionNotOpenError as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, "the suggestion has already been answered") from exc
        await audit.record(connection=connection, principal=principal, action="reports.review_suggestion",
                           resource_type="resident", resource_id=resident_id, org_id=row["org_id"],
                           resident_id=resident_id, client=client_address(request),
                           detail={"suggestion_id": suggestion_id, **body.model_dump(mode="json")})
    return Response(status_code=status.HTTP_204_NO_CONTENT)
