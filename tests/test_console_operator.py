"""The operator's path at 3 a.m. in a real Chromium: an alarm arrives over MQTT with where the resident lives and
how to get in; the operator claims it within the 60 s target, calls a contact from the tel: link, records what
was done, closes it with an outcome, and the resident panel tells the same story afterwards."""

from __future__ import annotations

import re

import asyncpg
import pytest
from playwright.async_api import Browser, Page, expect

from telecare.local_broker import LocalBroker
from telecare.site import SiteFile, provision_site
from tests.api_helpers import ApiServer, api_server, build_world  # noqa: F401 - fixture
from tests.conftest import artifacts_dir
from tests.support import json_bytes, publish_all
from tests.test_api_browser import browser, rules_worker  # noqa: F401 - fixtures

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ADDRESS = "Flat 3, Alder Court, 14 Mill Lane, Leeds LS6 2QF"
ACCESS = "Key safe left of the front door, code 1942"


async def _care_details(*, db: asyncpg.Connection, org_id: str, resident_id: str) -> None:
    """Address, protocol and contacts as a provider's site file gives them (`telecare site import`)."""
    await provision_site(connection=db, site=SiteFile.model_validate({
        "organisation": {"id": org_id, "name": f"Org {org_id}"},
        "residents": [{
            "id": resident_id, "name": "Edith Marsh", "flat": "Flat 3", "address": ADDRESS,
            "response": {"protocol": "Call the resident first; no answer: send the on-site responder.",
                         "access_notes": ACCESS, "medical_notes": "On blood thinners."},
            "contacts": [
                {"name": "On-site responder", "relationship": "responder", "phone": "0113 496 0003",
                 "keyholder": True},
                {"name": "Sam Okafor", "relationship": "daughter", "phone": "07700 900123"},
            ],
        }],
    }))


async def _sign_in(page: Page, *, base_url: str, token: str) -> None:
    await page.goto(f"{base_url}/console/")
    await page.fill("#token", token)
    await page.click("button[type=submit]")
    await page.wait_for_selector("#live.on", timeout=10_000)


