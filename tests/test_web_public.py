"""The public web site (issue 15) on a real SQLite file with a known fixture: every page
answers, its numbers are the fixture's, drill-down links and breadcrumbs, open data
(CSV with BOM, JSON), the page cache follows every write, and the privacy crawl: no stored
name, chat identity, description, note or unpublished story anywhere on the public site.

The same pages in a real browser: tests/test_web_public_browser.py."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import aiohttp
import pytest

from bot.web import WebServer
from bot.web.site import register
from handlers.clock import FixedClock
from storage import areas, people
from storage.db import Database
from storage.timestamps import to_db

NOW = datetime(2025, 1, 10, 3, 0, tzinfo=UTC)  # 10 Jan 2568, 10:00 in Bangkok

SECRET_NAME = "นายสมชาย ลับเฉพาะ"
SECRET_USER = "tg-secret-8812"
SECRETS = [SECRET_NAME, SECRET_USER, "คำบรรยายลับ", "บันทึกลับของเวที", "หมายเหตุลับ",
           "วัตถุประสงค์ลับ", "ได้ผลลับ", "ไม่ได้ผลลับ", "ขั้นต่อไปลับ", "ยังไม่เผยแพร่ลับ",
           "ผู้รับผิดชอบลับ", "secret-photo.jpg"]
VILLAGES = {"35010101": "บ้านทดสอบหนึ่ง", "35010102": "บ้านทดสอบสอง",
            "35010103": "บ้านเงียบสาม", "50010101": "บ้านเหนือสี่", "50010102": "บ้านเหนือห้า"}
SILENT_NAME = "บ้านเงียบสาม"
STORY_TITLE = "สระน้ำของหมู่บ้านช่วยยามแล้ง"


def at(day: str, hour: int = 10) -> str:
    """A Bangkok day and hour as the stored UTC instant."""
    return to_db(datetime.fromisoformat(f"{day}T{hour:02d}:00:00+07:00"))


async def build_fixture(db: Database) -> None:
    """Five villages in two provinces (35 Yasothon, 50 Chiang Mai) and one of everything.
    In the last 3 months up to 10 Jan 2025 (Nov 2024 - Jan 2025): 4 problems, 45
    households (drought 12 + 8, debt 5, health 20); 1 forum; 1 plan; 1 progress update;
    1 lessons; 1 item done with a confirmed outcome (solved, 12 households helped); a
    funded request of 50,000 (30,000 granted) for an item with 2,000 own money. One more
    problem (100 households) in June 2024: only in the last 12 months."""
    async with db.transaction() as conn:
        for code, name in VILLAGES.items():
            await areas.add_village(conn, code[:6], int(code[6:]), name, f"Ban {code}")
        person = await people.create_person(conn, SECRET_NAME, "th", NOW)
        identity = await people.ensure_identity(conn, "telegram", SECRET_USER, SECRET_USER, NOW)
        await people.link_identity(conn, identity.id, person)

        async def problem(village: str, category: str, households: int, day: str,
                          lat: float | None = None, lon: float | None = None) -> None:
            await conn.execute(
                "INSERT INTO problems (village_code, category, description, households,"
                " severity, photo_ref, latitude, longitude, reporter_id, created_at)"
                " VALUES (?, ?, ?, ?, 2, 'secret-photo.jpg', ?, ?, ?, ?)",
                (village, category, f"คำบรรยายลับ {village} {day}", households, lat, lon,
                 person, at(day)))

        await problem("35010101", "water", 12, "2024-12-05", 15.794123, 104.145034)
        await problem("35010101", "debt", 5, "2024-12-20")
        await problem("35010102", "water", 8, "2025-01-03", 15.80001, 104.2)
        await problem("50010101", "health", 20, "2024-11-15", 18.79, 98.98)
        await problem("50010102", "food", 100, "2024-06-01", 18.8, 99.0)
        await conn.execute(
            "INSERT INTO forums (village_code, held_on, participants, notes, reporter_id,"
            " created_at) VALUES ('35010101', '2024-12-10', 30, 'บันทึกลับของเวที', ?, ?)",
            (person, at("2024-12-10")))
        plan = (await (await conn.execute(
            "INSERT INTO plans (village_code, period_start, period_end, created_by, created_at)"
            " VALUES ('35010101', '2024-12-01', '2025-05-31', ?, ?) RETURNING id",
            (person, at("2024-12-10")))).fetchone())[0]

        async def item(title: str, approach: str, own: int, status: str, percent: int,
                       solved: str | None = None, helped: int | None = None,
                       confirmed: str | None = None) -> int:
            row = await (await conn.execute(
                "INSERT INTO plan_items (plan_id, village_code, title, approach, own_money,"
                " start_on, end_on, responsible, status, percent, outcome_solved,"
                " households_helped, outcome_confirmed_at, created_by, created_at, updated_at)"
                " VALUES (?, '35010101', ?, ?, ?, '2024-12-01', '2025-03-31', 'ผู้รับผิดชอบลับ',"
                " ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (plan, title, approach, own, status, percent, solved, helped, confirmed,
                 person, at("2024-12-10"), at("2025-01-05")))).fetchone()
            return int(row[0])

        pond = await item("ขุดสระเก็บน้ำ", "self_reliance", 15000, "done", 100, "yes", 12,
                          at("2025-01-05"))
        fund = await item("กองทุนหมุนเวียน", "external_support", 2000, "in_progress", 40)
        await conn.execute(
            "INSERT INTO progress_updates (item_id, village_code, status, percent, note,"
            " reporter_id, created_at) VALUES (?, '35010101', 'done', 100, 'หมายเหตุลับ', ?, ?)",
            (pond, person, at("2025-01-04")))
        await conn.execute(
            "INSERT INTO support_requests (item_id, village_code, amount_requested, purpose,"
            " status, amount_granted, created_by, created_at, updated_at)"
            " VALUES (?, '35010101', 50000, 'วัตถุประสงค์ลับ', 'funded', 30000, ?, ?, ?)",
            (fund, person, at("2024-12-22"), at("2024-12-23")))
        await conn.execute(
            "INSERT INTO lessons (plan_id, village_code, what_worked, what_did_not, next_steps,"
            " created_by, created_at) VALUES (?, '35010101', 'ได้ผลลับ', 'ไม่ได้ผลลับ',"
            " 'ขั้นต่อไปลับ', ?, ?)", (plan, person, at("2025-01-06")))
        for item_id, status, title, published in (
                (pond, "published", STORY_TITLE, at("2025-01-07")),
                (fund, "proposed", "ยังไม่เผยแพร่ลับ", None)):
            await conn.execute(
                "INSERT INTO stories (item_id, village_code, category, status, proposed_by,"
                " proposed_at, title, approach, outcome, households_helped, what_worked,"
                " published_at, updated_at) VALUES (?, '35010101', 'water', ?, ?, ?, ?,"
                " 'self_reliance', 'yes', 12, 'ชาวบ้านลงแรงขุดสระร่วมกัน', ?, ?)",
                (item_id, status, person, at("2025-01-06"), title, published,
                 at("2025-01-07")))


@dataclass
class RunningSite:
    db: Database
    origin: str
    clock: FixedClock


@pytest.fixture
async def site(db_path: Path) -> AsyncIterator[RunningSite]:
    async with Database(db_path) as db:
        await build_fixture(db)
        clock = FixedClock(NOW)
        server = WebServer("127.0.0.1", 0)
        register(server, db, clock=clock)
        await server.start()
        try:
            yield RunningSite(db, f"http://127.0.0.1:{server.bound_port}", clock)
        finally:
            await server.stop()


async def get(url: str) -> tuple[int, str, bytes]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, response.headers.get("Content-Type", ""), await response.read()


def numbers(html: str) -> dict[str, int]:
    """The tiles' numbers: data-number="key">1,234<."""
    return {k: int(v.replace(",", "")) for k, v in
            re.findall(r'data-number="([a-z_]+)">([\d,]+)<', html)}


