"""Who can stop whom: failed sign-ins never lock out a valid operator; revoked or expired tokens lose their stream."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import asyncpg
import httpx

from api.access_admin import change_user_scope, cli_actor
from tests.api_helpers import ApiServer, World, api_server, build_world, raise_alert  # noqa: F401 - fixture
from tests.support import wait_until


@dataclass
class _Stream:
    """What one console's live stream received, and when the server closed it."""

    alert_ids: list[int] = field(default_factory=list)
    ended_reason: str | None = None
    closed_at: float | None = None
    opened: asyncio.Event = field(default_factory=asyncio.Event)


async def _follow(*, base_url: str, token: str, into: _Stream, local_address: str = "127.0.0.1") -> None:
    """Read the live stream until the server closes it."""
    transport = httpx.AsyncHTTPTransport(local_address=local_address)
    async with httpx.AsyncClient(base_url=base_url, timeout=None, transport=transport) as http, http.stream(
            "GET", "/api/alerts/stream", headers={"Authorization": f"Bearer {token}"}) as response:
        assert response.status_code == 200, response.status_code
        into.opened.set()
        event = ""
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                body = json.loads(line[6:])
                if event == "end":
                    into.ended_reason = body["reason"]
                else:
                    into.alert_ids.append(body["alert"]["alert_id"])
    into.closed_at = time.monotonic()


def _received(alert_id: int, *streams: _Stream) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return all(alert_id in stream.alert_ids for stream in streams)
    return check


async def _get(*, base_url: str, path: str, token: str | None, local_address: str = "127.0.0.1") -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    transport = httpx.AsyncHTTPTransport(local_address=local_address)
    async with httpx.AsyncClient(base_url=base_url, timeout=10, transport=transport) as http:
        return await http.get(path, headers=headers)


async def test_an_operator_is_never_rate_limited_by_others_failures(
    db: asyncpg.Connection, unique: str, api_server: ApiServer,  # noqa: F811
) -> None:
    world = await build_world(db=db, unique=unique)
    base, operator = api_server.base_url, world.tokens["operator_a"]
    stream = _Stream()
    follower = asyncio.create_task(_follow(base_url=base, token=operator, into=stream))
    await asyncio.wait_for(stream.opened.wait(), timeout=10)
    # A neighbour behind the same address (a reverse proxy: every console shares it) fails again and again,
    # with no token and with guessed ones; the operator keeps working between the attempts.
    attacker: list[int] = []
    operator_statuses: list[int] = []
    for attempt in range(30):
        token = None if attempt % 2 else f"tc_guess-{unique}-{attempt}"
        attacker.append((await _get(base_url=base, path="/api/alerts", token=token)).status_code)
        operator_statuses.append((await _get(base_url=base, path="/api/alerts", token=operator)).status_code)
    assert attacker[:10] == [401] * 10 and set(attacker[10:]) == {429}, attacker
    assert operator_statuses == [200] * 30
    # A new live stream opens for the operator from the limited address, and alarms reach both streams.
    second = _Stream()
    second_follower = asyncio.create_task(_follow(base_url=base, token=operator, into=second))
    await asyncio.wait_for(second.opened.wait(), timeout=10)
    alert_id = await raise_alert(db=db, org_id=world.org_a, resident_id=world.resident_a)
    await wait_until(_received(alert_id, stream, second), timeout_s=5, what="the alarm on both streams")
    follower.cancel()
    second_follower.cancel()


async def test_one_wrong_token_from_many_addresses_is_limited_per_credential(
    db: asyncpg.Connection, unique: str, api_server: ApiServer,  # noqa: F811
) -> None:
    world = await build_world(db=db, unique=unique)
    base, guess = api_server.base_url, f"tc_stolen-looking-{unique}"
    # Each address fails only once, so no address is limited; the credential is, after ten failures.
    statuses = [(await _get(base_url=base, path="/api/users/me", token=guess,
                            local_address=f"127.0.1.{n}")).status_code for n in range(1, 13)]
    assert statuses[:10] == [401] * 10 and statuses[10:] == [429, 429], statuses
    refused = await _get(base_url=base, path="/api/users/me", token=guess, local_address="127.0.1.99")
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    # Another token from a fresh address is judged on its own; a valid one is served everywhere.
    assert (await _get(base_url=base, path="/api/users/me", token=f"tc_other-{unique}",
                       local_address="127.0.1.100")).status_code == 401
    assert (await _get(base_url=base, path="/api/users/me", token=world.tokens["admin"],
                       local_address="127.0.1.1")).status_code == 200


async def _token_id(db: asyncpg.Connection, user_id: str) -> int:
    token_id: int = await db.fetchval("SELECT max(token_id) FROM api_tokens WHERE user_id = $1", user_id)
    return token_id


async def test_revoked_or_expired_token_loses_its_open_stream_within_seconds(
    db: asyncpg.Connection, unique: str, api_server: ApiServer,  # noqa: F811
) -> None:
    world: World = await build_world(db=db, unique=unique)
    base = api_server.base_url
    revoked, expiring, moved = _Stream(), _Stream(), _Stream()
    followers = [asyncio.create_task(_follow(base_url=base, token=world.tokens["operator_a"], into=revoked)),
                 asyncio.create_task(_follow(base_url=base, token=world.tokens["provider_a"], into=expiring)),
                 asyncio.create_task(_follow(base_url=base, token=world.tokens["operator_b"], into=moved))]
    await asyncio.wait_for(asyncio.gather(revoked.opened.wait(), expiring.opened.wait(), moved.opened.wait()),
                           timeout=10)
    before = await raise_alert(db=db, org_id=world.org_a, resident_id=world.resident_a)
    await wait_until(_received(before, revoked, expiring), timeout_s=5, what="the alarm on both streams")

    # Revoke the operator's token (as `telecare token revoke` does) and raise a CO alarm straight after.
    await db.execute("UPDATE api_tokens SET revoked_at = now() WHERE token_id = $1",
                     await _token_id(db, f"opa-{unique}"))
    revoked_at = time.monotonic()
    after = await raise_alert(db=db, org_id=world.org_a, resident_id=world.resident_a, condition="co", priority=1)
    await asyncio.wait_for(followers[0], timeout=5)
    assert revoked.closed_at is not None and revoked.closed_at - revoked_at < 5
    assert after not in revoked.alert_ids, "a revoked token received an alarm raised after the revocation"
    assert revoked.ended_reason == "the token was revoked or has expired"

    # The provider's token expires while its stream is open.
    await db.execute("UPDATE api_tokens SET expires_at = now() + interval '1 second' WHERE token_id = $1",
                     await _token_id(db, f"pra-{unique}"))
    expired_at = time.monotonic() + 1
    await asyncio.wait_for(followers[1], timeout=8)
    assert expiring.closed_at is not None and expiring.closed_at - expired_at < 5
    assert expiring.ended_reason == "the token was revoked or has expired"
    # An operator whose organisations change (`telecare user update`) is signed out of the old scope.
    await change_user_scope(connection=db, user_id=f"opb-{unique}", role=None, org_ids=[world.org_a],
                            resident_ids=None, actor=cli_actor(), apply=True)
    changed_at = time.monotonic()
    await asyncio.wait_for(followers[2], timeout=8)
    assert moved.closed_at is not None and moved.closed_at - changed_at < 5
    assert moved.ended_reason == "your access has changed; sign in again"
    # And a reconnect with either revoked or expired token is refused.
    for token in (world.tokens["operator_a"], world.tokens["provider_a"]):
        assert (await _get(base_url=base, path="/api/alerts/stream", token=token)).status_code == 401
