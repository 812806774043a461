"""The Telegram channel through the real python-telegram-bot stack, against a Bot API
server on 127.0.0.1."""

from __future__ import annotations

import itertools
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from telegram import Update

from bot.config import Settings
from bot.service import Service
from bot.telegram_channel import split_text
from handlers import invites
from handlers.clock import SystemClock
from handlers.permissions import Role
from storage.db import Database
from storage.inbox import HANDLED_KEYS
from tests.conftest import TELEGRAM_TOKEN
from tests.servers.telegram_api import TelegramTestServer

TOKEN = TELEGRAM_TOKEN
CORE = 2001
LEADER = 3001
VILLAGE_2 = "35010102"


def settings_for(db_path: Path, server: TelegramTestServer, media: Path, **extra: Any
                 ) -> Settings:
    return Settings(db_path=db_path, media_dir=media, telegram_token=TOKEN,
                    telegram_bot_username="cercap_test_bot", log_level="INFO",
                    telegram_api_base_url=server.origin, http_host="127.0.0.1", http_port=0,
                    **extra)


async def issue_code(db_path: Path, role: Role, area: str) -> str:
    async with Database(db_path) as db, db.transaction() as conn:
        invite = await invites.issue(conn, issuer_id=None, issuer_grants=[], role=role,
                                     area_code=area, now=SystemClock().now(),
                                     is_admin_cli=True)
    return invite.code


class Person:
    """Someone using Telegram: sends updates through Application.process_update, then
    lets the outbox deliver, and reads what the bot sent back."""

    def __init__(self, service: Service, server: TelegramTestServer, user_id: int) -> None:
        self.service = service
        self.server = server
        self.user_id = user_id

    async def push(self, update: dict[str, Any]) -> str:
        before = len(self.server.sent_messages(self.user_id))
        assert self.service.telegram is not None
        app = self.service.telegram.application
        await app.process_update(Update.de_json(update, app.bot))
        await self.service.app.outbox.deliver_due()
        return "\n".join(m.get("text") or m.get("caption") or ""
                         for m in self.server.sent_messages(self.user_id)[before:])

    async def send(self, text: str) -> str:
        return await self.push(self.server.text_update(self.user_id, text))

    def buttons(self) -> dict[str, str]:
        markup = self.server.last_bot_message(self.user_id).get("reply_markup") or {}
        return {b["text"]: b["callback_data"]
                for row in markup.get("inline_keyboard", []) for b in row}

    async def press(self, label: str) -> str:
        data = self.buttons()[label]
        return await self.push(self.server.callback_update(self.user_id, data))



@asynccontextmanager
async def webhook_service(db_path: Path, server: TelegramTestServer, media: Path
                          ) -> AsyncIterator[Service]:
    """The bot in webhook mode (no polling), with the outbox delivered step by step."""
    settings = settings_for(db_path, server, media,
                            telegram_webhook_url="https://bot.example.org/telegram/webhook",
                            telegram_webhook_secret="s3cret-webhook")
    async with Service(settings, background=False) as running:
        # Pacing of bulk sends is measured in seconds; here each send finds its slot free.
        assert running.telegram is not None
        running.telegram.sender.pacer.clock = itertools.count(step=10.0).__next__
        yield running


@pytest.fixture
async def service(seeded_db_path: Path, tg: TelegramTestServer, tmp_path: Path
                  ) -> AsyncIterator[Service]:
    async with webhook_service(seeded_db_path, tg, tmp_path / "media") as running:
        yield running


async def _join(person: Person, code: str, name: str) -> str:
    await person.send(f"/start {code}")
    return await person.send(name)


async def test_commands_menu_is_set_in_thai_and_english(service: Service,
                                                        tg: TelegramTestServer) -> None:
    thai = {c["command"]: c["description"] for c in tg.commands(language_code="th")}
    english = {c["command"]: c["description"] for c in tg.commands(language_code="en")}
    assert thai["menu"] == "เมนูหลัก"
    assert english["cancel"] == "Cancel what you are doing"
    assert tg.commands()  # and a default list for everyone else


