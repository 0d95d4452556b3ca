"""The console in a real Chromium: a pendant press over MQTT reaches the open console, is handled by clicks."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from playwright.async_api import Browser, expect

from rules.worker import WorkerOptions, run_worker
from telecare.local_broker import LocalBroker
from telecare.settings import Settings
from tests.api_helpers import ApiServer, api_server, browser, build_world, client  # noqa: F401 - fixture
from tests.conftest import artifacts_dir
from tests.support import json_bytes, publish_all

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
async def rules_worker(running_ingest: Settings, db: asyncpg.Connection) -> AsyncIterator[None]:
    """The live rules worker, following what the ingest stores from now on."""
    # Earlier tests in the session may have left a live cursor far behind: start from the end of the stream.
    await db.execute("UPDATE rule_cursors SET last_seq = (SELECT COALESCE(max(ingest_seq), 0) FROM events)"
                     " WHERE run = 'live'")
    stop = asyncio.Event()
    task = asyncio.create_task(run_worker(database_url=running_ingest.database_url,
                                          options=WorkerOptions(run="live", poll_interval_s=0.5), stop=stop),
                               name="test-rules-worker")
    await asyncio.sleep(1.0)  # lets the worker take its lock and place its cursor at the end of the stream
    yield
    stop.set()
    await asyncio.wait_for(task, timeout=20)


async def test_pendant_press_reaches_console_and_is_handled_by_clicks(
    db: asyncpg.Connection, unique: str, broker: LocalBroker, rules_worker: None, api_server: ApiServer,  # noqa: F811
    browser: Browser,  # noqa: F811
) -> None:
    world = await build_world(db=db, unique=unique)
    async with client(api_server, world, "provider_a") as provider:
        await provider.put(f"/api/residents/{world.resident_a}/protocol", json={
            "protocol": "Call resident. No answer: call daughter, then send responder (key safe 1234 by door).",
            "access_notes": "Key safe by front door"})
        await provider.post(f"/api/residents/{world.resident_a}/contacts", json={
            "name": "Jane Smith", "relationship": "daughter", "phone": "+44 7700 900123", "keyholder": True})
    shots = artifacts_dir()
    page = await browser.new_page(viewport={"width": 1400, "height": 800})
    await page.goto(f"{api_server.base_url}/console/")
    await page.fill("#token", world.tokens["operator_a"])
    await page.click("button[type=submit]")
    await page.wait_for_selector("#live.on", timeout=10_000)
    assert await page.locator("#queue-empty").is_visible()
    assert not await page.locator("#signin").is_visible()

    pressed = time.monotonic()
    publish_all(url_port=broker.port, messages=[(f"z2m/{world.hub_a}/pendant", json_bytes({"action": "emergency"}))])
    row = page.locator("tr.alert").first
    await row.wait_for(timeout=5_000)
    seen_after_s = time.monotonic() - pressed
    await page.screenshot(path=str(shots / "console-1-alarm-arrived.png"))
    (shots / "console-latency.json").write_text(json.dumps({"press_to_console_s": round(seen_after_s, 3)}))
    assert seen_after_s < 1.0, f"the pendant press took {seen_after_s:.3f} s to reach the console"
    assert "Pendant" in await row.inner_text()
    assert await row.get_attribute("data-status") == "raised"
    assert await row.get_attribute("data-priority") == "2"
    assert int(await page.get_attribute("body", "data-beeps") or 0) >= 1, "no audible cue for a top-priority alarm"

    await row.locator("[data-act=claim]").click()
    await page.wait_for_selector("tr.alert[data-status=claimed]", timeout=5_000)
    await row.locator("[data-act=ack]").click()
    await page.wait_for_selector("tr.alert[data-status=acknowledged]", timeout=5_000)
    await row.locator("button.link").click()
    await page.wait_for_selector("#resident:not([hidden])", timeout=5_000)
    assert "Jane Smith" in await page.inner_text("#resident-contacts")
    assert "key safe" in (await page.inner_text("#resident-protocol")).lower()
    await page.screenshot(path=str(shots / "console-2-acknowledged-resident-panel.png"))

    # Close with an outcome: two clicks.
    await row.locator("[data-act=close]").click()
    await row.locator("[data-outcome=reassured]").click()
    await page.wait_for_selector("tr.alert", state="detached", timeout=5_000)
    await page.screenshot(path=str(shots / "console-3-closed.png"))

    stored = await db.fetchrow("SELECT * FROM alerts WHERE resident_id = $1 AND run = 'live'", world.resident_a)
    assert stored is not None
    assert (stored["condition"], stored["status"], stored["outcome"]) == ("personal_trigger", "closed", "reassured")
    assert stored["claimed_by"] == stored["acknowledged_by"] == stored["closed_by"] == f"opa-{unique}"
    audited = {row["action"] for row in await db.fetch(
        "SELECT action FROM audit_log WHERE user_id = $1 AND outcome = 'allowed'", f"opa-{unique}")}
    assert {"alerts.claim", "alerts.acknowledge", "alerts.close", "residents.get"} <= audited

    await page.click("[data-tab=kpis]")
    await expect(page.locator("#kpi-closed")).to_have_text("1", timeout=5_000)
    assert await page.inner_text("#kpi-alerts") == "1"
    assert await page.inner_text("#kpi-ack60") == "100.0 %"
    assert "Reassured: 1" in await page.inner_text("#kpi-outcomes")
    await page.screenshot(path=str(shots / "console-4-kpis.png"))

    await page.click("[data-tab=devices]")
    await page.wait_for_selector("#devices-body tr", timeout=5_000)
    assert await page.locator("#devices-body tr.device").count() == 3
    await page.screenshot(path=str(shots / "console-5-devices.png"))
    async with httpx.AsyncClient(base_url=api_server.base_url) as anonymous:
        assert (await anonymous.get("/api/alerts")).status_code == 401
