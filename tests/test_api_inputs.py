"""Free text, unknown fields and the OpenAPI document: refused with a clear 422, nothing stored, all documented."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest

from tests.api_helpers import ApiServer, World, api_server, build_world, raise_alert  # noqa: F401 - fixture

CONTROLS = ("\x00", "\x1b[2J", "\x7f", "\x08")
DECISION = {"decision": "maintain", "criteria": "settled nights", "reviewer": "SW Patel", "decided_on": "2026-03-02",
            "follow_up_on": "2026-06-01"}


def _cases(world: World, alert_id: int) -> list[tuple[str, str, str, dict[str, Any], str]]:
    """(method, path, field, body with the field to poison, who may call it) for every free-text field."""
    resident = world.resident_a
    alert, people = f"/api/alerts/{alert_id}", f"/api/residents/{resident}"
    return [
        ("POST", f"{alert}/actions", "note", {"action": "note", "note": ""}, "operator_a"),
        ("POST", f"{alert}/close", "note", {"outcome": "reassured", "note": ""}, "operator_a"),
        ("POST", f"{alert}/reopen", "reason", {"reason": ""}, "operator_a"),
        ("POST", f"{people}/away", "reason", {"starts_at": "2026-03-01T10:00:00Z", "reason": ""}, "operator_a"),
        ("POST", f"{people}/contacts", "name", {"name": "", "phone": "+44 7700 900123"}, "provider_a"),
        ("POST", f"{people}/contacts", "relationship", {"name": "Sam", "phone": "+44 7700 900123",
                                                         "relationship": ""}, "provider_a"),
        ("PUT", f"{people}/protocol", "protocol", {"protocol": ""}, "provider_a"),
        ("PUT", f"{people}/protocol", "access_notes", {"access_notes": ""}, "provider_a"),
        ("PUT", f"{people}/protocol", "medical_notes", {"medical_notes": ""}, "provider_a"),
        ("POST", f"/api/reports/residents/{resident}/decisions", "criteria", dict(DECISION), "provider_a"),
        ("POST", f"/api/reports/residents/{resident}/decisions", "reviewer", dict(DECISION), "provider_a"),
    ]


async def _stored(db: asyncpg.Connection, world: World, alert_id: int) -> tuple[int, ...]:
    """Everything the poisoned requests could have written."""
    row = await db.fetchrow(
        "SELECT (SELECT count(*) FROM alert_history WHERE alert_id = $1) AS history,"
        " (SELECT count(*) FROM rule_suppressions WHERE resident_id = $2) AS away,"
        " (SELECT count(*) FROM resident_contacts WHERE resident_id = $2) AS contacts,"
        " (SELECT count(*) FROM resident_protocols WHERE resident_id = $2) AS protocols,"
        " (SELECT count(*) FROM review_decisions WHERE resident_id = $2) AS decisions",
        alert_id, world.resident_a)
    return tuple(row.values())


async def test_control_characters_in_any_free_text_field_are_refused_and_nothing_is_stored(
    db: asyncpg.Connection, unique: str, api_server: ApiServer,  # noqa: F811
) -> None:
    world = await build_world(db=db, unique=unique)
    alert_id = await raise_alert(db=db, org_id=world.org_a, resident_id=world.resident_a)
    before = await _stored(db, world, alert_id)
    async with httpx.AsyncClient(base_url=api_server.base_url, timeout=10) as http:
        for method, path, name, body, who in _cases(world, alert_id):
            for control in CONTROLS:
                poisoned = {**body, name: f"called at 03:10{control}ok"}
                response = await http.request(method, path, json=poisoned, headers=world.headers(who))
                assert response.status_code == 422, (path, name, repr(control), response.status_code)
                problem = response.json()["detail"][0]
                assert problem["loc"][-1] == name and "control characters" in problem["msg"], problem
        assert await _stored(db, world, alert_id) == before
        # Line breaks and tabs are ordinary in a note and a protocol, and are kept.
        protocol = "1. Call Sam.\n2. If no answer:\tsend a responder."
        kept = await http.put(f"/api/residents/{world.resident_a}/protocol", json={"protocol": protocol},
                              headers=world.headers("provider_a"))
        assert kept.status_code == 200 and kept.json()["protocol"] == protocol


@pytest.mark.parametrize("extra", [{"unexpected": "field"}, {"recorded_by": "someone-else"}])
async def test_review_decisions_with_unknown_fields_are_refused(
    db: asyncpg.Connection, unique: str, api_server: ApiServer, extra: dict[str, str],  # noqa: F811
) -> None:
    world = await build_world(db=db, unique=unique)
    async with httpx.AsyncClient(base_url=api_server.base_url, timeout=10) as http:
        refused = await http.post(f"/api/reports/residents/{world.resident_a}/decisions", json=DECISION | extra,
                                  headers=world.headers("provider_a"))
        assert refused.status_code == 422 and refused.json()["detail"][0]["type"] == "extra_forbidden"
        assert await db.fetchval("SELECT count(*) FROM review_decisions WHERE resident_id = $1",
                                 world.resident_a) == 0


async def test_openapi_documents_every_status_each_operation_answers(api_server: ApiServer) -> None:  # noqa: F811
    async with httpx.AsyncClient(base_url=api_server.base_url, timeout=10) as http:
        spec = (await http.get("/openapi.json")).json()
    operations = {op["operationId"]: (path, op) for path, item in spec["paths"].items()
                  for op in item.values()}
    for operation_id, (path, operation) in operations.items():
        statuses = set(operation["responses"])
        if path.startswith("/api/"):
            assert {"401", "422", "429"} <= statuses, (operation_id, statuses)
            assert "429" in statuses and "Retry-After" in operation["responses"]["429"]["headers"]
        if "{" in path:
            assert "404" in statuses, (operation_id, statuses)
        if "requestBody" in operation:
            assert "400" in statuses, (operation_id, statuses)
    role_bound = ("claimAlert", "closeAlert", "createAwayPeriod", "addResidentContact", "setResidentProtocol",
                  "getKpis", "listUsers", "listAuditLog", "getSchemeView", "recordReviewDecision",
                  "listOrganisations")
    assert all("403" in operations[op][1]["responses"] for op in role_bound)
    lifecycle = ("claimAlert", "releaseAlert", "acknowledgeAlert", "recordAlertAction", "closeAlert", "reopenAlert")
    assert all("409" in operations[op][1]["responses"] for op in lifecycle)
    # Free-text fields carry their rule in the document too, so generated clients and fuzzers know it.
    schemas = spec["components"]["schemas"]
    assert "\\u0000" in schemas["ActionIn"]["properties"]["note"]["pattern"]
    assert schemas["DecisionIn"].get("additionalProperties") is False


async def test_what_the_merged_endpoints_found_under_fuzzing_is_answered_cleanly(
    db: asyncpg.Connection, unique: str, api_server: ApiServer,  # noqa: F811
) -> None:
    """Schemathesis on the merged API: a wrong method names every method of the path; a care-plan time
    with seconds is refused (it came back as "23:08:20.889000"); a huge suggestion id is a 422, not a 500."""
    world = await build_world(db=db, unique=unique)
    async with httpx.AsyncClient(base_url=api_server.base_url, headers=world.headers("admin"), timeout=10) as http:
        wrong_method = await http.post(f"/api/residents/{world.resident_a}/care-plan", json={})
        assert wrong_method.status_code == 405
        assert {part.strip() for part in wrong_method.headers["allow"].split(",")} == {"GET", "PUT"}
        with_seconds = await http.put(f"/api/residents/{world.resident_a}/care-plan",
                                      json={"in_bed_by": "23:08:20.889"})
        assert with_seconds.status_code == 422, with_seconds.text
        whole_minutes = await http.put(f"/api/residents/{world.resident_a}/care-plan", json={"in_bed_by": "23:30"})
        assert whole_minutes.status_code == 200, whole_minutes.text
        assert whole_minutes.json()["plan"]["in_bed_by"].startswith("23:30")
        huge = await http.post(f"/api/reports/residents/{world.resident_a}/suggestions/{2**65}/review",
                               json={"decision": "dismissed", "reviewer": "SW Jones"})
        assert huge.status_code == 422, huge.text
