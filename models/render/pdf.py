"""PDF of the HTML pack through Chromium's print-to-PDF (Playwright driving Debian's chromium)."""

from __future__ import annotations

from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


async def html_to_pdf(*, html: str, executable: str = CHROMIUM, screenshot: Path | None = None) -> bytes:
    """Print the page to A4 PDF (backgrounds on, so chart fills print); optionally screenshot it too."""
    from playwright.async_api import async_playwright  # noqa: PLC0415 - only PDF output needs a browser

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1000, "height": 1400})
            await page.set_content(html, wait_until="load")
            if screenshot is not None:
                await page.screenshot(path=str(screenshot), full_page=True)
            await page.emulate_media(media="print")
            return await page.pdf(format="A4", print_background=True,
                                  margin={"top": "12mm", "bottom": "12mm", "left": "10mm", "right": "10mm"})
        finally:
            await browser.close()
