"""The evidence pack renders in a real browser (Chromium) with its charts visible, and prints to PDF."""

from __future__ import annotations

from datetime import date, timedelta

import asyncpg
import pytest
from playwright.async_api import async_playwright

from models.config import EvidenceConfig
from models.pack import build_pack
from models.render.html import render_html
from models.render.pdf import CHROMIUM, CHROMIUM_ARGS, html_to_pdf
from tests.conftest import artifacts_dir
from tests.test_models_evidence import Scheme, scheme  # noqa: F401 - the shared loaded scheme

pytestmark = pytest.mark.browser


async def test_html_and_pdf_show_the_charts(db: asyncpg.Connection, scheme: Scheme) -> None:  # noqa: F811
    """Every chart is drawn and visible on screen; the PDF is a real multi-page document."""
    resident_id = next(iter(scheme.truths))
    pack = (await build_pack(connection=db, resident_id=resident_id, first=scheme.first,
                             last=scheme.last - timedelta(days=0), config=EvidenceConfig())).as_json()
    html = render_html(pack=pack)
    folder = artifacts_dir()
    (folder / "evidence-pack.html").write_text(html, encoding="utf-8")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await browser.new_page(viewport={"width": 1000, "height": 1400})
        await page.set_content(html)
        for chart in ("#activity-chart svg", "#nightly-bars svg", "#alert-timeline svg"):
            box = await page.locator(chart).bounding_box()
            assert box is not None and box["width"] > 500 and box["height"] > 100, chart
        cells = await page.locator("#activity-chart rect").count()
        bars = await page.locator("#nightly-bars rect").count()
        assert cells > 50 and bars >= sum(1 for n in pack["nights"] if n["status"] == "ok" and n["bed_exits"])
        await page.screenshot(path=str(folder / "evidence-pack.png"), full_page=True)
        # As printed on A4 (190 mm between the PDF's margins, about 718 CSS px): every chart fits the page
        # and the activity chart's last hour label is not cut off.
        await page.set_viewport_size({"width": 718, "height": 1000})
        await page.emulate_media(media="print")
        for chart in ("#activity-chart svg", "#nightly-bars svg", "#alert-timeline svg"):
            box = await page.locator(chart).bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 718, (chart, box)
        chart_box = await page.locator("#activity-chart svg").bounding_box()
        label_box = await page.locator("#activity-chart text", has_text="24:00").bounding_box()
        assert chart_box is not None and label_box is not None
        assert label_box["x"] + label_box["width"] <= chart_box["x"] + chart_box["width"], (label_box, chart_box)
        await browser.close()
    pdf = await html_to_pdf(html=html, screenshot=folder / "evidence-pack-print.png")
    (folder / f"evidence-pack-{date.today()}.pdf").write_bytes(pdf)
    assert pdf.startswith(b"%PDF") and pdf.count(b"/Type /Page") >= 2
