"""The LINE channel through the real line-bot-sdk, against a LINE API server on
127.0.0.1, with webhooks signed exactly as LINE signs them."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot import line_channel
from bot.config import Settings
from bot.line_channel import render
from bot.line_text import grapheme_len
from bot.service import Service
from handlers import invites
from handlers.clock import SystemClock
from handlers.messages import Choice, Reply
from handlers.permissions import Role
from storage.db import Database
from storage.inbox import HANDLED_KEYS
from tests.conftest import LINE_SECRET, LINE_TOKEN, line_settings
from tests.servers.line_api import LineTestServer, redelivery

SECRET, TOKEN = LINE_SECRET, LINE_TOKEN
CORE = "U" + "c" * 32
LEADER = "U" + "a" * 32
VILLAGE_2 = "35010102"


def _texts(node: Any) -> list[str]:
    """Every text a person sees in a LINE message (text, flex body, alt text)."""
    if isinstance(node, dict):
        found = [node["text"]] if isinstance(node.get("text"), str) else []
        found += [node["altText"]] if "altText" in node else []
        for key, value in node.items():
            if key not in ("text", "altText", "quickReply"):
                found += _texts(value)
        return found
    if isinstance(node, list):
        return [t for item in node for t in _texts(item)]
    return []


def _choices(message: dict[str, Any]) -> dict[str, str]:
    """Button label (as the person sees it when tapped) -> postback data."""
    found: dict[str, str] = {}
    for item in (message.get("quickReply") or {}).get("items", []):
        action = item["action"]
        if action["type"] == "postback":
            found[action["displayText"]] = action["data"]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "button" and node["action"]["type"] == "postback":
                found[node["action"]["displayText"]] = node["action"]["data"]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(message.get("contents"))
    return found


class Person:
    def __init__(self, service: Service, server: LineTestServer, user_id: str) -> None:
        self.service = service
        self.server = server
        self.user_id = user_id

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.service.web.bound_port}/line/callback"

    def messages(self) -> list[dict[str, Any]]:
        return [d["message"] for d in self.server.delivered_messages(self.user_id)]

    async def post(self, event: dict[str, Any]) -> str:
        before = len(self.messages())
        assert await self.server.post_webhook(self.url, [event]) == 200
        await self.server.wait_for(lambda: len(self.messages()) > before,
                                   what=f"a reply to {self.user_id}")
        return "\n".join(_texts(self.messages()[before:]))

    async def send(self, text: str) -> str:
        return await self.post(self.server.text_event(self.user_id, text))

    async def press(self, label: str) -> str:
        data = _choices(self.messages()[-1])[label]
        return await self.post(self.server.postback_event(self.user_id, data))


async def issue_code(db_path: Path, role: Role, area: str) -> str:
    async with Database(db_path) as db, db.transaction() as conn:
        invite = await invites.issue(conn, issuer_id=None, issuer_grants=[], role=role,
                                     area_code=area, now=SystemClock().now(),
                                     is_admin_cli=True)
    return invite.code



@pytest.fixture
async def service(seeded_db_path: Path, line: LineTestServer, tmp_path: Path
                  ) -> AsyncIterator[Service]:
    async with Service(line_settings(seeded_db_path, line, tmp_path / "media")) as running:
        yield running


async def _count(db_path: Path, sql: str) -> int:
    async with Database(db_path) as db, db.read() as conn, conn.execute(sql) as cur:
        return int((await cur.fetchone())[0])


async def test_signed_text_gets_a_reply(service: Service, line: LineTestServer) -> None:
    out = await Person(service, line, LEADER).send("สวัสดีครับ")
    assert "รหัสเชิญ" in out
    # The greeting and the question leave together, in one call with the reply token.
    assert {d["via"] for d in line.delivered_messages(LEADER)} == {"reply"}
    assert len(line.calls_to("reply")) == 1 and line.calls_to("push") == []


@pytest.mark.parametrize("how", ["forged", "tampered", "missing"])
async def test_bad_signatures_are_refused_and_nothing_is_stored(
        service: Service, line: LineTestServer, seeded_db_path: Path, how: str,
        caplog: pytest.LogCaptureFixture) -> None:
    person = Person(service, line, LEADER)
    event = line.text_event(LEADER, "สวัสดี")
    kwargs: dict[str, Any] = {"forged": {"signature": line.sign(b"something else")},
                              "tampered": {"tamper": True},
                              "missing": {"signature": None}}[how]
    with caplog.at_level(logging.WARNING):
        assert await line.post_webhook(person.url, [event], **kwargs) == 400
    assert "signature" in caplog.text.lower()
    assert await _count(seeded_db_path, f"SELECT COUNT(*) FROM ({HANDLED_KEYS}) AS k") == 0
    assert line.calls_to("reply") == [] and line.calls_to("push") == []


@pytest.mark.parametrize("ensure_ascii", [True, False])
async def test_thai_body_verifies_on_the_raw_bytes(service: Service, line: LineTestServer,
                                                   ensure_ascii: bool) -> None:
    person = Person(service, line, LEADER)
    event = line.text_event(LEADER, "ขอรหัสเชิญด้วยครับ")
    body = line.webhook_body([event], ensure_ascii=ensure_ascii)
    assert (b"\\u0e02" in body) is ensure_ascii
    assert await line.post_webhook(person.url, [event], ensure_ascii=ensure_ascii) == 200
    await line.wait_for(lambda: line.delivered_messages(LEADER))


async def test_a_redelivered_event_is_handled_once(service: Service, line: LineTestServer,
                                                   seeded_db_path: Path) -> None:
    person = Person(service, line, LEADER)
    event = line.text_event(LEADER, "สวัสดี")
    await person.post(event)
    again = redelivery(event)
    assert again["webhookEventId"] == event["webhookEventId"]
    assert again["deliveryContext"]["isRedelivery"] is True
    assert await line.post_webhook(person.url, [again]) == 200
    await person.send("สวัสดีอีกครั้ง")  # handled after the redelivery: proves it was seen
    assert await _count(seeded_db_path, f"SELECT COUNT(*) FROM ({HANDLED_KEYS}) AS k") == 2
    replies = [d for d in line.delivered_messages(LEADER) if d["via"] == "reply"]
    assert len(line.calls_to("reply")) == 2 and len(replies) >= 2


async def test_rejected_reply_token_falls_back_to_push_with_a_retry_key(
        service: Service, line: LineTestServer, seeded_db_path: Path) -> None:
    line.reject_reply_tokens = True
    out = await Person(service, line, LEADER).send("สวัสดี")
    assert "รหัสเชิญ" in out
    pushes = [c for c in line.calls_to("push") if c.status == 200]
    assert len(pushes) == 1
    key = pushes[0].headers["X-Line-Retry-Key"]
    async with Database(seeded_db_path) as db, db.read() as conn, conn.execute(
            "SELECT retry_key FROM outbox WHERE chat_id = ? ORDER BY id LIMIT 1",
            (LEADER,)) as cur:
        assert (await cur.fetchone())[0] == key


async def test_a_push_that_fails_with_500_is_retried_into_exactly_one_message(
        service: Service, line: LineTestServer) -> None:
    line.reject_reply_tokens = True
    line.fail_next("push", 500)
    person = Person(service, line, LEADER)
    assert await line.post_webhook(person.url, [line.text_event(LEADER, "สวัสดี")]) == 200
    await line.wait_for(lambda: person.messages(), timeout=10, what="the retried push")
    pushes = line.calls_to("push")
    assert [c.status for c in pushes] == [500, 200]
    assert pushes[0].headers["X-Line-Retry-Key"] == pushes[1].headers["X-Line-Retry-Key"]
    texts = [t for m in person.messages() for t in _texts(m)]
    assert len(texts) == len(set(texts))  # nothing doubled


async def test_whole_journey_follow_join_report_with_photo_core_team_gets_a_push(
        service: Service, line: LineTestServer, seeded_db_path: Path, tmp_path: Path) -> None:
    core, leader = Person(service, line, CORE), Person(service, line, LEADER)
    await core.post(line.follow_event(CORE))
    await core.send(await issue_code(seeded_db_path, Role.CORE_TEAM, "350101"))
    await core.send("ประเสริฐ ทีมแกน")

    out = await leader.post(line.follow_event(LEADER))
    assert "รหัสเชิญ" in out  # the greeting says how to join
    out = await leader.send(await issue_code(seeded_db_path, Role.VILLAGE_COMMITTEE, VILLAGE_2))
    assert "ชื่อ-นามสกุล" in out
    out = await leader.send("บุญมี ศรีสุข")
    assert "ยินดีต้อนรับ บุญมี ศรีสุข" in out

    await leader.press("รายงานปัญหา")
    quick = leader.messages()[-1]["quickReply"]["items"]
    assert len(quick) <= 13
    assert all(grapheme_len(i["action"]["label"]) <= 20 for i in quick)
    await leader.press("ภัยแล้ง/น้ำ")
    await leader.send("บ่อน้ำตื้นแห้ง ชาวบ้านไม่มีน้ำใช้")
    await leader.send("สี่สิบห้า")
    out = await leader.press("รุนแรง")
    # One optional step for the photo and the location: LINE's pickers as quick replies.
    attachments = leader.messages()[-1]
    kinds = {i["action"]["type"] for i in attachments["quickReply"]["items"]}
    assert {"camera", "cameraRoll", "location", "postback"} <= kinds
    out = await leader.post(line.image_event(LEADER, "470001", data=b"\xff\xd8line-jpeg"))
    confirm = leader.messages()[-1]
    assert confirm["type"] == "flex" and confirm["altText"].startswith("ตรวจสอบก่อนบันทึก")
    assert "ครัวเรือนที่เดือดร้อน: 45" in out
    out = await leader.post(line.location_event(LEADER, 15.79, 104.14))  # attached too
    assert leader.messages()[-1]["type"] == "flex"

    out = await leader.press("✅ บันทึก")
    assert "บันทึกรายงานปัญหาแล้ว" in out
    await line.wait_for(lambda: any("รายงานปัญหาใหม่" in "".join(_texts(d["message"]))
                                    for d in line.delivered_messages(CORE)),
                        what="the core team's notification")
    notification = [d for d in line.delivered_messages(CORE)
                    if "รายงานปัญหาใหม่" in "".join(_texts(d["message"]))]
    assert len(notification) == 1 and notification[0]["via"] == "push"
    async with Database(seeded_db_path) as db, db.read() as conn, conn.execute(
            "SELECT photo_ref, photo_platform_id FROM problems") as cur:
        photo_ref, photo_id = await cur.fetchone()
    assert photo_id == "470001"
    assert (tmp_path / "media" / photo_ref).read_bytes() == b"\xff\xd8line-jpeg"


async def test_unfollow_stops_pushes(service: Service, line: LineTestServer,
                                     seeded_db_path: Path) -> None:
    person = Person(service, line, CORE)
    await person.send(await issue_code(seeded_db_path, Role.CORE_TEAM, "350101"))
    assert await line.post_webhook(person.url, [line.unfollow_event(CORE)]) == 200
    assert service.line is not None
    for task in list(service.line._tasks):  # the webhook's background work
        await task
    assert await _count(seeded_db_path, "SELECT active FROM identities"
                        f" WHERE platform_user_id = '{CORE}'") == 0


async def test_someone_who_comes_back_after_unfollowing_is_reachable_again(
        service: Service, line: LineTestServer, seeded_db_path: Path) -> None:
    person = Person(service, line, CORE)
    await person.send(await issue_code(seeded_db_path, Role.CORE_TEAM, "350101"))
    assert await line.post_webhook(person.url, [line.unfollow_event(CORE)]) == 200
    assert service.line is not None
    for task in list(service.line._tasks):
        await task
    out = await person.send("เมนู")  # writes again: a message means they can be reached
    assert out
    assert await _count(seeded_db_path, "SELECT active FROM identities"
                        f" WHERE platform_user_id = '{CORE}'") == 1


async def test_stickers_get_please_use_the_buttons(service: Service,
                                                   line: LineTestServer) -> None:
    out = await Person(service, line, LEADER).post(line.sticker_event(LEADER))
    assert "กรุณาใช้ปุ่ม" in out


async def test_groups_answer_only_commands(service: Service, line: LineTestServer) -> None:
    group = "C" + "1" * 32
    url = Person(service, line, LEADER).url
    assert await line.post_webhook(url, [line.group_text_event(group, LEADER, "สวัสดีครับ")]) == 200
    assert await line.post_webhook(url, [line.group_text_event(group, LEADER, "/report")]) == 200
    delivered = await line.wait_for(lambda: line.delivered_messages(group))
    assert len(delivered) == 1 and "แชตส่วนตัว" in "".join(_texts(delivered[0]["message"]))


async def test_loading_animation_shows_while_work_takes_time(
        service: Service, line: LineTestServer, monkeypatch: pytest.MonkeyPatch,
        seeded_db_path: Path) -> None:
    monkeypatch.setattr(line_channel, "LOADING_AFTER_SECONDS", 0.0)
    person = Person(service, line, LEADER)
    await person.send(await issue_code(seeded_db_path, Role.VILLAGE_COMMITTEE, VILLAGE_2))
    await person.send("บุญมี ศรีสุข")
    before = len(person.messages())
    # On a server database each statement awaits the network, so with no delay the joining
    # messages may have shown it too: count from here.
    shown = len(line.calls_to("loading"))
    line.hold_answer_next("content")  # the photo download, and so the work, takes time
    photo = line.image_event(LEADER, "480001", data=b"\xff\xd8slow-jpeg")
    assert await line.post_webhook(person.url, [photo]) == 200  # stored, then answered
    await line.wait_for(lambda: line.calls_to("content"), what="the photo download")
    loading = await line.wait_for(lambda: line.calls_to("loading")[shown:],
                                  what="the loading animation")
    assert loading[0].json == {"chatId": LEADER, "loadingSeconds": 5}
    line.release_held()
    await line.wait_for(lambda: len(person.messages()) > before,
                        what="the reply after the wait")
    assert len(line.calls_to("loading")) == shown + 1  # shown once


async def test_no_loading_animation_when_the_answer_is_quick(
        service: Service, line: LineTestServer) -> None:
    await Person(service, line, LEADER).send("สวัสดี")
    assert line.calls_to("loading") == []


async def test_quota_near_the_limit_is_logged(service: Service, line: LineTestServer,
                                              caplog: pytest.LogCaptureFixture) -> None:
    line.quota_limit = 1000
    line.consumption_offset = 950
    assert service.line is not None
    with caplog.at_level(logging.WARNING):
        assert await service.line.sender.check_quota() == (950, 1000)
    assert "950 of this month's 1000 pushes" in caplog.text


def test_rendering_quick_replies_pages_and_flex() -> None:
    few = Reply("เลือก", tuple(Choice(f"ตัวเลือกที่ {i}", f"s1:{i}") for i in range(5)))
    [message] = render(few)
    labels = [i["action"]["label"] for i in message["quickReply"]["items"]]
    assert labels == [f"ตัวเลือกที่ {i}" for i in range(5)]
    assert message["quickReply"]["items"][0]["action"]["displayText"].endswith("0")

    # Labels longer than a quick reply shows: buttons in a bubble, each label whole.
    long = Reply("เลือก", tuple(Choice(f"ตัวเลือกที่ยาวมากเกินยี่สิบตัวอักษร {i}", f"s1:{i}")
                               for i in range(5)))
    [bubble] = render(long)
    buttons = bubble["contents"]["footer"]["contents"]
    assert [b["action"]["label"] for b in buttons] == [c.label for c in long.choices]

    many = Reply("เลือกหมู่บ้าน", tuple(Choice(f"หมู่ที่ {i}", f"s1:{i}") for i in range(20)))
    messages = render(many)
    carousel = messages[-1]["contents"]
    assert carousel["type"] == "carousel"
    buttons = [b for bubble in carousel["contents"] for b in bubble["footer"]["contents"]]
    assert len(buttons) == 20 and len(carousel["contents"]) == 3

    confirm = Reply("ตรวจสอบก่อนบันทึก\nรายละเอียด", (Choice("✅ บันทึก", "s1:save"),),
                    expects="confirm")
    [flex] = render(confirm)
    assert flex["type"] == "flex" and flex["altText"] == "ตรวจสอบก่อนบันทึก"
    json.dumps(flex)  # plain JSON, as the SDK sends it


async def test_setup_richmenu_installs_a_menu_per_role_and_the_default(
        line: LineTestServer, tmp_path: Path) -> None:
    from bot.line_setup import install_rich_menus
    from storage import rich_menus

    settings = Settings(db_path=tmp_path / "x.db", media_dir=tmp_path, telegram_token=None,
                        telegram_bot_username=None, log_level="INFO",
                        line_access_token=TOKEN, line_channel_secret=SECRET,
                        line_api_host=line.origin)
    installed = await install_rich_menus(settings)
    assert set(installed.menus) == {"default", "village_committee", "core_team", "tao",
                                    "district", "viewer"}
    assert line.default_rich_menu_id == installed.menus["default"]
    shown = {key: [area["action"]["displayText"]
                   for area in line.rich_menus[menu_id].request["areas"]]
             for key, menu_id in installed.menus.items()}
    assert shown["village_committee"] == ["รายงานปัญหา", "แผนของหมู่บ้าน", "ความคืบหน้า",
                                          "สรุปผล", "เมนูทั้งหมด"]
    assert shown["default"] == ["ใส่รหัสเชิญ", "ช่วยเหลือ"]
    assert "รายงานปัญหา" not in shown["core_team"] and "ตรวจรายงาน" in shown["core_team"]
    assert "คำขอรอพิจารณา" in shown["tao"] and "คำขอที่ส่งต่อมา" in shown["district"]
    for menu_id in installed.menus.values():
        menu = line.rich_menus[menu_id]
        assert {a["action"]["type"] for a in menu.request["areas"]} == {"postback"}
        assert menu.image is not None and menu.image[:8] == b"\x89PNG\r\n\x1a\n"
        assert menu.image_content_type == "image/png"
    async with Database(tmp_path / "x.db") as db, db.read() as conn:
        assert await rich_menus.all_menus(conn) == installed.menus

    # Installed again: new menus, the old ones deleted at LINE, the new ids stored.
    again = await install_rich_menus(settings)
    assert again.deleted == 6 and set(line.rich_menus) == set(again.menus.values())
    async with Database(tmp_path / "x.db") as db, db.read() as conn:
        assert await rich_menus.all_menus(conn) == again.menus


async def test_a_date_picked_in_the_datetime_picker_arrives_as_text(
        service: Service, line: LineTestServer) -> None:
    from linebot.v3.webhook import WebhookParser

    event = line.postback_event(LEADER, "date-picker", params={"date": "2025-01-15"})
    body = line.webhook_body([event])
    [parsed] = WebhookParser(SECRET).parse(body.decode(), line.sign(body))
    assert service.line is not None
    incoming = await service.line.incoming_from(parsed)
    assert incoming is not None and incoming.text == "2025-01-15" and incoming.payload is None
    date_question = Reply("วันที่จัดเวที", (), expects="date")
    [message] = render(date_question)
    assert message["quickReply"]["items"][0]["action"]["type"] == "datetimepicker"
