"""Signing in to the web site from the chat (issue 15): the menu entry, the one-time link
(single use, 10 minutes, on a clock that moves only when told), the session cookie's
attributes, sign-out, what each role may open (handlers/permissions.py decides for the chat
and the site alike) and 403 for another area's pages. The web site runs on a real aiohttp
server on 127.0.0.1 with the real SQLite file; the browser tests are in
test_sign_in_browser.py."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from http.cookies import SimpleCookie

import aiohttp
import pytest

from bot.media_links import MediaLinks
from bot.web import site as web_site
from bot.web.server import WebServer
from bot.web.signed_in import SESSION_COOKIE
from handlers.permissions import WEB_PAGES, Role, allowed, may_sign_in, web_pages
from storage import support_requests
from storage.people import Grant
from tests.conftest import Harness

LINK = re.compile(r"(http://127\.0\.0\.1:\d+)/sign-in/([A-Za-z0-9_-]{20,})")
TAMBON, OTHER_TAMBON = "350101", "350102"


@contextlib.asynccontextmanager
async def running_site(console: Harness, *, public_url: str | None = None
                       ) -> AsyncIterator[tuple[str, aiohttp.ClientSession]]:
    """The site on a free loopback port, on the console's database and clock; the chat's
    links point at it (or at `public_url`, e.g. an https origin, for the cookie's Secure)."""
    server = WebServer("127.0.0.1", 0)
    site = web_site.register(server, console.db, clock=console.clock)
    links = MediaLinks("http://127.0.0.1", b"test media secret", console.media_dir,
                       clock=lambda: console.clock.now().timestamp())
    server.app.router.add_get("/media/{path:.*}", links.handle)  # as bot/service.py does
    await server.start()
    origin = f"http://127.0.0.1:{server.bound_port}"
    links.public_url = origin
    site.public_url = public_url or origin
    site.media_dir = console.media_dir  # type: ignore[attr-defined]
    site.media_links = links  # type: ignore[attr-defined]
    before = console.engine.settings
    console.engine.settings = replace(before, public_url=public_url or origin)
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            yield origin, http
    finally:
        console.engine.settings = before
        await server.stop()


async def ask_link(console: Harness, persona: str) -> tuple[str, str]:
    """(origin, token) of the link the persona gets from the menu entry."""
    await console.start(persona)
    await console.type("เมนู")
    await console.type("เพิ่มเติม")
    out = await console.type("🌐 เข้าเว็บไซต์")
    found = LINK.search(out)
    assert found, out
    assert "ใช้ได้ครั้งเดียว ภายใน 10 นาที" in out
    return found.group(1), found.group(2)


async def sign_in(http: aiohttp.ClientSession, origin: str, token: str) -> aiohttp.ClientResponse:
    async with http.post(f"{origin}/sign-in/{token}", allow_redirects=False) as response:
        return response


# --- the permissions table ------------------------------------------------------------------

LINEAGE = ["35010101", TAMBON, "3501", "35", "LN08", "TH"]
EXPECTED = {  # role on its own area -> the pages it may open for a village inside it
    Role.CORE_TEAM: ["review", "submissions", "villages", "support", "exports"],
    Role.TAO: ["submissions", "villages", "support", "exports"],
    Role.DISTRICT: ["submissions", "villages", "support", "exports"],
    Role.VIEWER: ["villages", "exports"],
    Role.VILLAGE_COMMITTEE: ["villages", "exports"],
}
GRANT_AREA = {Role.CORE_TEAM: TAMBON, Role.TAO: TAMBON, Role.DISTRICT: "3501",
              Role.VIEWER: "35", Role.VILLAGE_COMMITTEE: "35010101"}


@pytest.mark.parametrize("role", list(EXPECTED))
def test_role_permissions_table(role: Role) -> None:
    grants = [Grant(role, GRANT_AREA[role])]
    assert web_pages(grants, LINEAGE) == EXPECTED[role]
    other = ["35010201", OTHER_TAMBON, "3501", "35", "LN08", "TH"]
    expected_other = EXPECTED[role] if role in (Role.DISTRICT, Role.VIEWER) else []
    assert web_pages(grants, other) == expected_other
    assert may_sign_in(grants) == (role != Role.VILLAGE_COMMITTEE)
    for page, action in WEB_PAGES.items():
        assert (page in EXPECTED[role]) == allowed(grants, action, LINEAGE)


# --- the chat's menu entry ------------------------------------------------------------------

async def test_entry_for_the_four_roles_and_polite_when_the_site_is_not_set_up(
        console: Harness) -> None:
    for persona in ("2", "3", "4", "5"):  # core team, TAO, district, viewer
        await console.start(persona)
        await console.type("เมนู")
        out = await console.type("เพิ่มเติม") + await console.type("เมนู")
        assert "🌐 เข้าเว็บไซต์" in out, persona
        out = await console.type("🌐 เข้าเว็บไซต์")
        assert "ยังไม่ได้ตั้งค่าเว็บไซต์" in out and "CERCAP_PUBLIC_URL" in out, persona
    await console.start("1")  # the village committee has no such entry
    out = await console.type("เมนู") + await console.type("เพิ่มเติม")
    assert "🌐 เข้าเว็บไซต์" not in out
    out = await console.type("🌐 เข้าเว็บไซต์")
    assert "sign-in" not in out
    assert await console.scalar("SELECT COUNT(*) FROM sign_in_links") == 0


# --- the link and the session ---------------------------------------------------------------

async def test_link_works_once_and_the_cookie_is_safe(console: Harness) -> None:
    async with running_site(console) as (origin, http):
        _, token = await ask_link(console, "2")
        # Only the hash is stored.
        assert await console.scalar("SELECT COUNT(*) FROM sign_in_links WHERE token_hash = ?",
                                    token) == 0
        # Opening the link (or a chat app's preview of it) spends nothing.
        for _ in range(2):
            async with http.get(f"{origin}/sign-in/{token}") as response:
                assert response.status == 200
                assert "เข้าสู่ระบบ" in await response.text()
                assert response.headers["Cache-Control"] == "no-store"
        response = await sign_in(http, origin, token)
        assert response.status == 303 and response.headers["Location"] == "/my"
        cookie = SimpleCookie(response.headers["Set-Cookie"])[SESSION_COOKIE]
        assert cookie["httponly"] is True and cookie["samesite"] == "Lax"
        assert cookie["max-age"] == str(8 * 3600) and cookie["path"] == "/"
        assert not cookie["secure"]  # http origin
        async with http.get(f"{origin}/my") as response:
            page = await response.text()
            assert response.status == 200 and "ประเสริฐ มั่นคง" in page
            assert f"/my/{TAMBON}/review" in page
        # Used once: a second use is refused, the session stays.
        async with aiohttp.ClientSession() as other:
            again = await sign_in(other, origin, token)
            assert again.status == 410 and "Set-Cookie" not in again.headers
            async with other.get(f"{origin}/sign-in/{token}") as response:
                assert response.status == 410 and "ใช้ไปแล้ว" in await response.text()
        # Sign out: the session ends (the same cookie no longer opens anything).
        session_token = cookie.value
        async with http.post(f"{origin}/sign-out", allow_redirects=False) as response:
            assert response.status == 303
        async with aiohttp.ClientSession(cookies={SESSION_COOKIE: session_token}) as stale, \
                stale.get(f"{origin}/my") as response:
            assert response.status == 401


async def test_link_expires_after_ten_minutes_and_the_session_after_eight_hours(
        console: Harness) -> None:
    async with running_site(console) as (origin, http):
        _, late = await ask_link(console, "3")
        console.clock.advance(timedelta(minutes=10, seconds=1))
        response = await sign_in(http, origin, late)
        assert response.status == 410
        async with http.get(f"{origin}/sign-in/{late}") as page:
            assert "หมดอายุ" in await page.text()
        _, token = await ask_link(console, "3")
        console.clock.advance(timedelta(minutes=9, seconds=59))
        assert (await sign_in(http, origin, token)).status == 303
        async with http.get(f"{origin}/my") as page:
            assert page.status == 200
        console.clock.advance(timedelta(hours=8))
        async with http.get(f"{origin}/my") as page:
            assert page.status == 401 and "เข้าสู่ระบบ" in await page.text()


async def test_secure_cookie_behind_https(console: Harness) -> None:
    async with running_site(console, public_url="https://cercap.example.org") as (origin, http):
        await console.start("5")
        await console.type("เมนู")
        out = await console.type("🌐 เข้าเว็บไซต์")
        token = re.search(r"https://cercap\.example\.org/sign-in/([A-Za-z0-9_-]+)", out)
        assert token, out
        response = await sign_in(http, origin, token.group(1))
        assert SimpleCookie(response.headers["Set-Cookie"])[SESSION_COOKIE]["secure"] is True


# --- what each role may open ----------------------------------------------------------------

async def test_another_areas_page_is_403_and_each_role_sees_its_own(console: Harness) -> None:
    async with running_site(console) as (origin, http):
        async with http.get(f"{origin}/my/{TAMBON}/villages") as response:
            assert response.status == 401  # not signed in
        _, token = await ask_link(console, "3")  # the TAO of 350101
        await sign_in(http, origin, token)
        for page in ("submissions", "villages", "support", "exports"):
            async with http.get(f"{origin}/my/{TAMBON}/{page}") as response:
                assert response.status == 200, page
            async with http.get(f"{origin}/my/{OTHER_TAMBON}/{page}") as response:
                assert response.status == 403, page
        async with http.get(f"{origin}/my/{TAMBON}/review") as response:
            assert response.status == 403  # reviewing is the core team's, in chat too
        async with http.get(f"{origin}/my/99999999/villages") as response:
            assert response.status == 403  # unknown area: no hint that it does not exist
        async with http.get(f"{origin}/my/{TAMBON}/exports/summary.xlsx?days=30") as response:
            assert response.status == 200
            assert (await response.read()).startswith(b"PK")
        async with http.get(f"{origin}/my/{TAMBON}/exports/summary.csv") as response:
            assert (await response.read()).startswith(b"\xef\xbb\xbf")
        async with http.get(f"{origin}/my/{OTHER_TAMBON}/exports/summary.csv") as response:
            assert response.status == 403

    async with running_site(console) as (origin, http):
        _, token = await ask_link(console, "5")  # the viewer of province 35
        await sign_in(http, origin, token)
        async with http.get(f"{origin}/my/{OTHER_TAMBON}/villages") as response:
            assert response.status == 200  # inside the province
        async with http.get(f"{origin}/my/{TAMBON}/submissions") as response:
            assert response.status == 403  # a viewer has summaries and exports only
        async with http.get(f"{origin}/my/10/villages") as response:
            assert response.status == 403  # another province


async def test_support_request_timeline_shows_the_time_at_each_step(console: Harness) -> None:
    from tests.test_progress import _seed_plan

    await _seed_plan(console)
    async with console.db.transaction() as conn:
        request_id = await support_requests.create(
            conn, item_id=3, village_code="35010101", amount=40_000, purpose="ปูนและเหล็ก",
            person_id=1, now=console.clock.now())
        await support_requests.forward(conn, request_id, note="เกินวงเงิน", person_id=3,
                                       now=console.clock.now() + timedelta(days=2, hours=3))
        await support_requests.fund(conn, request_id, level="district", amount=30_000,
                                    person_id=4,
                                    now=console.clock.now() + timedelta(days=2, hours=5,
                                                                        minutes=30))
    console.clock.advance(timedelta(days=9))
    async with running_site(console) as (origin, http):
        _, token = await ask_link(console, "4")  # the district
        await sign_in(http, origin, token)
        async with http.get(f"{origin}/my/3501/support") as response:
            page = await response.text()
    assert "ข#1" in page and "ปูนและเหล็ก" in page and "ขอ 40,000 บาท" in page
    assert "ได้รับ 30,000 บาท" in page
    assert "อยู่ขั้นนี้ 2 วัน 3 ชั่วโมง" in page  # submitted, at the tambon
    assert "อยู่ขั้นนี้ 2 ชั่วโมง 30 นาที" in page  # forwarded, at the district
    assert "อยู่ขั้นนี้มาแล้ว" not in page  # funded: nothing is waiting
