"""LINE done properly (issue 13, item 14), walked through signed webhooks against the LINE
test server and a real Service: rich-menu taps are navigation, a long confirmation keeps
every field and its buttons, a notification that interrupts a question brings the question
back, each role gets its own rich menu, labels are measured as LINE measures them, and the
greetings say what a LINE user can do."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.line_channel import BUBBLE_TEXT_MAX, MAX_MESSAGES_PER_CALL, render
from bot.line_setup import Installed, install_rich_menus, rich_menu_buttons
from bot.line_text import fit, grapheme_len, utf16_len
from bot.service import Service
from handlers.clock import SystemClock
from handlers.messages import Choice, Reply
from handlers.permissions import Role
from locales import t
from storage import conversations, people, plans
from storage.db import Database
from tests.conftest import line_settings
from tests.servers.line_api import LineTestServer, new_ulid
from tests.test_line_channel import Person, _choices, _texts, issue_code

LEADER = "U" + "a" * 32
CORE = "U" + "c" * 32
STRANGER = "U" + "e" * 32
VILLAGE_2 = "35010102"
TAMBON = "350101"


def _settings(db_path: Path, line: LineTestServer, media: Path) -> Settings:
    return line_settings(db_path, line, media)  # type: ignore[return-value]


@pytest.fixture
async def menus(seeded_db_path: Path, line: LineTestServer, tmp_path: Path) -> Installed:
    """The rich menus installed as `cercap-bot line setup-richmenu` installs them."""
    return await install_rich_menus(_settings(seeded_db_path, line, tmp_path / "media"))


@pytest.fixture
async def service(seeded_db_path: Path, line: LineTestServer, tmp_path: Path
                  ) -> AsyncIterator[Service]:
    async with Service(_settings(seeded_db_path, line, tmp_path / "media")) as running:
        yield running


def tap_data(menu: str, label: str) -> str:
    """The postback data of the rich menu button labelled `label` in `menu`."""
    return next(b.data for b in rich_menu_buttons(menu) if b.label == label)


async def join(person: Person, db_path: Path, role: Role, area: str, name: str) -> None:
    await person.send(await issue_code(db_path, role, area))
    await person.send(name)


def step_buttons(message: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, data) of a message's answer buttons: those numbered by their question."""
    return [(label, data) for label, data in _choices(message).items()
            if data[:1] == "s" and data[1:2].isdigit()]


async def conversation_of(db_path: Path, user_id: str) -> conversations.Conversation:
    async with Database(db_path) as db, db.read() as conn:
        identity = await people.identity(conn, "line", user_id)
        assert identity is not None
        return await conversations.load(conn, identity.id)


async def drafts_of(db_path: Path, user_id: str) -> list[conversations.Draft]:
    async with Database(db_path) as db, db.read() as conn:
        identity = await people.identity(conn, "line", user_id)
        assert identity is not None
        return await conversations.drafts_of(conn, identity.id)


async def count(db_path: Path, sql: str) -> int:
    async with Database(db_path) as db, db.read() as conn, conn.execute(sql) as cur:
        return int((await cur.fetchone())[0])


# --- rich-menu taps are navigation, never an answer -----------------------------------------

async def _report_to_a_typed_question(leader: Person) -> None:
    """From the report's first question to the first question answered by typing, after at
    least one answer (a button pressed, or a description typed)."""
    for answered in range(6):
        buttons = step_buttons(leader.messages()[-1])
        if buttons:
            await leader.press(buttons[0][0])
        elif answered:
            return
        else:
            await leader.send("น้ำท่วมนาข้าวทั้งหมู่บ้าน ชาวบ้านเดือดร้อนหนัก")
    raise AssertionError("no question answered by typing in the report")


