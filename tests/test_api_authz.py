"""Authorisation matrix: every role against every endpoint, on its own organisation's data and another's."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest

from api.main import ApiOptions
from rules import lifecycle
from telecare.settings import Settings
from tests.api_helpers import ApiServer, World, build_world, raise_alert, start_api

ROLES = ["operator_a", "provider_a", "reviewer_a", "admin", "anonymous"]
ALL = {"operator_a", "provider_a", "reviewer_a", "admin"}
HANDLERS = {"operator_a", "admin"}
EDITORS = {"provider_a", "admin"}
AWAY = {"operator_a", "provider_a", "admin"}
NOT_REVIEWER = {"operator_a", "provider_a", "admin"}
PUBLIC = {"getHealth", "getReadiness", "getMetrics"}
DECIDERS = {"provider_a", "reviewer_a", "admin"}
NIGHTS = "from=2026-02-01&to=2026-02-07"


@dataclass(frozen=True, slots=True)
class Cell:
    """One endpoint: how to call it, who may, and whether it names a row (404 outside scope) or lists."""

    method: str
    path: str
    allowed: set[str]
    kind: str  # "row": names one row; "list": filtered list; "global": no organisation in it
    body: dict[str, Any] | None = None
    alert_state: str | None = None
    # The call needs an open review suggestion of the resident (path placeholder `{suggestion}`).
    open_suggestion: bool = False


def cells(world: World, variant: str) -> dict[str, Cell]:
    """The matrix rows for one variant: 'own' (organisation A) or 'other' (organisation B)."""
    own = variant == "own"
    org = world.org_a if own else world.org_b
    resident = world.resident_a if own else world.resident_b
    hub = world.hub_a if own else world.hub_b
    alert = "{alert}"
    return {
        "listAlerts": Cell("GET", f"/api/alerts?status=all&org_id={org}", ALL, "list"),
        "getAlert": Cell("GET", f"/api/alerts/{alert}", ALL, "row", alert_state="raised"),
        "claimAlert": Cell("POST", f"/api/alerts/{alert}/claim", HANDLERS, "row", alert_state="raised"),
        "releaseAlert": Cell("POST", f"/api/alerts/{alert}/release", HANDLERS, "row", alert_state="claimed"),
        "acknowledgeAlert": Cell("POST", f"/api/alerts/{alert}/acknowledge", HANDLERS, "row", alert_state="raised"),
        "recordAlertAction": Cell("POST", f"/api/alerts/{alert}/actions", HANDLERS, "row",
                                  body={"action": "called_resident"}, alert_state="acknowledged"),
        "closeAlert": Cell("POST", f"/api/alerts/{alert}/close", HANDLERS, "row", body={"outcome": "test"},
                           alert_state="raised"),
        "reopenAlert": Cell("POST", f"/api/alerts/{alert}/reopen", HANDLERS, "row", body={"reason": "closed in error"},
                            alert_state="closed"),
        "streamAlerts": Cell("GET", "/api/alerts/stream", ALL, "global"),
        "listResidents": Cell("GET", f"/api/residents?org_id={org}", ALL, "list"),
        "getResident": Cell("GET", f"/api/residents/{resident}", ALL, "row"),
        "createAwayPeriod": Cell("POST", f"/api/residents/{resident}/away", AWAY, "row",
                                 body={"starts_at": "2026-03-01T10:00:00Z", "ends_at": "2026-03-02T10:00:00Z"}),
        "addResidentContact": Cell("POST", f"/api/residents/{resident}/contacts", EDITORS, "row",
                                   body={"name": "Sam", "phone": "+44 7700 900001"}),
        "setResidentProtocol": Cell("PUT", f"/api/residents/{resident}/protocol", EDITORS, "row",
                                    body={"protocol": "Call first"}),
        "getCarePlan": Cell("GET", f"/api/residents/{resident}/care-plan", ALL, "row"),
        "setCarePlan": Cell("PUT", f"/api/residents/{resident}/care-plan", EDITORS, "row", body={"in_bed_by": "23:30"}),
        "getLearntHabits": Cell("GET", f"/api/residents/{resident}/habits", ALL, "row"),
        "listResidentEvents": Cell("GET", f"/api/residents/{resident}/events", ALL, "row"),
        "getResidentHistory": Cell("GET", f"/api/residents/{resident}/history", ALL, "row"),
        "getPriorityTable": Cell("GET", f"/api/organisations/{org}/priorities", NOT_REVIEWER, "row"),
        "setPriority": Cell("PUT", f"/api/organisations/{org}/priorities/flood", {"admin"}, "row",
                            body={"priority": 3, "repeat_bump": 1, "escalate_after_s": 120}),
        "resetPriority": Cell("DELETE", f"/api/organisations/{org}/priorities/flood", {"admin"}, "row"),
        "listDevices": Cell("GET", f"/api/devices?org_id={org}", ALL, "list"),
        "getDevice": Cell("GET", f"/api/devices/{hub}:pendant", ALL, "row"),
        "listOrganisations": Cell("GET", "/api/organisations", NOT_REVIEWER, "list"),
        "getOrganisation": Cell("GET", f"/api/organisations/{org}", NOT_REVIEWER, "row"),
        "getCurrentUser": Cell("GET", "/api/users/me", ALL, "global"),
        "listUsers": Cell("GET", f"/api/users?org_id={org}", {"admin"}, "list"),
        "getKpis": Cell("GET", f"/api/kpis?org_id={org}", NOT_REVIEWER, "row"),
        "listAuditLog": Cell("GET", f"/api/audit?resident_id={resident}", {"admin"}, "list"),
        "listResidentNights": Cell("GET", f"/api/reports/residents/{resident}/nights?{NIGHTS}", ALL, "row"),
        "getEvidencePack": Cell("GET", f"/api/reports/residents/{resident}/pack?{NIGHTS}&format=csv", ALL, "row"),
        "getSchemeView": Cell("GET", f"/api/reports/organisations/{org}/scheme?to=2026-02-07", NOT_REVIEWER, "row"),
        "recordReviewDecision": Cell("POST", f"/api/reports/residents/{resident}/decisions", DECIDERS, "row",
                                     body={"decision": "maintain", "criteria": "two door exits a week",
                                           "reviewer": "SW Jones", "decided_on": "2026-02-08",
                                           "follow_up_on": "2026-05-08"}),
        "listReviewSuggestions": Cell("GET", f"/api/reports/residents/{resident}/suggestions", ALL, "row"),
        "reviewSuggestion": Cell("POST", f"/api/reports/residents/{resident}/suggestions/{{suggestion}}/review",
                                 DECIDERS, "row", body={"decision": "dismissed", "reviewer": "SW Jones"},
                                 open_suggestion=True),
        "getHealth": Cell("GET", "/healthz", ALL | {"anonymous"}, "global"),
        "getReadiness": Cell("GET", "/readyz", ALL | {"anonymous"}, "global"),
        "getMetrics": Cell("GET", "/metrics", ALL | {"anonymous"}, "global"),
    }


@pytest.fixture
async def matrix_server(settings: Settings) -> AsyncIterator[ApiServer]:
    """The API with a sign-in limiter loose enough for dozens of deliberate anonymous calls."""
    server, stop, task = await start_api(settings=settings, options=ApiOptions(max_failed_sign_ins=10_000))
    yield server
    stop.set()
    await asyncio.wait_for(task, timeout=15)


async def _alert_in_state(*, db: asyncpg.Connection, org: str, resident: str, state: str, n: int) -> int:
    # A condition of its own per cell: one active alert per resident and condition.
    alert_id = await raise_alert(db=db, org_id=org, resident_id=resident, condition=f"cell_{n}")
    if state in ("claimed", "acknowledged", "closed"):
        await lifecycle.claim(connection=db, alert_id=alert_id, user_id="setup")
    if state in ("acknowledged", "closed"):
        await lifecycle.acknowledge(connection=db, alert_id=alert_id, user_id="setup")
    if state == "closed":
        await lifecycle.close(connection=db, alert_id=alert_id, user_id="setup", outcome=lifecycle.Outcome.TEST)
    return alert_id


async def _open_suggestion(*, db: asyncpg.Connection, org: str, resident: str) -> int:
    # One open suggestion per resident: reuse the one a refused call left open.
    existing = await db.fetchval("SELECT suggestion_id FROM review_suggestions WHERE resident_id = $1"
                                 " AND status = 'open'", resident)
    if existing is not None:
        return int(existing)
    model_id = await db.fetchval(
        "INSERT INTO change_models (resident_id, detector, version, train_first, train_last, days_used, status,"
        " params) VALUES ($1, 'robust_covariance', COALESCE((SELECT max(version) FROM change_models"
        " WHERE resident_id = $1), 0) + 1, '2026-01-01', '2026-01-28', 28, 'ready', '{}') RETURNING model_id",
        resident)
    return int(await db.fetchval(
        "INSERT INTO review_suggestions (resident_id, org_id, model_id, detector, first_day, last_day, since, score,"
        " threshold, explanation, changes) VALUES ($1, $2, $3, 'robust_covariance', '2026-02-01', '2026-02-03',"
        " '2026-02-01', 9.5, 4.0, 'bedtime: 81 min later than usual', '{}') RETURNING suggestion_id",
        resident, org, model_id))


def _expected(*, cell: Cell, role: str, variant: str) -> int:
    if role == "anonymous" and role not in cell.allowed:
        return 401
    if role not in cell.allowed:
        return 403
    if variant == "other" and cell.kind == "row" and role != "admin" and cell.path not in PUBLIC:
        return 404
    if cell.open_suggestion:
        return 204
    return 201 if cell.method == "POST" and "/alerts/" not in cell.path else 200


async def _call(*, http: httpx.AsyncClient, cell: Cell, path: str, headers: dict[str, str]) -> httpx.Response:
    if cell.path == "/api/alerts/stream":
        async with http.stream("GET", path, headers=headers) as response:
            if response.status_code != 200:
                return httpx.Response(response.status_code, content=await response.aread())
            async for chunk in response.aiter_bytes():
                return httpx.Response(200, content=chunk)
            return httpx.Response(200)
    return await http.request(cell.method, path, headers=headers, json=cell.body)


async def test_every_role_against_every_endpoint(db: asyncpg.Connection, unique: str,
                                                 matrix_server: ApiServer) -> None:
    world = await build_world(db=db, unique=unique)
    # Organisation B has an open alert and a contact: data that must never show up for A's users.
    await raise_alert(db=db, org_id=world.org_b, resident_id=world.resident_b, condition="smoke")
    await db.execute("INSERT INTO resident_contacts (resident_id, name, phone) VALUES ($1, 'Secret Contact B', '0')",
                     world.resident_b)
    async with httpx.AsyncClient(base_url=matrix_server.base_url, timeout=10) as http:
        spec = (await http.get("/openapi.json")).json()
        documented = {op["operationId"] for item in spec["paths"].values() for op in item.values()}
        assert documented == set(cells(world, "own")), "the matrix must cover every documented endpoint"
        failures: list[str] = []
        checked = 0
        for variant in ("own", "other"):
            org = world.org_a if variant == "own" else world.org_b
            resident = world.resident_a if variant == "own" else world.resident_b
            for operation, cell in cells(world, variant).items():
                for role in ROLES:
                    path = cell.path
                    if cell.alert_state:
                        alert_id = await _alert_in_state(db=db, org=org, resident=resident, state=cell.alert_state,
                                                         n=checked)
                        path = path.replace("{alert}", str(alert_id))
                    if cell.open_suggestion:
                        suggestion_id = await _open_suggestion(db=db, org=org, resident=resident)
                        path = path.replace("{suggestion}", str(suggestion_id))
                    headers = world.headers(role) if role != "anonymous" else {}
                    response = await _call(http=http, cell=cell, path=path, headers=headers)
                    expected = _expected(cell=cell, role=role, variant=variant)
                    checked += 1
                    if response.status_code != expected:
                        failures.append(f"{operation} {variant} {role}: {response.status_code} != {expected}")
                        continue
                    text = response.text
                    if role not in ("admin",) and cell.path != "/api/alerts/stream":
                        # Nothing of organisation B may appear in what A's users are told.
                        for secret in (world.resident_b, world.hub_b, "Secret Contact B"):
                            if secret in text and not (variant == "other" and response.status_code == 404
                                                       and secret in path):
                                failures.append(f"{operation} {variant} {role}: leaks {secret}")
                    if expected in (401, 403, 404):
                        body = response.json()
                        assert set(body) == {"detail"} and isinstance(body["detail"], str), text
                        if expected == 404:
                            # Indistinguishable from a row that does not exist at all.
                            ghost = await _call(http=http, cell=cell, headers=headers,
                                                path=_ghost_path(path=path, world=world))
                            if (ghost.status_code, ghost.text) != (404, text.replace(world.resident_b, "x")
                                                                   .replace(world.hub_b, "x")):
                                failures.append(f"{operation} {role}: 404 differs from a missing row: {ghost.text}")
        assert not failures, "\n".join(failures)
        assert checked == len(cells(world, "own")) * len(ROLES) * 2


def _ghost_path(*, path: str, world: World) -> str:
    """The same call on an id that exists nowhere."""
    ghost = path.replace(world.resident_b, "nobody-here").replace(world.hub_b, "nohub").replace(world.org_b, "noorg")
    parts = ghost.split("/")
    return "/".join("999999999" if part.isdigit() else part for part in parts)


async def test_reviewer_sees_only_assigned_residents(db: asyncpg.Connection, unique: str,
                                                     matrix_server: ApiServer) -> None:
    world = await build_world(db=db, unique=unique)
    other_resident = f"ra2-{unique}"
    await db.execute("INSERT INTO residents (resident_id, org_id, display_name) VALUES ($1, $2, 'Unassigned')",
                     other_resident, world.org_a)
    hidden = await raise_alert(db=db, org_id=world.org_a, resident_id=other_resident, condition="fall")
    visible = await raise_alert(db=db, org_id=world.org_a, resident_id=world.resident_a, condition="fall")
    hub_alert = await raise_alert(db=db, org_id=world.org_a, resident_id=None, hub_id=world.hub_a,
                                  condition="hub_offline")
    async with httpx.AsyncClient(base_url=matrix_server.base_url, headers=world.headers("reviewer_a")) as http:
        queue = (await http.get("/api/alerts")).json()["alerts"]
        assert [a["alert_id"] for a in queue] == [visible]
        assert (await http.get(f"/api/alerts/{hidden}")).status_code == 404
        assert (await http.get(f"/api/alerts/{hub_alert}")).status_code == 404
        assert (await http.get(f"/api/residents/{other_resident}")).status_code == 404
        residents = (await http.get("/api/residents")).json()
        assert [r["resident_id"] for r in residents] == [world.resident_a]
    denied = await db.fetchval("SELECT count(*) FROM audit_log WHERE user_id = $1 AND outcome = 'denied'",
                               f"rva-{unique}")
    assert denied == 3, "refused look-ups at other residents are audited"
    detail = await db.fetchval("SELECT detail FROM audit_log WHERE user_id = $1 ORDER BY audit_id LIMIT 1",
                               f"rva-{unique}")
    assert json.loads(detail)["count"] == 1
