"""Token lifecycle from the command line: issue, list (never the secret), revoke, refused afterwards."""

from __future__ import annotations

import argparse
import json

import asyncpg
import httpx
import pytest

from telecare.cli import build_parser
from telecare.settings import Settings
from tests.api_helpers import ApiServer, api_server  # noqa: F401 - fixture
from tests.support import provision


async def test_revoked_token_is_refused_and_listing_never_shows_secrets(
    db: asyncpg.Connection, unique: str, api_server: ApiServer, capsys: pytest.CaptureFixture[str],  # noqa: F811
) -> None:
    org = f"org-{unique}"
    await provision(db=db, org_id=org, resident_id=f"res-{unique}", hub_id=f"hub-{unique}", devices=[])
    parser = build_parser()
    create = parser.parse_args(["token", "create", "--role", "operator", "--org", org, "--user", f"op-{unique}"])
    assert await create.handler(create, api_server.settings) == 0
    token = capsys.readouterr().out.strip()
    async with httpx.AsyncClient(base_url=api_server.base_url, headers={"Authorization": f"Bearer {token}"}) as http:
        assert (await http.get("/api/residents")).status_code == 200

        listing = parser.parse_args(["token", "list", "--user", f"op-{unique}"])
        assert await listing.handler(listing, api_server.settings) == 0
        listed = capsys.readouterr().out
        assert f"op-{unique}" in listed and token not in listed and '"revoked_at": null' in listed

        revoke = parser.parse_args(["token", "revoke", "--user", f"op-{unique}"])
        assert await revoke.handler(revoke, api_server.settings) == 0
        assert '"revoked": [' in capsys.readouterr().out
        refused = await http.get("/api/residents")
        assert refused.status_code == 401
        assert "Traceback" not in refused.text and "SELECT" not in refused.text


async def _run(parser: argparse.ArgumentParser, argv: list[str], settings: Settings) -> int:
    args = parser.parse_args(argv)
    code: int = await args.handler(args, settings)
    return code


async def test_token_create_never_changes_an_existing_user_and_user_update_says_and_audits(
    db: asyncpg.Connection, unique: str, settings: Settings, capsys: pytest.CaptureFixture[str],
) -> None:
    org, other = f"org-{unique}", f"oth-{unique}"
    await provision(db=db, org_id=org, resident_id=f"res-{unique}", hub_id=f"hub-{unique}", devices=[])
    await provision(db=db, org_id=other, resident_id=f"reo-{unique}", hub_id=f"hbo-{unique}", devices=[])
    parser, user = build_parser(), f"op-{unique}"
    assert await _run(parser, ["token", "create", "--role", "operator", "--org", org, "--user", user], settings) == 0
    capsys.readouterr()

    # Promotion to admin and an extra organisation are both refused, saying what to run instead.
    for attempt in (["--role", "admin"], ["--role", "operator", "--org", org, "--org", other]):
        argv = ["token", "create", *attempt, "--user", user]
        assert await _run(parser, argv, settings) == 2
        message = capsys.readouterr().err
        assert "already exists as operator of " + org in message and "telecare user update" in message
    scope = await db.fetchrow("SELECT u.role, array_agg(o.org_id) AS orgs FROM api_users u JOIN user_organisations o"
                              " USING (user_id) WHERE user_id = $1 GROUP BY u.role", user)
    assert (scope["role"], scope["orgs"]) == ("operator", [org])
    # Exactly the same access: a second token is fine (rotation).
    assert await _run(parser, ["token", "create", "--role", "operator", "--org", org, "--user", user], settings) == 0
    assert capsys.readouterr().out.startswith("tc_")

    # The separate command: a dry run says what would change and changes nothing...
    update = ["user", "update", "--user", user, "--org", org, "--org", other]
    assert await _run(parser, [*update, "--dry-run"], settings) == 0
    said = json.loads(capsys.readouterr().out)
    assert said["changes"] == {"org_ids": {"added": [other], "removed": []}} and said["applied"] is False
    assert await db.fetchval("SELECT count(*) FROM user_organisations WHERE user_id = $1", user) == 1
    # ...and the real one changes it and writes who did what to the audit log.
    assert await _run(parser, update, settings) == 0
    assert json.loads(capsys.readouterr().out)["applied"] is True
    assert await db.fetchval("SELECT count(*) FROM user_organisations WHERE user_id = $1", user) == 2
    audited = await db.fetchrow("SELECT user_id, action, detail FROM audit_log WHERE resource_id = $1"
                                " AND action = 'users.scope.change'", user)
    assert audited["user_id"].startswith("cli:")
    assert json.loads(audited["detail"])["changes"] == {"org_ids": {"added": [other], "removed": []}}
    # A change that breaks the role rules is refused with the reason.
    assert await _run(parser, ["user", "update", "--user", user, "--role", "reviewer"], settings) == 2
    assert "reviewers need --residents" in capsys.readouterr().err


async def test_no_token_lives_for_ever_by_accident(
    db: asyncpg.Connection, unique: str, settings: Settings, capsys: pytest.CaptureFixture[str],
) -> None:
    org = f"org-{unique}"
    await provision(db=db, org_id=org, resident_id=f"res-{unique}", hub_id=f"hub-{unique}", devices=[])
    parser = build_parser()
    for days in ("0", "-1", "36500"):
        with pytest.raises(SystemExit):
            parser.parse_args(["token", "create", "--role", "operator", "--org", org, "--expires-days", days])
        assert "none lives for ever" in capsys.readouterr().err
    assert await _run(parser, ["token", "create", "--role", "operator", "--org", org, "--user", f"d-{unique}"],
                      settings) == 0
    expires = await db.fetchval("SELECT expires_at - now() FROM api_tokens WHERE user_id = $1", f"d-{unique}")
    assert 89 <= expires.days <= 90
