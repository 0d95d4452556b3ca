"""An administrator changes one organisation's priority table in the console; the rules use it for that
organisation only; operators may read it but not change it; every change and refusal is audited."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import asyncpg
import pytest
from playwright.async_api import Browser, expect

from rules.alerts import ConditionReport, open_condition
from rules.priorities import load_priority_table
from tests.api_helpers import ApiServer, api_server, build_world, client  # noqa: F401 - fixture
from tests.conftest import artifacts_dir
from tests.test_api_browser import browser  # noqa: F401 - fixture

pytestmark = [pytest.mark.browser]


async def _raise(db: asyncpg.Connection, *, org_id: str, resident_id: str) -> int:
    now = datetime.now(UTC)
    report = ConditionReport(run="live", org_id=org_id, resident_id=resident_id, hub_id=None, device_id=None,
                             device_type="personal_trigger", condition="personal_trigger", subject="pendant",
                             event_time=now, detected_at=now)
    async with db.transaction():
        change = await open_condition(connection=db, priorities=await load_priority_table(connection=db),
                                      report=report, activation=True, already_open=False)
    assert change is not None
    priority: int = await db.fetchval("SELECT priority FROM alerts WHERE alert_id = $1", change.alert_id)
    return priority


async def test_admin_sets_an_organisations_priority_in_the_console(
    db: asyncpg.Connection, unique: str, api_server: ApiServer, browser: Browser,  # noqa: F811
) -> None:
    world = await build_world(db=db, unique=unique)
    page = await browser.new_page(viewport={"width": 1400, "height": 900})
    await page.goto(f"{api_server.base_url}/console/")
    await page.fill("#token", world.tokens["admin"])
    await page.click("button[type=submit]")
    await page.click("[data-tab=priorities]")
    await page.select_option("#priorities-org", world.org_a)
    await page.wait_for_selector(f"#priorities-body[data-org='{world.org_a}']")
    row = page.locator("#priorities-body tr[data-condition=personal_trigger]")
    await expect(row).to_have_attribute("data-overridden", "false")
    await row.locator("input[name=priority]").fill("1")
    await row.locator("[data-act=save]").click()
    await expect(page.locator("#toast")).to_contain_text("is now P1")
    row = page.locator("#priorities-body tr[data-condition=personal_trigger]")
    await expect(row).to_have_attribute("data-overridden", "true")
    await page.screenshot(path=str(artifacts_dir() / "priorities-admin.png"))

    # The rules raise organisation A's pendant presses at P1 now, organisation B's still at the default P2.
    assert await _raise(db, org_id=world.org_a, resident_id=world.resident_a) == 1
    assert await _raise(db, org_id=world.org_b, resident_id=world.resident_b) == 2

    async with client(api_server, world, "operator_a") as operator:
        table = (await operator.get(f"/api/organisations/{world.org_a}/priorities")).json()
        assert next(r for r in table if r["condition"] == "personal_trigger")["priority"] == 1
        refused = await operator.put(f"/api/organisations/{world.org_a}/priorities/fall",
                                     json={"priority": 9, "repeat_bump": 0, "escalate_after_s": 0})
        assert refused.status_code == 403
        assert (await operator.get(f"/api/organisations/{world.org_b}/priorities")).status_code == 404
    async with client(api_server, world, "admin") as admin:
        bad = await admin.put(f"/api/organisations/{world.org_a}/priorities/fall",
                              json={"priority": 0, "repeat_bump": 0, "escalate_after_s": 0})
        assert bad.status_code == 422
    audited = await db.fetch("SELECT user_id, action, outcome, detail::text AS detail FROM audit_log"
                             " WHERE action LIKE 'priorities.%' AND org_id = $1 ORDER BY audit_id", world.org_a)
    assert [(r["action"], r["outcome"]) for r in audited] == [("priorities.set", "allowed"),
                                                              ("priorities.set", "denied")]
    change = json.loads(audited[0]["detail"])
    assert change["before"]["priority"] == 2 and change["after"]["priority"] == 1