async def test_whole_journey_deep_link_report_with_photo_notifies_core_team(
        service: Service, tg: TelegramTestServer, seeded_db_path: Path, tmp_path: Path) -> None:
    core, leader = Person(service, tg, CORE), Person(service, tg, LEADER)
    out = await _join(core, await issue_code(seeded_db_path, Role.CORE_TEAM, "350101"),
                      "ประเสริฐ ทีมแกน")
    assert "กลุ่มแกนระดับตำบล" in out

    out = await core.press("ออกรหัสเชิญ")
    assert "หมู่ที่ 2 บ้านหนองบัว" in core.buttons()
    out = await core.press("หมู่ที่ 2 บ้านหนองบัว")
    link = next(word for word in out.split() if word.startswith("https://t.me/"))
    assert link.startswith("https://t.me/cercap_test_bot?start=")
    code = link.split("start=")[1]

    out = await leader.send(f"/start {code}")  # opening the deep link
    assert "ชื่อ-นามสกุล" in out
    out = await leader.send("บุญมี ศรีสุข")
    assert "ยินดีต้อนรับ บุญมี ศรีสุข" in out

    await leader.press("รายงานปัญหา")
    out = await leader.press("ภัยแล้ง/น้ำ")
    # The question is edited to show the chosen answer: the chat reads as a record.
    edits = [c.params for c in tg.calls_to("editMessageText") if c.ok]
    assert any("➡️ ภัยแล้ง/น้ำ" in e["text"] for e in edits)
    assert "เล่าปัญหาสั้น ๆ" in out
    await leader.send("บ่อน้ำแห้ง <b>ไม่มี</b> น้ำใช้ & ต้องซื้อน้ำ")
    await leader.send("๔๕")
    await leader.press("รุนแรง")
    # Photo and location are one question: a reply keyboard with a location button (a
    # photo is sent as ever); the photo goes on to the summary, where the location is sent.
    attachments_question = tg.sent_messages(LEADER)[-1]
    assert "ส่งรูปถ่าย หรือแชร์ตำแหน่ง" in attachments_question["text"]
    assert attachments_question["reply_markup"]["keyboard"][0][0]["request_location"] is True
    out = await leader.push(tg.photo_update(LEADER, "photo-file-1", content=b"\xff\xd8jpeg"))
    assert "ตรวจสอบก่อนบันทึก" in out and "รูปถ่าย: มี" in out
    out = await leader.push(tg.location_update(LEADER, 15.79, 104.14))
    assert "ตรวจสอบก่อนบันทึก" in out and "15.79000, 104.14000" in out
    # User text is escaped in HTML parse mode, shown as typed.
    confirm = [m for m in tg.sent_messages(LEADER) if "ตรวจสอบ" in m["text"]][-1]
    assert "&lt;b&gt;ไม่มี&lt;/b&gt;" in confirm["text"] and "&amp;" in confirm["text"]
    assert confirm["parse_mode"] == "HTML"

    out = await leader.press("✅ บันทึก")
    assert "บันทึกรายงานปัญหาแล้ว" in out

    notes = [m["text"] for m in tg.sent_messages(CORE) if "รายงานปัญหาใหม่" in m["text"]]
    assert len(notes) == 1
    assert "หมู่ที่ 2 บ้านหนองบัว" in notes[0] and "45 ครัวเรือน" in notes[0]
    async with Database(seeded_db_path) as db, db.read() as conn, conn.execute(
            "SELECT photo_ref, photo_platform_id, latitude FROM problems") as cur:
        photo_ref, photo_id, latitude = await cur.fetchone()
    assert photo_id == "photo-file-1" and latitude == pytest.approx(15.79)
    assert (tmp_path / "media" / photo_ref).read_bytes() == b"\xff\xd8jpeg"


async def test_every_button_press_is_answered_and_old_buttons_politely(
        service: Service, tg: TelegramTestServer, seeded_db_path: Path) -> None:
    leader = Person(service, tg, LEADER)
    await _join(leader, await issue_code(seeded_db_path, Role.VILLAGE_COMMITTEE, VILLAGE_2),
                "บุญมี")
    await leader.press("รายงานปัญหา")
    category_message = tg.last_bot_message(LEADER)
    await leader.press("สุขภาพ")
    stale = next(b["callback_data"] for row in category_message["reply_markup"]["inline_keyboard"]
                 for b in row if b["text"] == "หนี้สินครัวเรือน")
    out = await leader.push(tg.callback_update(LEADER, stale, category_message))
    assert "ปุ่มนี้มาจากข้อความก่อนหน้า" in out
    assert "เล่าปัญหาสั้น ๆ" in out  # the current question again
    answered = [c for c in tg.calls_to("answerCallbackQuery") if c.ok]
    presses = [c for c in tg.calls if c.method == "answerCallbackQuery"]
    assert len(answered) == len(presses) >= 3
    old = next(m for m in tg.bot_messages(LEADER)
               if m["message_id"] == category_message["message_id"])
    assert not (old.get("reply_markup") or {}).get("inline_keyboard")  # no more stale presses


