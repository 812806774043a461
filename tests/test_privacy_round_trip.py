"""Personal data round trips on real data (PDPA s.30/s.31, s.33), through Telegram, LINE
and the console: a person joins (the notice), reports with a photo, asks for their data
(a JSON file and an Excel workbook arrive), asks for erasure in the chat, and an
administrator erases them with `cercap-bot people erase`: afterwards their name and
platform ids are nowhere in the database (SQLite: the bytes of its file and WAL;
PostgreSQL: every column of every row of every table, read back as text through SQL) or
the media folder, and every summary number is what it was. Each test runs on both engines."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import date
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
import pytest
from openpyxl import load_workbook

from bot import cli
from bot.config import Settings
from bot.console import ConsoleChat
from bot.my_data_export import MyDataExporter, chained
from bot.outbox_sender import OutboxSender
from bot.people_erase import erase
from bot.service import Service
from bot.summary_renderer import SummaryRenderer
from handlers.permissions import Role
from handlers.summaries import compute_summary
from handlers.summary_model import Period
from storage.db import Database
from tests.conftest import Harness, line_settings
from tests.servers.line_api import LineTestServer
from tests.servers.telegram_api import TelegramTestServer
from tests.test_line_channel import Person as LinePerson
from tests.test_telegram_channel import Person, issue_code, settings_for

NAME = "บุญเรือน ทดลองลบ"
TG_USER = 7431958206
LINE_USER = "U" + "5e" * 16
AREAS = ("35010102", "350101", "3501", "35")


async def summaries(db_path: Path | str) -> list[Any]:
    async with Database(db_path) as db, db.read() as conn:
        return [await compute_summary(conn, code, Period(date(2020, 1, 1), date(2030, 12, 31)),
                                      date(2030, 12, 31)) for code in AREAS]


async def person_of(db_path: Path | str, channel: str, user: str) -> int:
    async with Database(db_path) as db, db.read() as conn, conn.execute(
            "SELECT person_id FROM identities WHERE channel = ? AND platform_user_id = ?",
            (channel, user)) as cur:
        row = await cur.fetchone()
    assert row is not None and row[0] is not None
    return int(row[0])


def pg(request: pytest.FixtureRequest) -> Any:
    """The throwaway PostgreSQL server when the test runs on it, else None."""
    if request.getfixturevalue("db_engine") != "postgres":
        return None
    return request.getfixturevalue("pg_server")


def files_bytes(db_path: Path | str, media: Path) -> dict[str, bytes]:
    """The media folder's files (with their names), and on SQLite the database's file and
    WAL, byte for byte."""
    found: dict[str, bytes] = {}
    if isinstance(db_path, Path):
        found = {p.name: p.read_bytes() for p in (db_path, Path(f"{db_path}-wal"))
                 if p.exists()}
    for path in media.rglob("*"):
        if path.is_file():
            found[str(path)] = path.read_bytes() + str(path).encode()
    return found


async def rows_holding(db_path: Path | str, needle: str) -> dict[str, int]:
    """PostgreSQL: the tables with a row any of whose columns (whatever its type), read as
    text, holds `needle`; asked of the server's catalogue here, not storage's."""
    found: dict[str, int] = {}
    async with Database(db_path) as db, db.read() as conn:
        names = [r[0] for r in await conn.execute_fetchall(
            "SELECT table_name FROM information_schema.tables WHERE table_schema ="
            " current_schema() AND table_type = 'BASE TABLE'")]
        assert {"people", "identities", "problems", "outbox", "audit_log"} <= set(names)
        for name in names:
            rows = await conn.execute_fetchall(
                f'SELECT COUNT(*) FROM "{name}" AS r WHERE strpos(CAST(r AS text), ?) > 0',
                (needle,))
            if rows[0][0]:
                found[name] = int(rows[0][0])
    return found


def server_files(db_path: str, server: Any) -> dict[str, bytes]:
    """PostgreSQL: the files of the test's database in the server's data folder, after a
    CHECKPOINT (every page written out): the rows erasure's compact rewrote and the files
    it dropped (truncated at once, unlinked after the checkpoint)."""
    name = db_path.rsplit("/", 1)[1]
    with psycopg.connect(server.admin_url, autocommit=True) as admin:
        oid = admin.execute("SELECT oid FROM pg_database WHERE datname = %s",
                            (name,)).fetchone()[0]
        admin.execute("CHECKPOINT")
    folder = server.folder / "data" / "base" / str(oid)
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


async def assert_nowhere(db_path: Path | str, media: Path, *needles: str,
                         server: Any = None) -> None:
    """SQLite: nowhere in the database's file, its WAL or the media folder. PostgreSQL: in
    no row of any table, nowhere in the media folder, and (given the server) in none of
    the database's files."""
    found = files_bytes(db_path, media)
    if server is not None and not isinstance(db_path, Path):
        found |= server_files(db_path, server)
    for where, content in found.items():
        for needle in needles:
            assert needle.encode("utf-8") not in content, (needle, where)
    if not isinstance(db_path, Path):
        for needle in needles:
            assert await rows_holding(db_path, needle) == {}, needle


