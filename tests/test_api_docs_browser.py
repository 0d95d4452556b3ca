"""/docs and /redoc in a real Chromium with every request off this origin refused: they render from local assets."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import Browser, Page, Route

from tests.api_helpers import ApiServer, api_server, browser  # noqa: F401 - fixture
from tests.conftest import artifacts_dir

pytestmark = [pytest.mark.browser, pytest.mark.slow]



async def _offline_page(chromium: Browser, base_url: str, outside: list[str], refused: list[str]) -> Page:
    """A page on which any request off the API's origin is recorded and aborted, as with the network off."""
    page = await chromium.new_page()

    async def only_this_origin(route: Route) -> None:
        if route.request.url.startswith(base_url) or route.request.url.startswith(("data:", "blob:")):
            await route.continue_()
        else:
            outside.append(route.request.url)
            await route.abort()

    await page.route("**/*", only_this_origin)
    page.on("console", lambda message: refused.append(message.text) if "Content Security Policy" in message.text
            else None)
    return page


async def test_docs_and_redoc_render_every_operation_without_the_network(
    browser: Browser, api_server: ApiServer,  # noqa: F811
) -> None:
    async with httpx.AsyncClient(base_url=api_server.base_url) as http:
        spec = (await http.get("/openapi.json")).json()
    operation_ids = {op["operationId"] for item in spec["paths"].values() for op in item.values()}
    outside: list[str] = []
    refused: list[str] = []

    page = await _offline_page(browser, api_server.base_url, outside, refused)
    await page.goto(f"{api_server.base_url}/docs")
    await page.wait_for_selector(".opblock", timeout=20_000)
    shown = await page.eval_on_selector_all(".opblock", "blocks => blocks.length")
    assert shown == len(operation_ids), (shown, len(operation_ids))
    await page.screenshot(path=str(artifacts_dir() / "api-docs-swagger.png"))

    page = await _offline_page(browser, api_server.base_url, outside, refused)
    await page.goto(f"{api_server.base_url}/redoc")
    await page.wait_for_selector("[data-section-id^='operation/']", timeout=30_000)
    sections = await page.eval_on_selector_all("[data-section-id^='operation/']",
                                               "nodes => nodes.map(n => n.getAttribute('data-section-id'))")
    assert {section.split("/", 1)[1] for section in sections} == operation_ids
    await page.screenshot(path=str(artifacts_dir() / "api-docs-redoc.png"))

    assert outside == [], f"the reference pages asked the network for {outside}"
    assert refused == [], refused