async def test_stickers_and_voice_get_a_polite_please_use_buttons(
        service: Service, tg: TelegramTestServer, seeded_db_path: Path) -> None:
    leader = Person(service, tg, LEADER)
    await _join(leader, await issue_code(seeded_db_path, Role.VILLAGE_COMMITTEE, VILLAGE_2),
                "บุญมี")
    await leader.press("รายงานปัญหา")
    out = await leader.push(tg.sticker_update(LEADER))
    assert "กรุณาใช้ปุ่ม" in out
    assert "ปัญหาเรื่องอะไร" in out
    out = await leader.push(tg.message_update(
        LEADER, {"voice": {"file_id": "v1", "file_unique_id": "uv1", "duration": 3}}))
    assert "กรุณาใช้ปุ่ม" in out


async def test_bare_start_explains_how_to_get_an_invite(service: Service,
                                                        tg: TelegramTestServer) -> None:
    out = await Person(service, tg, 4242).send("/start")
    assert "รหัสเชิญ" in out
    assert "กลุ่มแกนระดับตำบล" in out


async def test_group_answers_only_commands_and_can_be_linked_for_notifications(
        service: Service, tg: TelegramTestServer, seeded_db_path: Path) -> None:
    group = -100555
    core, leader = Person(service, tg, CORE), Person(service, tg, LEADER)
    await _join(core, await issue_code(seeded_db_path, Role.CORE_TEAM, "350101"), "ประเสริฐ")
    await _join(leader, await issue_code(seeded_db_path, Role.VILLAGE_COMMITTEE, VILLAGE_2),
                "บุญมี")
    await core.push(tg.text_update(CORE, "สวัสดีทุกคน", chat_id=group, chat_type="group"))
    assert tg.sent_messages(group) == []  # not a command: the bot stays quiet
    await leader.push(tg.text_update(LEADER, "/link", chat_id=group, chat_type="group"))
    assert "เฉพาะสมาชิกกลุ่มแกน" in tg.sent_messages(group)[-1]["text"]
    await core.push(tg.text_update(CORE, "/link@cercap_test_bot", chat_id=group,
                                   chat_type="supergroup"))
    assert "เชื่อมกลุ่มนี้แล้ว" in tg.sent_messages(group)[-1]["text"]
    await core.push(tg.text_update(CORE, "/report", chat_id=group, chat_type="group"))
    assert "แชตส่วนตัว" in tg.sent_messages(group)[-1]["text"]

    for step in ("รายงานปัญหา", "อาหาร/ความอดอยาก", "เด็กขาดอาหารกลางวัน", "20", "ปานกลาง",
                 "ข้าม", "ข้าม", "บันทึก"):
        await leader.send(step)
    assert "รายงานปัญหาใหม่" in tg.sent_messages(group)[-1]["text"]


async def test_long_text_is_split_at_the_telegram_limit() -> None:
    text = "\n".join(f"บรรทัด {i} " + "ก" * 80 for i in range(200))
    pieces = split_text(text)
    assert len(pieces) > 1
    assert all(len(p) <= 4096 for p in pieces)
    assert "".join(pieces).replace("\n", "") == text.replace("\n", "")


async def test_429_then_success_delivers_exactly_once(
        service: Service, tg: TelegramTestServer) -> None:
    tg.fail_next("sendMessage", 429, retry_after=1)
    person = Person(service, tg, 4343)
    out = await person.send("/start")
    assert out == ""  # the first try met the flood limit
    failed = [c for c in tg.calls_to("sendMessage") if c.status == 429]
    assert len(failed) == 1
    # The outbox retries after retry_after; the loop wakes on its own.
    sender = service.app.outbox
    import asyncio

    loop_task = asyncio.create_task(sender.run())
    try:
        await tg.wait_for(lambda calls: tg.sent_messages(4343), timeout=10)
    finally:
        loop_task.cancel()
    texts = [m["text"] for m in tg.sent_messages(4343)]
    assert len(texts) == 1 and "รหัสเชิญ" in texts[0]  # the greeting and the question, once