def cells(html: str, table: str, code: str) -> dict[str, str]:
    """The data cells of one row (by area code) of one table."""
    part = html.split(f'data-table="{table}"', 1)[1].split("</table>", 1)[0]
    row = part.split(f'data-code="{code}"', 1)[1].split("</tr>", 1)[0]
    return dict(re.findall(r'data-col="([a-z_]+)">([^<]*)<', row))


PUBLIC_PAGES = ["/", "/status", "/impact", "/results", "/map", "/data"]


async def test_every_public_page_answers_in_thai_and_english(site: RunningSite) -> None:
    for path in PUBLIC_PAGES:
        for query, lang in (("", "th"), ("?lang=en", "en")):
            status, kind, body = await get(site.origin + path + query)
            assert status == 200 and kind.startswith("text/html"), path
            assert f'<html lang="{lang}">' in body.decode()
    assert (await get(site.origin + "/status/99999999"))[0] == 404
    assert (await get(site.origin + "/status/not-a-code"))[0] == 404


async def test_home_shows_the_fixture_numbers(site: RunningSite) -> None:
    html = (await get(site.origin + "/"))[2].decode()
    assert numbers(html) == {"active": 3, "problems": 4, "households": 45, "items_done": 1,
                             "confirmed": 1, "households_helped": 12}
    assert STORY_TITLE in html  # the latest published success
    twelve = (await get(site.origin + "/?period=12months"))[2].decode()
    assert numbers(twelve)["problems"] == 5 and numbers(twelve)["households"] == 145