async def test_a_rich_menu_tap_mid_question_is_navigation_and_keeps_a_draft(
        service: Service, line: LineTestServer, seeded_db_path: Path) -> None:
    leader = Person(service, line, LEADER)
    await join(leader, seeded_db_path, Role.VILLAGE_COMMITTEE, VILLAGE_2, "บุญมี ศรีสุข")
    await leader.post(line.postback_event(
        LEADER, tap_data("village_committee", "รายงานปัญหา")))
    assert (await conversation_of(seeded_db_path, LEADER)).flow == "problem_report"
    await _report_to_a_typed_question(leader)
    at = await conversation_of(seeded_db_path, LEADER)
    assert at.flow == "problem_report"

    out = await leader.post(line.postback_event(
        LEADER, tap_data("village_committee", "แผนของหมู่บ้าน")))

    assert "เก็บร่าง" in out  # the report is kept as a draft, as "เมนู" keeps it
    now = await conversation_of(seeded_db_path, LEADER)
    assert now.flow != "problem_report"  # the plan opened instead
    [draft] = [d for d in await drafts_of(seeded_db_path, LEADER) if d.flow == "problem_report"]
    assert draft.step == at.step  # the question it stood at, not answered
    assert "แผนของหมู่บ้าน" not in str(draft.data)
    assert await count(seeded_db_path, "SELECT COUNT(*) FROM problems"
                       f" WHERE village_code = '{VILLAGE_2}'") == 0


async def test_tapping_the_entry_already_open_asks_its_question_again(
        service: Service, line: LineTestServer, seeded_db_path: Path) -> None:
    leader = Person(service, line, LEADER)
    await join(leader, seeded_db_path, Role.VILLAGE_COMMITTEE, VILLAGE_2, "บุญมี ศรีสุข")
    report = tap_data("village_committee", "รายงานปัญหา")
    await leader.post(line.postback_event(LEADER, report))
    asked = leader.messages()[-1]
    before = await conversation_of(seeded_db_path, LEADER)

    out = await leader.post(line.postback_event(LEADER, report))

    assert "กำลังทำ" in out
    again = leader.messages()[-1]
    assert list(_choices(again)) == list(_choices(asked))  # the same question, its buttons
    after = await conversation_of(seeded_db_path, LEADER)
    assert (after.flow, after.step) == (before.flow, before.step)


async def test_a_stranger_s_taps_on_the_default_menu(service: Service, line: LineTestServer,
                                                      seeded_db_path: Path) -> None:
    stranger = Person(service, line, STRANGER)
    out = await stranger.post(line.postback_event(STRANGER, tap_data("default", "ใส่รหัสเชิญ")))
    assert "รหัสเชิญ" in out
    assert (await conversation_of(seeded_db_path, STRANGER)).flow == "join"  # asked for it
    out = await stranger.post(line.postback_event(STRANGER, tap_data("default", "ช่วยเหลือ")))
    assert "รหัส" in out  # help while asked for a code: how to join


# --- a long confirmation: every field and the decision buttons ------------------------------

def _long_answer(marker: str) -> str:
    sentence = "ชาวบ้านร่วมแรงร่วมใจขุดลอกคลองและซ่อมฝายกั้นน้ำ ทำให้มีน้ำใช้ตลอดหน้าแล้ง "
    return (sentence * 20)[:990 - len(marker)] + marker