def check_copy(document: dict[str, Any], user: str, reported: bool = True) -> None:
    tables = document["tables"]
    assert document["format"] == "cercap-my-data" and document["notice_version"] == "1"
    assert tables["people"][0]["display_name"] == NAME
    assert user in {i["platform_user_id"] for i in tables["identities"]}
    assert {g["role"] for g in tables["role_grants"]} == {"village_committee"}
    assert not reported or "บ่อน้ำแห้ง" in tables["problems"][0]["description"]
    assert tables["notice_acceptances"][0]["version"] == "1"
    assert not any("token_hash" in row for rows in tables.values() for row in rows)


def check_workbook(data: bytes) -> None:
    book = load_workbook(io.BytesIO(data))
    assert {"people", "identities", "role_grants"} <= set(book.sheetnames)
    sheet = book["people"]
    headers = [c.value for c in sheet[1]]
    assert sheet.cell(2, headers.index("display_name") + 1).value == NAME


async def report_with_photo(person: Person, tg: TelegramTestServer) -> None:
    await person.press("รายงานปัญหา")
    await person.press("ภัยแล้ง/น้ำ")
    await person.send(f"บ่อน้ำแห้ง {NAME} แจ้งว่าไม่มีน้ำใช้")
    await person.send("45")
    await person.press("รุนแรง")
    await person.push(tg.photo_update(TG_USER, "photo-erase-1", content=b"\xff\xd8jpeg-x"))
    out = await person.press("✅ บันทึก")
    assert "บันทึกรายงานปัญหาแล้ว" in out