async def test_status_funnel_and_drill_down_with_breadcrumbs(site: RunningSite) -> None:
    html = (await get(site.origin + "/status"))[2].decode()
    assert numbers(html) == {"villages": 5, "active": 3, "silent": 3}
    # Nation -> learning network -> province -> district -> tambon -> village, by links.
    path, trail = "/status", []
    network = (await site.db.conn.execute_fetchall(
        "SELECT parent_code FROM areas WHERE code = '35'"))[0][0]
    for code in (network, "35", "3501", "350101", "35010101"):
        html = (await get(site.origin + path))[2].decode()
        links = re.findall(r'<td><a href="(/status/([A-Z0-9]+))">', html)
        target = next(href for href, c in links if c == code)
        trail.append(target)
        path = target
    html = (await get(site.origin + path))[2].decode()
    crumbs = html.split('class="breadcrumbs"', 1)[1].split("</nav>", 1)[0]
    assert re.findall(r'href="(/status/[A-Z0-9]+)"', crumbs) == ["/status/TH", *trail[:-1]]
    assert 'aria-current="page">หมู่ที่ 1' in crumbs
    tambon = (await get(site.origin + "/status/350101"))[2].decode()
    row = cells(tambon, "areas", "35010101")
    assert (row["villages"], row["forum"], row["plan"], row["progress"], row["lessons"],
            row["silent"]) == ("1", "1", "1", "1", "1", "0")
    assert cells(tambon, "areas", "35010103")["silent"] == "1"


async def test_silent_villages_are_named_at_tambon_level_only(site: RunningSite) -> None:
    tambon = (await get(site.origin + "/status/350101"))[2].decode()
    assert SILENT_NAME in tambon.split('data-table="silent_villages"', 1)[1]
    for code in ("TH", "35", "3501"):
        status, _, body = await get(site.origin + f"/status/{code}")
        assert status == 200
        assert SILENT_NAME not in body.decode(), code


async def test_impact_and_results_numbers(site: RunningSite) -> None:
    impact = (await get(site.origin + "/impact/35"))[2].decode()
    assert numbers(impact) == {"problems": 3, "households": 25}
    assert cells(impact, "areas", "3501")["problems"] == "3"
    results = (await get(site.origin + "/results"))[2].decode()
    assert numbers(results) == {"items_done": 1, "confirmed": 1, "households_helped": 12}
    money = results.split('data-table="money"', 1)[1].split("</table>", 1)[0]
    assert [v for _, v in re.findall(r'data-col="(baht)">([^<]*)<', money)] == [
        "2,000", "30,000", "50,000"]
    assert STORY_TITLE in results and 'data-story="' in results