async def test_operator_handles_an_alarm_end_to_end(
    db: asyncpg.Connection, unique: str, broker: LocalBroker, rules_worker: None,  # noqa: F811
    api_server: ApiServer, browser: Browser,  # noqa: F811
) -> None:
    world = await build_world(db=db, unique=unique)
    await _care_details(db=db, org_id=world.org_a, resident_id=world.resident_a)
    shots = artifacts_dir()
    page = await browser.new_page(viewport={"width": 1500, "height": 950}, locale="en-US",
                                  timezone_id="Europe/London")
    await _sign_in(page, base_url=api_server.base_url, token=world.tokens["operator_a"])
    await expect(page.locator("#queue-depth")).to_have_text("0")
    await expect(page.locator("#oldest-unanswered")).to_have_text("none")

    publish_all(url_port=broker.port, messages=[(f"z2m/{world.hub_a}/pendant", json_bytes({"action": "emergency"}))])
    row = page.locator("tr.alert").first
    await row.wait_for(timeout=10_000)
    # The row alone is enough to start: address, access notes, the answer countdown, 24-hour local time.
    text = await row.inner_text()
    assert ADDRESS in text and ACCESS in text, text
    assert re.search(r"^([1-5]?\d|60) s left$", await row.locator(".countdown").inner_text())
    assert re.fullmatch(r"[0-2]\d:[0-5]\d:[0-5]\d", await row.locator(".time").inner_text())
    await expect(page.locator("#queue-depth")).to_have_text("1")
    assert (await page.inner_text("#oldest-unanswered")) != "none"
    assert "P2: 1" in await page.inner_text("#queue-by-priority")
    await page.screenshot(path=str(shots / "operator-1-alarm-row.png"))

    await row.locator("[data-act=claim]").click()
    await page.wait_for_selector("tr.alert[data-status=claimed]", timeout=5_000)
    await row.locator("[data-act=ack]").click()
    await page.wait_for_selector("tr.alert[data-status=acknowledged]", timeout=5_000)
    await expect(row.locator(".countdown")).to_have_text(re.compile(r"answered in \d+s"))
    await expect(page.locator("#oldest-unanswered")).to_have_text("none")

    await row.locator("button.link").click()
    panel = page.locator("#resident")
    await expect(panel).to_be_visible()
    await expect(page.locator("#resident-address")).to_have_text(ADDRESS)
    await expect(page.locator("#resident-access")).to_have_text(ACCESS)
    assert "send the on-site responder" in await page.inner_text("#resident-protocol")
    contacts = page.locator("#resident-contacts li")
    assert await contacts.count() == 2
    assert "On-site responder" in await contacts.nth(0).inner_text()  # calling order, not alphabetical
    daughter = contacts.nth(1).locator("a.call")
    assert await daughter.get_attribute("href") == "tel:07700900123"
    await page.screenshot(path=str(shots / "operator-2-resident-panel.png"))

    # Dialling: the link goes to the phone; the console records the call against the alarm. Headless Chromium
    # has no phone to hand tel: to and stalls input while it tries, so the hand-over itself is stood in for.
    await page.evaluate("""() => document.addEventListener("click", (event) => {
        if (event.target.closest('a[href^="tel:"]')) event.preventDefault(); }, true)""")
    await daughter.click()
    await expect(page.locator("#toast")).to_contain_text("Called contact")
    await row.locator("[data-act=record]").click()
    await row.locator(".action-note").fill("Responder on the way, 10 minutes")
    await row.locator("[data-action=dispatched_responder]").click()
    await expect(page.locator("#toast")).to_contain_text("Sent responder")
    await page.screenshot(path=str(shots / "operator-3-actions-recorded.png"))

    await row.locator("[data-act=close]").click()
    await row.locator("[data-outcome=responder_attended]").click()
    await page.wait_for_selector("tr.alert", state="detached", timeout=5_000)
    await expect(page.locator("#queue-depth")).to_have_text("0")
    # The panel tells the same story as the queue: nothing open, the alarm in the history with its outcome.
    past = page.locator("#resident-alarms li").first
    await expect(past).to_contain_text("Responder attended")
    await expect(past).to_contain_text("Called contact, Sent responder")
    await expect(page.locator("#resident-open li")).to_have_text("none")
    await expect(page.locator("#resident-conditions li")).to_have_text("none")
    await page.screenshot(path=str(shots / "operator-4-closed-panel-consistent.png"))

    stored = await db.fetchrow("SELECT * FROM alerts WHERE resident_id = $1 AND run = 'live'", world.resident_a)
    assert stored is not None and (stored["status"], stored["outcome"]) == ("closed", "responder_attended")
    actions = [row["detail"] for row in await db.fetch(
        "SELECT detail::text AS detail FROM alert_history WHERE alert_id = $1 AND action LIKE 'action:%'"
        " ORDER BY history_id", stored["alert_id"])]
    assert len(actions) == 2 and "07700 900123" in actions[0] and "10 minutes" in actions[1]
    audited = {row["action"] for row in await db.fetch(
        "SELECT action FROM audit_log WHERE user_id = $1 AND outcome = 'allowed'", f"opa-{unique}")}
    assert {"alerts.action:called_contact", "alerts.action:dispatched_responder", "alerts.close",
            "residents.history"} <= audited


async def test_device_board_puts_what_needs_a_visit_first(
    db: asyncpg.Connection, unique: str, broker: LocalBroker, api_server: ApiServer,  # noqa: F811
    browser: Browser, running_ingest: object,  # noqa: F811
) -> None:
    world = await build_world(db=db, unique=unique)
    publish_all(url_port=broker.port, messages=[
        (f"z2m/{world.hub_a}/smoke/availability", json_bytes({"state": "offline"})),
        (f"z2m/{world.hub_a}/pendant", json_bytes({"battery": 9, "action": None})),
        (f"z2m/{world.hub_a}/hall", json_bytes({"battery": 87, "occupancy": False})),
    ])
    page = await browser.new_page(viewport={"width": 1400, "height": 800})
    await _sign_in(page, base_url=api_server.base_url, token=world.tokens["operator_a"])
    await page.click("[data-tab=devices]")
    board = page.locator("#devices-body")
    for _ in range(40):  # the ingest commits the three messages within a second or two
        await page.click("[data-tab=devices]")
        if await board.locator("tr.device[data-group=ok]").count() == 1:
            break
        await page.wait_for_timeout(250)
    groups = [await g.get_attribute("data-group") for g in await board.locator("tr.group").all()]
    assert groups == ["offline", "battery", "ok"], groups
    assert "smoke" in await board.locator("tr.device[data-group=offline]").inner_text()
    assert "battery 9%" in await board.locator("tr.device[data-group=battery]").inner_text()
    assert "battery 87%" in await board.locator("tr.device[data-group=ok]").inner_text()
    assert "never" not in await board.inner_text()
    await page.screenshot(path=str(artifacts_dir() / "operator-5-device-board.png"))
