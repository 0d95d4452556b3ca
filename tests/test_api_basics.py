"""Front-door behaviour: headers, sign-in limits, errors that leak nothing, the audit log, the token CLI."""

from __future__ import annotations

import asyncpg
import httpx
import pytest

from api.cli import register
from rules.lifecycle import acknowledge
from telecare.cli import build_parser
from tests.api_helpers import ApiServer, api_server, build_world, client, raise_alert, start_api  # noqa: F401 - fixture


async def test_security_headers_and_strict_cors(db: asyncpg.Connection, unique: str,
                                                api_server: ApiServer) -> None:  # noqa: F811
    world = await build_world(db=db, unique=unique)
    async with httpx.AsyncClient(base_url=api_server.base_url, headers=world.headers("operator_a")) as http:
        response = await http.get("/api/alerts")
        assert "default-src 'self'" in response.headers["content-security-policy"]
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["cache-control"] == "no-store"
        assert "server" not in response.headers
        preflight = await http.options("/api/alerts", headers={"Origin": "https://evil.example",
                                                               "Access-Control-Request-Method": "GET"})
        assert "access-control-allow-origin" not in preflight.headers
        console = await http.get("/console/")
        assert console.status_code == 200 and "script-src 'self'" in console.headers["content-security-policy"]


async def test_errors_leak_no_internals(db: asyncpg.Connection, unique: str,
                                        api_server: ApiServer) -> None:  # noqa: F811
    world = await build_world(db=db, unique=unique)
    async with httpx.AsyncClient(base_url=api_server.base_url, headers=world.headers("operator_a")) as http:
        bad = await http.post("/api/alerts/1/close", json={"outcome": "<script>alert(1)</script>", "extra": 1})
        assert bad.status_code == 422
        assert "<script>" not in bad.text and "input" not in bad.json()["detail"][0]
        huge = await http.get("/api/alerts/99999999999999999999999")
        assert huge.status_code == 422
        # A transition that is not allowed is a plain 409, without the database's words.
        alert = await db.fetchval(
            "INSERT INTO alerts (run, org_id, resident_id, subject_key, condition, priority, base_priority, raised_at,"
            " detected_at, last_event_at, status, closed_at, outcome) VALUES ('live', $1, $2, $2, 'fall', 2, 2, now(),"
            " now(), now(), 'closed', now(), 'test') RETURNING alert_id", world.org_a, world.resident_a)
        conflict = await http.post(f"/api/alerts/{alert}/acknowledge")
        assert conflict.status_code == 409 and "alerts_" not in conflict.text


async def test_audit_log_is_append_only(db: asyncpg.Connection, unique: str,
                                        api_server: ApiServer) -> None:  # noqa: F811
    world = await build_world(db=db, unique=unique)
    async with httpx.AsyncClient(base_url=api_server.base_url, headers=world.headers("provider_a")) as http:
        assert (await http.get(f"/api/residents/{world.resident_a}")).status_code == 200
    async with httpx.AsyncClient(base_url=api_server.base_url, headers=world.headers("admin")) as http:
        entries = (await http.get("/api/audit", params={"resident_id": world.resident_a})).json()
    assert [(e["user_id"], e["action"]) for e in entries] == [(f"pra-{unique}", "residents.get")]
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await db.execute("UPDATE audit_log SET user_id = 'nobody' WHERE resident_id = $1", world.resident_a)
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await db.execute("DELETE FROM audit_log WHERE resident_id = $1", world.resident_a)


async def test_token_create_cli_issues_a_working_hashed_token(
    db: asyncpg.Connection, unique: str, api_server: ApiServer,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    world = await build_world(db=db, unique=unique)
    parser = build_parser()
    args = parser.parse_args(["token", "create", "--role", "reviewer", "--org", world.org_a,
                              "--user", f"sw-{unique}", "--residents", world.resident_a])
    assert await args.handler(args, api_server.settings) == 0
    token = capsys.readouterr().out.strip()
    assert token.startswith("tc_") and len(token) > 40
    assert not await db.fetchval("SELECT count(*) FROM api_tokens WHERE token_hash::text LIKE $1", f"%{token}%")
    async with httpx.AsyncClient(base_url=api_server.base_url,
                                 headers={"Authorization": f"Bearer {token}"}) as http:
        me = (await http.get("/api/users/me")).json()
    assert (me["role"], me["resident_ids"]) == ("reviewer", [world.resident_a])
    bad = parser.parse_args(["token", "create", "--role", "provider", "--org", f"nope-{unique}"])
    assert await bad.handler(bad, api_server.settings) == 2
    assert callable(register)


async def test_kpis_count_only_the_callers_organisations(db: asyncpg.Connection, unique: str,
                                                         api_server: ApiServer) -> None:  # noqa: F811
    world = await build_world(db=db, unique=unique)
    first = await raise_alert(db=db, org_id=world.org_a, resident_id=world.resident_a, condition="fall")
    await raise_alert(db=db, org_id=world.org_a, resident_id=world.resident_a, condition="smoke")
    await raise_alert(db=db, org_id=world.org_b, resident_id=world.resident_b, condition="flood")
    await acknowledge(connection=db, alert_id=first, user_id=f"opa-{unique}")
    async with client(api_server, world, "operator_a") as http:
        mine = (await http.get("/api/kpis")).json()
        assert mine["alerts"] == 2 and mine["acknowledged"] == 1 and mine["ack_within_60s"] == 0.5
        assert (await http.get(f"/api/kpis?org_id={world.org_b}")).status_code == 404
    async with client(api_server, world, "operator_b") as http:
        theirs = (await http.get("/api/kpis")).json()
        assert theirs["alerts"] == 1 and theirs["acknowledged"] == 0 and theirs["ack_within_60s"] == 0.0
    async with client(api_server, world, "admin") as http:
        assert (await http.get(f"/api/kpis?org_id={world.org_a}")).json()["alerts"] == 2