async def test_a_long_confirmation_shows_every_field_and_its_buttons(
        service: Service, line: LineTestServer, seeded_db_path: Path) -> None:
    async with Database(seeded_db_path) as db, db.transaction() as conn:
        await plans.create_plan(conn, village_code=VILLAGE_2, period_start=date(2024, 7, 1),
                                period_end=date(2024, 12, 31), person_id=1,
                                now=SystemClock().now())
    leader = Person(service, line, LEADER)
    await join(leader, seeded_db_path, Role.VILLAGE_COMMITTEE, VILLAGE_2, "บุญมี ศรีสุข")
    await leader.post(line.postback_event(LEADER, "m:lessons"))
    answers = [_long_answer(f"จบข้อที่{n}") for n in ("หนึ่ง", "สอง", "สาม")]
    for answer in answers:
        await leader.send(answer)
    close = next(label for label in _choices(leader.messages()[-1]) if "ยังไม่ปิดรอบ" in label)
    calls_before = len(line.calls_to("reply"))
    before = len(leader.messages())

    out = await leader.press(close)

    screen = leader.messages()[before:]
    assert utf16_len(out) > BUBBLE_TEXT_MAX  # longer than one bubble takes
    assert 2 <= len(screen) <= MAX_MESSAGES_PER_CALL
    assert len(line.calls_to("reply")) == calls_before + 1  # one reply call, every message
    assert all(c.status == 200 for c in line.calls)
    for answer in answers:  # every field whole, in the order of the screen
        assert answer in out
    assert "รอบแผน: " in out  # the closing decision, last on the screen
    last = screen[-1]
    assert last["type"] == "flex"
    assert "รอบแผน: " in "".join(_texts(last))  # beside its buttons
    buttons = _choices(last)
    assert t("th", "common.save") in buttons
    assert any(t("th", "common.cancel") in label for label in buttons)
    assert all(m["type"] == "text" for m in screen[:-1])

    out = await leader.press(t("th", "common.save"))
    assert "บันทึกสรุปบทเรียนแล้ว" in out
    assert await count(seeded_db_path, "SELECT COUNT(*) FROM lessons") == 1