async def test_blocked_person_is_marked_inactive_and_gets_no_more_notifications(
        service: Service, tg: TelegramTestServer, seeded_db_path: Path) -> None:
    core, leader = Person(service, tg, CORE), Person(service, tg, LEADER)
    await _join(core, await issue_code(seeded_db_path, Role.CORE_TEAM, "350101"), "ประเสริฐ")
    await _join(leader, await issue_code(seeded_db_path, Role.VILLAGE_COMMITTEE, VILLAGE_2),
                "บุญมี")
    tg.block_user(CORE)
    steps = ("รายงานปัญหา", "สุขภาพ", "ไข้เลือดออกระบาดหนัก", "5", "วิกฤติ", "ข้าม", "ข้าม",
             "บันทึก")
    for step in steps:
        await leader.send(step)
    async with Database(seeded_db_path) as db, db.read() as conn:
        async with conn.execute("SELECT active FROM identities WHERE platform_user_id = ?",
                                (str(CORE),)) as cur:
            assert (await cur.fetchone())[0] == 0
        async with conn.execute("SELECT status, last_error FROM outbox WHERE chat_id = ?"
                                " ORDER BY id DESC LIMIT 1", (str(CORE),)) as cur:
            status, error = await cur.fetchone()
    assert status == "failed" and "blocked" in error
    for step in steps:
        await leader.send(step)
    async with Database(seeded_db_path) as db, db.read() as conn, conn.execute(
            "SELECT COUNT(*) FROM outbox WHERE chat_id = ? AND payload LIKE '%#2%'",
            (str(CORE),)) as cur:
        assert (await cur.fetchone())[0] == 0  # the second report is not even queued for them


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_webhook_checks_the_secret(seeded_db_path: Path, tg: TelegramTestServer,
                                         tmp_path: Path) -> None:
    port = _free_port()
    settings = settings_for(seeded_db_path, tg, tmp_path / "media",
                            telegram_webhook_url=f"http://127.0.0.1:{port}/telegram/webhook",
                            telegram_webhook_secret="right-secret")
    settings = Settings(**{**settings.__dict__, "http_port": port})
    async with Service(settings):
        async with aiohttp.ClientSession() as http, http.get(
                f"http://127.0.0.1:{port}/healthz") as health:
            assert health.status == 200 and (await health.json())["status"] == "ok"
        assert tg.webhook_url == f"http://127.0.0.1:{port}/telegram/webhook"
        assert tg.webhook_secret == "right-secret"
        forged = tg.text_update(5151, "/start")
        assert await tg.deliver_to_webhook(forged, secret="wrong") == 403
        assert await tg.deliver_to_webhook(forged, secret=None) == 403
        good = tg.text_update(5252, "/start")
        assert await tg.deliver_to_webhook(good) == 200
        await tg.wait_for(lambda calls: len(tg.sent_messages(5252)) >= 1)
    async with Database(seeded_db_path) as db, db.read() as conn, conn.execute(
            HANDLED_KEYS) as cur:
        handled = [tuple(r) for r in await cur.fetchall()]
    # The forged one left no trace; the key names the bot (the token's first part).
    assert handled == [("telegram", f"{tg.token.split(':')[0]}:{good['update_id']}")]
    assert tg.sent_messages(5151) == []


async def test_real_long_polling(seeded_db_path: Path, tg: TelegramTestServer,
                                 tmp_path: Path) -> None:
    settings = settings_for(seeded_db_path, tg, tmp_path / "media")
    async with Service(settings):
        await tg.wait_for_poll()
        tg.push_update(tg.text_update(6161, "/start"))
        await tg.wait_for(lambda calls: tg.sent_messages(6161))
        assert "รหัสเชิญ" in tg.sent_messages(6161)[0]["text"]
    assert tg.calls_to("deleteWebhook")  # polling starts by removing any webhook


async def test_a_failure_is_logged_and_the_person_told_politely(
        service: Service, tg: TelegramTestServer, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    async def broken(incoming: object) -> None:
        raise RuntimeError("database unreachable")

    monkeypatch.setattr(service.engine, "handle", broken)
    out = await Person(service, tg, 7171).send("สวัสดี")
    assert "ขออภัย ระบบขัดข้องชั่วคราว" in out
    assert "database unreachable" in caplog.text