async def test_open_data_csv_with_bom_and_json(site: RunningSite) -> None:
    status, kind, body = await get(site.origin + "/data/impact/TH/categories.csv")
    assert status == 200 and kind.startswith("text/csv")
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    assert {r["category"]: (r["problems"], r["households"]) for r in rows} == {
        "water": ("2", "20"), "health": ("1", "20"), "debt": ("1", "5")}
    assert rows[0]["category_th"]
    status, kind, body = await get(site.origin + "/data/status/350101.json?period=12months")
    data = json.loads(body)
    assert data["period"] == {"kind": "12months", "start": "2024-02-01", "end": "2025-01-10"}
    overview = data["tables"]["overview"]["rows"][0]
    assert (overview["code"], overview["villages"], overview["forum"]) == ("350101", 3, 1)
    assert all(c["description"] for c in data["tables"]["areas"]["columns"])
    assert (await get(site.origin + "/data/impact/TH/nothing.csv"))[0] == 404
    markers = json.loads((await get(site.origin + "/data/map/TH.json"))[2])["markers"]
    assert sorted((m["lat"], m["lon"]) for m in markers) == [
        (15.794, 104.145), (15.8, 104.2), (18.79, 98.98)]


async def test_a_write_shows_on_the_next_request(site: RunningSite) -> None:
    assert numbers((await get(site.origin + "/"))[2].decode())["problems"] == 4
    async with site.db.transaction() as conn:
        await conn.execute(
            "INSERT INTO problems (village_code, category, description, households, severity,"
            " reporter_id, created_at) VALUES ('50010102', 'jobs', 'คำบรรยายลับ ใหม่', 7, 1,"
            " 1, ?)", (at("2025-01-09"),))
    html = (await get(site.origin + "/"))[2].decode()
    assert (numbers(html)["problems"], numbers(html)["households"]) == (5, 52)


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value and name in ("href", "src", "data-markers"):
                self.links.append(value)


async def crawl(origin: str, limit: int = 400) -> dict[str, bytes]:
    """Every same-site page, file and data link reachable from the home page."""
    seen: dict[str, bytes] = {}
    queue = ["/", "/?lang=en", "/data"]
    async with aiohttp.ClientSession() as session:
        while queue and len(seen) < limit:
            path = queue.pop(0)
            if path in seen:
                continue
            async with session.get(origin + path) as response:
                assert response.status == 200, path
                body = await response.read()
            seen[path] = body
            if "text/html" not in response.headers.get("Content-Type", ""):
                continue
            parser = Links()
            parser.feed(body.decode())
            for link in parser.links:
                url = urlsplit(urljoin(origin + path, link))
                if f"{url.scheme}://{url.netloc}" != origin or url.path.startswith(
                        ("/static/", "/stories/")):
                    continue
                target = url.path + (f"?{url.query}" if url.query else "")
                if target not in seen:
                    queue.append(target)
    return seen


async def test_privacy_crawl_finds_no_stored_name_or_description(site: RunningSite) -> None:
    pages = await crawl(site.origin)
    assert len(pages) > 40, sorted(pages)
    kinds = {p.split("?")[0].rsplit(".", 1)[-1] for p in pages if "." in p.split("?")[0]}
    assert {"csv", "json"} <= kinds
    leaks = {(path, secret) for path, body in pages.items()
             for secret in SECRETS if secret in body.decode("utf-8-sig")}
    assert leaks == set()
    assert any(STORY_TITLE in body.decode("utf-8-sig") for body in pages.values())


def test_browser_tests_skip_outside_ci_and_fail_in_ci(monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    from tests import browser

    monkeypatch.setattr(browser, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install -y chromium"):
        browser.require_browser()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        browser.require_browser()
