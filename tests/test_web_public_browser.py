"""The public web site in a real browser (Debian's Chromium through Playwright,
tests/browser.py): every page renders Thai with the page font (screenshot, no tofu), no
console errors, no request leaves the machine, axe-core finds no serious violation; the
numbers shown are the fixture's; drill-down and breadcrumbs by clicks; the map draws its
markers. Skipped with one line outside CI when /usr/bin/chromium is missing."""

from __future__ import annotations

import re

from tests.browser import BrowserPage, browser_page, check_page
from tests.test_web_public import NOW, RunningSite, site

__all__ = ["NOW", "browser_page", "site"]

PAGES = [("home", "/"), ("status", "/status"), ("status-tambon", "/status/350101"),
         ("impact", "/impact"), ("results", "/results"), ("map", "/map"), ("data", "/data"),
         ("home-en", "/?lang=en"), ("status-village", "/status/35010101?lang=en")]


async def tiles(bp: BrowserPage) -> dict[str, int]:
    found = await bp.page.eval_on_selector_all(
        "[data-number]", "els => els.map(e => [e.dataset.number, e.textContent])")
    return {k: int(v.replace(",", "")) for k, v in found}


async def test_every_public_page_renders_thai_accessibly(site: RunningSite,
                                                         browser_page: BrowserPage) -> None:
    for name, path in PAGES:
        response = await browser_page.goto(site.origin + path)
        assert response.status == 200, path
        if name == "map":
            await browser_page.page.wait_for_selector("#map[data-drawn]")
        text = await check_page(browser_page, f"public-{name}")
        if name == "home":
            assert await tiles(browser_page) == {
                "active": 3, "problems": 4, "households": 45, "items_done": 1,
                "confirmed": 1, "households_helped": 12}
            assert "สระน้ำของหมู่บ้าน" in text


async def test_drill_down_and_breadcrumbs_by_clicking(site: RunningSite,
                                                      browser_page: BrowserPage) -> None:
    page = browser_page.page
    await browser_page.goto(site.origin + "/status")
    network = (await site.db.conn.execute_fetchall(
        "SELECT parent_code FROM areas WHERE code = '35'"))[0][0]
    for code in (network, "35", "3501", "350101", "35010101"):
        await page.click(f'table[data-table="areas"] a[href="/status/{code}"]')
        await page.wait_for_url(f"**/status/{code}")
    crumbs = await page.eval_on_selector_all(".breadcrumbs a", "els => els.map(e => e.href)")
    assert [c.rsplit("/", 1)[1] for c in crumbs] == ["TH", network, "35", "3501", "350101"]
    await page.click('.breadcrumbs a[href="/status/35"]')
    await page.wait_for_url("**/status/35")
    assert await tiles(browser_page) == {"villages": 3, "active": 2, "silent": 1}
    await page.click(".lang-switch")
    await page.wait_for_url("**/status/35?lang=en")
    assert re.search(r"Implementation status", await page.inner_text("h1"))


async def test_the_map_draws_its_markers(site: RunningSite, browser_page: BrowserPage) -> None:
    page = browser_page.page
    await browser_page.goto(site.origin + "/map")
    await page.wait_for_selector("#map[data-drawn]")
    assert await page.get_attribute("#map", "data-drawn") == "3"
    assert await page.locator("#map path.leaflet-interactive").count() == 3
    await page.locator("#map path.leaflet-interactive").first.dispatch_event("click")
    popup = await page.wait_for_selector(".leaflet-popup-content")
    assert "ครัวเรือน" in await popup.inner_text()
    assert await page.locator('.cartogram a[data-code="35"]').get_attribute("data-value") == "3"
    assert browser_page.console_errors == [] and browser_page.outside_requests == []
