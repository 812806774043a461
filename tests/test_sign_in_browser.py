"""The signed-in pages in a real browser (Debian's Chromium through tests/browser.py): the
chat's one-time link opens a session by its button, each page renders Thai in the page font
with no console errors and no serious axe-core violations, photos come through signed media
links, another area's page answers 403, the link works only once, the cookie is HttpOnly and
SameSite=Lax, and a published story's public page passes the same checks."""

from __future__ import annotations

import io

from PIL import Image

from storage import problems
from tests.browser import BrowserPage, browser_page, check_page  # noqa: F401
from tests.conftest import START, Harness
from tests.test_learning_exchange import seed_stories
from tests.test_sign_in import OTHER_TAMBON, TAMBON, ask_link, running_site

PAGES = ("review", "submissions", "villages", "support", "exports")


async def _report_with_photo(console: Harness) -> None:
    (console.media_dir / "reports").mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (30, 120, 60)).save(buffer, "JPEG")
    (console.media_dir / "reports" / "flood.jpg").write_bytes(buffer.getvalue())
    async with console.db.transaction() as conn:
        await problems.insert(conn, village_code="35010101", category="flood",
                              description="น้ำท่วมถนนสายหลักของหมู่บ้าน", households=12,
                              severity=3, photo_ref="reports/flood.jpg",
                              photo_platform_id=None, latitude=None, longitude=None,
                              reporter_id=1, now=START)


def _own_status_logged(bp: BrowserPage, *statuses: str) -> None:
    """Chromium logs a document's own 4xx status as a console error: exactly those, then
    nothing else, may be there."""
    expected = [f"Failed to load resource: the server responded with a status of {s}"
                for s in statuses]
    assert bp.console_errors == expected
    bp.console_errors.clear()


async def test_signed_in_pages_in_the_browser(console: Harness,
                                              browser_page: BrowserPage) -> None:  # noqa: F811
    await _report_with_photo(console)
    await seed_stories(console.db)
    async with running_site(console) as (origin, _):
        _, token = await ask_link(console, "2")  # the core team of 350101
        link = f"{origin}/sign-in/{token}"
        await browser_page.goto(link)
        await check_page(browser_page, "signed-in-link")
        await browser_page.click("button[type=submit]")
        await browser_page.wait_for_url(f"{origin}/my")
        text = await check_page(browser_page, "signed-in-home")
        assert "ประเสริฐ มั่นคง" in text and "กลุ่มแกนระดับตำบล" in text
        cookie = next(c for c in await browser_page.context.cookies()
                      if c["name"] == "cercap_session")
        assert cookie["httpOnly"] is True and cookie["sameSite"] == "Lax"

        for page in PAGES:
            response = await browser_page.goto(f"{origin}/my/{TAMBON}/{page}")
            assert response.status == 200, page
            text = await check_page(browser_page, f"signed-in-{page}")
            if page in ("review", "submissions"):
                assert "น้ำท่วมถนนสายหลักของหมู่บ้าน" in text
                image = browser_page.locator("img.photo").first
                assert "sig=" in (await image.get_attribute("src") or "")
                assert await image.evaluate("img => img.complete && img.naturalWidth") == 64
        response = await browser_page.goto(f"{origin}/my/{OTHER_TAMBON}/submissions")
        assert response.status == 403
        _own_status_logged(browser_page, "403 (Forbidden)")
        text = await check_page(browser_page, "signed-in-403")
        assert "ไม่อยู่ในพื้นที่ที่คุณดูแล" in text

        await browser_page.goto(link)  # the link again: used
        assert "ใช้ไปแล้ว" in await browser_page.inner_text("main")
        await browser_page.goto(f"{origin}/my")  # still signed in: the session is not the link
        await browser_page.click("text=ออกจากระบบ")
        await browser_page.wait_for_url(f"{origin}/")
        response = await browser_page.goto(f"{origin}/my")
        assert response.status == 401
        _own_status_logged(browser_page, "410 (Gone)", "401 (Unauthorized)")
        await browser_page.page.wait_for_load_state("networkidle")  # its events all in
        browser_page.failed_requests.clear()  # the font preload cut short by leaving a page

        response = await browser_page.goto(f"{origin}/stories/1")
        assert response.status == 200
        text = await check_page(browser_page, "story")
        assert "ธนาคารน้ำใต้ดิน" in text and "กลุ่มแกนระดับตำบล" in text
