"""A problem report in at most six inputs (issue 13), counting every tap and every typed
answer from the first message to the saved screen, on the console and through the real
Telegram and LINE adapters against their local test servers.

The walker does not follow a script: it reads each question the bot asks and gives the
quickest answer it offers (a button where there is one), so the count is what the bot's
questions allow. The shortest path: the problem typed at the menu (1), its suggested
category confirmed (2), households tapped (3), severity (4), "skip" at the photo/location
question (5), save (6). From a photo at the menu: the photo (1), the problem typed at the
category question (2), its category confirmed (3), households (4), severity (5), save (6):
the photo/location question is not asked when a photo is attached."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.service import Service
from handlers.permissions import Role
from storage.db import Database
from tests.conftest import Harness, line_settings
from tests.servers.line_api import LineTestServer
from tests.servers.telegram_api import TelegramTestServer
from tests.test_line_channel import Person as LinePerson
from tests.test_line_channel import _choices
from tests.test_telegram_channel import Person as TelegramPerson
from tests.test_telegram_channel import _join, issue_code, webhook_service

MAX_INPUTS = 6
PROBLEM = "น้ำท่วมหมู่บ้านหนักมาก นาข้าวเสียหาย ช่วยด้วย"
SAVED = "บันทึกรายงานปัญหาแล้ว"
VILLAGE_2 = "35010102"
NUMBERED, LABELLED = re.compile(r"^\[\d+\] (.+)$"), re.compile(r"\[([^\]]+)\]")

# (words of the question, the quickest answer: ("tap", label start) or ("type", text)).
QUICKEST = (
    ("ดูเหมือนเป็นปัญหา", ("tap", "ใช่ ")),
    ("ปัญหาเรื่องอะไร", ("type", PROBLEM)),  # typing the problem gives the category too
    ("เล่าปัญหาสั้น", ("type", PROBLEM)),
    ("กี่ครัวเรือน", ("tap", "20 ครัวเรือน")),
    ("รุนแรงแค่ไหน", ("tap", "รุนแรง")),
    ("ส่งรูปถ่าย หรือแชร์ตำแหน่ง", ("tap", "ข้าม")),
    ("ตรวจสอบก่อนบันทึก", ("tap", "✅ บันทึก")),
)


class Channel:
    """One person on one channel: send text, tap a button (by the start of its label),
    send a photo; each returns what the bot answered."""

    async def send(self, text: str) -> str:
        raise NotImplementedError

    async def tap(self, label: str) -> str:
        raise NotImplementedError

    async def photo(self) -> str:
        raise NotImplementedError

    def labels(self) -> list[str]:
        raise NotImplementedError

    def _label(self, start: str) -> str:
        found = [label for label in self.labels() if label.startswith(start)]
        assert found, f"no button {start!r} in {self.labels()}"
        return found[0]


async def walk(person: Channel, first: Callable[[], Awaitable[str]]) -> int:
    """From the first message to the saved screen, the quickest answer to each question;
    returns the inputs it took (failing once past MAX_INPUTS)."""
    out = await first()
    inputs = 1
    while SAVED not in out:
        assert inputs < MAX_INPUTS, f"not saved after {inputs} inputs; last seen: {out}"
        question = out.rsplit("\n\n", 1)[-1] if "\n\n" in out else out
        how = next((answer for words, answer in QUICKEST if words in question), None)
        assert how is not None, f"a question the walk does not know: {out}"
        kind, value = how
        out = await (person.tap(value) if kind == "tap" else person.send(value))
        inputs += 1
    return inputs


# --- the console ---------------------------------------------------------------------------------

class ConsoleScreen(Channel):
    """The console, remembering the labels of the last buttons it printed."""

    def __init__(self, harness: Harness) -> None:
        self.harness = harness
        self.shown: list[str] = []

    async def send(self, text: str) -> str:
        return self._remember(await self.harness.type(text))

    async def tap(self, label: str) -> str:
        return self._remember(await self.harness.type(self._label(label)))

    async def photo(self) -> str:
        return self._remember(await self.harness.type("/photo media/flood.jpg"))

    def labels(self) -> list[str]:
        return self.shown

    def _remember(self, out: str) -> str:
        shown: list[str] = []
        for line in out.splitlines():
            numbered = NUMBERED.match(line.strip())  # "[3] รุนแรง"
            if numbered:
                shown.append(numbered.group(1))
            elif line.strip().startswith("["):  # "[5 ครัวเรือน]  [10 ครัวเรือน]"
                shown += LABELLED.findall(line)
        if shown:
            self.shown = shown
        return out


async def _saved_row(db: Database) -> tuple[Any, ...]:
    async with db.read() as conn, conn.execute(
            "SELECT category, description, households, severity, photo_ref FROM problems") as cur:
        rows = await cur.fetchall()
    assert len(rows) == 1
    return tuple(rows[0])


async def test_console_from_a_description_at_the_menu(console: Harness) -> None:
    await console.start("1")
    person = ConsoleScreen(console)
    inputs = await walk(person, lambda: person.send(PROBLEM))
    assert inputs <= MAX_INPUTS
    assert await _saved_row(console.db) == ("flood", PROBLEM, 20, 3, None)


async def test_console_from_a_photo_at_the_menu(console: Harness) -> None:
    await console.start("1")
    person = ConsoleScreen(console)
    inputs = await walk(person, person.photo)
    assert inputs <= MAX_INPUTS
    assert await _saved_row(console.db) == ("flood", PROBLEM, 20, 3, "media/flood.jpg")


async def test_console_from_the_menu_button_takes_one_more(console: Harness) -> None:
    await console.start("1")
    person = ConsoleScreen(console)
    await person.send("เมนู")
    out = await person.tap("รายงานปัญหา")
    assert "ปัญหาเรื่องอะไร" in out
    inputs = 1 + await walk(person, lambda: person.send(PROBLEM))
    assert inputs <= MAX_INPUTS + 1  # was 8 before issue 13


# --- Telegram -------------------------------------------------------------------------------------

LEADER_TG = 3201


@pytest.fixture
async def tg_service(seeded_db_path: Path, tg: TelegramTestServer, tmp_path: Path
                     ) -> AsyncIterator[Service]:
    async with webhook_service(seeded_db_path, tg, tmp_path / "media") as running:
        yield running


class Telegram(Channel):
    def __init__(self, person: TelegramPerson) -> None:
        self.person = person

    async def send(self, text: str) -> str:
        return await self.person.send(text)

    async def tap(self, label: str) -> str:
        label = self._label(label)
        if label in self.person.buttons():
            return await self.person.press(label)
        return await self.person.send(label)  # a reply keyboard's button sends its label

    async def photo(self) -> str:
        server = self.person.server
        return await self.person.push(server.photo_update(self.person.user_id, "walk-photo",
                                                          content=b"\xff\xd8walk"))

    def labels(self) -> list[str]:
        last = self.person.server.sent_messages(self.person.user_id)[-1]
        markup = last.get("reply_markup") or {}
        inline = [b["text"] for row in markup.get("inline_keyboard", []) for b in row]
        keyboard = [b["text"] for row in markup.get("keyboard", []) for b in row]
        return inline + keyboard


async def _telegram(service: Service, tg: TelegramTestServer, db_path: Path) -> Telegram:
    person = TelegramPerson(service, tg, LEADER_TG)
    await _join(person, await issue_code(db_path, Role.VILLAGE_COMMITTEE, VILLAGE_2), "บุญมี")
    return Telegram(person)


async def test_telegram_from_a_description_at_the_menu(
        tg_service: Service, tg: TelegramTestServer, seeded_db_path: Path) -> None:
    person = await _telegram(tg_service, tg, seeded_db_path)
    inputs = await walk(person, lambda: person.send(PROBLEM))
    assert inputs <= MAX_INPUTS
    async with Database(seeded_db_path) as db:
        assert await _saved_row(db) == ("flood", PROBLEM, 20, 3, None)


async def test_telegram_from_a_photo_at_the_menu(
        tg_service: Service, tg: TelegramTestServer, seeded_db_path: Path,
        tmp_path: Path) -> None:
    person = await _telegram(tg_service, tg, seeded_db_path)
    inputs = await walk(person, person.photo)
    assert inputs <= MAX_INPUTS
    async with Database(seeded_db_path) as db:
        row = await _saved_row(db)
    assert row[:4] == ("flood", PROBLEM, 20, 3)
    assert (tmp_path / "media" / row[4]).read_bytes() == b"\xff\xd8walk"


# --- LINE ----------------------------------------------------------------------------------------

LEADER_LINE = "U" + "d" * 32


@pytest.fixture
async def line_service(seeded_db_path: Path, line: LineTestServer, tmp_path: Path
                       ) -> AsyncIterator[Service]:
    async with Service(line_settings(seeded_db_path, line, tmp_path / "media")) as running:
        yield running


class Line(Channel):
    def __init__(self, person: LinePerson) -> None:
        self.person = person

    async def send(self, text: str) -> str:
        return await self.person.send(text)

    async def tap(self, label: str) -> str:
        return await self.person.press(self._label(label))

    async def photo(self) -> str:
        server = self.person.server
        return await self.person.post(server.image_event(self.person.user_id, "990001",
                                                         data=b"\xff\xd8line-walk"))

    def labels(self) -> list[str]:
        return list(_choices(self.person.messages()[-1]))


async def _line(service: Service, line: LineTestServer, db_path: Path) -> Line:
    person = LinePerson(service, line, LEADER_LINE)
    await person.send(await issue_code(db_path, Role.VILLAGE_COMMITTEE, VILLAGE_2))
    await person.send("บุญมี ศรีสุข")
    return Line(person)


async def test_line_from_a_description_at_the_menu(
        line_service: Service, line: LineTestServer, seeded_db_path: Path) -> None:
    person = await _line(line_service, line, seeded_db_path)
    inputs = await walk(person, lambda: person.send(PROBLEM))
    assert inputs <= MAX_INPUTS
    async with Database(seeded_db_path) as db:
        assert await _saved_row(db) == ("flood", PROBLEM, 20, 3, None)


async def test_line_from_a_photo_at_the_menu(
        line_service: Service, line: LineTestServer, seeded_db_path: Path,
        tmp_path: Path) -> None:
    person = await _line(line_service, line, seeded_db_path)
    inputs = await walk(person, person.photo)
    assert inputs <= MAX_INPUTS
    async with Database(seeded_db_path) as db:
        row = await _saved_row(db)
    assert row[:4] == ("flood", PROBLEM, 20, 3)
    assert (tmp_path / "media" / row[4]).read_bytes() == b"\xff\xd8line-walk"


async def test_line_the_photo_and_location_question_offers_both(
        line_service: Service, line: LineTestServer, seeded_db_path: Path) -> None:
    person = await _line(line_service, line, seeded_db_path)
    await person.send(PROBLEM)
    await person.tap("ใช่ ")
    await person.tap("20 ครัวเรือน")
    out = await person.tap("รุนแรง")
    assert "ส่งรูปถ่าย หรือแชร์ตำแหน่ง" in out
    kinds = {i["action"]["type"]
             for i in person.person.messages()[-1]["quickReply"]["items"]}
    assert {"camera", "cameraRoll", "location", "postback"} <= kinds
    out = await person.person.post(line.location_event(LEADER_LINE, 15.79, 104.14))
    assert "ตำแหน่ง: 15.79000, 104.14000" in out
    out = await person.photo()  # and a photo too, at the confirmation screen
    assert "แนบรูปถ่ายไว้กับรายงานแล้ว" in out and "รูปถ่าย: มี" in out
