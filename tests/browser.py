"""A real browser for the web tests: Debian's Chromium (/usr/bin/chromium) driven by
Playwright for Python (async API, so the aiohttp server under test runs in the same loop).

    from tests.browser import browser_page, check_page  # noqa: F401  (browser_page: a fixture)

    async def test_x(browser_page: BrowserPage) -> None:
        await browser_page.goto(url)
        await check_page(browser_page, "name")   # screenshot, Thai without tofu, console, axe

In CI (CI=true) a missing browser fails the test; elsewhere the tests skip with one line
saying how to install it. Playwright never downloads a browser here (`playwright install`
cannot): it drives the system one through executable_path.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
INSTALL_HINT = ("browser tests skipped: no /usr/bin/chromium (install it with "
                "`apt-get install -y chromium`; in CI they run)")
SCREENSHOTS = Path(os.environ.get("CERCAP_SCREENSHOTS", "/tmp/cercap-screenshots"))
THAI = re.compile(r"[\u0E00-\u0E7F]")
PAGE_FONT = "Sarabun"


def require_browser() -> None:
    """Skip (outside CI) or fail (in CI) when the browser is missing."""
    if CHROMIUM.exists():
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but {CHROMIUM} is missing: .ci/run installs chromium")
    pytest.skip(INSTALL_HINT)


@dataclass
class BrowserPage:
    """A Playwright page plus what the browser said: console errors and failed requests."""

    page: Any  # playwright.async_api.Page
    context: Any
    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    outside_requests: list[str] = field(default_factory=list)

    async def goto(self, url: str) -> Any:
        response = await self.page.goto(url, wait_until="load")
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self.page, name)


@pytest_asyncio.fixture
async def browser_page() -> AsyncIterator[BrowserPage]:
    """A fresh headless Chromium page (one browser per test: a few hundred ms)."""
    require_browser()
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                           headless=True)
        context = await browser.new_context(viewport={"width": 412, "height": 915},
                                            device_scale_factor=1, locale="th-TH",
                                            timezone_id="Asia/Bangkok")
        page = await context.new_page()
        bp = BrowserPage(page=page, context=context)
        page.on("console", lambda m: bp.console_errors.append(m.text)
                if m.type == "error" else None)
        page.on("pageerror", lambda e: bp.console_errors.append(str(e)))
        page.on("requestfailed", lambda r: bp.failed_requests.append(r.url))

        async def only_loopback(route: Any) -> None:
            url = route.request.url
            if url.startswith(("http://127.0.0.1", "http://localhost", "data:", "blob:")):
                await route.continue_()
            else:
                bp.outside_requests.append(url)
                await route.abort()

        await context.route("**/*", only_loopback)
        try:
            yield bp
        finally:
            await context.close()
            await browser.close()


@cache
def font_codepoints() -> frozenset[int]:
    """Every character the page font (Sarabun Regular, served by the site) can draw."""
    import fontpkg
    from fontTools.ttLib import TTFont

    font = TTFont(str(fontpkg.path("Sarabun", weight=400)))
    return frozenset(font.getBestCmap())


async def rendering_fonts(bp: BrowserPage, limit: int = 400) -> dict[str, set[str]]:
    """The fonts Chromium actually drew each text with (CDP CSS.getPlatformFontsForNode),
    for up to `limit` elements holding Thai text: {font family: sample texts}."""
    cdp = await bp.context.new_cdp_session(bp.page)
    await cdp.send("DOM.enable")
    await cdp.send("CSS.enable")
    root = await cdp.send("DOM.getDocument", {"depth": -1})
    found = await cdp.send("DOM.querySelectorAll",
                           {"nodeId": root["root"]["nodeId"],
                            "selector": "body *:not(script):not(style)"})
    fonts: dict[str, set[str]] = {}
    checked = 0
    for node_id in found["nodeIds"]:
        if checked >= limit:
            break
        text = await _own_text(cdp, node_id)
        if not THAI.search(text):
            continue
        checked += 1
        used = await cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node_id})
        for entry in used.get("fonts", []):
            fonts.setdefault(entry["familyName"], set()).add(text[:40])
    await cdp.detach()
    return fonts


async def _own_text(cdp: Any, node_id: int) -> str:
    described = await cdp.send("DOM.describeNode", {"nodeId": node_id, "depth": 1})
    children = described["node"].get("children", [])
    return "".join(c.get("nodeValue", "") for c in children if c.get("nodeType") == 3).strip()


async def check_thai_rendering(bp: BrowserPage) -> str:
    """The page shows Thai, every character shown is in the page font, and Chromium drew
    the Thai texts with that font (no fallback, no tofu). Returns the visible text."""
    await bp.page.evaluate("document.fonts.ready.then(() => true)")
    text: str = await bp.page.inner_text("body")
    assert THAI.search(text), "no Thai text on the page"
    missing = sorted({ch for ch in text if THAI.match(ch) and ord(ch) not in font_codepoints()})
    assert missing == [], f"characters the page font cannot draw: {missing}"
    fonts = await rendering_fonts(bp)
    assert fonts, "no Thai text element found"
    others = {family: sorted(samples)[:3] for family, samples in fonts.items()
              if family != PAGE_FONT}
    assert others == {}, f"Thai drawn with fonts other than {PAGE_FONT}: {others}"
    return text


async def axe_violations(bp: BrowserPage, impacts: tuple[str, ...] = ("serious", "critical")
                         ) -> list[str]:
    """axe-core (bundled by axe-playwright-python) run in the page: violations of the
    given impacts, as 'rule: target' lines."""
    from axe_playwright_python.async_playwright import Axe

    results = await Axe().run(bp.page)
    found = []
    for violation in results.response["violations"]:
        if violation.get("impact") in impacts:
            targets = [", ".join(n["target"]) for n in violation["nodes"][:3]]
            found.append(f"{violation['id']} ({violation['impact']}): {targets}")
    return found


async def screenshot(bp: BrowserPage, name: str, full_page: bool = True) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await bp.page.screenshot(path=str(path), full_page=full_page)
    assert path.stat().st_size > 1000
    return path


async def check_page(bp: BrowserPage, name: str, *, axe: bool = True) -> str:
    """Screenshot, Thai without tofu, no console errors, no failed or outside requests,
    no serious axe violations. Returns the page's visible text."""
    await screenshot(bp, name)
    text = await check_thai_rendering(bp)
    assert bp.console_errors == [], f"console errors on {name}: {bp.console_errors}"
    assert bp.failed_requests == [], f"failed requests on {name}: {bp.failed_requests}"
    assert bp.outside_requests == [], f"requests leaving the machine: {bp.outside_requests}"
    if axe:
        violations = await axe_violations(bp)
        assert violations == [], f"accessibility on {name}: {violations}"
    return text
