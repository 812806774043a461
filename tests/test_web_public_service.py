"""The web site as the real Service serves it (bot/service.py gives the site its media
folder and signed media links): a signed-in core team sees a submission's photo through
its signed link, and a published story's photo loads; the Results Monitor links the story
to /stories/<id> and every page announces the Atom feed."""

from __future__ import annotations

import re
import socket
from dataclasses import replace
from datetime import date
from pathlib import Path

import aiohttp

from bot.service import Service
from handlers.clock import SystemClock
from storage import problems, sign_in, stories
from storage.db import Database
from tests.servers.telegram_api import TelegramTestServer
from tests.test_summaries import _item, _plan
from tests.test_telegram_channel import settings_for

TAMBON = "350101"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _data(db_path: Path, media: Path) -> tuple[str, int]:
    """A problem with a photo and a published story with another, in the demo tambon;
    returns (a core team member's sign-in token, the story's id)."""
    (media / "reports").mkdir(parents=True)
    (media / "reports" / "flood.jpg").write_bytes(b"\xff\xd8\xff\xe0 flood photo")
    (media / "reports" / "weir.jpg").write_bytes(b"\xff\xd8\xff\xe0 weir photo")
    now = SystemClock().now()
    async with Database(db_path) as db, db.transaction() as conn:
        village, person = (await conn.execute_fetchall(
            "SELECT a.code, g.person_id FROM areas a, role_grants g WHERE a.parent_code = ?"
            " AND g.role = 'core_team' AND g.area_code = ? ORDER BY a.code LIMIT 1",
            (TAMBON, TAMBON)))[0]
        await problems.insert(conn, village_code=village, category="water",
                              description="น้ำท่วมถนน", households=3, severity=2,
                              photo_ref="reports/flood.jpg", photo_platform_id=None,
                              latitude=None, longitude=None, reporter_id=person, now=now)
        plan = await _plan(conn, village, date(2025, 1, 1), date(2025, 12, 31), now)
        item = await _item(conn, plan, village, "self_reliance", date(2025, 1, 1),
                           date(2025, 6, 30), now)
        story = await stories.propose(conn, item_id=item, village_code=village,
                                      category="water", person_id=person, now=now)
        assert story is not None
        assert await stories.publish(
            conn, story, person_id=person, title="ฝายชะลอน้ำของหมู่บ้าน",
            approach="self_reliance", outcome="yes", households_helped=12,
            what_worked="ช่วยกันสร้างฝาย", photo_ref="reports/weir.jpg", now=now)
        token = await sign_in.create_link(conn, person, now)
    return token, story


async def test_the_service_serves_submission_and_story_photos(
        seeded_db_path: Path, tg: TelegramTestServer, tmp_path: Path) -> None:
    media = tmp_path / "media"
    token, story = await _data(seeded_db_path, media)
    port = _free_port()
    origin = f"http://127.0.0.1:{port}"
    settings = replace(settings_for(seeded_db_path, tg, media), http_port=port,
                       public_url=origin, media_secret="test media secret")
    async with Service(settings, background=False), aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(f"{origin}/results") as response:
            page = await response.text()
        assert f'href="/stories/{story}"' in page
        assert '<link rel="alternate" type="application/atom+xml" href="/feed.atom"' in page
        async with http.get(f"{origin}/stories/{story}/photo") as response:
            assert response.status == 200 and b"weir photo" in await response.read()

        async with http.post(f"{origin}/sign-in/{token}", allow_redirects=True) as response:
            assert response.status == 200
        async with http.get(f"{origin}/my/{TAMBON}/submissions") as response:
            assert response.status == 200
            html = await response.text()
        photos = re.findall(r'<img[^>]+src="([^"]+)"', html)
        assert photos, html
        async with http.get(photos[0].replace("&amp;", "&")) as response:
            assert response.status == 200 and b"flood photo" in await response.read()