async def test_telegram_copy_then_request_then_cli_erasure(
        seeded_db_path: Path, tg: TelegramTestServer, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    media = tmp_path / "media"
    settings = settings_for(seeded_db_path, tg, media,
                            telegram_webhook_url="https://bot.example.org/telegram/webhook",
                            telegram_webhook_secret="s")
    async with Service(settings, background=False) as service:
        leader = Person(service, tg, TG_USER)
        code = await issue_code(seeded_db_path, Role.VILLAGE_COMMITTEE, "35010102")
        await leader.send(f"/start {code}")
        assert "ยินดีต้อนรับ" in await leader.send(NAME)
        await report_with_photo(leader, tg)
        before = await summaries(seeded_db_path)

        out = await leader.send("ข้อมูลของฉัน")
        assert "บอทเก็บข้อมูลของคุณไว้" in out
        sent = len(tg.calls_to("sendDocument"))
        out = await leader.press("📥 ส่งสำเนาข้อมูลของฉัน")
        assert "ภายในหนึ่งนาที" in out
        documents = [c for c in tg.calls_to("sendDocument")[sent:] if c.ok]
        names = [d.params["document"].filename for d in documents]
        assert [n.rsplit(".", 1)[1] for n in names] == ["json", "xlsx"]
        check_copy(json.loads(documents[0].params["document"].content), str(TG_USER))
        check_workbook(documents[1].params["document"].content)

        await leader.send("ข้อมูลของฉัน")
        await leader.press("🗑 ขอให้ลบข้อมูลของฉัน")
        out = await leader.press("🗑 ยืนยัน ขอให้ลบ")
        assert "บันทึกคำขอลบข้อมูลแล้ว (คำขอ #1)" in out
        assert "คณะกรรมการพัฒนาอำเภอ" in out  # the demo district member has a chat
        # The administrator erases while the bot runs (its connections hold the WAL open).
        async with service.app.db.read() as conn, conn.execute(
                "SELECT person_id FROM identities WHERE platform_user_id = ?",
                (str(TG_USER),)) as cur:
            person_id = (await cur.fetchone())[0]
        assert (media / "exports").is_dir() and any((media / "exports").iterdir())

        monkeypatch.setenv("CERCAP_DB", str(seeded_db_path))
        monkeypatch.setenv("CERCAP_MEDIA_DIR", str(media))
        lines: list[str] = []
        monkeypatch.setattr(cli, "_print", lines.append)
        assert await asyncio.to_thread(cli.main, ["people", "requests"]) == 0
        assert lines[0].startswith(f"#1\tperson {person_id}\ttelegram")
        lines.clear()
        assert await asyncio.to_thread(cli.main, [
            "people", "erase", str(person_id), "--yes", "--reason",
            "asked in the chat, request #1", "--by", "admin-somchai"]) == 0
        listing = "\n".join(lines)
        assert f"identity removed: telegram {TG_USER}" in listing
        assert "role removed: village_committee 35010102" in listing
        assert "photos deleted: 1" in listing and "problems.description (1 rows)" in listing
        assert ("kept as the village's records, attributed to 'อดีตกรรมการหมู่บ้าน':"
                " problems 1") in listing
        assert "still found" not in listing

        await assert_nowhere(seeded_db_path, media, NAME, *NAME.split(), str(TG_USER),
                             "photo-erase-1", server=pg(request))
    assert await summaries(seeded_db_path) == before
    async with Database(seeded_db_path) as db, db.read() as conn:
        async with conn.execute("SELECT description, photo_ref FROM problems WHERE"
                                " reporter_id = ?", (person_id,)) as cur:
            description, photo = await cur.fetchone()
        async with conn.execute("SELECT reason, detail FROM audit_log WHERE action ="
                                " 'person.erase'") as cur:
            reason, detail = await cur.fetchone()
        async with conn.execute("SELECT display_name, erased_at FROM people WHERE id = ?",
                                (person_id,)) as cur:
            shown, erased_at = await cur.fetchone()
        async with conn.execute("SELECT status FROM erasure_requests") as cur:
            assert [r[0] for r in await cur.fetchall()] == ["done"]
    assert description == "บ่อน้ำแห้ง อดีตกรรมการหมู่บ้าน แจ้งว่าไม่มีน้ำใช้" and photo is None
    assert reason == "asked in the chat, request #1"
    assert json.loads(detail)["by"] == "admin-somchai"
    assert shown == "อดีตกรรมการหมู่บ้าน" and erased_at

    # Coming back, the erased person is a stranger: asked for an invite code.
    async with Service(settings, background=False) as service:
        out = await Person(service, tg, TG_USER).send("สวัสดี")
    assert "รหัสเชิญ" in out


async def test_without_yes_the_terminal_asks_and_no_means_nothing_changes(
        seeded_db_path: Path, tmp_path: Path) -> None:
    settings = Settings(db_path=seeded_db_path, media_dir=tmp_path / "m", telegram_token=None,
                        telegram_bot_username=None, log_level="INFO")
    lines: list[str] = []
    asked: list[str] = []

    def no(question: str) -> str:
        asked.append(question)
        return "no"

    assert await erase(settings, 1, yes=False, reason=None, by="x", out=lines.append,
                       ask=no, interactive=True) == 1
    assert asked and lines[-1] == "nothing changed"
    with pytest.raises(ValueError, match="--yes"):
        await erase(settings, 1, yes=False, reason=None, by="x", out=lines.append,
                    interactive=False)
    async with Database(seeded_db_path) as db, db.read() as conn, conn.execute(
            "SELECT display_name, erased_at FROM people WHERE id = 1") as cur:
        name, erased_at = await cur.fetchone()
    assert name.startswith("สมศรี") and erased_at is None
    with pytest.raises(ValueError, match="no person 999"):
        await erase(settings, 999, yes=True, reason=None, by="x", out=lines.append)


async def test_line_copy_by_signed_link_then_erasure(
        seeded_db_path: Path, line: LineTestServer, tmp_path: Path,
        request: pytest.FixtureRequest) -> None:
    media = tmp_path / "media"
    settings = line_settings(seeded_db_path, line, media, public_url="https://bot.example.org")
    async with Service(settings) as service:
        leader = LinePerson(service, line, LINE_USER)
        out = await leader.send(await issue_code(seeded_db_path, Role.VILLAGE_COMMITTEE,
                                                 "35010102"))
        assert "https://bot.example.org/privacy" in out  # the notice links the full text
        await leader.send(NAME)
        await leader.send("ข้อมูลของฉัน")
        await leader.press("📥 ส่งสำเนาข้อมูลของฉัน")

        def links() -> list[str]:
            return [w for m in leader.messages() if m["type"] == "text"
                    for w in m["text"].split() if "/media/exports/my-data-" in w]

        await line.wait_for(lambda: len(links()) == 2, what="two download links")
        local = f"http://127.0.0.1:{service.web.bound_port}"
        async with aiohttp.ClientSession() as http:
            async with http.get(links()[0].replace("https://bot.example.org", local)) as got:
                assert got.status == 200
                check_copy(json.loads(await got.read()), LINE_USER, reported=False)
            async with http.get(links()[1].replace("https://bot.example.org", local)) as got:
                check_workbook(await got.read())
            async with http.get(f"{local}/privacy") as page:
                assert page.status == 200 and "ประกาศความเป็นส่วนตัว" in await page.text()
        before = await summaries(seeded_db_path)
    person_id = await person_of(seeded_db_path, "line", LINE_USER)
    assert await erase(settings, person_id, yes=True, reason="asked by phone", by="admin",
                       out=lambda _: None) == 0
    await assert_nowhere(seeded_db_path, media, NAME, *NAME.split(), LINE_USER,
                         server=pg(request))
    assert await summaries(seeded_db_path) == before


async def test_console_copy_and_erasure_of_a_demo_person(
        console: Harness, request: pytest.FixtureRequest) -> None:
    db, media = console.db, console.media_dir
    sender = OutboxSender(db, [console.screen], console.clock, prepare=chained(
        MyDataExporter(db, media, console.clock).prepare,
        SummaryRenderer(db, media, console.clock).prepare))
    console.engine.on_enqueued(sender.wake)
    console.sender, console.chat = sender, ConsoleChat(db, console.engine, sender,
                                                       console.screen)
    await console.start("1")
    out = await console.type("ข้อมูลของฉัน")
    assert "บอทเก็บข้อมูลของคุณไว้" in out
    out = await console.type("📥 ส่งสำเนาข้อมูลของฉัน")
    shown = [line.strip().removeprefix("📎 ") for line in out.splitlines()
             if line.strip().startswith("📎 exports/")]
    assert [s.rsplit(".", 1)[1] for s in shown] == ["json", "xlsx"]
    document = json.loads((media / shown[0]).read_text("utf-8"))
    name = document["tables"]["people"][0]["display_name"]
    assert name.startswith("สมศรี ใจดี")
    check_workbook_rows = load_workbook(media / shown[1])
    assert "people" in check_workbook_rows.sheetnames
    person_id = document["person_id"]
    path = db.path  # the file, or on PostgreSQL the URL
    before = await summaries(path)
    settings = Settings(db_path=path, media_dir=media, telegram_token=None,
                        telegram_bot_username=None, log_level="INFO")
    assert await erase(settings, person_id, yes=True, reason=None, by="admin",
                       out=lambda _: None) == 0
    assert await summaries(path) == before
    assert not list((media / "exports").glob(f"my-data-{person_id}-*"))
    # "ใจดี" is also a tambon's name (330503): the areas are not about people and stay.
    await assert_nowhere(path, media, name, "สมศรี", server=pg(request))