def test_a_confirmation_of_any_length_fits_one_reply_call() -> None:
    save, cancel = Choice("✅ บันทึก", "s4:save"), Choice("❌ ยกเลิก", "n:cancel")
    for size in (100, 1999, 2001, 4999, 5001, 12_000, 30_000):
        text = "ตรวจสอบก่อนบันทึกครับ\n" + "\n".join(
            f"ข้อ {i}: " + "ก" * 80 for i in range(size // 88)) + "\nรอบแผน: ยังไม่ปิดรอบ"
        messages = render(Reply(text, (save, cancel), expects="confirm"))
        assert 1 <= len(messages) <= MAX_MESSAGES_PER_CALL, size
        assert all(utf16_len(m.get("text", "")) <= 5000 for m in messages)
        assert messages[-1]["type"] == "flex"
        assert set(_choices(messages[-1])) == {"✅ บันทึก", "❌ ยกเลิก"}
        assert "รอบแผน: ยังไม่ปิดรอบ" in "".join(_texts(messages[-1]))
        shown = "\n".join(t for m in messages for t in _texts(m) if t != messages[-1]["altText"])
        if size <= 12_000:
            assert all(line in shown for line in text.split("\n")), size


# --- the report's confirmation screen also takes a photo or a location ----------------------

def pickers(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [item["action"] for item in (message.get("quickReply") or {}).get("items", [])]


async def test_the_report_confirmation_offers_the_camera_and_the_location(
        service: Service, line: LineTestServer, seeded_db_path: Path) -> None:
    """The confirmation screen attaches a photo or a location sent there, so it offers
    LINE's camera, camera roll and location pickers as quick replies (as the attachments
    question does), its decision buttons still in the bubble."""
    leader = Person(service, line, LEADER)
    await join(leader, seeded_db_path, Role.VILLAGE_COMMITTEE, VILLAGE_2, "บุญมี ศรีสุข")
    await leader.send("รายงานปัญหา")
    await leader.press("น้ำท่วม")
    await leader.send("น้ำท่วมนาข้าวทั้งหมู่บ้าน ชาวบ้านเดือดร้อนหนัก")
    await leader.press("20 ครัวเรือน")
    await leader.press("รุนแรง")
    out = await leader.press(t("th", "common.skip"))  # no photo nor location, for now
    assert "ตรวจสอบก่อนบันทึก" in out and "รูปถ่าย: ไม่มี" in out

    for attached, sent in (("ตำแหน่ง: 15.79000, 104.14000",
                            line.location_event(LEADER, 15.79, 104.14)),
                           ("รูปถ่าย: มี", line.image_event(LEADER, "480001",
                                                            data=b"\xff\xd8confirm"))):
        confirm = leader.messages()[-1]
        assert confirm["type"] == "flex"
        assert t("th", "report.save") in _choices(confirm)  # the decision, in the bubble
        actions = pickers(confirm)
        assert {a["type"] for a in actions} == {"location", "camera", "cameraRoll"}
        assert len(actions) <= 13
        assert all(grapheme_len(a["label"]) <= 20 for a in actions)
        assert next(a["label"] for a in actions if a["type"] == "location") == t(
            "th", "common.share_location")
        out = await leader.post(sent)  # sent from a picker: attached, the screen again
        assert attached in out and "ตรวจสอบก่อนบันทึก" in out

    assert {a["type"] for a in pickers(leader.messages()[-1])} == {
        "location", "camera", "cameraRoll"}
    out = await leader.press(t("th", "report.save"))
    assert "บันทึกรายงานปัญหาแล้ว" in out
    assert await count(seeded_db_path, "SELECT COUNT(*) FROM problems WHERE latitude = 15.79"
                       " AND photo_platform_id = '480001'") == 1


def test_a_confirmation_that_attaches_nothing_offers_no_pickers() -> None:
    save, cancel = Choice("✅ บันทึก", "s4:save"), Choice("❌ ยกเลิก", "n:cancel")
    [plain] = render(Reply("ตรวจสอบก่อนบันทึกครับ", (save, cancel), expects="confirm"))
    assert "quickReply" not in plain
    [attaching] = render(Reply("ตรวจสอบก่อนบันทึกครับ", (save, cancel), expects="confirm",
                               extra={"attach": "photo", "share_location": "📍"}))
    assert [a["type"] for a in pickers(attaching)] == ["camera", "cameraRoll"]
    assert set(_choices(attaching)) == {"✅ บันทึก", "❌ ยกเลิก"}


# --- a notification that interrupts a question ----------------------------------------------

async def test_a_notification_that_interrupts_a_question_brings_it_back(
        service: Service, line: LineTestServer, seeded_db_path: Path) -> None:
    async with Database(seeded_db_path) as db, db.transaction() as conn:
        await plans.create_plan(conn, village_code=VILLAGE_2, period_start=date(2024, 7, 1),
                                period_end=date(2024, 12, 31), person_id=1,
                                now=SystemClock().now())
    core, leader = Person(service, line, CORE), Person(service, line, LEADER)
    await join(core, seeded_db_path, Role.CORE_TEAM, TAMBON, "ประเสริฐ กลุ่มแกน")
    await join(leader, seeded_db_path, Role.VILLAGE_COMMITTEE, VILLAGE_2, "บุญมี ศรีสุข")
    # The core team opens a question with buttons (which village to invite) and waits.
    await core.post(line.postback_event(CORE, tap_data("core_team", "ออกรหัสเชิญ")))
    question = core.messages()[-1]
    asked = step_buttons(question)
    assert asked and "quickReply" in question
    before = len(core.messages())

    # The village records its lessons: the core team is told, mid-question.
    await leader.post(line.postback_event(LEADER, "m:lessons"))
    for answer in ("ชาวบ้านร่วมแรงขุดลอกสระ", "ของบจากหน่วยงานช้า", "ยื่นขอให้เร็วขึ้น"):
        await leader.send(answer)
    await leader.press(next(label for label in _choices(leader.messages()[-1])
                            if "ยังไม่ปิดรอบ" in label))
    await leader.press(t("th", "common.save"))
    told = await line.wait_for(
        lambda: [m for m in core.messages()[before:]
                 if "สรุปบทเรียนใหม่" in "".join(_texts(m))],
        what="the core team's notification")

    delivered = core.messages()[before:]
    assert len(told) == 1 and delivered.index(told[0]) < len(delivered) - 1
    again = delivered[-1]  # the newest message: the question again, with its quick replies
    assert "quickReply" in again and "คำถามที่ค้างไว้" in "".join(_texts(again))
    assert step_buttons(again) == asked  # the same buttons, still the open question's
    pushes = [c for c in line.calls_to("push") if c.json["to"] == CORE]
    assert len(pushes) == 1 and len(pushes[0].json["messages"]) == len(delivered)

    invites = await count(seeded_db_path, "SELECT COUNT(*) FROM invites")
    await core.press(asked[0][0])  # and they work: the invite is issued
    assert await count(seeded_db_path, "SELECT COUNT(*) FROM invites") == invites + 1


async def test_no_question_again_when_none_is_open(
        service: Service, line: LineTestServer, seeded_db_path: Path) -> None:
    core = Person(service, line, CORE)
    await join(core, seeded_db_path, Role.CORE_TEAM, TAMBON, "ประเสริฐ กลุ่มแกน")
    assert (await conversation_of(seeded_db_path, CORE)).flow is None  # at the menu
    assert await service.app.engine.open_question("line", CORE, 10**9) is None


# --- a rich menu for each role, linked when the role is granted -----------------------------

@pytest.mark.parametrize(("role", "area", "menu"), [
    (Role.VILLAGE_COMMITTEE, VILLAGE_2, "village_committee"),
    (Role.CORE_TEAM, TAMBON, "core_team"),
    (Role.TAO, TAMBON, "tao"),
    (Role.DISTRICT, "3501", "district"),
    (Role.VIEWER, "35", "viewer"),
])
async def test_each_role_gets_its_own_rich_menu_when_it_joins(
        menus: Installed, service: Service, line: LineTestServer, seeded_db_path: Path,
        role: Role, area: str, menu: str) -> None:
    person = Person(service, line, LEADER)
    await person.post(line.follow_event(LEADER))
    assert LEADER not in line.user_rich_menus  # a stranger sees the default: join, help
    shown = [a["action"]["displayText"]
             for a in line.rich_menus[line.default_rich_menu_id or ""].request["areas"]]
    assert shown == ["ใส่รหัสเชิญ", "ช่วยเหลือ"]

    await join(person, seeded_db_path, role, area, "สมชาย ใจดี")

    linked = await line.wait_for(lambda: line.user_rich_menus.get(LEADER),
                                 what="the rich menu link")
    assert linked == menus.menus[menu]
    labels = [a["action"]["displayText"] for a in line.rich_menus[linked].request["areas"]]
    assert labels == [b.label for b in rich_menu_buttons(menu)]
    if role != Role.VILLAGE_COMMITTEE:
        assert "รายงานปัญหา" not in labels  # the core team is not offered to report


async def test_menus_installed_again_are_linked_again_to_everyone_who_joined(
        menus: Installed, service: Service, line: LineTestServer, seeded_db_path: Path,
        tmp_path: Path) -> None:
    core = Person(service, line, CORE)
    await join(core, seeded_db_path, Role.CORE_TEAM, TAMBON, "ประเสริฐ กลุ่มแกน")
    await line.wait_for(lambda: line.user_rich_menus.get(CORE) == menus.menus["core_team"])

    again = await install_rich_menus(_settings(seeded_db_path, line, tmp_path / "media"))

    assert again.linked == 1 and again.deleted == len(menus.menus)
    service.app.outbox.wake()  # as its next round would find them
    await line.wait_for(lambda: line.user_rich_menus.get(CORE) == again.menus["core_team"],
                        timeout=10, what="the link to the new menu")


async def test_a_link_to_a_menu_line_no_longer_has_fails_that_row_only(
        menus: Installed, service: Service, line: LineTestServer, seeded_db_path: Path) -> None:
    line.fail_next("richmenu_link", 404)
    leader = Person(service, line, LEADER)
    await join(leader, seeded_db_path, Role.VILLAGE_COMMITTEE, VILLAGE_2, "บุญมี ศรีสุข")
    await line.wait_for(lambda: line.calls_to("richmenu_link"))
    out = await leader.send("เมนู")  # the chat goes on: not marked blocked
    assert out
    assert await count(seeded_db_path, "SELECT active FROM identities"
                       f" WHERE platform_user_id = '{LEADER}'") == 1
    assert await count(seeded_db_path, "SELECT COUNT(*) FROM outbox WHERE status = 'failed'"
                       " AND last_error LIKE 'rich menu link 404%'") == 1


# --- labels measured as LINE measures them ---------------------------------------------------

def test_labels_are_measured_in_grapheme_clusters() -> None:
    assert grapheme_len("ที่") == 1 and len("ที่") == 3
    assert grapheme_len("✅ อนุมัติเต็ม 180,000 บาท") == 21
    assert grapheme_len("👨\u200d👩\u200d👧") == 1
    label = "หมู่ที่ 12 บ้านหนองน้ำใส"  # 24 code points, 18 clusters: kept whole
    assert len(label) > 20 and grapheme_len(label) <= 20
    [message] = render(Reply("เลือกหมู่บ้าน", (Choice(label, "s1:a"), Choice("ข้าม", "s1:b"))))
    assert message["quickReply"]["items"][0]["action"]["label"] == label
    cut = fit("รายงานปัญหาน้ำท่วมและถนนชำรุดในหมู่บ้าน", 20)
    assert grapheme_len(cut) == 20 and cut.endswith("\u2026")
    assert not fit("ก" * 19 + "ี่", 19).endswith("\u0e35\u2026")  # no mark cut off


def test_the_tao_decision_buttons_show_the_whole_amount() -> None:
    """The TAO's decision question, with its labels as the flow builds them: buttons in a
    bubble (a Flex label takes 40 characters), none cut, the amount whole."""
    amount = "180,000"
    decisions = [t("th", f"support.decide.{d}", amount=amount)
                 for d in ("fund_full", "fund_partial", "forward", "return")]
    choices = tuple(Choice(label, f"s3:{i}") for i, label in enumerate(
        [*decisions, t("th", "support.decide.back")]))
    [message] = render(Reply(t("th", "support.ask_decision", detail="คำขอ #7"), choices))
    assert message["type"] == "flex"
    buttons = message["contents"]["footer"]["contents"]
    labels = [b["action"]["label"] for b in buttons]
    assert labels == [c.label for c in choices]
    assert f"{amount} บาท" in labels[0] and "\u2026" not in "".join(labels)
    assert all(grapheme_len(label) <= 40 for label in labels)
    assert all(b["action"]["displayText"] == b["action"]["label"] for b in buttons)


# --- greetings -------------------------------------------------------------------------------

async def test_the_follow_greeting_says_what_a_line_user_can_do(
        service: Service, line: LineTestServer) -> None:
    out = await Person(service, line, STRANGER).post(line.follow_event(STRANGER))
    assert "รหัสเชิญ" in out and "วาง" in out  # type or paste the code here
    assert "ลิงก์" not in out  # LINE invites have no link to open


async def test_the_bot_greets_a_group_it_is_added_to_and_says_how_to_link(
        service: Service, line: LineTestServer) -> None:
    group = "C" + "2" * 32
    stamp = int(time.time() * 1000)
    event = {"type": "join", "mode": "active", "timestamp": stamp,
             "source": {"type": "group", "groupId": group}, "webhookEventId": new_ulid(stamp),
             "deliveryContext": {"isRedelivery": False},
             "replyToken": line.issue_reply_token(group)}
    url = Person(service, line, LEADER).url
    assert await line.post_webhook(url, [event]) == 200
    [delivered] = await line.wait_for(lambda: line.delivered_messages(group),
                                      what="the group greeting")
    text = "".join(_texts(delivered["message"]))
    assert delivered["via"] == "reply" and "/link" in text and "กลุ่มแกนระดับตำบล" in text
