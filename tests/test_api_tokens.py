"""Token lifecycle from the command line: issue, list (never the secret), revoke, refused afterwards."""

from __future__ import annotations

import asyncpg
import httpx
import pytest

from telecare.cli import build_parser
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
