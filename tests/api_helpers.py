"""Helpers for the API tests: a real uvicorn server on a free port and a small two-organisation world."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import httpx
import pytest
from playwright.async_api import Browser, async_playwright

from api.auth import Role, issue_token
from api.main import ApiOptions, serve_api
from telecare.settings import Settings
from tests.support import provision

DEVICES = [
    {"friendly_name": "pendant", "type": "personal_trigger", "location": "bedroom"},
    {"friendly_name": "smoke", "type": "smoke", "location": "kitchen"},
    {"friendly_name": "hall", "type": "pir", "location": "hallway"},
]


def free_port() -> int:
    """A TCP port nobody is listening on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True, slots=True)
class ApiServer:
    """A running API: its base URL and the settings it was started with."""

    base_url: str
    settings: Settings


async def start_api(*, settings: Settings, options: ApiOptions | None = None) -> tuple[ApiServer, asyncio.Event,
                                                                                      asyncio.Task[None]]:
    """Start uvicorn on a free port; returns the server, its stop event and its task."""
    port = free_port()
    api_settings = settings.model_copy(update={"api_port": port, "api_host": "127.0.0.1", "log_level": "WARNING"})
    stop, started = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(serve_api(settings=api_settings, stop=stop, options=options, started=started),
                               name="test-api")
    await asyncio.wait_for(started.wait(), timeout=15)
    return ApiServer(base_url=f"http://127.0.0.1:{port}", settings=api_settings), stop, task


@pytest.fixture
async def api_server(settings: Settings) -> AsyncIterator[ApiServer]:
    """The API served over real HTTP for one test."""
    server, stop, task = await start_api(settings=settings)
    yield server
    stop.set()
    await asyncio.wait_for(task, timeout=15)


CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Debian's Chromium driven by Playwright."""
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


@dataclass(frozen=True, slots=True)
class World:
    """Two organisations with one resident each, and a token per role."""

    org_a: str
    org_b: str
    resident_a: str
    resident_b: str
    hub_a: str
    hub_b: str
    tokens: dict[str, str]

    def headers(self, who: str) -> dict[str, str]:
        """Authorization header for one of the world's users."""
        return {"Authorization": f"Bearer {self.tokens[who]}"}


async def build_world(*, db: asyncpg.Connection, unique: str) -> World:
    """Organisations A and B; operator, provider and reviewer of A; operator of B; an administrator."""
    org_a, org_b = f"oa-{unique}", f"ob-{unique}"
    resident_a, resident_b = f"ra-{unique}", f"rb-{unique}"
    hub_a, hub_b = f"ha-{unique}", f"hb-{unique}"
    await provision(db=db, org_id=org_a, resident_id=resident_a, hub_id=hub_a, devices=DEVICES)
    await provision(db=db, org_id=org_b, resident_id=resident_b, hub_id=hub_b, devices=DEVICES)
    tokens = {
        "operator_a": await issue_token(connection=db, user_id=f"opa-{unique}", role=Role.OPERATOR, org_ids=[org_a],
                                        resident_ids=[]),
        "provider_a": await issue_token(connection=db, user_id=f"pra-{unique}", role=Role.PROVIDER, org_ids=[org_a],
                                        resident_ids=[]),
        "reviewer_a": await issue_token(connection=db, user_id=f"rva-{unique}", role=Role.REVIEWER, org_ids=[org_a],
                                        resident_ids=[resident_a]),
        "operator_b": await issue_token(connection=db, user_id=f"opb-{unique}", role=Role.OPERATOR, org_ids=[org_b],
                                        resident_ids=[]),
        "admin": await issue_token(connection=db, user_id=f"adm-{unique}", role=Role.ADMIN, org_ids=[],
                                   resident_ids=[]),
    }
    return World(org_a=org_a, org_b=org_b, resident_a=resident_a, resident_b=resident_b, hub_a=hub_a, hub_b=hub_b,
                 tokens=tokens)


async def raise_alert(*, db: asyncpg.Connection, org_id: str, resident_id: str | None, condition: str = "fall",
                      priority: int = 2, hub_id: str | None = None) -> int:
    """Put an alert in the live queue the way the rules engine does (row, history, NOTIFY in one transaction)."""
    async with db.transaction():
        alert_id: int = await db.fetchval(
            "INSERT INTO alerts (run, org_id, resident_id, subject_key, hub_id, condition, priority, base_priority,"
            " raised_at, detected_at, last_event_at) VALUES ('live', $1, $2, $3, $4, $5, $6, $6, now(), now(), now())"
            " RETURNING alert_id",
            org_id, resident_id, resident_id or f"hub:{hub_id}", hub_id, condition, priority,
        )
        await db.execute("INSERT INTO alert_history (alert_id, action, actor, to_status) VALUES ($1, 'raised', 'rules',"
                         " 'raised')", alert_id)
        await db.execute("SELECT pg_notify('telecare_alerts', $1)", f'{{"alert_id": {alert_id}, "change": "raised"}}')
    return alert_id


def client(server: ApiServer, world: World | None = None, who: str | None = None) -> httpx.AsyncClient:
    """An HTTP client for the server, signed in as `who` when given."""
    headers = world.headers(who) if world and who else {}
    return httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=10)
